//! `Router::post` and `post(f)`: the body handed over whole, 413 over the limit (before reading
//! when the length is declared, as soon as a streamed body passes it otherwise), 408 for a
//! body that stalls, 405 for other methods. Raw HTTP/1.1 over TcpStream on 127.0.0.1:0.

mod common;

use common::*;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use websock_runtime::{Body, Router, Server, http::Response, post};

/// A server whose `/echo` (default limits) answers `<n> bytes: <body>` and whose `/small`
/// takes 16 bytes within 300 ms; `calls` counts the handler's runs.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let echo = {
        let calls = calls.clone();
        move |_request, body: websock_runtime::Bytes| {
            calls.fetch_add(1, Ordering::SeqCst);
            let text = format!("{} bytes: {}", body.len(), String::from_utf8_lossy(&body));
            async move { Response::new(Body::from(text)) }
        }
    };
    let small = post(echo.clone())
        .body_limit(16)
        .body_timeout(Duration::from_millis(300));
    let router = Router::new().post("/echo", echo).route("/small", small);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    (addr, calls)
}

fn post_request(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn the_body_reaches_the_handler_whole() {
    let (addr, calls) = server().await;
    let (status, _, body) = http(addr, &post_request("/echo", "{\"name\":\"Alice\"}")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "16 bytes: {\"name\":\"Alice\"}")
    );
    // Chunked, in two chunks, under the limit.
    let chunked = "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                   3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    let (status, _, body) = http(addr, chunked).await;
    assert_eq!((status, body.as_str()), (200, "7 bytes: abcdefg"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body() {
    let (addr, calls) = server().await;
    // The head only: the server answers without waiting for the 17 bytes.
    let head = "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n";
    let (status, _, body) = http(addr, head).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("over 16 bytes"), "{body}");
    // The default limit is 64 KiB.
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        64 * 1024 + 1
    );
    let (status, _, _) = http(addr, &head).await;
    assert_eq!(status, 413);
    let exactly = "x".repeat(16);
    let (status, _, _) = http(addr, &post_request("/small", &exactly)).await;
    assert_eq!(status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_streamed_body_over_the_limit_is_413_without_waiting_for_its_end() {
    let (addr, calls) = server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"a\r\n0123456789\r\n").await.unwrap();
    stream.write_all(b"a\r\n0123456789\r\n").await.unwrap();
    // No last chunk: the answer comes because the limit was passed, not because the body ended
    // (and well before the 300 ms timeout would give 408).
    let response = read_head(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stalled_body_is_408() {
    let (addr, calls) = server().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
    stream.write_all(head.as_bytes()).await.unwrap();
    let response = read_head(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn other_methods_are_405_with_allow_post() {
    let (addr, calls) = server().await;
    for method in ["GET", "PUT", "HEAD"] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("{method} /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 405"), "{method}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("allow: post\r\n"),
            "{method}: {head}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
