//! The seed's `MyApp.GameUpdates` (Phoenix's "Cross-Node Broadcasting"): any task publishes a
//! `GameUpdate` to `game:<id>`, and every `GameChannel` joined to it, on every node, pushes
//! the state to its client as `game_state`.
//!
//! ```text
//! cargo run --example game_updates
//! # in Node or a browser console, with npm's `phoenix`:
//! #   const socket = new Socket("ws://127.0.0.1:4000/socket"); socket.connect()
//! #   const game = socket.channel("game:42"); game.join()
//! #   game.on("game_state", state => console.log(state))   // {"turn": 1}, {"turn": 2}, ..
//! #   game.push("move", {"turn": 10})                       // every player of game 42 gets it
//! ```
//!
//! A ticker task publishes game 42's state every second, and another task subscribes to it
//! and prints each update (the seed's `subscribe_to_game`). Environment: `WEBSOCK_ADDR`
//! (default `127.0.0.1:4000`; prints `listening on <addr>`); `REDIS_URL` (say
//! `redis://127.0.0.1:6379/`) shares the updates with every node on that Redis, serialized
//! with serde.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use websock::{
    Router, channel,
    channels::{AnonymousSocket, ChannelReply, ChannelSocket, PubSub, PubSubError, socket},
};

/// `{:game_update, state}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GameUpdate {
    /// The game's state, as the clients see it.
    pub state: Value,
}

/// One player's view of one game.
pub struct GameChannel;

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel
    }

    /// A player's move becomes every player's new state; the reply says whether it was shared.
    #[on_event("move")]
    async fn make_move(&mut self, state: Value, socket: &mut ChannelSocket) -> ChannelReply {
        let game = socket.topic().trim_start_matches("game:").to_owned();
        match broadcast_game_state(socket.pubsub(), &game, state).await {
            Ok(()) => ChannelReply::ok(json!({})),
            Err(error) => ChannelReply::error(json!({ "reason": error.to_string() })),
        }
    }

    /// `def handle_info({:game_update, state}, socket), do: push(socket, "game_state", state)`
    #[on_info]
    fn game_update(&mut self, update: GameUpdate, socket: &mut ChannelSocket) {
        socket.push("game_state", update.state);
    }
}

/// `MyApp.GameUpdates.broadcast_game_state/2`: works across every node on the same Redis.
/// `GameChannel::topic` checks at compile time that `GameChannel` handles a `GameUpdate`.
pub async fn broadcast_game_state(
    pubsub: &PubSub,
    game_id: &str,
    state: Value,
) -> Result<(), PubSubError> {
    GameChannel::topic(game_id)
        .publish(pubsub, GameUpdate { state })
        .await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let pubsub = match std::env::var("REDIS_URL") {
        Ok(url) => PubSub::new(
            websock_redis::RedisAdapter::connect(&url)
                .await
                .map_err(std::io::Error::other)?,
        ),
        Err(_) => PubSub::local(),
    };
    // `MyApp.GameUpdates.subscribe_to_game("42")`, from a task of its own.
    let mut updates = pubsub.subscribe_info::<GameUpdate>("game:42");
    tokio::spawn(async move {
        while let Some(update) = updates.recv().await {
            println!("game 42: {}", update.state);
        }
    });
    let ticker = pubsub.clone();
    tokio::spawn(async move {
        for turn in 1.. {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = broadcast_game_state(&ticker, "42", json!({ "turn": turn })).await;
        }
    });
    let route = socket(AnonymousSocket)
        .channel::<GameChannel>()
        .with_pubsub(pubsub);
    websock::run(Router::new().route("/socket/websocket", route)).await
}
