//! Phoenix's LongPoll transport: the socket of a [`SocketRoute`](crate::SocketRoute) over plain HTTP requests,
//! for clients whose WebSockets are blocked (phoenix.js `transport: LongPoll`, or its
//! `longPollFallbackMs`).
//!
//! ```
//! # use websock_channels::{AnonymousSocket, socket};
//! let route = socket(AnonymousSocket);
//! let router = websock_runtime::Router::new()
//!     .route("/socket/websocket", route.clone())
//!     .route("/socket/longpoll", route.longpoll());
//! # let _ = router;
//! ```
//!
//! As Phoenix's `Phoenix.Transports.LongPoll`: every answer is HTTP 200 with a JSON body
//! `{"status", "token", "messages"}`. A `GET` without a valid session token starts a session
//! (the socket's `connect` runs with the query params and the `X-Phoenix-AuthToken` header as
//! [`ConnectInfo::auth_token`](crate::ConnectInfo::auth_token); a refusal answers status 403)
//! and answers status 410 with the new token. A `GET` with a token is held until the session
//! has messages (200) or the window (10 s) passes (204); a newer poll of the same session
//! answers the older one 204 at once. A `POST` carries client frames, one a line
//! (`application/x-ndjson`, at most 100 lines, as Phoenix; more are ignored and counted),
//! and answers 200, or 410 for a session that is gone. A session whose polls stop for 1.5
//! windows ends, and its channels leave as when a WebSocket drops. `OPTIONS` preflights are
//! answered, and every answer carries `access-control-allow-origin: *`, as Phoenix's; the
//! origin check, when the route or router has one, refuses other origins (status 403).
//!
//! The token, read from the `X-Phoenix-Longpoll-Token` header or else the last `token` query
//! parameter (phoenix.js 1.8 sends it there, after the app's own params), is signed with the
//! [`token`](crate::token) module: a client cannot forge one or guess another session's, and
//! one that does not verify starts a new session.
//!
//! Where Phoenix has no bound, this transport has one, counted in [`LongPollMetrics`]: a
//! session's buffer of unpolled frames ([`buffer_bytes`](LongPoll::buffer_bytes), 4 MiB; a
//! session that overflows it ends, and phoenix.js reconnects and rejoins), the POST body
//! ([`max_post_bytes`](LongPoll::max_post_bytes), 8 MB as Plug's `read_body`: 413; a body not
//! in within the window: 408), and the number of sessions
//! ([`max_sessions`](LongPoll::max_sessions), 10,000: HTTP 503). Each session is also a
//! connection of the runtime's [`Server`](websock_runtime::Server): it takes one of its slots
//! and is closed by its shutdown (a held poll is then answered at once). POST bodies are
//! handed over by that `Server`; mounted in another server (axum), the endpoint answers POSTs
//! with 400.
//!
//! Binary frames: a client's base64 lines arrive as binary frames, as Phoenix decodes them;
//! phoenix.js cannot receive binary frames over LongPoll (it JSON-parses every message), so
//! binary pushes and broadcasts to a LongPoll session are dropped, logged and counted.
//!
//! Sessions live in the memory of the node that made them: behind a load balancer with
//! several nodes, route each client to one node (sticky sessions, by cookie or client
//! address); a poll that reaches another node finds no session and starts a new one, which
//! makes phoenix.js reconnect and rejoin. A session token only verifies on the endpoint that
//! signed it unless every node shares one [`secret`](LongPoll::secret).

mod frames;
mod metrics;
mod session;

pub use metrics::LongPollMetrics;

