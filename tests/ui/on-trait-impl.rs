use websock::{Close, Context, Handler, Message, Reply, websock_handler};

struct Chat;

#[websock_handler]
impl Handler for Chat {
    type Init = ();
    type Info = std::convert::Infallible;

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Chat)
    }

    async fn handle_in(&mut self, _: Message, _ctx: &mut Context<Self>) -> Reply {
        Reply::ok()
    }
}

fn main() {}
