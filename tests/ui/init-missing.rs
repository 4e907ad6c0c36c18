use websock::websock_handler;

struct Chat;

#[websock_handler]
impl Chat {
    fn new() -> Self {
        Chat
    }

    #[on_text("ping")]
    fn ping(&mut self) -> &'static str {
        "pong"
    }
}

fn main() {}
