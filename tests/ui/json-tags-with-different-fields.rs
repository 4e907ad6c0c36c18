use serde::Deserialize;
use websock::{Context, websock_handler};

struct Chat;

#[derive(Deserialize)]
struct Join {}

#[derive(Deserialize)]
struct Leave {}

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_json(type = "join")]
    fn join(&mut self, _join: Join) {}

    #[on_json(kind = "leave")]
    fn leave(&mut self, _leave: Leave) {}
}

fn main() {}
