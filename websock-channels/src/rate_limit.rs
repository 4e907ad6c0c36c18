//! What `#[rate_limit]` on an `#[on_event]` method expands to calls: a hit counted in the
//! socket route's [`RateLimiter`](websock_runtime::RateLimiter), before the payload is decoded.

use crate::{ChannelReply, ChannelSocket, Payload};
use std::{fmt, future::Future, time::Duration};

/// Counts one hit of `key` for `event` in the route's limiter: the future is `true` when the
/// hit is over `limit` in the key's window. It owns what it needs, so the socket is free
/// while it runs.
#[doc(hidden)]
pub fn over_rate_limit<C>(
    socket: &ChannelSocket<'_, C>,
    event: &'static str,
    key: &dyn fmt::Display,
    limit: u64,
    window: Duration,
) -> impl Future<Output = bool> + Send + 'static {
    let limiter = socket.rate_limiter().clone();
    let key = key.to_string();
    async move { limiter.check(event, &key, limit, window).await.is_err() }
}

/// The key of a `#[rate_limit]` without `key = ..`: the socket's id (`Socket::id`, one per
/// user), or this connection when it has none.
#[doc(hidden)]
pub fn default_rate_key<C>(socket: &ChannelSocket<'_, C>) -> String {
    socket.socket_id().map_or_else(
        || format!("connection:{}", socket.subscriber_id().as_u64()),
        str::to_owned,
    )
}

/// The reply to a refused event without `reply = ..`: `{"reason":"rate_limited"}`, an error.
#[doc(hidden)]
pub fn rate_limited_reply() -> ChannelReply {
    ChannelReply::error(Payload::reason("rate_limited"))
}
