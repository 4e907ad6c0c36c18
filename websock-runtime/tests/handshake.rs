//! The upgrade: invalid handshakes get their status and reason, routing, origins, pre-upgrade
//! checks, the connection limit and subprotocols.

mod common;

use common::*;
use std::net::SocketAddr;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};
use websock_runtime::Config;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text
}

fn upgrade_headers(addr: &str) -> Vec<(&str, &str)> {
    vec![
        ("Host", addr),
        ("Connection", "keep-alive, Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
}

async fn try_upgrade(
    addr: SocketAddr,
    method: &str,
    path: &str,
    edit: impl FnOnce(&mut Vec<(&str, &str)>),
) -> (u16, String, String) {
    let host = addr.to_string();
    let mut headers = upgrade_headers(&host);
    edit(&mut headers);
    http(addr, &request(method, path, &headers)).await
}

#[tokio::test]
async fn each_invalid_handshake_gets_its_status_and_reason() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    let remove =
        |name: &'static str| move |h: &mut Vec<(&str, &str)>| h.retain(|(n, _)| *n != name);
    let set = |name: &'static str, value: &'static str| {
        move |h: &mut Vec<(&str, &str)>| {
            h.retain(|(n, _)| *n != name);
            h.push((name, value));
        }
    };

    let cases: Vec<(u16, &str, (u16, String, String))> = vec![
        (
            400,
            "method must be GET",
            try_upgrade(addr, "POST", "/probe", |_| {}).await,
        ),
        (
            400,
            "Host header is missing",
            try_upgrade(addr, "GET", "/probe", remove("Host")).await,
        ),
        (
            400,
            "Connection header must contain",
            try_upgrade(addr, "GET", "/probe", set("Connection", "keep-alive")).await,
        ),
        (
            400,
            "Upgrade header must contain",
            try_upgrade(addr, "GET", "/probe", set("Upgrade", "h2c")).await,
        ),
        (
            400,
            "Upgrade header must contain",
            try_upgrade(addr, "GET", "/probe", remove("Upgrade")).await,
        ),
        (
            400,
            "Sec-WebSocket-Key header is missing",
            try_upgrade(addr, "GET", "/probe", remove("Sec-WebSocket-Key")).await,
        ),
        (
            400,
            "16 bytes encoded in base64",
            try_upgrade(addr, "GET", "/probe", set("Sec-WebSocket-Key", "c2hvcnQ=")).await,
        ),
        (
            426,
            "Sec-WebSocket-Version must be 13",
            try_upgrade(addr, "GET", "/probe", set("Sec-WebSocket-Version", "8")).await,
        ),
        (
            426,
            "Sec-WebSocket-Version must be 13",
            try_upgrade(addr, "GET", "/probe", remove("Sec-WebSocket-Version")).await,
        ),
        (
            404,
            "no route for /nowhere",
            try_upgrade(addr, "GET", "/nowhere", |_| {}).await,
        ),
        (
            403,
            "is not allowed",
            try_upgrade(
                addr,
                "GET",
                "/strict",
                set("Origin", "https://evil.example"),
            )
            .await,
        ),
        (
            401,
            "bad token",
            try_upgrade(addr, "GET", "/probe?token=bad", |_| {}).await,
        ),
    ];
    for (status, reason, (got_status, head, body)) in cases {
        assert_eq!(got_status, status, "{reason}: {head}{body}");
        assert!(body.contains(reason), "expected {reason:?} in {body:?}");
        if status == 426 {
            assert!(
                head.to_ascii_lowercase()
                    .contains("sec-websocket-version: 13"),
                "{head}"
            );
        }
    }
}

#[tokio::test]
async fn allowed_origin_and_no_origin_pass() {
    let server = TestServer::start(Config::default()).await;
    let mut request = format!("ws://{}/strict", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static("https://GOOD.example"));
    let (_client, response) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
    let _no_origin = server.connect("/strict").await;
}

#[tokio::test]
async fn plain_http_gets_answers_on_a_kept_alive_connection() {
    let server = TestServer::start(Config::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for path in ["/nowhere", "/probe"] {
        let text = request("GET", path, &[("Host", "x")]);
        stream.write_all(text.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0; length];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut body)
            .await
            .unwrap();
        let expected = if path == "/nowhere" {
            "HTTP/1.1 404"
        } else {
            "HTTP/1.1 400"
        };
        assert!(head.starts_with(expected), "{head}");
    }
}

#[tokio::test]
async fn path_params_query_and_subprotocol_reach_the_handler() {
    let server = TestServer::start(Config::default()).await;
    let mut request = format!("ws://{}/rooms/lobby?q=a%20b", server.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v1.chat, v2.chat"),
    );
    let (mut client, response) = within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    // Our preference order wins among what the client offered.
    assert_eq!(response.headers()["sec-websocket-protocol"], "v2.chat");
    send_text(&mut client, "path").await;
    assert_eq!(
        recv_text(&mut client).await,
        r#"/rooms/lobby Some("lobby") Some("a b") Some("v2.chat")"#
    );
}

#[tokio::test]
async fn permessage_deflate_offers_are_declined() {
    let server = TestServer::start(Config::default()).await;
    let host = server.addr.to_string();
    let mut headers = upgrade_headers(&host);
    headers.push((
        "Sec-WebSocket-Extensions",
        "permessage-deflate; client_max_window_bits",
    ));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(request("GET", "/probe", &headers).as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
}

#[tokio::test]
async fn a_frame_in_the_same_write_as_the_handshake_is_not_lost() {
    let server = TestServer::start(Config::default()).await;
    let host = server.addr.to_string();
    let mut bytes = request("GET", "/probe", &upgrade_headers(&host)).into_bytes();
    bytes.extend(frame(true, 0x1, b"echo:early", true));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut reply = [0u8; 7];
    within(tokio::io::AsyncReadExt::read_exact(&mut stream, &mut reply))
        .await
        .unwrap();
    assert_eq!(&reply, b"\x81\x05early");
}

#[tokio::test]
async fn beyond_max_connections_upgrades_get_503_and_the_open_ones_are_untouched() {
    let mut server = TestServer::start_with(Config::default(), |s| s.max_connections(2)).await;
    let (mut a, _) = server.open("/probe").await;
    let (_b, _) = server.open("/probe").await;
    let (status, _, body) = try_upgrade(server.addr, "GET", "/probe", |_| {}).await;
    assert_eq!(status, 503);
    assert!(body.contains("too many connections"), "{body}");
    assert_eq!(server.handle.metrics().refused_over_limit, 1);
    send_text(&mut a, "echo:fine").await;
    assert_eq!(recv_text(&mut a).await, "fine");
    // A slot frees when a connection ends.
    send_text(&mut a, "stop").await;
    recv_close(&mut a).await;
    server.terminated().await;
    within(async {
        while server.handle.metrics().active_connections > 1 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let _c = server.open("/probe").await;
}

#[tokio::test]
async fn slow_headers_are_cut_after_the_header_read_timeout() {
    let server = TestServer::start_with(Config::default(), |s| {
        s.header_read_timeout(std::time::Duration::from_millis(300))
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server gives up on the request and closes (hyper answers 408 or just closes).
    // `within` fails the test if the server keeps the half-sent request open.
    let _ = within(tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[tokio::test]
async fn too_many_headers_get_431() {
    let server = TestServer::start_with(Config::default(), |s| s.max_headers(20)).await;
    let host = server.addr.to_string();
    let mut headers = upgrade_headers(&host);
    let names: Vec<String> = (0..40).map(|i| format!("X-Filler-{i}")).collect();
    for name in &names {
        headers.push((name.as_str(), "1"));
    }
    let (status, head, _) = http(server.addr, &request("GET", "/probe", &headers)).await;
    assert_eq!(status, 431, "{head}");
}

#[tokio::test]
async fn an_over_long_header_line_gets_431() {
    let server = TestServer::start(Config::default()).await;
    let host = server.addr.to_string();
    let long = "a".repeat(512 << 10);
    let mut headers = upgrade_headers(&host);
    headers.push(("X-Long", long.as_str()));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The server may answer before reading it all; that is fine.
    let _ = stream
        .write_all(request("GET", "/probe", &headers).as_bytes())
        .await;
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 431"), "{head}");
}

#[tokio::test]
async fn plain_get_routes_serve_pages_beside_websockets() {
    use websock_runtime::{Body, Router, Server, http::Response};
    let router = Router::new()
        .get("/", |request| async move {
            Response::new(Body::from(format!("page for {}", request.path())))
        })
        .route(
            "/ws",
            websock_runtime::WebSocketRoute::<Probe>::with_init(|_| async {
                Ok(tokio::sync::mpsc::unbounded_channel().0)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    let (status, _, body) = http(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((status, body.as_str()), (200, "page for /"));
    let (status, head, _) = http(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("allow: get, head"),
        "{head}"
    );
    let (_client, response) = within(tokio_tungstenite::connect_async(format!("ws://{addr}/ws")))
        .await
        .unwrap();
    assert_eq!(response.status(), 101);
}

/// Frames a client sends in the same write as its handshake reach hyper's buffer with the
/// request: the connection takes the socket back from hyper and must read those bytes first.
#[tokio::test]
async fn frames_sent_with_the_handshake_are_read_first() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut bytes = format!(
        "GET /probe HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(frame(true, 0x1, b"echo:early", true));
    bytes.extend(frame(true, 0x2, &[7; 300], true));
    stream.write_all(&bytes).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(read_frame(&mut stream).await, (0x81, b"early".to_vec()));
    assert_eq!(read_frame(&mut stream).await, (0x82, vec![7; 300]));
    // And the socket goes on from there.
    stream
        .write_all(&frame(true, 0x1, b"echo:later", true))
        .await
        .unwrap();
    assert_eq!(read_frame(&mut stream).await, (0x81, b"later".to_vec()));
}
