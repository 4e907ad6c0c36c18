use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        Ok(Room)
    }

    #[on_event("count")]
    fn count(&mut self) -> u32 {
        let _ = ChannelReply::none();
        1
    }
}

fn main() {}
