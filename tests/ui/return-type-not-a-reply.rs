use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("count")]
    fn count(&mut self) -> i32 {
        42
    }
}

fn main() {}
