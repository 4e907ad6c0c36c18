//! One call to serve a router the way examples and prototypes want it.

use std::{io, io::IsTerminal};
use tracing_subscriber::EnvFilter;
use websock_runtime::{Router, Server, shutdown_signal};

/// The address `run` listens on when `WEBSOCK_ADDR` is not set.
const DEFAULT_ADDR: &str = "127.0.0.1:4000";

/// Serves `router` with the default [`Server`] options, the way examples and prototypes want
/// it; see [`run_server`].
///
/// ```no_run
/// use websock::{Router, websocket};
/// # struct Echo;
/// # #[websock::websock_handler]
/// # impl Echo {
/// #     fn init() -> Self { Echo }
/// # }
///
/// #[tokio::main]
/// async fn main() -> std::io::Result<()> {
///     websock::run(Router::new().route("/ws/echo", websocket::<Echo>())).await
/// }
/// ```
pub async fn run<S: Send + Sync + 'static>(router: Router<S>) -> io::Result<()> {
    run_server(Server::new(router)).await
}

/// Serves `server` the way examples and prototypes want it:
///
/// - listens on `WEBSOCK_ADDR` (default `127.0.0.1:4000`; `127.0.0.1:0` picks a free port);
/// - installs a `tracing` subscriber that prints to stderr and honours `RUST_LOG` (default
///   `info`; `RUST_LOG=websock=debug` shows every connection). An application that installed
///   its own subscriber keeps it;
/// - prints `listening on <addr>` (the bound address) as the first line on stdout;
/// - serves until Ctrl-C or SIGTERM, then shuts down gracefully as
///   [`Server::serve_with_shutdown`] does.
///
/// A production server usually wants its own listener (TLS, several addresses) and its own
/// subscriber: use [`Server::serve_with_shutdown`] directly then.
pub async fn run_server(server: Server) -> io::Result<()> {
    init_tracing();
    let addr = std::env::var("WEBSOCK_ADDR")
        .ok()
        .filter(|addr| !addr.is_empty())
        .unwrap_or_else(|| DEFAULT_ADDR.to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|error| io::Error::new(error.kind(), format!("bind {addr}: {error}")))?;
    println!("listening on {}", listener.local_addr()?);
    server
        .serve_with_shutdown(listener, shutdown_signal())
        .await?;
    Ok(())
}

/// Installs the fmt subscriber unless one is installed already (a second `run`, or the
/// application's own): `try_init`, so that is not an error.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // stderr: stdout's first line is the `listening on` that scripts read.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}
