//! The adapter's settings and counters.

use std::time::Duration;

/// Settings for [`RedisAdapter::connect_with`](crate::RedisAdapter::connect_with).
#[derive(Clone, Debug)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) max_backoff: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) expiry: Duration,
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
    /// Messages from the Redis channels this node could not read (an unknown format version,
    /// garbage): ignored, counted here and logged at `warn` (the 1st, 2nd, 4th, 8th.. of them,
    /// so a flood cannot flood the log).
    pub unreadable: u64,
}
