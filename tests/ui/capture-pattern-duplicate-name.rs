use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text("swap {a} {a}")]
    fn swap(&mut self, a: u32) -> String {
        a.to_string()
    }
}

fn main() {}
