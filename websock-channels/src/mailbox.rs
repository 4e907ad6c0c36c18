//! A socket's mailbox, and what a broadcast does when it is full (see [`Delivery`] for the
//! policy and why): a `presence_diff` leaves a debt of one fresh `presence_state`, anything
//! else marks the socket as a slow consumer to close with 1013.

use crate::{
    broadcast::{BoxFuture, Broadcast, Delivery},
    serializer::Serializer,
    telemetry::Counters,
};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use tokio::sync::mpsc;
use websock_runtime::Frame;

/// The event phoenix.js's `Presence` syncs from. Recognised by name, as phoenix.js does: a
/// lost one leaves the client's list wrong whoever sent it, and a `presence_state` mends it.
const PRESENCE_DIFF: &str = "presence_diff";

/// What a socket's mailbox receives.
pub(crate) enum Info {
    Broadcast(Arc<Broadcast>),
    /// Frames a channel's task sends its client, in order.
    Frames(Vec<Frame>),
    /// A channel's task has ended by itself (a stop, a crash, a timeout). Boxed: rare, and
    /// every slot of every socket's mailbox is as large as the largest variant.
    Down(Box<Down>),
    /// A broadcast found the mailbox full: read the socket's backlog.
    Wake,
}

/// A channel's task has ended by itself: the socket forgets that instance and sends `frame`
/// (its `phx_close` or `phx_error`).
pub(crate) struct Down {
    pub(crate) topic: Arc<str>,
    pub(crate) instance: u64,
    pub(crate) frame: Option<Frame>,
}

/// Where a socket's mailbox messages go: the runtime connection's mailbox (implemented by the
/// transport, above this layer) or a test socket's queue.
pub(crate) trait Inbox: Send + Sync + 'static {
    /// Queues `info` if there is room.
    fn try_send(&self, info: Info) -> Result<(), Delivery>;
    /// Queues `info`, waiting for room; `false` once the socket has ended.
    fn send(&self, info: Info) -> BoxFuture<'_, bool>;
    /// Messages waiting now.
    fn len(&self) -> usize;
    /// Writes `frame` straight to the client if the socket is idle (the runtime's fast
    /// lane); `false`, with nothing written, otherwise.
    fn try_write_frame(&self, frame: &Frame) -> bool {
        let _ = frame;
        false
    }
}

impl Inbox for mpsc::Sender<Info> {
    fn try_send(&self, info: Info) -> Result<(), Delivery> {
        mpsc::Sender::try_send(self, info).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Delivery::Full,
            mpsc::error::TrySendError::Closed(_) => Delivery::Gone,
        })
    }

    fn send(&self, info: Info) -> BoxFuture<'_, bool> {
        Box::pin(async move { mpsc::Sender::send(self, info).await.is_ok() })
    }

    fn len(&self) -> usize {
        self.max_capacity() - self.capacity()
    }
}

/// A socket's mailbox: the runtime connection's, or a test socket's queue.
#[derive(Clone)]
pub(crate) struct Mailbox {
    inbox: Arc<dyn Inbox>,
    backlog: Arc<Backlog>,
    /// The socket's wire format, for broadcasts written through the fast lane.
    serializer: Serializer,
}

