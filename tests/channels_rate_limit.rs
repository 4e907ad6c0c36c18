//! `#[rate_limit]` on channel events over real sockets, counted in this process: per key
//! (the user, across the user's sockets and rooms) and per event, in a fixed window that
//! starts with the key's first hit; the check runs before the payload is decoded, refused
//! attempts count, and the limit and window may be values computed at run time.

mod support;

use serde::Deserialize;
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use websock::channels::{
    Assigns, ChannelReply, ChannelSocket, ConnectInfo, JoinError, Params, Refused, Socket, socket,
};
use websock::{Json, RateLimiter, Router, channel};

use support::{Client, connect, next_event, send, serve};

struct UserSocket;

struct UserId(String);

impl Socket for UserSocket {
    async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        let user = params.get("user").ok_or(Refused::new("no user"))?;
        Ok(Assigns::new().with(UserId(user.to_owned())))
    }

    fn id(&self, assigns: &Assigns) -> Option<String> {
        assigns
            .get::<UserId>()
            .map(|u| format!("user_socket:{}", u.0))
    }
}

struct Room {
    user: String,
    limit: u64,
    window: Duration,
    handled: u64,
}

#[derive(Deserialize)]
struct JoinParams {
    limit: Option<u64>,
    window_ms: Option<u64>,
}

#[derive(Deserialize)]
struct NewMessage {
    body: String,
}

#[channel("room:*")]
impl Room {
    #[on_join]
    fn join(params: JoinParams, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let user = socket
            .assigns()
            .get::<UserId>()
            .ok_or(JoinError::reason("unauthorized"))?;
        Ok(Room {
            user: user.0.clone(),
            limit: params.limit.unwrap_or(2),
            window: Duration::from_millis(params.window_ms.unwrap_or(60_000)),
            handled: 0,
        })
    }

    /// The seed's "30 messages per minute per user", in one line.
    #[on_event("new_message")]
    #[rate_limit(30, per = Duration::from_secs(60), key = self.user)]
    fn new_message(&mut self, message: NewMessage) -> Json<Value> {
        self.handled += 1;
        Json(json!({"handled": self.handled, "body": message.body}))
    }

    /// Limit and window read at run time, and a reply of its own.
    #[on_event("ping")]
    #[rate_limit(self.limit, per = self.window, key = self.user, reply = ChannelReply::error(json!({"reason": "slow_down"})))]
    async fn ping(&mut self) -> Json<Value> {
        self.handled += 1;
        Json(json!({"handled": self.handled}))
    }

    /// No key: the socket's id (`user_socket:<user>`).
    #[on_event("once")]
    #[rate_limit(1, per = Duration::from_secs(60))]
    fn once(&mut self) -> Value {
        json!({})
    }
}

async fn start() -> (SocketAddr, RateLimiter) {
    let limiter = RateLimiter::in_memory();
    let route = socket(UserSocket)
        .rate_limiter(limiter.clone())
        .channel::<Room>();
    let addr = serve(Router::new().route("/socket/websocket", route)).await;
    (addr, limiter)
}

/// A V2 client of `user`, joined to `topic` with `params`.
async fn joined(addr: SocketAddr, user: &str, topic: &str, params: Value) -> Client {
    let mut client = connect(addr, &format!("?vsn=2.0.0&user={user}")).await;
    send(&mut client, json!(["1", "1", topic, "phx_join", params])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    client
}

/// Pushes `event` and returns the reply's `{status, response}`.
async fn push(client: &mut Client, topic: &str, event: &str, payload: Value) -> Value {
    send(client, json!(["1", "9", topic, event, payload])).await;
    next_event(client, "phx_reply").await[4].clone()
}

fn rate_limited() -> Value {
    json!({"status": "error", "response": {"reason": "rate_limited"}})
}

#[tokio::test]
async fn the_31st_message_of_a_user_is_refused_across_sockets_and_rooms() {
    let (addr, limiter) = start().await;
    let mut a = joined(addr, "alice", "room:a", json!({})).await;
    let mut b = joined(addr, "alice", "room:b", json!({})).await;
    let mut bob = joined(addr, "bob", "room:a", json!({})).await;

    for n in 1..=20 {
        let reply = push(&mut a, "room:a", "new_message", json!({"body": "hi"})).await;
        assert_eq!(reply["response"]["handled"], n, "{reply}");
    }
    for n in 1..=10 {
        let reply = push(&mut b, "room:b", "new_message", json!({"body": "hi"})).await;
        assert_eq!(reply["response"]["handled"], n, "{reply}");
    }
    assert_eq!(
        push(&mut a, "room:a", "new_message", json!({"body": "31st"})).await,
        rate_limited()
    );
    // Checked before the payload is decoded: a malformed one is refused the same way.
    assert_eq!(
        push(&mut b, "room:b", "new_message", json!({"no_body": 1})).await,
        rate_limited()
    );
    // Another user has a count of their own, and so has another event.
    let reply = push(&mut bob, "room:a", "new_message", json!({"body": "hi"})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    let reply = push(&mut a, "room:a", "ping", json!({})).await;
    assert_eq!(reply["status"], "ok", "{reply}");
    assert_eq!(limiter.refused(), 2);
}

#[tokio::test]
async fn the_window_starts_with_the_first_hit_and_every_attempt_counts() {
    let (addr, _) = start().await;
    let params = json!({"limit": 2, "window_ms": 2000});
    let mut a = joined(addr, "carol", "room:w", params).await;

    assert_eq!(
        push(&mut a, "room:w", "ping", json!({})).await["response"]["handled"],
        1
    );
    assert_eq!(
        push(&mut a, "room:w", "ping", json!({})).await["response"]["handled"],
        2
    );
    let slow_down = json!({"status": "error", "response": {"reason": "slow_down"}});
    assert_eq!(push(&mut a, "room:w", "ping", json!({})).await, slow_down);
    assert_eq!(push(&mut a, "room:w", "ping", json!({})).await, slow_down);

    // The window (2 s from the first ping) ends: a new one starts, and the method was not
    // called for the refused attempts.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        push(&mut a, "room:w", "ping", json!({})).await["response"]["handled"],
        3
    );
}

#[tokio::test]
async fn without_a_key_the_limit_is_the_socket_ids() {
    let (addr, _) = start().await;
    let mut one = joined(addr, "dave", "room:k", json!({})).await;
    let mut two = joined(addr, "dave", "room:k", json!({})).await;
    let mut erin = joined(addr, "erin", "room:k", json!({})).await;

    assert_eq!(
        push(&mut one, "room:k", "once", json!({})).await["status"],
        "ok"
    );
    assert_eq!(
        push(&mut two, "room:k", "once", json!({})).await,
        rate_limited()
    );
    assert_eq!(
        push(&mut erin, "room:k", "once", json!({})).await["status"],
        "ok"
    );
}
