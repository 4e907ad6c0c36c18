//! The echo servers, each run as a whole process by `websock-bench server <kind>`.
//!
//! Every server echoes text and binary messages at `/ws/echo` (fastwebsockets in
//! `fastws_server.rs`; uWebSockets is its own binary, see `uws.rs`); websock and raw also serve
//! `/ws/fanout` (websock through each connection's `Handle`; raw through a tokio mpsc channel
//! per connection, `select!`ed with the socket, as one would write it by hand). websock also
//! serves both with permessage-deflate at its defaults: `/ws/echo/deflate`, `/ws/fanout/deflate`
//! (the compression scenarios of `deflate_load`), and a phoenix V2 socket at `/socket/websocket`
//! with the channel `room:bench` (`channels_server.rs`).

use futures_util::{SinkExt, StreamExt};
use std::{
    io::{self, Write},
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::net::TcpListener;
use websock::{
    Bytes, Config, Context, Deflate, Frame, Handle, Router, Server, SharedFrame, Utf8Bytes,
    websock_handler, websocket,
};

/// Which echo server to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[websock_handler]` with the default options.
    Websock,
    /// A hand-written tokio-tungstenite loop, tuned.
    Raw,
    /// axum's `WebSocketUpgrade`, as most users would write it.
    Axum,
    /// fastwebsockets 0.10 behind hyper's upgrade, its example's loop.
    Fastwebsockets,
    /// uWebSockets (C++), `uws_echo`; `uws_pubsub` for the channel fan-out.
    Uws,
}

