use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(&self) -> Self {
        Room
    }

    #[on_event("by_value")]
    fn by_value(self) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_event("shared")]
    fn shared(&self) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_leave]
    fn leave(socket: &mut ChannelSocket) {
        let _ = (socket, JoinError::reason("x"));
    }
}

fn main() {}
