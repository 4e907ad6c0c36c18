use std::time::Duration;
use websock::channel;
use websock::channels::{ChannelSocket, PubSub};

#[derive(Clone, serde::Serialize)]
struct GameUpdate;

#[derive(Clone, serde::Serialize)]
struct Foo;

struct GameChannel;

#[channel("game:*")]
impl GameChannel {
    #[on_join]
    fn join() -> Self {
        GameChannel
    }

    #[on_event("go")]
    fn go(&mut self, socket: &mut ChannelSocket) {
        socket.send_after(Duration::from_secs(1), Foo);
    }

    #[on_info]
    fn update(&mut self, update: GameUpdate, socket: &mut ChannelSocket) {
        let _ = (update, socket);
    }
}

fn main() {
    let _ = (Duration::ZERO, PubSub::local);
}
