//! A probe handler driven by text commands, a server on 127.0.0.1:0 and client helpers.
#![allow(dead_code, unreachable_pub)]

use futures_util::{SinkExt, StreamExt};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};
use websock_runtime::{
    Close, CloseCode, Config, Context, Control, Frame, Handle, Handler, Message, Refuse, Reply,
    Router, Server, ServerHandle, TerminateReason, WebSocketRoute,
};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bounds every await in the tests so a bug fails instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .expect("timed out waiting")
}

/// Pushes every message back as it came.
pub struct Echo;

impl Handler for Echo {
    type Init = ();
    type Info = std::convert::Infallible;

    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Echo)
    }

    async fn handle_in(&mut self, message: Message, _: &mut Context<Self>) -> Reply {
        Reply::push(message)
    }
}

/// What the probe reports to the test.
#[derive(Debug)]
pub enum Event {
    Started(Handle<Probe>),
    Info(String),
    Control(Control),
    Terminated(String),
}

pub enum ProbeInfo {
    Text(String),
}

impl From<String> for ProbeInfo {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

pub struct Probe {
    events: mpsc::UnboundedSender<Event>,
}

/// Commands: `echo:X`, `many:N`, `binary`, `ping`, `stop`, `close:CODE:REASON`, `error`,
/// `panic`, `sleep:MS`, `push-stop:N`, `after:MS:X` (send_after), `cancel:MS` (send_after then
/// cancel), `ctx-stop`.
impl Handler for Probe {
    type Init = mpsc::UnboundedSender<Event>;
    type Info = ProbeInfo;

    async fn init(events: Self::Init, ctx: &mut Context<Self>) -> Result<Self, Close> {
        if ctx.query("refuse").is_some() {
            return Err(Close::new(CloseCode::new(4403).unwrap(), "refused by init"));
        }
        if let Some(greeting) = ctx.query("greet") {
            ctx.push(Frame::text(greeting));
        }
        let _ = events.send(Event::Started(ctx.handle().clone()));
        Ok(Probe { events })
    }

    async fn handle_in(&mut self, message: Message, ctx: &mut Context<Self>) -> Reply {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(bytes) => return Reply::binary(bytes),
        };
        let (command, arg) = text.split_once(':').unwrap_or((&text, ""));
        match command {
            "echo" => Reply::text(arg),
            "many" => {
                Reply::push_all((0..arg.parse().unwrap()).map(|i| Frame::text(i.to_string())))
            }
            "binary" => Reply::binary(vec![1, 2, 3]),
            "ping" => {
                Reply::push(Frame::ping(websock_runtime::Bytes::from_static(b"srv")).unwrap())
            }
            "stop" => Reply::stop(),
            "close" => {
                let (code, reason) = arg.split_once(':').unwrap_or((arg, ""));
                Reply::close(Close::new(
                    CloseCode::new(code.parse().unwrap()).unwrap(),
                    reason,
                ))
            }
            "error" => Reply::error("probe failed on purpose"),
            "panic" => panic!("probe panicked on purpose"),
            "sleep" => {
                tokio::time::sleep(Duration::from_millis(arg.parse().unwrap())).await;
                Reply::text("slept")
            }
            "push-stop" => {
                for i in 0..arg.parse::<u32>().unwrap() {
                    ctx.push(Frame::text(i.to_string()));
                }
                Reply::stop()
            }
            "after" => {
                let (ms, info) = arg.split_once(':').unwrap();
                ctx.send_after(Duration::from_millis(ms.parse().unwrap()), info.to_owned());
                Reply::ok()
            }
            "cancel" => {
                let timer = ctx.send_after(
                    Duration::from_millis(arg.parse().unwrap()),
                    "cancelled".to_owned(),
                );
                assert!(ctx.cancel_timer(timer));
                assert!(!ctx.cancel_timer(timer), "a timer cancels once");
                Reply::ok()
            }
            "ctx-stop" => {
                ctx.push(Frame::text("bye"));
                ctx.stop(Close::new(CloseCode::new(4000).unwrap(), "ctx stop"));
                Reply::ok()
            }
            "path" => Reply::text(format!(
                "{} {:?} {:?} {:?}",
                ctx.path(),
                ctx.param("room"),
                ctx.query("q"),
                ctx.protocol()
            )),
            "stats" => Reply::text(format!("{}", ctx.stats().mailbox_len)),
            _ => Reply::ok(),
        }
    }

    async fn handle_info(&mut self, info: ProbeInfo, _ctx: &mut Context<Self>) -> Reply {
        let ProbeInfo::Text(text) = info;
        let _ = self.events.send(Event::Info(text.clone()));
        if let Some(ms) = text.strip_prefix("block:") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
            return Reply::ok();
        }
        Reply::text(format!("info:{text}"))
    }

    async fn handle_control(&mut self, control: Control, _ctx: &mut Context<Self>) -> Reply {
        let _ = self.events.send(Event::Control(control));
        Reply::ok()
    }

    async fn terminate(&mut self, reason: TerminateReason, _ctx: &mut Context<Self>) {
        let _ = self.events.send(Event::Terminated(describe(&reason)));
    }
}

