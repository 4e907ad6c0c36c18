//! `#[websock_handler]` over real sockets: every attribute kind, driven by a real client
//! against a real server on 127.0.0.1:0.

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::{net::SocketAddr, time::Duration};
use tokio::{net::TcpStream, sync::mpsc};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, protocol::CloseFrame, protocol::frame::coding::CloseCode as WireCode},
};
use websock::{
    Bytes, Context, Handle, PeerClose, Reply, Router, Server, TerminateReason, WebSocketRoute,
    websock_handler,
};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bounds every await, so a bug fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future)
        .await
        .expect("timed out waiting")
}

/// What the handler reports to the test.
#[derive(Debug, PartialEq)]
enum Event {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
    Terminate(String),
}

/// The route's `Init`: where to report, and where to hand the connection's handle.
struct Setup {
    events: mpsc::UnboundedSender<Event>,
    handles: mpsc::UnboundedSender<Handle<Probe>>,
}

struct Probe {
    events: mpsc::UnboundedSender<Event>,
}

/// An info message with a payload.
struct Alert(String);

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Deserialize)]
struct Command {
    cmd: String,
}

#[websock_handler]
impl Probe {
    fn init(setup: Setup, ctx: &mut Context<Self>) -> Self {
        setup.handles.send(ctx.handle().clone()).unwrap();
        Probe {
            events: setup.events,
        }
    }

    #[on_text("ping")]
    fn ping(&mut self) -> &'static str {
        "pong"
    }

    #[on_text("async ping")]
    async fn async_ping(&mut self) -> String {
        tokio::task::yield_now().await;
        "async pong".to_owned()
    }

    #[on_text("join {room}")]
    fn join(&mut self, room: u32) -> String {
        format!("joined {room}")
    }

    #[on_text("say {who}: {what}")]
    async fn say(&mut self, what: &str, ctx: &mut Context<Self>, who: String) -> Reply {
        ctx.push(format!("{who} said"));
        Reply::text(what)
    }

    #[on_text("after {ms}")]
    fn after(&mut self, ctx: &mut Context<Self>, ms: u64) {
        ctx.send_after(Duration::from_millis(ms), Alert("timer".to_owned()));
    }

    #[on_text("fail")]
    fn fail(&mut self) -> Result<String, String> {
        Err("failed on purpose".to_owned())
    }

    #[on_json(type = "greet")]
    fn greet(&mut self, greet: Greet) -> String {
        format!("hello {}", greet.name)
    }

    #[on_json(type = "bare")]
    async fn bare(&mut self) -> &'static str {
        "bare tag"
    }

    #[on_json]
    fn command(&mut self, command: Command) -> String {
        format!("command {}", command.cmd)
    }

    #[on_text]
    fn fallback(&mut self, text: &str) -> String {
        format!("fallback {text}")
    }

    #[on_binary(prefix = b"\x01")]
    fn one(&mut self, data: Bytes) -> Vec<u8> {
        [b"one:".as_slice(), &data].concat()
    }

    #[on_binary(prefix = b"\x01\x02")]
    async fn one_two(&mut self, data: &[u8]) -> Vec<u8> {
        [b"one-two:".as_slice(), data].concat()
    }

    #[on_binary]
    fn binary(&mut self, data: Vec<u8>) -> Vec<u8> {
        [b"other:".as_slice(), &data].concat()
    }

    #[on_info]
    fn alert(&mut self, alert: Alert) -> String {
        format!("alert {}", alert.0)
    }

    #[on_info]
    async fn count(&mut self, ctx: &mut Context<Self>, count: u32) -> String {
        let _ = ctx;
        format!("count {count}")
    }

    #[on_ping]
    fn on_ping(&mut self, payload: &[u8]) {
        self.events.send(Event::Ping(payload.to_vec())).unwrap();
    }

    #[on_pong]
    async fn on_pong(&mut self, payload: Bytes) {
        self.events.send(Event::Pong(payload.to_vec())).unwrap();
    }

    #[on_close]
    fn on_close(&mut self, close: Option<PeerClose>) {
        let _ = self
            .events
            .send(Event::Close(close.map(|close| close.code)));
    }

    #[on_terminate]
    async fn on_terminate(&mut self, reason: TerminateReason, ctx: &mut Context<Self>) {
        let _ = ctx;
        let reason = match reason {
            TerminateReason::Normal => "normal".to_owned(),
            TerminateReason::Remote(_) => "remote".to_owned(),
            TerminateReason::Error(error) => format!("error {}", error.message()),
            other => format!("{other:?}"),
        };
        let _ = self.events.send(Event::Terminate(reason));
    }
}

