use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("game:{game}:player:{player}")]
impl Room {
    #[on_join]
    fn join(game: u64, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let _ = (game, socket);
        Ok(Room)
    }

    #[on_event("move")]
    fn play(&mut self) -> ChannelReply {
        ChannelReply::none()
    }
}

fn main() {}
