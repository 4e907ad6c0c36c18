use websock::{Context, websock_handler};

struct Chat;

struct Alert;
struct Level(u8);

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_info]
    fn alert(&mut self, _alert: Alert, _level: Level) {}
}

fn main() {}
