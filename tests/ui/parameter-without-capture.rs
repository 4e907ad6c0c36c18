use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("join {room}")]
    fn join(&mut self, room: u32, nick: String) -> String {
        format!("{nick} joined {room}")
    }
}

fn main() {}
