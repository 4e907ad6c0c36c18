use websock::channels::ChannelSocket;
use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("ping")]
    fn ping(&mut self, socket: &mut ChannelSocket) -> &'static str {
        let _ = socket;
        "pong"
    }
}

fn main() {}
