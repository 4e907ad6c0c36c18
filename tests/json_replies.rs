//! JSON replies over real sockets: `Json<T>` and `serde_json::Value` returned from a
//! `#[websock_handler]` method, `Reply::json` from a hand-written `Handler`, and `Json<T>` from a
//! channel's `#[on_event]` (also `Value`, `Result<Json<T>, Json<E>>`, `Result<Value, Value>`:
//! the same shapes a handler returns, `Err` an error reply); a value that fails to serialize is an error (1011 for a handler, an
//! error reply for a channel), never a panic.

mod support;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::{collections::BTreeMap, convert::Infallible, net::SocketAddr};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use websock::channels::{AnonymousSocket, socket};
use websock::{
    Close, Context, Handler, Json, Message, Reply, Router, TerminateReason, WebSocketRoute,
    channel, websock_handler, websocket,
};

use support::{Client, connect_v2, next_event, send, serve, within};

#[derive(Serialize)]
struct Cursor {
    x: i32,
    y: i32,
}

type Unserializable = BTreeMap<(i32, i32), &'static str>;

/// Map keys must be strings in JSON: serializing this fails.
fn unserializable() -> Unserializable {
    BTreeMap::from([((1, 2), "a")])
}

struct Cursors {
    ended: mpsc::UnboundedSender<String>,
}

#[websock_handler]
impl Cursors {
    fn init(ended: mpsc::UnboundedSender<String>) -> Self {
        Cursors { ended }
    }

    #[on_text("json")]
    fn json(&mut self) -> Json<Cursor> {
        Json(Cursor { x: 1, y: 2 })
    }

    #[on_text("value")]
    fn value(&mut self) -> Value {
        json!({"kind": "value", "n": 3})
    }

    #[on_text("maybe {yes}")]
    fn maybe(&mut self, yes: bool) -> Option<Json<Cursor>> {
        yes.then_some(Json(Cursor { x: 5, y: 6 }))
    }

    #[on_text("fallible")]
    fn fallible(&mut self) -> Result<Json<Cursor>, String> {
        Ok(Json(Cursor { x: 7, y: 8 }))
    }

    #[on_text("broken")]
    fn broken(&mut self) -> Json<Unserializable> {
        Json(unserializable())
    }

    #[on_terminate]
    fn on_terminate(&mut self, reason: TerminateReason) {
        let reason = match reason {
            TerminateReason::Error(error) => error.message().to_owned(),
            other => format!("{other:?}"),
        };
        self.ended.send(reason).unwrap();
    }
}

/// A hand-written handler answers with `Reply::json`.
struct Manual;

impl Handler for Manual {
    type Init = ();
    type Info = Infallible;

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Manual)
    }

    async fn handle_in(&mut self, message: Message, _ctx: &mut Context<Self>) -> Reply {
        match message {
            Message::Text(text) if text.as_str() == "broken" => Reply::json(&unserializable()),
            _ => Reply::json(&Cursor { x: 9, y: 10 }),
        }
    }
}

struct Room;

#[derive(Serialize)]
struct Problem {
    code: u16,
}

#[derive(Deserialize)]
struct Ask {
    ok: bool,
}

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join() -> Self {
        Room
    }

    #[on_event("cursor")]
    fn cursor(&mut self) -> Json<Cursor> {
        Json(Cursor { x: 3, y: 4 })
    }

    #[on_event("broken")]
    fn broken(&mut self) -> Json<Unserializable> {
        Json(unserializable())
    }

    #[on_event("maybe")]
    fn maybe(&mut self) -> Option<Json<Cursor>> {
        Some(Json(Cursor { x: 5, y: 6 }))
    }

    #[on_event("value")]
    fn value(&mut self) -> Value {
        json!({"kind": "value"})
    }

    #[on_event("fallible")]
    fn fallible(&mut self, ask: Ask) -> Result<Json<Cursor>, Json<Problem>> {
        if ask.ok {
            Ok(Json(Cursor { x: 7, y: 8 }))
        } else {
            Err(Json(Problem { code: 42 }))
        }
    }

    #[on_event("either")]
    async fn either(&mut self, ask: Ask) -> Result<Value, Value> {
        if ask.ok {
            Ok(json!({"done": true}))
        } else {
            Err(json!({"reason": "nope"}))
        }
    }
}

async fn start() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let cursors = WebSocketRoute::<Cursors>::with_init(move |_| {
        let ended = ended_tx.clone();
        async move { Ok(ended) }
    });
    let router = Router::new()
        .route("/cursors", cursors)
        .route("/manual", websocket::<Manual>())
        .route(
            "/socket/websocket",
            socket(AnonymousSocket).channel::<Room>(),
        );
    (serve(router).await, ended)
}

async fn client(addr: SocketAddr, path: &str) -> Client {
    within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}{path}"
    )))
    .await
    .unwrap()
    .0
}

