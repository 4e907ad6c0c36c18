//! Memory a client controls: a frame header's announced length buys no memory. The server runs
//! in a child process (this test binary, re-run under `ulimit -v`) so the address-space cap is
//! its own; before the fix, about 130 connections announcing 16 MiB frames made it abort
//! ("memory allocation of 16777230 bytes failed").

mod common;

use common::*;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};
use tokio::io::AsyncWriteExt;
use websock_runtime::Config;

const CHILD: &str = "WEBSOCK_MEMORY_CHILD";

/// The child: an echo server (default limits: 16 MiB frames) that prints its address. Only runs
/// when the parent asks.
#[tokio::test]
async fn child_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let server = TestServer::start(Config::default()).await;
    println!("listening on {}", server.addr);
    // Bounded: the parent kills it long before this.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// A masked binary frame's header announcing `len` bytes, then `sent` bytes of its payload.
fn stalled_frame(len: u64, sent: usize) -> Vec<u8> {
    let mut bytes = vec![0x82, 0x80 | 127];
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    bytes.extend(std::iter::repeat_n(0x55, sent));
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_16_mib_frames_do_not_exhaust_a_capped_address_space() {
    let exe = std::env::current_exe().unwrap();
    // 2 GiB of address space: room for the process and ~100 reservations of 16 MiB, not 200.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" child_server --exact --nocapture --test-threads 1")
        .arg(&exe)
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split("listening on ").nth(1).map(str::to_owned))
            .expect("child printed no address")
    })
    .await
    .unwrap();
    let addr = addr.parse().unwrap();

    let mut stalled = Vec::new();
    for i in 0..200 {
        let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::spawn(async move { raw_upgrade(addr, "/probe").await }),
        )
        .await
        else {
            panic!("upgrade {i} failed: the server died after {i} stalled frames");
        };
        stream
            .write_all(&stalled_frame(16 << 20, 100))
            .await
            .unwrap();
        stalled.push(stream);
    }

    // The server is alive and serves a fresh client (the child serves its connections in order
    // on one thread, so the stalled frames' bytes were read before this echo).
    for round in 0..2 {
        let (mut fresh, _) = within(tokio_tungstenite::connect_async(format!(
            "ws://{addr}/probe"
        )))
        .await
        .expect("a fresh client could not connect");
        send_text(&mut fresh, &format!("echo:alive {round}")).await;
        assert_eq!(recv_text(&mut fresh).await, format!("alive {round}"));
    }
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    // And no stalled connection was refused for want of memory: nothing came back on any.
    let refused = stalled
        .iter()
        .filter(|stream| {
            let mut byte = [0u8; 1];
            !matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(refused, 0, "stalled connections were closed");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stalled);
}
