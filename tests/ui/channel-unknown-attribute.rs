use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join() -> Self {
        Room
    }

    #[on_message("new_msg")]
    fn new_msg(&mut self) -> ChannelReply {
        ChannelReply::none()
    }
}

fn main() {
    let _ = (JoinError::reason("x"), std::any::type_name::<ChannelSocket>());
}
