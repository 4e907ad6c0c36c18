use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("ping")]
    fn ping(&self) -> &'static str {
        "pong"
    }
}

fn main() {}
