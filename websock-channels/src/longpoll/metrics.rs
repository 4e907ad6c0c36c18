//! Counters of one LongPoll endpoint, readable through [`LongPoll::metrics`](super::LongPoll::metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) opened: AtomicU64,
    pub(super) held_polls: AtomicU64,
    pub(super) refused_over_limit: AtomicU64,
    pub(super) expired: AtomicU64,
    pub(super) overflows: AtomicU64,
    pub(super) superseded_polls: AtomicU64,
    pub(super) binary_dropped: AtomicU64,
    pub(super) lines_dropped: AtomicU64,
    pub(super) bodies_refused: AtomicU64,
    pub(super) gone: AtomicU64,
    pub(super) refused_origins: AtomicU64,
}

/// A snapshot of a LongPoll endpoint's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongPollMetrics {
    /// Sessions open now.
    pub sessions: u64,
    /// Sessions started so far.
    pub sessions_total: u64,
    /// GET polls held now, waiting for messages.
    pub held_polls: u64,
    /// New sessions refused because the session limit was reached (HTTP 503).
    pub refused_over_limit: u64,
    /// Sessions ended because no poll came for 1.5 windows.
    pub expired: u64,
    /// Sessions ended because their buffer was full (the client stopped draining it).
    pub overflows: u64,
    /// Polls answered 204 at once because a newer poll of their session came.
    pub superseded_polls: u64,
    /// Binary frames the server wrote that LongPoll cannot carry (dropped, logged).
    pub binary_dropped: u64,
    /// POSTed lines past the 100 a POST may carry (ignored, as Phoenix does).
    pub lines_dropped: u64,
    /// POSTs refused: body over the limit (413), too slow (408) or not decodable (400).
    pub bodies_refused: u64,
    /// Requests whose token named a session that has ended (410).
    pub gone: u64,
    /// Requests refused by the origin check (status 403 in the body).
    pub refused_origins: u64,
}

impl Counters {
    pub(super) fn snapshot(&self, sessions: usize) -> LongPollMetrics {
        LongPollMetrics {
            sessions: sessions as u64,
            sessions_total: self.opened.load(Relaxed),
            held_polls: self.held_polls.load(Relaxed),
            refused_over_limit: self.refused_over_limit.load(Relaxed),
            expired: self.expired.load(Relaxed),
            overflows: self.overflows.load(Relaxed),
            superseded_polls: self.superseded_polls.load(Relaxed),
            binary_dropped: self.binary_dropped.load(Relaxed),
            lines_dropped: self.lines_dropped.load(Relaxed),
            bodies_refused: self.bodies_refused.load(Relaxed),
            gone: self.gone.load(Relaxed),
            refused_origins: self.refused_origins.load(Relaxed),
        }
    }
}
