//! Rate limits per key over a fixed window: the [`RateLimiter`] that `#[rate_limit]` checks,
//! and the store it counts in ([`RateLimitStore`]: in this process, or shared by every node,
//! as `websock_redis::RedisRateLimitStore`).

use std::{
    collections::HashMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// A boxed future, as a [`RateLimitStore`] returns one.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a [`RateLimiter`] counts: the number of hits of each key in its current window.
///
/// Windows are fixed and start at a key's first hit, as Phoenix apps write it with
/// `Cache.increment(key, 1, window)`: the first hit of a key starts a window of `window`,
/// every hit until it ends counts, and the first hit after it starts a new one.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Counts one hit of `key` and returns the hits of `key` in its current window, this one
    /// included (1 for the first hit of a window).
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, Result<u64, StoreError>>;
}

/// A store could not count a hit (Redis unreachable, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    /// An error saying `what` went wrong.
    pub fn new(what: impl fmt::Display) -> Self {
        Self(what.to_string())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limit store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// A hit over its limit: the key has had `count` hits in its window, more than `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// The hits of the key in its window, the refused one included.
    pub count: u64,
    /// The most hits the window allows.
    pub limit: u64,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rate limited: {} hits, {} allowed",
            self.count, self.limit
        )
    }
}

impl std::error::Error for RateLimited {}

/// Limits how often a key (a user id, an IP address) may do something (an event), over a
/// fixed window: "30 `new_message` per minute per user".
///
/// ```
/// use std::time::Duration;
/// use websock_runtime::RateLimiter;
///
/// # async fn demo() {
/// let limiter = RateLimiter::in_memory();
/// for _ in 0..30 {
///     assert!(limiter.check("new_message", "user:42", 30, Duration::from_secs(60)).await.is_ok());
/// }
/// assert!(limiter.check("new_message", "user:42", 30, Duration::from_secs(60)).await.is_err());
/// assert_eq!(limiter.refused(), 1);
/// # }
/// ```
///
/// Every check counts, refused ones included (a client that keeps trying stays refused until
/// its window ends). Clones share the store and the counters. `#[rate_limit]` on a channel's
/// `#[on_event]` method checks the limiter of its socket route
/// (`SocketRoute::rate_limiter`; by default one in memory per route).
///
/// When the store fails (Redis unreachable), the check lets the hit through: a limiter is
/// there to slow abuse, and an outage of its store should not refuse every user. Such hits
/// are counted ([`store_errors`](Self::store_errors)) and logged.
#[derive(Clone)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    refused: AtomicU64,
    store_errors: AtomicU64,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("refused", &self.refused())
            .field("store_errors", &self.store_errors())
            .finish_non_exhaustive()
    }
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::in_memory()
    }
}

/// The process's limiter; see [`RateLimiter::global`].
static GLOBAL: std::sync::OnceLock<RateLimiter> = std::sync::OnceLock::new();

impl RateLimiter {
    /// The process's limiter: what `#[rate_limit]` on `#[websock_handler]` methods checks,
    /// and channel routes without their own
    /// ([`SocketRoute::rate_limiter`](https://docs.rs/websock-channels)). In memory unless
    /// [`set_global`](Self::set_global) gave it another store first.
    pub fn global() -> &'static RateLimiter {
        GLOBAL.get_or_init(RateLimiter::in_memory)
    }

    /// Makes `limiter` the process's limiter (a Redis-backed one, say), before any connection
    /// uses it: `Err(limiter)` once the global one is set or was used.
    pub fn set_global(limiter: RateLimiter) -> Result<(), RateLimiter> {
        GLOBAL.set(limiter)
    }

    /// A limiter counting in this process ([`InMemoryStore`]).
    pub fn in_memory() -> Self {
        Self::new(InMemoryStore::new())
    }

    /// A limiter counting in `store`.
    pub fn new(store: impl RateLimitStore) -> Self {
        Self {
            store: Arc::new(store),
            counters: Arc::default(),
        }
    }

    /// Counts one hit of `key` for `rule` (an event name): `Err` when it is more than `limit`
    /// in the key's current window of `window` (see [`RateLimitStore`]). Each `rule` counts
    /// apart: the store's key is `"{rule}:{key}"`. Refusals are counted and logged (`debug`).
    pub async fn check(
        &self,
        rule: &str,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<(), RateLimited> {
        let store_key = format!("{rule}:{key}");
        // A zero window would never end a count in Redis (PEXPIRE 0 deletes the key at once,
        // which is a window of nothing): the shortest window is a millisecond.
        let window = window.max(Duration::from_millis(1));
        match self.store.hit(&store_key, window).await {
            Ok(count) if count > limit => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(rule, key, count, limit, "rate limited");
                Err(RateLimited { count, limit })
            }
            Ok(_) => Ok(()),
            Err(error) => {
                self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(rule, key, %error, "rate limit not checked: letting the hit through");
                Ok(())
            }
        }
    }

    /// How many checks this limiter (and its clones) refused.
    pub fn refused(&self) -> u64 {
        self.counters.refused.load(Ordering::Relaxed)
    }

    /// How many checks let a hit through because the store failed.
    pub fn store_errors(&self) -> u64 {
        self.counters.store_errors.load(Ordering::Relaxed)
    }
}

