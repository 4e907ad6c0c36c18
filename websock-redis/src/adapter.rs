//! [`RedisAdapter`]: what the channels call, and the state it shares with its supervisor.

use crate::{
    RedisOptions, RedisStats,
    presence::{self, Meta, Metas},
    supervisor, wire_format,
};
use redis::aio::MultiplexedConnection;
use std::{
    collections::HashSet,
    fmt,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};
use tokio::sync::{Notify, mpsc};
use websock_channels::{
    Adapter, BoxFuture, Broadcast, LocalAdapter, PresenceDiff, PubSubError, Subscriber,
    SubscriberId,
};

/// The publishing connection, with the number of the connection it belongs to.
#[derive(Clone)]
pub(crate) struct Publisher {
    pub(crate) generation: u64,
    pub(crate) connection: MultiplexedConnection,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) unreadable: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) local: LocalAdapter,
    /// Topics with at least one local subscriber: what the node must be subscribed to in
    /// Redis. The supervisor makes Redis follow it (see [`Shared::reconcile`]).
    wanted: Mutex<HashSet<String>>,
    /// Wakes the supervisor to make the Redis subscriptions follow `wanted`. A stored permit
    /// is one pending reconcile, whatever the number of changes: subscription changes are
    /// never queued, so a burst of joins takes no memory and loses nothing.
    pub(crate) reconcile: Notify,
    publisher: Mutex<Option<Publisher>>,
    /// The current connection's number; a failure seen on an older one is stale.
    pub(crate) generation: AtomicU64,
    /// The connection `broken_generation` failed (a broadcast saw it): the supervisor
    /// reconnects if it is still the current one.
    pub(crate) broken: Notify,
    pub(crate) broken_generation: AtomicU64,
    presence: Mutex<presence::State>,
    /// Wakes the presence writer: this node's presences changed, or must be sent whole.
    pub(crate) presence_changed: Notify,
    pub(crate) connected: AtomicBool,
    pub(crate) node: u64,
    pub(crate) options: RedisOptions,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn wanted(&self) -> MutexGuard<'_, HashSet<String>> {
        self.wanted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn publisher(&self) -> MutexGuard<'_, Option<Publisher>> {
        self.publisher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn presence(&self) -> MutexGuard<'_, presence::State> {
        self.presence.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn channel(&self, topic: &str) -> String {
        format!("{}{topic}", self.options.prefix)
    }

    pub(crate) fn presence_key(&self, topic: &str) -> String {
        format!("{}presence:{topic}", self.options.prefix)
    }

    pub(crate) fn node_key(&self, node: u64) -> String {
        format!("{}node:{node:016x}", self.options.prefix)
    }

    /// Delivers to this node's subscribers. A subscriber found gone (its socket died
    /// without unsubscribing) is dropped by the local adapter; when it was the topic's last,
    /// the node unsubscribes in Redis too.
    pub(crate) fn deliver_local(&self, message: &Arc<Broadcast>) {
        self.local.deliver(message);
        if self.local.subscribers(message.topic()) == 0 {
            self.release(message.topic());
        }
    }

    /// A `presence_diff` of this node's making (the replica changed) to this node's sockets.
    pub(crate) fn deliver_presence_diff(&self, topic: &str, before: &Metas, after: &Metas) {
        if let Some(diff) = presence::diff(before, after) {
            self.deliver_local(&Arc::new(Broadcast::new(topic, "presence_diff", diff)));
        }
    }

    /// `topic` has no local subscriber left: forget its replica and unsubscribe in Redis.
    fn release(&self, topic: &str) {
        // Lock order: `wanted`, then `presence` (as the replica loads).
        let mut wanted = self.wanted();
        if self.local.subscribers(topic) == 0 && wanted.remove(topic) {
            self.presence().remote.remove(topic);
            self.reconcile.notify_one();
        }
    }

    /// A broadcast failed on connection `generation`: reconnect, unless that connection is
    /// already gone. Only the supervisor of that very connection acts on it, so a signal
    /// that arrives late (the permit `Notify` stores when nobody waits) never makes a newer,
    /// healthy connection reconnect.
    pub(crate) fn connection_failed(&self, generation: u64) {
        if self.generation.load(Ordering::Acquire) == generation {
            self.broken_generation.store(generation, Ordering::Release);
            self.broken.notify_one();
        }
    }

    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Broadcasts through Redis PubSub (see the [crate docs](crate) for the delivery guarantee).
