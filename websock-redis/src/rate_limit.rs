//! A [`RateLimitStore`] in Redis: every node counts in the same keys, so a limit holds across
//! the nodes.

use redis::aio::MultiplexedConnection;
use std::{sync::Mutex, time::Duration};
use websock_runtime::{RateLimitStore, StoreError, StoreFuture};

/// One round trip: count the hit, and give the key its window when it starts one. The `PTTL`
/// check (rather than `INCR` returning 1) also gives a window to a key that lost its expiry
/// some other way, so no key can count for ever.
const HIT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
";

/// Rate limits counted in Redis, shared by every node that uses the same server and prefix:
/// "30 per minute per user" holds across all of a user's sockets on every node.
///
/// ```no_run
/// use websock_runtime::RateLimiter;
/// use websock_redis::RedisRateLimitStore;
///
/// # fn demo() -> Result<(), websock_redis::redis::RedisError> {
/// let limiter = RateLimiter::new(RedisRateLimitStore::new("redis://127.0.0.1:6379/")?);
/// // socket(UserSocket).rate_limiter(limiter).channel::<Room>()
/// # Ok(()) }
/// ```
///
/// Each hit is one `EVAL` (`INCR`, and `PEXPIRE` when the key starts a window) on the key
/// `<prefix><event>:<key>` (prefix `websock:rate:`), which expires with its window. It
/// connects on the first hit and again after a failure; a hit that fails (Redis unreachable,
/// or no answer within the timeout, 1 s) is let through by the
/// [`RateLimiter`](websock_runtime::RateLimiter), counted and logged.
pub struct RedisRateLimitStore {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimitStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimitStore {
    /// A store on the Redis at `url` (`redis://127.0.0.1:6379/`); it connects on first use.
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Mutex::new(None),
            prefix: "websock:rate:".to_owned(),
            timeout: Duration::from_secs(1),
        })
    }

    /// What its keys start with (default `websock:rate:`): apps sharing one Redis use
    /// different prefixes.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a hit may take, connecting included (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn count(&self, key: &str, window: Duration) -> redis::RedisResult<u64> {
        let cached = self.cached().clone();
        let mut connection = match cached {
            Some(connection) => connection,
            None => {
                let connection = self.client.get_multiplexed_async_connection().await?;
                *self.cached() = Some(connection.clone());
                connection
            }
        };
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let counted = redis::cmd("EVAL")
            .arg(HIT)
            .arg(1)
            .arg(format!("{}{key}", self.prefix))
            .arg(millis)
            .query_async(&mut connection)
            .await;
        if counted.is_err() {
            // The next hit connects again rather than reuse a connection that failed.
            *self.cached() = None;
        }
        counted
    }
}

impl RateLimitStore for RedisRateLimitStore {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.count(key, window)).await {
                Ok(Ok(count)) => Ok(count),
                Ok(Err(error)) => Err(StoreError::new(error)),
                Err(_) => {
                    *self.cached() = None;
                    Err(StoreError::new("redis: timed out"))
                }
            }
        })
    }
}
