//! Channels hardening (issue 11) over real sockets with tokio-tungstenite: the limits are
//! checked before a frame's JSON is decoded, fields the binary layout cannot carry are refused,
//! `track` twice is `already_tracked`, a full mailbox never loses a broadcast silently, and
//! `send_after` timers end with their channel.
//!
//! The tests run on the current-thread runtime on purpose: a loop of broadcasts that never
//! yields fills a socket's mailbox before its task can drain it, which is what a burst does
//! on a busy server.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    time::Duration,
};
use support::{Client, connect_v2, send, within};
use tokio_tungstenite::tungstenite::{Message, protocol::CloseFrame};
use websock::channel;
use websock::channels::{
    AnonymousSocket, ChannelReply, ChannelSocket, JoinError, Payload, RateLimit, SocketRoute,
    socket,
};
use websock::{Config, Router};

/// A channel with one event per thing to prove.
struct Hard;

/// A `send_after` info: pushed back as `tick`.
struct Tag(String);

fn key_list(msg: &Value) -> Vec<String> {
    let prefix = msg["prefix"].as_str().unwrap_or("k");
    let n = msg["n"].as_u64().unwrap_or(0);
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[channel("hard:*")]
impl Hard {
    #[on_join]
    async fn join(params: Value, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        if let Some(ms) = params["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(user) = params["user"].as_str() {
            socket
                .track(user, json!({"online": true}))
                .map_err(JoinError::reason)?;
            socket.push_presence_state();
        }
        Ok(Hard)
    }

    #[on_event("track")]
    fn track(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        let key = msg["key"].as_str().unwrap_or("k");
        match socket.track(key, json!({"n": msg["n"]})) {
            Ok(()) => ChannelReply::ok(json!({})),
            Err(error) => ChannelReply::error(Payload::reason(error)),
        }
    }

    #[on_event("track_many")]
    fn track_many(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        for key in key_list(&msg) {
            socket.track(&key, json!({})).unwrap();
        }
        ChannelReply::ok(json!({}))
    }

    #[on_event("untrack_many")]
    fn untrack_many(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        for key in key_list(&msg) {
            socket.untrack(&key);
        }
        ChannelReply::ok(json!({}))
    }

    #[on_event("later")]
    fn later(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        let ms = msg["ms"].as_u64().unwrap_or(0);
        let tag = msg["tag"].as_str().unwrap_or("").to_owned();
        socket.send_after(Duration::from_millis(ms), Tag(tag));
        ChannelReply::ok(json!({}))
    }

    #[on_event("push_long_binary")]
    fn push_long_binary(&mut self, socket: &mut ChannelSocket) -> ChannelReply {
        socket.push(
            "e".repeat(300),
            Payload::Binary(bytes::Bytes::from_static(b"P")),
        );
        ChannelReply::ok(json!({}))
    }

    #[on_event("echo")]
    fn echo(&mut self, msg: Value) -> ChannelReply {
        ChannelReply::ok(msg)
    }

    #[on_info]
    fn tick(&mut self, tag: Tag, socket: &mut ChannelSocket) {
        socket.push("tick", json!({"tag": tag.0}));
    }
}

fn route() -> SocketRoute<AnonymousSocket> {
    socket(AnonymousSocket).channel::<Hard>()
}

async fn serve(route: SocketRoute<AnonymousSocket>) -> SocketAddr {
    support::serve(Router::new().route("/socket/websocket", route)).await
}

/// The next frame: a text frame as a JSON array, a binary frame or the close code.
#[derive(Debug)]
enum Got {
    Text(Vec<Value>),
    Binary(Vec<u8>),
    Closed(u16),
}

async fn next(client: &mut Client) -> Got {
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Text(text))) => {
                let Value::Array(items) = serde_json::from_str(&text).unwrap() else {
                    panic!("not an array: {text}");
                };
                return Got::Text(items);
            }
            Some(Ok(Message::Binary(bytes))) => return Got::Binary(bytes.to_vec()),
            Some(Ok(Message::Close(frame))) => {
                return Got::Closed(frame.map_or(1005, |f: CloseFrame| f.code.into()));
            }
            Some(Ok(_)) => continue,
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