/// Clones share the connections; the background task that keeps them ends when the last
/// clone (and the [`PubSub`](websock_channels::PubSub) holding one) is dropped.
#[derive(Clone)]
pub struct RedisAdapter {
    shared: Arc<Shared>,
    /// Never sent on: the supervisor sees it closed when the last clone is dropped.
    _alive: mpsc::Sender<()>,
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
        let opened = supervisor::open(&client, &options)
            .await
            .map_err(|e| error("connect", &e))?;
        let shared = Arc::new(Shared {
            local: LocalAdapter::new(),
            wanted: Mutex::default(),
            reconcile: Notify::new(),
            publisher: Mutex::new(None),
            generation: AtomicU64::new(0),
            broken: Notify::new(),
            broken_generation: AtomicU64::new(0),
            presence: Mutex::default(),
            presence_changed: Notify::new(),
            connected: AtomicBool::new(false),
            node: RandomState::new().hash_one(std::process::id()),
            options,
            counters: Counters::default(),
        });
        Shared::count(&shared.counters.connects);
        let (alive, closed) = mpsc::channel(1);
        tokio::spawn(supervisor::supervise(
            shared.clone(),
            client,
            closed,
            Some(opened),
        ));
        Ok(Self {
            shared,
            _alive: alive,
        })
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
        let c = &self.shared.counters;
        RedisStats {
            published: c.published.load(Ordering::Relaxed),
            publish_errors: c.publish_errors.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            connects: c.connects.load(Ordering::Relaxed),
            unreadable: c.unreadable.load(Ordering::Relaxed),
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
            self.shared.reconcile.notify_one();
        }
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        self.shared.local.unsubscribe(topic, id);
        self.shared.release(topic);
    }

    fn remote_presence(&self, topic: &str) -> serde_json::Map<String, serde_json::Value> {
        let state = self.shared.presence();
        state
            .remote
            .get(topic)
            .map(|replica| presence::to_list(replica.nodes.values().flat_map(Metas::values)))
            .unwrap_or_default()
    }

    fn presence_changed(&self, topic: &str, diff: &PresenceDiff) {
        let joins = diff
            .joins
            .iter()
            .map(|m| {
                let meta = Meta {
                    key: m.key.clone(),
                    meta: m.meta.clone(),
                };
                (m.phx_ref().to_owned(), meta)
            })
            .collect();
        let leaves = diff.leaves.iter().map(|m| m.phx_ref().to_owned()).collect();
        self.shared.presence().record(topic, joins, leaves);
        self.shared.presence_changed.notify_one();
    }

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        // Local subscribers first: they get the message whatever happens to Redis.
        self.shared.deliver_local(&message);
        let shared = &self.shared;
        let publisher = shared.publisher().clone();
        let encoded = match message.info_value() {
            Some(value) => wire_format::encode_info(shared.node, value),
            None => Ok(wire_format::encode_broadcast(shared.node, &message)),
        };
        Box::pin(async move {
            let encoded = encoded.map_err(|e| {
                Shared::count(&shared.counters.publish_errors);
                PubSubError::new(format!(
                    "a published value did not serialize (delivered on this node only): {e}"
                ))
            })?;
            let Some(Publisher {
                generation,
                mut connection,
            }) = publisher
            else {
                Shared::count(&shared.counters.publish_errors);
                return Err(PubSubError::new(
                    "redis unavailable (reconnecting): delivered on this node only",
                ));
            };
            let published = redis::cmd("PUBLISH")
                .arg(shared.channel(message.topic()))
                .arg(encoded)
                .query_async::<()>(&mut connection)
                .await;
            match published {
                Ok(()) => {
                    Shared::count(&shared.counters.published);
                    Ok(())
                }
                Err(e) => {
                    Shared::count(&shared.counters.publish_errors);
                    if !e.is_timeout() {
                        shared.connection_failed(generation);
                    }
                    Err(error("publish (delivered on this node only)", &e))
                }
            }
        })
    }
}

pub(crate) fn error(what: &str, e: &redis::RedisError) -> PubSubError {
    PubSubError::new(format!("redis {what}: {e}"))
}
