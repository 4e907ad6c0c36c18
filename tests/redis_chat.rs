//! The chat example as a user runs it: the page at `/` and phoenix.js beside it, and two chat
//! servers sharing one private Redis (the `REDIS_URL` switch): a message pushed on one reaches
//! a client of the other.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it) and `node_modules/phoenix` (npm
//! install); fails, never skips, without them.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;
mod redis_server;
mod support;

use redis_server::{RedisServer, eventually};
use serde_json::json;
use std::{net::SocketAddr, time::Duration};
use support::{connect_v2, join_lobby, next_event, send, serve, within};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use websock::channels::PubSub;

/// `GET path` over HTTP/1.1: (status, content-type, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = within(TcpStream::connect(addr)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within(stream.read_to_end(&mut response)).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[tokio::test]
async fn the_page_and_phoenix_js() {
    let addr = serve(chat::router(chat::socket_route())).await;

    let (status, content_type, html) = get(addr, "/").await;
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for needle in [
        r#"<script src="/phoenix.min.js"></script>"#,
        r#"id="name""#,
        r#"id="rooms""#,
        r#"id="messages""#,
        r#"id="online""#,
        "new Socket(\"/socket\"",
        "new Presence(channel)",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}");
    }

    let (status, content_type, js) = get(addr, "/phoenix.min.js").await;
    assert_eq!(
        status, 200,
        "{js} (run `npm install` in the repository root)"
    );
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(js.starts_with("var Phoenix="), "not the phoenix.js bundle");
    assert!(js.len() > 10_000);

    let (status, _, _) = get(addr, "/nowhere").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_servers_share_one_redis() {
    let server = RedisServer::start();
    let url = server.url();
    let route_a = chat::socket_route().with_pubsub(chat::pubsub(Some(&url)).await.unwrap());
    let route_b = chat::socket_route().with_pubsub(chat::pubsub(Some(&url)).await.unwrap());
    let node_a = serve(chat::router(route_a.clone())).await;
    let node_b = serve(chat::router(route_b.clone())).await;

    let mut bob = connect_v2(node_b).await;
    join_lobby(&mut bob, "bob").await;
    let mut alice = connect_v2(node_a).await;
    join_lobby(&mut alice, "alice").await;
    eventually("both nodes to subscribe to room:lobby", async || {
        server.numsub("websock:room:lobby").await == 2
    })
    .await;

    send(
        &mut alice,
        json!(["1", "2", "room:lobby", "new_msg", { "body": "hello from a" }]),
    )
    .await;
    let frame = next_event(&mut bob, "new_msg").await;
    assert_eq!(
        frame,
        json!([null, null, "room:lobby", "new_msg", { "body": "hello from a", "user_id": "alice" }])
    );
    // Alice gets her own message once, from her node.
    let frame = next_event(&mut alice, "new_msg").await;
    assert_eq!(frame[4]["user_id"], "alice");

    send(
        &mut bob,
        json!(["1", "2", "room:lobby", "new_msg", { "body": "hi from b" }]),
    )
    .await;
    let frame = next_event(&mut alice, "new_msg").await;
    assert_eq!(frame[4], json!({ "body": "hi from b", "user_id": "bob" }));

    // Presence: both nodes list both users, with the same metas (phx_refs included).
    eventually("the same presence list on both nodes", async || {
        let list_a = route_a.presence().list("room:lobby");
        let list_b = route_b.presence().list("room:lobby");
        list_a == list_b && route_a.presence().keys("room:lobby") == ["alice", "bob"]
    })
    .await;
    // Both nodes' keys vanish (a missed heartbeat, a flushed Redis): the nodes drop each
    // other, then announce themselves again, and the lists agree again.
    let client = websock_redis::redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = websock_redis::redis::cmd("KEYS")
        .arg("websock:node:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let _: () = websock_redis::redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    eventually(
        "the same presence list again after the nodes' keys vanished",
        async || {
            let list_a = route_a.presence().list("room:lobby");
            let list_b = route_b.presence().list("room:lobby");
            list_a == list_b && route_b.presence().keys("room:lobby") == ["alice", "bob"]
        },
    )
    .await;

    // Bob leaves: his node's diff removes him from A's list too.
    drop(bob);
    eventually("bob gone from node A's list", async || {
        route_a.presence().keys("room:lobby") == ["alice"]
    })
    .await;
}

#[tokio::test]
async fn without_redis_url_the_pubsub_is_local() {
    let pubsub: PubSub = chat::pubsub(None).await.unwrap();
    let mut sub = pubsub.subscribe("room:x");
    pubsub.broadcast("room:x", "e", json!({})).await.unwrap();
    assert!(sub.recv().await.is_some());
}
