//! Channels through the in-process test helpers: every protocol rule, limit and callback, no TCP.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use websock::channel;
use websock::channels::{
    AnonymousSocket, Assigns, Binary, ChannelReply, ChannelSocket, ConnectInfo, JoinError,
    LeaveReason, Params, RateLimit, Refused, Socket, SocketRoute, socket, testing::TestSocket,
};

struct Room {
    user: String,
}

#[derive(Deserialize)]
struct JoinParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    crash: bool,
}

struct Ping(u32);

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(
        id: String,
        params: JoinParams,
        socket: &mut ChannelSocket,
    ) -> Result<(Self, Value), JoinError> {
        if id == "secret" {
            return Err(JoinError::reason("unauthorized"));
        }
        assert!(!params.crash, "join crash requested");
        socket
            .track(&params.user, json!({"status": "here"}))
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok((Room { user: params.user }, json!({"room": id})))
    }

    #[on_event("new_msg")]
    fn new_msg(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        socket.broadcast("new_msg", json!({"body": msg["body"], "user": self.user}));
        ChannelReply::ok(json!({}))
    }

    #[on_event("shout")]
    fn shout(&mut self, msg: Value, socket: &mut ChannelSocket) {
        socket.broadcast_from("shout", msg);
    }

    #[on_event("status")]
    fn status(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        let updated = socket.update(&self.user, json!({"status": msg["status"]}));
        ChannelReply::ok(json!({ "updated": updated }))
    }

    #[on_event("crash")]
    fn crash(&mut self) -> ChannelReply {
        panic!("crash requested")
    }

    #[on_event("bytes")]
    fn bytes(&mut self, data: Binary, socket: &mut ChannelSocket) -> ChannelReply {
        socket.push("bytes_push", data.clone());
        ChannelReply::ok(data)
    }

    #[on_event("ping_me")]
    fn ping_me(&mut self, socket: &mut ChannelSocket) {
        socket.handle().send(Ping(7)).unwrap();
        socket.send_after(Duration::from_millis(10), Ping(8));
    }

    #[on_event("stop")]
    fn stop(&mut self) -> ChannelReply {
        ChannelReply::ok(json!({"bye": true})).then_stop()
    }

    #[on_info]
    fn ping(&mut self, ping: Ping, socket: &mut ChannelSocket) {
        socket.push("pong", json!({"n": ping.0}));
    }

    #[on_out("secret_news")]
    fn out(&mut self, payload: Value, socket: &mut ChannelSocket) {
        socket.push(
            "secret_news",
            json!({"for": self.user, "news": payload["news"]}),
        );
    }

    #[on_leave]
    fn leave(&mut self, reason: LeaveReason, socket: &mut ChannelSocket) {
        socket.broadcast(
            "left",
            json!({"user": self.user, "reason": format!("{reason:?}")}),
        );
    }
}

fn route() -> SocketRoute<AnonymousSocket> {
    socket(AnonymousSocket).channel::<Room>()
}

async fn client(route: &SocketRoute<AnonymousSocket>) -> TestSocket {
    TestSocket::connect(route, [("x", "y")]).await.unwrap()
}

#[tokio::test]
async fn join_reply_then_presence_state() {
    let route = route();
    let mut c = client(&route).await;
    let response = c.join("room:1", json!({"user": "alice"})).await.unwrap();
    assert_eq!(response, json!({"room": "1"}));
    let state = c.assert_push("room:1", "presence_state").await;
    let state = state.as_json().unwrap();
    assert_eq!(state["alice"]["metas"][0]["status"], json!("here"));
    assert!(state["alice"]["metas"][0]["phx_ref"].is_string());
}

#[tokio::test]
async fn refused_unmatched_and_crashed_joins() {
    let route = route();
    let mut c = client(&route).await;
    assert_eq!(
        c.join("room:secret", json!({})).await,
        Err(json!({"reason": "unauthorized"}))
    );
    assert_eq!(
        c.join("lobby", json!({})).await,
        Err(json!({"reason": "unmatched topic"}))
    );
    assert_eq!(
        c.join("room:1", json!({"crash": true})).await,
        Err(json!({"reason": "join crashed"}))
    );
    assert_eq!(
        c.join("room:1", json!({"user": 5})).await.unwrap_err()["reason"]
            .as_str()
            .map(|r| r.starts_with("invalid payload")),
        Some(true)
    );
    // The socket lives on.
    c.heartbeat().await;
    assert!(c.join("room:1", json!({"user": "a"})).await.is_ok());
    let m = route.metrics();
    assert_eq!(
        (m.refused_joins, m.crashes, m.joins, m.channels),
        (4, 1, 1, 1)
    );
}

