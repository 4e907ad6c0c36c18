use websock::{Router, State, websock_handler, websocket};

#[derive(Clone)]
struct App;

#[derive(Clone)]
struct Other;

struct Chat;

#[websock_handler]
impl Chat {
    fn init(State(_other): State<Other>) -> Self {
        Chat
    }
}

fn main() {
    let _router = Router::with_state(App).route("/ws/chat", websocket::<Chat>());
}
