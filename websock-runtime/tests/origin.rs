//! `check_origin` as Phoenix has it, over real sockets: the same-host default, the strict mode,
//! lists with wildcards, a function, and requests without an `Origin`.

mod common;

use common::{Echo, http, within};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};
use websock_runtime::{CheckOrigin, Router, Server, websocket};

async fn start() -> SocketAddr {
    let router = Router::new()
        .route("/default", websocket::<Echo>())
        .route(
            "/strict",
            websocket::<Echo>().check_origin(CheckOrigin::strict()),
        )
        .route(
            "/list",
            websocket::<Echo>().check_origin(["https://example.com", "//*.example.net"]),
        )
        .route(
            "/custom",
            websocket::<Echo>().check_origin(CheckOrigin::custom(|origin, request| {
                origin.host() == Some("trusted.test") && request.query("key").is_some()
            })),
        )
        .route("/off", websocket::<Echo>().check_origin(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    addr
}

/// The status and body of an upgrade to `path` with these `Host` and `Origin` headers.
async fn upgrade(addr: SocketAddr, path: &str, host: &str, origin: Option<&str>) -> (u16, String) {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let (status, _, body) = http(addr, &request).await;
    (status, body)
}

#[tokio::test]
async fn by_default_the_origin_host_must_be_the_request_host() {
    let addr = start().await;
    // A browser on the page's own host passes whatever the scheme and port (a TLS proxy).
    for origin in [
        format!("http://{addr}"),
        "https://127.0.0.1".to_owned(),
        "https://127.0.0.1:8443".to_owned(),
    ] {
        let mut request = format!("ws://{addr}/default")
            .into_client_request()
            .unwrap();
        let value = HeaderValue::from_str(&origin).unwrap();
        request.headers_mut().insert("Origin", value);
        let (mut client, _) = within(tokio_tungstenite::connect_async(request))
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        client.send(tungstenite::Message::text("hi")).await.unwrap();
        let echoed = within(client.next()).await.unwrap().unwrap();
        assert_eq!(echoed, tungstenite::Message::text("hi"));
    }
    // Another site is refused, with the reason.
    let (status, body) = upgrade(addr, "/default", "chat.test", Some("https://evil.test")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("origin \"https://evil.test\" is not allowed"),
        "{body}"
    );
    let (status, _) = upgrade(addr, "/default", "chat.test", Some("null")).await;
    assert_eq!(status, 403);
    let (status, body) = upgrade(
        addr,
        "/default",
        "chat.test:4000",
        Some("https://CHAT.test"),
    )
    .await;
    assert_eq!(status, 101, "{body}");
}

#[tokio::test]
async fn requests_without_an_origin_pass_every_mode_but_a_function_sees_none() {
    let addr = start().await;
    for path in ["/default", "/strict", "/list", "/custom", "/off"] {
        let (status, body) = upgrade(addr, path, "chat.test", None).await;
        assert_eq!(status, 101, "{path}: {body}");
    }
}

#[tokio::test]
async fn strict_mode_also_compares_scheme_and_port() {
    let addr = start().await;
    let cases = [
        ("chat.test:4000", "http://chat.test:4000", 101),
        ("chat.test", "http://chat.test", 101),
        ("chat.test:4000", "https://chat.test:4000", 403),
        ("chat.test:4000", "http://chat.test:4001", 403),
        ("chat.test:4000", "http://chat.test", 403),
        ("chat.test:4000", "http://other.test:4000", 403),
    ];
    for (host, origin, expected) in cases {
        let (status, body) = upgrade(addr, "/strict", host, Some(origin)).await;
        assert_eq!(status, expected, "Host {host}, Origin {origin}: {body}");
    }
}

#[tokio::test]
async fn lists_take_phoenix_format_with_wildcards() {
    let addr = start().await;
    let cases = [
        ("https://example.com", 101),
        ("https://example.com:443", 101),
        ("http://example.com", 403),
        ("https://example.com:8443", 403),
        ("http://example.net:8080", 101),
        ("https://chat.eu.example.net", 101),
        ("https://notexample.net", 403),
        ("https://example.net.evil.test", 403),
    ];
    for (origin, expected) in cases {
        let (status, body) = upgrade(addr, "/list", "example.com", Some(origin)).await;
        assert_eq!(status, expected, "Origin {origin}: {body}");
    }
}

#[tokio::test]
async fn a_function_decides_and_false_allows_all() {
    let addr = start().await;
    let (status, _) = upgrade(addr, "/custom?key=1", "x", Some("https://trusted.test")).await;
    assert_eq!(status, 101);
    let (status, _) = upgrade(addr, "/custom", "x", Some("https://trusted.test")).await;
    assert_eq!(status, 403);
    let (status, _) = upgrade(addr, "/custom?key=1", "x", Some("https://other.test")).await;
    assert_eq!(status, 403);
    let (status, _) = upgrade(addr, "/off", "x", Some("https://anything.test")).await;
    assert_eq!(status, 101);
}

#[tokio::test]
async fn a_router_wide_check_applies_where_a_route_has_none() {
    let router = Router::new()
        .route("/ws", websocket::<Echo>())
        .check_origin(["//allowed.test"]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    let (status, _) = upgrade(addr, "/ws", "x", Some("http://allowed.test:9")).await;
    assert_eq!(status, 101);
    // Same host, but the router's list replaces the default.
    let (status, _) = upgrade(addr, "/ws", "x", Some("http://x")).await;
    assert_eq!(status, 403);
}
