use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_text]
    fn other<T: AsRef<str>>(&mut self, text: T) -> String {
        text.as_ref().to_owned()
    }
}

fn main() {}
