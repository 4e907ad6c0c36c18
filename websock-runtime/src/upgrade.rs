//! The upgrade of a routed, perhaps authenticated, hyper request: `WebSockAdapter.upgrade/4`.

use crate::{
    Config, Handler, Refuse, RequestInfo, ServerHandle, connection,
    connection::Start,
    handshake,
    socket::Socket,
    wire::{self, Agreed},
};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The body type of every response websock makes.
pub type Body = http_body_util::Full<Bytes>;

/// Upgrades `request` to a WebSocket served by `H`, passing `init` to [`Handler::init`].
///
/// Works on any request hyper produced, so the request can be routed and authenticated first
/// (an axum handler, a hand-written hyper service). Answers 101 (over HTTP/2, to an extended
/// CONNECT, 200: RFC 8441 §5) and spawns the connection's task, or answers with the reason
/// the request cannot be upgraded: 400 or 426 for an invalid handshake
/// ([`validate_upgrade`](crate::validate_upgrade)), 503 when the server's connection limit is
/// reached. The server's [`ServerHandle`] is taken from the request's extensions, where
/// [`Server`](crate::Server) puts it.
///
/// ```no_run
/// # use websock_runtime::{upgrade, Config, Handler, Body};
/// # fn f<H: Handler<Init = ()>>(request: http::Request<()>) -> http::Response<Body> {
/// upgrade::<H, _>(request, (), &Config::default())
/// # }
/// ```
pub fn upgrade<H: Handler, B>(
    request: Request<B>,
    init: H::Init,
    config: &Config,
) -> Response<Body> {
    match Upgrade::new(request, &std::sync::Arc::new(config.clone())) {
        Ok(upgrade) => upgrade.accept::<H>(init),
        Err(refuse) => refuse.into_response(),
    }
}

/// A request checked to be an upgrade, holding what the 101 and the connection need.
pub(crate) struct Upgrade {
    on_upgrade: OnUpgrade,
    /// `Sec-WebSocket-Accept` for the 101; `None` over HTTP/2, where the 200 has none.
    accept_key: Option<HeaderValue>,
    request: Box<RequestInfo>,
    config: Arc<Config>,
    server: Option<ServerHandle>,
    /// permessage-deflate, when offered and turned on for the route, and the header that
    /// accepts it.
    deflate: Option<(Agreed, HeaderValue)>,
}

impl Upgrade {
    pub(crate) fn new<B>(request: Request<B>, config: &Arc<Config>) -> Result<Self, Refuse> {
        handshake::validate_upgrade(&request).map_err(handshake::HandshakeError::into_refusal)?;
        let http2 = request.version() == http::Version::HTTP_2;
        let (mut parts, _body) = request.into_parts();
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or_else(|| {
            Refuse::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "websocket upgrade: this request was not served by hyper with upgrades enabled\n",
            )
        })?;
        // Refused early when shutting down; the slot itself is taken in `accept`, once the
        // origin and pre-upgrade checks have passed, so refusals never hold or count one.
        let server = parts.extensions.get::<ServerHandle>().cloned();
        if server.as_ref().is_some_and(ServerHandle::is_shutting_down) {
            return Err(Refuse::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down\n",
            ));
        }
        let accept_key = (!http2).then(|| {
            let key = parts
                .headers
                .get(header::SEC_WEBSOCKET_KEY)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            HeaderValue::from_str(&derive_accept_key(key)).expect("base64 is a valid header value")
        });
        let mut request = Box::new(RequestInfo::from_parts(&parts));
        request.selected_protocol =
            handshake::select_protocol(&parts.headers, &config.protocols).map(Box::new);
        let deflate = config
            .deflate
            .as_ref()
            .and_then(|deflate| wire::negotiate(&parts.headers, deflate));
        Ok(Self {
            on_upgrade,
            accept_key,
            request,
            config: config.clone(),
            server,
            deflate,
        })
    }

    pub(crate) fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// Counts a panic of this request's pre-upgrade check with the handlers' panics.
    pub(crate) fn count_panic(&self, message: &str) {
        tracing::error!(panic = message, "pre-upgrade check panicked");
        if let Some(server) = &self.server {
            server
                .counters()
                .panics
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Takes a connection slot, answers 101 (200 on an HTTP/2 stream) and spawns the
    /// connection, which starts once hyper hands over the socket or the stream; 503 when the
    /// server's connection limit is reached.
    pub(crate) fn accept<H: Handler>(self, init: H::Init) -> Response<Body> {
        let Self {
            on_upgrade,
            accept_key,
            request,
            config,
            server,
            deflate,
        } = self;
        let slot = match server.map(|server| server.try_acquire()) {
            Some(Some(slot)) => Some(slot),
            Some(None) => {
                return Refuse::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections: try again later\n",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
                .into_response();
            }
            None => None,
        };
        if let Some(slot) = &slot {
            let counters = slot.server().counters();
            let upgrades = match accept_key {
                Some(_) => &counters.http1_upgrades,
                None => &counters.http2_upgrades,
            };
            upgrades.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        // Over HTTP/2 the answer is a 200 with no upgrade headers (RFC 8441 §5).
        let mut response = Response::new(Body::default());
        if accept_key.is_some() {
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        }
        let headers = response.headers_mut();
        if let Some(accept_key) = accept_key {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key);
        }
        if let Some(protocol) = &request.selected_protocol {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, (**protocol).clone());
        }
        let deflate = deflate.map(|(agreed, response)| {
            headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, response);
            agreed
        });

        let tracker = slot.as_ref().map(|slot| slot.server().tracker().clone());
        // Boxed until the socket arrives: the task keeps what it captures for its whole life.
        let start = Box::new(Start::<H> {
            init,
            request,
            config,
            slot,
            deflate,
        });
        let task = async move {
            // The socket is handed to the connection's future before it is awaited, so this
            // future keeps no room for hyper's `Upgraded` beside the connection's.
            let connection = match on_upgrade.await {
                Ok(upgraded) => run_upgraded(upgraded, start),
                Err(error) => {
                    tracing::debug!(%error, "upgrade failed before the socket was handed over");
                    return;
                }
            };
            connection.await;
        };
        match tracker {
            Some(tracker) => drop(tracker.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
        response
    }
}

/// The connection on the socket hyper hands over. A plain function: the socket and the bytes
/// read ahead go into the connection's future, and are not kept in the caller's beside it.
fn run_upgraded<H: Handler>(
    upgraded: hyper::upgrade::Upgraded,
    start: Box<Start<H>>,
) -> impl Future<Output = ()> + Send {
    let (socket, early) = Socket::new(upgraded);
    connection::run(socket, start, early)
}
