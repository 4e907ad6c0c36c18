use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) {}
}

fn main() {}
