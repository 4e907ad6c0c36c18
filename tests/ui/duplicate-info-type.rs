use websock::{Context, websock_handler};

struct Chat;

struct Alert;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_info]
    fn alert(&mut self, _: Alert) {}

    #[on_info]
    fn alert_again(&mut self, _: Alert) {}
}

fn main() {}
