//! The server-wide budget for inbound bytes held in partly received messages.
//!
//! Each connection's limits (`max_message_size`) bound what one client can make the server hold;
//! this bounds what all of them hold together, so many clients that each send most of a large
//! message and stall cannot exhaust memory between them. Each connection's share is a
//! [`Charge`], given back when it is dropped: on every path out of a connection, a panic
//! included.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// The default budget: 1 GiB, room for 16 messages of the default `max_message_size` (64 MiB)
/// arriving at once, far above what ordinary traffic holds, and still well inside the memory of
/// a machine that serves that many large messages.
pub(crate) const DEFAULT_MAX_INBOUND_BUFFER: usize = 1 << 30;

/// The limit and what all connections hold now.
#[derive(Debug)]
pub(crate) struct InboundBudget {
    limit: AtomicUsize,
    held: AtomicUsize,
}

impl Default for InboundBudget {
    fn default() -> Self {
        Self {
            limit: AtomicUsize::new(DEFAULT_MAX_INBOUND_BUFFER),
            held: AtomicUsize::new(0),
        }
    }
}

impl InboundBudget {
    pub(crate) fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
    }

    /// The bytes all connections hold now.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// Growing a charge would pass the budget.
#[derive(Debug)]
pub(crate) struct OverBudget;

/// One connection's share of the budget: what its reader holds now.
#[derive(Debug, Default)]
pub(crate) struct Charge {
    /// `None` when the connection has no server (mounted in another server without a
    /// [`ServerHandle`](crate::ServerHandle)): no budget then.
    budget: Option<Arc<InboundBudget>>,
    bytes: usize,
}

impl Charge {
    pub(crate) fn new(budget: Option<Arc<InboundBudget>>) -> Self {
        Self { budget, bytes: 0 }
    }

    /// Makes this connection's share `bytes`, or refuses (the share unchanged) when growing it
    /// would take all connections past the limit. Costs nothing while the share does not move,
    /// as with messages that arrive whole.
    pub(crate) fn set(&mut self, bytes: usize) -> Result<(), OverBudget> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if bytes < self.bytes {
            budget.held.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        } else if bytes > self.bytes {
            let more = bytes - self.bytes;
            let limit = budget.limit.load(Ordering::Relaxed);
            budget
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                    held.checked_add(more).filter(|&total| total <= limit)
                })
                .map_err(|_| OverBudget)?;
        }
        self.bytes = bytes;
        Ok(())
    }
}

impl Charge {
    /// Lowers this connection's share to `bytes` if it is above: never refused.
    pub(crate) fn lower_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            let _ = self.set(bytes);
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.lower_to(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_gives_back_on_drop() {
        let budget = Arc::new(InboundBudget::default());
        budget.set_limit(100);
        let mut a = Charge::new(Some(budget.clone()));
        let mut b = Charge::new(Some(budget.clone()));
        a.set(60).unwrap();
        assert!(b.set(41).is_err());
        assert_eq!(budget.held(), 60, "a refused charge takes nothing");
        b.set(40).unwrap();
        a.set(10).unwrap();
        assert_eq!(budget.held(), 50);
        drop(a);
        drop(b);
        assert_eq!(budget.held(), 0);
    }
}