/// What `#[rate_limit]` on a handler method calls: counts one hit of `key` for `rule` in the
/// [global](RateLimiter::global) limiter; the future is `true` when it is over `limit`. It
/// owns what it needs, so the context is free while it runs.
#[doc(hidden)]
pub fn over_rate_limit(
    rule: &'static str,
    key: &dyn fmt::Display,
    limit: u64,
    window: Duration,
) -> impl Future<Output = bool> + Send + 'static {
    let key = key.to_string();
    async move {
        RateLimiter::global()
            .check(rule, &key, limit, window)
            .await
            .is_err()
    }
}

/// The key of a handler's `#[rate_limit]` without `key = ..`: the peer's IP address (the
/// connection's, or `unknown` when it has none, as over a Unix socket).
#[doc(hidden)]
pub fn default_rate_key<H: crate::Handler>(ctx: &crate::Context<H>) -> String {
    ctx.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string())
}

/// A [`RateLimitStore`] in this process's memory: one window per key, in a map behind a
/// mutex. Keys whose window has ended are dropped whenever the map has doubled since the last
/// sweep, so its memory follows the keys active in the last window.
#[derive(Default)]
pub struct InMemoryStore {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    by_key: HashMap<Box<str>, Window>,
    /// The size at which the next sweep runs.
    sweep_at: usize,
}

struct Window {
    ends: Instant,
    count: u64,
}

/// The smallest map that gets swept: below it, a sweep costs more than the memory it frees.
const MIN_SWEEP: usize = 1024;

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("keys", &self.len())
            .finish()
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The keys it holds, those whose window ended but were not swept yet included.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        // Every change is one insert or one update: a poisoned lock holds consistent data.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hit_now(&self, key: &str, window: Duration, now: Instant) -> u64 {
        let mut windows = self.lock();
        if windows.by_key.len() >= windows.sweep_at.max(MIN_SWEEP) {
            windows.by_key.retain(|_, w| w.ends > now);
            windows.sweep_at = windows.by_key.len().saturating_mul(2);
        }
        match windows.by_key.get_mut(key) {
            Some(current) if current.ends > now => {
                current.count = current.count.saturating_add(1);
                current.count
            }
            Some(ended) => {
                *ended = Window {
                    ends: now + window,
                    count: 1,
                };
                1
            }
            None => {
                windows.by_key.insert(
                    key.into(),
                    Window {
                        ends: now + window,
                        count: 1,
                    },
                );
                1
            }
        }
    }
}

impl RateLimitStore for InMemoryStore {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, Result<u64, StoreError>> {
        let count = self.hit_now(key, window, Instant::now());
        Box::pin(std::future::ready(Ok(count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_window_from_the_first_hit() {
        let store = InMemoryStore::new();
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        assert_eq!(store.hit_now("a", minute, start), 1);
        assert_eq!(
            store.hit_now("a", minute, start + Duration::from_secs(59)),
            2
        );
        assert_eq!(
            store.hit_now("b", minute, start + Duration::from_secs(30)),
            1
        );
        // The window of `a` ended: a new one starts with this hit.
        assert_eq!(store.hit_now("a", minute, start + minute), 1);
        assert_eq!(store.hit_now("b", minute, start + minute), 2);
    }

    #[test]
    fn ended_windows_are_swept() {
        let store = InMemoryStore::new();
        let start = Instant::now();
        let second = Duration::from_secs(1);
        for n in 0..MIN_SWEEP {
            store.hit_now(&n.to_string(), second, start);
        }
        assert_eq!(store.len(), MIN_SWEEP);
        // Past their window, the next hit sweeps them: only the new key is left.
        store.hit_now("new", second, start + second);
        assert_eq!(store.len(), 1);
        // Live keys are kept, and the next sweep waits for the map to double.
        for n in 0..MIN_SWEEP {
            store.hit_now(&n.to_string(), second, start + second);
        }
        assert_eq!(store.len(), MIN_SWEEP + 1);
        store.hit_now("newer", second, start + second);
        assert_eq!(store.len(), MIN_SWEEP + 2);
    }

    #[tokio::test]
    async fn refusals_and_store_errors_are_counted() {
        struct Broken;
        impl RateLimitStore for Broken {
            fn hit<'a>(
                &'a self,
                _: &'a str,
                _: Duration,
            ) -> StoreFuture<'a, Result<u64, StoreError>> {
                Box::pin(std::future::ready(Err(StoreError::new("down"))))
            }
        }
        let limiter = RateLimiter::in_memory();
        let minute = Duration::from_secs(60);
        assert!(limiter.check("e", "k", 1, minute).await.is_ok());
        assert_eq!(
            limiter.check("e", "k", 1, minute).await,
            Err(RateLimited { count: 2, limit: 1 })
        );
        // Another rule counts apart.
        assert!(limiter.check("f", "k", 1, minute).await.is_ok());
        assert_eq!(limiter.refused(), 1);

        let broken = RateLimiter::new(Broken);
        assert!(broken.check("e", "k", 0, minute).await.is_ok());
        assert_eq!(broken.store_errors(), 1);
    }
}
