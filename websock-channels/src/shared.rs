//! What every socket of one endpoint shares, as its channels see it.

use crate::{Presence, PubSub, connect::Limits, state::AnySocket, telemetry::Counters};
use std::sync::Arc;
use websock_runtime::RateLimiter;

/// The endpoint's socket (its app state), pubsub, presence, limits, rate limiter and counters.
pub(crate) struct Shared {
    /// The route's `Socket` value, what `State<S>` reads.
    pub(crate) socket: AnySocket,
    pub(crate) pubsub: PubSub,
    pub(crate) presence: Presence,
    pub(crate) limits: Limits,
    /// What `#[rate_limit]` checks.
    pub(crate) rate_limiter: RateLimiter,
    pub(crate) counters: Arc<Counters>,
}
