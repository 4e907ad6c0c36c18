//! The connection timer: one WebSocket endpoint that tells a client how long it has been
//! connected, and reminds it every few seconds.
//!
//! ```text
//! cargo run --example connection_timer
//! # another terminal (any WebSocket client, e.g. websocat):
//! websocat ws://127.0.0.1:4000/ws/connection_timer/alice
//! request_timer
//! ```
//!
//! | event | the server does |
//! | --- | --- |
//! | text `request_timer` | pushes `Connected to /ws/connection_timer/<name> for <N>s.` |
//! | every `ALERT_SECS` seconds | pushes `Alert for /ws/connection_timer/<name> after <N>s.` |
//! | any other text or binary | ignores it |
//!
//! Environment: `WEBSOCK_ADDR` (default `127.0.0.1:4000`) is the listen address, `ALERT_SECS`
//! (default 15) the alert interval. Ctrl-C or SIGTERM stops the server gracefully.

use std::time::{Duration, Instant};
use websock::{Context, Path, Router, State, websock_handler, websocket};

/// One connection's state: where it is and since when.
pub struct ConnectionTimer {
    path: String,
    start: Instant,
}

/// The info message the connection sends itself every alert interval, which it carries.
pub struct Alert(Duration);

#[websock_handler]
impl ConnectionTimer {
    /// The route's `{name}` (the article's `conn.path_params`) and the router's alert interval.
    fn init(
        Path(name): Path<String>,
        State(alert_every): State<Duration>,
        ctx: &mut Context<Self>,
    ) -> Self {
        ctx.send_after(alert_every, Alert(alert_every));
        let path = format!("/ws/connection_timer/{name}");
        let start = Instant::now();
        ConnectionTimer { path, start }
    }

    #[on_text("request_timer")]
    fn request_timer(&mut self) -> String {
        format!("Connected to {} for {}s.", self.path, self.elapsed())
    }

    #[on_info]
    fn alert(&mut self, Alert(every): Alert, ctx: &mut Context<Self>) -> String {
        ctx.send_after(every, Alert(every));
        format!("Alert for {} after {}s.", self.path, self.elapsed())
    }

    fn elapsed(&self) -> u64 {
        self.start.elapsed().as_secs()
    }
}

/// The example's routes, with an alert every `alert_every` (the router's state).
pub fn router(alert_every: Duration) -> Router<Duration> {
    let route = websocket::<ConnectionTimer>();
    Router::with_state(alert_every).route("/ws/connection_timer/{name}", route)
}

#[allow(dead_code)] // unused when the tests include this file as a module
#[tokio::main]
async fn main() -> std::io::Result<()> {
    // `ALERT_SECS` seconds, 15 when unset or not a number.
    let secs = std::env::var("ALERT_SECS").map_or(15, |secs| secs.trim().parse().unwrap_or(15));
    websock::run(router(Duration::from_secs(secs))).await
}
