//! A counter that [`Metrics`](crate::Metrics) snapshots read and that is also reported through
//! the [`metrics`] facade.

use std::sync::atomic::{AtomicU64, Ordering};

/// An `AtomicU64` (what the snapshots read) beside a `metrics` handle registered once, when the
/// server is built, so that counting allocates nothing. Without a recorder installed by then,
/// the handle reports to no one and only the snapshots see the count.
pub(crate) struct Count {
    value: AtomicU64,
    exported: metrics::Counter,
}

impl Count {
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            value: AtomicU64::new(0),
            exported: metrics::counter!(name),
        }
    }

    pub(crate) fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.exported.increment(n);
        self.value.fetch_add(n, order)
    }

    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.value.load(order)
    }
}