use crate::{
    ConnectInfo, Params, Socket,
    handler::SocketHandler,
    hub::{Connected, Hub},
    serializer::Serializer,
    socket::connect_with,
    token::Signer,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use metrics::Counters;
use session::{Bridge, Polled, SendFailed, Sessions};
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use websock_runtime::{
    __private::{RequestBody, run_on_stream},
    Body, CheckOrigin, Config, Endpoint, RequestInfo, ServerHandle,
    http::{self, HeaderValue, Request, Response, StatusCode, header},
};

const SALT: &str = "websock longpoll session";
const MAX_AGE: Duration = Duration::from_secs(1_209_600);
const MAX_LINES: usize = 100;
const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";
const PIPE_BYTES: usize = 64 << 10;

/// The LongPoll endpoint of a [`SocketRoute`](crate::SocketRoute), made by
/// [`SocketRoute::longpoll`](crate::SocketRoute::longpoll); see the [module docs](self).
/// Clones share their sessions.
pub struct LongPoll<S> {
    hub: Arc<Hub>,
    socket: Arc<S>,
    config: Config,
    origins: Option<CheckOrigin>,
    signer: Signer,
    sessions: Arc<Sessions>,
    counters: Arc<Counters>,
    window: Duration,
    max_sessions: usize,
    buffer_bytes: usize,
    max_post_bytes: usize,
}

impl<S> Clone for LongPoll<S> {
    fn clone(&self) -> Self {
        Self {
            hub: self.hub.clone(),
            socket: self.socket.clone(),
            config: self.config.clone(),
            origins: self.origins.clone(),
            signer: self.signer.clone(),
            sessions: self.sessions.clone(),
            counters: self.counters.clone(),
            window: self.window,
            max_sessions: self.max_sessions,
            buffer_bytes: self.buffer_bytes,
            max_post_bytes: self.max_post_bytes,
        }
    }
}

impl<S> fmt::Debug for LongPoll<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LongPoll")
            .field("window", &self.window)
            .field("max_sessions", &self.max_sessions)
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl<S: Socket> LongPoll<S> {
    pub(crate) fn new(
        hub: Arc<Hub>,
        socket: Arc<S>,
        config: Config,
        origins: Option<CheckOrigin>,
    ) -> Self {
        Self {
            hub,
            socket,
            // No heartbeats over LongPoll (phoenix.js skips them): the session's own expiry
            // replaces the idle timeout, and nobody would answer a ping.
            config: config.idle_timeout(None).ping_interval(None),
            origins,
            signer: Signer::new(&random_secret(), SALT),
            sessions: Arc::default(),
            counters: Arc::default(),
            window: Duration::from_secs(10),
            max_sessions: 10_000,
            buffer_bytes: 4 << 20,
            max_post_bytes: 8_000_000,
        }
    }

    /// How long a poll is held when there is nothing to send (default 10 s, Phoenix's
    /// `window_ms`); a session with no poll for 1.5 windows ends.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(1));
        self
    }

    /// The most sessions open at once (default 10,000); a new one past it gets HTTP 503.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// The most bytes of frames a session keeps for its next poll (default 4 MiB); a session
    /// whose client does not drain it ends.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// The largest POST body (default 8 MB, Plug's `read_body` limit): HTTP 413 past it.
    pub fn max_post_bytes(mut self, bytes: usize) -> Self {
        self.max_post_bytes = bytes;
        self
    }

    /// Signs session tokens with `secret` instead of a random one made at start: for nodes
    /// that must verify each other's tokens. Use 32 random bytes or more.
    pub fn secret(mut self, secret: &[u8]) -> Self {
        self.signer = Signer::new(secret, SALT);
        self
    }

    /// Its counters right now.
    pub fn metrics(&self) -> LongPollMetrics {
        self.counters.snapshot(self.sessions.len())
    }

    async fn answer(self, request: Request<()>, origins: Option<CheckOrigin>) -> Response<Body> {
        let info = RequestInfo::from_request(&request);
        // The same check as the WebSocket transport's (Phoenix checks both): the route's, else
        // the router's, else the same-host default.
        let check = self
            .origins
            .clone()
            .or(origins)
            .unwrap_or_else(CheckOrigin::same_host);
        if check.check(&info).is_err() {
            self.counters
                .refused_origins
                .fetch_add(1, Ordering::Relaxed);
            return status_json(403);
        }
        match *request.method() {
            http::Method::OPTIONS => preflight(&info),
            http::Method::GET => self.get(request, info).await,
            http::Method::POST => self.post(request, info).await,
            _ => plain(StatusCode::BAD_REQUEST, ""),
        }
    }

    /// Resumes the session named by the request's token, or starts one.
    async fn get(&self, request: Request<()>, info: RequestInfo) -> Response<Body> {
        let (token, id) = self.session_token(&info);
        if let Some(id) = id {
            if let Some(session) = self.sessions.get(id) {
                let token = token.unwrap_or_default();
                match session.poll(self.window, &self.counters).await {
                    Polled::Messages(messages) => return poll_json(200, &token, &messages),
                    Polled::Empty | Polled::Superseded => return poll_json(204, &token, &[]),
                    Polled::Gone => {}
                }
            }
            self.counters.gone.fetch_add(1, Ordering::Relaxed);
        }
        self.start(request, info, id.is_some()).await
    }

    /// Phoenix's `new_session`: `connect`, then 410 with the new session's token.
    async fn start(&self, request: Request<()>, info: RequestInfo, signed: bool) -> Response<Body> {
        let (vsn, params) = self.connect_params(&info, signed);
        // Phoenix's `negotiate_serializer`, as for WebSockets: no `vsn` is V1.
        let Some(serializer) = Serializer::negotiate(vsn.as_deref()) else {
            self.hub.shared.counters.refused_connect();
            tracing::debug!(?vsn, "longpoll connect refused: unsupported vsn");
            return status_json(403);
        };
        let server = request.extensions().get::<ServerHandle>().cloned();
        if server.as_ref().is_some_and(ServerHandle::is_shutting_down)
            || self.sessions.len() >= self.max_sessions
        {
            return self.over_limit();
        }
        let auth_token = info
            .headers()
            .get("x-phoenix-authtoken")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let connect_info = ConnectInfo {
            request: Some(info.clone()),
            auth_token,
        };
        let connected = connect_with(&self.hub, &*self.socket, params, connect_info).await;
        let Ok(mut connected) = connected else {
            return status_json(403);
        };
        connected.serializer = serializer;
        match self.spawn_session(connected, info, server.as_ref()) {
            Some(token) => poll_json(410, &token, &[]),
            None => self.over_limit(),
        }
    }

    /// The `vsn` and the app's params: the query without `vsn`, and without the session token
    /// phoenix.js appended as the last `token` when it was one of ours (`signed`).
    fn connect_params(&self, info: &RequestInfo, signed: bool) -> (Option<String>, Params) {
        let mut params: Vec<(String, String)> = info.query_pairs().collect();
        if signed && self.token_header(info).is_none() {
            if let Some(last) = params.iter().rposition(|(k, _)| k == "token") {
                params.remove(last);
            }
        }
        let vsn = params
            .iter()
            .position(|(k, _)| k == "vsn")
            .map(|at| params.remove(at).1);
        params.retain(|(k, _)| k != "vsn");
        (vsn, Params::new(params))
    }

    /// Runs the connection and its bridge; the new session's token, or `None` when the
    /// session or connection limit is reached.
    fn spawn_session(
        &self,
        connected: Connected,
        info: RequestInfo,
        server: Option<&ServerHandle>,
    ) -> Option<String> {
        let (ours, theirs) = tokio::io::duplex(PIPE_BYTES);
        let (reader, writer) = tokio::io::split(ours);
        let session = self.sessions.insert(writer, self.max_sessions)?;
        let config = self.config.clone();
        if run_on_stream::<SocketHandler, _>(theirs, connected, info, config, server).is_err() {
            self.sessions.remove(session.id);
            return None;
        }
        self.counters.opened.fetch_add(1, Ordering::Relaxed);
        let token = self.signer.sign(&session.id);
        tokio::spawn(
            Bridge {
                sessions: self.sessions.clone(),
                session,
                reader,
                counters: self.counters.clone(),
                buffer_bytes: self.buffer_bytes,
                timeout: self.window.mul_f32(1.5),
            }
            .run(),
        );
        Some(token)
    }

    fn over_limit(&self) -> Response<Body> {
        self.counters
            .refused_over_limit
            .fetch_add(1, Ordering::Relaxed);
        // Not JSON: phoenix.js reads an unparsable answer as a lost connection and retries
        // after its backoff, where an unknown status in the body would throw.
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many longpoll sessions: try again later\n",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        response
    }

    /// Phoenix's `publish`: the body's frames into the session's connection.
    async fn post(&self, request: Request<()>, info: RequestInfo) -> Response<Body> {
        let (_, id) = self.session_token(&info);
        let Some(session) = id.and_then(|id| self.sessions.get(id)) else {
            self.counters.gone.fetch_add(1, Ordering::Relaxed);
            return status_json(410);
        };
        let body = match self.read_body(&request, &info).await {
            Ok(body) => body,
            Err(status) => {
                self.counters.bodies_refused.fetch_add(1, Ordering::Relaxed);
                return with_status(status, status_json(status.as_u16()));
            }
        };
        let ndjson = info
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/x-ndjson"));
        let frames = if ndjson {
            match self.ndjson_frames(&body) {
                Some(frames) => frames,
                None => {
                    self.counters.bodies_refused.fetch_add(1, Ordering::Relaxed);
                    return with_status(StatusCode::BAD_REQUEST, status_json(400));
                }
            }
        } else if std::str::from_utf8(&body).is_ok() {
            // Phoenix's older clients post one frame, the whole body.
            frames::client_frame(false, &body)
        } else {
            self.counters.bodies_refused.fetch_add(1, Ordering::Relaxed);
            return with_status(StatusCode::BAD_REQUEST, status_json(400));
        };
        match session.send(&frames, self.window).await {
            Ok(()) => status_json(200),
            Err(SendFailed::Gone) => {
                self.counters.gone.fetch_add(1, Ordering::Relaxed);
                status_json(410)
            }
            // Phoenix answers `:request_timeout` when the session does not take the frames
            // within the window.
            Err(SendFailed::Timeout) => status_json(408),
        }
    }

    /// The body, up to the limit and within the window.
    async fn read_body(
        &self,
        request: &Request<()>,
        info: &RequestInfo,
    ) -> Result<Bytes, StatusCode> {
        let declared = info
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_post_bytes as u64) {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        let body = request
            .extensions()
            .get::<RequestBody>()
            .and_then(RequestBody::take)
            .ok_or(StatusCode::BAD_REQUEST)?;
        let collect = Limited::new(body, self.max_post_bytes).collect();
        match tokio::time::timeout(self.window, collect).await {
            Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                Err(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Ok(Err(_)) => Err(StatusCode::BAD_REQUEST),
        }
    }

    /// One client frame a line: a V2 JSON array as text, anything else base64 for binary (as
    /// phoenix.js encodes it). `None` when a line is neither UTF-8 JSON nor valid base64.
    fn ndjson_frames(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut frames = Vec::with_capacity(body.len() + 16);
        let lines = body
            .split(|byte| *byte == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
            .filter(|line| !line.is_empty());
        let mut taken = 0;
        for line in lines {
            if taken == MAX_LINES {
                self.counters.lines_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            taken += 1;
            if line.first() == Some(&b'[') {
                // Refused here with 400 rather than closing the session's connection (1007).
                std::str::from_utf8(line).ok()?;
                frames.extend(frames::client_frame(false, line));
            } else {
                use base64::Engine;
                let binary = base64::engine::general_purpose::STANDARD
                    .decode(line)
                    .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(line))
                    .ok()?;
                frames.extend(frames::client_frame(true, &binary));
            }
        }
        if taken == MAX_LINES {
            tracing::debug!("longpoll POST over {MAX_LINES} lines: the rest ignored");
        }
        Some(frames)
    }

    fn token_header<'a>(&self, info: &'a RequestInfo) -> Option<&'a str> {
        info.headers()
            .get(TOKEN_HEADER)
            .and_then(|value| value.to_str().ok())
    }

    /// The request's session token and, if it verifies, the session id it signs.
    fn session_token(&self, info: &RequestInfo) -> (Option<String>, Option<u64>) {
        let token = self.token_header(info).map(str::to_owned).or_else(|| {
            info.query_pairs()
                .filter(|(k, _)| k == "token")
                .map(|(_, v)| v)
                .last()
        });
        let id = token
            .as_deref()
            .and_then(|token| self.signer.verify::<u64>(token, MAX_AGE).ok());
        (token, id)
    }
}

