use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        Ok(Room)
    }

    #[on_event("new_msg")]
    fn first(&mut self) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_event("new_msg")]
    fn second(&mut self) -> ChannelReply {
        ChannelReply::none()
    }
}

fn main() {}
