//! What a handler can get wrong and the server survives: control frames too long to send,
//! durations that overflow, panics outside the callbacks, a close asked for while the mailbox
//! is full.

mod common;

use common::{Client, WAIT, recv_close, recv_text, send_text, within};
use futures_util::{SinkExt, StreamExt};
use std::{sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{Semaphore, mpsc},
};
use tokio_tungstenite::tungstenite;
use websock_runtime::{
    Bytes, Close, CloseCode, Config, Context, Frame, Handle, Handler, Message, Reply, Router,
    Server, ServerHandle, TerminateReason, WebSocketRoute,
};

#[derive(Debug)]
enum Event {
    Started(Handle<Careless>),
    InfoEntered,
    Terminated(String),
}

#[derive(Clone)]
struct Setup {
    events: mpsc::UnboundedSender<Event>,
    /// Each info's callback waits for one permit.
    gate: Arc<Semaphore>,
}

enum Info {
    Block,
    Never,
}

struct Careless {
    setup: Setup,
    panic_on_drop: bool,
}

/// Bytes whose owner panics when dropped: a user type held in a pushed frame.
struct PanicOnDrop(Vec<u8>);

impl AsRef<[u8]> for PanicOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("a frame's owner panicked on drop");
    }
}

impl Drop for Careless {
    fn drop(&mut self) {
        if self.panic_on_drop {
            panic!("the handler panicked on drop");
        }
    }
}

impl Handler for Careless {
    type Init = Setup;
    type Info = Info;

    async fn init(setup: Setup, ctx: &mut Context<Self>) -> Result<Self, Close> {
        let _ = setup.events.send(Event::Started(ctx.handle().clone()));
        Ok(Careless {
            setup,
            panic_on_drop: false,
        })
    }

    async fn handle_in(&mut self, message: Message, ctx: &mut Context<Self>) -> Reply {
        let Message::Text(text) = message else {
            return Reply::ok();
        };
        match text.as_str() {
            "long-ping" => match Frame::ping(vec![b'p'; 200]) {
                Ok(frame) => Reply::push(frame),
                Err(error) => Reply::text(format!("refused: {error}"))
                    .and_push(Frame::ping(vec![b'p'; 125]).unwrap()),
            },
            "long-pong" => match Frame::pong(Bytes::from(vec![b'p'; 126])) {
                Ok(frame) => Reply::push(frame),
                Err(error) => Reply::text(format!("refused: {error}")),
            },
            "try-long-close" => match Close::try_new(CloseCode::NORMAL, "r".repeat(200)) {
                Ok(close) => Reply::close(close),
                Err(error) => Reply::text(format!("refused: {error}")),
            },
            "long-close" => Reply::close(Close::new(CloseCode::NORMAL, "é".repeat(100))),
            "after-max" => {
                ctx.send_after(Duration::MAX, Info::Never);
                Reply::text("armed")
            }
            "drop-panics" => Reply::binary(Bytes::from_owner(PanicOnDrop(b"payload".to_vec()))),
            "panic-on-drop" => {
                self.panic_on_drop = true;
                Reply::stop()
            }
            _ => Reply::text(text),
        }
    }

    async fn handle_info(&mut self, info: Info, _ctx: &mut Context<Self>) -> Reply {
        match info {
            Info::Block => {
                let _ = self.setup.events.send(Event::InfoEntered);
                self.setup.gate.acquire().await.unwrap().forget();
                Reply::ok()
            }
            Info::Never => Reply::text("the far future came"),
        }
    }

    async fn terminate(&mut self, reason: TerminateReason, _ctx: &mut Context<Self>) {
        let _ = self
            .setup
            .events
            .send(Event::Terminated(common::describe(&reason)));
    }
}

struct TestServer {
    addr: std::net::SocketAddr,
    handle: ServerHandle,
    events: mpsc::UnboundedReceiver<Event>,
    gate: Arc<Semaphore>,
}

impl TestServer {
    async fn start(config: Config) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        let gate = Arc::new(Semaphore::new(0));
        let setup = Setup {
            events: events_tx,
            gate: gate.clone(),
        };
        let route = WebSocketRoute::<Careless>::with_init(move |_| {
            let setup = setup.clone();
            async move { Ok(setup) }
        })
        .config(config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(Router::new().route("/ws", route));
        let handle = server.handle();
        tokio::spawn(server.serve(listener));
        Self {
            addr,
            handle,
            events,
            gate,
        }
    }

    async fn open(&mut self) -> (Client, Handle<Careless>) {
        let (client, _) = within(tokio_tungstenite::connect_async(format!(
            "ws://{}/ws",
            self.addr
        )))
        .await
        .unwrap();
        match self.next_event().await {
            Event::Started(handle) => (client, handle),
            other => panic!("expected Started, got {other:?}"),
        }
    }

    async fn next_event(&mut self) -> Event {
        within(self.events.recv()).await.expect("server gone")
    }

    /// The terminate reason, then no second one for a while.
    async fn terminated_once(&mut self) -> String {
        let reason = loop {
            if let Event::Terminated(reason) = self.next_event().await {
                break reason;
            }
        };
        let quiet = tokio::time::timeout(Duration::from_millis(300), self.events.recv()).await;
        assert!(
            !matches!(quiet, Ok(Some(Event::Terminated(_)))),
            "terminate ran twice"
        );
        reason
    }

