//! # websock
//!
//! WebSocket servers in Rust, written as plainly as Elixir's WebSock: annotate an `impl` block,
//! one method per message pattern, and the compiler checks the rest.
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use websock::{Context, Path, Router, State, websock_handler, websocket};
//!
//! struct ConnectionTimer {
//!     path: String,
//!     start: Instant,
//! }
//!
//! struct Alert(Duration);
//!
//! #[websock_handler]
//! impl ConnectionTimer {
//!     // Extractors: the route's `{name}` and the router's state.
//!     fn init(Path(name): Path<String>, State(alert_every): State<Duration>, ctx: &mut Context<Self>) -> Self {
//!         ctx.send_after(alert_every, Alert(alert_every));
//!         let path = format!("/ws/connection_timer/{name}");
//!         ConnectionTimer { path, start: Instant::now() }
//!     }
//!
//!     #[on_text("request_timer")]
//!     fn request_timer(&mut self) -> String {
//!         format!("Connected to {} for {}s.", self.path, self.start.elapsed().as_secs())
//!     }
//!
//!     #[on_info]
//!     fn alert(&mut self, Alert(every): Alert, ctx: &mut Context<Self>) -> String {
//!         ctx.send_after(every, Alert(every));
//!         format!("Alert for {} after {}s.", self.path, self.start.elapsed().as_secs())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let router = Router::with_state(Duration::from_secs(15))
//!         .route("/ws/connection_timer/{name}", websocket::<ConnectionTimer>());
//!     // `WEBSOCK_ADDR` (default 127.0.0.1:4000), logs, `listening on <addr>`, until Ctrl-C.
//!     websock::run(router).await
//! }
//! ```
//!
//! `init` takes extractors, as axum's handlers do: [`Path<T>`](Path) (typed path parameters),
//! [`Query<T>`](Query), [`State<S>`](State) (the state given to [`Router::with_state`]),
//! [`HeaderMap`], [`PeerAddr`], [`RequestInfo`], or your own [`FromRequest`]; one that fails
//! refuses the upgrade with 400 and the reason.
//!
//! Replies are what a method returns: `()`, text (`String`, `&str`), bytes (`Vec<u8>`,
//! `Bytes`), JSON ([`Json<T>`](Json), `serde_json::Value`), a [`Reply`], or an `Option` /
//! `Result` of those.
//!
//! # Logging
//!
//! The library logs through [`tracing`](https://docs.rs/tracing): refused upgrades, error
//! replies, panics, timeouts, dropped frames and infos. [`run`] installs a subscriber that
//! prints to stderr and honours `RUST_LOG` (default `info`; `RUST_LOG=websock=debug` shows
//! every connection); with [`serve`] or [`Server`], install your own
//! (`tracing_subscriber::fmt().init()`).
//!
//! The runtime ([`Handler`], [`Context`], [`Router`], [`upgrade`], [`Server`]) is documented in
//! [`websock_runtime`]; the attribute in [`websock_handler`].

mod run;

// Every Rust block of `README.md`, compiled (and run unless `no_run`) by
// `cargo test -p websock --doc`, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use run::{run, run_server};
pub use websock_macros::{channel, websock_handler};
pub use websock_runtime::*;

/// Phoenix-compatible channels: the `phoenix` JavaScript client talks to these unchanged (see
/// the [`websock_channels`] crate docs).
pub use websock_channels as channels;

/// Channels across nodes: the Redis [`Adapter`](websock_channels::Adapter) (see the
/// `websock_redis` crate docs). With the `redis` feature.
#[cfg(feature = "redis")]
pub use websock_redis as redis;

/// What `#[websock_handler]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use websock_runtime::__private::*;
    pub use websock_runtime::{
        Bytes, Close, Context, Control, FromCapture, FromJson, Handler, IntoReply, Message, OnInfo,
        PeerClose, Reply, TerminateReason, Utf8Bytes,
    };

    /// What `#[channel]` expands to refers to.
    pub mod channels {
        pub use websock_channels::__private::*;
    }
}
