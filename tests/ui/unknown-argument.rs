use websock::{Context, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Chat
    }

    #[on_binary(prefx = b"\x01")]
    fn tagged(&mut self, _data: &[u8]) {}

    #[on_text(pattern = "ping")]
    fn ping(&mut self) {}

    #[on_info(Alert)]
    fn alert(&mut self, _: u32) {}
}

fn main() {}
