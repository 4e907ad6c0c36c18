//! Publish/subscribe between sockets: broadcast to a topic from anywhere (a channel, another
//! task, an HTTP handler), delivered to every socket that joined it.

use crate::{
    InfoValue, Payload,
    broadcast::{BoxFuture, Broadcast, Delivery, SubscriberId},
    mailbox::Mailbox,
};
use std::{
    collections::HashMap,
    fmt,
    marker::PhantomData,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::mpsc;

/// Where a subscriber's broadcasts go: a socket's mailbox (through its runtime `Handle`), a
/// test socket's queue, or a [`Subscription`] receiver.
#[derive(Clone)]
pub struct Subscriber {
    id: SubscriberId,
    sink: Sink,
}

#[derive(Clone)]
pub(crate) enum Sink {
    /// A socket's mailbox, and the events the fast lane may not take for this topic (those
    /// the channel intercepts); `None`: never the lane (the socket's own id topic).
    Socket(Mailbox, Option<&'static [&'static str]>),
    Listener(mpsc::Sender<Arc<Broadcast>>),
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Subscriber {
    pub(crate) fn new(id: SubscriberId, sink: Sink) -> Self {
        Self { id, sink }
    }

    /// Its id.
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// Puts `message` in this subscriber's mailbox without waiting.
    pub fn deliver(&self, message: &Arc<Broadcast>) -> Delivery {
        if message.sender() == Some(self.id) {
            return Delivery::Skipped;
        }
        match &self.sink {
            Sink::Socket(mailbox, intercept) => mailbox.deliver(message, *intercept),
            Sink::Listener(tx) => match tx.try_send(message.clone()) {
                Ok(()) => Delivery::Delivered,
                Err(mpsc::error::TrySendError::Full(_)) => Delivery::Full,
                Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Gone,
            },
        }
    }
}

/// Why a broadcast failed (a networked adapter's connection, say).
#[derive(Debug)]
pub struct PubSubError(String);

impl PubSubError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for PubSubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pubsub: {}", self.0)
    }
}

impl std::error::Error for PubSubError {}

/// How broadcasts travel: in this process ([`LocalAdapter`], the default), or between nodes
/// (Redis, next). An adapter keeps the subscribers of this process and delivers to them with
/// [`Subscriber::deliver`]; a networked one also publishes to the other nodes, and delivers
/// what they publish to its local subscribers.
pub trait Adapter: Send + Sync + 'static {
    /// Adds `subscriber` to `topic`.
    fn subscribe(&self, topic: &str, subscriber: Subscriber);

    /// Removes the subscriber `id` from `topic`.
    fn unsubscribe(&self, topic: &str, id: SubscriberId);

    /// Sends `message` to every subscriber of its topic (except its sender). A networked
    /// adapter delivers to this node's subscribers first and may then fail to reach the other
    /// nodes: **retrying** a failed broadcast delivers it to this node's subscribers again.
    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>>;

    /// The presences of `topic` tracked on **other** nodes, in [`Presence::list`]'s shape
    /// (`{"<key>": {"metas": [..]}}`); [`Presence::list`] adds them to this node's. A
    /// networked adapter keeps them from what the other nodes' adapters learnt through
    /// [`presence_changed`](Self::presence_changed); the default (one node) has none.
    ///
    /// [`Presence::list`]: crate::Presence::list
    fn remote_presence(&self, topic: &str) -> serde_json::Map<String, serde_json::Value> {
        let _ = topic;
        serde_json::Map::new()
    }

    /// This node's [`Presence`](crate::Presence) changed `topic` (`track`s, `update`s and
    /// `untrack`s), called once per
    /// [`presence_interval`](crate::SocketRoute::presence_interval) with the net change of
    /// that interval (a presence that came and went within it is in neither list), just
    /// before its `presence_diff` is broadcast. A networked adapter shares this node's
    /// presences with the other nodes from this hook **only**: a broadcast whose event happens
    /// to be `presence_diff` (a channel relaying a client's event name, say) is delivered like
    /// any other and never changes what the nodes list. The `presence_diff` the sockets see
    /// is broadcast as before; the default does nothing more.
    fn presence_changed(&self, topic: &str, diff: &PresenceDiff) {
        let _ = (topic, diff);
    }
}

