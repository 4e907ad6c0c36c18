use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("ping")]
    fn first(&mut self) -> &'static str {
        "pong"
    }

    #[on_text("ping")]
    fn second(&mut self) -> &'static str {
        "pong again"
    }
}

fn main() {}
