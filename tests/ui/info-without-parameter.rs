use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_info]
    fn alert(&mut self, _ctx: &mut Context<Self>) {}
}

fn main() {}
