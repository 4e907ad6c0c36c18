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

/// The child: an echo server that prints its address, then its allocation failures as they
/// are counted. Default limits (16 MiB frames), or 1 GiB frames when the parent asks for
/// `large`. Only runs when the parent asks.
#[tokio::test]
async fn child_server() {
    let Some(mode) = std::env::var_os(CHILD) else {
        return;
    };
    let config = match mode.to_str() {
        Some("large") => Config::default()
            .max_frame_size(1 << 30)
            .max_message_size(1 << 30),
        _ => Config::default(),
    };
    let server = TestServer::start(config).await;
    println!("listening on {}", server.addr);
    // Bounded: the parent kills it long before this.
    let mut reported = 0;
    for _ in 0..12_000 {
        let failures = server.handle.metrics().allocation_failures;
        if failures != reported {
            reported = failures;
            println!("allocation failures {failures}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the child server under `ulimit -v kib` and returns it, its address and the rest of
/// its output, line by line.
async fn capped_child(
    kib: u64,
    mode: &str,
) -> (
    std::process::Child,
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<String>,
) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {kib} && exec \"$0\" child_server --exact --nocapture --test-threads 1"
        ))
        .arg(&exe)
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || {
        let addr = output
            .iter()
            .find_map(|line| line.split("listening on ").nth(1).map(str::to_owned))
            .expect("child printed no address");
        (addr, output)
    })
    .await
    .unwrap();
    (child, addr.0.parse().unwrap(), addr.1)
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
    // 2 GiB of address space: room for the process and ~100 reservations of 16 MiB, not 200.
    let (mut child, addr, _output) = capped_child(2 << 20, "default").await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_allocation_closes_that_connection_not_the_process() {
    // 1 GiB of address space, and a client that really sends most of a 900 MiB frame (the
    // limits allow 1 GiB): growing the buffer past what the cap leaves fails.
    let (mut child, addr, output) = capped_child(1 << 20, "large").await;
    let mut stream = raw_upgrade(addr, "/probe").await;
    let (mut read, mut write) = stream.split();
    let sending = async {
        write.write_all(&stalled_frame(900 << 20, 0)).await?;
        let chunk = vec![0x55u8; 1 << 20];
        for _ in 0..900 {
            write.write_all(&chunk).await?;
        }
        std::io::Result::Ok(())
    };
    // The server closes: its close frame (1009) arrives, or the reset that follows it.
    let closed = async {
        let mut head = [0u8; 4];
        match tokio::io::AsyncReadExt::read_exact(&mut read, &mut head).await {
            Ok(_) => Some(u16::from_be_bytes([head[2], head[3]])),
            Err(_) => None,
        }
    };
    let (sent, code) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(sending, closed)
    })
    .await
    .expect("the server neither closed nor failed");
    assert!(sent.is_err(), "the whole frame was accepted");
    assert!(matches!(code, None | Some(1009)), "{code:?}");
    drop(stream);

    // Counted, and the process goes on serving.
    let counted = tokio::task::spawn_blocking(move || {
        output
            .iter()
            .find_map(|line| line.strip_prefix("allocation failures ").map(str::to_owned))
    })
    .await
    .unwrap();
    assert_eq!(counted.as_deref(), Some("1"));
    let (mut fresh, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/probe"
    )))
    .await
    .expect("a fresh client could not connect");
    send_text(&mut fresh, "echo:alive").await;
    assert_eq!(recv_text(&mut fresh).await, "alive");
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    child.kill().unwrap();
    child.wait().unwrap();
}
