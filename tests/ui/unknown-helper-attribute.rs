use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_txt("ping")]
    fn ping(&mut self) -> &'static str {
        "pong"
    }
}

fn main() {}
