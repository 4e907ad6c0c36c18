use websock::{Context, websock_handler};

struct Chat;

struct Alert;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_info]
    fn alert(&mut self, _alert: Alert, ctx: &Context<Self>) {
        let _ = ctx;
    }

    #[on_text("ping")]
    fn ping(&mut self, ctx: Context<Self>) -> &'static str {
        let _ = ctx;
        "pong"
    }
}

fn main() {}
