use websock::channel;
use websock::channels::{ChannelSocket, JoinError};

struct Room;

struct RoomId(u32);

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(id: RoomId, _socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let _ = id.0;
        Ok(Room)
    }
}

fn main() {}
