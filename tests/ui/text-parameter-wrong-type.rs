use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text]
    fn other(&mut self, text: u32) -> String {
        text.to_string()
    }
}

fn main() {}
