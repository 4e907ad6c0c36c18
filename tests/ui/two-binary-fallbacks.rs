use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_binary]
    fn first(&mut self, _data: &[u8]) {}

    #[on_binary]
    fn second(&mut self) {}
}

fn main() {}
