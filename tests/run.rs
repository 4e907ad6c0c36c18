//! `websock::run`, as a user runs it: the echo example binary (built by `cargo test`) with
//! `WEBSOCK_ADDR=127.0.0.1:0` prints `listening on <bound addr>` first on stdout, logs through
//! the `tracing` subscriber it installs (to stderr, filtered by `RUST_LOG`), and on SIGTERM
//! closes its connections with 1012 and exits cleanly.

#![cfg(unix)]

use futures_util::{SinkExt, StreamExt};
use std::{future::Future, net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio_tungstenite::tungstenite::Message;

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("timed out waiting")
}

/// `target/<profile>/examples/<name>`, built by `cargo test` with the test binaries.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test` (which builds the examples) first",
        binary.display()
    );
    binary
}

/// Reads lines until one contains `needle`; panics if the stream ends first.
async fn line_containing<R: AsyncRead + Unpin>(lines: &mut Lines<BufReader<R>>, needle: &str) {
    loop {
        match within(lines.next_line()).await.unwrap() {
            Some(line) if line.contains(needle) => return,
            Some(_) => {}
            None => panic!("the output ended without a line containing {needle:?}"),
        }
    }
}

#[tokio::test]
async fn run_prints_the_bound_address_logs_and_stops_gracefully_on_sigterm() {
    let mut child = tokio::process::Command::new(example_binary("echo"))
        .env("WEBSOCK_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "websock=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();

    let first = within(stdout.next_line())
        .await
        .unwrap()
        .expect("the example printed nothing");
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the first line is not `listening on <addr>`: {first:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0, "the printed address is the bound one");

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/ws/echo"
    )))
    .await
    .unwrap();
    within(client.send(Message::text("hello"))).await.unwrap();
    match within(client.next()).await {
        Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), "hello"),
        other => panic!("expected the echo, got {other:?}"),
    }
    // `RUST_LOG=websock=debug` reaches the runtime's debug events, on stderr.
    line_containing(&mut stderr, "connection open").await;

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    match within(client.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1012),
        other => panic!("expected a 1012 close, got {other:?}"),
    }
    // Reading on sends our close reply, so the server need not wait out its close timeout.
    while within(client.next()).await.is_some() {}
    line_containing(&mut stderr, "shutting down").await;
    let exit = within(child.wait()).await.unwrap();
    assert!(exit.success(), "{exit}");
}

// The runtime's HTTP/2 test client (hyper's, with RFC 8441) and test certificate.
#[path = "../websock-runtime/tests/h2_client/mod.rs"]
mod h2_client;

/// Starts the echo example with `env`; its child process and the address it printed.
async fn start_echo(env: &[(&str, &str)]) -> (tokio::process::Child, SocketAddr) {
    let mut child = tokio::process::Command::new(example_binary("echo"))
        .env("WEBSOCK_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = within(stdout.next_line())
        .await
        .unwrap()
        .unwrap_or_default();
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the first line is not `listening on <addr>`: {first:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

#[tokio::test]
async fn run_serves_tls_and_http2_when_given_a_certificate() {
    let cert = h2_client::TestCert::new();
    let (cert_path, key_path) = (
        cert.cert_path.to_str().unwrap(),
        cert.key_path.to_str().unwrap(),
    );
    let (_child, addr) = start_echo(&[
        ("WEBSOCK_TLS_CERT", cert_path),
        ("WEBSOCK_TLS_KEY", key_path),
    ])
    .await;

    // HTTP/2 chosen by ALPN, the WebSocket on a stream.
    let mut h2 = h2_client::H2Client::tls(addr, &cert).await;
    let mut ws = h2.websocket("/ws/echo").await;
    within(ws.send(Message::text("over h2"))).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        Message::text("over h2")
    );

    // HTTP/1.1 chosen by ALPN, the usual upgrade: wss://.
    let tls = cert.connect(addr, &[b"http/1.1"]).await;
    let (mut ws, _) = within(tokio_tungstenite::client_async(
        "wss://localhost/ws/echo",
        tls,
    ))
    .await
    .unwrap();
    within(ws.send(Message::text("over h1"))).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        Message::text("over h1")
    );
}

#[tokio::test]
async fn run_refuses_half_a_tls_configuration() {
    let mut child = tokio::process::Command::new(example_binary("echo"))
        .env("WEBSOCK_ADDR", "127.0.0.1:0")
        .env("WEBSOCK_TLS_CERT", "/nonexistent/cert.pem")
        .env_remove("WEBSOCK_TLS_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    line_containing(&mut stderr, "WEBSOCK_TLS_KEY").await;
    let exit = within(child.wait()).await.unwrap();
    assert!(!exit.success());
}
