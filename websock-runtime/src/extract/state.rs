//! `State<S>`: the state of the router, or of the route.

use super::FromRequest;
use crate::{Refuse, RequestInfo};
use std::ops::Deref;

/// A clone of the state given to [`Router::with_state`](crate::Router::with_state) (or to
/// [`WebSocketRoute::with_state`](crate::WebSocketRoute::with_state), which takes precedence),
/// as axum's `State`. Checked at compile time: a route whose handler asks for a `State<S>`
/// can only be added to a `Router<S>`.
///
/// Only connections whose `init` asks for it get a clone: the state should be cheap to clone
/// (an `Arc`, a pool handle, a `Duration`).
///
/// ```
/// use std::time::Duration;
/// use websock_runtime::State;
///
/// fn init(State(alert_every): State<Duration>) {}
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State<S>(pub S);

impl<S> Deref for State<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S: Clone> FromRequest<S> for State<S> {
    fn from_request(_: &RequestInfo, state: &S) -> Result<Self, Refuse> {
        Ok(State(state.clone()))
    }
}
