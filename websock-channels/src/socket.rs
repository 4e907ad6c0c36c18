//! The socket: Phoenix's `UserSocket` (connect, id, the channel routes) and the route that
//! serves it.

use crate::{
    Channel, ChannelMetrics, Presence, PubSub,
    channel::join_erased,
    connect::{ConnectInfo, Limits, Params, RateLimit, Socket},
    handler::SocketHandler,
    hub::{ChannelRoute, Connected, Hub},
    serializer::Serializer,
    shared::Shared,
    state::StateOf,
    telemetry::Counters,
    topic::TopicPattern,
};
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    time::Duration,
};
use websock_runtime::{
    Body, CheckOrigin, Config, Deflate, Endpoint, RateLimiter, Refuse, RequestInfo, WebSocketRoute,
};

/// A Phoenix socket endpoint: the [`Socket`], its channels and its options. Mount it with the
/// runtime's `Router` at `<path>/websocket` (phoenix.js appends `/websocket`).
///
/// ```
/// # use websock_channels::{AnonymousSocket, socket};
/// let route = socket(AnonymousSocket).max_channels(20);
/// let router = websock_runtime::Router::new().route("/socket/websocket", route.clone());
/// # let _ = router;
/// ```
///
/// Clones share everything (pubsub, presence, counters): keep one to broadcast, to
/// disconnect users, to read [`metrics`](Self::metrics) and for the test helpers.
pub struct SocketRoute<S> {
    socket: Arc<S>,
    routes: Vec<ChannelRoute>,
    pubsub: PubSub,
    presence: Presence,
    presence_interval: Duration,
    limits: Limits,
    /// `None`: the process's [`RateLimiter::global`].
    rate_limiter: Option<RateLimiter>,
    config: Option<Config>,
    origins: Option<CheckOrigin>,
    counters: Arc<Counters>,
    hub: OnceLock<Arc<Hub>>,
}

impl<S> Clone for SocketRoute<S> {
    fn clone(&self) -> Self {
        Self {
            socket: self.socket.clone(),
            routes: self.routes.clone(),
            pubsub: self.pubsub.clone(),
            presence: self.presence.clone(),
            presence_interval: self.presence_interval,
            limits: self.limits.clone(),
            rate_limiter: self.rate_limiter.clone(),
            config: self.config.clone(),
            origins: self.origins.clone(),
            counters: self.counters.clone(),
            hub: self.hub.clone(),
        }
    }
}

impl<S> fmt::Debug for SocketRoute<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics: Vec<_> = self.routes.iter().map(|r| r.pattern.source()).collect();
        f.debug_struct("SocketRoute")
            .field("channels", &topics)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A socket endpoint served by `socket`, with an in-process [`PubSub`] and no channels yet.
pub fn socket<S: Socket>(socket: S) -> SocketRoute<S> {
    let pubsub = PubSub::local();
    SocketRoute {
        socket: Arc::new(socket),
        routes: Vec::new(),
        presence: Presence::new(),
        presence_interval: crate::presence::DEFAULT_INTERVAL,
        pubsub,
        limits: Limits::default(),
        rate_limiter: None,
        config: None,
        origins: None,
        counters: Arc::default(),
        hub: OnceLock::new(),
    }
}

impl<S: Socket> SocketRoute<S> {
    /// Serves topics matching `C::TOPIC` with the channel `C`; the first matching channel,
    /// in the order they were added, gets a join. A channel that reads a
    /// [`State`](crate::State) reads this route's socket value: one that reads another type
    /// does not compile.
    ///
    /// # Panics
    /// When `C::TOPIC` is not a valid pattern (`#[channel]` checks it at compile time).
    pub fn channel<C>(mut self) -> Self
    where
        C: Channel,
        C::State: StateOf<S>,
    {
        let pattern = TopicPattern::parse(C::TOPIC)
            .unwrap_or_else(|error| panic!("channel {}: {error}", std::any::type_name::<C>()));
        self.routes.push(ChannelRoute {
            pattern,
            join: join_erased::<C>,
            name: std::any::type_name::<C>(),
            intercept: C::INTERCEPT,
        });
        self.rebuilt()
    }

    /// Broadcasts through `pubsub` (a networked adapter, or one shared with other endpoints).
    pub fn with_pubsub(mut self, pubsub: PubSub) -> Self {
        self.pubsub = pubsub;
        self.rebuilt()
    }

    /// How long a topic's presence changes are merged into one `presence_diff` (default
    /// 25 ms), as Phoenix.Tracker broadcasts deltas in intervals: N members joining a topic
    /// within it cost each member one diff, not N. A change is seen by the other members this
    /// much later at most (a topic of more than 500 keys: 50 µs per key, as each diff is a write
    /// to every member); [`Presence::list`] and `presence_state` hold it at once.
    pub fn presence_interval(mut self, interval: Duration) -> Self {
        self.presence_interval = interval;
        self.rebuilt()
    }