/// The reply to `msg_ref`, skipping other frames: (status, response).
async fn reply(client: &mut Client, msg_ref: &str) -> (String, Value) {
    loop {
        match next(client).await {
            Got::Text(items) if items[3] == "phx_reply" && items[1] == msg_ref => {
                let status = items[4]["status"].as_str().unwrap().to_owned();
                return (status, items[4]["response"].clone());
            }
            Got::Closed(code) => panic!("closed with {code} waiting for reply {msg_ref}"),
            _ => {}
        }
    }
}

async fn join(client: &mut Client, join_ref: &str, topic: &str, params: Value) -> (String, Value) {
    let frame = json!([join_ref, join_ref, topic, "phx_join", params]);
    send(client, frame.to_string()).await;
    reply(client, join_ref).await
}

fn reason(text: &str) -> Value {
    json!({ "reason": text })
}

// ---- 1. limits before decoding ----------------------------------------------------------

#[tokio::test]
async fn a_payload_over_the_limit_is_refused_without_parsing_its_json() {
    let addr = serve(route().max_payload(6 << 20)).await;
    let mut client = connect_v2(addr).await;
    assert_eq!(join(&mut client, "1", "hard:1", json!({})).await.0, "ok");
    // 10 MB whose payload is not even JSON: only the header can have been read to answer.
    let mut frame = String::from(r#"["1","2","hard:1","echo",{"body":""#);
    frame.push_str(&"x".repeat(10_000_000));
    send(&mut client, frame).await;
    assert_eq!(
        reply(&mut client, "2").await,
        ("error".to_owned(), reason("payload too large"))
    );
    send(&mut client, r#"["1","3","hard:1","echo",{"a":1}]"#).await;
    assert_eq!(reply(&mut client, "3").await.1, json!({"a": 1}));

    // Far over it (the default 1 MiB, so over 2 MiB): 1009 before the message is read whole.
    let addr = serve(route()).await;
    let client = connect_v2(addr).await;
    let (mut tx, mut rx) = client.split();
    let writer = tokio::spawn(async move {
        let mut frame = String::from(r#"["1","2","hard:1","echo",{"body":""#);
        frame.push_str(&"x".repeat(10_000_000));
        frame.push_str(r#""}]"#);
        let _ = tx.send(Message::text(frame)).await;
    });
    let code = loop {
        match within(rx.next()).await {
            Some(Ok(Message::Close(frame))) => break frame.map_or(1005, |f| f.code.into()),
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, 1009);
    writer.abort();
}

#[tokio::test]
async fn frames_count_against_the_rate_limit_before_they_are_decoded() {
    let route = route().rate_limit(RateLimit::new(1, 3).close_after(5));
    let addr = serve(route.clone()).await;
    let mut client = connect_v2(addr).await;
    // Three frames of garbage take the three tokens of the burst...
    for _ in 0..3 {
        send(&mut client, "{{{ not json").await;
    }
    // ...so this push, valid, is refused (before: "unmatched topic", the garbage was free).
    send(&mut client, r#"["1","2","hard:1","echo",{}]"#).await;
    assert_eq!(
        reply(&mut client, "2").await,
        ("error".to_owned(), reason("rate_limited"))
    );
    // A rate-limited frame is answered from its header: its payload is never parsed.
    send(&mut client, r#"["1","3","hard:1","echo",{"never": parsed"#).await;
    assert_eq!(
        reply(&mut client, "3").await,
        ("error".to_owned(), reason("rate_limited"))
    );
    // Flooding garbage ends like any flood: 1008.
    for _ in 0..10 {
        send(&mut client, "garbage").await;
    }
    let code = loop {
        if let Got::Closed(code) = next(&mut client).await {
            break code;
        }
    };
    assert_eq!(code, 1008);
    assert!(route.metrics().rate_limited >= 5, "{:?}", route.metrics());
}

// ---- 2. fields over 255 bytes -----------------------------------------------------------

#[tokio::test]
async fn topics_events_and_refs_over_255_bytes_get_an_error_reply() {
    let route = route();
    let addr = serve(route.clone()).await;
    let mut client = connect_v2(addr).await;
    let long_topic = format!("hard:{}", "x".repeat(251));
    assert_eq!(
        join(&mut client, "1", &long_topic, json!({})).await,
        ("error".to_owned(), reason("topic too long"))
    );
    assert_eq!(
        join(
            &mut client,
            "2",
            &format!("hard:{}", "x".repeat(250)),
            json!({})
        )
        .await
        .0,
        "ok",
        "255 bytes is still fine"
    );
    assert_eq!(join(&mut client, "3", "hard:1", json!({})).await.0, "ok");
    let push = json!(["3", "4", "hard:1", "e".repeat(256), {}]);
    send(&mut client, push.to_string()).await;
    assert_eq!(
        reply(&mut client, "4").await,
        ("error".to_owned(), reason("event too long"))
    );
    let long_ref = "5".repeat(256);
    let push = json!(["3", long_ref, "hard:1", "echo", {}]);
    send(&mut client, push.to_string()).await;
    assert_eq!(
        reply(&mut client, &long_ref).await,
        ("error".to_owned(), reason("ref too long"))
    );
    assert_eq!(route.presence().list("hard:1"), json!({}));
}

#[tokio::test]
async fn the_server_never_writes_a_binary_frame_with_a_field_cut_short() {
    let route = route();
    let addr = serve(route.clone()).await;
    let mut client = connect_v2(addr).await;
    assert_eq!(join(&mut client, "1", "hard:1", json!({})).await.0, "ok");
    // A push from the channel: not sent, counted; the reply still comes, and comes first.
    send(&mut client, r#"["1","2","hard:1","push_long_binary",{}]"#).await;
    match next(&mut client).await {
        Got::Text(items) => assert_eq!(items[1], "2", "{items:?}"),
        other => panic!("expected the reply, got {other:?}"),
    }
    assert_eq!(route.metrics().unencodable, 1);
    // A broadcast: refused with an error where it is sent.
    let data = Payload::Binary(bytes::Bytes::from_static(b"P"));
    let result = route
        .pubsub()
        .broadcast("hard:1", "e".repeat(256), data.clone())
        .await;
    assert!(result.is_err(), "a binary broadcast with a 256-byte event");
    route
        .pubsub()
        .broadcast("hard:1", "ok", data)
        .await
        .unwrap();
    match next(&mut client).await {
        Got::Binary(frame) => assert_eq!(frame, b"\x02\x06\x02hard:1okP"),
        other => panic!("expected the valid broadcast, got {other:?}"),
    }
}

// ---- 3. track twice ---------------------------------------------------------------------

#[tokio::test]
async fn tracking_a_key_twice_is_already_tracked() {
    let route = route();
    let addr = serve(route.clone()).await;
    let mut client = connect_v2(addr).await;
    assert_eq!(
        join(&mut client, "1", "hard:1", json!({"user": "alice"}))
            .await
            .0,
        "ok"
    );
    send(
        &mut client,
        r#"["1","2","hard:1","track",{"key":"alice","n":2}]"#,
    )
    .await;
    assert_eq!(
        reply(&mut client, "2").await,
        ("error".to_owned(), reason("already_tracked"))
    );
    let list = route.presence().list("hard:1");
    assert_eq!(
        list["alice"]["metas"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    assert_eq!(list["alice"]["metas"][0]["online"], json!(true));
    // Another key is fine.
    send(&mut client, r#"["1","3","hard:1","track",{"key":"bob"}]"#).await;
    assert_eq!(reply(&mut client, "3").await.0, "ok");
}

// ---- 4. full mailboxes ------------------------------------------------------------------

/// phoenix.js's `Presence` as sets of `phx_ref`s per key: `syncState` (a new state replaces
/// the refs) and `syncDiff` (joins add refs, leaves remove them, empty keys go).
#[derive(Debug, Default, PartialEq)]
struct PresenceView(BTreeMap<String, BTreeSet<String>>);

impl PresenceView {
    fn refs(presence: &Value) -> BTreeMap<String, BTreeSet<String>> {
        let mut out = BTreeMap::new();
        for (key, entry) in presence.as_object().unwrap() {
            let refs = entry["metas"].as_array().unwrap().iter();
            let refs = refs.map(|m| m["phx_ref"].as_str().unwrap().to_owned());
            out.insert(key.clone(), refs.collect());
        }
        out
    }

    fn sync_state(&mut self, state: &Value) {
        self.0 = Self::refs(state);
    }

    fn sync_diff(&mut self, diff: &Value) {
        for (key, refs) in Self::refs(&diff["joins"]) {
            self.0.entry(key).or_default().extend(refs);
        }
        for (key, refs) in Self::refs(&diff["leaves"]) {
            if let Some(current) = self.0.get_mut(&key) {
                current.retain(|r| !refs.contains(r));
                if current.is_empty() {
                    self.0.remove(&key);
                }
            }
        }
    }

    /// Applies one frame; whether it was a `presence_state`.
    fn apply(&mut self, got: &Got) -> bool {
        let Got::Text(items) = got else {
            panic!("unexpected {got:?}")
        };
        match items[3].as_str() {
            Some("presence_state") => {
                self.sync_state(&items[4]);
                return true;
            }
            Some("presence_diff") => self.sync_diff(&items[4]),
            _ => {}
        }
        false
    }
}

fn small_mailboxes() -> SocketRoute<AnonymousSocket> {
    route().config(Config::new().mailbox_capacity(16))
}

/// Reads `client`'s frames until a `presence_diff` that `pred` accepts.
async fn wait_diff(client: &mut Client, pred: impl Fn(&Value) -> bool) {
    loop {
        if let Got::Text(items) = next(client).await {
            if items[3] == "presence_diff" && pred(&items[4]) {
                return;
            }
        }
    }
}

#[tokio::test]
async fn a_socket_whose_mailbox_was_full_gets_a_fresh_presence_state() {
    let route = small_mailboxes();
    let addr = serve(route.clone()).await;
    let mut slow = connect_v2(addr).await;
    let mut view = PresenceView::default();
    assert_eq!(
        join(&mut slow, "1", "hard:p", json!({"user": "slow"}))
            .await
            .0,
        "ok"
    );
    // Its own presence_state (the join's push) comes next.
    while !view.apply(&next(&mut slow).await) {}

    // `slow` reads nothing, and its socket is held in a join that takes 3 s (it handles
    // nothing else meanwhile), while presences come and go far over its mailbox.
    send(
        &mut slow,
        r#"["2","2","hard:wait","phx_join",{"sleep_ms":3000}]"#,
    )
    .await;
    let mut busy = connect_v2(addr).await;
    assert_eq!(
        join(&mut busy, "1", "hard:p", json!({"user": "busy"}))
            .await
            .0,
        "ok"
    );
    // Diffs are merged per presence interval: each change below waits for the diff that
    // carries it (as `busy` sees it), so `slow` gets one diff per change, far over its 16.
    for i in 0..24 {
        let msg_ref = format!("t{i}");
        let track =
            json!(["1", msg_ref, "hard:p", "track_many", {"prefix": format!("a{i}-"), "n": 5}]);
        send(&mut busy, track).await;
        assert_eq!(reply(&mut busy, &msg_ref).await.0, "ok");
        wait_diff(&mut busy, |diff| {
            diff["joins"].get(format!("a{i}-0")).is_some()
        })
        .await;
    }
    send(
        &mut busy,
        r#"["1","3","hard:p","untrack_many",{"prefix":"a0-","n":4}]"#,
    )
    .await;
    assert_eq!(reply(&mut busy, "3").await.0, "ok");
    wait_diff(&mut busy, |diff| diff["leaves"].get("a0-0").is_some()).await;
    let mut others = Vec::new();
    for i in 0..5 {
        let mut other = connect_v2(addr).await;
        let user = json!({ "user": format!("other{i}") });
        assert_eq!(join(&mut other, "1", "hard:p", user).await.0, "ok");
        others.push(other);
    }

    // Now it reads: its view, built as phoenix.js builds it, ends equal to the server's.
    let server = || PresenceView(PresenceView::refs(&route.presence().list("hard:p")));
    let mut states = 0;
    while view != server() {
        states += usize::from(view.apply(&next(&mut slow).await));
    }
    assert!(states >= 1, "a fresh presence_state after the overflow");
    assert_eq!(view.0.len(), 1 + 1 + 24 * 5 - 4 + 5);
    let metrics = route.metrics();
    assert!(metrics.presence_resyncs >= 1, "{metrics:?}");
    assert_eq!(metrics.slow_consumers, 0, "presence overflow closes nobody");
    // And it stays so: nothing else is on its way.
    send(&mut slow, r#"[null,"9","phoenix","heartbeat",{}]"#).await;
    loop {
        let got = next(&mut slow).await;
        if matches!(&got, Got::Text(items) if items[1] == "9") {
            break;
        }
        view.apply(&got);
    }
    assert_eq!(view, server());
}

#[tokio::test]
async fn a_socket_whose_mailbox_is_full_of_broadcasts_is_closed_with_1013() {
    let route = small_mailboxes();
    let addr = serve(route.clone()).await;
    let mut slow = connect_v2(addr).await;
    assert_eq!(join(&mut slow, "1", "hard:b", json!({})).await.0, "ok");
    let mut calm = connect_v2(addr).await;
    assert_eq!(join(&mut calm, "1", "hard:c", json!({})).await.0, "ok");
    // A burst that never yields, to a client that does not read: the fast lane fills the
    // socket's buffers (12.5 MB of broadcasts, more than loopback buffers), the socket's task
    // cannot drain its 16 slots meanwhile.
    let padding = ".".repeat(32 << 10);
    for i in 0..400 {
        let news = json!({ "i": i, "padding": padding });
        route
            .pubsub()
            .broadcast("hard:b", "news", news)
            .await
            .unwrap();
    }
    let mut received = Vec::new();
    let code = loop {
        match next(&mut slow).await {
            Got::Text(items) => received.push(items[4]["i"].as_u64().unwrap()),
            Got::Closed(code) => break code,
            got @ Got::Binary(_) => panic!("unexpected {got:?}"),
        }
    };
    assert_eq!(code, 1013, "after {} broadcasts", received.len());
    // What it got, it got in order and without gaps: the close is the only loss signal.
    assert_eq!(received, (0..received.len() as u64).collect::<Vec<_>>());
    assert_eq!(route.metrics().slow_consumers, 1);
    // Another socket is served as before.
    send(&mut calm, r#"["1","2","hard:c","echo",{"still":"here"}]"#).await;
    assert_eq!(reply(&mut calm, "2").await.1, json!({"still": "here"}));
}

// ---- 5. timers end with their channel ---------------------------------------------------

#[tokio::test]
async fn a_send_after_timer_never_reaches_a_later_instance_of_its_topic() {
    let addr = serve(route()).await;
    let mut client = connect_v2(addr).await;
    assert_eq!(join(&mut client, "1", "hard:t", json!({})).await.0, "ok");
    send(
        &mut client,
        r#"["1","2","hard:t","later",{"tag":"old","ms":300}]"#,
    )
    .await;
    assert_eq!(reply(&mut client, "2").await.0, "ok");
    send(&mut client, r#"["1","3","hard:t","phx_leave",{}]"#).await;
    assert_eq!(reply(&mut client, "3").await.0, "ok");
    // Rejoined with the same join_ref (refs are the client's to choose): a new instance.
    send(&mut client, r#"["1","1","hard:t","phx_join",{}]"#).await;
    assert_eq!(reply(&mut client, "1").await.0, "ok");
    send(
        &mut client,
        r#"["1","4","hard:t","later",{"tag":"new","ms":900}]"#,
    )
    .await;
    assert_eq!(reply(&mut client, "4").await.0, "ok");
    // The first tick to arrive is the new instance's: the old timer ended with its channel.
    let tick = loop {
        if let Got::Text(items) = next(&mut client).await {
            if items[3] == "tick" {
                break items[4].clone();
            }
        }
    };
    assert_eq!(tick, json!({"tag": "new"}));
}