impl Kind {
    /// Every echo server, in the order of the table's columns.
    pub(crate) const ALL: [Kind; 5] = [
        Kind::Raw,
        Kind::Websock,
        Kind::Axum,
        Kind::Fastwebsockets,
        Kind::Uws,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Websock => "websock",
            Kind::Raw => "raw",
            Kind::Axum => "axum",
            Kind::Fastwebsockets => "fastwebsockets",
            Kind::Uws => "uws",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Binds `addr`, prints `listening on <addr>` (the orchestrator reads it), serves forever.
/// `redis`: the URL of the Redis the websock server's channels share (two nodes).
pub(crate) fn run(kind: Kind, addr: &str, redis: Option<&str>) -> io::Result<()> {
    if kind == Kind::Uws {
        return crate::uws::exec(crate::uws::ECHO, addr);
    }
    // The default multi-threaded runtime for all three: one worker per core the process may
    // use, so one worker when `taskset` pins it to one core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        let mut stdout = io::stdout();
        writeln!(stdout, "listening on {}", listener.local_addr()?)?;
        stdout.flush()?;
        match kind {
            Kind::Websock => serve_websock(listener, redis).await,
            Kind::Raw => serve_raw(listener).await,
            Kind::Axum => serve_axum(listener).await,
            Kind::Fastwebsockets => crate::fastws_server::serve(listener).await,
            Kind::Uws => unreachable!("exec'd above"),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// websock

/// The echo handler of `examples/echo.rs`, default options.
pub(crate) struct Echo;

#[websock_handler]
impl Echo {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Echo
    }

    #[on_text]
    fn text(&mut self, text: Utf8Bytes) -> Utf8Bytes {
        text
    }

    #[on_binary]
    fn binary(&mut self, data: Bytes) -> Bytes {
        data
    }
}

/// The fan-out handler: every connection registers its handle; the text `broadcast` sends one
/// info message to every registered connection, which pushes it to its client. Other text is
/// echoed, so a client knows its `init` (and so its registration) has run.
pub(crate) struct Fanout;

/// The info message of the fan-out: the text each connection pushes.
pub(crate) struct Broadcast(Frame);

/// Every fan-out connection's handle, dead ones pruned at each broadcast.
fn registry() -> &'static Mutex<Vec<Handle<Fanout>>> {
    static REGISTRY: OnceLock<Mutex<Vec<Handle<Fanout>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// What every fan-out client waits for.
pub(crate) const FANOUT_TEXT: &str = "tick";

/// When the last broadcast started, and how long after it (µs) the enqueueing ended and the
/// last `deliver` callback ran: splits the fan-out time into its server and client parts.
static BROADCAST_AT: Mutex<Option<Instant>> = Mutex::new(None);
static ENQUEUED_US: AtomicU64 = AtomicU64::new(0);
static LAST_DELIVERY_US: AtomicU64 = AtomicU64::new(0);

#[websock_handler]
impl Fanout {
    fn init(ctx: &mut Context<Self>) -> Self {
        registry()
            .lock()
            .expect("registry lock")
            .push(ctx.handle().clone());
        Fanout
    }

    #[on_text("broadcast")]
    fn broadcast(&mut self) -> String {
        let start = broadcast_started();
        let mut handles = registry().lock().expect("registry lock");
        handles.retain(Handle::is_alive);
        let text = Utf8Bytes::from_static(FANOUT_TEXT);
        let sent = handles
            .iter()
            .filter(|handle| {
                handle
                    .try_send(Broadcast(Frame::Text(text.clone())))
                    .is_ok()
            })
            .count();
        broadcast_enqueued(start, sent)
    }

    #[on_text("fanout stats")]
    fn stats(&mut self) -> String {
        fanout_stats()
    }

    /// `broadcast json <shared|unshared> <size>`: a JSON text of `size` bytes to every
    /// connection, as one `SharedFrame` (compressed once) or as a plain frame each (compressed
    /// per connection). Other text is echoed.
    #[on_text]
    fn echo(&mut self, text: Utf8Bytes) -> Utf8Bytes {
        let Some(rest) = text.strip_prefix("broadcast json ") else {
            return text;
        };
        let (kind, size) = rest.split_once(' ').unwrap_or((rest, "16384"));
        let json = Utf8Bytes::from(crate::deflate_load::json_of(size.parse().unwrap_or(16384)));
        let frame = match kind {
            "shared" => Frame::from(SharedFrame::new(json)),
            _ => Frame::Text(json),
        };
        let start = broadcast_started();
        let mut handles = registry().lock().expect("registry lock");
        handles.retain(Handle::is_alive);
        let sent = handles
            .iter()
            .filter(|handle| handle.try_send(Broadcast(frame.clone())).is_ok())
            .count();
        Utf8Bytes::from(broadcast_enqueued(start, sent))
    }

    #[on_info]
    fn deliver(&mut self, broadcast: Broadcast) -> Frame {
        delivered();
        broadcast.0
    }
}

// The fan-out's clock, shared by the websock and raw servers.

fn broadcast_started() -> Instant {
    let start = Instant::now();
    *BROADCAST_AT.lock().expect("broadcast lock") = Some(start);
    LAST_DELIVERY_US.store(0, Ordering::Relaxed);
    start
}

/// Records the end of the enqueueing; the broadcaster's reply.
fn broadcast_enqueued(start: Instant, sent: usize) -> String {
    ENQUEUED_US.store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    format!("sent {sent}")
}

/// Called as each connection handles its copy of the broadcast.
fn delivered() {
    if let Some(start) = *BROADCAST_AT.lock().expect("broadcast lock") {
        let at = start.elapsed().as_micros() as u64;
        LAST_DELIVERY_US.fetch_max(at, Ordering::Relaxed);
    }
}

/// `enqueued <µs> last_delivery <µs>` for the last broadcast.
fn fanout_stats() -> String {
    format!(
        "enqueued {} last_delivery {}",
        ENQUEUED_US.load(Ordering::Relaxed),
        LAST_DELIVERY_US.load(Ordering::Relaxed)
    )
}

async fn serve_websock(listener: TcpListener, redis: Option<&str>) -> io::Result<()> {
    let deflate = Config::default().deflate(Deflate::default());
    let pubsub = match redis {
        Some(url) => Some(crate::channels_server::redis_pubsub(url).await?),
        None => None,
    };
    let router = Router::new()
        .route("/socket/websocket", crate::channels_server::route(pubsub))
        .route("/ws/echo", websocket::<Echo>())
        .route("/ws/fanout", websocket::<Fanout>())
        .route(
            "/ws/echo/deflate",
            websocket::<Echo>().config(deflate.clone()),
        )
        .route("/ws/fanout/deflate", websocket::<Fanout>().config(deflate));
    // The default limit (16,384) is below the 18,000 idle connections of the memory scenario;
    // it is a server-wide safety limit, not a per-connection option.
    Server::new(router)
        .max_connections(20_000)
        .serve(listener)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// raw tokio-tungstenite

/// The tuning the issue measured as the fastest plain tokio-tungstenite configuration: a 4 KiB
/// read buffer and no write buffer (every frame goes to the socket as it is sent).
pub(crate) fn raw_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
}

async fn serve_raw(listener: TcpListener) -> io::Result<()> {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors: wait for some to close rather than spin.
                eprintln!("raw: accept: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if stream.set_nodelay(true).is_err() {
                return;
            }
            let mut fanout = false;
            // tungstenite's callback type fixes the error type.
            #[allow(clippy::result_large_err)]
            let route = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                         response| {
                fanout = request.uri().path() == "/ws/fanout";
                Ok(response)
            };
            let Ok(mut ws) =
                tokio_tungstenite::accept_hdr_async_with_config(stream, route, Some(raw_config()))
                    .await
            else {
                return;
            };
            if fanout {
                return raw_fanout(ws).await;
            }
            // Pings are answered and the close handshake completed by tungstenite itself;
            // the stream ends after the client's close.
            while let Some(Ok(message)) = ws.next().await {
                if matches!(message, Message::Text(_) | Message::Binary(_))
                    && ws.send(message).await.is_err()
                {
                    break;
                }
            }
        });
    }
}

