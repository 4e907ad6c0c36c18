//! A socket's mailbox, and what a broadcast does when it is full (see [`Delivery`] for the
//! policy and why): a `presence_diff` leaves a debt of one fresh `presence_state`, anything
//! else marks the socket as a slow consumer to close with 1013.

use crate::{
    handler::{SocketHandler, SocketInfo},
    pubsub::{Broadcast, Delivery},
    socket::Info,
    telemetry::Counters,
};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use tokio::sync::mpsc;
use websock_runtime::{Handle, SendError};

/// The event phoenix.js's `Presence` syncs from. Recognised by name, as phoenix.js does: a
/// lost one leaves the client's list wrong whoever sent it, and a `presence_state` mends it.
const PRESENCE_DIFF: &str = "presence_diff";

/// A socket's mailbox: the runtime connection's, or a test socket's queue.
#[derive(Clone)]
pub(crate) struct Mailbox {
    inbox: Inbox,
    backlog: Arc<Backlog>,
}

#[derive(Clone)]
enum Inbox {
    Socket(Handle<SocketHandler>),
    Queue(mpsc::Sender<Info>),
}

impl Mailbox {
    /// The mailbox of a runtime connection.
    pub(crate) fn socket(handle: Handle<SocketHandler>, counters: Arc<Counters>) -> Self {
        Self::new(Inbox::Socket(handle), counters)
    }

    /// A test socket's queue.
    pub(crate) fn queue(tx: mpsc::Sender<Info>, counters: Arc<Counters>) -> Self {
        Self::new(Inbox::Queue(tx), counters)
    }

    fn new(inbox: Inbox, counters: Arc<Counters>) -> Self {
        Self {
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
        match &self.inbox {
            Inbox::Socket(handle) => handle.try_send(SocketInfo(info)).map_err(|e| match e {
                SendError::Full(_) => Delivery::Full,
                SendError::Closed(_) => Delivery::Gone,
            }),
            Inbox::Queue(tx) => tx.try_send(info).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Delivery::Full,
                mpsc::error::TrySendError::Closed(_) => Delivery::Gone,
            }),
        }
    }

    /// Queues `info`, waiting for room; `false` once the socket has ended.
    pub(crate) async fn send_info_waiting(&self, info: Info) -> bool {
        match &self.inbox {
            Inbox::Socket(handle) => handle.send(SocketInfo(info)).await.is_ok(),
            Inbox::Queue(tx) => tx.send(info).await.is_ok(),
        }
    }

    /// Messages waiting now.
    pub(crate) fn len(&self) -> usize {
        match &self.inbox {
            Inbox::Socket(handle) => handle.stats().mailbox_len,
            Inbox::Queue(tx) => tx.max_capacity() - tx.capacity(),
        }
    }

    /// Queues a broadcast, or, when the mailbox is full, records what the socket owes its
    /// client (never a silent drop).
    pub(crate) fn deliver(&self, message: Arc<Broadcast>) -> Delivery {
        let backlog = &*self.backlog;
        let presence = message.event() == PRESENCE_DIFF;
        if backlog.slow.load(Ordering::SeqCst) {
            return Delivery::SlowConsumer;
        }
        // The fresh state will hold this diff: queueing it would only delay the resync.
        if presence && backlog.owes_state(message.topic()) {
            return Delivery::Resync;
        }
        let topic = presence.then(|| message.topic().to_owned());
        match self.send_info(Info::Broadcast(message)) {
            Ok(()) => return Delivery::Delivered,
            Err(Delivery::Full) => {}
            Err(other) => return other,
        }
        let delivery = match topic {
            Some(topic) => {
                tracing::debug!(%topic, "mailbox full: presence_diff dropped, presence_state owed");
                backlog.owe_state(topic);
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
