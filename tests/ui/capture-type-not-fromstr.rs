use websock::{Context, websock_handler};

struct Chat;

struct RoomId(u32);

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("join {room}")]
    fn join(&mut self, room: RoomId) -> String {
        format!("joined {}", room.0)
    }
}

fn main() {}