/// One presence in a [`PresenceDiff`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PresenceMeta {
    /// The tracked key (a user id, say).
    pub key: String,
    /// The meta as clients see it: the app's fields plus `phx_ref` (unique per presence).
    pub meta: serde_json::Value,
}

impl PresenceMeta {
    /// A presence of `key` with `meta` (which carries its `phx_ref`).
    pub fn new(key: impl Into<String>, meta: serde_json::Value) -> Self {
        Self {
            key: key.into(),
            meta,
        }
    }

    /// Its `phx_ref` (what a client matches metas by).
    pub fn phx_ref(&self) -> &str {
        self.meta
            .get("phx_ref")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    }
}

/// What one change of this node's presence did, for [`Adapter::presence_changed`]: the
/// presences that joined and those that left (an `update` is both).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PresenceDiff {
    /// The presences that joined.
    pub joins: Vec<PresenceMeta>,
    /// The presences that left.
    pub leaves: Vec<PresenceMeta>,
}

/// The in-process adapter: a map from topic to subscribers, delivery by `try_send` into each
/// socket's mailbox.
#[derive(Default)]
pub struct LocalAdapter {
    topics: Mutex<HashMap<String, Vec<Subscriber>>>,
    dropped: AtomicU64,
}

impl fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics = self.topics.lock().map(|t| t.len()).unwrap_or(0);
        f.debug_struct("LocalAdapter")
            .field("topics", &topics)
            .finish()
    }
}

impl LocalAdapter {
    /// An adapter with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers `message` to the local subscribers of its topic now; returns how many got it.
    /// A networked adapter calls this for what arrives from other nodes.
    pub fn deliver(&self, message: &Arc<Broadcast>) -> usize {
        let subscribers = match self.topics.lock() {
            Ok(topics) => topics.get(message.topic()).cloned().unwrap_or_default(),
            Err(_) => return 0,
        };
        let mut delivered = 0;
        let mut gone = Vec::new();
        for subscriber in &subscribers {
            match subscriber.deliver(message) {
                Delivery::Delivered => delivered += 1,
                // The socket counted and logged it, and will resync or close.
                Delivery::Skipped | Delivery::Resync | Delivery::SlowConsumer => {}
                Delivery::Full => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic = %message.topic(), subscriber = subscriber.id.as_u64(), "subscription full: broadcast dropped");
                }
                Delivery::Gone => gone.push(subscriber.id),
            }
        }
        for id in gone {
            self.unsubscribe(message.topic(), id);
        }
        delivered
    }

    /// Broadcasts dropped because a [`Subscription`]'s queue was full (a socket's full mailbox
    /// is counted in its endpoint's [`ChannelMetrics`](crate::ChannelMetrics) instead).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many subscribers `topic` has.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topics
            .lock()
            .map(|t| t.get(topic).map_or(0, Vec::len))
            .unwrap_or(0)
    }
}

impl Adapter for LocalAdapter {
    fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        if let Ok(mut topics) = self.topics.lock() {
            let list = topics.entry(topic.to_owned()).or_default();
            // Sorted by id, so that finding one is a binary search: a scan per join made a
            // large room's join storm quadratic. Ids grow with each socket, so a new member
            // usually goes last.
            match list.binary_search_by_key(&subscriber.id, |s| s.id) {
                Ok(at) => list[at] = subscriber,
                Err(at) => {
                    // Room for exactly one at first (a `Vec` would make four): most topics of
                    // a channel app have one subscriber on a node, and this is held per
                    // joined channel. Past that, the usual doubling.
                    if list.capacity() == 0 {
                        list.reserve_exact(1);
                    }
                    list.insert(at, subscriber);
                }
            }
        }
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        if let Ok(mut topics) = self.topics.lock() {
            if let Some(list) = topics.get_mut(topic) {
                if let Ok(at) = list.binary_search_by_key(&id, |s| s.id) {
                    list.remove(at);
                }
                if list.is_empty() {
                    topics.remove(topic);
                }
            }
        }
    }

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        self.deliver(&message);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The handle every part of an app shares to broadcast: cheap to clone, the same whatever the
/// [`Adapter`] behind it, so switching to a networked one changes one line of setup and no
/// channel code.
///
/// ```
/// # async fn f() -> Result<(), websock_channels::PubSubError> {
/// use websock_channels::PubSub;
///
/// let pubsub = PubSub::local();
/// pubsub.broadcast("room:lobby", "new_msg", serde_json::json!({"body": "hi"})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PubSub {
    adapter: Arc<dyn Adapter>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub").finish_non_exhaustive()
    }
}

