//! Accept errors: a server whose open-files limit is lowered keeps serving its connections,
//! backs off instead of spinning, and recovers when descriptors free up. The server runs in a
//! child process (this test binary, re-run with a lowered `ulimit -n`) so the limit is its own.

mod common;

use common::*;
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};
use websock_runtime::Config;

const CHILD: &str = "WEBSOCK_OUT_OF_FDS_CHILD";

/// The child: an echo server that prints its address. Only runs when the parent asks.
#[tokio::test]
async fn child_server() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let server = TestServer::start(Config::default()).await;
    println!("listening on {}", server.addr);
    // Bounded: the parent kills it long before this.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_backs_off_and_recovers() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" child_server --exact --nocapture --test-threads 1")
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

    // Open connections until the server runs out of descriptors and stops answering.
    let mut open = Vec::new();
    for _ in 0..100 {
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://{addr}/probe")),
        )
        .await;
        match attempt {
            Ok(Ok((client, _))) => open.push(client),
            _ => break,
        }
    }
    assert!(open.len() >= 10 && open.len() < 48, "opened {}", open.len());

    // While out of descriptors the accept loop backs off: little CPU over a second.
    let pid = child.id();
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_ticks(pid) - before;
    assert!(spent < 30, "accept loop spun: {spent} ticks in 1 s");

    // Existing connections are still served.
    for (i, client) in open.iter_mut().enumerate() {
        send_text(client, &format!("echo:{i}")).await;
        assert_eq!(recv_text(client).await, i.to_string());
    }

    // Free some descriptors: new connections succeed again.
    open.truncate(open.len() - 8);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut fresh, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/probe"
    )))
    .await
    .expect("no recovery after descriptors were freed");
    send_text(&mut fresh, "echo:recovered").await;
    assert_eq!(recv_text(&mut fresh).await, "recovered");
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    child.kill().unwrap();
    child.wait().unwrap();
}