type RawSender = tokio::sync::mpsc::Sender<tokio_tungstenite::tungstenite::Utf8Bytes>;

/// The raw fan-out: each connection registers the sender of its own channel and `select!`s
/// between its socket and that channel; `broadcast` sends to every registered channel.
async fn raw_fanout(mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) {
    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
    static REGISTRY: Mutex<Vec<RawSender>> = Mutex::new(Vec::new());
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    REGISTRY.lock().expect("registry lock").push(tx);
    loop {
        let reply = tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => match text.as_str() {
                    "broadcast" => {
                        let start = broadcast_started();
                        let mut senders = REGISTRY.lock().expect("registry lock");
                        senders.retain(|sender| !sender.is_closed());
                        let text = Utf8Bytes::from_static(FANOUT_TEXT);
                        let sent = senders
                            .iter()
                            .filter(|sender| sender.try_send(text.clone()).is_ok())
                            .count();
                        broadcast_enqueued(start, sent).into()
                    }
                    "fanout stats" => fanout_stats().into(),
                    _ => text,
                },
                Some(Ok(_)) => continue,
                _ => return,
            },
            Some(text) = rx.recv() => {
                delivered();
                text
            }
        };
        if ws.send(Message::Text(reply)).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the fan-out's floor

/// What a fan-out costs with no runtime at all, for the fan-out load generator: one blocking
/// thread accepts `conns` clients (handshake, echo of their first message), then the trigger;
/// on its `broadcast` it writes one pre-encoded frame to every socket in a plain loop. Every
/// server, whatever its design, needs at least these `conns` writes.
pub(crate) fn run_floor(addr: &str, conns: usize) -> io::Result<()> {
    use tokio_tungstenite::tungstenite::{Message, accept};
    let listener = std::net::TcpListener::bind(addr)?;
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    let mut frame = vec![0x81, FANOUT_TEXT.len() as u8];
    frame.extend_from_slice(FANOUT_TEXT.as_bytes());
    let mut sockets = Vec::with_capacity(conns);
    loop {
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        let mut ws = accept(stream).map_err(io::Error::other)?;
        let first = ws.read().map_err(io::Error::other)?;
        ws.send(first).map_err(io::Error::other)?;
        if sockets.len() < conns {
            sockets.push(ws.into_inner());
            continue;
        }
        // The trigger.
        while let Ok(message) = ws.read() {
            let reply = match message.to_text().unwrap_or("") {
                "broadcast" => {
                    let start = broadcast_started();
                    for socket in &mut sockets {
                        socket.write_all(&frame)?;
                    }
                    delivered();
                    broadcast_enqueued(start, sockets.len())
                }
                "fanout stats" => fanout_stats(),
                _ => continue,
            };
            ws.send(Message::text(reply)).map_err(io::Error::other)?;
        }
        return Ok(());
    }
}

// ---------------------------------------------------------------------------------------------
// axum

async fn axum_echo(ws: axum::extract::ws::WebSocketUpgrade) -> axum::response::Response {
    use axum::extract::ws::Message;
    ws.on_upgrade(|mut socket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Text(_) | Message::Binary(_))
                && socket.send(message).await.is_err()
            {
                break;
            }
        }
    })
}

async fn serve_axum(listener: TcpListener) -> io::Result<()> {
    let app = axum::Router::new().route("/ws/echo", axum::routing::get(axum_echo));
    axum::serve(listener, app).await
}