struct TestServer {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Event>,
    handles: mpsc::UnboundedReceiver<Handle<Probe>>,
}

impl TestServer {
    async fn start() -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (handles_tx, handles) = mpsc::unbounded_channel();
        let route = WebSocketRoute::<Probe>::with_init(move |_request| {
            let setup = Setup {
                events: events_tx.clone(),
                handles: handles_tx.clone(),
            };
            async move { Ok(setup) }
        });
        let router = Router::new().route("/probe", route);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(Server::new(router).serve(listener));
        Self {
            addr,
            events,
            handles,
        }
    }

    /// A client, and the handle of its connection on the server.
    async fn connect(&mut self) -> (Client, Handle<Probe>) {
        let (client, _) = within(tokio_tungstenite::connect_async(format!(
            "ws://{}/probe",
            self.addr
        )))
        .await
        .unwrap();
        let handle = within(self.handles.recv()).await.unwrap();
        (client, handle)
    }

    async fn event(&mut self) -> Event {
        within(self.events.recv()).await.expect("server gone")
    }
}

async fn send(client: &mut Client, message: tungstenite::Message) {
    within(client.send(message)).await.unwrap();
}

/// The next message that is not a pong (the runtime answers our pings itself).
async fn next(client: &mut Client) -> tungstenite::Message {
    loop {
        match within(client.next()).await {
            Some(Ok(tungstenite::Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Sends `text`, expects text back.
async fn ask(client: &mut Client, text: &str) -> String {
    send(client, tungstenite::Message::text(text)).await;
    match next(client).await {
        tungstenite::Message::Text(reply) => reply.to_string(),
        other => panic!("expected text after {text:?}, got {other:?}"),
    }
}

/// Sends `bytes`, expects binary back.
async fn ask_binary(client: &mut Client, bytes: &[u8]) -> Vec<u8> {
    send(client, tungstenite::Message::binary(bytes.to_vec())).await;
    match next(client).await {
        tungstenite::Message::Binary(reply) => reply.to_vec(),
        other => panic!("expected binary after {bytes:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn literals_sync_and_async() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    assert_eq!(ask(&mut client, "ping").await, "pong");
    assert_eq!(ask(&mut client, "async ping").await, "async pong");
    // Exact means exact.
    assert_eq!(ask(&mut client, "ping ").await, "fallback ping ");
    assert_eq!(ask(&mut client, "PING").await, "fallback PING");
}

#[tokio::test]
async fn captures_parse_or_fall_through() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    assert_eq!(ask(&mut client, "join 42").await, "joined 42");
    // `room: u32` does not parse: the pattern misses, the fallback answers.
    assert_eq!(ask(&mut client, "join lobby").await, "fallback join lobby");
    // A capture matches one character or more.
    assert_eq!(ask(&mut client, "join ").await, "fallback join ");
    // Two captures, any parameter order, `&str` and `String`, with the context.
    assert_eq!(ask(&mut client, "say ann: hi: there").await, "ann said");
    match next(&mut client).await {
        tungstenite::Message::Text(text) => assert_eq!(text.as_str(), "hi: there"),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn json_tags_then_untagged_then_fallback() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    assert_eq!(
        ask(&mut client, r#"{"type":"greet","name":"ann"}"#).await,
        "hello ann"
    );
    // The tag is found wherever it is in the object.
    assert_eq!(
        ask(&mut client, r#"{"name":"bob","type":"greet"}"#).await,
        "hello bob"
    );
    assert_eq!(ask(&mut client, r#"{"type":"bare"}"#).await, "bare tag");
    // No tag: the untagged `#[on_json]`.
    assert_eq!(ask(&mut client, r#"{"cmd":"go"}"#).await, "command go");
    // An unknown tag falls to the untagged method.
    assert_eq!(
        ask(&mut client, r#"{"type":"other","cmd":"x"}"#).await,
        "command x"
    );
    // A tagged body that does not deserialize gets the error reply (no `#[on_json_error]`
    // here); it no longer falls through to the fallback (tests/on_json_error.rs has the rest).
    assert_eq!(
        ask(&mut client, r#"{"type":"greet"}"#).await,
        r#"{"error":"invalid payload","type":"greet","detail":"missing field `name` at line 1 column 16"}"#
    );
    assert_eq!(ask(&mut client, "not json").await, "fallback not json");
}

#[tokio::test]
async fn binary_longest_prefix_then_fallback() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    assert_eq!(
        ask_binary(&mut client, &[1, 2, 3]).await,
        b"one-two:\x01\x02\x03"
    );
    assert_eq!(ask_binary(&mut client, &[1, 5]).await, b"one:\x01\x05");
    assert_eq!(ask_binary(&mut client, &[1]).await, b"one:\x01");
    assert_eq!(ask_binary(&mut client, &[2, 1]).await, b"other:\x02\x01");
    assert_eq!(ask_binary(&mut client, &[]).await, b"other:");
}

#[tokio::test]
async fn info_from_another_task_and_from_a_timer() {
    let mut server = TestServer::start().await;
    let (mut client, handle) = server.connect().await;
    let sender = handle.clone();
    within(tokio::spawn(async move {
        sender.try_send(Alert("external".to_owned())).unwrap();
        sender.send(7u32).await.unwrap();
    }))
    .await
    .unwrap();
    for expected in ["alert external", "count 7"] {
        match next(&mut client).await {
            tungstenite::Message::Text(text) => assert_eq!(text.as_str(), expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
    send(&mut client, tungstenite::Message::text("after 30")).await;
    match next(&mut client).await {
        tungstenite::Message::Text(text) => assert_eq!(text.as_str(), "alert timer"),
        other => panic!("expected the timer's alert, got {other:?}"),
    }
}

#[tokio::test]
async fn ping_and_pong_callbacks() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    send(
        &mut client,
        tungstenite::Message::Ping(Bytes::from_static(b"hi")),
    )
    .await;
    // The runtime answers the ping itself...
    match within(client.next()).await {
        Some(Ok(tungstenite::Message::Pong(payload))) => assert_eq!(&payload[..], b"hi"),
        other => panic!("expected the pong, got {other:?}"),
    }
    // ...and the handler hears about it.
    assert_eq!(server.event().await, Event::Ping(b"hi".to_vec()));
    send(
        &mut client,
        tungstenite::Message::Pong(Bytes::from_static(b"yo")),
    )
    .await;
    assert_eq!(server.event().await, Event::Pong(b"yo".to_vec()));
}

#[tokio::test]
async fn close_then_terminate() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    within(client.close(Some(CloseFrame {
        code: WireCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    assert_eq!(server.event().await, Event::Close(Some(1000)));
    assert_eq!(server.event().await, Event::Terminate("remote".to_owned()));
}

#[tokio::test]
async fn an_err_return_closes_with_1011() {
    let mut server = TestServer::start().await;
    let (mut client, _) = server.connect().await;
    send(&mut client, tungstenite::Message::text("fail")).await;
    match next(&mut client).await {
        tungstenite::Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    // `#[on_close]` is for closes from the client: only `#[on_terminate]` runs.
    assert_eq!(
        server.event().await,
        Event::Terminate("error failed on purpose".to_owned())
    );
}
