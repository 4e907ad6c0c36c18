//! One socket's protocol state machine, independent of the transport: the runtime handler and
//! the test helpers both drive it. Frames to send collect in `out`; `close` asks to end.

use crate::{
    Payload,
    broadcast::SubscriberId,
    channel::{LeaveReason, Mail, Push, SocketState},
    channel_task::{self, ChannelTask, Failure, guard},
    hub::{Connected, Hub},
    mailbox::{Down, Info, Mailbox},
    presence::Owner,
    protocol::{Header, Inbound},
    publisher::Publisher,
    serializer::Serializer,
};
use serde_json::json;
use std::{collections::HashMap, sync::Arc};
use tokio::{sync::mpsc, task::AbortHandle, time::Instant};
use tracing::Instrument;
use websock_runtime::{Close, CloseCode, Frame, Message};

/// The most frames a socket's outgoing buffer keeps room for between messages.
const OUT_KEPT: usize = 8;

/// A joined channel as its socket sees it: the channel itself runs in its own task.
struct Joined {
    join_ref: Arc<str>,
    instance: u64,
    /// The events its `handle_out` intercepts: the others go straight to the client.
    intercept: &'static [&'static str],
    mail: mpsc::Sender<Mail>,
    task: AbortHandle,
}

pub(crate) struct Core {
    hub: Arc<Hub>,
    assigns: Arc<crate::Assigns>,
    socket_id: Option<Arc<str>>,
    subscriber: SubscriberId,
    mailbox: Mailbox,
    serializer: Serializer,
    publisher: Publisher,
    channels: HashMap<Arc<str>, Joined>,
    bucket: Bucket,
    /// Mailbox messages handled so far.
    received: u64,
    /// When the owed `presence_state`s go out: once the messages queued when the debt was
    /// seen are handled (the mailbox then has room again).
    resync_due: Option<u64>,
    /// Per topic, the last mailbox message queued before its fresh `presence_state`: the
    /// `presence_diff`s up to it are already in the state, and are dropped.
    stale_diffs: HashMap<String, u64>,
    pub(crate) span: tracing::Span,
    pub(crate) out: Vec<Frame>,
    pub(crate) close: Option<Close>,
}

impl Core {
    pub(crate) fn new(connected: Connected, mailbox: Mailbox) -> Self {
        let Connected {
            hub,
            assigns,
            id,
            serializer,
        } = connected;
        let subscriber = SubscriberId::next();
        let socket_id: Option<Arc<str>> = id.map(Into::into);
        if let Some(id) = &socket_id {
            hub.shared
                .pubsub
                .subscribe_socket(id, subscriber, mailbox.clone(), None);
        }
        hub.shared.counters.socket_opened();
        let span = tracing::info_span!("phoenix_socket", id = socket_id.as_deref().unwrap_or(""));
        let publisher = Publisher::new(hub.shared.pubsub.clone());
        Self {
            bucket: Bucket::new(hub.shared.limits.rate),
            hub,
            assigns: Arc::new(assigns),
            socket_id,
            subscriber,
            mailbox,
            serializer,
            publisher,
            channels: HashMap::new(),
            received: 0,
            resync_due: None,
            stale_diffs: HashMap::new(),
            span,
            out: Vec::new(),
            close: None,
        }
    }

    pub(crate) fn socket_id(&self) -> Option<&str> {
        self.socket_id.as_deref()
    }

    fn send(&mut self, frame: Frame) {
        self.out.push(frame);
    }

    /// Sends a frame that may not have been encodable (a binary field over 255 bytes).
    fn send_encoded(&mut self, frame: Option<Frame>, topic: &str, event: &str) {
        match frame {
            Some(frame) => self.send(frame),
            None => {
                self.hub.shared.counters.unencodable();
                let reason = self.serializer.unencodable_reason();
                tracing::error!(topic, event, reason, "frame not sent");
            }
        }
    }

