use websock::{Context, PathParams, RequestInfo, websock_handler};

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_params: PathParams, _request: RequestInfo, _ctx: &mut Context<Self>) -> Self {
        Chat
    }
}

fn main() {}
