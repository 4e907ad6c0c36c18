//! A Redis [`Adapter`](websock_channels::Adapter) for websock channels: several nodes
//! (processes, machines) share broadcasts through Redis PubSub, so a message broadcast on any
//! node reaches the sockets that joined its topic on every node.
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
//! [`RedisRateLimitStore`] shares `#[rate_limit]` counts the same way: give every node
//! `RateLimiter::new(RedisRateLimitStore::new(url)?)` through
//! [`SocketRoute::rate_limiter`](websock_channels::SocketRoute::rate_limiter).
//!
//! # How it works
//!
//! - Each node opens two Redis connections: one to `PUBLISH`, one that is `SUBSCRIBE`d to the
//!   topics its sockets joined. A node subscribes to a topic **once**, when its first local
//!   subscriber arrives, and unsubscribes when the last one leaves — or is found gone (its
//!   socket died without unsubscribing) when a broadcast reaches it: a thousand sockets in
//!   `room:lobby` on one node are one Redis subscription (to the channel
//!   `websock:room:lobby`; the prefix is [`RedisOptions::prefix`]).
//! - Subscription changes are not queued: the node keeps the set of topics it wants and wakes
//!   a task that makes Redis follow it (one pending wake-up at most, so the "command channel"
//!   is bounded at one and a full one loses nothing). A burst of new topics is one
//!   `SUBSCRIBE` per 512 of them, and their presences load in pipelines, beside the loop that
//!   delivers: other topics' messages are not held up meanwhile.
//! - [`Adapter::broadcast`](websock_channels::Adapter::broadcast) delivers to this node's
//!   subscribers in-process first, then publishes. Every message carries the id of the node
//!   that sent it, and a node ignores its own messages when Redis echoes them back, so its
//!   subscribers get each broadcast once.
//! - Presence: every node lists the same presences. A node learns its own presences from
//!   [`Adapter::presence_changed`](websock_channels::Adapter::presence_changed) — never from a
//!   broadcast, whose event name (`presence_diff` included) a channel may take from a client —
//!   and sends them to Redis and to the other nodes. It keeps the other nodes' in memory from
//!   theirs (and reads them from Redis when it subscribes to a topic). After **any** reconnect
//!   a node sends its whole presence state and the others replace what they had of it, so a
//!   Redis blip loses no join or leave. It refreshes a key of its own every
//!   [`RedisOptions::presence_heartbeat`]; a node whose key has not been refreshed for
//!   [`RedisOptions::presence_expiry`] (killed, cut off) is dropped by the others, and its
//!   presences leave with a `presence_diff` to their sockets: within expiry + heartbeat.
//! - When Redis goes away, the node reconnects with exponential backoff (100 ms doubling up to
//!   [`RedisOptions::max_backoff`]), then subscribes again to every topic it still has
//!   subscribers for. A periodic `PING` on the subscription finds a silent connection.
//! - What nodes publish carries a format version (see [`RedisStats::unreadable`]): this
//!   release writes version 2 and reads versions 1 (broadcasts of the previous release) and 2.
//!   Anything else (a newer release's format, garbage) is ignored, counted and logged, so nodes
//!   of two releases can share one Redis during a rolling deploy. A version-1 node ignores
//!   version-2 messages, so during a deploy from it, broadcasts reach the nodes of the same
//!   release only.
//! - Typed values ([`PubSub::publish_info`](websock_channels::PubSub::publish_info)) travel
//!   as JSON (serde) tagged with their Rust type's name: a version-2 message of a new type (3)
//!   that a node of the previous release counts as unreadable and ignores. The receiving node
//!   decodes a value once, for its first subscriber whose `#[on_info]` type has that name and
//!   is `Deserialize`, and clones it for the others; a channel that cannot take it counts it in
//!   `ChannelMetrics::unhandled_infos` and logs it. Nodes must name the type alike: the same
//!   crate path, built by the same compiler (`std::any::type_name`).
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
//!   never vanishes silently. **Retrying** a failed `broadcast` delivers it to this node's
//!   subscribers **again** (they got it the first time), and after a timeout may deliver it
//!   twice to the other nodes too: make retried messages idempotent (an id the client
//!   checks), or publish the retry to Redis only with a [`redis`] command of your own.
//! - Messages one node publishes to a topic reach each other node in the order they were
//!   published.
//!
//! A channel's `socket.broadcast(..)` logs the error (its local subscribers got the message);
//! call [`PubSub::broadcast`](websock_channels::PubSub::broadcast) yourself to handle it.

mod adapter;
mod options;
mod own_presence;
mod presence;
mod rate_limit;
mod replica;
mod supervisor;
mod wire_format;

pub use adapter::RedisAdapter;
pub use options::{RedisOptions, RedisStats};
pub use rate_limit::RedisRateLimitStore;

/// The `redis` crate, for commands of your own on the same server.
pub use redis;
