//! A websock handler mounted in an axum `Router`, beside ordinary HTTP routes: axum routes and
//! extracts, `websock::upgrade` upgrades (as `WebSockAdapter.upgrade/4` does in Plug).
//!
//! ```sh
//! cargo run --example axum_mount      # http://127.0.0.1:4000/health, ws://127.0.0.1:4000/ws/greet/{name}
//! ```

use axum::{Extension, extract::Path, extract::Request, response::IntoResponse, routing::get};
use std::time::Duration;
use websock::{Config, ServerHandle, websock_handler};

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

/// The axum app: `/health` is plain HTTP, `/ws/greet/{name}` a WebSocket. The `ServerHandle`
/// extension gives the WebSocket connections graceful shutdown and the connection limit.
pub(crate) fn app(handle: ServerHandle) -> axum::Router {
    axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/ws/greet/{name}", get(greet))
        .layer(Extension(handle))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
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