impl Mailbox {
    /// A mailbox that queues into `inbox`, for a socket speaking `serializer`.
    pub(crate) fn new(inbox: impl Inbox, counters: Arc<Counters>, serializer: Serializer) -> Self {
        let inbox = Arc::new(inbox);
        Self {
            serializer,
            inbox,
            backlog: Arc::new(Backlog {
                counters,
                slow: AtomicBool::new(false),
                owes: AtomicBool::new(false),
                owed: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(crate) fn backlog(&self) -> &Backlog {
        &self.backlog
    }

    /// Queues `info` if there is room.
    pub(crate) fn send_info(&self, info: Info) -> Result<(), Delivery> {
        self.inbox.try_send(info)
    }

    /// Queues `info`, waiting for room; `false` once the socket has ended.
    pub(crate) async fn send_info_waiting(&self, info: Info) -> bool {
        self.inbox.send(info).await
    }

    /// Messages waiting now.
    pub(crate) fn len(&self) -> usize {
        self.inbox.len()
    }

    /// Writes a broadcast straight to the client when the socket is idle (the fast lane),
    /// else queues it, or, when the mailbox is full, records what the socket owes its client
    /// (never a silent drop). `intercept`: the events of this topic that must go through the
    /// socket to its channel's `handle_out`; `None`: never the lane.
    pub(crate) fn deliver(
        &self,
        message: &Arc<Broadcast>,
        intercept: Option<&'static [&'static str]>,
    ) -> Delivery {
        let backlog = &*self.backlog;
        let presence = message.event() == PRESENCE_DIFF;
        if backlog.slow.load(Ordering::SeqCst) {
            return Delivery::SlowConsumer;
        }
        // The fresh state will hold this diff: queueing it would only delay the resync.
        if presence && backlog.owes_state(message.topic()) {
            return Delivery::Resync;
        }
        if intercept.is_some_and(|intercept| self.write_now(message, intercept)) {
            return Delivery::Delivered;
        }
        let message = message.clone();
        // Kept for the debt if the mailbox is full: a reference count, not a copy of the
        // topic, so delivering allocates nothing per subscriber.
        let diff = presence.then(|| message.clone());
        match self.send_info(Info::Broadcast(message)) {
            Ok(()) => return Delivery::Delivered,
            Err(Delivery::Full) => {}
            Err(other) => return other,
        }
        let delivery = match diff {
            Some(diff) => {
                let topic = diff.topic();
                tracing::debug!(%topic, "mailbox full: presence_diff dropped, presence_state owed");
                backlog.owe_state(topic.to_owned());
                Delivery::Resync
            }
            None => {
                if !backlog.slow.swap(true, Ordering::SeqCst) {
                    backlog.counters.slow_consumer();
                    tracing::warn!("mailbox full: slow consumer, closing with 1013");
                }
                Delivery::SlowConsumer
            }
        };
        // The socket may have emptied its mailbox since: wake it to read the backlog. If the
        // mailbox is still full, the socket handles a message after this and reads it then.
        let _ = self.send_info(Info::Wake);
        delivery
    }

    /// The fast lane: a broadcast for the client (no typed value, not intercepted), encoded
    /// once for every subscriber, written by the broadcaster to an idle socket. Not while the
    /// socket owes a `presence_state`: its mailbox decides what comes first then.
    fn write_now(&self, message: &Broadcast, intercept: &[&str]) -> bool {
        if !message.skips_channel(intercept) || self.backlog.owes_any() {
            return false;
        }
        let Some(frame) = message.frame(self.serializer) else {
            return false;
        };
        let written = self.inbox.try_write_frame(&frame);
        if written {
            self.backlog.counters.messages_out(1);
        }
        written
    }
}

/// What a socket owes its client because a broadcast found its mailbox full.
pub(crate) struct Backlog {
    counters: Arc<Counters>,
    /// A broadcast other than a `presence_diff` was not queued: close with 1013.
    slow: AtomicBool,
    /// Whether `owed` has any topic: read on every message, so without the lock.
    owes: AtomicBool,
    /// Topics whose `presence_diff`s were not queued: each owes one fresh `presence_state`.
    owed: Mutex<Vec<String>>,
}

impl Backlog {
    pub(crate) fn is_slow(&self) -> bool {
        self.slow.load(Ordering::SeqCst)
    }

    pub(crate) fn owes_any(&self) -> bool {
        self.owes.load(Ordering::SeqCst)
    }

    fn owed(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // Every change is one push or one take: a poisoned lock holds consistent data.
        self.owed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn owes_state(&self, topic: &str) -> bool {
        self.owes_any() && self.owed().iter().any(|owed| owed == topic)
    }

    fn owe_state(&self, topic: String) {
        let mut owed = self.owed();
        if !owed.contains(&topic) {
            owed.push(topic);
        }
        self.owes.store(true, Ordering::SeqCst);
    }

    /// The topics owed a `presence_state`, clearing the debt: diffs are queued again from now.
    pub(crate) fn take_owed(&self) -> Vec<String> {
        let mut owed = self.owed();
        self.owes.store(false, Ordering::SeqCst);
        std::mem::take(&mut *owed)
    }
}
