use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(&mut self, _ctx: &mut Context<Self>) -> Self {
        Chat
    }
}

fn main() {}
