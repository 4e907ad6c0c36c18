//! The article's cross-node broadcasting: a server task publishes each tick of game 42 to
//! `game:42` through the PubSub, as a typed value (not from inside a channel), and every
//! `GameChannel` joined to it, on every node, pushes it as `game_state`.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use websock::{
    Json, channel,
    channels::{ChannelSocket, LeaveReason, PubSub},
};

/// `{:game_update, state}`: what the ticker publishes and clients get as `game_state`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameState {
    /// Always 42 here.
    pub game_id: u64,
    /// Counts up once a second from 1.
    pub tick: u64,
}

/// The game the ticker plays.
pub const GAME_ID: u64 = 42;

/// One player's view of one game; any user may join any `game:<id>`.
pub struct GameChannel;

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel
    }

    /// `def handle_info({:game_update, state}, socket), do: push(socket, "game_state", state)`
    #[on_info]
    fn game_state(&mut self, state: GameState, socket: &mut ChannelSocket) {
        socket.push("game_state", Json(state));
    }

    #[on_leave]
    fn leave(&mut self, reason: LeaveReason, socket: &mut ChannelSocket) {
        tracing::info!(topic = socket.topic(), ?reason, "game channel terminated");
    }
}

/// Publishes game 42's state every second, forever: `PubSub::publish_info` through the
/// typed topic `GameChannel::topic("42")`, which checks at compile time that `GameChannel`
/// takes a `GameState`. With Redis, every node runs its own ticker.
pub fn spawn_ticker(pubsub: PubSub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let topic = GameChannel::topic(GAME_ID);
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        for tick in 1.. {
            interval.tick().await;
            let state = GameState {
                game_id: GAME_ID,
                tick,
            };
            if let Err(error) = topic.publish(&pubsub, state).await {
                tracing::warn!(%error, tick, "publishing the game state");
            }
        }
    })
}
