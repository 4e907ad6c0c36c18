//! The fast lane: `Handle::try_write_frame` writes a frame straight to an idle connection's
//! socket from another task, and never lets a frame overtake what the connection already had.

mod common;

use common::*;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite;
use websock_runtime::{Config, Frame, Handle};

/// Tries the lane until the connection has parked and opened it.
async fn write_when_idle(handle: &Handle<Probe>, frame: &Frame) {
    within(async {
        while !handle.try_write_frame(frame) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// The number a frame carries: `"<n>"` through the lane, `"info:<n>"` through the mailbox and
/// `handle_info`, optionally padded with `.`.
fn number(text: &str) -> u64 {
    let text = text.strip_prefix("info:").unwrap_or(text);
    text.trim_end_matches('.')
        .parse()
        .expect("a numbered frame")
}

#[tokio::test]
async fn an_idle_connection_takes_a_frame_without_its_task() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    write_when_idle(&handle, &Frame::text("direct")).await;
    // Not through `handle_info`, which would have prefixed it with `info:`.
    assert_eq!(recv_text(&mut client).await, "direct");
    // The connection still works as before.
    send_text(&mut client, "echo:after").await;
    assert_eq!(recv_text(&mut client).await, "after");
    write_when_idle(&handle, &Frame::binary(vec![1, 2, 3])).await;
    assert_eq!(
        recv(&mut client).await,
        tungstenite::Message::binary(vec![1, 2, 3])
    );
}

#[tokio::test]
async fn control_frames_never_take_the_lane() {
    let mut server = TestServer::start(Config::default()).await;
    let (_client, handle) = server.open("/probe").await;
    write_when_idle(&handle, &Frame::text("warm")).await;
    let ping = Frame::Ping(websock_runtime::ControlPayload::empty());
    assert!(!handle.try_write_frame(&ping));
}

/// One sender alternates the mailbox and the lane (the mailbox whenever the lane refuses):
/// the client must see every number once, in order, however the two race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_overtakes_what_the_mailbox_holds() {
    const COUNT: u64 = 20_000;
    let mut server = TestServer::start(Config::default()).await;
    let (mut client, handle) = server.open("/probe").await;
    write_when_idle(&handle, &Frame::text("0")).await;
    let sender = tokio::spawn(async move {
        let mut through_lane = 0u64;
        for i in 1..COUNT {
            let lane = i % 3 != 0 && handle.try_write_frame(&Frame::text(i.to_string()));
            if lane {
                through_lane += 1;
            } else {
                handle.send(i.to_string()).await.unwrap();
            }
            if i % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        through_lane
    });
    for expected in 0..COUNT {
        assert_eq!(number(&recv_text(&mut client).await), expected);
    }
    let through_lane = sender.await.unwrap();
    assert!(through_lane > 0, "the lane never opened");
    println!("{through_lane} of {COUNT} frames through the lane");
}

/// A client that stops reading: the lane's writes fill the socket, one of them goes in part,
/// and the connection writes the rest before anything else. Every frame arrives whole and in
/// order once the client reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_the_socket_takes_in_part_is_finished_by_the_connection() {
    const COUNT: u64 = 400;
    const SIZE: usize = 60_000;
    let config = Config::default()
        .max_write_buffer(64 << 20)
        .max_message_size(1 << 20);
    let mut server = TestServer::start(config).await;
    let (mut client, handle) = server.open("/probe").await;
    write_when_idle(&handle, &Frame::text(format!("{:.<SIZE$}", 0))).await;
    let sender = tokio::spawn(async move {
        let mut through_lane = 0u64;
        for i in 1..COUNT {
            let text = format!("{i:.<SIZE$}");
            if handle.try_write_frame(&Frame::text(text.clone())) {
                through_lane += 1;
            } else {
                handle.send(text).await.unwrap();
            }
            tokio::task::yield_now().await;
        }
        through_lane
    });
    // Not reading yet: the socket's buffers fill (a few MB on loopback).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut expected = 0;
    while expected < COUNT {
        let message = within(client.next()).await.expect("open").expect("a frame");
        let text = message.into_text().expect("a text frame");
        let body = text.strip_prefix("info:").unwrap_or(&text);
        assert_eq!(body.len(), SIZE, "frame {expected} arrived whole");
        assert_eq!(number(body), expected);
        expected += 1;
    }
    assert!(sender.await.unwrap() > 0, "the lane never opened");
}
