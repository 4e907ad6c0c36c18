//! Typed channel infos and typed PubSub over real sockets (tokio-tungstenite clients of a
//! server on 127.0.0.1:0): a channel's handle and `send_after` reach its `#[on_info]`
//! methods; a value published to a typed topic reaches every joined channel; a value published
//! to a plain-string topic that a channel has no `#[on_info]` for is counted and logged;
//! `subscribe_info` receives the values of its type. (Sending a type a channel does not
//! handle is a compile error: tests/ui/channel-info-*.rs.)

mod support;

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use support::{Client, connect_v2, next_event, send, serve, within};
use websock::{
    Router, channel,
    channels::{AnonymousSocket, ChannelSocket, PubSub, SocketRoute, socket},
};

/// Published to games, from any node: serde makes it travel between nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GameUpdate {
    turn: u32,
}

/// Sent by the channel to itself (handle, timer): not serde, never leaves the node.
struct Tick(u32);

/// A type no channel here has an `#[on_info]` for.
#[derive(Clone, Serialize)]
struct Chat(String);

struct GameChannel;

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel
    }

    /// Sends `Tick(n)` through the channel's handle, from another task.
    #[on_event("via_handle")]
    fn via_handle(&mut self, msg: serde_json::Value, socket: &mut ChannelSocket) {
        let handle = socket.handle();
        let n = msg["n"].as_u64().unwrap_or_default() as u32;
        tokio::spawn(async move { handle.send(Tick(n)).unwrap() });
    }

    #[on_event("later")]
    fn later(&mut self, msg: serde_json::Value, socket: &mut ChannelSocket) {
        let n = msg["n"].as_u64().unwrap_or_default() as u32;
        socket.send_after(Duration::from_millis(20), Tick(n));
    }

    /// Publishes to its own game through the typed topic, from the channel.
    #[on_event("move")]
    async fn make_move(&mut self, update: GameUpdate, socket: &mut ChannelSocket) {
        let game = socket.topic().trim_start_matches("game:").to_owned();
        Self::topic(game)
            .publish(socket.pubsub(), update)
            .await
            .unwrap();
    }

    #[on_info]
    fn tick(&mut self, tick: Tick, socket: &mut ChannelSocket) {
        socket.push("tick", json!({ "n": tick.0 }));
    }

    #[on_info]
    fn game_update(&mut self, update: GameUpdate, socket: &mut ChannelSocket) {
        socket.push("game_state", json!({ "turn": update.turn }));
    }
}

async fn start() -> (SocketRoute<AnonymousSocket>, std::net::SocketAddr) {
    let route = socket(AnonymousSocket).channel::<GameChannel>();
    let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
    (route, addr)
}

/// A client joined to `topic`.
async fn player(addr: std::net::SocketAddr, topic: &str) -> Client {
    let mut client = connect_v2(addr).await;
    send(&mut client, json!(["1", "1", topic, "phx_join", {}])).await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[4]["status"], "ok", "{reply}");
    client
}

#[tokio::test]
async fn the_handle_and_send_after_reach_on_info() {
    let (_route, addr) = start().await;
    let mut client = player(addr, "game:1").await;
    send(
        &mut client,
        json!(["1", "2", "game:1", "via_handle", {"n": 7}]),
    )
    .await;
    assert_eq!(next_event(&mut client, "tick").await[4], json!({"n": 7}));
    send(&mut client, json!(["1", "3", "game:1", "later", {"n": 8}])).await;
    assert_eq!(next_event(&mut client, "tick").await[4], json!({"n": 8}));
}

#[tokio::test]
async fn a_typed_topic_reaches_every_channel_joined_to_it_and_no_other() {
    let (route, addr) = start().await;
    let mut alice = player(addr, "game:42").await;
    let mut bob = player(addr, "game:42").await;
    let mut carol = player(addr, "game:43").await;

    GameChannel::topic("42")
        .publish(route.pubsub(), GameUpdate { turn: 5 })
        .await
        .unwrap();
    for client in [&mut alice, &mut bob] {
        let frame = next_event(client, "game_state").await;
        assert_eq!(frame[2], "game:42");
        assert_eq!(frame[4], json!({"turn": 5}));
    }
    // A channel publishes too: both players of game 42 get the move.
    send(&mut bob, json!(["1", "2", "game:42", "move", {"turn": 6}])).await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            next_event(client, "game_state").await[4],
            json!({"turn": 6})
        );
    }
    // Carol's first game_state is her own game's: game 42's never reached her.
    GameChannel::topic("43")
        .publish(route.pubsub(), GameUpdate { turn: 1 })
        .await
        .unwrap();
    let frame = next_event(&mut carol, "game_state").await;
    assert_eq!(
        (frame[2].clone(), frame[4].clone()),
        (json!("game:43"), json!({"turn": 1}))
    );
    assert_eq!(route.metrics().unhandled_infos, 0);
}

#[tokio::test]
async fn a_string_topic_publish_no_channel_takes_is_counted_not_pushed() {
    let (route, addr) = start().await;
    let mut alice = player(addr, "game:7").await;
    let pubsub: &PubSub = route.pubsub();

    pubsub
        .publish_info("game:7", Chat("hello".into()))
        .await
        .unwrap();
    within(async {
        while route.metrics().unhandled_infos < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    // The string-topic path still delivers the types the channel takes; the client got
    // nothing for the `Chat` (the next frame is this state).
    pubsub
        .publish_info("game:7", GameUpdate { turn: 2 })
        .await
        .unwrap();
    let frame = support::next_text(&mut alice).await;
    let frame: serde_json::Value = serde_json::from_str(&frame).unwrap();
    assert_eq!(frame[3], "game_state", "{frame}");
    assert_eq!(frame[4], json!({"turn": 2}));
    assert_eq!(route.metrics().unhandled_infos, 1);
}

#[tokio::test]
async fn subscribe_info_receives_the_values_of_its_type_from_any_task() {
    let (route, addr) = start().await;
    let pubsub = route.pubsub().clone();
    let mut updates = pubsub.subscribe_info::<GameUpdate>("game:9");
    let mut player = player(addr, "game:9").await;

    let publisher = pubsub.clone();
    tokio::spawn(async move {
        publisher
            .publish_info("game:9", Chat("skip me".into()))
            .await
            .unwrap();
        publisher
            .broadcast("game:9", "news", json!({}))
            .await
            .unwrap();
        GameChannel::topic("9")
            .publish(&publisher, GameUpdate { turn: 3 })
            .await
            .unwrap();
    });
    assert_eq!(within(updates.recv()).await, Some(GameUpdate { turn: 3 }));
    assert_eq!(updates.skipped(), 2, "the Chat and the client broadcast");
    assert_eq!(
        next_event(&mut player, "game_state").await[4],
        json!({"turn": 3})
    );
}
