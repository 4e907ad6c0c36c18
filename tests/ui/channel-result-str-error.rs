use websock::channel;
use websock::channels::ChannelSocket;

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Self {
        Room
    }

    #[on_event("delete")]
    fn delete(&mut self) -> Result<(), &str> {
        Err("not allowed")
    }
}

fn main() {}
