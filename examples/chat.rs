//! A Phoenix-style chat that the official `phoenix` JavaScript client talks to unchanged.
//!
//! ```text
//! cargo run --example chat
//! # in a browser console or Node, with npm's `phoenix`:
//! #   const socket = new Socket("ws://127.0.0.1:4000/socket", {params: {}})
//! #   socket.connect()
//! #   const room = socket.channel("room:lobby", {user_id: "alice"})
//! #   room.join().receive("ok", () => room.push("new_msg", {body: "hi"}))
//! ```
//!
//! | topic / event | the server does |
//! | --- | --- |
//! | join `room:<name>` with `{"user_id": id}` | accepts, tracks presence under `id`, pushes `presence_state` |
//! | join `room:secret` | refuses with `{"reason":"unauthorized"}` |
//! | `new_msg` `{"body": ..}` | replies ok, broadcasts `new_msg` `{"body": .., "user_id": ..}` to the room |
//! | a binary push `binary` | replies ok with the same bytes, broadcasts them to the room |
//! | `status` `{"status": s}` | updates the user's presence meta to `s` (a new `phx_ref`), replies ok |
//! | `whoami` | replies `{"user_id": .., "token": <the authToken, if any>}` |
//! | `no_reply` | does not reply (the client's push times out) |
//! | `slow` `{"ms": N}` | awaits N ms (N ≤ 10,000, else an error reply), then replies ok `{}`; the socket's other channels and heartbeats are answered meanwhile |
//!
//! The socket is at `/socket` (phoenix.js appends `/websocket`, or `/longpoll` for its LongPoll
//! transport); `connect` accepts any params.
//! A page at `/` (`examples/chat/index.html`) is a chat client: a name, rooms, messages and
//! who is online. It loads phoenix.js from `/phoenix.min.js`, served from the npm package
//! (`npm install` in the repository root puts it in `node_modules/phoenix`).
//!
//! Environment: `WEBSOCK_ADDR` (default `127.0.0.1:4000`) is the listen address; the example
//! prints `listening on <addr>` with the bound address. `REDIS_URL` (say
//! `redis://127.0.0.1:6379/`) shares broadcasts with every other chat server using the same
//! Redis; without it, broadcasts stay in this process. `PHOENIX_JS` overrides the path of
//! `phoenix.min.js`. `CHAT_TRANSPORTS=longpoll` makes the page use phoenix.js's LongPoll
//! transport only (served at `/socket/longpoll`; by default the page uses WebSockets).
//! `CHAT_DEFLATE=1` turns permessage-deflate on for the socket's WebSocket. Ctrl-C
//! or SIGTERM stops it gracefully: the sockets are drained over 5 s, each client gets 1012 and
//! reconnects. `GET /metrics` answers the server's and the channels' counters as text, one
//! `name value` per line (Prometheus's text format).
//!
//! ```text
//! cargo run --example chat                                          # one node
//! WEBSOCK_ADDR=127.0.0.1:4001 REDIS_URL=redis://127.0.0.1:6379/ cargo run --example chat
//! WEBSOCK_ADDR=127.0.0.1:4002 REDIS_URL=redis://127.0.0.1:6379/ cargo run --example chat
//! ```

use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use websock::{
    Body, Deflate, Metrics, Router, Server, ServerHandle, channel,
    channels::{
        Assigns, Binary, ChannelMetrics, ChannelReply, ChannelSocket, ConnectInfo, JoinError,
        Params, PubSub, PubSubError, Refused, Socket, SocketRoute, socket,
    },
    http::{Response, StatusCode, header},
};
use websock_redis::RedisAdapter;

/// The socket: anyone may connect; an `authToken` is kept for the channels to read.
pub struct UserSocket;

/// The authToken the client sent, if any.
pub struct Token(pub Option<String>);

impl Socket for UserSocket {
    async fn connect(&self, _params: &Params, info: &ConnectInfo) -> Result<Assigns, Refused> {
        Ok(Assigns::new().with(Token(info.auth_token().map(str::to_owned))))
    }
}

/// One user in one room.
pub struct Room {
    user_id: String,
}

/// The join params: `{"user_id": ".."}`.
#[derive(Deserialize)]
pub struct JoinParams {
    #[serde(default)]
    user_id: String,
}

/// The `new_msg` payload.
#[derive(Deserialize)]
pub struct NewMsg {
    body: serde_json::Value,
}

