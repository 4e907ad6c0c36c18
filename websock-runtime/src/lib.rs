//! The runtime behind [websock](https://docs.rs/websock): Elixir's WebSock behaviour and
//! WebSockAdapter on hyper 1 and tokio, with its own RFC 6455 framing (tungstenite supplies the
//! handshake's accept key and the UTF-8 text type): an idle connection holds no read buffer.
//!
//! ```no_run
//! use websock_runtime::{Close, Context, Handler, Message, Reply, Router, serve, websocket};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type Init = ();
//!     type Info = std::convert::Infallible;
//!
//!     async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, Close> {
//!         Ok(Echo)
//!     }
//!
//!     async fn handle_in(&mut self, message: Message, _ctx: &mut Context<Self>) -> Reply {
//!         Reply::push(message)
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! serve(listener, Router::new().route("/ws/echo", websocket::<Echo>())).await?;
//! # Ok(()) }
//! ```
//!
//! Each connection runs in its own task, which owns the handler: callbacks take `&mut self`
//! and need no locks. Other tasks reach a connection through its [`Handle`]; timers come from
//! [`Context::send_after`]. A panicking or stuck callback ends only its own connection (1011).
//!
//! Most users depend on the `websock` crate, which re-exports this one with the
//! `#[websock_handler]` attribute.

mod callback;
mod clock;
mod close;
mod config;
mod connection;
mod context;
mod count;
mod deflate;
mod dispatch;
mod drain;
mod extended_connect;
mod extract;
mod handle;
mod handler;
mod handshake;
mod http_connection;
mod json;
mod json_error;
mod lane;
mod message;
mod on_info;
mod origin;
mod parse;
mod percent;
mod post;
mod rate_limit;
mod refuse;
mod reply;
mod request;
mod router;
mod server;
mod server_handle;
mod service;
mod shared_frame;
mod shutdown_wakers;
mod sniff;
mod socket;
mod stream;
mod timer;
mod tls;
mod upgrade;
mod wire;

pub use bytes::Bytes;
pub use close::{Close, CloseCode, InvalidCloseCode, PeerClose};
pub use config::Config;
pub use context::Context;
// The traits `#[websock_handler]` converts parameters and return values through: public (and
// not hidden) so that rustc names them plainly (`TextArg`) in errors.
pub use deflate::Deflate;
pub use dispatch::{BinaryArg, CloseArg, IntoInit, Terminated, TextArg};
pub use drain::Drain;
pub use extract::{FromRequest, Path, Query, State};
pub use handle::{Handle, SendError, Stats};
pub use handler::{Error, ErrorKind, Handler, TerminateReason, Timeout};
pub use handshake::{HandshakeError, validate_upgrade};
/// The `http` crate the runtime's request and response types come from.
pub use http;
/// The request headers, as an extractor `init` can take.
pub use http::HeaderMap;
pub use json::Json;
pub use json_error::{JsonError, JsonErrorArg};
pub use message::{Control, ControlFrameTooLong, ControlPayload, Frame, Message, Utf8Bytes};
pub use on_info::OnInfo;
pub use origin::CheckOrigin;
pub use parse::{FromCapture, FromJson};
pub use post::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, Post, post};
pub use rate_limit::{
    InMemoryStore, RateLimitStore, RateLimited, RateLimiter, StoreError, StoreFuture,
};
pub use refuse::Refuse;
pub use reply::{IntoReply, Reply};
pub use request::{PathParams, PeerAddr, RequestInfo};
pub use router::{CheckInit, Endpoint, ExtractInit, Router, StateInit, WebSocketRoute, websocket};
pub use server::{Listener, Server, serve, shutdown_signal};
pub use server_handle::{DEFAULT_MAX_CONNECTIONS, Metrics, ServerHandle};
pub use service::RouterService;
pub use shared_frame::SharedFrame;
pub use timer::Timer;
pub use tls::tls_config_from_pem;
/// The rustls crate [`Server::tls`] takes a configuration of.
pub use tokio_rustls::rustls;
pub use upgrade::{Body, upgrade};

/// What `#[websock_handler]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::callback::catch_panic;
    pub use crate::dispatch::*;
    pub use crate::json_error::{
        JsonErrorArg, invalid_json, json_error_tagged, json_error_untagged,
    };
    pub use crate::rate_limit::{default_rate_key, over_rate_limit};
    pub use crate::stream::{NoSlot, RequestBody, run_on_stream};
    pub use serde_json;
}