/// The next frame, which must be text holding JSON.
async fn next_json(client: &mut Client) -> Value {
    match within(client.next()).await {
        Some(Ok(WsMessage::Text(text))) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a JSON text frame, got {other:?}"),
    }
}

/// The close code the server ends the connection with.
async fn close_code(client: &mut Client) -> u16 {
    loop {
        match within(client.next()).await {
            Some(Ok(WsMessage::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(WsMessage::Close(None))) | None => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("{error}"),
        }
    }
}

#[tokio::test]
async fn handler_methods_return_json_and_value() {
    let (addr, _ended) = start().await;
    let mut client = client(addr, "/cursors").await;

    send(&mut client, "json").await;
    assert_eq!(next_json(&mut client).await, json!({"x": 1, "y": 2}));
    send(&mut client, "value").await;
    assert_eq!(
        next_json(&mut client).await,
        json!({"kind": "value", "n": 3})
    );
    // `None` pushes nothing: the next frame is the answer to the message after it.
    send(&mut client, "maybe false").await;
    send(&mut client, "maybe true").await;
    assert_eq!(next_json(&mut client).await, json!({"x": 5, "y": 6}));
    send(&mut client, "fallible").await;
    assert_eq!(next_json(&mut client).await, json!({"x": 7, "y": 8}));
}

#[tokio::test]
async fn a_handler_reply_that_fails_to_serialize_closes_with_1011() {
    let (addr, mut ended) = start().await;
    let mut broken = client(addr, "/cursors").await;

    send(&mut broken, "broken").await;
    assert_eq!(close_code(&mut broken).await, 1011);
    let reason = within(ended.recv()).await.unwrap();
    assert!(
        reason.contains("could not serialize the JSON reply") && reason.contains("BTreeMap"),
        "{reason}"
    );

    // Only that connection ends: a new one is answered.
    let mut other = client(addr, "/cursors").await;
    send(&mut other, "json").await;
    assert_eq!(next_json(&mut other).await, json!({"x": 1, "y": 2}));
}

#[tokio::test]
async fn a_hand_written_handler_replies_with_reply_json() {
    let (addr, _ended) = start().await;
    let mut client = client(addr, "/manual").await;

    send(&mut client, "cursor").await;
    assert_eq!(next_json(&mut client).await, json!({"x": 9, "y": 10}));
    send(&mut client, "broken").await;
    assert_eq!(close_code(&mut client).await, 1011);
}

#[tokio::test]
async fn channel_events_return_json_as_an_ok_reply() {
    let (addr, _ended) = start().await;
    let mut client = connect_v2(addr).await;
    send(&mut client, json!(["1", "1", "room:lobby", "phx_join", {}])).await;
    assert_eq!(
        next_event(&mut client, "phx_reply").await[4]["status"],
        "ok"
    );

    send(&mut client, json!(["1", "2", "room:lobby", "cursor", {}])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[1], "2");
    assert_eq!(
        reply[4],
        json!({"status": "ok", "response": {"x": 3, "y": 4}})
    );

    // A serialization failure is an error reply, and the channel goes on.
    send(&mut client, json!(["1", "3", "room:lobby", "broken", {}])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[1], "3");
    assert_eq!(
        reply[4],
        json!({"status": "error", "response": {"reason": "internal error"}})
    );

    send(&mut client, json!(["1", "4", "room:lobby", "maybe", {}])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[1], "4");
    assert_eq!(
        reply[4],
        json!({"status": "ok", "response": {"x": 5, "y": 6}})
    );
}

/// `Value`, and a `Result` whose `Ok` is an ok reply and whose `Err` an error reply, with
/// `Json` or `Value` on either side.
#[tokio::test]
async fn channel_events_return_value_and_results() {
    let (addr, _ended) = start().await;
    let mut client = connect_v2(addr).await;
    send(&mut client, json!(["1", "1", "room:lobby", "phx_join", {}])).await;
    next_event(&mut client, "phx_reply").await;

    let cases = [
        (
            "value",
            json!({}),
            json!({"status": "ok", "response": {"kind": "value"}}),
        ),
        (
            "fallible",
            json!({"ok": true}),
            json!({"status": "ok", "response": {"x": 7, "y": 8}}),
        ),
        (
            "fallible",
            json!({"ok": false}),
            json!({"status": "error", "response": {"code": 42}}),
        ),
        (
            "either",
            json!({"ok": true}),
            json!({"status": "ok", "response": {"done": true}}),
        ),
        (
            "either",
            json!({"ok": false}),
            json!({"status": "error", "response": {"reason": "nope"}}),
        ),
    ];
    for (n, (event, payload, expected)) in cases.into_iter().enumerate() {
        let msg_ref = (n + 10).to_string();
        send(
            &mut client,
            json!(["1", msg_ref, "room:lobby", event, payload]),
        )
        .await;
        let reply = next_event(&mut client, "phx_reply").await;
        assert_eq!(reply[1], msg_ref.as_str());
        assert_eq!(reply[4], expected, "{event} {n}");
    }
}
