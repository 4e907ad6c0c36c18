use serde::Deserialize;
use websock::{Context, JsonError, websock_handler};

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

    #[on_json_error]
    fn invalid(&mut self, error: JsonError) -> String {
        error.to_string()
    }

    #[on_json_error]
    fn invalid_again(&mut self, _error: JsonError) {}
}

fn main() {}
