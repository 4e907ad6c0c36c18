//! A Redis [`Adapter`] for websock channels: several nodes (processes, machines) share
//! broadcasts through Redis PubSub, so a message broadcast on any node reaches the sockets that
//! joined its topic on every node.
//!
//! ```no_run
//! use websock_channels::{AnonymousSocket, PubSub, socket};
//! use websock_redis::RedisAdapter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let adapter = RedisAdapter::connect("redis://127.0.0.1:6379/").await?;
//! let route = socket(AnonymousSocket).with_pubsub(PubSub::new(adapter));
//! // .channel::<Room>() and serve as usual: the channel code does not change.
//! # Ok(()) }
//! ```
//!
//! # How it works
//!
//! - Each node opens two Redis connections: one to `PUBLISH`, one that is `SUBSCRIBE`d to the
//!   topics its sockets joined. A node subscribes to a topic **once**, when its first local
//!   subscriber arrives, and unsubscribes when the last one leaves: a thousand sockets in
//!   `room:lobby` on one node are one Redis subscription (to the channel
//!   `websock:room:lobby`; the prefix is [`RedisOptions::prefix`]).
//! - [`Adapter::broadcast`] delivers to this node's subscribers in-process first, then
//!   publishes. Every message carries the id of the node that sent it, and a node ignores its
//!   own messages when Redis echoes them back, so its subscribers get each broadcast once.
//! - When Redis goes away, the node reconnects with exponential backoff (100 ms doubling up to
//!   [`RedisOptions::max_backoff`]), then subscribes again to every topic it still has
//!   subscribers for. A periodic `PING` on the subscription finds a silent connection.
//!
//! # Delivery guarantee: at most once
//!
//! Redis PubSub keeps nothing: a message is delivered to the nodes subscribed at the moment it
//! is published, and to no one else. So:
//!
//! - Subscribers on the **publishing node** always get the message (in-process, before Redis
//!   is involved), even while Redis is down.
//! - Each **other node** gets it **at most once**: never twice, but not at all if its
//!   subscription is down when the message is published (during a Redis restart, say). Nothing
//!   is buffered or replayed after a reconnect.
//! - `broadcast` returns `Ok` once Redis accepted the message, and an error when it could not
//!   be published (Redis unreachable, not yet reconnected, or no answer within the response
//!   timeout): the other nodes did not get it — or, after a timeout, may have. A broadcast
//!   never vanishes silently; retrying one that timed out may deliver it twice.
//! - Messages one node publishes to a topic reach each other node in the order they were
//!   published.
//!
//! A channel's `socket.broadcast(..)` logs the error (its local subscribers got the message);
//! call [`PubSub::broadcast`](websock_channels::PubSub::broadcast) yourself to handle it.

use bytes::Bytes;
use futures_util::StreamExt;
use redis::{AsyncCommands, aio::MultiplexedConnection};
use std::{
    collections::HashSet,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::{Notify, mpsc};
use websock_channels::{
    Adapter, BoxFuture, Broadcast, LocalAdapter, Payload, PubSubError, Subscriber, SubscriberId,
};

/// The `redis` crate, for commands of your own on the same server.
pub use redis;

/// Settings for [`RedisAdapter::connect_with`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    prefix: String,
    max_backoff: Duration,
    ping_interval: Duration,
    timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "websock:".to_owned(),
            max_backoff: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `websock:`, backoff up to 5 s, a ping every 5 s, 1 s timeouts.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the Redis channel names start with (the topic follows): apps sharing one Redis
    /// use different prefixes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest wait between two reconnection attempts.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// How often the subscription connection is pinged to find a dead link.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long to wait for a connection, a `PUBLISH` or a `PING` answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Counters, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Broadcasts Redis accepted.
    pub published: u64,
    /// Broadcasts that could not be published (the caller got an error).
    pub publish_errors: u64,
    /// Messages from other nodes delivered to this node's subscribers.
    pub received: u64,
    /// Connections (re)established, the first one included.
    pub connects: u64,
}

enum Command {
    Subscribe(String),
    Unsubscribe(String),
}

struct Shared {
    local: LocalAdapter,
    /// Topics with at least one local subscriber: what the node is subscribed to in Redis.
    wanted: Mutex<HashSet<String>>,
    publisher: Mutex<Option<MultiplexedConnection>>,
    broken: Notify,
    connected: AtomicBool,
    node: u64,
    options: RedisOptions,
    published: AtomicU64,
    publish_errors: AtomicU64,
    received: AtomicU64,
    connects: AtomicU64,
}

impl Shared {
    fn wanted(&self) -> MutexGuard<'_, HashSet<String>> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publisher(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        self.publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.options.prefix)
    }
}

