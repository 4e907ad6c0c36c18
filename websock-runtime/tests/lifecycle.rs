//! How connections end: `terminate` exactly once, with the right reason and close code.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{
    Message as WsMessage,
    protocol::{CloseFrame, frame::coding::CloseCode as WsCode},
};
use websock_runtime::{CloseCode, Config, Control};

#[tokio::test]
async fn client_close_terminates_remote_with_its_code() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    within(client.close(Some(CloseFrame {
        code: WsCode::Away,
        reason: "leaving".into(),
    })))
    .await
    .unwrap();
    assert_eq!(server.terminated().await, "remote 1001");
    // The server answered the close handshake with the same code, then dropped TCP.
    match within(client.next()).await {
        Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected the close reply, got {other:?}"),
    }
    assert!(within(client.next()).await.is_none());
}

#[tokio::test]
async fn tcp_drop_terminates_remote_without_a_frame() {
    let mut server = TestServer::start(Config::default()).await;
    let stream = raw_upgrade(server.addr, "/probe").await;
    assert!(matches!(server.next_event().await, Event::Started(_)));
    drop(stream);
    assert_eq!(server.terminated().await, "remote");
}

#[tokio::test]
async fn idle_timeout_closes_1001() {
    let config = Config::default().idle_timeout(Duration::from_millis(300));
    let mut server = TestServer::start(config).await;
    let (mut client, _) = server.open("/probe").await;
    // Traffic keeps it alive past one timeout...
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        send_text(&mut client, "noop").await;
    }
    send_text(&mut client, "echo:alive").await;
    assert_eq!(recv_text(&mut client).await, "alive");
    // ...silence ends it.
    assert_eq!(
        recv_close(&mut client).await,
        (1001, "idle timeout".to_owned())
    );
    assert_eq!(server.terminated().await, "timeout idle");
}

#[tokio::test]
async fn shutdown_flushes_then_closes_1012_and_terminates_every_connection() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut a, handle_a) = server.open("/probe").await;
    let (mut b, _) = server.open("/probe").await;
    handle_a.try_send("before shutdown".to_owned()).unwrap();
    assert_eq!(recv_text(&mut a).await, "info:before shutdown");

    let handle = server.handle.clone();
    let waiter =
        tokio::spawn(async move { handle.shutdown_and_wait(Duration::from_secs(5)).await });
    assert_eq!(recv_close(&mut a).await.0, 1012);
    assert_eq!(recv_close(&mut b).await.0, 1012);
    let reasons = [
        server.next_terminated().await,
        server.next_terminated().await,
    ];
    assert_eq!(reasons, ["shutdown", "shutdown"]);
    let metrics = within(waiter).await.unwrap();
    assert_eq!(metrics.unflushed_connections, 0);
    assert_eq!(metrics.active_connections, 0);
    // The listener is gone too.
    let served = within(server.served).await.unwrap().unwrap();
    assert_eq!(served.accepted_connections, 2);
}

#[tokio::test]
async fn shutdown_code_is_configurable() {
    let server = TestServer::start_with(Config::default(), |s| {
        s.shutdown_code(CloseCode::GOING_AWAY)
    })
    .await;
    let mut client = server.connect("/probe").await;
    server.handle.shutdown();
    assert_eq!(recv_close(&mut client).await.0, 1001);
}

#[tokio::test]
async fn upgrades_during_shutdown_are_refused() {
    let server = TestServer::start(Config::default()).await;
    let _client = server.connect("/probe").await;
    server.handle.shutdown();
    // The listener closes; a new connection attempt fails or gets 503, never a 101.
    let result = tokio_tungstenite::connect_async(format!("ws://{}/probe", server.addr)).await;
    assert!(result.is_err());
}

#[tokio::test]
async fn pings_are_answered_by_the_runtime_then_reported() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    within(client.send(WsMessage::Ping("are you there".into())))
        .await
        .unwrap();
    let pong = within(client.next()).await.unwrap().unwrap();
    assert_eq!(pong, WsMessage::Pong("are you there".into()));
    match server.next_event().await {
        Event::Control(Control::Ping(payload)) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected the ping callback, got {other:?}"),
    }
    within(client.send(WsMessage::Pong("unsolicited".into())))
        .await
        .unwrap();
    match server.next_event().await {
        Event::Control(Control::Pong(payload)) => assert_eq!(&payload[..], b"unsolicited"),
        other => panic!("expected the pong callback, got {other:?}"),
    }
}

#[tokio::test]
async fn server_pings_on_its_interval() {
    let config = Config::default().ping_interval(Duration::from_millis(100));
    let server = TestServer::start(config).await;
    let mut client = server.connect("/probe").await;
    let message = within(client.next()).await.unwrap().unwrap();
    assert!(matches!(message, WsMessage::Ping(_)), "{message:?}");
}

#[tokio::test]
async fn frames_still_unflushed_at_the_shutdown_deadline_are_counted() {
    let mut server = TestServer::start(Config::default()).await;
    // A raw client that never reads a byte.
    let _stream = raw_upgrade(server.addr, "/probe").await;
    let handle = match server.next_event().await {
        Event::Started(handle) => handle,
        other => panic!("{other:?}"),
    };
    let chunk = "z".repeat(256 << 10);
    for _ in 0..48 {
        handle.send(chunk.clone()).await.unwrap();
    }
    // Wait until the infos became frames that the socket cannot take.
    within(async {
        while handle.stats().mailbox_len > 0 || handle.stats().buffered_bytes == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let metrics = within(server.handle.shutdown_and_wait(Duration::from_millis(300))).await;
    assert_eq!(metrics.unflushed_connections, 1, "{metrics:?}");
    assert!(metrics.unflushed_bytes > 0, "{metrics:?}");
    assert_eq!(metrics.active_connections, 0);
    assert_eq!(server.next_terminated().await, "shutdown");
}
