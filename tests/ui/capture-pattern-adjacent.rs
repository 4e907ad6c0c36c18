use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("move {from}{to}")]
    fn mv(&mut self, from: u32, to: u32) -> String {
        format!("{from} {to}")
    }
}

fn main() {}
