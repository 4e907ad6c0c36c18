use serde::Deserialize;
use websock::{Context, websock_handler};

struct Chat;

#[derive(Deserialize)]
struct NewMessage {
    body: String,
}

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_json(type = "new_message")]
    fn new_message(&mut self, message: NewMessage) -> String {
        message.body
    }

    // No parameter for the error, a shared receiver, and an argument: three errors at once.
    #[on_json_error]
    fn invalid(&self, _ctx: &mut Context<Self>) {}

    #[on_json_error(reply = "text")]
    fn also_invalid(&mut self) {}
}

fn main() {}
