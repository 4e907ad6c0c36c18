//! Typed app state for channels over real sockets: the route's socket value, read by
//! `Socket::connect` as `&self` and by `#[channel]` methods as `State<UserSocket>` (join,
//! events, infos, leave), shared by every socket of the route; no type-map, no newtype.

mod support;

use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};
use support::{connect, next_event, send, serve, status_of};
use websock::{
    Router, channel,
    channels::{
        Assigns, ChannelSocket, ConnectInfo, JoinError, LeaveReason, Params, Refused, Socket,
        State, socket,
    },
};

/// The app: what `connect` checks tokens against, what channels count in.
struct UserSocket {
    tokens: HashMap<&'static str, &'static str>,
    motd: &'static str,
    messages: AtomicU64,
    left: Arc<Mutex<Vec<String>>>,
}

impl Socket for UserSocket {
    async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        let token = params.get("token").unwrap_or_default();
        let user = self.tokens.get(token).ok_or(Refused::new("bad token"))?;
        Ok(Assigns::new().with(user.to_string()))
    }
}

struct Lobby {
    user: String,
}

struct Tick;

#[channel("room:lobby")]
impl Lobby {
    #[on_join]
    fn join(
        app: State<UserSocket>,
        socket: &mut ChannelSocket,
    ) -> Result<(Self, Value), JoinError> {
        let user = socket
            .assigns()
            .get::<String>()
            .cloned()
            .unwrap_or_default();
        socket.send_after(std::time::Duration::ZERO, Tick);
        Ok((Lobby { user }, json!({ "motd": app.motd })))
    }

    #[on_event("new_message")]
    fn new_message(&mut self, app: State<UserSocket>) -> Value {
        let n = app.messages.fetch_add(1, Ordering::Relaxed) + 1;
        json!({ "user": self.user, "messages": n })
    }

    #[on_info]
    fn tick(&mut self, _: Tick, app: State<UserSocket>, socket: &mut ChannelSocket) {
        socket.push("motd", json!({ "again": app.motd }));
    }

    #[on_leave]
    fn leave(&mut self, _: LeaveReason, app: State<UserSocket>) {
        app.left.lock().unwrap().push(self.user.clone());
    }
}

#[tokio::test]
async fn connect_and_every_callback_read_the_routes_socket_value() {
    let left = Arc::new(Mutex::new(Vec::new()));
    let app = UserSocket {
        tokens: HashMap::from([("t1", "alice"), ("t2", "bob")]),
        motd: "welcome",
        messages: AtomicU64::new(0),
        left: left.clone(),
    };
    let route = socket(app).channel::<Lobby>();
    let addr = serve(Router::new().route("/socket/websocket", route)).await;

    assert_eq!(status_of(addr, "?vsn=2.0.0&token=nope").await, 403);
    let mut alice = connect(addr, "?vsn=2.0.0&token=t1").await;
    let mut bob = connect(addr, "?vsn=2.0.0&token=t2").await;
    for client in [&mut alice, &mut bob] {
        send(client, json!(["1", "1", "room:lobby", "phx_join", {}])).await;
        let reply = next_event(client, "phx_reply").await;
        assert_eq!(
            reply[4],
            json!({"status": "ok", "response": {"motd": "welcome"}})
        );
        assert_eq!(
            next_event(client, "motd").await[4],
            json!({"again": "welcome"})
        );
    }

    // One value for every socket of the route.
    send(
        &mut alice,
        json!(["1", "2", "room:lobby", "new_message", {}]),
    )
    .await;
    let reply = next_event(&mut alice, "phx_reply").await;
    assert_eq!(
        reply[4]["response"],
        json!({"user": "alice", "messages": 1})
    );
    send(&mut bob, json!(["1", "2", "room:lobby", "new_message", {}])).await;
    let reply = next_event(&mut bob, "phx_reply").await;
    assert_eq!(reply[4]["response"], json!({"user": "bob", "messages": 2}));

    send(&mut bob, json!(["1", "3", "room:lobby", "phx_leave", {}])).await;
    next_event(&mut bob, "phx_close").await;
    assert_eq!(*left.lock().unwrap(), ["bob"]);
}