    fn reply(&mut self, join_ref: Option<&str>, msg: &Header, status: &str, payload: &Payload) {
        let frame = self.serializer.encode_reply(
            join_ref,
            msg.msg_ref.as_deref(),
            &msg.topic,
            status,
            payload,
        );
        self.send_encoded(frame, &msg.topic, status);
    }

    /// A message from the client. The limits are checked on its header, before its payload is
    /// decoded: a frame over them costs no JSON tree.
    pub(crate) async fn handle_message(&mut self, message: Message) {
        self.hub.shared.counters.message_in();
        let header = match self.serializer.decode_header(&message) {
            Ok(header) => header,
            Err(error) => {
                tracing::debug!(error = error.0, "undecodable frame ignored");
                // Garbage costs a token like anything else: flooding it ends in 1008 too.
                self.take_token();
                return;
            }
        };
        // The reference, checklist 4: heartbeats are answered without any join.
        if header.topic == "phoenix" && header.event == "heartbeat" {
            self.reply(None, &header, "ok", &Payload::empty());
            return;
        }
        let refused = if !self.take_token() {
            Some("rate_limited")
        } else if message.len() > self.hub.shared.limits.max_payload {
            Some("payload too large")
        } else {
            header.too_long()
        };
        if let Some(refused) = refused {
            if self.close.is_none() && header.msg_ref.is_some() {
                let reason = Payload::reason(refused);
                self.reply(header.join_ref.as_deref(), &header, "error", &reason);
            }
            return;
        }
        let msg = match self.serializer.decode(&message) {
            Ok(msg) => msg,
            Err(error) => {
                tracing::debug!(error = error.0, "undecodable payload: frame ignored");
                return;
            }
        };
        match msg.event.as_str() {
            "phx_join" => self.join(msg).await,
            "phx_leave" => self.leave(msg).await,
            _ => self.event(msg).await,
        }
    }

    /// Takes a token from the rate limit's bucket; `false` (and, after too many refusals in a
    /// row, a 1008 close) when it is empty.
    fn take_token(&mut self) -> bool {
        if self.bucket.take() {
            return true;
        }
        self.hub.shared.counters.rate_limited();
        if self.bucket.refused_in_a_row >= self.bucket.close_after {
            tracing::info!("rate limit exceeded again and again: closing the socket");
            self.close = Some(Close::new(CloseCode::POLICY_VIOLATION, "rate limited"));
        }
        false
    }

    fn unmatched(&mut self, msg: &Header) {
        self.reply(None, msg, "error", &Payload::reason("unmatched topic"));
    }

    async fn join(&mut self, mut msg: Inbound) {
        let join_ref: Arc<str> = msg
            .join_ref
            .clone()
            .or_else(|| msg.msg_ref.clone())
            .unwrap_or_default()
            .into();
        // A duplicate join replaces the old instance; its phx_close (old join_ref) goes out
        // after the new join's reply (the reference, §4).
        let replaced = match self.channels.remove(msg.topic.as_str()) {
            Some(old) => {
                let old_ref = old.join_ref.clone();
                self.end(&msg.topic, old, LeaveReason::Duplicate).await;
                Some(old_ref)
            }
            None => None,
        };
        self.join_new(&mut msg, join_ref).await;
        if let Some(old_ref) = replaced {
            let frame =
                self.serializer
                    .encode_lifecycle(&old_ref, &msg.topic, "phx_close", &json!({}));
            self.send(frame);
        }
    }

