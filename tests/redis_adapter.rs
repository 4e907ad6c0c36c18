//! The Redis adapter between two in-process nodes (two `PubSub`s) on a private `redis-server`
//! this test starts on a free loopback port: cross-node delivery, one Redis subscription per
//! topic per node, no echo to the sender's node, at-most-once delivery across a Redis restart.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;

use redis_server::{RedisServer, eventually};
use serde_json::json;
use std::time::Duration;
use websock::channels::{PubSub, Subscription};
use websock_redis::{RedisAdapter, RedisOptions};

fn options() -> RedisOptions {
    RedisOptions::new()
        .max_backoff(Duration::from_millis(200))
        .ping_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
}

async fn node(server: &RedisServer) -> (RedisAdapter, PubSub) {
    let adapter = RedisAdapter::connect_with(&server.url(), options())
        .await
        .unwrap();
    (adapter.clone(), PubSub::new(adapter))
}

async fn recv(sub: &mut Subscription) -> serde_json::Value {
    let message = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("no broadcast within 5 s")
        .unwrap();
    message.payload().as_json().unwrap().clone()
}

async fn nothing_more(sub: &mut Subscription) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(extra) = sub.try_recv() {
        panic!("unexpected extra broadcast: {extra:?}");
    }
}

/// Waits until Redis has `nodes` subscriptions to `topic`'s channel.
async fn subscribed(server: &RedisServer, channel: &str, nodes: i64) {
    eventually(&format!("{nodes} subscriptions to {channel}"), async || {
        server.numsub(channel).await == nodes
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_on_one_node_reaches_every_node_once() {
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (b, pubsub_b) = node(&server).await;
    assert_ne!(a.node_id(), b.node_id());

    let mut on_a = pubsub_a.subscribe("room:lobby");
    let mut on_b = pubsub_b.subscribe("room:lobby");
    subscribed(&server, &a.channel("room:lobby"), 2).await;

    pubsub_a
        .broadcast("room:lobby", "new_msg", json!({"body": "from a"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut on_b).await, json!({"body": "from a"}));
    // A's own subscriber gets it once: in-process, not again when Redis echoes it.
    assert_eq!(recv(&mut on_a).await, json!({"body": "from a"}));

    pubsub_b
        .broadcast("room:lobby", "new_msg", json!({"body": "from b"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut on_a).await, json!({"body": "from b"}));
    assert_eq!(recv(&mut on_b).await, json!({"body": "from b"}));
    nothing_more(&mut on_a).await;
    nothing_more(&mut on_b).await;

    // Binary payloads travel unchanged; other topics are not received.
    let mut other = pubsub_b.subscribe("room:other");
    subscribed(&server, &a.channel("room:other"), 1).await;
    pubsub_a
        .broadcast(
            "room:lobby",
            "bin",
            bytes::Bytes::from_static(&[0, 159, 255]),
        )
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), on_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.event(), "bin");
    assert_eq!(
        message.payload().as_binary().unwrap().as_ref(),
        &[0, 159, 255]
    );
    nothing_more(&mut other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_subscription_per_topic_per_node() {
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (_b, pubsub_b) = node(&server).await;
    let channel = a.channel("room:many");

    let mut subs_a: Vec<Subscription> = (0..50).map(|_| pubsub_a.subscribe("room:many")).collect();
    let mut subs_b: Vec<Subscription> = (0..50).map(|_| pubsub_b.subscribe("room:many")).collect();
    subscribed(&server, &channel, 2).await;
    assert_eq!(a.local_subscribers("room:many"), 50);

    pubsub_b
        .broadcast("room:many", "n", json!({"n": 1}))
        .await
        .unwrap();
    for sub in subs_a.iter_mut().chain(subs_b.iter_mut()) {
        assert_eq!(recv(sub).await, json!({"n": 1}));
    }
    for sub in subs_a.iter_mut().chain(subs_b.iter_mut()) {
        assert!(sub.try_recv().is_none(), "delivered twice");
    }

    // The last local subscriber leaving unsubscribes the node, not before.
    subs_a.truncate(1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.numsub(&channel).await, 2);
    subs_a.clear();
    subscribed(&server, &channel, 1).await;
    subs_b.clear();
    subscribed(&server, &channel, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_broadcast_arrives_once_and_in_order() {
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (b, pubsub_b) = node(&server).await;
    let mut on_b = pubsub_b.subscribe("count");
    subscribed(&server, &a.channel("count"), 1).await;

    for n in 0..500 {
        pubsub_a
            .broadcast("count", "n", json!({ "n": n }))
            .await
            .unwrap();
    }
    for n in 0..500 {
        assert_eq!(recv(&mut on_b).await, json!({ "n": n }));
    }
    nothing_more(&mut on_b).await;
    assert_eq!(a.stats().published, 500);
    assert_eq!(b.stats().received, 500);
}

/// Redis PubSub is at-most-once: during an outage `broadcast` fails (the caller knows), the
/// publishing node's own subscribers still get the message, the other node never does (no
/// replay after reconnecting), and broadcasting resumes once both nodes have reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_errors_then_resumes_without_replay() {
    let mut server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (b, pubsub_b) = node(&server).await;
    let mut on_a = pubsub_a.subscribe("room:lobby");
    let mut on_b = pubsub_b.subscribe("room:lobby");
    subscribed(&server, &a.channel("room:lobby"), 2).await;

    server.stop();
    eventually("both nodes to see Redis down", async || {
        !a.is_connected() && !b.is_connected()
    })
    .await;

    let during = pubsub_a
        .broadcast("room:lobby", "new_msg", json!({"body": "during"}))
        .await;
    let error = during
        .expect_err("a broadcast during the outage must fail")
        .to_string();
    assert!(error.contains("redis"), "{error}");
    assert_eq!(recv(&mut on_a).await, json!({"body": "during"}));
    assert!(a.stats().publish_errors >= 1);

    server.restart();
    eventually("both nodes to reconnect", async || {
        a.is_connected() && b.is_connected()
    })
    .await;
    subscribed(&server, &a.channel("room:lobby"), 2).await;
    assert!(a.stats().connects >= 2 && b.stats().connects >= 2);

    pubsub_a
        .broadcast("room:lobby", "new_msg", json!({"body": "after"}))
        .await
        .unwrap();
    // The first thing B gets is the message sent after the restart: the outage one is lost.
    assert_eq!(recv(&mut on_b).await, json!({"body": "after"}));
    assert_eq!(recv(&mut on_a).await, json!({"body": "after"}));
    pubsub_b
        .broadcast("room:lobby", "new_msg", json!({"body": "back"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut on_a).await, json!({"body": "back"}));
    assert_eq!(recv(&mut on_b).await, json!({"body": "back"}));
    nothing_more(&mut on_a).await;
    nothing_more(&mut on_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_when_redis_is_down() {
    let server = RedisServer::start();
    let url = server.url();
    drop(server);
    let error = RedisAdapter::connect_with(&url, options())
        .await
        .expect_err("nothing listens there");
    assert!(error.to_string().contains("redis connect"), "{error}");
}