    /// The most channels one socket may join (default 100); one more gets the error reply
    /// `{"reason":"too many channels joined"}`.
    pub fn max_channels(mut self, max: usize) -> Self {
        self.limits.max_channels = max;
        self.rebuilt()
    }

    /// The largest message a client may send, in bytes (default 1 MiB); a larger one gets the
    /// error reply `{"reason":"payload too large"}`, answered from its header without its
    /// payload being decoded, and one over twice that closes the socket with 1009 before it is
    /// even read whole.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.limits.max_payload = bytes;
        self.rebuilt()
    }

    /// The per-socket rate limit (default 500 messages a second, bursts of 1,000); `None`
    /// turns it off. Heartbeats are not counted.
    pub fn rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.limits.rate = limit.into();
        self.rebuilt()
    }

    /// Where `#[rate_limit]` on this socket's channels counts (default: the process's
    /// [`RateLimiter::global`], which handlers use too, in memory unless set otherwise). Give
    /// every node a Redis-backed one
    /// (`RateLimiter::new(websock_redis::RedisRateLimitStore::new(..))`) to share the limits
    /// across nodes. Unlike
    /// [`rate_limit`](Self::rate_limit) (a flood guard per socket), these limits are per key
    /// and per event, declared on the channel's methods.
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self.rebuilt()
    }

    /// How long one channel callback (`join`, `handle_in`, `handle_info`, `handle_out`,
    /// `terminate`) may run (default 30 s; `None`: for ever). A callback still running then
    /// crashes its channel only: the client gets `phx_error` `{"reason":"timeout"}` for that
    /// topic (phoenix.js rejoins; a join answers `{"reason":"join crashed"}`), and the socket
    /// and its other channels go on. Each joined channel runs in its own task, so a slow
    /// callback never delays the socket's other channels or its heartbeats meanwhile.
    pub fn callback_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.limits.callback_timeout = timeout.into();
        self.rebuilt()
    }

    /// The connection options (idle timeout: 60 s by default, as Phoenix's `timeout`). The
    /// `phoenix` subprotocol is always added.
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self.rebuilt()
    }

    /// Turns permessage-deflate (RFC 7692) on for this socket's WebSocket connections (off by
    /// default, as in Phoenix), keeping the other connection options. Broadcasts are
    /// compressed once for every subscriber (see [`websock_runtime::SharedFrame`]).
    pub fn deflate(self, deflate: impl Into<Option<Deflate>>) -> Self {
        let config = self.config.clone().unwrap_or_else(|| self.default_config());
        self.config(config.deflate(deflate))
    }

    /// Which `Origin`s may connect, as Phoenix's `check_origin` (default: the request's own
    /// host; see [`CheckOrigin`]); refused upgrades get 403.
    pub fn check_origin(mut self, check: impl Into<CheckOrigin>) -> Self {
        self.origins = Some(check.into());
        self.rebuilt()
    }

    fn rebuilt(mut self) -> Self {
        self.hub = OnceLock::new();
        self
    }

    pub(crate) fn hub(&self) -> &Arc<Hub> {
        self.hub.get_or_init(|| {
            self.presence.set_link(
                self.pubsub.clone(),
                self.counters.clone(),
                self.presence_interval,
            );
            Arc::new(Hub {
                routes: self.routes.clone(),
                shared: Arc::new(Shared {
                    socket: self.socket.clone(),
                    pubsub: self.pubsub.clone(),
                    presence: self.presence.clone(),
                    limits: self.limits.clone(),
                    rate_limiter: self
                        .rate_limiter
                        .clone()
                        .unwrap_or_else(|| RateLimiter::global().clone()),
                    counters: self.counters.clone(),
                }),
            })
        })
    }

    pub(crate) fn user_socket(&self) -> &Arc<S> {
        &self.socket
    }

    /// The pubsub its channels broadcast through: broadcast from anywhere with it.
    pub fn pubsub(&self) -> &PubSub {
        &self.pubsub
    }

    /// Its presence: [`Presence::list`] any topic.
    pub fn presence(&self) -> &Presence {
        &self.presence
    }

    /// Its counters right now.
    pub fn metrics(&self) -> ChannelMetrics {
        self.counters.snapshot()
    }

    /// The same socket over Phoenix's LongPoll transport, to mount at `<path>/longpoll`
    /// beside `<path>/websocket` (see [`LongPoll`](crate::longpoll::LongPoll)). Make it once,
    /// after the channels and options: its sessions live in the value it returns.
    pub fn longpoll(&self) -> crate::longpoll::LongPoll<S> {
        let config = self.runtime_config();
        crate::longpoll::LongPoll::new(
            self.hub().clone(),
            self.socket.clone(),
            config,
            self.origins.clone(),
        )
    }

    /// Closes every socket whose id is `socket_id` with 1001 (see [`PubSub::disconnect`]).
    pub async fn disconnect(&self, socket_id: &str) -> Result<(), crate::PubSubError> {
        self.pubsub.disconnect(socket_id).await
    }

    fn runtime_config(&self) -> Config {
        let config = match &self.config {
            Some(config) => config.clone(),
            None => self.default_config(),
        };
        // Phoenix drains channel sockets on shutdown; see `websock_runtime::Drain`.
        config.protocols(["phoenix"]).drain(true)
    }

    fn default_config(&self) -> Config {
        // Far past the payload limit, the socket is closed (1009) before the message is read
        // whole; between the two, the client gets an error reply.
        Config::default().max_message_size(self.limits.max_payload.saturating_mul(2).max(64 << 10))
    }
}

