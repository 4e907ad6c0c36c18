//! Echo: every text message comes back as text, every binary message as binary.
//!
//! ```text
//! cargo run --example echo
//! # another terminal (any WebSocket client, e.g. websocat):
//! websocat ws://127.0.0.1:4000/ws/echo
//! ```
//!
//! `/ws/echo/deflate` is the same echo with permessage-deflate (RFC 7692) on at its default
//! parameters ([`websock::Deflate`]): a client that offers it gets it.
//!
//! `WEBSOCK_ADDR` (default `127.0.0.1:4000`) is the listen address. The limits are the
//! defaults of [`websock::Config`]: frames up to 16 MiB, messages up to 64 MiB; server pings
//! are off, for Autobahn. Ctrl-C or SIGTERM stops the server gracefully. The real-client and
//! Autobahn scripts drive this example.

use websock::{Bytes, Config, Context, Deflate, Router, Utf8Bytes, websock_handler, websocket};

/// Stateless: one per connection all the same.
struct Echo;

#[websock_handler]
impl Echo {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Echo
    }

    /// `Utf8Bytes` and `Bytes` are reference-counted: echoing copies nothing.
    #[on_text]
    fn text(&mut self, text: Utf8Bytes) -> Utf8Bytes {
        text
    }

    #[on_binary]
    fn binary(&mut self, data: Bytes) -> Bytes {
        data
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // No server pings: Autobahn runs against this route, and an unsolicited ping inside a
    // case fails it.
    let config = Config::default().ping_interval(None);
    let deflate = config.clone().deflate(Deflate::default());
    let router = Router::new()
        .route("/ws/echo", websocket::<Echo>().config(config))
        .route("/ws/echo/deflate", websocket::<Echo>().config(deflate));
    websock::run(router).await
}
