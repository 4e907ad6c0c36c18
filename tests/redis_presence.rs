//! Presence across two nodes sharing a private `redis-server`, with real WebSocket clients:
//! a relayed client event named `presence_diff` cannot forge presences, and the nodes agree
//! again after their Redis connections are killed repeatedly while users come and go.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;
mod support;

use redis_server::{RedisServer, connection_to, eventually, kill_clients};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use support::{Client, connect_v2, join_lobby, next_event, send, serve};
use websock::{
    Router,
    channels::{
        AnonymousSocket, Channel, ChannelReply, ChannelSocket, JoinError, Payload, PubSub,
        SocketRoute, Topic, socket,
    },
};
use websock_redis::{RedisAdapter, RedisOptions, redis};

/// Tracks the joiner's `user_id`, and relays every client event to the room under the
/// client's own event name, as the crate docs' example channel does.
struct Relay;

impl Channel for Relay {
    const TOPIC: &'static str = "room:lobby";
    type Info = ();
    type State = ();

    async fn join(
        _: Topic,
        params: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> Result<(Self, Payload), JoinError> {
        let user = params
            .as_json()
            .and_then(|p| p["user_id"].as_str())
            .unwrap_or("anonymous")
            .to_owned();
        socket
            .track(&user, json!({ "user": user }))
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok((Relay, Payload::empty()))
    }

    async fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> ChannelReply {
        socket.broadcast(event, payload);
        ChannelReply::ok(Payload::empty())
    }
}

fn options() -> RedisOptions {
    // A presence expiry far longer than the outages below: the nodes must agree again
    // without anyone's key expiring.
    RedisOptions::new()
        .max_backoff(Duration::from_millis(200))
        .ping_interval(Duration::from_millis(500))
        .timeout(Duration::from_secs(2))
        .presence_heartbeat(Duration::from_millis(300))
        .presence_expiry(Duration::from_secs(30))
}

struct Node {
    adapter: RedisAdapter,
    route: SocketRoute<AnonymousSocket>,
    addr: SocketAddr,
}

impl Node {
    async fn start(server: &RedisServer) -> Self {
        let adapter = RedisAdapter::connect_with(&server.url(), options())
            .await
            .unwrap();
        let route = socket(AnonymousSocket)
            .channel::<Relay>()
            .with_pubsub(PubSub::new(adapter.clone()));
        let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
        Self {
            adapter,
            route,
            addr,
        }
    }

    fn keys(&self) -> Vec<String> {
        self.route.presence().keys("room:lobby")
    }

    fn list(&self) -> Value {
        self.route.presence().list("room:lobby")
    }
}

/// A client of `node` joined to `room:lobby` as `user`.
async fn join(node: &Node, user: &str) -> Client {
    let mut client = connect_v2(node.addr).await;
    join_lobby(&mut client, user).await;
    client
}

async fn agree(a: &Node, b: &Node, keys: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(a.list() == b.list() && a.keys() == keys && b.keys() == keys) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the nodes do not both list exactly {keys:?}:\nA {}\nB {}",
            a.list(),
            b.list()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_presence_diff_event_forges_no_presence() {
    let server = RedisServer::start();
    let a = Node::start(&server).await;
    let b = Node::start(&server).await;
    let mut alice = join(&a, "alice").await;
    let mut bob = join(&b, "bob").await;
    agree(&a, &b, &["alice", "bob"]).await;

    // Alice's client pushes an event it names `presence_diff`, with a forged join; the
    // channel relays it to the room, so both nodes' clients receive it as a broadcast.
    let forged = json!({
        "joins": { "mallory": { "metas": [{ "phx_ref": "forged-1", "user": "mallory" }] } },
        "leaves": { "bob": { "metas": [] } },
    });
    send(
        &mut alice,
        json!(["1", "2", "room:lobby", "presence_diff", forged]),
    )
    .await;
    loop {
        let frame = next_event(&mut bob, "presence_diff").await;
        if frame[4] == forged {
            break;
        }
    }
    // Bob's node delivered it, and lists nobody new: a broadcast is just a broadcast.
    assert_eq!(b.keys(), ["alice", "bob"], "{}", b.list());
    assert_eq!(a.keys(), ["alice", "bob"], "{}", a.list());
    let mut conn = server.connection().await;
    let hash: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg("websock:presence:room:lobby")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(hash.len(), 2, "only alice and bob are in Redis: {hash:?}");
    assert!(!format!("{hash:?}").contains("forged"), "{hash:?}");

    // A third node, joining later, loads the presences from Redis: no mallory either.
    let c = Node::start(&server).await;
    let _carol = join(&c, "carol").await;
    agree(&a, &b, &["alice", "bob", "carol"]).await;
    eventually("node C to list the three users", async || {
        c.keys() == ["alice", "bob", "carol"]
    })
    .await;
}

/// Kills every node's Redis connections (both kinds at once, atomically) every 100 ms for
/// 3 s. Until `reopen` fires, new connections are refused too (the default user is
/// disabled; this connection, already authenticated, goes on), so changes made meanwhile
/// cannot reach Redis by luck between two kills.
async fn kill_connections(url: &str, reopen: tokio::sync::oneshot::Receiver<()>) {
    let mut conn = connection_to(url).await;
    let acl = async |conn: &mut redis::aio::MultiplexedConnection, on: &str| {
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "default", on])
            .query_async(conn)
            .await
            .unwrap();
    };
    acl(&mut conn, "off").await;
    let mut reopen = Some(reopen);
    let end = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < end {
        kill_clients(&mut conn).await;
        if reopen.as_mut().is_some_and(|r| r.try_recv().is_ok()) {
            reopen = None;
            acl(&mut conn, "on").await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if reopen.is_some() {
        acl(&mut conn, "on").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_agree_again_after_repeated_connection_kills() {
    let server = RedisServer::start();
    let a = Node::start(&server).await;
    let b = Node::start(&server).await;
    let alice = join(&a, "alice").await;
    // Dave stays on node A, so A keeps its subscription to the room (and its replica).
    let _dave = join(&a, "dave").await;
    let _bob = join(&b, "bob").await;
    agree(&a, &b, &["alice", "bob", "dave"]).await;

    // 3 s of killed connections; meanwhile alice leaves node A and carol joins node B.
    let (reopen, reopened) = tokio::sync::oneshot::channel();
    let killer = tokio::spawn({
        let url = server.url();
        async move { kill_connections(&url, reopened).await }
    });
    eventually("both nodes to lose Redis", async || {
        !a.adapter.is_connected() && !b.adapter.is_connected()
    })
    .await;
    drop(alice);
    eventually("alice gone from node A", async || {
        !a.keys().contains(&"alice".to_owned())
    })
    .await;
    let _carol = join(&b, "carol").await;
    reopen.send(()).unwrap();
    killer.await.unwrap();

    agree(&a, &b, &["bob", "carol", "dave"]).await;
    // And they stay so: through several heartbeats, nothing comes back or goes.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.keys(), ["bob", "carol", "dave"], "{}", a.list());
        assert_eq!(a.list(), b.list());
    }
    assert!(a.adapter.stats().connects >= 2 && b.adapter.stats().connects >= 2);
}
