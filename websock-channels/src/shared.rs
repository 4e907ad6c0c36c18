//! What every socket of one endpoint shares, as its channels see it.

use crate::{Presence, PubSub, connect::Limits, telemetry::Counters};
use std::sync::Arc;

/// The endpoint's pubsub, presence, limits and counters.
pub(crate) struct Shared {
    pub(crate) pubsub: PubSub,
    pub(crate) presence: Presence,
    pub(crate) limits: Limits,
    pub(crate) counters: Arc<Counters>,
}
