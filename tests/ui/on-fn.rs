use websock::websock_handler;

#[websock_handler]
fn on_text(text: &str) -> String {
    text.to_owned()
}

fn main() {
    let _ = on_text("x");
}
