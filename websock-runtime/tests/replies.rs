//! Every reply kind and close code a handler can produce, observed on the wire.

mod common;

use common::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use websock_runtime::Config;

#[tokio::test]
async fn push_one_many_binary_and_ping() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;

    send_text(&mut client, "echo:hello").await;
    assert_eq!(recv_text(&mut client).await, "hello");

    send_text(&mut client, "many:3").await;
    for i in 0..3 {
        assert_eq!(recv_text(&mut client).await, i.to_string());
    }

    send_text(&mut client, "binary").await;
    assert_eq!(recv(&mut client).await, WsMessage::binary(vec![1, 2, 3]));

    within(client.send(WsMessage::binary(vec![9, 8])))
        .await
        .unwrap();
    assert_eq!(recv(&mut client).await, WsMessage::binary(vec![9, 8]));

    send_text(&mut client, "ping").await;
    let ping = within(futures_util::StreamExt::next(&mut client))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ping, WsMessage::Ping("srv".into()));
}

#[tokio::test]
async fn stop_closes_1000_and_terminates_normal() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "stop").await;
    assert_eq!(recv_close(&mut client).await.0, 1000);
    assert_eq!(server.terminated().await, "normal");
}

#[tokio::test]
async fn close_with_an_application_code_and_reason() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "close:4001:bye now").await;
    assert_eq!(recv_close(&mut client).await, (4001, "bye now".to_owned()));
    assert_eq!(server.terminated().await, "normal");
}

#[tokio::test]
async fn error_reply_closes_1011_and_terminates_with_the_error() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "error").await;
    assert_eq!(recv_close(&mut client).await.0, 1011);
    assert_eq!(server.terminated().await, "error handler");
}

#[tokio::test]
async fn panic_closes_only_its_connection_with_1011() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut bystander, _) = server.open("/probe").await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "panic").await;
    assert_eq!(recv_close(&mut client).await.0, 1011);
    assert_eq!(server.terminated().await, "error panic");
    assert_eq!(server.handle.metrics().panics, 1);

    send_text(&mut bystander, "echo:still here").await;
    assert_eq!(recv_text(&mut bystander).await, "still here");
    let (mut newcomer, _) = server.open("/probe").await;
    send_text(&mut newcomer, "echo:new").await;
    assert_eq!(recv_text(&mut newcomer).await, "new");
}

#[tokio::test]
async fn stuck_callback_times_out_with_1011_and_others_keep_going() {
    let config = Config::default().callback_timeout(Duration::from_millis(200));
    let mut server = TestServer::start(config).await;
    let (mut bystander, _) = server.open("/probe").await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "sleep:60000").await;
    send_text(&mut bystander, "sleep:10").await;
    assert_eq!(recv_text(&mut bystander).await, "slept");
    assert_eq!(recv_close(&mut client).await.0, 1011);
    assert_eq!(server.terminated().await, "timeout callback");
}

#[tokio::test]
async fn async_callbacks_within_the_timeout_answer() {
    let config = Config::default().callback_timeout(Duration::from_secs(5));
    let mut server = TestServer::start(config).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "sleep:50").await;
    assert_eq!(recv_text(&mut client).await, "slept");
}

#[tokio::test]
async fn frames_pushed_before_a_stop_all_arrive_before_the_close() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "push-stop:10000").await;
    for expected in 0..10_000 {
        assert_eq!(recv_text(&mut client).await, expected.to_string());
    }
    assert_eq!(recv_close(&mut client).await.0, 1000);
    assert_eq!(server.terminated().await, "normal");
}

#[tokio::test]
async fn context_stop_sends_pushed_frames_then_its_close() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "ctx-stop").await;
    assert_eq!(recv_text(&mut client).await, "bye");
    assert_eq!(recv_close(&mut client).await, (4000, "ctx stop".to_owned()));
}

#[tokio::test]
async fn init_can_push_and_can_refuse_with_a_close_code() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, _) = server.open("/probe?greet=hi%20there").await;
    assert_eq!(recv_text(&mut client).await, "hi there");

    let mut refused = server.connect("/probe?refuse=1").await;
    assert_eq!(
        recv_close(&mut refused).await,
        (4403, "refused by init".to_owned())
    );
}
