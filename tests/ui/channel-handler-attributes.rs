use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket};

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Self {
        Room
    }

    #[on_text("ping")]
    fn ping(&mut self) -> ChannelReply {
        ChannelReply::none()
    }

    #[on_terminate]
    fn bye(&mut self) {}

    #[on_close]
    fn closed(&mut self) {}
}

fn main() {}
