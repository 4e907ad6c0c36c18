//! A client that reads slowly, through a small receive buffer, still gets every frame in order:
//! the server's write queue (small frames gathered, large payloads queued as they are) is
//! written in pieces as the socket takes them.

mod common;

use common::*;
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};
use websock_runtime::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_gets_every_frame_in_order() {
    let server = TestServer::start(Config::default()).await;
    let socket = TcpSocket::new_v4().unwrap();
    // A small receive window: the server's writes are taken a little at a time.
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = format!(
        "GET /probe HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert!(read_head(&mut stream).await.starts_with("HTTP/1.1 101"));

    // Echoes of small and large messages, and bursts of small frames between them.
    let mut expected: Vec<(u8, Vec<u8>)> = Vec::new();
    for i in 0..24u32 {
        let len = [90, 3_000, 9_000, 120_000][i as usize % 4];
        let payload: Vec<u8> = (0..len).map(|j| (i * 7 + j) as u8).collect();
        stream
            .write_all(&frame(true, 0x2, &payload, true))
            .await
            .unwrap();
        expected.push((0x82, payload));
        if i % 5 == 0 {
            stream
                .write_all(&frame(true, 0x1, b"many:50", true))
                .await
                .unwrap();
            expected.extend((0..50).map(|n| (0x81, n.to_string().into_bytes())));
        }
    }

    // Read slowly: a little at a time, pausing now and then, so the server's queue is written
    // in many pieces.
    let total: usize = expected
        .iter()
        .map(|(_, payload)| match payload.len() {
            n if n < 126 => 2 + n,
            n if n < 65_536 => 4 + n,
            n => 10 + n,
        })
        .sum();
    let mut received = Vec::new();
    let mut chunk = [0u8; 1500];
    let mut reads = 0;
    while received.len() < total {
        let n = within(stream.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "the server closed after {} bytes", received.len());
        received.extend_from_slice(&chunk[..n]);
        reads += 1;
        if reads % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    assert_eq!(received.len(), total, "more bytes than the frames sent");
    let got = frames_in(&received);
    assert_eq!(got.len(), expected.len());
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        assert!(got == want, "frame {i} differs");
    }
}

/// The complete server frames in `bytes` (unmasked, unfragmented).
fn frames_in(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (len, header) = match bytes[1] {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 if bytes.len() >= 10 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            short => (short as usize, 2),
        };
        if bytes.len() < header + len {
            break;
        }
        frames.push((bytes[0], bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}
