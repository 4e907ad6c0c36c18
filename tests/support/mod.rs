//! What the root package's socket tests share: a server on 127.0.0.1:0, tokio-tungstenite
//! clients of its Phoenix socket at `/socket/websocket`, and a bound on every wait.

#![allow(dead_code, unreachable_pub)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{fmt::Display, future::Future, net::SocketAddr, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};
use websock::{Router, Server, ServerHandle};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `future`'s output, or a panic after 10 s (generous: the machine running the tests is loaded).
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out waiting")
}

/// `router` served on a fresh loopback port.
pub async fn serve(router: Router) -> SocketAddr {
    serve_with_handle(router).await.0
}

/// `router` served on a fresh loopback port, with the handle that shuts it down.
pub async fn serve_with_handle(router: Router) -> (SocketAddr, ServerHandle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(router);
    let handle = server.handle();
    tokio::spawn(server.serve(listener));
    (addr, handle)
}

/// 101, or the HTTP status the upgrade at `/socket/websocket{query}` was refused with.
pub async fn status_of(addr: SocketAddr, query: &str) -> u16 {
    let url = format!("ws://{addr}/socket/websocket{query}");
    match within(tokio_tungstenite::connect_async(url)).await {
        Ok(_) => 101,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            // A refusal says why in a line, never a page.
            assert!(response.body().as_deref().unwrap_or_default().len() < 200);
            response.status().as_u16()
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// A client of the socket at `/socket/websocket{query}`.
pub async fn connect(addr: SocketAddr, query: &str) -> Client {
    let url = format!("ws://{addr}/socket/websocket{query}");
    within(tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .0
}

/// A client speaking Phoenix's V2 serializer.
pub async fn connect_v2(addr: SocketAddr) -> Client {
    connect(addr, "?vsn=2.0.0").await
}

/// Sends `frame` (a `&str`, or a `serde_json::Value` as JSON) as one text frame.
pub async fn send(client: &mut Client, frame: impl Display) {
    within(client.send(Message::text(frame.to_string())))
        .await
        .unwrap();
}

pub async fn next_text(client: &mut Client) -> String {
    match within(client.next()).await {
        Some(Ok(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// The next V2 text frame whose event is `event`: `[join_ref, ref, topic, event, payload]`.
pub async fn next_event(client: &mut Client, event: &str) -> Value {
    loop {
        let message = within(client.next()).await.unwrap().unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame[3] == event {
                return frame;
            }
        }
    }
}

/// Joins `room:lobby` as `user` (V2) and checks the reply is ok.
pub async fn join_lobby(client: &mut Client, user: &str) {
    send(
        client,
        json!(["1", "1", "room:lobby", "phx_join", { "user_id": user }]),
    )
    .await;
    let reply = next_event(client, "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
}