    async fn join_new(&mut self, msg: &mut Inbound, join_ref: Arc<str>) {
        let hub = self.hub.clone();
        let Some((route, topic)) = hub.route(&msg.topic) else {
            hub.shared.counters.refused_join();
            return self.unmatched(msg);
        };
        if self.channels.len() >= hub.shared.limits.max_channels {
            hub.shared.counters.refused_join();
            let reason = Payload::reason("too many channels joined");
            return self.reply(Some(&join_ref), msg, "error", &reason);
        }
        let topic_name: Arc<str> = msg.topic.as_str().into();
        // Subscribed before `join` runs: a broadcast sent meanwhile waits in the mailbox and
        // is pushed after the join reply, never lost.
        hub.shared.pubsub.subscribe_socket(
            &topic_name,
            self.subscriber,
            self.mailbox.clone(),
            Some(route.intercept),
        );
        let (mail, mailbox) = mpsc::channel(channel_task::CAPACITY);
        let mut socket = SocketState {
            topic: topic_name.clone(),
            join_ref: join_ref.clone(),
            instance: crate::channel::next_instance(),
            timers: std::sync::OnceLock::new(),
            assigns: self.assigns.clone(),
            socket_id: self.socket_id.clone(),
            shared: hub.shared.clone(),
            subscriber: self.subscriber,
            mail: mail.downgrade(),
            publisher: self.publisher.clone(),
            pushes: Vec::new(),
            broadcasts: Vec::new(),
            tracked: false,
            stop: false,
        };
        let span = tracing::info_span!(parent: &self.span, "channel", topic = %topic_name, channel = route.name, join_ref = %join_ref);
        let params = std::mem::take(&mut msg.payload);
        let timeout = hub.shared.limits.callback_timeout;
        let outcome = guard(timeout, (route.join)(topic, params, &mut socket))
            .instrument(span.clone())
            .await;
        match outcome {
            Ok(Ok((channel, response))) => {
                hub.shared.counters.joined();
                span.in_scope(|| tracing::debug!("joined"));
                self.reply(Some(&join_ref), msg, "ok", &response);
                self.flush(&mut socket).await;
                let instance = socket.instance;
                let intercept = channel.intercept();
                let task = ChannelTask {
                    channel,
                    socket,
                    mail: mailbox,
                    out: self.mailbox.clone(),
                    timeout,
                    serializer: self.serializer,
                };
                let task = tokio::spawn(task.run(span)).abort_handle();
                let joined = Joined {
                    join_ref,
                    instance,
                    intercept,
                    mail,
                    task,
                };
                self.channels.insert(topic_name, joined);
            }
            Ok(Err(error)) => {
                hub.shared.counters.refused_join();
                span.in_scope(|| tracing::debug!(%error, "join refused"));
                let join_ref = (!error.unmatched).then_some(&*join_ref);
                self.reply(join_ref, msg, "error", &error.payload);
                self.cleanup(&mut socket).await;
            }
            Err(failure) => {
                hub.shared.counters.crashed();
                hub.shared.counters.refused_join();
                match failure {
                    Failure::Panicked(panic) => {
                        span.in_scope(|| tracing::error!(panic, "join crashed"));
                    }
                    Failure::TimedOut(limit) => {
                        span.in_scope(|| tracing::error!(?limit, "join timed out"));
                    }
                }
                self.reply(
                    Some(&join_ref),
                    msg,
                    "error",
                    &Payload::reason("join crashed"),
                );
                self.cleanup(&mut socket).await;
            }
        }
    }

    /// The channel's task replies, runs `terminate` and sends `phx_close`; the socket forgets
    /// the channel at once (a new join of the topic is a new instance).
    async fn leave(&mut self, msg: Inbound) {
        let current = self
            .channels
            .get(msg.topic.as_str())
            .map(|joined| joined.join_ref.clone());
        match current {
            // The reference, §4: a leave for a topic not joined still gets an ok reply.
            None => self.reply(msg.join_ref.as_deref(), &msg, "ok", &Payload::empty()),
            Some(join_ref) if is_stale(&msg, &join_ref) => {
                tracing::debug!(topic = %msg.topic, "leave with a stale join_ref ignored");
            }
            Some(join_ref) => {
                let Some(joined) = self.channels.remove(msg.topic.as_str()) else {
                    return;
                };
                self.release(&msg.topic).await;
                let refused = match joined.mail.try_send(Mail::Leave(Box::new(msg))) {
                    Ok(()) => return,
                    Err(mpsc::error::TrySendError::Full(mail)) => mail,
                    Err(mpsc::error::TrySendError::Closed(mail)) => mail,
                };
                // Stuck or flooded: it is ended without its `terminate`, and the socket
                // answers for it.
                joined.task.abort();
                if let Mail::Leave(msg) = refused {
                    self.reply(Some(&join_ref), &msg, "ok", &Payload::empty());
                    let frame = self.serializer.encode_lifecycle(
                        &join_ref,
                        &msg.topic,
                        "phx_close",
                        &json!({}),
                    );
                    self.send(frame);
                }
            }
        }
    }

