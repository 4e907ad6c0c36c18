use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(socket: &ChannelSocket) -> Self {
        let _ = socket;
        Room
    }

    #[on_event("ping")]
    fn ping(&mut self, socket: &ChannelSocket) -> ChannelReply {
        let _ = socket;
        ChannelReply::none()
    }

    #[on_leave]
    fn leave(&mut self, socket: ChannelSocket) {
        let _ = socket;
    }
}

fn main() {}