impl Default for PubSub {
    fn default() -> Self {
        Self::local()
    }
}

impl PubSub {
    /// In-process delivery ([`LocalAdapter`]).
    pub fn local() -> Self {
        Self::new(LocalAdapter::new())
    }

    /// Delivery through `adapter`.
    pub fn new(adapter: impl Adapter) -> Self {
        Self {
            adapter: Arc::new(adapter),
        }
    }

    /// Broadcasts `event` with `payload` to every socket that joined `topic`.
    pub async fn broadcast(
        &self,
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        self.send(Broadcast::new(topic, event, payload)).await
    }

    /// As [`broadcast`](Self::broadcast), except to the subscriber `sender`.
    pub async fn broadcast_from(
        &self,
        sender: SubscriberId,
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        self.send(Broadcast::new(topic, event, payload).from(sender))
            .await
    }

    /// Sends a prepared broadcast.
    ///
    /// # Errors
    /// The adapter's, or: a binary payload whose topic or event is longer than 255 bytes,
    /// which phoenix.js's binary layout cannot carry (each length is one byte).
    pub async fn send(&self, message: Broadcast) -> Result<(), PubSubError> {
        if !message.encodable() {
            return Err(PubSubError::new(
                "a binary broadcast's topic and event must be at most 255 bytes",
            ));
        }
        self.adapter.broadcast(Arc::new(message)).await
    }

    /// Publishes a typed value to `topic`, as Phoenix's `PubSub.broadcast(MyApp.PubSub,
    /// "game:42", {:game_update, state})`: every channel joined to `topic` whose
    /// `#[on_info]` takes a `T` gets a clone in its `handle_info`, on every node (a networked
    /// adapter sends it as JSON; see [`InfoValue`]), and so does every
    /// [`InfoSubscription<T>`]. Nothing is pushed to clients.
    ///
    /// With the topic as a string, whether a channel takes `T` is checked when it arrives: a
    /// channel that has no `#[on_info]` for it is counted in
    /// [`ChannelMetrics::unhandled_infos`](crate::ChannelMetrics) and logged (warn). To have
    /// the compiler check it, publish to a typed topic: `GameChannel::topic("42")`
    /// ([`ChannelTopic::publish`](crate::ChannelTopic::publish)).
    ///
    /// # Errors
    /// The adapter's (a networked adapter delivers on this node first).
    pub async fn publish_info<T>(
        &self,
        topic: impl Into<String>,
        value: T,
    ) -> Result<(), PubSubError>
    where
        T: Clone + Send + Sync + serde::Serialize + 'static,
    {
        self.send(Broadcast::info(topic, InfoValue::new(value)))
            .await
    }

    /// Receives the values of type `T` published to `topic` ([`publish_info`]), from this
    /// node and others, in this task, until the [`InfoSubscription`] is dropped: Phoenix's
    /// `PubSub.subscribe`.
    ///
    /// [`publish_info`]: Self::publish_info
    pub fn subscribe_info<T>(&self, topic: impl Into<String>) -> InfoSubscription<T>
    where
        T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        InfoSubscription {
            inner: self.subscribe(topic),
            skipped: 0,
            value: PhantomData,
        }
    }

    /// Closes every socket whose [`Socket::id`](crate::Socket::id) is `socket_id` with 1001
    /// (phoenix.js reconnects, and its `connect` runs again): Phoenix's
    /// `Endpoint.broadcast(id, "disconnect", %{})`.
    pub async fn disconnect(&self, socket_id: &str) -> Result<(), PubSubError> {
        self.broadcast(socket_id, "disconnect", Payload::empty())
            .await
    }

    /// Hands a change of this node's presence to the adapter ([`Adapter::presence_changed`]).
    pub(crate) fn presence_changed(&self, topic: &str, diff: &PresenceDiff) {
        self.adapter.presence_changed(topic, diff);
    }

    /// The presences of `topic` on other nodes ([`Adapter::remote_presence`]).
    pub fn remote_presence(&self, topic: &str) -> serde_json::Map<String, serde_json::Value> {
        self.adapter.remote_presence(topic)
    }

    /// Receives the broadcasts to `topic` in this task, until the [`Subscription`] is dropped.
    pub fn subscribe(&self, topic: impl Into<String>) -> Subscription {
        let topic = topic.into();
        let (tx, rx) = mpsc::channel(1024);
        let id = SubscriberId::next();
        self.adapter
            .subscribe(&topic, Subscriber::new(id, Sink::Listener(tx)));
        Subscription {
            pubsub: self.clone(),
            topic,
            id,
            rx,
        }
    }

    /// Subscribes a socket's mailbox to `topic`; `intercept`: the events the fast lane may
    /// not take (see [`Sink::Socket`]).
    pub(crate) fn subscribe_socket(
        &self,
        topic: &str,
        id: SubscriberId,
        mailbox: Mailbox,
        intercept: Option<&'static [&'static str]>,
    ) {
        let sink = Sink::Socket(mailbox, intercept);
        self.adapter.subscribe(topic, Subscriber::new(id, sink));
    }

    pub(crate) fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        self.adapter.unsubscribe(topic, id);
    }
}

