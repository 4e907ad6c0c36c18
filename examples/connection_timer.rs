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
use websock::{Context, PathParams, Router, WebSocketRoute, websock_handler};

/// One connection's state: where it is and since when.
pub struct ConnectionTimer {
    path: String,
    start: Instant,
    alert_every: Duration,
}

/// What the route passes to `init`: the path parameters (the article's
/// `%{path_params: conn.path_params}`) and the alert interval.
pub struct Opened {
    params: PathParams,
    alert_every: Duration,
}

/// The info message the connection sends itself every alert interval.
pub struct Alert;

#[websock_handler]
impl ConnectionTimer {
    fn init(opened: Opened, ctx: &mut Context<Self>) -> Self {
        ctx.send_after(opened.alert_every, Alert);
        let name = opened.params.get("name").unwrap_or_default();
        ConnectionTimer {
            path: format!("/ws/connection_timer/{name}"),
            start: Instant::now(),
            alert_every: opened.alert_every,
        }
    }

    #[on_text("request_timer")]
    fn request_timer(&mut self) -> String {
        format!("Connected to {} for {}s.", self.path, self.elapsed())
    }

    #[on_info]
    fn alert(&mut self, _: Alert, ctx: &mut Context<Self>) -> String {
        ctx.send_after(self.alert_every, Alert);
        format!("Alert for {} after {}s.", self.path, self.elapsed())
    }

    fn elapsed(&self) -> u64 {
        self.start.elapsed().as_secs()
    }
}

/// The example's routes, with an alert every `alert_every`.
pub fn router(alert_every: Duration) -> Router {
    let route = WebSocketRoute::<ConnectionTimer>::with_init(move |request| {
        let opened = Opened {
            params: request.params().clone(),
            alert_every,
        };
        async move { Ok(opened) }
    });
    Router::new().route("/ws/connection_timer/{name}", route)
}

/// `ALERT_SECS` seconds, 15 when unset or not a number.
fn alert_interval() -> Duration {
    let secs = std::env::var("ALERT_SECS")
        .ok()
        .and_then(|secs| secs.trim().parse().ok())
        .unwrap_or(15);
    Duration::from_secs(secs)
}

#[allow(dead_code)] // unused when the tests include this file as a module
#[tokio::main]
async fn main() -> std::io::Result<()> {
    websock::run(router(alert_interval())).await
}
