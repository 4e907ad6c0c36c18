//! Draining: on graceful shutdown, close connections in batches spread over a few seconds, as
//! Phoenix's socket `drainer` does, so clients do not all reconnect in the same millisecond.

use std::{
    hash::{BuildHasher, RandomState},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

/// How a graceful shutdown closes the connections of routes that drain (Phoenix channel
/// sockets do, [`Config::drain`](crate::Config::drain)); other connections close at once.
///
/// The default spreads the closes over 5 s: 10 batches, one every 500 ms, each socket at a
/// random moment within its batch's interval. Phoenix's drainer closes 10,000 sockets per
/// batch every 2 s with no jitter — so up to 10,000 clients reconnect in the same millisecond;
/// [`Drain::phoenix`] does that. Either way the drain ends within three quarters of the
/// server's shutdown timeout ([`Server::shutdown_timeout`](crate::Server::shutdown_timeout),
/// the counterpart of the drainer's `shutdown` option), leaving the rest for the closing
/// handshakes.
///
/// ```
/// use std::time::Duration;
/// use websock_runtime::{Drain, Router, Server};
///
/// let server = Server::new(Router::new())
///     .drain(Drain::new().spread(Duration::from_secs(8)).interval(Duration::from_secs(1)))
///     .shutdown_timeout(Duration::from_secs(15));
/// # let _ = server;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drain {
    batch_size: Option<usize>,
    interval: Duration,
    spread: Duration,
    jitter: bool,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            batch_size: None,
            interval: Duration::from_millis(500),
            spread: Duration::from_secs(5),
            jitter: true,
        }
    }
}

impl Drain {
    /// The default: over 5 s, a batch every 500 ms, with jitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Phoenix's defaults: 10,000 sockets per batch every 2 s, no jitter.
    pub fn phoenix() -> Self {
        Self::new()
            .batch_size(10_000)
            .interval(Duration::from_secs(2))
            .jitter(false)
    }

    /// Close every connection at once.
    pub fn immediate() -> Self {
        Self::new().spread(Duration::ZERO).interval(Duration::ZERO)
    }

    /// A fixed number of connections per batch (Phoenix's `batch_size`); the drain then takes
    /// as many intervals as it needs batches. By default the batch size is the connection
    /// count divided by the number of intervals in the [`spread`](Self::spread).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = Some(size.max(1));
        self
    }

    /// The time between batches (Phoenix's `batch_interval`); default 500 ms.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How long the whole drain takes when no batch size is set; default 5 s.
    pub fn spread(mut self, spread: Duration) -> Self {
        self.spread = spread;
        self
    }

    /// Whether each connection closes at a random moment within its batch's interval instead
    /// of all at the batch's start; default on.
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The schedule for `connections` open connections, ending within `bound`.
    fn plan(&self, connections: usize, bound: Duration) -> Plan {
        let connections = connections.max(1);
        let batches = match self.batch_size {
            Some(size) => connections.div_ceil(size),
            None if self.interval.is_zero() => 1,
            None => (self.spread.as_nanos() / self.interval.as_nanos()).max(1) as usize,
        };
        let batch_size = self
            .batch_size
            .unwrap_or_else(|| connections.div_ceil(batches));
        // With jitter the last batch ends one interval after it starts; without, it starts
        // there and closes at once.
        let spans = if self.jitter { batches } else { batches - 1 };
        let mut interval = self.interval;
        if spans > 0 && interval.saturating_mul(spans as u32) > bound {
            interval = bound / spans as u32;
        }
        Plan {
            batch_size,
            batches,
            interval,
            jitter: self.jitter,
            random: RandomState::new(),
        }
    }
}

/// The schedule of one shutdown, made when the first connection asks for its turn.
#[derive(Debug)]
struct Plan {
    batch_size: usize,
    batches: usize,
    interval: Duration,
    jitter: bool,
    random: RandomState,
}

impl Plan {
    fn delay(&self, ticket: usize) -> Duration {
        let batch = (ticket / self.batch_size).min(self.batches - 1);
        let start = self.interval * batch as u32;
        if !self.jitter || self.interval.is_zero() {
            return start;
        }
        let random = self.random.hash_one(ticket);
        let nanos = u64::try_from(self.interval.as_nanos()).unwrap_or(u64::MAX);
        start + Duration::from_nanos(random % nanos)
    }
}

/// A server's drain: its options, and once shutdown starts, the schedule and the next turn.
#[derive(Debug, Default)]
pub(crate) struct Drainer {
    config: std::sync::Mutex<Drain>,
    plan: OnceLock<Plan>,
    next: AtomicUsize,
}

impl Drainer {
    pub(crate) fn set(&self, drain: Drain) {
        *self
            .config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = drain;
    }

    /// How long after shutdown began the next connection should close: the first caller fixes
    /// the schedule for the `connections` open then, ending within `bound`.
    pub(crate) fn next_delay(&self, connections: usize, bound: Duration) -> Duration {
        let plan = self.plan.get_or_init(|| {
            let config = self
                .config
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let plan = config.plan(connections, bound);
            tracing::info!(
                connections,
                batches = plan.batches,
                batch_size = plan.batch_size,
                interval = ?plan.interval,
                jitter = plan.jitter,
                "draining connections"
            );
            plan
        });
        plan.delay(self.next.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spreads_over_five_seconds_in_ten_batches() {
        let plan = Drain::new().plan(200, Duration::from_secs(60));
        assert_eq!((plan.batches, plan.batch_size), (10, 20));
        let delays: Vec<_> = (0..200).map(|t| plan.delay(t)).collect();
        assert!(delays.iter().all(|d| *d < Duration::from_secs(5)));
        assert!(delays[..20].iter().all(|d| *d < Duration::from_millis(500)));
        assert!(
            delays[180..]
                .iter()
                .all(|d| *d >= Duration::from_millis(4500))
        );
    }

    #[test]
    fn phoenix_batches_are_fixed_and_bounded_by_the_shutdown() {
        let plan = Drain::phoenix().plan(25_000, Duration::from_secs(3));
        assert_eq!((plan.batches, plan.batch_size), (3, 10_000));
        assert_eq!(plan.delay(0), Duration::ZERO);
        assert_eq!(plan.delay(9_999), Duration::ZERO);
        // Two intervals of 2 s do not fit in 3 s: they shrink to 1.5 s.
        assert_eq!(plan.delay(24_999), Duration::from_secs(3));
        assert_eq!(
            Drain::immediate().plan(5, Duration::ZERO).delay(4),
            Duration::ZERO
        );
    }
}
