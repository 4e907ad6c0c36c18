//! What travels through pubsub: one broadcast (encoded once), who sent it, and what happened
//! to its delivery to one subscriber.

use crate::{InfoValue, Payload, protocol, serializer::Serializer};
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};
use websock_runtime::{Frame, SharedFrame};

/// A boxed future, as adapters return from [`Adapter::broadcast`](crate::Adapter::broadcast).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

static NEXT_SUBSCRIBER: AtomicU64 = AtomicU64::new(1);

/// Identifies one subscriber (one socket) within the process; `broadcast_from` skips it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(u64);

impl SubscriberId {
    pub(crate) fn next() -> Self {
        Self(NEXT_SUBSCRIBER.fetch_add(1, Ordering::Relaxed))
    }

    /// The number, for logs (and for a networked adapter's envelope).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// One message for a topic. The frame phoenix.js receives (`[null,null,topic,event,payload]`)
/// is encoded once per serializer (V1, V2), on first use, and shared by every socket that
/// pushes it unchanged.
///
/// Or a typed value for the subscribed channels' `handle_info` ([`Broadcast::info`]), which
/// no client receives.
pub struct Broadcast {
    topic: String,
    event: String,
    payload: Payload,
    from: Option<SubscriberId>,
    info: Option<InfoValue>,
    frames: [OnceLock<Option<Frame>>; Serializer::COUNT],
}

impl fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcast")
            .field("topic", &self.topic)
            .field("event", &self.event)
            .field("payload", &self.payload)
            .field("from", &self.from)
            .field("info", &self.info)
            .finish()
    }
}

impl Broadcast {
    /// A broadcast of `event` with `payload` to `topic`.
    pub fn new(
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Self {
        Self {
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
            from: None,
            info: None,
            frames: Default::default(),
        }
    }

    /// A typed value for the `handle_info` of every channel joined to `topic` that takes its
    /// type ([`PubSub::publish_info`](crate::PubSub::publish_info)); its event is empty and
    /// nothing is pushed to clients.
    pub fn info(topic: impl Into<String>, value: InfoValue) -> Self {
        let mut broadcast = Self::new(topic, "", Payload::empty());
        broadcast.info = Some(value);
        broadcast
    }

    /// The typed value, for a broadcast made with [`Broadcast::info`].
    pub fn info_value(&self) -> Option<&InfoValue> {
        self.info.as_ref()
    }

    /// The same broadcast, not delivered to `sender` (Phoenix's `broadcast_from`).
    pub fn from(mut self, sender: SubscriberId) -> Self {
        self.from = Some(sender);
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The event.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The subscriber it is not delivered to, if any.
    pub fn sender(&self) -> Option<SubscriberId> {
        self.from
    }

    /// The wire frame in `serializer`'s format, encoded once (and, with permessage-deflate,
    /// compressed once: a [`SharedFrame`]); `None` for a binary payload
    /// whose topic or event is over 255 bytes (the binary layout cannot carry it;
    /// [`PubSub::send`](crate::PubSub::send) refuses those), or for any binary payload in V1
    /// (no binary frames).
    pub(crate) fn frame(&self, serializer: Serializer) -> Option<Frame> {
        self.frames[serializer as usize]
            .get_or_init(|| {
                serializer
                    .encode_broadcast(&self.topic, &self.event, &self.payload)
                    .map(|frame| SharedFrame::new(frame).into())
            })
            .clone()
    }

    /// Whether it goes to the client without the channel (Phoenix's fastlane): not a typed
    /// value for `handle_info`, and not an event in the channel's `intercept` list.
    pub(crate) fn skips_channel(&self, intercept: &[&str]) -> bool {
        self.info.is_none() && !intercept.contains(&self.event.as_str())
    }

    /// Whether it can be sent: a binary payload's topic and event fit in 255 bytes each.
    pub(crate) fn encodable(&self) -> bool {
        match self.payload {
            Payload::Json(_) => true,
            Payload::Binary(_) => protocol::fits_binary(&self.topic, &self.event),
        }
    }
}

/// What happened to one delivery.
///
/// A socket's mailbox is bounded (the runtime's `Config::mailbox_capacity`, 1,024 by default).
/// When a broadcast finds it full, nothing is lost silently:
///
/// - a `presence_diff` is not queued, nor are the next ones to that topic: the socket drops
///   the diffs still waiting for it and, once it has worked through its backlog, pushes its
///   client one fresh `presence_state` (phoenix.js resyncs on any `presence_state`), counted in
///   [`ChannelMetrics::presence_resyncs`](crate::ChannelMetrics). A join storm stays a join
///   storm instead of turning into a reconnect storm.
/// - any other broadcast: the socket is a slow consumer and is closed with 1013 "try again
///   later" (phoenix.js reconnects and rejoins, and a channel's join sends what it needs), counted
///   in [`ChannelMetrics::slow_consumers`](crate::ChannelMetrics). Phoenix never drops a
///   broadcast (its transport's mailbox is unbounded); uWebSockets drops past
///   `maxBackpressure` and can close. A bounded mailbox cannot do the first, and a silent drop
///   would leave the client wrong for good, so the client is told by the close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// In the subscriber's mailbox.
    Delivered,
    /// Skipped: the subscriber is the broadcast's sender.
    Skipped,
    /// Dropped: a [`Subscription`](crate::Subscription)'s queue (1,024) is full (counted in
    /// [`LocalAdapter::dropped`](crate::LocalAdapter::dropped) and logged).
    Full,
    /// A `presence_diff` not queued: the socket's mailbox is full, so it resyncs its client
    /// with one `presence_state` once it drains.
    Resync,
    /// Not queued: the socket's mailbox is full, and it is being closed with 1013.
    SlowConsumer,
    /// The subscriber has gone: unsubscribe it.
    Gone,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Phoenix's fastlane encodes a broadcast once for every subscriber: each socket that
    /// pushes it unchanged writes the same buffer.
    #[test]
    fn the_frame_is_encoded_once_and_shared() {
        let broadcast = Broadcast::new("room:1", "news", serde_json::json!({"a": 1}));
        let (Some(Frame::Shared(one)), Some(Frame::Shared(two))) = (
            broadcast.frame(Serializer::V2),
            broadcast.frame(Serializer::V2),
        ) else {
            panic!("a broadcast is a shared frame");
        };
        let (Frame::Text(one), Frame::Text(two)) = (one.frame(), two.frame()) else {
            panic!("a JSON broadcast is a text frame");
        };
        assert_eq!(one.as_str(), r#"[null,null,"room:1","news",{"a":1}]"#);
        assert_eq!(one.as_str().as_ptr(), two.as_str().as_ptr());
    }
}
