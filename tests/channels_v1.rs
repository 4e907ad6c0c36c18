//! Phoenix's V1 serializer over real sockets (tokio-tungstenite against the chat example):
//! `vsn=1.0.0`, and no `vsn` at all, speak `{"topic","event","payload","ref"}` objects; V1 and
//! V2 clients share rooms; a binary payload never reaches a V1 socket; and a `null` join_ref on
//! a non-join message goes to the joined channel, in both formats.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;
mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use support::{Client, connect, next_text, send, serve, status_of, within};
use tokio_tungstenite::tungstenite::Message;

async fn serve_chat() -> SocketAddr {
    serve(chat::router(chat::socket_route())).await
}

/// The next V1 frame, checked to hold exactly the four fields Phoenix's V1 writes.
async fn next_v1(client: &mut Client) -> Value {
    let text = next_text(client).await;
    let value: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<_> = value.as_object().expect(&text).keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["event", "payload", "ref", "topic"], "{text}");
    value
}

/// The next V1 frame of `event`, skipping presence traffic and other events.
async fn next_v1_event(client: &mut Client, event: &str) -> Value {
    loop {
        let frame = next_v1(client).await;
        if frame["event"] == event {
            return frame;
        }
    }
}

/// The next V2 frame of `event`, skipping the others.
async fn next_v2_event(client: &mut Client, event: &str) -> Value {
    loop {
        let frame: Value = serde_json::from_str(&next_text(client).await).unwrap();
        if frame[3] == event {
            return frame;
        }
    }
}

#[tokio::test]
async fn missing_vsn_and_1_0_0_speak_v1_and_unknown_versions_get_403() {
    let route = chat::socket_route();
    let addr = serve(chat::router(route.clone())).await;
    assert_eq!(status_of(addr, "").await, 101, "no vsn: V1, as Phoenix");
    assert_eq!(status_of(addr, "?vsn=1.0.0&user=x").await, 101);
    assert_eq!(status_of(addr, "?vsn=2.0.0").await, 101);
    for refused in ["3.0.0", "2.1.0", "1.1.0", "banana", "2.0"] {
        assert_eq!(
            status_of(addr, &format!("?vsn={refused}")).await,
            403,
            "{refused}"
        );
    }
    // Counted as refused connects, as a refused `connect` is.
    assert_eq!(route.metrics().refused_connects, 5);
}

/// Join, push and reply, the broadcast it makes, heartbeat and leave, in V1 frames exactly as
/// Phoenix writes them; the client sends no join_ref, as V1 clients do.
async fn v1_session(addr: SocketAddr, query: &str, room: &str) {
    let mut client = connect(addr, query).await;
    let join =
        json!({"topic": room, "event": "phx_join", "payload": {"user_id": "u1"}, "ref": "1"});
    send(&mut client, &join.to_string()).await;
    assert_eq!(
        next_text(&mut client).await,
        format!(
            r#"{{"topic":"{room}","event":"phx_reply","payload":{{"status":"ok","response":{{}}}},"ref":"1"}}"#
        )
    );
    let state = next_v1(&mut client).await;
    assert_eq!(
        (&state["event"], &state["ref"]),
        (&json!("presence_state"), &Value::Null)
    );
    assert!(state["payload"]["u1"]["metas"].is_array(), "{state}");
    let diff = next_v1(&mut client).await;
    assert_eq!(diff["event"], "presence_diff", "{diff}");
    assert!(diff["payload"]["joins"]["u1"].is_object(), "{diff}");

    let push = json!({"topic": room, "event": "new_msg", "payload": {"body": "hi"}, "ref": "2"});
    send(&mut client, &push.to_string()).await;
    let mut got = vec![next_text(&mut client).await, next_text(&mut client).await];
    got.sort();
    assert_eq!(
        got,
        [
            format!(
                r#"{{"topic":"{room}","event":"new_msg","payload":{{"body":"hi","user_id":"u1"}},"ref":null}}"#
            ),
            format!(
                r#"{{"topic":"{room}","event":"phx_reply","payload":{{"status":"ok","response":{{}}}},"ref":"2"}}"#
            ),
        ]
    );

    send(
        &mut client,
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#,
    )
    .await;
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"3"}"#
    );

    let leave = json!({"topic": room, "event": "phx_leave", "payload": {}, "ref": "4"});
    send(&mut client, &leave.to_string()).await;
    assert_eq!(
        next_text(&mut client).await,
        format!(
            r#"{{"topic":"{room}","event":"phx_reply","payload":{{"status":"ok","response":{{}}}},"ref":"4"}}"#
        )
    );
    // The join's ref stands for the join_ref V1 never writes.
    assert_eq!(
        next_text(&mut client).await,
        format!(r#"{{"topic":"{room}","event":"phx_close","payload":{{}},"ref":"1"}}"#)
    );
}

