use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket};
use websock::Context;

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Self {
        Room
    }

    #[on_event("ping")]
    fn ping(&mut self, ctx: &mut Context<Self>) -> ChannelReply {
        let _ = ctx;
        ChannelReply::none()
    }
}

fn main() {}