    async fn event(&mut self, msg: Inbound) {
        let Some(joined) = self.channels.get(msg.topic.as_str()) else {
            return self.unmatched(&msg);
        };
        if is_stale(&msg, &joined.join_ref) {
            tracing::debug!(topic = %msg.topic, "message with a stale join_ref ignored");
            return;
        }
        let join_ref = joined.join_ref.clone();
        match joined.mail.try_send(Mail::In(Box::new(msg))) {
            Ok(()) => self.hub.shared.counters.handled_in(),
            Err(mpsc::error::TrySendError::Full(Mail::In(msg))) => {
                // The channel is stuck or flooded: answer now rather than hold the socket.
                self.hub.shared.counters.rate_limited();
                tracing::warn!(topic = %msg.topic, "channel mailbox full: event refused");
                if msg.msg_ref.is_some() {
                    let reason = Payload::reason("channel busy");
                    self.reply(Some(&join_ref), &msg, "error", &reason);
                }
            }
            // Ended by itself: its `phx_error` or `phx_close` is on its way.
            Err(_) => {}
        }
    }

    /// A message from the mailbox.
    pub(crate) async fn handle_info(&mut self, info: Info) {
        if let Some(Info::Down(down)) = self.handle_info_now(info) {
            self.received += 1;
            if !self.closing_slow() {
                self.channel_down(*down).await;
                self.resync_presence();
            }
        }
    }

    /// A message from the mailbox that needs no waiting (a broadcast, frames, a wake: all
    /// but a channel's end), handled without a future: the transport keeps no state for it.
    /// Returns the message if it must be handled by [`handle_info`](Self::handle_info).
    pub(crate) fn handle_info_now(&mut self, info: Info) -> Option<Info> {
        if matches!(info, Info::Down(_)) {
            return Some(info);
        }
        self.received += 1;
        if !self.closing_slow() {
            self.dispatch_now(info);
            self.resync_presence();
        }
        None
    }

    /// Whether a broadcast found the mailbox full (see `Delivery`): then the socket closes
    /// with 1013; phoenix.js reconnects and rejoins, which beats a client that silently
    /// missed a message.
    fn closing_slow(&mut self) -> bool {
        if !self.mailbox.backlog().is_slow() {
            return false;
        }
        self.close = Some(Close::new(
            CloseCode::TRY_AGAIN_LATER,
            "slow consumer: mailbox full",
        ));
        true
    }

    fn dispatch_now(&mut self, info: Info) {
        match info {
            Info::Broadcast(message) => {
                if self.socket_id.as_deref() == Some(message.topic()) {
                    if message.event() == "disconnect" {
                        // 1001, so phoenix.js reconnects (the reference, §6).
                        self.close = Some(Close::new(CloseCode::GOING_AWAY, "disconnected"));
                    }
                    return;
                }
                if message.event() == "presence_diff" && self.stale_diff(message.topic()) {
                    return;
                }
                let Some(joined) = self.channels.get(message.topic()) else {
                    return;
                };
                if message.info_value().is_some() {
                    // A typed value: for the channel's `handle_info`, never for the client.
                    let sent = joined.mail.try_send(Mail::Published(message));
                    return self.channel_mail_sent(sent);
                }
                // Phoenix's fastlane: the frame, encoded once for every subscriber, goes
                // straight to the client unless the channel intercepts the event.
                if message.skips_channel(joined.intercept) {
                    self.send_encoded(
                        message.frame(self.serializer),
                        message.topic(),
                        message.event(),
                    );
                    return;
                }
                let sent = joined.mail.try_send(Mail::Out(message));
                self.channel_mail_sent(sent);
            }
            Info::Frames(frames) => self.out.extend(frames),
            // Handled by `handle_info`.
            Info::Down(_) => {}
            // What it woke the socket for is read in `resync_presence` and `handle_info`.
            Info::Wake => {}
        }
    }

