//! The Redis adapter between two in-process nodes (two `PubSub`s) on a private `redis-server`
//! this test starts on a free loopback port: cross-node delivery, one Redis subscription per
//! topic per node, no echo to the sender's node, at-most-once delivery across a Redis restart.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;

use redis_server::{RedisServer, eventually, kill_clients};
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use websock::channels::{
    Adapter, BoxFuture, Broadcast, PubSub, PubSubError, Subscriber, SubscriberId, Subscription,
};
use websock_redis::{RedisAdapter, RedisOptions, redis};

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

/// Broadcasts in flight when the connection dies fail after the supervisor has already seen
/// it go: their "connection broken" signal must not end the next, healthy connection (a
/// `Notify::notify_one` permit stored while nobody waited did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_failure_signal_does_not_end_the_next_connection() {
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (b, pubsub_b) = node(&server).await;
    let _on_b = pubsub_b.subscribe("flood");
    let mut on_a = pubsub_a.subscribe("echo");
    subscribed(&server, &a.channel("echo"), 1).await;

    let stop = Arc::new(AtomicBool::new(false));
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let (pubsub, stop) = (pubsub_a.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = pubsub.broadcast("flood", "n", json!({})).await;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for round in 1..=3 {
        kill_clients(&mut server.connection().await).await;
        eventually("both nodes to reconnect", async || {
            a.stats().connects > round && b.stats().connects > round
        })
        .await;
        eventually("both nodes to be subscribed again", async || {
            a.is_connected() && b.is_connected()
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
    assert!(a.stats().publish_errors > 0, "no broadcast saw a kill");
    // Messages through A's subscription: its loop has run many times since it reconnected,
    // so a leftover signal would have ended the connection by now.
    subscribed(&server, &a.channel("echo"), 1).await;
    for n in 0..10 {
        pubsub_b
            .broadcast("echo", "n", json!({ "n": n }))
            .await
            .unwrap();
        assert_eq!(recv(&mut on_a).await, json!({ "n": n }));
    }
    assert_eq!(a.stats().connects, 4, "one reconnect per kill, no more");
    assert_eq!(b.stats().connects, 4);
    assert!(a.is_connected());
}

/// 500 topics joined at once are a few batched SUBSCRIBE commands, not 500 round trips; a
/// topic's messages keep flowing meanwhile; and when the last subscriber of each leaves,
/// Redis has no subscription left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_topics_is_batched_and_unsubscribed_when_left() {
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (_b, pubsub_b) = node(&server).await;
    let mut lobby = pubsub_a.subscribe("lobby");
    subscribed(&server, &a.channel("lobby"), 1).await;
    let before = server.calls("subscribe").await;

    let burst: Vec<Subscription> = (0..500)
        .map(|n| pubsub_a.subscribe(format!("room:{n}")))
        .collect();
    pubsub_b
        .broadcast("lobby", "n", json!({"during": "burst"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut lobby).await, json!({"during": "burst"}));
    eventually("the 500 topics subscribed in Redis", async || {
        server.channels("websock:room:*").await.len() == 500
    })
    .await;
    let subscribes = server.calls("subscribe").await - before;
    assert!(
        subscribes <= 10,
        "{subscribes} SUBSCRIBE commands for 500 topics"
    );
    pubsub_b
        .broadcast("room:499", "n", json!({"n": 499}))
        .await
        .unwrap();

    drop(burst);
    eventually("no room subscription left in Redis", async || {
        server.channels("websock:room:*").await.is_empty()
    })
    .await;
    assert_eq!(server.channels("websock:*").await, ["websock:lobby"]);
}

/// A message this release cannot read (another format version, garbage) is ignored, counted
/// and logged; the node goes on delivering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_messages_are_counted_and_skipped() {
    let log = Log::default();
    tracing_subscriber::fmt()
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .with_ansi(false)
        .try_init()
        .unwrap();
    let server = RedisServer::start();
    let (a, pubsub_a) = node(&server).await;
    let (_b, pubsub_b) = node(&server).await;
    let mut on_a = pubsub_a.subscribe("room:lobby");
    let channel = a.channel("room:lobby");
    subscribed(&server, &channel, 1).await;

    let mut conn = server.connection().await;
    let mut next_version = vec![3u8];
    next_version.extend_from_slice(&[0; 8]);
    next_version.extend_from_slice(b"{\"a future\": \"format\"}");
    let mut bad_presence = vec![2u8];
    bad_presence.extend_from_slice(&7u64.to_be_bytes());
    bad_presence.extend_from_slice(b"\x01{\"joins\": \"not a list\"}");
    for message in [next_version, b"garbage".to_vec(), bad_presence, Vec::new()] {
        let receivers: i64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(message)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(receivers, 1);
    }
    eventually("the four messages counted", async || {
        a.stats().unreadable == 4
    })
    .await;
    assert!(a.is_connected());
    pubsub_b
        .broadcast("room:lobby", "new_msg", json!({"body": "still here"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut on_a).await, json!({"body": "still here"}));
    assert!(
        on_a.try_recv().is_none(),
        "an unreadable message was delivered"
    );
    assert_eq!(a.stats().received, 1);
    let log = log.text();
    assert!(
        log.contains("unknown format version") && log.contains("version=3"),
        "{log}"
    );
    assert!(log.contains("unreadable message ignored"), "{log}");
}

/// What the test's tracing subscriber wrote (this test binary's only one).
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An adapter that forwards to a [`RedisAdapter`] but loses every unsubscribe: what a socket
/// that died without unsubscribing looks like to the adapter.
struct LosesUnsubscribes(RedisAdapter);

impl Adapter for LosesUnsubscribes {
    fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        self.0.subscribe(topic, subscriber);
    }

    fn unsubscribe(&self, _: &str, _: SubscriberId) {}

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        self.0.broadcast(message)
    }
}

/// A subscriber found gone when a message arrives (its receiver dropped, no unsubscribe) is
/// dropped, and the node unsubscribes in Redis when it was the topic's last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_died_without_unsubscribing_is_unsubscribed_in_redis() {
    let server = RedisServer::start();
    let (a, _) = node(&server).await;
    let pubsub_a = PubSub::new(LosesUnsubscribes(a.clone()));
    let (_b, pubsub_b) = node(&server).await;
    let channel = a.channel("room:dead");

    let mut kept = pubsub_a.subscribe("room:kept");
    let dead = pubsub_a.subscribe("room:dead");
    subscribed(&server, &channel, 1).await;
    drop(dead);
    assert_eq!(
        a.local_subscribers("room:dead"),
        1,
        "the unsubscribe was lost"
    );

    pubsub_b
        .broadcast("room:dead", "n", json!({}))
        .await
        .unwrap();
    subscribed(&server, &channel, 0).await;
    assert_eq!(a.local_subscribers("room:dead"), 0);
    // The node's other topics are untouched.
    pubsub_b
        .broadcast("room:kept", "n", json!({"still": "here"}))
        .await
        .unwrap();
    assert_eq!(recv(&mut kept).await, json!({"still": "here"}));
    assert_eq!(server.channels("websock:*").await, ["websock:room:kept"]);
}
