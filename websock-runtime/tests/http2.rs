//! WebSockets over HTTP/2 streams (RFC 8441) with hyper's HTTP/2 client, over h2c and TLS,
//! beside HTTP/1.1 upgrades on the same port.

mod common;
mod h2_client;

use common::{Event, TestServer};
use futures_util::{SinkExt, StreamExt};
use h2_client::{H2Client, H2Ws, TestCert, status_and_body, within};
use http::{Method, StatusCode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::{Message, protocol::CloseFrame};
use websock_runtime::{Config, Server};

async fn send(ws: &mut H2Ws, message: Message) {
    within(ws.send(message)).await.unwrap();
}

/// The next message, pings included.
async fn next(ws: &mut H2Ws) -> Message {
    within(ws.next())
        .await
        .expect("stream ended")
        .expect("read failed")
}

async fn echo_text_binary_ping(ws: &mut H2Ws) {
    send(ws, Message::text("echo:over h2")).await;
    assert_eq!(next(ws).await, Message::text("over h2"));
    send(ws, Message::binary(vec![7, 8, 9])).await;
    assert_eq!(next(ws).await, Message::binary(vec![7, 8, 9]));
    send(ws, Message::Ping(b"are you there".to_vec().into())).await;
    assert_eq!(
        next(ws).await,
        Message::Pong(b"are you there".to_vec().into())
    );
}

/// The next close frame's code.
async fn close_code(ws: &mut H2Ws) -> u16 {
    loop {
        match next(ws).await {
            Message::Close(Some(CloseFrame { code, .. })) => return code.into(),
            Message::Close(None) => return 1005,
            _ => {}
        }
    }
}

#[tokio::test]
async fn echo_over_h2c() {
    let mut server = TestServer::start(Config::default()).await;
    let mut client = H2Client::h2c(server.addr).await;
    let mut ws = client.websocket("/probe").await;
    assert!(matches!(server.next_event().await, Event::Started(_)));
    echo_text_binary_ping(&mut ws).await;
    let metrics = server.handle.metrics();
    assert_eq!((metrics.http2_upgrades, metrics.http1_upgrades), (1, 0));
    assert_eq!(metrics.active_connections, 1);
}

#[tokio::test]
async fn echo_over_tls_with_h2_chosen_by_alpn() {
    let cert = TestCert::new();
    let config = cert.server_config();
    let mut server = TestServer::start_with(Config::default(), |s| s.tls(config)).await;
    let mut client = H2Client::tls(server.addr, &cert).await;
    let mut ws = client.websocket("/probe").await;
    assert!(matches!(server.next_event().await, Event::Started(_)));
    echo_text_binary_ping(&mut ws).await;
    assert_eq!(server.handle.metrics().http2_upgrades, 1);
}

#[tokio::test]
async fn http1_upgrades_still_work_on_the_same_port_with_and_without_tls() {
    // Plain: an HTTP/2 connection and an HTTP/1.1 upgrade to the same listener.
    let server = TestServer::start(Config::default()).await;
    let mut h2 = H2Client::h2c(server.addr).await;
    let mut over_h2 = h2.websocket("/probe").await;
    let mut over_h1 = server.connect("/probe").await;
    common::send_text(&mut over_h1, "echo:one").await;
    assert_eq!(common::recv_text(&mut over_h1).await, "one");
    send(&mut over_h2, Message::text("echo:two")).await;
    assert_eq!(next(&mut over_h2).await, Message::text("two"));
    let metrics = server.handle.metrics();
    assert_eq!((metrics.http1_upgrades, metrics.http2_upgrades), (1, 1));

    // TLS: ALPN http/1.1, then the usual upgrade.
    let cert = TestCert::new();
    let config = cert.server_config();
    let server = TestServer::start_with(Config::default(), |s| s.tls(config)).await;
    let tls = cert.connect(server.addr, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut ws, response) = within(tokio_tungstenite::client_async(
        "wss://localhost/probe",
        tls,
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 101);
    within(ws.send(Message::text("echo:tls"))).await.unwrap();
    let reply = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(reply, Message::text("tls"));
    // And a TLS client that offers no ALPN at all is sniffed like a plain one.
    let tls = cert.connect(server.addr, &[]).await;
    let (_ws, response) = within(tokio_tungstenite::client_async(
        "wss://localhost/probe",
        tls,
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(server.handle.metrics().http1_upgrades, 2);
}

#[tokio::test]
async fn fifty_websockets_share_one_connection() {
    let server = TestServer::start(Config::default()).await;
    let mut client = H2Client::h2c(server.addr).await;
    let mut sockets = Vec::new();
    for _ in 0..50 {
        sockets.push(client.websocket("/probe").await);
    }
    assert_eq!(server.handle.metrics().active_connections, 50);
    // Each stream answers its own messages, all in flight at once.
    let echoes = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| async move {
            for round in 0..3 {
                send(&mut ws, Message::text(format!("echo:{i}.{round}"))).await;
                assert_eq!(next(&mut ws).await, Message::text(format!("{i}.{round}")));
            }
            ws
        });
    let sockets = futures_util::future::join_all(echoes).await;
    // Closing one stream's WebSocket leaves the others open.
    let mut sockets = sockets.into_iter();
    let mut first = sockets.next().unwrap();
    within(first.close(None)).await.unwrap();
    let mut second = sockets.next().unwrap();
    send(&mut second, Message::text("echo:still here")).await;
    assert_eq!(next(&mut second).await, Message::text("still here"));
}

#[tokio::test]
async fn refusals_unknown_path_wrong_version_not_connect_and_origin() {
    let server = TestServer::start(Config::default()).await;
    let mut client = H2Client::h2c(server.addr).await;

    let response = client
        .extended_connect("/nowhere", &[("sec-websocket-version", "13")])
        .await;
    let (status, body) = status_and_body(response).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, "no route for /nowhere\n")
    );

    // A 426 needs an `Upgrade` header, which HTTP/2 forbids: 400, and the version we speak.
    let response = client
        .extended_connect("/probe", &[("sec-websocket-version", "8")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    let (_, body) = status_and_body(response).await;
    assert!(body.contains("Sec-WebSocket-Version must be 13"), "{body}");

    let response = client.extended_connect("/probe", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // A plain GET to a WebSocket route, and a CONNECT for another protocol.
    let response = client.send(Method::GET, "/probe", &[], None).await.unwrap();
    let (status, body) = status_and_body(response).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("extended CONNECT"), "{body}");
    let response = client
        .send(
            Method::CONNECT,
            "/probe",
            &[("sec-websocket-version", "13")],
            Some("webtransport"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The origin check compares with `:authority` (there is no Host header).
    let response = client
        .extended_connect(
            "/probe",
            &[
                ("sec-websocket-version", "13"),
                ("origin", "https://evil.example"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let _ws = client.websocket("/probe").await;
    let response = client
        .extended_connect(
            "/probe",
            &[
                ("sec-websocket-version", "13"),
                ("origin", "https://localhost"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = server.handle.metrics();
    assert_eq!(metrics.http2_upgrades, 2, "refusals take no slot");
}

#[tokio::test]
async fn max_connections_counts_websockets_not_tcp_connections() {
    let server = TestServer::start_with(Config::default(), |s| s.max_connections(2)).await;
    let mut client = H2Client::h2c(server.addr).await;
    let _a = client.websocket("/probe").await;
    let _b = client.websocket("/probe").await;
    let response = client
        .extended_connect("/probe", &[("sec-websocket-version", "13")])
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(server.handle.metrics().refused_over_limit, 1);
}

#[tokio::test]
async fn a_websocket_close_ends_its_stream() {
    let mut server = TestServer::start(Config::default()).await;
    let mut client = H2Client::h2c(server.addr).await;

    // The client closes: the server answers and the stream ends.
    let mut ws = client.websocket("/probe").await;
    within(ws.close(None)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1005);
    assert!(within(ws.next()).await.is_none(), "the stream ended");
    assert_eq!(server.next_terminated().await, "remote 1005");

    // The server closes: the client sees the close frame, then the end of the stream.
    let mut ws = client.websocket("/probe").await;
    send(&mut ws, Message::text("close:4000:bye")).await;
    assert_eq!(close_code(&mut ws).await, 4000);
    assert!(within(ws.next()).await.is_none(), "the stream ended");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.handle.metrics().active_connections > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was released"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The connection itself goes on.
    let mut ws = client.websocket("/probe").await;
    send(&mut ws, Message::text("echo:again")).await;
    assert_eq!(next(&mut ws).await, Message::text("again"));
}

#[tokio::test]
async fn graceful_shutdown_sends_goaway_and_1012_on_each_stream() {
    let server = TestServer::start(Config::default()).await;
    let mut client = H2Client::h2c(server.addr).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(client.websocket("/probe").await);
    }
    server.handle.shutdown();
    for ws in &mut sockets {
        assert_eq!(close_code(ws).await, 1012);
    }
    // GOAWAY: no new stream is accepted, and the connection ends with its last stream.
    let refused = client.send(Method::GET, "/no-such-page", &[], None).await;
    assert!(
        refused.is_err(),
        "a stream opened after GOAWAY: {refused:?}"
    );
    drop(sockets);
    let ended = within(client.driver).await.unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    let metrics = within(server.served).await.unwrap().unwrap();
    assert_eq!(metrics.active_connections, 0);
}

#[tokio::test]
async fn half_a_preface_then_silence_is_cut_at_the_deadline() {
    let server = TestServer::start_with(Config::default(), |s| {
        s.header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled.write_all(&h2_client::PREFACE[..10]).await.unwrap();
    let mut rest = Vec::new();
    // Closed without an answer: a FIN, or a reset as the 10 bytes were never read.
    match within(stalled.read_to_end(&mut rest)).await {
        Ok(_) => assert!(rest.is_empty(), "closed without an answer"),
        Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset),
    }
    assert_eq!(server.handle.metrics().handshake_timeouts, 1);

    // The same over TLS: half a ClientHello.
    let cert = TestCert::new();
    let config = cert.server_config();
    let server = TestServer::start_with(Config::default(), |s| {
        s.tls(config)
            .header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut stalled = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let _ = within(stalled.read_to_end(&mut rest)).await;
    assert_eq!(server.handle.metrics().handshake_timeouts, 1);
    // Plain HTTP to the TLS port fails the handshake at once: counted apart.
    let mut plain = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let _ = within(plain.read_to_end(&mut rest)).await;
    let metrics = server.handle.metrics();
    assert_eq!(
        (metrics.tls_handshake_failures, metrics.handshake_timeouts),
        (1, 1)
    );
    // A TLS client that completes the handshake but sends half the preface.
    let mut stalled = cert.connect(server.addr, &[b"h2"]).await;
    stalled.write_all(&h2_client::PREFACE[..10]).await.unwrap();
    let _ = within(stalled.read_to_end(&mut rest)).await;
    assert_eq!(server.handle.metrics().handshake_timeouts, 2);
    // Others are served meanwhile and after.
    let mut client = H2Client::tls(server.addr, &cert).await;
    let mut ws = client.websocket("/probe").await;
    send(&mut ws, Message::text("echo:fine")).await;
    assert_eq!(next(&mut ws).await, Message::text("fine"));
}

/// `Server` options reach HTTP/2: the stream limit is advertised and enforced.
#[tokio::test]
async fn the_stream_limit_is_enforced() {
    let server =
        TestServer::start_with(Config::default(), |s: Server| s.max_concurrent_streams(3)).await;
    let mut client = H2Client::h2c(server.addr).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(client.websocket("/probe").await);
    }
    // A fourth waits for a free stream (hyper's client queues it) until one closes.
    let mut fourth = Box::pin(client.websocket("/probe"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut fourth)
            .await
            .is_err(),
        "a fourth stream waits"
    );
    let mut first = sockets.remove(0);
    within(first.close(None)).await.unwrap();
    while within(first.next()).await.is_some() {}
    let mut ws = within(fourth).await;
    send(&mut ws, Message::text("echo:4")).await;
    assert_eq!(next(&mut ws).await, Message::text("4"));
}
