//! `send_after` timers: one ordered map per connection, polled by the connection's own loop, so
//! a cancelled timer can never fire (nothing is in flight in another task).

use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;

/// A timer set with [`Context::send_after`](crate::Context::send_after); cancel it with
/// [`Context::cancel_timer`](crate::Context::cancel_timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    deadline: Instant,
    id: u64,
}

impl Timer {
    /// When it fires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

pub(crate) struct Timers<I> {
    // Keyed by (deadline, id): ordered by time, unique because ids never repeat.
    pending: BTreeMap<(Instant, u64), I>,
    next_id: u64,
}

impl<I> Default for Timers<I> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
            next_id: 0,
        }
    }
}

/// How far "never" is: tokio's own cap for `sleep` (about 30 years), which every platform's
/// monotonic clock can add without overflowing.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `start + delay`, where a delay past [`FAR_FUTURE`] (`Duration::MAX`, say) means "never"
/// instead of panicking: `Instant + Duration` panics on overflow.
pub(crate) fn deadline_after(start: Instant, delay: Duration) -> Instant {
    start + delay.min(FAR_FUTURE)
}

impl<I> Timers<I> {
    pub(crate) fn insert(&mut self, delay: Duration, info: I) -> Timer {
        let deadline = deadline_after(Instant::now(), delay);
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert((deadline, id), info);
        Timer { deadline, id }
    }

    pub(crate) fn cancel(&mut self, timer: Timer) -> bool {
        self.pending.remove(&(timer.deadline, timer.id)).is_some()
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.pending.keys().next().map(|(deadline, _)| *deadline)
    }

    /// The earliest timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<I> {
        let entry = self.pending.first_entry()?;
        (entry.key().0 <= now).then(|| entry.remove())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_delay_makes_a_deadline() {
        let now = Instant::now();
        assert_eq!(
            deadline_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
        assert_eq!(deadline_after(now, Duration::MAX), now + FAR_FUTURE);
        let mut timers = Timers::default();
        let timer = timers.insert(Duration::MAX, ());
        assert!(timers.pop_due(Instant::now()).is_none());
        assert!(timers.cancel(timer));
    }
}
