//! The article's `MyAppWeb.UserChannel`: a user's private channel, `user:<id>`.

use crate::{store::User, user_socket::current_user};
use serde::Deserialize;
use serde_json::Value;
use websock::{
    channel,
    channels::{ChannelReply, ChannelSocket, JoinError, LeaveReason, Payload},
};

/// One user's own channel.
pub struct UserChannel {
    user: User,
}

/// `mark_notifications_read`'s payload.
#[derive(Deserialize)]
pub struct MarkRead {
    ids: Vec<Value>,
}

#[channel("user:{id}")]
impl UserChannel {
    /// Only the socket's own user joins `user:<their id>`.
    #[on_join]
    fn join(id: String, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let user = current_user(socket.assigns());
        if id != user.id.to_string() {
            return Err(JoinError::reason("unauthorized"));
        }
        Ok(UserChannel { user })
    }

    /// `{:reply, :ok, socket}`: the app has no notifications to mark, it says which it was
    /// told of.
    #[on_event("mark_notifications_read")]
    fn mark_notifications_read(&mut self, read: MarkRead) -> ChannelReply {
        tracing::info!(
            user_id = self.user.id,
            ids = read.ids.len(),
            "notifications read"
        );
        ChannelReply::ok(Payload::empty())
    }

    #[on_leave]
    fn leave(&mut self, reason: LeaveReason) {
        tracing::info!(user_id = self.user.id, ?reason, "user channel terminated");
    }
}
