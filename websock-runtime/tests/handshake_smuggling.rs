//! Handshakes that try to make two parties read one request differently: repeated
//! single-value headers, a body on an upgrade (request smuggling), and refused upgrades that
//! must not take a connection slot.

mod common;

use common::*;
use std::net::SocketAddr;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};
use websock_runtime::{
    Close, Config, Context, Handler, Message, Reply, Router, Server, WebSocketRoute, websocket,
};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const OTHER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEA==";

/// An upgrade of `/probe` with `extra` header lines after the usual ones.
fn upgrade_request(addr: SocketAddr, extra: &[(&str, &str)]) -> String {
    let mut text = format!(
        "GET /probe HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

#[tokio::test]
async fn a_repeated_single_value_header_gets_400_with_the_header_named() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    let cases = [
        ("Host", "host", "evil.example"),
        ("Sec-WebSocket-Key", "sec-websocket-key", OTHER_KEY),
        ("Sec-WebSocket-Version", "sec-websocket-version", "13"),
    ];
    for (name, lower, value) in cases {
        let (status, head, body) = http(addr, &upgrade_request(addr, &[(name, value)])).await;
        assert_eq!(status, 400, "second {name}: {head}{body}");
        assert!(
            body.contains(&format!("the {lower} header may appear only once")),
            "second {name}: {body:?}"
        );
    }
    // Origin decides the origin check: two of them must not let the check read one and a
    // proxy the other.
    let origins = [
        ("Origin", "https://good.example"),
        ("Origin", "https://evil.example"),
    ];
    let (status, _, body) = http(addr, &upgrade_request(addr, &origins)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("the origin header may appear only once"),
        "{body:?}"
    );
    // List headers may repeat (RFC 9110 §5.3): this one is still upgraded.
    let lists = [("Upgrade", "websocket"), ("Connection", "keep-alive")];
    let (status, head, _) = http_head(addr, &upgrade_request(addr, &lists)).await;
    assert_eq!(status, 101, "{head}");
}

/// Sends `request` and returns the status and head only (a 101 has no body to wait for).
async fn http_head(addr: SocketAddr, request: &str) -> (u16, String, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    (head[9..12].parse().unwrap(), head, stream)
}

/// Sends `request` followed by `smuggled` in one write; expects 400 with `Connection: close`,
/// the reason, then EOF: the smuggled bytes are read neither as frames nor as a next request.
async fn assert_refused_and_closed(addr: SocketAddr, request: &str, smuggled: &[u8]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut bytes = request.as_bytes().to_vec();
    bytes.extend_from_slice(smuggled);
    stream.write_all(&bytes).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{request}\n{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    let mut rest = Vec::new();
    // EOF (or a reset, if the server closes with our bytes unread) ends the read; a second
    // response or a frame would show up in `rest`.
    let _ = within(stream.read_to_end(&mut rest)).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("must not have a body"), "{rest}");
    assert!(!rest.contains("HTTP/1.1"), "a second response: {rest}");
}

#[tokio::test]
async fn an_upgrade_with_a_body_gets_400_and_the_connection_closes() {
    let mut server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    // A masked text frame "echo:smuggled" a server might read once it has switched protocols.
    let frame = frame(true, 0x1, b"echo:smuggled", true);
    let next_request = format!("GET /probe HTTP/1.1\r\nHost: {addr}\r\n\r\n");

    let length = frame.len().to_string();
    let with_length = upgrade_request(addr, &[("Content-Length", &length)]);
    assert_refused_and_closed(addr, &with_length, &frame).await;

    // Both framings (RFC 9112 §6.1): a chunked body, then bytes that either look like frames
    // or like a second request, depending on which header a proxy believed.
    let both = upgrade_request(
        addr,
        &[("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
    );
    let mut smuggled = b"0\r\n\r\n".to_vec();
    smuggled.extend_from_slice(next_request.as_bytes());
    assert_refused_and_closed(addr, &both, &smuggled).await;
    assert_refused_and_closed(addr, &both, &frame).await;

    let chunked = upgrade_request(addr, &[("Transfer-Encoding", "chunked")]);
    assert_refused_and_closed(addr, &chunked, b"5\r\nhello\r\n0\r\n\r\n").await;

    // No connection was opened, so no handler ever ran.
    assert!(server.events.try_recv().is_err());
    assert_eq!(server.handle.metrics().accepted_connections, 0);

    // An explicit empty body is no body.
    let empty = upgrade_request(addr, &[("Content-Length", "0")]);
    let (status, head, _) = http_head(addr, &empty).await;
    assert_eq!(status, 101, "{head}");
}

#[tokio::test]
async fn refused_upgrades_take_no_connection_slot_and_are_not_counted_as_accepted() {
    let mut server = TestServer::start_with(Config::default(), |s| s.max_connections(1)).await;
    let addr = server.addr;
    for i in 0..50 {
        let request = if i % 2 == 0 {
            // Refused by the route's origin check.
            upgrade_request(addr, &[("Origin", "https://evil.example")])
                .replace("/probe", "/strict")
        } else {
            // Refused by the pre-upgrade check.
            upgrade_request(addr, &[]).replace("/probe", "/probe?token=bad")
        };
        let (status, head, _) = http(addr, &request).await;
        assert!(status == 403 || status == 401, "{head}");
    }
    let metrics = server.handle.metrics();
    assert_eq!(metrics.accepted_connections, 0, "{metrics:?}");
    assert_eq!(metrics.refused_over_limit, 0, "{metrics:?}");

    let (mut client, _) = server.open("/probe").await;
    send_text(&mut client, "echo:in").await;
    assert_eq!(recv_text(&mut client).await, "in");
    let metrics = server.handle.metrics();
    assert_eq!(metrics.accepted_connections, 1, "{metrics:?}");
    assert_eq!(metrics.active_connections, 1, "{metrics:?}");

    // The one slot is taken now: the next good upgrade is the one refused over the limit.
    let (status, head, _) = http(addr, &upgrade_request(addr, &[])).await;
    assert_eq!(status, 503, "{head}");
    assert_eq!(server.handle.metrics().refused_over_limit, 1);
}

/// A handler that does nothing, for routes built in a test.
struct Quiet;

impl Handler for Quiet {
    type Init = ();
    type Info = std::convert::Infallible;

    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Quiet)
    }

    async fn handle_in(&mut self, _: Message, _: &mut Context<Self>) -> Reply {
        Reply::ok()
    }
}

#[tokio::test]
async fn a_pending_pre_upgrade_check_holds_no_slot() {
    // While one request waits in its pre-upgrade check, another upgrade gets the only slot:
    // the check has not passed yet, so it holds nothing.
    let (entered_tx, mut entered) = mpsc::unbounded_channel();
    let (release_tx, release) = watch::channel(false);
    let route = WebSocketRoute::<Quiet>::with_init(move |_request| {
        let entered_tx = entered_tx.clone();
        let mut release = release.clone();
        async move {
            let _ = entered_tx.send(());
            let _ = release.wait_for(|released| *released).await;
            Ok(())
        }
    });
    let router = Router::new()
        .route("/slow", route)
        .route("/quick", websocket::<Quiet>());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(router).max_connections(1);
    let metrics = server.handle();
    tokio::spawn(server.serve(listener));

    let slow = upgrade_request(addr, &[]).replace("/probe", "/slow");
    let waiting = tokio::spawn(async move { http_head(addr, &slow).await });
    within(entered.recv()).await.unwrap();
    let quick = upgrade_request(addr, &[]).replace("/probe", "/quick");
    let (status, head, _quick) = http_head(addr, &quick).await;
    assert_eq!(status, 101, "{head}");
    release_tx.send(true).unwrap();
    let (status, head, _) = within(waiting).await.unwrap();
    assert_eq!(status, 503, "{head}");
    let metrics = metrics.metrics();
    assert_eq!(
        (metrics.accepted_connections, metrics.refused_over_limit),
        (1, 1),
        "{metrics:?}"
    );
}

#[tokio::test]
async fn a_panicking_pre_upgrade_check_gets_500_and_the_server_goes_on() {
    let panicking = WebSocketRoute::<Quiet>::with_init(|request| async move {
        if request.query("boom").is_some() {
            panic!("the pre-upgrade check panicked on purpose");
        }
        Ok(())
    });
    let router = Router::new().route("/checked", panicking);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(router);
    let handle = server.handle();
    tokio::spawn(server.serve(listener));

    let boom = upgrade_request(addr, &[]).replace("/probe", "/checked?boom=1");
    let (status, head, body) = http(addr, &boom).await;
    assert_eq!(status, 500, "{head}");
    assert_eq!(body, "internal error\n");
    assert_eq!(handle.metrics().panics, 1);
    let fine = upgrade_request(addr, &[]).replace("/probe", "/checked");
    let (status, head, _) = http_head(addr, &fine).await;
    assert_eq!(status, 101, "{head}");
}
