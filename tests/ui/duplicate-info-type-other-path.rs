use websock::{Context, websock_handler};

struct Chat;

mod events {
    pub struct Alert;
}

use events::Alert;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_info]
    fn alert(&mut self, _: Alert) {}

    #[on_info]
    fn alert_again(&mut self, _: events::Alert) {}
}

fn main() {}
