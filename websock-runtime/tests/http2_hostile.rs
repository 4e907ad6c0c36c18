//! Hostile HTTP/2 clients, written frame by frame: rapid reset, SETTINGS and PING floods,
//! endless CONTINUATION. Each is bounded by the caps the server sets on hyper's HTTP/2: the
//! attacker's connection is closed or throttled, and the server goes on serving others.

mod common;
mod h2_client;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use h2_client::*;
use std::{net::SocketAddr, time::Duration};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::tungstenite::Message;
use websock_runtime::Config;

/// A raw connection that has sent the preface and an empty SETTINGS.
async fn raw(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(PREFACE).await.unwrap();
    tcp.write_all(&h2_frame(SETTINGS, 0, 0, &[])).await.unwrap();
    tcp
}

/// The server still opens and serves a WebSocket over a fresh HTTP/2 connection.
async fn still_serves(addr: SocketAddr) {
    let mut client = H2Client::h2c(addr).await;
    let mut ws = client.websocket("/probe").await;
    within(ws.send(Message::text("echo:alive"))).await.unwrap();
    let reply = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(reply, Message::text("alive"));
}

/// Writes `frames` until done or until the server stops reading (then it throttles the
/// client: TCP backpressure); whether every byte went out.
async fn write_until_blocked(tcp: &mut TcpStream, frames: &[u8]) -> bool {
    tokio::time::timeout(Duration::from_secs(3), tcp.write_all(frames))
        .await
        .is_ok_and(|written| written.is_ok())
}

#[tokio::test]
async fn rapid_reset_is_answered_with_goaway() {
    let server = TestServer::start(Config::default()).await;
    let tcp = raw(server.addr).await;
    let (reader, mut writer) = tcp.into_split();
    let closed = tokio::spawn(read_until_closed(reader));
    // Open a stream and cancel it at once, 10,000 times (CVE-2023-44487).
    let mut burst = Vec::new();
    for i in 0..10_000u32 {
        let stream = 2 * i + 1;
        burst.extend(h2_frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            stream,
            &get_headers_block(),
        ));
        burst.extend(h2_frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), writer.write_all(&burst)).await;
    let goaway = within(closed).await.unwrap();
    // ENHANCE_YOUR_CALM (0xb): too many streams reset before they were answered.
    assert_eq!(goaway, Some(0xb), "GOAWAY error code");
    still_serves(server.addr).await;
}

#[tokio::test]
async fn settings_and_ping_floods_are_throttled() {
    let server = TestServer::start(Config::default()).await;
    // The flooder never reads: each SETTINGS and PING wants an answer, and the server holds
    // one pending answer of each kind, then stops reading until it can write. 18 MB of
    // frames is more than the kernel's socket buffers on both sides can take in.
    let mut settings = raw(server.addr).await;
    let flood: Vec<u8> = (0..2_000_000)
        .flat_map(|_| h2_frame(SETTINGS, 0, 0, &[]))
        .collect();
    let all_sent = write_until_blocked(&mut settings, &flood).await;
    assert!(!all_sent, "the server stopped reading the SETTINGS flood");
    still_serves(server.addr).await;

    let mut pings = raw(server.addr).await;
    let flood: Vec<u8> = (0..2_000_000u64)
        .flat_map(|i| h2_frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    let all_sent = write_until_blocked(&mut pings, &flood).await;
    assert!(!all_sent, "the server stopped reading the PING flood");
    still_serves(server.addr).await;
    drop((settings, pings));
}

#[tokio::test]
async fn endless_continuation_is_cut() {
    let server = TestServer::start(Config::default()).await;
    let tcp = raw(server.addr).await;
    let (reader, mut writer) = tcp.into_split();
    let closed = tokio::spawn(read_until_closed(reader));
    // HEADERS without END_HEADERS, then CONTINUATION frames of 100 B literal headers,
    // never ending, against a 16 KiB header list limit.
    let mut literal = vec![0x00, 3];
    literal.extend_from_slice(b"x-a");
    literal.push(100);
    literal.extend([b'a'; 100]);
    let chunk = h2_frame(CONTINUATION, 0, 1, &literal).repeat(256);
    let writing = tokio::spawn(async move {
        let head = h2_frame(HEADERS, 0, 1, &get_headers_block());
        if writer.write_all(&head).await.is_err() {
            return;
        }
        // Up to 256 MiB: far past any limit, and bounded should the server never stop us.
        for _ in 0..10_000 {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    within(closed).await.unwrap();
    writing.abort();
    still_serves(server.addr).await;
}
