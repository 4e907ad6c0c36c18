use websock::websock_handler;

struct Ticker;

struct Tick;

#[websock_handler]
impl Ticker {
    fn init() -> Self {
        Ticker
    }

    #[on_info]
    #[rate_limit(10, per = std::time::Duration::from_secs(1))]
    fn tick(&mut self, _: Tick) {}

    #[rate_limit(10, per = std::time::Duration::from_secs(1))]
    fn helper(&self) {}

    #[on_text("ping")]
    #[rate_limit(10, per = std::time::Duration::from_secs(1))]
    #[rate_limit(20, per = std::time::Duration::from_secs(1))]
    fn ping(&mut self) -> &'static str {
        "pong"
    }
}

fn main() {}
