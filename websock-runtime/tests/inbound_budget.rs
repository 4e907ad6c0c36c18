//! The server-wide budget for partly received messages (`Server::max_inbound_buffer`): the
//! connection whose message would take the server past it is closed with 1009 and counted;
//! everyone else is served, and every share is given back, whether its message completes or
//! its client goes away.

mod common;

use common::*;
use std::time::Duration;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use websock_runtime::{Config, Metrics, ServerHandle};

const BUDGET: usize = 100_000;

/// Waits (bounded) until the server's counters satisfy `done`.
async fn metrics_until(handle: &ServerHandle, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let metrics = handle.metrics();
            if done(&metrics) {
                return metrics;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("counters never got there: {:?}", handle.metrics()))
}

/// Connects and sends the first `sent` bytes of a binary frame of `payload`.
async fn stall(server: &TestServer, payload: &[u8], sent: usize) -> (TcpStream, Vec<u8>) {
    let bytes = frame(true, 0x2, payload, true);
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    stream.write_all(&bytes[..sent]).await.unwrap();
    (stream, bytes[sent..].to_vec())
}

#[tokio::test]
async fn past_the_budget_only_the_connection_that_would_exceed_it_is_closed() {
    let server = TestServer::start_with(Config::default(), |s| s.max_inbound_buffer(BUDGET)).await;
    let payload: Vec<u8> = (0..60_000u32).map(|i| (i % 253) as u8).collect();
    let header = 8; // 2 bytes, the 2-byte length, the mask

    // Two clients each send 40,000 bytes of a 60,000-byte message and stall.
    let (mut a, a_rest) = stall(&server, &payload, header + 40_000).await;
    let (b, _) = stall(&server, &payload, header + 40_000).await;
    metrics_until(&server.handle, |m| m.inbound_buffered_bytes == 80_000).await;

    // A third would take the server past 100,000: closed with 1009, counted.
    let (mut c, _) = stall(&server, &payload, header + 30_000).await;
    assert_eq!(raw_close_code(&mut c).await, 1009);
    let metrics = metrics_until(&server.handle, |m| m.closed_over_inbound_buffer == 1).await;
    assert_eq!(metrics.inbound_buffered_bytes, 80_000, "{metrics:?}");

    // A fourth, with small messages, is served meanwhile.
    let mut d = server.connect("/probe").await;
    for i in 0..20 {
        send_text(&mut d, &format!("echo:{i}")).await;
        assert_eq!(recv_text(&mut d).await, i.to_string());
    }

    // The first completes its message and gets it echoed; the second goes away.
    a.write_all(&a_rest).await.unwrap();
    let (head, echoed) = read_frame(&mut a).await;
    assert_eq!(head, 0x82);
    assert!(echoed == payload, "the echo differs");
    drop(b);
    let metrics = metrics_until(&server.handle, |m| m.inbound_buffered_bytes == 0).await;
    assert_eq!(metrics.closed_over_inbound_buffer, 1);
    assert_eq!(metrics.allocation_failures, 0);

    // With the budget given back, a message that did not fit before now does.
    let (mut e, e_rest) = stall(&server, &payload, header + 30_000).await;
    e.write_all(&e_rest).await.unwrap();
    let (_, echoed) = read_frame(&mut e).await;
    assert_eq!(echoed.len(), payload.len());
}

#[tokio::test]
async fn fragmented_messages_count_until_their_last_fragment() {
    let server = TestServer::start_with(Config::default(), |s| s.max_inbound_buffer(BUDGET)).await;
    let chunk = vec![b'x'; 30_000];
    let mut a = raw_upgrade(server.addr, "/probe").await;
    // Two whole fragments of a binary message: 60,000 bytes held until the last one.
    a.write_all(
        &[
            frame(false, 0x2, &chunk, true),
            frame(false, 0x0, &chunk, true),
        ]
        .concat(),
    )
    .await
    .unwrap();
    metrics_until(&server.handle, |m| m.inbound_buffered_bytes == 60_000).await;

    // Another client's fragments would take the total past 100,000.
    let mut b = raw_upgrade(server.addr, "/probe").await;
    b.write_all(
        &[
            frame(false, 0x2, &chunk, true),
            frame(false, 0x0, &chunk, true),
        ]
        .concat(),
    )
    .await
    .unwrap();
    assert_eq!(raw_close_code(&mut b).await, 1009);

    // The first ends its message: echoed whole, and its share is given back.
    a.write_all(&frame(true, 0x0, b"!", true)).await.unwrap();
    let (head, echoed) = read_frame(&mut a).await;
    assert_eq!((head, echoed.len()), (0x82, 60_001));
    let metrics = metrics_until(&server.handle, |m| m.inbound_buffered_bytes == 0).await;
    assert_eq!(metrics.closed_over_inbound_buffer, 1);
}
