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
//! | `whoami` | replies `{"user_id": .., "token": <the authToken, if any>}` |
//! | `no_reply` | does not reply (the client's push times out) |
//!
//! The socket is at `/socket` (phoenix.js appends `/websocket`); `connect` accepts any params.
//! Environment: `WEBSOCK_ADDR` (default `127.0.0.1:4000`) is the listen address; the example
//! prints `listening on <addr>` with the bound address. Ctrl-C or SIGTERM stops it gracefully
//! (clients get 1012 and reconnect).

use serde::Deserialize;
use serde_json::json;
use websock::{
    Router, channel,
    channels::{
        Assigns, Binary, ChannelReply, ChannelSocket, ConnectInfo, JoinError, Params, Refused,
        Socket, SocketRoute, socket,
    },
};

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
        socket.track(&params.user_id, json!({ "online_at": unix_time() }));
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

    #[on_event("whoami")]
    fn whoami(&mut self, socket: &mut ChannelSocket) -> serde_json::Value {
        let token = socket.assigns().get::<Token>().and_then(|t| t.0.clone());
        json!({ "user_id": self.user_id, "token": token })
    }

    #[on_event("no_reply")]
    fn no_reply(&mut self) {}
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The socket endpoint: keep a clone to broadcast from elsewhere or to read its metrics.
pub fn socket_route() -> SocketRoute<UserSocket> {
    socket(UserSocket).channel::<Room>()
}

/// The example's routes; a page at `/` or a Redis pubsub plug in here.
pub fn router(route: SocketRoute<UserSocket>) -> Router {
    Router::new().route("/socket/websocket", route)
}

#[allow(dead_code)] // unused when the tests include this file as a module
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("WEBSOCK_ADDR").unwrap_or_else(|_| "127.0.0.1:4000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!("chat listening on {local} (phoenix.js: new Socket(\"ws://{local}/socket\"))");
    websock::serve(listener, router(socket_route())).await?;
    Ok(())
}
