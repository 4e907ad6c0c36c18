//! Every helper attribute in one impl, sync and async methods, every parameter order.
#![deny(warnings, unused_qualifications, missing_docs, unreachable_pub)]
#![allow(dead_code)]

use serde::Deserialize;
use std::time::Duration;
use websock::{
    Bytes, Close, CloseCode, Context, Handler, PathParams, PeerClose, Reply, Router,
    TerminateReason, Utf8Bytes, websock_handler, websocket,
};

struct Chat {
    room: Option<u32>,
}

struct Alert;
struct Broadcast(String);

#[derive(Deserialize)]
struct NewMessage {
    body: String,
}

#[derive(Deserialize)]
struct Command {
    command: String,
}

#[websock_handler]
impl Chat {
    #[init]
    async fn open(params: PathParams, ctx: &mut Context<Self>) -> Result<Self, Close> {
        ctx.send_after(Duration::from_secs(1), Alert);
        let _ = ctx.handle().try_send(Broadcast("hi".to_owned()));
        match params.get("room") {
            Some("closed") => Err(Close::new(CloseCode::POLICY_VIOLATION, "closed")),
            room => Ok(Chat {
                room: room.and_then(|room| room.parse().ok()),
            }),
        }
    }

    #[on_text("ping")]
    fn ping(&mut self) -> &'static str {
        "pong"
    }

    #[on_text("whoami")]
    async fn whoami(&mut self, ctx: &mut Context<Self>) -> String {
        ctx.path().to_owned()
    }

    #[on_text("join {room}")]
    async fn join(&mut self, room: u32, ctx: &mut Context<Self>) -> Reply {
        self.room = Some(room);
        ctx.push(format!("joined {room}"));
        Reply::ok()
    }

    #[on_text("move {from}->{to}")]
    fn mv(&mut self, to: &str, from: u32) -> String {
        format!("{from} to {to}")
    }

    #[on_json(type = "new_message")]
    fn new_message(&mut self, message: NewMessage) -> Option<String> {
        Some(message.body)
    }

    #[on_json(type = "leave")]
    fn leave(&mut self) -> Reply {
        Reply::stop()
    }

    #[on_json]
    async fn command(&mut self, command: Command) -> Result<(), String> {
        Err(command.command)
    }

    #[on_text]
    fn other(&mut self, ctx: &mut Context<Self>, text: Utf8Bytes) -> Utf8Bytes {
        let _ = ctx;
        text
    }

    #[on_binary(prefix = b"\x01")]
    fn one(&mut self, data: Bytes) -> Bytes {
        data
    }

    #[on_binary(prefix = b"\x01\x02")]
    fn one_two(&mut self, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }

    #[on_binary]
    fn binary(&mut self, _data: Vec<u8>) {}

    #[on_info]
    fn alert(&mut self, _: Alert, ctx: &mut Context<Self>) -> String {
        ctx.send_after(Duration::from_secs(1), Alert);
        "alert".to_owned()
    }

    #[on_info]
    async fn broadcast(&mut self, ctx: &mut Context<Self>, message: Broadcast) -> String {
        let _ = ctx;
        message.0
    }

    #[on_ping]
    fn on_ping(&mut self, payload: &[u8]) {
        let _ = payload;
    }

    #[on_pong]
    async fn on_pong(&mut self, payload: Bytes, ctx: &mut Context<Self>) {
        let _ = (payload, ctx);
    }

    #[on_close]
    fn closed(&mut self, close: Option<PeerClose>) {
        let _ = close;
    }

    #[on_terminate]
    async fn terminated(&mut self, reason: TerminateReason, ctx: &mut Context<Self>) {
        let _ = (reason, ctx);
    }

    /// Not annotated: an ordinary method.
    fn room(&self) -> Option<u32> {
        self.room
    }
}

fn assert_handler<H: Handler<Init = PathParams>>() {}

fn main() {
    assert_handler::<Chat>();
    let _router = Router::new().route("/chat/{room}", websocket::<Chat>());
    let _ = Chat { room: None }.room();
}
