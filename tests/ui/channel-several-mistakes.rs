use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[derive(serde::Deserialize)]
struct Params {}

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(id: String, params: Params, extra: Params) -> Result<Self, JoinError> {
        let _ = (id, params, extra);
        Ok(Room)
    }

    #[on_event]
    fn no_event(&mut self) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_event("phx_join")]
    fn protocol_event(&mut self, _socket: &mut ChannelSocket) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_info]
    fn no_info(&mut self) {}

    #[on_leave]
    fn leave(&mut self) -> u32 {
        1
    }
}

fn main() {}
