//! The article's `MyAppWeb.RoomChannel`: join authorization, history, messages with a rate
//! limit, typing, presence with a status, and `user_joined` / `user_left`.

use crate::{
    presence_events::{gone_for_good, new_arrivals},
    store::User,
    user_socket::{UserSocket, current_user},
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use websock::{
    Json, channel,
    channels::{ChannelReply, ChannelSocket, JoinError, LeaveReason, State, Topic},
};

/// The rooms anyone may join.
pub const PUBLIC_ROOMS: [&str; 3] = ["lobby", "rust", "elixir"];

/// The private room and its members.
pub const STAFF_ROOM: (&str, &[&str]) = ("staff", &["Alice"]);

/// The most messages a user may send in one window (`RATE_LIMIT_WINDOW_SECS`), across all
/// their sockets and rooms (and nodes, with `REDIS_URL`).
pub const RATE_LIMIT: u64 = 30;

/// The longest message body, in bytes.
pub const MAX_BODY: usize = 1000;

/// The longest presence status, in bytes.
pub const MAX_STATUS: usize = 64;

/// One user in one room.
pub struct Room {
    topic: String,
    user: User,
    /// `rate_limit:user:<id>`, the article's cache key: one count per user.
    rate_key: String,
    rate_limit_window: Duration,
    /// When this channel joined (Unix milliseconds, its presence's `joined_at`).
    joined_at: u64,
}

/// `new_message`'s payload; a missing body is a blank one.
#[derive(Deserialize)]
pub struct NewMessage {
    #[serde(default)]
    body: String,
}

/// `typing`'s payload.
#[derive(Deserialize)]
pub struct Typing {
    typing: bool,
}

/// `update_status`'s payload.
#[derive(Deserialize)]
pub struct Status {
    status: String,
}

/// Whether `user` may join room `name`: `Err` with the article's reasons.
pub fn authorize(name: &str, user: &User) -> Result<(), JoinError> {
    if PUBLIC_ROOMS.contains(&name) {
        return Ok(());
    }
    let (staff, members) = STAFF_ROOM;
    if name != staff {
        return Err(JoinError::reason("room not found"));
    }
    if !members.contains(&user.name.as_str()) {
        return Err(JoinError::reason("unauthorized"));
    }
    Ok(())
}

// `room:*` rather than `room:{name}`: `room:` (an empty name) is a room that does not exist,
// not a topic the socket does not serve.
#[channel("room:*")]
impl Room {
    /// Authorizes, then pushes the history (`recent_messages`), tracks the user and pushes
    /// `presence_state`: the client gets them in that order, after the join reply.
    #[on_join]
    async fn join(
        topic: Topic,
        socket: &mut ChannelSocket,
        app: State<UserSocket>,
    ) -> Result<Self, JoinError> {
        let user = current_user(socket.assigns());
        let name = topic.as_str().strip_prefix("room:").unwrap_or_default();
        authorize(name, &user)?;
        let topic = topic.as_str().to_owned();
        let messages = app
            .store
            .recent_messages(topic.clone())
            .await
            .map_err(|error| {
                tracing::error!(%error, %topic, "reading the history");
                JoinError::reason("database error")
            })?;
        socket.push("recent_messages", json!({ "messages": messages }));
        let joined_at = unix_millis();
        let meta = json!({ "name": user.name, "joined_at": joined_at });
        socket
            .track(user.id.to_string(), meta)
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok(Room {
            topic,
            rate_key: format!("rate_limit:user:{}", user.id),
            user,
            rate_limit_window: app.rate_limit_window,
            joined_at,
        })
    }

    /// Rate limit first (every attempt counts), then blank, then too long; else stored, the
    /// id replied and the message broadcast to the room, sender included.
    #[on_event("new_message")]
    #[rate_limit(RATE_LIMIT, per = self.rate_limit_window, key = self.rate_key)]
    async fn new_message(
        &mut self,
        message: NewMessage,
        socket: &mut ChannelSocket,
        app: State<UserSocket>,
    ) -> ChannelReply {
        if message.body.trim().is_empty() {
            return ChannelReply::error(json!({ "errors": { "body": ["can't be blank"] } }));
        }
        if message.body.len() > MAX_BODY {
            return ChannelReply::error(json!({ "reason": "message_too_long" }));
        }
        let stored = app
            .store
            .insert_message(self.topic.clone(), self.user.clone(), message.body)
            .await;
        match stored {
            Ok(message) => {
                let id = message.id;
                socket.broadcast("new_message", Json(message));
                ChannelReply::ok(json!({ "id": id }))
            }
            Err(error) => {
                tracing::error!(%error, topic = %self.topic, "storing a message");
                ChannelReply::error(json!({ "reason": "database error" }))
            }
        }
    }

    /// `user_typing` to the others.
    #[on_event("typing")]
    fn typing(&mut self, typing: Typing, socket: &mut ChannelSocket) -> ChannelReply {
        let event = json!({ "user_id": self.user.id, "typing": typing.typing });
        socket.broadcast_from("user_typing", event);
        ChannelReply::ok(json!({}))
    }

    /// The user's presence meta gains `status`, keeping `name` and `joined_at`.
    #[on_event("update_status")]
    fn update_status(&mut self, status: Status, socket: &mut ChannelSocket) -> ChannelReply {
        if status.status.len() > MAX_STATUS {
            return ChannelReply::error(json!({ "reason": "status_too_long" }));
        }
        socket.update_with(self.user.id.to_string(), |mut meta| {
            meta["status"] = json!(status.status);
            meta
        });
        ChannelReply::ok(json!({}))
    }

    /// Every presence change of the room passes here: pushed on as it is, with `user_left`
    /// before it for a user's last presence in the room (so the client still knows the name)
    /// and `user_joined` after it for their first.
    #[on_out("presence_diff")]
    fn presence_diff(&mut self, diff: Value, socket: &mut ChannelSocket) {
        let me = self.user.id.to_string();
        let others = |key: &String| *key != me;
        let arrivals = new_arrivals(&diff, socket.presence(), &self.topic, self.joined_at);
        for key in gone_for_good(&diff, socket.presence(), &self.topic)
            .iter()
            .filter(|k| others(k))
        {
            let Ok(id) = key.parse::<i64>() else { continue };
            socket.push("user_left", json!({ "user_id": id }));
        }
        socket.push("presence_diff", diff);
        for (key, meta) in arrivals.iter().filter(|(key, _)| others(key)) {
            let Ok(id) = key.parse::<i64>() else { continue };
            socket.push(
                "user_joined",
                json!({ "user": { "id": id, "name": meta["name"] } }),
            );
        }
    }

    /// The article's `terminate/2`: logs why (the presence is untracked after this, and the
    /// others learn it from the diff).
    #[on_leave]
    fn leave(&mut self, reason: LeaveReason) {
        tracing::info!(topic = %self.topic, user_id = self.user.id, ?reason, "room channel terminated");
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