    /// A channel's task has ended by itself.
    async fn channel_down(&mut self, down: Down) {
        let Down {
            topic,
            instance,
            frame,
        } = down;
        // A channel that has been left or rejoined since is already forgotten.
        if self
            .channels
            .get(&topic)
            .is_some_and(|j| j.instance == instance)
        {
            self.channels.remove(&topic);
            self.hub.shared.counters.channel_closed();
            self.release(&topic).await;
            if let Some(frame) = frame {
                self.send(frame);
            }
        }
    }

    /// A broadcast that found its channel's mailbox full is treated as a full socket mailbox
    /// (see `Delivery`): never a silent drop.
    fn channel_mail_sent(&mut self, sent: Result<(), mpsc::error::TrySendError<Mail>>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = sent {
            self.hub.shared.counters.slow_consumer();
            tracing::warn!("channel mailbox full: slow consumer, closing with 1013");
            self.close = Some(Close::new(
                CloseCode::TRY_AGAIN_LATER,
                "slow consumer: channel mailbox full",
            ));
        }
    }

    /// Whether a `presence_diff` of `topic`, the message just taken from the mailbox, was
    /// queued before the fresh `presence_state` this socket last pushed for `topic` (and so is
    /// already in it: pushed after the state, it could bring back a presence that has left).
    fn stale_diff(&mut self, topic: &str) -> bool {
        match self.stale_diffs.get(topic) {
            Some(&last) if self.received <= last => true,
            Some(_) => {
                self.stale_diffs.remove(topic);
                false
            }
            None => false,
        }
    }

    /// Pays what the socket owes after `presence_diff`s found its mailbox full: one fresh
    /// `presence_state` per topic (phoenix.js resyncs from it), once the messages that were
    /// waiting when the debt was seen are handled. Waiting lets the mailbox drain, so a socket
    /// that falls behind gets one state per backlog, not one per message.
    fn resync_presence(&mut self) {
        if !self.mailbox.backlog().owes_any() {
            return;
        }
        let waiting = self.mailbox.len() as u64;
        let due = *self.resync_due.get_or_insert(self.received + waiting);
        if self.received < due {
            return;
        }
        self.resync_due = None;
        let topics = self.mailbox.backlog().take_owed();
        // Read after the debt is cleared (diffs are queued again) and before the lists: every
        // diff queued up to here is in the lists, and the later ones come after the state.
        let last_stale = self.received + self.mailbox.len() as u64;
        for topic in topics {
            let Some(joined) = self.channels.get(topic.as_str()) else {
                continue;
            };
            let join_ref = joined.join_ref.clone();
            let state = self.hub.shared.presence.encoded_state(&topic);
            let frame = Push::State(state)
                .encode(self.serializer, &join_ref, &topic)
                .0;
            self.send_encoded(frame, &topic, "presence_state");
            self.hub.shared.counters.presence_resynced();
            tracing::info!(%topic, "mailbox was full: presence_diffs dropped, presence_state pushed");
            self.stale_diffs.insert(topic, last_stale);
        }
    }

    fn push_all(&mut self, socket: &SocketState, pushes: Vec<Push>) {
        for push in pushes {
            let (frame, event) = push.encode(self.serializer, &socket.join_ref, &socket.topic);
            self.send_encoded(frame, &socket.topic, event);
        }
    }

