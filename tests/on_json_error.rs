//! `#[on_json]` payloads that do not deserialize, over a real socket: the `#[on_json_error]`
//! hook receives the serde error; without a hook, the client gets the documented error reply
//! `{"error":"invalid payload",<field>:<tag>,"detail":<serde message>}` and the connection
//! stays open. Never a silent fall-through.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{Client, within};
use tokio_tungstenite::tungstenite::Message as Frame;
use websock::{Context, JsonError, Router, websock_handler, websocket};

#[derive(Deserialize)]
struct Move {
    x: i32,
    y: i32,
}

#[derive(Deserialize)]
struct Command {
    cmd: String,
}

/// A hook for invalid payloads.
struct Hooked;

#[websock_handler]
impl Hooked {
    fn init(_: &mut Context<Self>) -> Self {
        Hooked
    }

    #[on_json(type = "move")]
    fn moved(&mut self, to: Move) -> String {
        format!("moved to {},{}", to.x, to.y)
    }

    #[on_json_error]
    fn invalid(&mut self, error: JsonError, _ctx: &mut Context<Self>) -> String {
        format!(
            "hook: tag={:?} field={:?} line={} detail={}",
            error.tag(),
            error.field(),
            error.error().line(),
            error.error()
        )
    }
}

/// No hook: the default reply.
struct Plain;

#[websock_handler]
impl Plain {
    fn init(_: &mut Context<Self>) -> Self {
        Plain
    }

    #[on_json(kind = "move")]
    fn moved(&mut self, to: Move) -> String {
        format!("moved to {},{}", to.x, to.y)
    }
}

/// Untagged `#[on_json]` and no `#[on_text]` fallback: a text that parses as no method's
/// type would otherwise be ignored.
struct Untagged;

#[websock_handler]
impl Untagged {
    fn init(_: &mut Context<Self>) -> Self {
        Untagged
    }

    #[on_json]
    fn command(&mut self, command: Command) -> String {
        format!("command {}", command.cmd)
    }
}

async fn start() -> std::net::SocketAddr {
    let router = Router::new()
        .route("/hooked", websocket::<Hooked>())
        .route("/plain", websocket::<Plain>())
        .route("/untagged", websocket::<Untagged>());
    support::serve(router).await
}

async fn client(addr: std::net::SocketAddr, path: &str) -> Client {
    let (client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}{path}"
    )))
    .await
    .unwrap();
    client
}

/// Sends `text`, expects a text frame back (the connection must stay open).
async fn ask(client: &mut Client, text: &str) -> String {
    within(client.send(Frame::text(text))).await.unwrap();
    loop {
        match within(client.next()).await {
            Some(Ok(Frame::Text(reply))) => return reply.to_string(),
            Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
            other => panic!("expected a text reply to {text:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_hook_receives_the_serde_error() {
    let addr = start().await;
    let mut client = client(addr, "/hooked").await;
    assert_eq!(
        ask(&mut client, r#"{"type":"move","x":1,"y":2}"#).await,
        "moved to 1,2"
    );
    let reply = ask(&mut client, r#"{"type":"move","x":"left"}"#).await;
    assert!(
        reply.starts_with(r#"hook: tag=Some("move") field=Some("type") line=1 detail=invalid type: string "left", expected i32"#),
        "{reply}"
    );
    let reply = ask(&mut client, r#"{"type":"move","x":1}"#).await;
    assert!(reply.contains("detail=missing field `y`"), "{reply}");
    // The connection is still served.
    assert_eq!(
        ask(&mut client, r#"{"type":"move","x":3,"y":4}"#).await,
        "moved to 3,4"
    );
}

#[tokio::test]
async fn without_a_hook_the_client_gets_the_error_reply() {
    let addr = start().await;
    let mut client = client(addr, "/plain").await;
    let reply: Value =
        serde_json::from_str(&ask(&mut client, r#"{"kind":"move","x":1}"#).await).unwrap();
    assert_eq!(
        reply,
        json!({
            "error": "invalid payload",
            "kind": "move",
            "detail": "missing field `y` at line 1 column 21",
        })
    );
    assert_eq!(
        ask(&mut client, r#"{"kind":"move","x":5,"y":6}"#).await,
        "moved to 5,6"
    );
}

#[tokio::test]
async fn untagged_without_a_fallback_gets_the_error_reply() {
    let addr = start().await;
    let mut client = client(addr, "/untagged").await;
    assert_eq!(ask(&mut client, r#"{"cmd":"go"}"#).await, "command go");
    let reply: Value = serde_json::from_str(&ask(&mut client, r#"{"cmd":7}"#).await).unwrap();
    assert_eq!(reply["error"], "invalid payload");
    assert_eq!(
        reply["detail"], "invalid type: integer `7`, expected a string at line 1 column 8",
        "{reply}"
    );
    assert_eq!(reply.as_object().unwrap().len(), 2, "{reply}");
    let reply: Value = serde_json::from_str(&ask(&mut client, "not json").await).unwrap();
    assert_eq!(reply["error"], "invalid payload");
    assert_eq!(
        ask(&mut client, r#"{"cmd":"again"}"#).await,
        "command again"
    );
}
