//! The axum example: websock upgrades inside an axum router, beside plain HTTP routes.

#[allow(dead_code)]
#[path = "../examples/axum_mount.rs"]
mod example;
mod support;

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use websock::ServerHandle;

#[tokio::test]
async fn websocket_and_http_routes_share_one_axum_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = ServerHandle::new();
    tokio::spawn(async move { axum::serve(listener, example::app(handle)).await });

    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within(http.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/ws/greet/Ferris"
    )))
    .await
    .unwrap();
    client.send(Message::text("Hello")).await.unwrap();
    let reply = within(client.next()).await.unwrap().unwrap();
    assert_eq!(reply, Message::text("Hello, Ferris!"));
}

#[tokio::test]
async fn invalid_upgrades_inside_axum_get_the_reason() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app(ServerHandle::new())).await });
    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /ws/greet/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within(http.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        response.contains("Connection header must contain"),
        "{response}"
    );
}

#[tokio::test]
async fn the_server_handle_shuts_axum_mounted_sockets_down_with_1012() {
    let (addr, handle) = serve_app().await;
    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/ws/greet/x"
    )))
    .await
    .unwrap();
    client.send(Message::text("hi")).await.unwrap();
    within(client.next()).await.unwrap().unwrap();
    assert_eq!(handle.metrics().active_connections, 1);
    shutdown_closes_with_1012(handle, &mut client).await;
}

async fn serve_app() -> (std::net::SocketAddr, ServerHandle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = ServerHandle::new();
    let app = example::app(handle.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, handle)
}

/// Shuts the server down: `client` gets a 1012 close, and the drain ends with no connection.
async fn shutdown_closes_with_1012(handle: ServerHandle, client: &mut support::Client) {
    let waited =
        tokio::spawn(async move { handle.shutdown_and_wait(Duration::from_secs(5)).await });
    match within(client.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1012),
        other => panic!("expected a 1012 close, got {other:?}"),
    }
    // Reading on sends the client's answering close, so the server need not wait it out.
    assert!(within(client.next()).await.is_none());
    assert_eq!(within(waited).await.unwrap().active_connections, 0);
}

async fn next_text(client: &mut support::Client) -> serde_json::Value {
    match within(client.next()).await {
        Some(Ok(Message::Text(text))) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_socket_route_mounted_with_route_service_serves_phoenix_channels_and_drains() {
    let (addr, handle) = serve_app().await;
    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket/websocket?vsn=2.0.0"
    )))
    .await
    .unwrap();
    client
        .send(Message::text(r#"["1","1","lobby","phx_join",{}]"#))
        .await
        .unwrap();
    let reply = next_text(&mut client).await;
    assert_eq!(reply[3], "phx_reply");
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    client
        .send(Message::text(r#"["1","2","lobby","ping",{"n":7}]"#))
        .await
        .unwrap();
    let reply = next_text(&mut client).await;
    assert_eq!(reply[4]["response"]["pong"]["n"], 7, "{reply}");
    assert_eq!(handle.metrics().active_connections, 1);

    // The channel socket drains on shutdown and still gets 1012.
    shutdown_closes_with_1012(handle, &mut client).await;
}

#[tokio::test]
async fn a_mounted_socket_route_checks_the_origin_against_the_request_host() {
    let (addr, _handle) = serve_app().await;
    for (origin, expected) in [("http://127.0.0.1:1", "101"), ("https://evil.test", "403")] {
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\n\
             Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        http.write_all(request.as_bytes()).await.unwrap();
        let mut head = vec![0; 12];
        within(http.read_exact(&mut head)).await.unwrap();
        let head = String::from_utf8(head).unwrap();
        assert!(head.ends_with(expected), "Origin {origin}: {head}");
    }
}

#[tokio::test]
async fn a_websock_router_mounted_with_nest_service_routes_below_the_prefix() {
    let (addr, _handle) = serve_app().await;
    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/rt/greet/Ferris"
    )))
    .await
    .unwrap();
    client.send(Message::text("Hello")).await.unwrap();
    let reply = within(client.next()).await.unwrap().unwrap();
    assert_eq!(reply, Message::text("Hello, Ferris!"));

    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /rt/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within(http.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(response.contains("no route for /nowhere"), "{response}");
}