#[channel("room:{name}")]
impl Room {
    #[on_join]
    fn join(
        name: String,
        params: JoinParams,
        socket: &mut ChannelSocket,
    ) -> Result<Self, JoinError> {
        if name == "secret" {
            return Err(JoinError::reason("unauthorized"));
        }
        socket
            .track(&params.user_id, json!({ "online_at": unix_time() }))
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok(Room {
            user_id: params.user_id,
        })
    }

    #[on_event("new_msg")]
    fn new_msg(&mut self, msg: NewMsg, socket: &mut ChannelSocket) -> ChannelReply {
        let message = json!({ "body": msg.body, "user_id": self.user_id });
        socket.broadcast("new_msg", message);
        ChannelReply::ok(json!({}))
    }

    #[on_event("binary")]
    fn binary(&mut self, data: Binary, socket: &mut ChannelSocket) -> ChannelReply {
        socket.broadcast("binary", data.clone());
        ChannelReply::ok(data)
    }

    /// Updates this user's presence meta (`status`), keeping `online_at`: the room gets a
    /// `presence_diff` with the new meta in `joins` and the old in `leaves`.
    #[on_event("status")]
    fn status(&mut self, msg: serde_json::Value, socket: &mut ChannelSocket) -> ChannelReply {
        let status = msg["status"].clone();
        socket.update_with(&self.user_id, |mut meta| {
            meta["status"] = status;
            meta
        });
        ChannelReply::ok(json!({}))
    }

    #[on_event("whoami")]
    fn whoami(&mut self, socket: &mut ChannelSocket) -> serde_json::Value {
        let token = socket.assigns().get::<Token>().and_then(|t| t.0.clone());
        json!({ "user_id": self.user_id, "token": token })
    }

    #[on_event("no_reply")]
    fn no_reply(&mut self) {}

