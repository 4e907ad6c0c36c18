use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text]
    fn first(&mut self, _text: &str) {}

    #[on_text]
    fn second(&mut self, _text: String) {}
}

fn main() {}
