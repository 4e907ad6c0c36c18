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
//! - Presence: every node lists the same presences. A node writes its own to Redis with the
//!   `presence_diff` it broadcasts, keeps the other nodes' in memory from theirs (and reads
//!   them from Redis when it subscribes to a topic), and refreshes a key of its own every
//!   [`RedisOptions::presence_heartbeat`]. A node whose key has not been refreshed for
//!   [`RedisOptions::presence_expiry`] (killed, cut off) is dropped by the others, and its
//!   presences leave with a `presence_diff` to their sockets: within expiry + heartbeat.
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
use redis::aio::MultiplexedConnection;
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

mod presence;
use presence::{Meta, Metas};

/// The `redis` crate, for commands of your own on the same server.
pub use redis;

/// Settings for [`RedisAdapter::connect_with`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    prefix: String,
    max_backoff: Duration,
    ping_interval: Duration,
    timeout: Duration,
    heartbeat: Duration,
    expiry: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "websock:".to_owned(),
            max_backoff: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            heartbeat: Duration::from_secs(1),
            expiry: Duration::from_secs(5),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `websock:`, backoff up to 5 s, a ping every 5 s, 1 s timeouts, a
    /// presence heartbeat every second, expiring after 5 s.
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

    /// How often this node tells the others it is alive.
    pub fn presence_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long after its last heartbeat a node's presences are removed by the others.
    pub fn presence_expiry(mut self, after: Duration) -> Self {
        self.expiry = after;
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
    presence: Mutex<presence::State>,
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

    fn presence(&self) -> MutexGuard<'_, presence::State> {
        self.presence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.options.prefix)
    }

    fn presence_key(&self, topic: &str) -> String {
        format!("{}presence:{topic}", self.options.prefix)
    }

    fn node_key(&self, node: u64) -> String {
        format!("{}node:{node:016x}", self.options.prefix)
    }

    fn deliver_local(&self, topic: &str, event: &str, payload: serde_json::Value) {
        self.local
            .deliver(&Arc::new(Broadcast::new(topic, event, payload)));
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
            presence: Mutex::default(),
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
            self.shared.presence().remote.remove(topic);
            let _ = self.commands.send(Command::Unsubscribe(topic.to_owned()));
        }
    }

    fn remote_presence(&self, topic: &str) -> serde_json::Map<String, serde_json::Value> {
        let state = self.shared.presence();
        state
            .remote
            .get(topic)
            .map(|nodes| presence::to_list(nodes.values().flat_map(Metas::values)))
            .unwrap_or_default()
    }

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        // Local subscribers first: they get the message whatever happens to Redis.
        self.shared.local.deliver(&message);
        let shared = &self.shared;
        // This node's presence changes go to Redis with the diff, in one pipeline.
        let presence = (message.event() == "presence_diff")
            .then(|| message.payload().as_json())
            .flatten()
            .map(|payload| {
                let (joins, leaves) = presence::parse_diff(payload);
                let mut state = shared.presence();
                let own = state.own.entry(message.topic().to_owned()).or_default();
                presence::apply(own, joins.clone(), &leaves);
                if own.is_empty() {
                    state.own.remove(message.topic());
                }
                (joins, leaves)
            });
        let connection = shared.publisher().clone();
        Box::pin(async move {
            let Some(mut connection) = connection else {
                shared.publish_errors.fetch_add(1, Ordering::Relaxed);
                return Err(PubSubError::new(
                    "redis unavailable (reconnecting): delivered on this node only",
                ));
            };
            let mut pipe = redis::pipe();
            if let Some((joins, leaves)) = presence {
                let hash = shared.presence_key(message.topic());
                for (phx_ref, _) in &leaves {
                    pipe.cmd("HDEL")
                        .arg(&hash)
                        .arg(presence::field(shared.node, phx_ref))
                        .ignore();
                }
                for (phx_ref, meta) in &joins {
                    pipe.cmd("HSET")
                        .arg(&hash)
                        .arg(presence::field(shared.node, phx_ref))
                        .arg(presence::value(meta))
                        .ignore();
                }
            }
            pipe.cmd("PUBLISH")
                .arg(shared.channel(message.topic()))
                .arg(encode(shared.node, &message))
                .ignore();
            match pipe.query_async::<()>(&mut connection).await {
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
    let mut reconnected = false;
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
        let ended = run(&shared, sink, stream, &mut commands, reconnected).await;
        reconnected = true;
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
    reconnected: bool,
) -> bool {
    let timeout = shared.options.timeout;
    // After a Redis restart this node's key is gone, so the heartbeat writes this node's
    // presences again and tells the other nodes; then read theirs.
    if heartbeat(shared).await.is_err() {
        return false;
    }
    if reconnected {
        let topics: Vec<String> = shared.wanted().iter().cloned().collect();
        for topic in topics {
            if resync(shared, &topic).await.is_err() {
                return false;
            }
        }
    }
    shared.connected.store(true, Ordering::Release);
    let mut ping = tokio::time::interval(shared.options.ping_interval);
    ping.reset();
    let mut beat = tokio::time::interval(shared.options.heartbeat);
    beat.reset();
    loop {
        tokio::select! {
            command = commands.recv() => {
                let result = match command {
                    None => return true,
                    Some(Command::Subscribe(topic)) => {
                        let subscribed =
                            tokio::time::timeout(timeout, sink.subscribe(shared.channel(&topic))).await;
                        if matches!(subscribed, Ok(Ok(()))) && resync(shared, &topic).await.is_err() {
                            return false;
                        }
                        subscribed
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
                    Some((node, broadcast)) if broadcast.event() == PRESENCE_SYNC => {
                        if let Some(payload) = broadcast.payload().as_json() {
                            presence_sync(shared, topic, node, payload);
                        }
                    }
                    Some((node, broadcast)) => {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        if broadcast.event() == "presence_diff" {
                            if let Some(payload) = broadcast.payload().as_json() {
                                remote_diff(shared, topic, node, payload);
                            }
                        }
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
            _ = beat.tick() => {
                if heartbeat(shared).await.is_err() {
                    return false;
                }
            }
            () = shared.broken.notified() => return false,
        }
    }
}

/// A node's presences again after a reconnect: applied, and passed on to the sockets as a
/// `presence_diff` of what they did not know.
const PRESENCE_SYNC: &str = "phx:presence_sync";

/// A `presence_diff` from `node`: the replica follows it.
fn remote_diff(shared: &Shared, topic: &str, node: u64, payload: &serde_json::Value) {
    let (joins, leaves) = presence::parse_diff(payload);
    let mut state = shared.presence();
    if let Some(nodes) = state.remote.get_mut(topic) {
        let metas = nodes.entry(node).or_default();
        presence::apply(metas, joins, &leaves);
        if metas.is_empty() {
            nodes.remove(&node);
        }
    }
}

fn presence_sync(shared: &Shared, topic: &str, node: u64, payload: &serde_json::Value) {
    let (joins, _) = presence::parse_diff(payload);
    let diff = {
        let mut state = shared.presence();
        let Some(nodes) = state.remote.get_mut(topic) else {
            return;
        };
        let metas = nodes.entry(node).or_default();
        let before = metas.clone();
        presence::apply(metas, joins, &[]);
        presence::diff(&before, metas)
    };
    if let Some(diff) = diff {
        shared.deliver_local(topic, "presence_diff", diff);
    }
}

async fn publisher(shared: &Shared) -> redis::RedisResult<MultiplexedConnection> {
    shared.publisher().clone().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotConnected, "redis: not connected").into()
    })
}

/// Refreshes this node's key, then drops the nodes whose key has expired: their presences
/// leave. When this node's own key had gone (Redis restarted, or this node was too slow and
/// the others dropped it), its presences are written and announced again.
async fn heartbeat(shared: &Shared) -> redis::RedisResult<()> {
    let mut connection = publisher(shared).await?;
    let expiry = u64::try_from(shared.options.expiry.as_millis()).unwrap_or(u64::MAX);
    let previous: Option<String> = redis::cmd("SET")
        .arg(shared.node_key(shared.node))
        .arg(1)
        .arg("PX")
        .arg(expiry.max(1))
        .arg("GET")
        .query_async(&mut connection)
        .await?;
    if previous.is_none() && !shared.presence().own.is_empty() {
        tracing::info!("redis: this node's key had expired; announcing its presences again");
        announce(shared).await?;
    }
    let nodes: Vec<u64> = {
        let state = shared.presence();
        let mut nodes: Vec<u64> = state
            .remote
            .values()
            .flat_map(|n| n.keys().copied())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    };
    if nodes.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = nodes.iter().map(|&n| shared.node_key(n)).collect();
    let alive: Vec<Option<String>> = redis::cmd("MGET")
        .arg(keys)
        .query_async(&mut connection)
        .await?;
    for (node, alive) in nodes.into_iter().zip(alive) {
        if alive.is_none() {
            expire(shared, &mut connection, node).await?;
        }
    }
    Ok(())
}

async fn expire(
    shared: &Shared,
    connection: &mut MultiplexedConnection,
    node: u64,
) -> redis::RedisResult<()> {
    let removed: Vec<(String, Metas)> = {
        let mut state = shared.presence();
        state
            .remote
            .iter_mut()
            .filter_map(|(topic, nodes)| Some((topic.clone(), nodes.remove(&node)?)))
            .collect()
    };
    tracing::info!(node = %format_args!("{node:016x}"), "redis: node expired, its presences leave");
    for (topic, metas) in removed {
        if let Some(diff) = presence::diff(&metas, &Metas::new()) {
            shared.deliver_local(&topic, "presence_diff", diff);
        }
        let fields: Vec<String> = metas.keys().map(|r| presence::field(node, r)).collect();
        if !fields.is_empty() {
            redis::cmd("HDEL")
                .arg(shared.presence_key(&topic))
                .arg(fields)
                .exec_async(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

/// Reads the other nodes' presences of `topic` from Redis (the live ones), replaces the
/// replica with them, and tells this node's sockets what changed.
async fn resync(shared: &Shared, topic: &str) -> redis::RedisResult<()> {
    let mut connection = publisher(shared).await?;
    let hash: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(shared.presence_key(topic))
        .query_async(&mut connection)
        .await?;
    let entries: Vec<(u64, String, Meta)> = hash
        .iter()
        .filter_map(|(field, value)| presence::parse_entry(field, value))
        .filter(|(node, _, _)| *node != shared.node)
        .collect();
    let mut nodes: Vec<u64> = entries.iter().map(|(n, _, _)| *n).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let alive: Vec<Option<String>> = if nodes.is_empty() {
        Vec::new()
    } else {
        let keys: Vec<String> = nodes.iter().map(|&n| shared.node_key(n)).collect();
        redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut connection)
            .await?
    };
    let mut fresh: std::collections::HashMap<u64, Metas> = std::collections::HashMap::new();
    for (node, phx_ref, meta) in entries {
        let live = nodes
            .binary_search(&node)
            .is_ok_and(|i| alive.get(i).is_some_and(Option::is_some));
        if live {
            fresh.entry(node).or_default().insert(phx_ref, meta);
        }
    }
    let diff = {
        // Lock order: `wanted`, then `presence` (as `unsubscribe`).
        let wanted = shared.wanted();
        if !wanted.contains(topic) {
            return Ok(());
        }
        let mut state = shared.presence();
        let flatten = |nodes: Option<&std::collections::HashMap<u64, Metas>>| -> Metas {
            nodes
                .into_iter()
                .flat_map(|n| n.values().flat_map(Clone::clone))
                .collect()
        };
        let before = flatten(state.remote.get(topic));
        let after = flatten(Some(&fresh));
        state.remote.insert(topic.to_owned(), fresh);
        presence::diff(&before, &after)
    };
    if let Some(diff) = diff {
        shared.deliver_local(topic, "presence_diff", diff);
    }
    Ok(())
}

/// After a reconnect: this node's presences into Redis again, and to the other nodes.
async fn announce(shared: &Shared) -> redis::RedisResult<()> {
    let mut connection = publisher(shared).await?;
    let own: Vec<(String, Metas)> = shared
        .presence()
        .own
        .iter()
        .map(|(t, m)| (t.clone(), m.clone()))
        .collect();
    for (topic, metas) in own {
        let mut pipe = redis::pipe();
        let hash = shared.presence_key(&topic);
        for (phx_ref, meta) in &metas {
            pipe.cmd("HSET")
                .arg(&hash)
                .arg(presence::field(shared.node, phx_ref))
                .arg(presence::value(meta))
                .ignore();
        }
        let payload =
            serde_json::json!({ "joins": presence::to_list(metas.values()), "leaves": {} });
        let message = Broadcast::new(topic.as_str(), PRESENCE_SYNC, payload);
        pipe.cmd("PUBLISH")
            .arg(shared.channel(&topic))
            .arg(encode(shared.node, &message))
            .ignore();
        pipe.exec_async(&mut connection).await?;
    }
    Ok(())
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