/// A short, stable description of a terminate reason for assertions.
pub fn describe(reason: &TerminateReason) -> String {
    match reason {
        TerminateReason::Normal => "normal".into(),
        TerminateReason::Remote(Some(close)) => format!("remote {}", close.code),
        TerminateReason::Remote(None) => "remote".into(),
        TerminateReason::Shutdown => "shutdown".into(),
        TerminateReason::Timeout(kind) => format!("timeout {kind:?}").to_lowercase(),
        TerminateReason::Error(error) => format!("error {:?}", error.kind()).to_lowercase(),
        other => format!("{other:?}"),
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub served: tokio::task::JoinHandle<std::io::Result<websock_runtime::Metrics>>,
}

impl TestServer {
    /// The probe at `/probe` and `/rooms/{room}` with `config`.
    pub async fn start(config: Config) -> Self {
        Self::start_with(config, |server| server).await
    }

    pub async fn start_with(config: Config, tune: impl FnOnce(Server) -> Server) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let route = |tx: mpsc::UnboundedSender<Event>, config: Config| {
            WebSocketRoute::<Probe>::with_init(move |request| {
                let tx = tx.clone();
                async move {
                    match request.query("token").as_deref() {
                        Some("bad") => Err(Refuse::unauthorized("bad token\n")),
                        _ => Ok(tx),
                    }
                }
            })
            .config(config)
        };
        let router = Router::new()
            .route("/probe", route(tx.clone(), config.clone()))
            .route(
                "/rooms/{room}",
                route(tx.clone(), config.clone().protocols(["v2.chat", "v1.chat"])),
            )
            .route(
                "/strict",
                route(tx, config).check_origin(["https://good.example"]),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tune(Server::new(router));
        let handle = server.handle();
        let served = tokio::spawn(server.serve(listener));
        Self {
            addr,
            handle,
            events,
            served,
        }
    }

    pub async fn connect(&self, path: &str) -> Client {
        let (client, response) = within(tokio_tungstenite::connect_async(format!(
            "ws://{}{path}",
            self.addr
        )))
        .await
        .expect("handshake");
        assert_eq!(response.status(), 101);
        client
    }

    /// Connects and waits for the probe's `Started` event.
    pub async fn open(&mut self, path: &str) -> (Client, Handle<Probe>) {
        let client = self.connect(path).await;
        match self.next_event().await {
            Event::Started(handle) => (client, handle),
            other => panic!("expected Started, got {other:?}"),
        }
    }

    pub async fn next_event(&mut self) -> Event {
        within(self.events.recv()).await.expect("server gone")
    }

    /// The next terminate reason, skipping other events.
    pub async fn next_terminated(&mut self) -> String {
        loop {
            if let Event::Terminated(reason) = self.next_event().await {
                return reason;
            }
        }
    }

    /// The next terminate reason, skipping other events; then checks that no second
    /// `terminate` follows for a while (each test here has one ending connection at a time).
    pub async fn terminated(&mut self) -> String {
        let reason = self.next_terminated().await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert!(
                !matches!(event, Event::Terminated(_)),
                "terminate ran twice: {reason} then {event:?}"
            );
        }
        reason
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    within(client.send(tungstenite::Message::text(text)))
        .await
        .unwrap();
}

/// The next data message, skipping pings and pongs.
pub async fn recv(client: &mut Client) -> tungstenite::Message {
    loop {
        let message = within(client.next())
            .await
            .expect("stream ended")
            .expect("read failed");
        if !matches!(
            message,
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)
        ) {
            return message;
        }
    }
}

pub async fn recv_text(client: &mut Client) -> String {
    match recv(client).await {
        tungstenite::Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Reads until the close frame and returns its code and reason.
pub async fn recv_close(client: &mut Client) -> (u16, String) {
    loop {
        match within(client.next()).await {
            Some(Ok(tungstenite::Message::Close(Some(frame)))) => {
                return (frame.code.into(), frame.reason.as_str().to_owned());
            }
            Some(Ok(tungstenite::Message::Close(None))) => return (1005, String::new()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// A raw TCP connection that has done the WebSocket handshake at `path`.
pub async fn raw_upgrade(addr: SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream
}

/// Reads an HTTP response head (up to the blank line).
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = within(stream.read(&mut byte)).await.unwrap();
        assert!(
            n > 0,
            "connection closed mid-head: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Sends a raw HTTP request and returns the status line, headers and body.
pub async fn http(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    within(stream.read_exact(&mut body)).await.unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

/// A client frame: FIN + opcode, masked (unless `masked` is false) with a fixed key.
pub fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x11, 0x22, 0x33, 0x44];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads one server frame (unmasked) from a raw stream: its first byte and its payload.
pub async fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    within(stream.read_exact(&mut head))
        .await
        .expect("server closed mid-frame or without a close frame");
    let mut len = u64::from(head[1] & 0x7f);
    if len == 126 {
        let mut ext = [0u8; 2];
        stream.read_exact(&mut ext).await.unwrap();
        len = u64::from(u16::from_be_bytes(ext));
    } else if len == 127 {
        let mut ext = [0u8; 8];
        stream.read_exact(&mut ext).await.unwrap();
        len = u64::from_be_bytes(ext);
    }
    let mut payload = vec![0; len as usize];
    stream.read_exact(&mut payload).await.unwrap();
    (head[0], payload)
}

/// Reads server frames from a raw stream until a close frame; returns its code (1005 if none).
pub async fn raw_close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let (head, payload) = read_frame(stream).await;
        if head & 0x0f == 8 {
            return if payload.len() >= 2 {
                u16::from_be_bytes([payload[0], payload[1]])
            } else {
                1005
            };
        }
    }
}