    /// Pushes and broadcasts a join queued.
    async fn flush(&mut self, socket: &mut SocketState) {
        let pushes = std::mem::take(&mut socket.pushes);
        self.push_all(socket, pushes);
        for broadcast in std::mem::take(&mut socket.broadcasts) {
            self.publisher.publish(broadcast).await;
        }
    }

    /// The socket ends a channel (a duplicate join, the socket closing): it forgets it at
    /// once, and its task runs `terminate` on its own time.
    async fn end(&mut self, topic: &str, joined: Joined, reason: LeaveReason) {
        self.hub.shared.counters.channel_closed();
        self.release(topic).await;
        if joined.mail.try_send(Mail::End(reason)).is_err() {
            // Stuck or flooded: ended without its `terminate`.
            joined.task.abort();
        }
    }

    /// What a refused join leaves behind: its timers, presences, broadcasts, subscription.
    async fn cleanup(&mut self, socket: &mut SocketState) {
        socket.end_timers();
        socket.pushes.clear();
        self.flush(socket).await;
        self.release(&socket.topic).await;
    }

    /// Untracks what the socket tracked in `topic` and unsubscribes it: done by the socket,
    /// in order with its joins, so a rejoin's subscription is never undone by the old
    /// instance's late end.
    async fn release(&mut self, topic: &str) {
        let owner = Owner(self.subscriber);
        // The leave goes out with the topic's next merged `presence_diff`.
        self.hub.shared.presence.untrack(owner, topic, None);
        self.hub.shared.pubsub.unsubscribe(topic, self.subscriber);
    }

    /// The socket is closing: every channel ends.
    pub(crate) async fn terminate(&mut self) {
        for (topic, joined) in std::mem::take(&mut self.channels) {
            self.end(&topic, joined, LeaveReason::SocketClosed).await;
        }
        if let Some(id) = &self.socket_id {
            self.hub.shared.pubsub.unsubscribe(id, self.subscriber);
        }
        self.hub.shared.counters.socket_closed();
        self.out.clear();
    }

    pub(crate) fn take_out(&mut self) -> Vec<Frame> {
        self.hub.shared.counters.messages_out(self.out.len());
        std::mem::take(&mut self.out)
    }

    /// Hands the frames to send to `push`, keeping the buffer: a delivered broadcast then
    /// allocates nothing. A buffer a burst grew is given back, so an idle socket holds none.
    pub(crate) fn drain_out(&mut self, mut push: impl FnMut(Frame)) {
        self.hub.shared.counters.messages_out(self.out.len());
        self.out.drain(..).for_each(&mut push);
        if self.out.capacity() > OUT_KEPT {
            self.out = Vec::new();
        }
    }
}

/// Whether a non-join message names an older join of its topic. A `null` join_ref is not
/// stale: V1 clients send none, and Phoenix main routes it to the joined channel
/// (`is_nil(join_ref) or join_ref === existing_join_ref` in `Phoenix.Socket`).
fn is_stale(msg: &Header, current: &str) -> bool {
    msg.join_ref
        .as_deref()
        .is_some_and(|join_ref| join_ref != current)
}

/// The per-socket token bucket.
struct Bucket {
    limit: Option<crate::RateLimit>,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
    close_after: u32,
}

impl Bucket {
    fn new(limit: Option<crate::RateLimit>) -> Self {
        Self {
            tokens: limit.map_or(0.0, |l| l.burst),
            close_after: limit.map_or(u32::MAX, |l| l.close_after),
            limit,
            last: Instant::now(),
            refused_in_a_row: 0,
        }
    }

    fn take(&mut self) -> bool {
        let Some(limit) = self.limit else {
            return true;
        };
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            true
        } else {
            self.refused_in_a_row += 1;
            false
        }
    }
}
