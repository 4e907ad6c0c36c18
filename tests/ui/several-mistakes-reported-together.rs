use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("a")]
    fn a(&self) {}

    #[on_text("join {room}")]
    fn join(&mut self) {}

    #[on_pingg]
    fn ping(&mut self) {}
}

fn main() {}
