//! Typed PubSub across two nodes sharing a private `redis-server`, with real WebSocket
//! clients: a value published on node A (`GameChannel::topic("42").publish`) reaches the
//! `#[on_info]` of a channel joined on node B, serialized with serde and decoded there; node
//! B's `subscribe_info` gets it too; a value node B's channel cannot take is counted there.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;
mod support;

use redis_server::{RedisServer, eventually};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{net::SocketAddr, time::Duration};
use support::{Client, connect_v2, next_event, send, serve, within};
use websock::{
    Router, channel,
    channels::{AnonymousSocket, ChannelSocket, PubSub, SocketRoute, socket},
};
use websock_redis::{RedisAdapter, RedisOptions};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GameUpdate {
    turn: u32,
    board: Vec<String>,
}

/// Serializable, but no channel here has an `#[on_info]` for it.
#[derive(Clone, Serialize, Deserialize)]
struct Chat(String);

struct GameChannel;

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel
    }

    #[on_info]
    fn game_update(&mut self, update: GameUpdate, socket: &mut ChannelSocket) {
        socket.push(
            "game_state",
            json!({ "turn": update.turn, "board": update.board }),
        );
    }
}

struct Node {
    adapter: RedisAdapter,
    route: SocketRoute<AnonymousSocket>,
    addr: SocketAddr,
}

impl Node {
    async fn start(server: &RedisServer) -> Self {
        let options = RedisOptions::new()
            .max_backoff(Duration::from_millis(200))
            .timeout(Duration::from_secs(2));
        let adapter = RedisAdapter::connect_with(&server.url(), options)
            .await
            .unwrap();
        let route = socket(AnonymousSocket)
            .channel::<GameChannel>()
            .with_pubsub(PubSub::new(adapter.clone()));
        let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
        Self {
            adapter,
            route,
            addr,
        }
    }
}

async fn player(node: &Node, topic: &str) -> Client {
    let mut client = connect_v2(node.addr).await;
    send(&mut client, json!(["1", "1", topic, "phx_join", {}])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_published_on_one_node_reaches_channels_on_the_other() {
    let server = RedisServer::start();
    let a = Node::start(&server).await;
    let b = Node::start(&server).await;
    let mut on_b = player(&b, "game:42").await;
    let mut on_a = player(&a, "game:42").await;
    let mut subscription = b.route.pubsub().subscribe_info::<GameUpdate>("game:42");
    let channel = a.adapter.channel("game:42");
    eventually("both nodes subscribed to game:42", async || {
        server.numsub(&channel).await == 2
    })
    .await;

    let update = GameUpdate {
        turn: 3,
        board: vec!["x".into(), "o".into()],
    };
    GameChannel::topic("42")
        .publish(a.route.pubsub(), update.clone())
        .await
        .unwrap();
    let expected = json!({"turn": 3, "board": ["x", "o"]});
    assert_eq!(next_event(&mut on_b, "game_state").await[4], expected);
    assert_eq!(next_event(&mut on_a, "game_state").await[4], expected);
    assert_eq!(within(subscription.recv()).await, Some(update));

    // A value B's channel has no `#[on_info]` for: decoded nowhere, counted on B.
    a.route
        .pubsub()
        .publish_info("game:42", Chat("hi".into()))
        .await
        .unwrap();
    eventually("node B to count the unhandled value", async || {
        b.route.metrics().unhandled_infos == 1
    })
    .await;
    assert!(b.adapter.stats().unreadable == 0, "{:?}", b.adapter.stats());
}
