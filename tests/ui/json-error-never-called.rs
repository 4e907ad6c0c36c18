use serde::Deserialize;
use websock::{Context, JsonError, websock_handler};

struct Chat;

#[derive(Deserialize)]
struct Command {
    cmd: String,
}

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_json]
    fn command(&mut self, command: Command) -> String {
        command.cmd
    }

    #[on_text]
    fn other(&mut self, text: &str) -> String {
        format!("unknown: {text}")
    }

    #[on_json_error]
    fn invalid(&mut self, error: JsonError) -> String {
        error.to_string()
    }
}

fn main() {}