    /// Waits until the server's counters satisfy `ready`.
    async fn metrics_until(
        &self,
        ready: impl Fn(&websock_runtime::Metrics) -> bool,
    ) -> websock_runtime::Metrics {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let metrics = self.handle.metrics();
            if ready(&metrics) || tokio::time::Instant::now() > deadline {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The next message of any kind; a read error (an invalid frame from the server) fails.
async fn next_message(client: &mut Client) -> tungstenite::Message {
    within(client.next())
        .await
        .expect("stream ended")
        .expect("the server sent something invalid")
}

#[tokio::test]
async fn control_frames_too_long_are_refused_where_they_are_built() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open().await;

    send_text(&mut client, "long-ping").await;
    assert_eq!(
        next_message(&mut client).await,
        tungstenite::Message::text(
            "refused: 200 bytes do not fit in a control frame: at most 125 (RFC 6455 §5.5)"
        )
    );
    // The longest valid ping goes through, and the client's reader accepts it.
    match next_message(&mut client).await {
        tungstenite::Message::Ping(payload) => assert_eq!(payload.len(), 125),
        other => panic!("expected the 125-byte ping, got {other:?}"),
    }
    send_text(&mut client, "long-pong").await;
    assert!(
        recv_text(&mut client)
            .await
            .contains("126 bytes do not fit")
    );
    send_text(&mut client, "try-long-close").await;
    assert!(
        recv_text(&mut client)
            .await
            .contains("200 bytes do not fit in a control frame: at most 123")
    );

    // `Close::new` cuts a long reason at a character boundary instead: still a valid frame.
    send_text(&mut client, "long-close").await;
    let (code, reason) = recv_close(&mut client).await;
    assert_eq!((code, reason), (1000, "é".repeat(61)));
    assert_eq!(server.terminated_once().await, "normal");
}

#[tokio::test]
async fn durations_that_overflow_mean_never_and_do_not_panic() {
    let config = Config::default()
        .idle_timeout(Duration::MAX)
        .ping_interval(Duration::MAX)
        .callback_timeout(Duration::MAX)
        .close_timeout(Duration::MAX);
    let mut server = TestServer::start(config).await;
    let (mut client, _) = server.open().await;
    send_text(&mut client, "after-max").await;
    assert_eq!(recv_text(&mut client).await, "armed");
    send_text(&mut client, "still here").await;
    assert_eq!(recv_text(&mut client).await, "still here");
    // A close we start waits up to close_timeout = MAX for the client's close; the client
    // answers at once.
    send_text(&mut client, "long-close").await;
    assert_eq!(recv_close(&mut client).await.0, 1000);
    let _ = within(client.flush()).await;
    assert_eq!(server.terminated_once().await, "normal");
    assert_eq!(server.handle.metrics().panics, 0);

    // A zero ping interval means no pings, rather than a panic in tokio's interval.
    let mut server = TestServer::start(Config::default().ping_interval(Duration::ZERO)).await;
    let (mut client, _) = server.open().await;
    send_text(&mut client, "zero").await;
    assert_eq!(
        next_message(&mut client).await,
        tungstenite::Message::text("zero")
    );
}

#[tokio::test]
async fn a_panic_outside_the_callbacks_closes_1011_and_terminates_once() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open().await;
    // The reply's bytes are written, then their owner panics when the frame is dropped: in
    // the connection's own loop, not inside a callback.
    send_text(&mut client, "drop-panics").await;
    assert_eq!(
        next_message(&mut client).await,
        tungstenite::Message::binary(b"payload".to_vec())
    );
    assert_eq!(
        recv_close(&mut client).await,
        (1011, "internal error".to_owned())
    );
    let _ = within(client.flush()).await;
    assert_eq!(server.terminated_once().await, "error panic");
    let metrics = server.metrics_until(|m| m.panics >= 1).await;
    assert_eq!(metrics.panics, 1);

    // A handler whose own `Drop` panics, after a normal close: counted, and the server serves
    // the next connection.
    let (mut client, _) = server.open().await;
    send_text(&mut client, "panic-on-drop").await;
    assert_eq!(recv_close(&mut client).await.0, 1000);
    let _ = within(client.flush()).await;
    assert_eq!(server.terminated_once().await, "normal");
    let metrics = server.metrics_until(|m| m.panics >= 2).await;
    assert_eq!(metrics.panics, 2);
    let (mut client, _) = server.open().await;
    send_text(&mut client, "alive").await;
    assert_eq!(recv_text(&mut client).await, "alive");
}

#[tokio::test]
async fn handle_close_works_when_the_mailbox_is_full() {
    let mut server = TestServer::start(Config::default().mailbox_capacity(4)).await;
    let (mut client, handle) = server.open().await;
    // One info is being handled (its callback waits at the gate); four more fill the mailbox.
    handle.try_send(Info::Block).ok().unwrap();
    assert!(matches!(server.next_event().await, Event::InfoEntered));
    let mut queued = 0;
    while handle.try_send(Info::Block).is_ok() {
        queued += 1;
    }
    assert_eq!(queued, 4);

    handle
        .close(Close::new(CloseCode::new(4100).unwrap(), "kicked"))
        .expect("a close is accepted while the mailbox is full");
    // Only the callback running now finishes; the close goes ahead of the four queued infos
    // (they would each wait at the gate for a permit that never comes).
    server.gate.add_permits(1);
    assert_eq!(recv_close(&mut client).await, (4100, "kicked".to_owned()));
    // Send the client's answering close, so the server need not wait out its close timeout.
    let _ = within(client.flush()).await;
    assert_eq!(server.terminated_once().await, "normal");
    let metrics = server.metrics_until(|m| m.dropped_infos >= 4).await;
    assert_eq!(metrics.dropped_infos, 4);
    assert!(matches!(
        handle.close(Close::normal()),
        Err(websock_runtime::SendError::Closed(_))
    ));
}