/// Broadcasts to one topic, received in a task of your own; unsubscribes when dropped.
pub struct Subscription {
    pubsub: PubSub,
    topic: String,
    id: SubscriberId,
    rx: mpsc::Receiver<Arc<Broadcast>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("id", &self.id)
            .finish()
    }
}

impl Subscription {
    /// The next broadcast (`None` once the pubsub is gone).
    pub async fn recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.recv().await
    }

    /// The next broadcast if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Broadcast>> {
        self.rx.try_recv().ok()
    }
}

/// The values of one type published to one topic, received in a task of your own
/// ([`PubSub::subscribe_info`]); unsubscribes when dropped.
pub struct InfoSubscription<T> {
    inner: Subscription,
    skipped: u64,
    value: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for InfoSubscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InfoSubscription")
            .field("topic", &self.inner.topic)
            .field("type", &std::any::type_name::<T>())
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl<T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static> InfoSubscription<T> {
    /// The next value (`None` once the pubsub is gone). Broadcasts to clients and values of
    /// other types published to the topic are skipped, counted in [`skipped`](Self::skipped)
    /// and logged (debug).
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            let message = self.inner.recv().await?;
            if let Some(value) = self.take(&message) {
                return Some(value);
            }
        }
    }

    /// The next value if one is waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        loop {
            let message = self.inner.try_recv()?;
            if let Some(value) = self.take(&message) {
                return Some(value);
            }
        }
    }

    /// Messages to the topic that were not a `T`.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn take(&mut self, message: &Broadcast) -> Option<T> {
        let value = message.info_value().and_then(InfoValue::decode::<T>);
        if value.is_none() {
            self.skipped += 1;
            tracing::debug!(
                topic = %self.inner.topic,
                expected = std::any::type_name::<T>(),
                got = message.info_value().map_or("a client broadcast", InfoValue::tag),
                "subscription skipped a message of another type"
            );
        }
        value
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.pubsub.unsubscribe(&self.topic, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(id: SubscriberId) -> (Subscriber, mpsc::Receiver<Arc<Broadcast>>) {
        let (tx, rx) = mpsc::channel(8);
        (Subscriber::new(id, Sink::Listener(tx)), rx)
    }

    /// Subscribers in any order of ids, one twice, one gone: each left gets a broadcast once.
    #[test]
    fn a_topic_keeps_one_subscription_per_subscriber() {
        let adapter = LocalAdapter::new();
        let ids: Vec<SubscriberId> = (0..5).map(|_| SubscriberId::next()).collect();
        let mut receivers = Vec::new();
        for &at in &[3, 0, 4, 1, 2] {
            let (subscriber, rx) = listener(ids[at]);
            adapter.subscribe("t", subscriber);
            receivers.push((at, rx));
        }
        // Subscribing 4 again replaces its first subscription (whose queue is then closed).
        let (again, rx) = listener(ids[4]);
        adapter.subscribe("t", again);
        receivers.retain(|(at, _)| *at != 4);
        receivers.push((4, rx));
        adapter.unsubscribe("t", ids[1]);
        assert_eq!(adapter.subscribers("t"), 4);
        let delivered = adapter.deliver(&Arc::new(Broadcast::new("t", "e", Payload::empty())));
        assert_eq!(delivered, 4);
        for (at, mut rx) in receivers {
            let got = std::iter::from_fn(|| rx.try_recv().ok()).count();
            assert_eq!(got, usize::from(at != 1), "subscriber {at}");
        }
    }
}