impl<S: Socket, St> Endpoint<St> for SocketRoute<S> {
    fn call(
        &self,
        request: websock_runtime::http::Request<()>,
        origins: Option<CheckOrigin>,
        _: &St,
    ) -> Pin<Box<dyn Future<Output = websock_runtime::http::Response<Body>> + Send>> {
        let hub = self.hub().clone();
        let socket = self.socket.clone();
        let mut route = WebSocketRoute::<SocketHandler>::with_init(move |request| {
            connect(hub.clone(), socket.clone(), request)
        })
        .config(self.runtime_config());
        if let Some(origins) = &self.origins {
            route = route.check_origin(origins.clone());
        }
        route.call(request, origins, &())
    }
}

/// The pre-upgrade check: the serializer version, the token, then the user's `connect`.
async fn connect<S: Socket>(
    hub: Arc<Hub>,
    socket: Arc<S>,
    request: RequestInfo,
) -> Result<Connected, Refuse> {
    let mut vsn = None;
    let mut params = Vec::new();
    for (key, value) in request.query_pairs() {
        if key == "vsn" {
            vsn = Some(value);
        } else {
            params.push((key, value));
        }
    }
    let Some(serializer) = Serializer::negotiate(vsn.as_deref()) else {
        hub.shared.counters.refused_connect();
        tracing::debug!(vsn = vsn.as_deref(), "connect refused: unsupported vsn");
        // Phoenix's `negotiate_serializer` refuses it, and the transport answers 403.
        return Err(Refuse::forbidden(format!(
            "unsupported vsn {:?}: this server speaks 1.0.x (also without vsn) and 2.0.x\n",
            vsn.unwrap_or_default()
        )));
    };
    let Ok(auth_token) = auth_token(&request) else {
        hub.shared.counters.refused_connect();
        return Err(Refuse::forbidden(
            "invalid authToken in Sec-WebSocket-Protocol\n",
        ));
    };
    let info = ConnectInfo {
        request: Some(request),
        auth_token,
    };
    let mut connected = connect_with(&hub, &*socket, Params(params), info).await?;
    connected.serializer = serializer;
    Ok(connected)
}

pub(crate) async fn connect_with<S: Socket>(
    hub: &Arc<Hub>,
    socket: &S,
    params: Params,
    info: ConnectInfo,
) -> Result<Connected, Refuse> {
    match socket.connect(&params, &info).await {
        Ok(assigns) => {
            let id = socket.id(&assigns);
            Ok(Connected {
                hub: hub.clone(),
                assigns,
                id,
                serializer: Serializer::default(),
            })
        }
        Err(refused) => {
            hub.shared.counters.refused_connect();
            tracing::debug!(reason = refused.reason(), "connect refused");
            // Phoenix answers a refused connect with 403 and nothing else.
            Err(Refuse::forbidden(""))
        }
    }
}

const TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// phoenix.js 1.8 sends `authToken` as `Sec-WebSocket-Protocol: phoenix,
/// base64url.bearer.phx.<btoa(token) without "=">` (standard base64 despite the name).
fn auth_token(request: &RequestInfo) -> Result<Option<String>, ()> {
    let protocols = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim);
    for protocol in protocols {
        if let Some(encoded) = protocol.strip_prefix(TOKEN_PREFIX) {
            let bytes = decode_base64(encoded).ok_or(())?;
            return String::from_utf8(bytes).map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

/// Base64 without padding, standard or URL alphabet.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_tokens() {
        assert_eq!(decode_base64("c2VjcmV0").unwrap(), b"secret");
        assert_eq!(decode_base64("c2VjcmV0MQ").unwrap(), b"secret1");
        assert_eq!(decode_base64("c2VjcmV0MTI").unwrap(), b"secret12");
        assert_eq!(decode_base64("c2VjcmV0MTI=").unwrap(), b"secret12");
        assert!(decode_base64("c2V*").is_none());
    }
}