    /// Awaits `ms` milliseconds (at most 10,000) before replying: this channel waits, the
    /// socket's other channels and its heartbeats do not (each channel has its own task).
    #[on_event("slow")]
    async fn slow(&mut self, params: Slow) -> ChannelReply {
        if params.ms > 10_000 {
            return ChannelReply::error(json!({ "reason": "ms must be at most 10000" }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(params.ms)).await;
        ChannelReply::ok(json!({}))
    }
}

/// The `slow` event's payload.
#[derive(Deserialize)]
pub struct Slow {
    ms: u64,
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The socket endpoint: keep a clone to broadcast from elsewhere or to read its metrics.
/// `CHAT_DEFLATE=1` turns permessage-deflate on for its WebSocket.
pub fn socket_route() -> SocketRoute<UserSocket> {
    let route = socket(UserSocket).channel::<Room>();
    if std::env::var("CHAT_DEFLATE").is_ok_and(|on| on == "1") {
        route.deflate(Deflate::default())
    } else {
        route
    }
}

/// The example's routes: the socket (WebSocket and LongPoll), the page and phoenix.js.
pub fn router(route: SocketRoute<UserSocket>) -> Router {
    Router::new()
        .route("/socket/longpoll", route.longpoll())
        .route("/socket/websocket", route)
        .get("/", |_| async { page() })
        .get("/phoenix.min.js", |_| async { phoenix_js() })
}

/// The example's server: [`router`] plus `GET /metrics`, which reads the server's counters
/// through its handle.
pub fn server(route: SocketRoute<UserSocket>) -> Server {
    let handle: Arc<OnceLock<ServerHandle>> = Arc::default();
    let server_handle = handle.clone();
    let channels = route.clone();
    let router = router(route).get("/metrics", move |_| {
        let server = server_handle
            .get()
            .map(ServerHandle::metrics)
            .unwrap_or_default();
        let text = metrics_text(&server, &channels.metrics());
        async move { respond(StatusCode::OK, "text/plain; version=0.0.4", text) }
    });
    let server = Server::new(router);
    let _ = handle.set(server.handle());
    server
}

/// The counters, one `websock_<name> <value>` line each.
pub fn metrics_text(server: &Metrics, channels: &ChannelMetrics) -> String {
    let lines = [
        ("active_connections", server.active_connections as u64),
        ("accepted_connections", server.accepted_connections),
        ("refused_over_limit", server.refused_over_limit),
        ("dropped_frames", server.dropped_frames),
        ("dropped_infos", server.dropped_infos),
        ("unflushed_bytes", server.unflushed_bytes),
        ("unflushed_connections", server.unflushed_connections),
        ("panics", server.panics),
        ("http1_upgrades", server.http1_upgrades),
        ("http2_upgrades", server.http2_upgrades),
        ("handshake_timeouts", server.handshake_timeouts),
        ("tls_handshake_failures", server.tls_handshake_failures),
        ("channel_sockets", channels.sockets),
        ("channel_sockets_total", channels.sockets_total),
        ("channel_refused_connects", channels.refused_connects),
        ("channels", channels.channels),
        ("channel_joins", channels.joins),
        ("channel_refused_joins", channels.refused_joins),
        ("channel_crashes", channels.crashes),
        ("channel_messages_in", channels.messages_in),
        ("channel_messages_out", channels.messages_out),
        ("channel_rate_limited", channels.rate_limited),
        ("channel_presence_resyncs", channels.presence_resyncs),
        ("channel_slow_consumers", channels.slow_consumers),
        ("channel_unencodable", channels.unencodable),
    ];
    lines
        .iter()
        .map(|(name, value)| format!("websock_{name} {value}\n"))
        .collect()
}

/// The chat page.
pub const INDEX_HTML: &str = include_str!("chat/index.html");

/// Where phoenix.js is read from: `PHOENIX_JS`, or the npm package in the repository.
pub fn phoenix_js_path() -> std::path::PathBuf {
    std::env::var_os("PHOENIX_JS").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("node_modules/phoenix/priv/static/phoenix.min.js")
        },
        Into::into,
    )
}

fn page() -> Response<Body> {
    let path = phoenix_js_path();
    if !path.is_file() {
        return missing_phoenix_js(&path, "text/html; charset=utf-8");
    }
    respond(StatusCode::OK, "text/html; charset=utf-8", page_html())
}

/// The page, told which transports to use: `CHAT_TRANSPORTS=longpoll` makes it use LongPoll
/// only (the browser test runs it so, as with WebSockets blocked).
fn page_html() -> String {
    let longpoll_only = std::env::var("CHAT_TRANSPORTS").is_ok_and(|t| t == "longpoll");
    if longpoll_only {
        INDEX_HTML.replace(
            r#"<meta name="chat-transports" content="websocket">"#,
            r#"<meta name="chat-transports" content="longpoll">"#,
        )
    } else {
        INDEX_HTML.to_owned()
    }
}

fn phoenix_js() -> Response<Body> {
    let path = phoenix_js_path();
    // Read on every request: a page for a demo, and `npm install` works without a restart.
    match std::fs::read(&path) {
        Ok(js) => respond(StatusCode::OK, "text/javascript; charset=utf-8", js),
        Err(_) => missing_phoenix_js(&path, "text/plain; charset=utf-8"),
    }
}

fn missing_phoenix_js(path: &std::path::Path, content_type: &str) -> Response<Body> {
    let text = format!(
        "phoenix.js not found at {}: run `npm install` in the repository root (it installs the \
         `phoenix` package), or set PHOENIX_JS to a copy of phoenix.min.js",
        path.display()
    );
    let body = if content_type.starts_with("text/html") {
        format!(
            "<!doctype html><title>chat: phoenix.js missing</title><h1>phoenix.js missing</h1><p>{text}</p>"
        )
    } else {
        text
    };
    respond(StatusCode::SERVICE_UNAVAILABLE, content_type, body)
}

fn respond(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response<Body> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// Redis when `redis_url` is given (`REDIS_URL`), the in-process pubsub otherwise.
pub async fn pubsub(redis_url: Option<&str>) -> Result<PubSub, PubSubError> {
    match redis_url {
        Some(url) => Ok(PubSub::new(RedisAdapter::connect(url).await?)),
        None => Ok(PubSub::local()),
    }
}

#[allow(dead_code)] // unused when the tests include this file as a module
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let redis_url = std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty());
    let pubsub = pubsub(redis_url.as_deref())
        .await
        .map_err(std::io::Error::other)?;
    match &redis_url {
        Some(url) => println!("pubsub: redis at {url}"),
        None => println!("pubsub: in this process (set REDIS_URL to share it between nodes)"),
    }
    // Prints `listening on <addr>`: the page is at http://<addr>/, the socket at ws://<addr>/socket.
    websock::run_server(server(socket_route().with_pubsub(pubsub))).await
}
