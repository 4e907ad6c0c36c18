use websock::{Context, TerminateReason, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_terminate]
    fn bye(&mut self, _reason: TerminateReason) -> String {
        "bye".to_owned()
    }
}

fn main() {}
