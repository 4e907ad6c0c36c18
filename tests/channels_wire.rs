//! The chat example over real sockets with tokio-tungstenite: the handshake rules (vsn, 403,
//! the `phoenix` subprotocol for an authToken), the exact frames on the wire, and the close
//! codes (idle timeout 1001, server shutdown 1012).

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;
mod support;

use futures_util::{SinkExt, StreamExt};
use std::{net::SocketAddr, time::Duration};
use support::{Client, connect_v2, next_text, send, serve_with_handle, status_of, within};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
use websock::{Config, Drain, ServerHandle};

async fn serve_chat() -> (SocketAddr, ServerHandle) {
    serve_with_handle(chat::router(chat::socket_route())).await
}

#[tokio::test]
async fn vsn_is_required() {
    let (addr, _) = serve_chat().await;
    // No vsn and 1.0.0 speak V1 (tests/channels_v1.rs); other versions are refused.
    assert_eq!(status_of(addr, "").await, 101, "no vsn: V1");
    assert_eq!(status_of(addr, "?vsn=1.0.0").await, 101);
    assert_eq!(status_of(addr, "?vsn=3.0.0").await, 403);
    assert_eq!(status_of(addr, "?vsn=2.0.0&user=x").await, 101);
}

#[tokio::test]
async fn exact_frames_for_join_push_heartbeat_leave() {
    let (addr, _) = serve_chat().await;
    let mut client = connect_v2(addr).await;
    send(&mut client, r#"["3","3","room:secret","phx_join",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["3","3","room:secret","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]"#
    );
    send(
        &mut client,
        r#"["4","4","room:lobby","phx_join",{"user_id":"u1"}]"#,
    )
    .await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["4","4","room:lobby","phx_reply",{"status":"ok","response":{}}]"#
    );
    let state = next_text(&mut client).await;
    assert!(
        state.starts_with(r#"["4",null,"room:lobby","presence_state",{"u1":{"metas":[{"#),
        "{state}"
    );
    let diff = next_text(&mut client).await;
    assert!(
        diff.starts_with(r#"[null,null,"room:lobby","presence_diff",{"joins":{"u1""#),
        "{diff}"
    );
    send(
        &mut client,
        r#"["4","5","room:lobby","new_msg",{"body":"hi"}]"#,
    )
    .await;
    let mut got = vec![next_text(&mut client).await, next_text(&mut client).await];
    got.sort();
    assert_eq!(
        got,
        [
            r#"["4","5","room:lobby","phx_reply",{"status":"ok","response":{}}]"#,
            r#"[null,null,"room:lobby","new_msg",{"body":"hi","user_id":"u1"}]"#,
        ]
    );
    send(&mut client, r#"[null,"6","phoenix","heartbeat",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"[null,"6","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );
    send(&mut client, r#"["4","7","room:lobby","phx_leave",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["4","7","room:lobby","phx_reply",{"status":"ok","response":{}}]"#
    );
    assert_eq!(
        next_text(&mut client).await,
        r#"["4","4","room:lobby","phx_close",{}]"#
    );
}

#[tokio::test]
async fn binary_push_gets_a_binary_reply_and_broadcast() {
    let (addr, _) = serve_chat().await;
    let mut client = connect_v2(addr).await;
    send(
        &mut client,
        r#"["1","1","room:b","phx_join",{"user_id":"u"}]"#,
    )
    .await;
    next_text(&mut client).await; // reply
    next_text(&mut client).await; // presence_state
    next_text(&mut client).await; // presence_diff
    let mut frame = vec![0u8, 1, 1, 6, 6];
    frame.extend_from_slice(b"12room:bbinary\x00\xff");
    within(client.send(Message::binary(frame))).await.unwrap();
    let mut frames = Vec::new();
    for _ in 0..2 {
        match within(client.next()).await {
            Some(Ok(Message::Binary(bytes))) => frames.push(bytes.to_vec()),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    frames.sort();
    assert_eq!(frames[0], b"\x01\x01\x01\x06\x0212room:bok\x00\xff");
    assert_eq!(frames[1], b"\x02\x06\x06room:bbinary\x00\xff");
}

#[tokio::test]
async fn auth_token_selects_the_phoenix_subprotocol() {
    let (addr, _) = serve_chat().await;
    let mut request = format!("ws://{addr}/socket/websocket?vsn=2.0.0")
        .into_client_request()
        .unwrap();
    // btoa("tok") = "dG9r"
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("phoenix, base64url.bearer.phx.dG9r"),
    );
    let (mut client, response) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "phoenix"
    );
    send(
        &mut client,
        r#"["1","1","room:t","phx_join",{"user_id":"u"}]"#,
    )
    .await;
    for _ in 0..3 {
        next_text(&mut client).await;
    }
    send(&mut client, r#"["1","2","room:t","whoami",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["1","2","room:t","phx_reply",{"status":"ok","response":{"token":"tok","user_id":"u"}}]"#
    );
    // An invalid token is refused before the upgrade.
    let mut request = format!("ws://{addr}/socket/websocket?vsn=2.0.0")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("phoenix, base64url.bearer.phx.***"),
    );
    match within(tokio_tungstenite::connect_async(request)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 403);
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

async fn close_code(client: &mut Client) -> u16 {
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn idle_timeout_closes_with_1001_and_shutdown_with_1012() {
    let route = chat::socket_route().config(Config::new().idle_timeout(Duration::from_millis(300)));
    let (addr, handle) = serve_with_handle(chat::router(route)).await;
    let mut idle = connect_v2(addr).await;
    assert_eq!(close_code(&mut idle).await, 1001);

    let mut client = connect_v2(addr).await;
    send(&mut client, r#"[null,"1","phoenix","heartbeat",{}]"#).await;
    next_text(&mut client).await;
    // At once: a drained socket keeps being served until its turn (up to 5 s), and this one's
    // 300 ms idle timeout would close it first with 1001.
    handle.set_drain(Drain::immediate());
    handle.shutdown();
    assert_eq!(close_code(&mut client).await, 1012);
}
