//! websock mounted in an axum `Router`, beside ordinary HTTP routes, three ways:
//!
//! - an axum handler that calls `websock::upgrade` (as `WebSockAdapter.upgrade/4` in Plug):
//!   `/ws/greet/{name}`;
//! - a Phoenix `SocketRoute` as a tower service (`route_service`): `/socket/websocket`;
//! - a websock `Router` as a tower service (`nest_service`): `/rt/greet/{name}`.
//!
//! ```sh
//! cargo run --example axum_mount      # http://127.0.0.1:4000/health, ws://127.0.0.1:4000/ws/greet/{name}
//! ```

use axum::{Extension, extract::Path, extract::Request, response::IntoResponse, routing::get};
use std::time::Duration;
use websock::{
    Config, PathParams, ServerHandle, channel,
    channels::{AnonymousSocket, ChannelSocket, JoinError, SocketRoute, socket},
    websock_handler,
};

/// Greets every text message with the name from the path.
pub(crate) struct Greeter {
    name: String,
}

#[websock_handler]
impl Greeter {
    fn init(name: String) -> Self {
        Greeter { name }
    }

    #[on_text]
    fn greet(&mut self, text: &str) -> String {
        format!("{text}, {}!", self.name)
    }
}

async fn greet(Path(name): Path<String>, request: Request) -> impl IntoResponse {
    websock::upgrade::<Greeter, _>(request, name, &Config::default())
}

/// The same greeter behind websock's own router, which reads the name from its path.
pub(crate) struct PathGreeter(Greeter);

#[websock_handler]
impl PathGreeter {
    fn init(params: PathParams) -> Self {
        let name = params.get("name").unwrap_or("stranger").to_owned();
        PathGreeter(Greeter { name })
    }

    #[on_text]
    fn greet(&mut self, text: &str) -> String {
        self.0.greet(text)
    }
}

/// A Phoenix channel: `ping` replies `{"pong": <the payload>}`.
pub(crate) struct Lobby;

#[channel("lobby")]
impl Lobby {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        Ok(Lobby)
    }

    #[on_event("ping")]
    fn ping(&mut self, payload: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "pong": payload })
    }
}

/// The Phoenix socket endpoint mounted with `route_service`.
pub(crate) fn socket_route() -> SocketRoute<AnonymousSocket> {
    socket(AnonymousSocket).channel::<Lobby>()
}

/// The axum app: `/health` is plain HTTP; `/ws/greet/{name}` upgrades in an axum handler;
/// `/socket/websocket` is a Phoenix socket and `/rt/...` a websock `Router`, both mounted as
/// tower services. The `ServerHandle` extension gives every WebSocket connection graceful
/// shutdown (channel sockets drain), and the connection limit.
pub(crate) fn app(handle: ServerHandle) -> axum::Router {
    let router = websock::Router::new().route("/greet/{name}", websock::websocket::<PathGreeter>());
    axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ws/greet/{name}", get(greet))
        .route_service("/socket/websocket", socket_route())
        .nest_service("/rt", router.into_service())
        .layer(Extension(handle))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // axum serves this app, so `websock::run` does not apply; the same logging by hand:
    // websock logs through `tracing` (refusals, errors), shown with `RUST_LOG=websock=debug`.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::var("WEBSOCK_ADDR").unwrap_or_else(|_| "127.0.0.1:4000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let handle = ServerHandle::new();
    let websockets = handle.clone();
    axum::serve(listener, app(handle))
        .with_graceful_shutdown(async move {
            websock::shutdown_signal().await;
            websockets.shutdown_and_wait(Duration::from_secs(10)).await;
        })
        .await
}
