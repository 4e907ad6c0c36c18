//! The article's cross-node broadcasting: a server task publishes each tick of game 42 to
//! `game:42` through the PubSub, as a typed value (not from inside a channel), and every
//! `GameChannel` joined to it, on every node, pushes it as `game_state`.
//!
//! Every node runs the ticker, and the tick is the game clock (whole seconds since the Unix
//! epoch) rather than a per-node count: with several nodes on one Redis, each channel gets the
//! same tick from every node and pushes it once, so clients see one `game_state` a second,
//! and the game goes on while any node is up.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use websock::{
    Json, channel,
    channels::{ChannelSocket, LeaveReason, PubSub},
};

/// `{:game_update, state}`: what the ticker publishes and clients get as `game_state`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameState {
    /// Always 42 here.
    pub game_id: u64,
    /// The game clock: whole seconds since the Unix epoch, one more each second.
    pub tick: u64,
}

/// The game the ticker plays.
pub const GAME_ID: u64 = 42;

/// One player's view of one game; any user may join any `game:<id>`.
pub struct GameChannel {
    /// The last tick pushed: the same tick from another node is not pushed again.
    last_tick: u64,
}

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel { last_tick: 0 }
    }

    /// `def handle_info({:game_update, state}, socket), do: push(socket, "game_state", state)`,
    /// once per tick.
    #[on_info]
    fn game_state(&mut self, state: GameState, socket: &mut ChannelSocket) {
        if state.tick > self.last_tick {
            self.last_tick = state.tick;
            socket.push("game_state", Json(state));
        }
    }

    #[on_leave]
    fn leave(&mut self, reason: LeaveReason, socket: &mut ChannelSocket) {
        tracing::info!(topic = socket.topic(), ?reason, "game channel terminated");
    }
}

/// Publishes game 42's state at each whole second, forever: `PubSub::publish_info` through
/// the typed topic `GameChannel::topic(42)`, which checks at compile time that `GameChannel`
/// takes a `GameState`.
pub fn spawn_ticker(pubsub: PubSub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let topic = GameChannel::topic(GAME_ID);
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            // Sleep to the next whole second: every node publishes a tick at about the same
            // moment.
            tokio::time::sleep(
                Duration::from_secs(1) - Duration::from_nanos(now.subsec_nanos().into()),
            )
            .await;
            let state = GameState {
                game_id: GAME_ID,
                tick: now.as_secs() + 1,
            };
            if let Err(error) = topic.publish(&pubsub, state).await {
                tracing::warn!(%error, "publishing the game state");
            }
        }
    })
}