impl<S: Socket, St> Endpoint<St> for LongPoll<S> {
    fn call(
        &self,
        request: Request<()>,
        origins: Option<CheckOrigin>,
        _: &St,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(self.clone().answer(request, origins))
    }
}

/// Phoenix's check: only when the request has an `Origin` (browsers), compared whole.
/// Phoenix's preflight answer: the requested headers echoed, GET/POST/OPTIONS, an hour.
fn preflight(info: &RequestInfo) -> Response<Body> {
    let requested: Vec<&str> = info
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let allow = if requested.is_empty() {
        "x-requested-with, content-type, authorization, x-phoenix-authtoken, x-phoenix-longpoll-token"
            .to_owned()
    } else {
        requested.join(", ")
    };
    let mut response = plain(StatusCode::OK, "");
    let headers = response.headers_mut();
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("get, post, options"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("3600"),
    );
    response
}

fn poll_json(status: u16, token: &str, messages: &[String]) -> Response<Body> {
    json(&serde_json::json!({"status": status, "token": token, "messages": messages}))
}

fn status_json(status: u16) -> Response<Body> {
    json(&serde_json::json!({ "status": status }))
}

fn json(value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    // With the token in a header, every session polls the same URL: no cache may keep one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn with_status(status: StatusCode, mut response: Response<Body>) -> Response<Body> {
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

/// 32 bytes from the OS, for the key of this endpoint's session tokens.
fn random_secret() -> Vec<u8> {
    use std::io::Read;
    let mut secret = vec![0; 32];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut secret));
    if from_os.is_err() {
        // No /dev/urandom (Windows): std's per-process random hash keys, mixed with the time.
        use std::hash::{BuildHasher, Hasher};
        for chunk in secret.chunks_mut(8) {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos(),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    secret
}
