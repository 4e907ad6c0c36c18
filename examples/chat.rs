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
    Router,
    channels::{
        Assigns, Channel, ChannelSocket, ConnectInfo, JoinError, Params, Payload, Refused, Reply,
        Socket, SocketRoute, Topic, socket,
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

#[derive(Deserialize)]
struct JoinParams {
    #[serde(default)]
    user_id: String,
}

#[derive(Deserialize)]
struct NewMsg {
    body: serde_json::Value,
}

impl Channel for Room {
    const TOPIC: &'static str = "room:{name}";
    type Info = ();

    async fn join(
        topic: Topic,
        params: Payload,
        socket: &mut ChannelSocket,
    ) -> Result<(Self, Payload), JoinError> {
        if topic.get("name") == Some("secret") {
            return Err(JoinError::reason("unauthorized"));
        }
        let params: JoinParams = params
            .parse()
            .map_err(|_| JoinError::reason("user_id must be a string"))?;
        socket.track(&params.user_id, json!({ "online_at": unix_time() }));
        socket.push_presence_state();
        Ok((
            Room {
                user_id: params.user_id,
            },
            Payload::empty(),
        ))
    }

    async fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket,
    ) -> Reply {
        match event {
            "new_msg" => match payload.parse::<NewMsg>() {
                Ok(msg) => {
                    socket.broadcast(
                        "new_msg",
                        json!({ "body": msg.body, "user_id": self.user_id }),
                    );
                    Reply::ok(Payload::empty())
                }
                Err(error) => Reply::error(Payload::reason(error)),
            },
            "binary" => {
                socket.broadcast("binary", payload.clone());
                Reply::ok(payload)
            }
            "whoami" => {
                let token = socket.assigns().get::<Token>().and_then(|t| t.0.clone());
                Reply::ok(json!({ "user_id": self.user_id, "token": token }))
            }
            "no_reply" => Reply::none(),
            _ => Reply::error(Payload::reason("unknown event")),
        }
    }
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
