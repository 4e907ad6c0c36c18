use websock::{Context, websock_handler};

struct Chat;

#[websock_handler(Chat)]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }
}

fn main() {}
