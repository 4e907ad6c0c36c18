//! Clients that misbehave on purpose: floods, huge fragmented messages, resets and half-closed
//! sockets. Each ends only its own connection, with the right code or `terminate(Remote)`.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use websock_runtime::Config;

#[tokio::test]
async fn ten_thousand_tiny_frames_in_one_write_are_all_answered_in_order() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    let mut bytes = Vec::new();
    for i in 0..10_000 {
        bytes.extend(frame(true, 0x1, format!("echo:{i}").as_bytes(), true));
    }
    let (mut read, mut write) = stream.split();
    let writer = async { write.write_all(&bytes).await.unwrap() };
    let reader = async {
        for i in 0..10_000 {
            let mut head = [0u8; 2];
            read.read_exact(&mut head).await.unwrap();
            assert_eq!(head[0], 0x81);
            let mut payload = vec![0; usize::from(head[1])];
            read.read_exact(&mut payload).await.unwrap();
            assert_eq!(payload, i.to_string().as_bytes());
        }
    };
    within(async { tokio::join!(writer, reader) }).await;
}

#[tokio::test]
async fn a_ping_flood_gets_pongs_and_does_not_disturb_others() {
    let mut server = TestServer::start(Config::default()).await;
    let (mut other, _) = server.open("/probe").await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    let mut bytes = Vec::new();
    for i in 0..5_000u32 {
        bytes.extend(frame(true, 0x9, &i.to_be_bytes(), true));
    }
    bytes.extend(frame(true, 0x1, b"echo:after the flood", true));
    let (mut read, mut write) = stream.split();
    let writer = async { write.write_all(&bytes).await.unwrap() };
    let reader = async {
        // Pongs (possibly coalesced: RFC 6455 §5.5.3 allows answering only the latest ping),
        // then the echo.
        let mut pongs = 0;
        loop {
            let mut head = [0u8; 2];
            read.read_exact(&mut head).await.unwrap();
            let mut payload = vec![0; usize::from(head[1] & 0x7f)];
            read.read_exact(&mut payload).await.unwrap();
            match head[0] {
                0x8a => pongs += 1,
                0x81 => {
                    assert_eq!(payload, b"after the flood");
                    break;
                }
                other => panic!("unexpected frame {other:#x}"),
            }
        }
        assert!(pongs >= 1);
    };
    within(async { tokio::join!(writer, reader) }).await;
    send_text(&mut other, "echo:undisturbed").await;
    assert_eq!(recv_text(&mut other).await, "undisturbed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mib_message_in_1_byte_fragments_is_reassembled() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    const SIZE: usize = 16 << 20;
    let (mut read, mut write) = stream.split();
    let writer = async {
        // Written in chunks so the client itself holds little.
        let mut chunk = Vec::with_capacity(7 << 16);
        for i in 0..SIZE {
            let opcode = if i == 0 { 0x2 } else { 0x0 };
            chunk.extend(frame(i == SIZE - 1, opcode, &[(i % 251) as u8], true));
            if chunk.len() >= 7 << 16 {
                write.write_all(&chunk).await.unwrap();
                chunk.clear();
            }
        }
        write.write_all(&chunk).await.unwrap();
    };
    let reader = async {
        let mut head = [0u8; 10];
        read.read_exact(&mut head).await.unwrap();
        assert_eq!(head[0], 0x82);
        assert_eq!(head[1], 127);
        assert_eq!(
            u64::from_be_bytes(head[2..].try_into().unwrap()),
            SIZE as u64
        );
        let mut payload = vec![0; SIZE];
        read.read_exact(&mut payload).await.unwrap();
        assert!(
            payload
                .iter()
                .enumerate()
                .all(|(i, b)| *b == (i % 251) as u8)
        );
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(writer, reader)
    })
    .await
    .expect("16 MiB in 1-byte fragments took too long");
}

#[tokio::test]
async fn a_tcp_reset_mid_frame_terminates_remote() {
    let mut server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    assert!(matches!(server.next_event().await, Event::Started(_)));
    let bytes = frame(true, 0x1, &[b'a'; 1000], true);
    stream.write_all(&bytes[..500]).await.unwrap();
    stream.set_zero_linger().unwrap();
    drop(stream); // RST, not FIN
    assert_eq!(server.terminated().await, "remote");
    let (mut other, _) = server.open("/probe").await;
    send_text(&mut other, "echo:fine").await;
    assert_eq!(recv_text(&mut other).await, "fine");
}

#[tokio::test]
async fn a_half_closed_client_still_gets_its_answer_then_the_connection_ends() {
    let mut server = TestServer::start(Config::default()).await;
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    assert!(matches!(server.next_event().await, Event::Started(_)));
    stream
        .write_all(&frame(true, 0x1, b"echo:last words", true))
        .await
        .unwrap();
    stream.shutdown().await.unwrap(); // FIN: we will not write again, but we still read
    let mut reply = [0u8; 12];
    within(stream.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"\x81\x0alast words");
    assert_eq!(server.terminated().await, "remote");
}

#[tokio::test]
async fn frames_queued_when_shutdown_begins_all_arrive_before_the_close() {
    let mut server = TestServer::start(Config::default()).await;
    let (client, handle) = server.open("/probe").await;
    let (_, mut stream) = futures_util::StreamExt::split(client);
    for i in 0..10_000 {
        handle.send(i.to_string()).await.unwrap();
    }
    let server_handle = server.handle.clone();
    let waiter = tokio::spawn(async move {
        server_handle
            .shutdown_and_wait(Duration::from_secs(20))
            .await
    });
    let mut expected = 0;
    loop {
        match within(futures_util::StreamExt::next(&mut stream)).await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                assert_eq!(text.as_str(), format!("info:{expected}"));
                expected += 1;
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1012);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Every info accepted before the shutdown was handled and its frame delivered, or counted.
    let metrics = within(waiter).await.unwrap();
    assert_eq!(
        expected as u64 + metrics.dropped_infos,
        10_000,
        "{metrics:?}"
    );
    assert_eq!(metrics.unflushed_bytes, 0);
}
