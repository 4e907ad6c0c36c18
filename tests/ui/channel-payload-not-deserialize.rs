use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

struct NewMsg {
    body: String,
}

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(id: Vec<u8>, _socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let _ = id;
        Ok(Room)
    }

    #[on_event("new_msg")]
    fn new_msg(&mut self, msg: NewMsg) -> ChannelReply {
        let _ = msg.body;
        ChannelReply::none()
    }
}

fn main() {}
