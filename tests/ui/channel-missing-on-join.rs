use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket, JoinError};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_event("new_msg")]
    fn new_msg(&mut self, socket: &mut ChannelSocket) -> ChannelReply {
        let _ = (socket, JoinError::reason("x"));
        ChannelReply::none()
    }
}

fn main() {
    // The fallback still implements `Channel`: this line adds no error.
    let _ = websock::channels::socket(websock::channels::AnonymousSocket).channel::<Room>();
}
