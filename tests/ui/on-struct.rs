use websock::websock_handler;

#[websock_handler]
struct Chat {
    room: String,
}

fn main() {
    let _ = Chat {
        room: String::new(),
    }
    .room;
}
