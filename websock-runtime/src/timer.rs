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

impl<I> Timers<I> {
    pub(crate) fn insert(&mut self, delay: Duration, info: I) -> Timer {
        let deadline = Instant::now() + delay;
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
