use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_join]
    fn join(&mut self) {}

    #[on_event("new_msg")]
    fn new_msg(&mut self) {}

    #[on_leave]
    fn leave(&mut self) {}
}

fn main() {}