#[tokio::test]
async fn unmatched_topic_for_a_message_has_a_null_join_ref() {
    let route = route();
    let mut c = client(&route).await;
    c.send_json(Some("9"), Some("10"), "room:zzz", "new_msg", json!({}));
    let reply = c.next().await;
    assert_eq!(reply.join_ref, None);
    assert_eq!(reply.msg_ref.as_deref(), Some("10"));
    assert_eq!(reply.status.as_deref(), Some("error"));
    assert_eq!(reply.json(), json!({"reason": "unmatched topic"}));
}

#[tokio::test]
async fn push_reply_and_broadcast_to_every_socket() {
    let route = route();
    let mut a = client(&route).await;
    let mut b = client(&route).await;
    a.join("room:1", json!({"user": "alice"})).await.unwrap();
    b.join("room:1", json!({"user": "bob"})).await.unwrap();
    let push = a.push("room:1", "new_msg", json!({"body": "hi"}));
    assert_eq!(a.assert_reply(&push, "ok").await, json!({}));
    let expected = json!({"body": "hi", "user": "alice"});
    assert_eq!(
        a.assert_broadcast("room:1", "new_msg").await.as_json(),
        Some(&expected)
    );
    assert_eq!(
        b.assert_broadcast("room:1", "new_msg").await.as_json(),
        Some(&expected)
    );
    // broadcast_from skips the sender.
    a.push("room:1", "shout", json!({"x": 1}));
    assert_eq!(
        b.assert_broadcast("room:1", "shout").await.as_json(),
        Some(&json!({"x": 1}))
    );
    a.refute_event("room:1", "shout", Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn invalid_payload_and_unhandled_event_get_error_replies() {
    let route = route();
    let mut c = client(&route).await;
    c.join("room:1", json!({"user": "a"})).await.unwrap();
    let push = c.push("room:1", "bytes", json!({"not": "bytes"}));
    let error = c.assert_reply(&push, "error").await;
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid payload"),
        "{error}"
    );
    let push = c.push("room:1", "nope", json!({}));
    assert_eq!(
        c.assert_reply(&push, "error").await,
        json!({"reason": "unhandled event"})
    );
}

#[tokio::test]
async fn a_crashed_channel_errors_alone() {
    let route = route();
    let mut c = client(&route).await;
    c.join("room:1", json!({"user": "a"})).await.unwrap();
    c.join("room:2", json!({"user": "a"})).await.unwrap();
    c.push("room:1", "crash", json!({}));
    let error = c.assert_event("room:1", "phx_error").await;
    assert_eq!(error.json(), json!({"reason": "channel_crash"}));
    assert_eq!(error.join_ref, error.msg_ref);
    // The other channel and the socket live on; the crashed topic is gone.
    let push = c.push("room:2", "new_msg", json!({"body": "still here"}));
    c.assert_reply(&push, "ok").await;
    let push = c.push("room:1", "new_msg", json!({"body": "?"}));
    assert_eq!(
        c.assert_reply(&push, "error").await,
        json!({"reason": "unmatched topic"})
    );
    // Its presence was untracked.
    assert_eq!(route.presence().list("room:1"), json!({}));
}

#[tokio::test]
async fn leave_replies_then_closes_and_stale_or_unjoined_leaves() {
    let route = route();
    let mut observer = client(&route).await;
    observer
        .join("room:1", json!({"user": "obs"}))
        .await
        .unwrap();
    let mut c = client(&route).await;
    c.join("room:1", json!({"user": "a"})).await.unwrap();
    // A stale join_ref: ignored.
    c.send_json(Some("stale"), Some("77"), "room:1", "phx_leave", json!({}));
    assert_eq!(c.leave("room:1").await, "ok");
    let close = c.assert_event("room:1", "phx_close").await;
    assert_eq!(close.join_ref.as_deref(), Some("1"));
    // No reply to the stale leave (ref 77) ever comes.
    c.refute_event("room:1", "phx_reply", Duration::from_millis(100))
        .await;
    // terminate ran (on_leave) and presence left.
    let left = observer.assert_broadcast("room:1", "left").await;
    assert_eq!(left.as_json().unwrap()["reason"], json!("Leave"));
    // The diffs of obs's and a's joins come first; then a's leave.
    loop {
        let diff = observer.assert_broadcast("room:1", "presence_diff").await;
        if diff.as_json().unwrap()["leaves"].get("a").is_some() {
            break;
        }
    }
    // Leaving a topic not joined still replies ok.
    assert_eq!(c.leave("room:9").await, "ok");
}

#[tokio::test]
async fn duplicate_join_replies_first_then_closes_the_old_join_ref() {
    let route = route();
    let mut c = client(&route).await;
    c.send_json(
        Some("1"),
        Some("1"),
        "room:1",
        "phx_join",
        json!({"user": "a"}),
    );
    assert_eq!(c.next().await.status.as_deref(), Some("ok"));
    assert_eq!(c.next().await.event, "presence_state");
    c.send_json(
        Some("2"),
        Some("2"),
        "room:1",
        "phx_join",
        json!({"user": "a"}),
    );
    let mut frames = Vec::new();
    for _ in 0..4 {
        let f = c.next().await;
        frames.push((f.join_ref.clone(), f.msg_ref.clone(), f.event.clone()));
    }
    let reply = frames
        .iter()
        .position(|f| f.2 == "phx_reply" && f.1.as_deref() == Some("2"))
        .unwrap();
    let close = frames.iter().position(|f| f.2 == "phx_close").unwrap();
    assert!(reply < close, "{frames:?}");
    assert_eq!(frames[close].0.as_deref(), Some("1"));
    assert_eq!(frames[close].1.as_deref(), Some("1"));
}

#[tokio::test]
async fn presence_update_has_phx_ref_prev_and_socket_close_leaves() {
    let route = route();
    let mut a = client(&route).await;
    let mut b = client(&route).await;
    a.join("room:p", json!({"user": "alice"})).await.unwrap();
    b.join("room:p", json!({"user": "bob"})).await.unwrap();
    let state = b.assert_push("room:p", "presence_state").await;
    let old_ref = state.as_json().unwrap()["bob"]["metas"][0]["phx_ref"].clone();
    let push = b.push("room:p", "status", json!({"status": "away"}));
    b.assert_reply(&push, "ok").await;
    loop {
        let diff = a.assert_broadcast("room:p", "presence_diff").await;
        let diff = diff.as_json().unwrap().clone();
        if diff["joins"]["bob"]["metas"][0]["status"] == json!("away") {
            assert_eq!(diff["joins"]["bob"]["metas"][0]["phx_ref_prev"], old_ref);
            assert_eq!(diff["leaves"]["bob"]["metas"][0]["phx_ref"], old_ref);
            break;
        }
    }
    b.close();
    loop {
        let diff = a.assert_broadcast("room:p", "presence_diff").await;
        if diff.as_json().unwrap()["leaves"].get("bob").is_some() {
            break;
        }
    }
    assert_eq!(route.presence().keys("room:p"), vec!["alice".to_owned()]);
}

#[tokio::test]
async fn binary_payloads_reply_and_push_as_binary() {
    let route = route();
    let mut c = client(&route).await;
    c.join("room:1", json!({"user": "a"})).await.unwrap();
    let push = c.push_binary("room:1", "bytes", &[0, 1, 255]);
    let push_frame = c.assert_push("room:1", "bytes_push").await;
    assert_eq!(
        push_frame.as_binary().map(|b| b.to_vec()),
        Some(vec![0, 1, 255])
    );
    let reply = c.assert_reply_any(&push).await;
    assert_eq!(reply.status.as_deref(), Some("ok"));
    assert_eq!(
        reply.payload.as_binary().map(|b| b.to_vec()),
        Some(vec![0, 1, 255])
    );
    route
        .pubsub()
        .broadcast("room:1", "blob", vec![9u8, 8])
        .await
        .unwrap();
    let cast = c.assert_broadcast("room:1", "blob").await;
    assert_eq!(cast.as_binary().map(|b| b.to_vec()), Some(vec![9, 8]));
}

#[tokio::test]
async fn infos_timers_intercepts_and_stop() {
    let route = route();
    let mut c = client(&route).await;
    c.join("room:1", json!({"user": "a"})).await.unwrap();
    c.push("room:1", "ping_me", json!({}));
    assert_eq!(
        c.assert_push("room:1", "pong").await.as_json(),
        Some(&json!({"n": 7}))
    );
    assert_eq!(
        c.assert_push("room:1", "pong").await.as_json(),
        Some(&json!({"n": 8}))
    );
    // An intercepted broadcast goes through #[on_out] and is pushed per socket.
    route
        .pubsub()
        .broadcast("room:1", "secret_news", json!({"news": "n"}))
        .await
        .unwrap();
    let news = c.assert_push("room:1", "secret_news").await;
    assert_eq!(news.as_json(), Some(&json!({"for": "a", "news": "n"})));
    // Stop: the reply, then phx_close.
    let push = c.push("room:1", "stop", json!({}));
    assert_eq!(c.assert_reply(&push, "ok").await, json!({"bye": true}));
    c.assert_event("room:1", "phx_close").await;
}

#[tokio::test]
async fn too_many_channels() {
    let route = route().max_channels(2);
    let mut c = client(&route).await;
    c.join("room:1", json!({})).await.unwrap();
    c.join("room:2", json!({})).await.unwrap();
    assert_eq!(
        c.join("room:3", json!({})).await,
        Err(json!({"reason": "too many channels joined"}))
    );
}

#[tokio::test]
async fn payload_limit() {
    let route = route().max_payload(200);
    let mut c = client(&route).await;
    c.join("room:1", json!({})).await.unwrap();
    let push = c.push("room:1", "new_msg", json!({"body": "x".repeat(300)}));
    assert_eq!(
        c.assert_reply(&push, "error").await,
        json!({"reason": "payload too large"})
    );
    let push = c.push("room:1", "new_msg", json!({"body": "small"}));
    c.assert_reply(&push, "ok").await;
}

#[tokio::test]
async fn rate_limit_replies_then_closes_on_sustained_abuse() {
    let route = route().rate_limit(RateLimit::new(1, 3).close_after(5));
    let mut c = client(&route).await;
    c.join("room:1", json!({})).await.unwrap(); // 1 token
    let ok1 = c.push("room:1", "new_msg", json!({"body": 1}));
    let ok2 = c.push("room:1", "new_msg", json!({"body": 2}));
    let limited = c.push("room:1", "new_msg", json!({"body": 3}));
    c.assert_reply(&ok1, "ok").await;
    c.assert_reply(&ok2, "ok").await;
    assert_eq!(
        c.assert_reply(&limited, "error").await,
        json!({"reason": "rate_limited"})
    );
    // Heartbeats are not limited.
    c.heartbeat().await;
    for _ in 0..5 {
        c.push("room:1", "new_msg", json!({}));
    }
    let close = c.assert_closed().await;
    assert_eq!(close.code().as_u16(), 1008);
    assert!(route.metrics().rate_limited >= 5);
}

struct UserSocket;

struct UserId(String);

impl Socket for UserSocket {
    async fn connect(&self, params: &Params, info: &ConnectInfo) -> Result<Assigns, Refused> {
        let user = params
            .get("user")
            .or(info.auth_token())
            .ok_or(Refused::new("no user"))?;
        Ok(Assigns::new().with(UserId(user.to_owned())))
    }

    fn id(&self, assigns: &Assigns) -> Option<String> {
        assigns
            .get::<UserId>()
            .map(|u| format!("user_socket:{}", u.0))
    }
}

#[tokio::test]
async fn connect_refusal_and_disconnect_by_socket_id() {
    let route = socket(UserSocket).channel::<Room>();
    assert!(
        TestSocket::connect(&route, [("nobody", "1")])
            .await
            .is_err()
    );
    let mut one = TestSocket::connect(&route, [("user", "42")]).await.unwrap();
    let mut two = TestSocket::connect_with(
        &route,
        Params::default(),
        ConnectInfo::new(Some("42".into())),
    )
    .await
    .unwrap();
    let mut other = TestSocket::connect(&route, [("user", "7")]).await.unwrap();
    one.join("room:1", json!({"user": "u42"})).await.unwrap();
    route.disconnect("user_socket:42").await.unwrap();
    assert_eq!(one.assert_closed().await.code().as_u16(), 1001);
    assert_eq!(two.assert_closed().await.code().as_u16(), 1001);
    other.heartbeat().await;
    assert_eq!(route.metrics().refused_connects, 1);
}

#[tokio::test]
async fn broadcast_from_outside_and_subscriptions() {
    let route = route();
    let mut sub = route.pubsub().subscribe("room:z");
    let mut c = client(&route).await;
    c.join("room:z", json!({"user": "a"})).await.unwrap();
    let push = c.push("room:z", "new_msg", json!({"body": "b"}));
    c.assert_reply(&push, "ok").await;
    let got = loop {
        let got = tokio::time::timeout(Duration::from_secs(1), sub.recv())
            .await
            .unwrap()
            .unwrap();
        if got.event() == "new_msg" {
            break got;
        }
    };
    assert_eq!(got.payload().as_json().unwrap()["body"], json!("b"));
    let m = route.metrics();
    assert!(m.messages_in >= 2 && m.messages_out >= 3, "{m:?}");
}