/// Broadcasts through Redis PubSub (see the [crate docs](crate) for the delivery guarantee).
/// Clones share the connections; the background task that keeps them ends when the last
/// clone (and the [`PubSub`](websock_channels::PubSub) holding one) is dropped.
#[derive(Clone)]
pub struct RedisAdapter {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("node", &format_args!("{:016x}", self.shared.node))
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl RedisAdapter {
    /// Connects to `url` (`redis://127.0.0.1:6379/`) with the default [`RedisOptions`]; fails
    /// if the first connection fails. Must be called inside a tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, PubSubError> {
        Self::connect_with(url, RedisOptions::default()).await
    }

    /// As [`connect`](Self::connect), with `options`.
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self, PubSubError> {
        let client = redis::Client::open(url).map_err(|e| error("invalid url", &e))?;
        let (publisher, sink, stream) = open(&client, &options, Vec::new())
            .await
            .map_err(|e| error("connect", &e))?;
        let shared = Arc::new(Shared {
            local: LocalAdapter::new(),
            wanted: Mutex::default(),
            publisher: Mutex::new(Some(publisher)),
            broken: Notify::new(),
            connected: AtomicBool::new(true),
            node: RandomState::new().hash_one(std::process::id()),
            options,
            published: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            received: AtomicU64::new(0),
            connects: AtomicU64::new(1),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(supervise(shared.clone(), client, rx, Some((sink, stream))));
        Ok(Self { shared, commands })
    }

    /// This node's id, as carried in its messages.
    pub fn node_id(&self) -> u64 {
        self.shared.node
    }

    /// Whether both connections are up and every topic is subscribed again.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// The counters.
    pub fn stats(&self) -> RedisStats {
        let s = &self.shared;
        RedisStats {
            published: s.published.load(Ordering::Relaxed),
            publish_errors: s.publish_errors.load(Ordering::Relaxed),
            received: s.received.load(Ordering::Relaxed),
            connects: s.connects.load(Ordering::Relaxed),
        }
    }

    /// The Redis channel a topic travels on.
    pub fn channel(&self, topic: &str) -> String {
        self.shared.channel(topic)
    }

    /// How many local subscribers `topic` has on this node.
    pub fn local_subscribers(&self, topic: &str) -> usize {
        self.shared.local.subscribers(topic)
    }
}

impl Adapter for RedisAdapter {
    fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        let mut wanted = self.shared.wanted();
        self.shared.local.subscribe(topic, subscriber);
        if wanted.insert(topic.to_owned()) {
            let _ = self.commands.send(Command::Subscribe(topic.to_owned()));
        }
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        let mut wanted = self.shared.wanted();
        self.shared.local.unsubscribe(topic, id);
        if self.shared.local.subscribers(topic) == 0 && wanted.remove(topic) {
            let _ = self.commands.send(Command::Unsubscribe(topic.to_owned()));
        }
    }

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        // Local subscribers first: they get the message whatever happens to Redis.
        self.shared.local.deliver(&message);
        let shared = &self.shared;
        let connection = shared.publisher().clone();
        Box::pin(async move {
            let Some(mut connection) = connection else {
                shared.publish_errors.fetch_add(1, Ordering::Relaxed);
                return Err(PubSubError::new(
                    "redis unavailable (reconnecting): delivered on this node only",
                ));
            };
            let channel = shared.channel(message.topic());
            let envelope = encode(shared.node, &message);
            match connection.publish::<_, _, i64>(channel, envelope).await {
                Ok(_) => {
                    shared.published.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(e) => {
                    shared.publish_errors.fetch_add(1, Ordering::Relaxed);
                    if !e.is_timeout() {
                        shared.broken.notify_one();
                    }
                    Err(error("publish (delivered on this node only)", &e))
                }
            }
        })
    }
}

fn error(what: &str, e: &redis::RedisError) -> PubSubError {
    PubSubError::new(format!("redis {what}: {e}"))
}

type Opened = (
    MultiplexedConnection,
    redis::aio::PubSubSink,
    redis::aio::PubSubStream,
);

async fn open(
    client: &redis::Client,
    options: &RedisOptions,
    channels: Vec<String>,
) -> redis::RedisResult<Opened> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.timeout))
        .set_response_timeout(Some(options.timeout));
    let publisher = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let pubsub = tokio::time::timeout(options.timeout, client.get_async_pubsub())
        .await
        .map_err(|_| io_timeout())??;
    let (mut sink, stream) = pubsub.split();
    for batch in channels.chunks(512) {
        tokio::time::timeout(options.timeout, sink.subscribe(batch))
            .await
            .map_err(|_| io_timeout())??;
    }
    Ok((publisher, sink, stream))
}

fn io_timeout() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "redis: timed out").into()
}

