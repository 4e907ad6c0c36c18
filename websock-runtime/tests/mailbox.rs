//! Talking to a connection from outside: handles, the bounded mailbox and timers.

mod common;

use common::*;
use std::time::Duration;
use websock_runtime::{CloseCode, Config, SendError};

#[tokio::test]
async fn info_from_another_task_reaches_handle_info() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    tokio::spawn(async move { handle.send("from a task".to_owned()).await.unwrap() });
    assert_eq!(recv_text(&mut client).await, "info:from a task");
}

#[tokio::test]
async fn infos_from_one_sender_arrive_in_order() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    tokio::spawn(async move {
        for i in 0..2000 {
            handle.send(i.to_string()).await.unwrap();
        }
    });
    for i in 0..2000 {
        assert_eq!(recv_text(&mut client).await, format!("info:{i}"));
    }
}

#[tokio::test]
async fn send_after_fires_and_a_cancelled_timer_never_does() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "cancel:50").await;
    send_text(&mut client, "after:100:first").await;
    send_text(&mut client, "after:10:second").await;
    assert_eq!(recv_text(&mut client).await, "info:second");
    assert_eq!(recv_text(&mut client).await, "info:first");
    // Well past the cancelled timer's deadline, nothing else arrived.
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_text(&mut client, "echo:marker").await;
    assert_eq!(recv_text(&mut client).await, "marker");
}

#[tokio::test]
async fn a_full_mailbox_is_an_error_the_sender_sees() {
    let config = Config::default().mailbox_capacity(4);
    let mut server = TestServer::start(config).await;
    let (_client, handle) = server.open("/probe").await;
    // The first info blocks the connection for a while; the next four fill the mailbox.
    handle.try_send("block:500".to_owned()).unwrap();
    assert!(matches!(server.next_event().await, Event::Info(text) if text == "block:500"));
    for i in 0..4 {
        handle.try_send(i.to_string()).unwrap();
    }
    assert_eq!(handle.stats().mailbox_len, 4);
    match handle.try_send("one too many".to_owned()) {
        Err(SendError::Full(info)) => {
            let websock_runtime_probe_info = info;
            let ProbeInfo::Text(text) = websock_runtime_probe_info;
            assert_eq!(text, "one too many");
        }
        other => panic!("expected Full, got {:?}", other.map_err(|e| e.to_string())),
    }
}

#[tokio::test]
async fn sending_to_a_closed_connection_is_an_error_value() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    assert!(handle.is_alive());
    send_text(&mut client, "stop").await;
    recv_close(&mut client).await;
    server.terminated().await;
    within(async {
        while handle.is_alive() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(matches!(
        handle.try_send("late".to_owned()),
        Err(SendError::Closed(_))
    ));
    assert!(matches!(
        handle.send("late".to_owned()).await,
        Err(SendError::Closed(_))
    ));
}

#[tokio::test]
async fn a_handle_can_close_its_connection() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    handle.try_send("handled first".to_owned()).unwrap();
    assert_eq!(recv_text(&mut client).await, "info:handled first");
    // A close does not queue behind the infos (see `Handle::close`, and
    // handler_mistakes::handle_close_works_when_the_mailbox_is_full).
    handle
        .close(websock_runtime::Close::new(
            CloseCode::new(4100).unwrap(),
            "kicked",
        ))
        .unwrap();
    assert_eq!(recv_close(&mut client).await, (4100, "kicked".to_owned()));
    assert_eq!(server.terminated().await, "normal");
}
