use std::rc::Rc;
use websock::{Context, websock_handler};

struct Chat {
    history: Rc<Vec<String>>,
}

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat {
            history: Rc::new(Vec::new()),
        }
    }

    #[on_text("count")]
    fn count(&mut self) -> String {
        self.history.len().to_string()
    }

    #[on_text]
    fn other(&mut self, text: &str) -> String {
        text.to_owned()
    }
}

fn main() {}