#[tokio::test]
async fn v1_without_vsn_join_push_broadcast_heartbeat_leave() {
    let addr = serve_chat().await;
    v1_session(addr, "", "room:v1-none").await;
}

#[tokio::test]
async fn v1_with_vsn_1_0_0_join_push_broadcast_heartbeat_leave() {
    let addr = serve_chat().await;
    v1_session(addr, "?vsn=1.0.0", "room:v1-explicit").await;
}

#[tokio::test]
async fn v1_and_v2_clients_see_each_others_broadcasts() {
    let addr = serve_chat().await;
    let mut v1 = connect(addr, "?vsn=1.0.0").await;
    let mut v2 = connect(addr, "?vsn=2.0.0").await;
    send(
        &mut v1,
        r#"{"topic":"room:mix","event":"phx_join","payload":{"user_id":"one"},"ref":"1","join_ref":"1"}"#,
    )
    .await;
    assert_eq!(
        next_v1_event(&mut v1, "phx_reply").await["payload"]["status"],
        "ok"
    );
    send(
        &mut v2,
        r#"["1","1","room:mix","phx_join",{"user_id":"two"}]"#,
    )
    .await;
    assert_eq!(next_v2_event(&mut v2, "phx_reply").await[4]["status"], "ok");
    // Presence is shared too: the V1 client sees the V2 client arrive.
    loop {
        let diff = next_v1_event(&mut v1, "presence_diff").await;
        if diff["payload"]["joins"]["two"].is_object() {
            break;
        }
    }

    send(
        &mut v2,
        r#"["1","2","room:mix","new_msg",{"body":"from v2"}]"#,
    )
    .await;
    assert_eq!(
        next_v1_event(&mut v1, "new_msg").await,
        json!({"topic": "room:mix", "event": "new_msg", "payload": {"body": "from v2", "user_id": "two"}, "ref": null})
    );
    // A join_ref sent by a V1 client is read (here: the current one), never written.
    send(
        &mut v1,
        r#"{"topic":"room:mix","event":"new_msg","payload":{"body":"from v1"},"ref":"2","join_ref":"1"}"#,
    )
    .await;
    let from_v1 = loop {
        let frame = next_v2_event(&mut v2, "new_msg").await;
        if frame[4]["user_id"] == "one" {
            break frame;
        }
    };
    assert_eq!(
        from_v1,
        json!([null, null, "room:mix", "new_msg", {"body": "from v1", "user_id": "one"}])
    );
    let reply = next_v1_event(&mut v1, "phx_reply").await;
    assert_eq!(
        (&reply["ref"], &reply["payload"]["status"]),
        (&json!("2"), &json!("ok"))
    );
}