/// Keeps the connections up: runs the subscription until it breaks, then reconnects with
/// backoff and subscribes again. Ends when every [`RedisAdapter`] clone is gone.
async fn supervise(
    shared: Arc<Shared>,
    client: redis::Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut first: Option<(redis::aio::PubSubSink, redis::aio::PubSubStream)>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let (sink, stream) = match first.take() {
            Some(opened) => opened,
            None => {
                let channels: Vec<String> = {
                    let wanted = shared.wanted();
                    wanted.iter().map(|t| shared.channel(t)).collect()
                };
                match open(&client, &shared.options, channels).await {
                    Ok((publisher, sink, stream)) => {
                        *shared.publisher() = Some(publisher);
                        shared.connects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!("redis: reconnected");
                        (sink, stream)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "redis: reconnect failed");
                        // Subscription changes made meanwhile are in `wanted`, read on the
                        // next attempt; the queued commands are stale.
                        let sleep = tokio::time::sleep(backoff);
                        tokio::pin!(sleep);
                        loop {
                            tokio::select! {
                                () = &mut sleep => break,
                                command = commands.recv() => if command.is_none() { return },
                            }
                        }
                        backoff = (backoff * 2).min(shared.options.max_backoff);
                        continue;
                    }
                }
            }
        };
        backoff = Duration::from_millis(100);
        shared.connected.store(true, Ordering::Release);
        let ended = run(&shared, sink, stream, &mut commands).await;
        shared.connected.store(false, Ordering::Release);
        *shared.publisher() = None;
        if ended {
            return;
        }
        tracing::warn!("redis: connection lost, reconnecting");
    }
}

/// Runs one connection; returns `true` when the adapter is gone, `false` when the connection
/// broke.
async fn run(
    shared: &Shared,
    mut sink: redis::aio::PubSubSink,
    mut stream: redis::aio::PubSubStream,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> bool {
    let timeout = shared.options.timeout;
    let mut ping = tokio::time::interval(shared.options.ping_interval);
    ping.reset();
    loop {
        tokio::select! {
            command = commands.recv() => {
                let result = match command {
                    None => return true,
                    Some(Command::Subscribe(topic)) => {
                        tokio::time::timeout(timeout, sink.subscribe(shared.channel(&topic))).await
                    }
                    Some(Command::Unsubscribe(topic)) => {
                        tokio::time::timeout(timeout, sink.unsubscribe(shared.channel(&topic))).await
                    }
                };
                if !matches!(result, Ok(Ok(()))) {
                    return false;
                }
            }
            message = stream.next() => {
                let Some(message) = message else { return false };
                let Some(topic) = message.get_channel_name().strip_prefix(&shared.options.prefix) else {
                    continue;
                };
                match decode(topic, message.get_payload_bytes()) {
                    Some((node, _)) if node == shared.node => {}
                    Some((_, broadcast)) => {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        shared.local.deliver(&Arc::new(broadcast));
                    }
                    None => tracing::warn!(topic, "redis: undecodable message ignored"),
                }
            }
            _ = ping.tick() => {
                if !matches!(tokio::time::timeout(timeout, sink.ping::<redis::Value>()).await, Ok(Ok(_))) {
                    return false;
                }
            }
            () = shared.broken.notified() => return false,
        }
    }
}

const VERSION: u8 = 1;
const JSON: u8 = 0;
const BINARY: u8 = 1;

/// `[version][node: u64 BE][kind][event length: u16 BE][event][payload]`; the topic is the
/// Redis channel.
fn encode(node: u64, message: &Broadcast) -> Vec<u8> {
    let event = message.event().as_bytes();
    let (kind, payload) = match message.payload() {
        Payload::Json(value) => (
            JSON,
            Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        ),
        Payload::Binary(bytes) => (BINARY, bytes.clone()),
    };
    let mut out = Vec::with_capacity(12 + event.len() + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&node.to_be_bytes());
    out.push(kind);
    out.extend_from_slice(&u16::try_from(event.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(&event[..event.len().min(usize::from(u16::MAX))]);
    out.extend_from_slice(&payload);
    out
}

fn decode(topic: &str, bytes: &[u8]) -> Option<(u64, Broadcast)> {
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION || rest.len() < 11 {
        return None;
    }
    let node = u64::from_be_bytes(rest[..8].try_into().ok()?);
    let kind = rest[8];
    let len = usize::from(u16::from_be_bytes([rest[9], rest[10]]));
    let rest = &rest[11..];
    let event = std::str::from_utf8(rest.get(..len)?).ok()?;
    let payload = &rest[len..];
    let payload = match kind {
        JSON => Payload::Json(serde_json::from_slice(payload).ok()?),
        BINARY => Payload::Binary(Bytes::copy_from_slice(payload)),
        _ => return None,
    };
    Some((node, Broadcast::new(topic, event, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_round_trips() {
        let json = Broadcast::new("room:1", "new_msg", json!({"body": "hé"}));
        let (node, back) = decode("room:1", &encode(7, &json)).unwrap();
        assert_eq!(node, 7);
        assert_eq!(back.event(), "new_msg");
        assert_eq!(back.payload(), json.payload());

        let binary = Broadcast::new("t", "bin", Bytes::from_static(&[0, 1, 255]));
        let (_, back) = decode("t", &encode(1, &binary)).unwrap();
        assert_eq!(
            back.payload(),
            &Payload::Binary(Bytes::from_static(&[0, 1, 255]))
        );

        assert!(decode("t", b"").is_none());
        assert!(decode("t", &[9; 20]).is_none());
    }
}
