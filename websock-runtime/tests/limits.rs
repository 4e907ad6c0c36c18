//! Frame and message limits, UTF-8, protocol errors and the write-buffer limit, each closing
//! only the offending connection with RFC 6455's code.

mod common;

use common::*;
use futures_util::SinkExt;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use websock_runtime::Config;

#[tokio::test]
async fn oversized_frame_closes_1009_from_its_header() {
    let config = Config::default().max_frame_size(1024);
    let mut server = TestServer::start(config).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    // Only the header of a 1 MiB frame: the server must decide without the payload.
    let header = &frame(true, 0x2, &vec![0; 1 << 20], true)[..14];
    stream.write_all(header).await.unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1009);
    assert_eq!(server.terminated().await, "error toobig");
}

#[tokio::test]
async fn oversized_fragmented_message_closes_1009() {
    let config = Config::default().max_message_size(4096);
    let mut server = TestServer::start(config).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    let mut bytes = frame(false, 0x2, &[0; 3000], true);
    bytes.extend(frame(true, 0x0, &[0; 3000], true));
    stream.write_all(&bytes).await.unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1009);
    assert_eq!(server.terminated().await, "error toobig");
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let mut server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    stream
        .write_all(&frame(true, 0x1, &[0xff, 0xfe], true))
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1007);
    assert_eq!(server.terminated().await, "error invalidutf8");
}

#[tokio::test]
async fn unmasked_client_frame_closes_1002() {
    let mut server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    stream
        .write_all(&frame(true, 0x1, b"hi", false))
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1002);
    assert_eq!(server.terminated().await, "error protocol");
}

#[tokio::test]
async fn reserved_opcode_closes_1002() {
    let mut server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    stream
        .write_all(&frame(true, 0x3, b"", true))
        .await
        .unwrap();
    assert_eq!(raw_close_code(&mut stream).await, 1002);
    assert_eq!(server.terminated().await, "error protocol");
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_at_the_write_limit() {
    let config = Config::default().max_write_buffer(256 << 10);
    let mut server = TestServer::start(config).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    let handle = match server.next_event().await {
        Event::Started(handle) => handle,
        other => panic!("{other:?}"),
    };
    // Ask for infos that push 64 KiB each and never read a byte.
    let chunk = "x".repeat(64 << 10);
    let mut max_buffered = 0;
    for _ in 0..400 {
        if handle.send(chunk.clone()).await.is_err() {
            break;
        }
        max_buffered = max_buffered.max(handle.stats().buffered_bytes);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(server.terminated().await, "error slowreader");
    let stats = handle.stats();
    assert!(stats.dropped_frames >= 1, "{stats:?}");
    // Never more than the limit plus one frame was held for it.
    assert!(
        max_buffered <= (256 << 10) + chunk.len() + 16,
        "{max_buffered}"
    );
    assert!(server.handle.metrics().dropped_frames >= 1);
    // The server still serves others.
    let (mut other, _) = server.open("/probe").await;
    send_text(&mut other, "echo:ok").await;
    assert_eq!(recv_text(&mut other).await, "ok");
    stream.shutdown().await.ok();
}

#[tokio::test]
async fn a_fast_writer_slow_reader_is_slowed_not_cut() {
    use futures_util::StreamExt;
    let config = Config::default().max_write_buffer(1 << 20);
    let mut server = TestServer::start(config).await;
    let (client, _) = server.open("/probe").await;
    let (mut sink, mut stream) = client.split();
    // 8 MiB of echoes written as fast as possible, read slowly: TCP backpressure, not a 1008.
    let payload = vec![7u8; 64 << 10];
    let writer = tokio::spawn(async move {
        for _ in 0..128 {
            sink.send(WsMessage::binary(payload.clone())).await.unwrap();
        }
        sink
    });
    for _ in 0..128 {
        let message = within(stream.next()).await.unwrap().unwrap();
        assert_eq!(message.len(), 64 << 10);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    drop(within(writer).await.unwrap());
    assert_eq!(server.handle.metrics().dropped_frames, 0);
}