#[tokio::test]
async fn binary_payloads_never_reach_a_v1_socket_and_are_counted() {
    let route = chat::socket_route();
    let addr = serve(chat::router(route.clone())).await;
    let mut v1 = connect(addr, "").await;
    let mut v2 = connect(addr, "?vsn=2.0.0").await;
    send(
        &mut v1,
        r#"{"topic":"room:bin","event":"phx_join","payload":{"user_id":"one"},"ref":"1"}"#,
    )
    .await;
    assert_eq!(
        next_v1_event(&mut v1, "phx_reply").await["payload"]["status"],
        "ok"
    );
    send(
        &mut v2,
        r#"["1","1","room:bin","phx_join",{"user_id":"two"}]"#,
    )
    .await;
    next_v2_event(&mut v2, "phx_reply").await;
    loop {
        let diff = next_v1_event(&mut v1, "presence_diff").await;
        if diff["payload"]["joins"]["two"].is_object() {
            break;
        }
    }
    assert_eq!(route.metrics().unencodable, 0);

    // The V2 client's binary push is broadcast as bytes: the V2 socket gets it, the V1 socket
    // cannot (V1 has no binary frames) and skips it, counted.
    let mut frame = vec![0u8, 1, 1, 8, 6];
    frame.extend_from_slice(b"12room:binbinary\x00\xff");
    within(v2.send(Message::binary(frame))).await.unwrap();
    let mut binary = 0;
    while binary < 2 {
        match within(v2.next()).await {
            Some(Ok(Message::Binary(_))) => binary += 1,
            Some(Ok(Message::Text(_))) => {} // presence
            other => panic!("expected binary, got {other:?}"),
        }
    }
    send(
        &mut v2,
        r#"["1","2","room:bin","new_msg",{"body":"after"}]"#,
    )
    .await;
    // The V1 client's next frame is the text broadcast after it: the binary one was skipped,
    // not sent corrupted.
    let next = next_v1(&mut v1).await;
    assert_eq!(
        (&next["event"], &next["payload"]["body"]),
        (&json!("new_msg"), &json!("after")),
        "{next}"
    );
    assert_eq!(route.metrics().unencodable, 1);

    // A V1 client's binary frame is read as JSON text, as Phoenix's V1 `decode!` reads it; one
    // that is not JSON is ignored and the socket stays open.
    within(v1.send(Message::binary(&b"\x00\xffnot json"[..])))
        .await
        .unwrap();
    let push = br#"{"topic":"room:bin","event":"new_msg","payload":{"body":"bytes"},"ref":"2"}"#;
    within(v1.send(Message::binary(&push[..]))).await.unwrap();
    let reply = next_v1_event(&mut v1, "phx_reply").await;
    assert_eq!(
        (&reply["ref"], &reply["payload"]["status"]),
        (&json!("2"), &json!("ok"))
    );
}

#[tokio::test]
async fn a_null_join_ref_reaches_the_joined_channel_in_v2() {
    let addr = serve_chat().await;
    let mut client = connect(addr, "?vsn=2.0.0").await;
    send(
        &mut client,
        r#"["1","1","room:null","phx_join",{"user_id":"u"}]"#,
    )
    .await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["1","1","room:null","phx_reply",{"status":"ok","response":{}}]"#
    );
    next_v2_event(&mut client, "presence_diff").await;

    send(
        &mut client,
        r#"[null,"2","room:null","new_msg",{"body":"x"}]"#,
    )
    .await;
    let mut got = vec![next_text(&mut client).await, next_text(&mut client).await];
    got.sort();
    assert_eq!(
        got,
        [
            r#"["1","2","room:null","phx_reply",{"status":"ok","response":{}}]"#,
            r#"[null,null,"room:null","new_msg",{"body":"x","user_id":"u"}]"#,
        ]
    );

    // A stale join_ref is still ignored: the heartbeat sent after it is answered first.
    send(
        &mut client,
        r#"["9","3","room:null","new_msg",{"body":"stale"}]"#,
    )
    .await;
    send(&mut client, r#"[null,"4","phoenix","heartbeat",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"[null,"4","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );

    // A null join_ref leaves the joined channel too; the reply carries the channel's join_ref.
    send(&mut client, r#"[null,"5","room:null","phx_leave",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["1","5","room:null","phx_reply",{"status":"ok","response":{}}]"#
    );
    assert_eq!(
        next_text(&mut client).await,
        r#"["1","1","room:null","phx_close",{}]"#
    );
}
