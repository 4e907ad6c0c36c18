//! One call to serve a router the way examples and prototypes want it.

use std::{io, io::IsTerminal};
use tracing_subscriber::EnvFilter;
use websock_runtime::{Router, Server, rustls, shutdown_signal, tls_config_from_pem};

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
/// - serves TLS when `WEBSOCK_TLS_CERT` and `WEBSOCK_TLS_KEY` name PEM files (the certificate
///   chain and its private key; see [`tls_config_from_pem`]), on the same address: HTTP/2 and
///   HTTP/1.1 by ALPN, so browsers open WebSockets over HTTP/2 (RFC 8441). Without them it
///   serves plain HTTP/1.1 and HTTP/2 (h2c);
/// - prints `listening on <addr>` (the bound address) as the first line on stdout;
/// - serves until Ctrl-C or SIGTERM, then shuts down gracefully as
///   [`Server::serve_with_shutdown`] does.
///
/// A production server usually wants its own listener (several addresses) and its own
/// subscriber: use [`Server::serve_with_shutdown`] directly then.
pub async fn run_server(server: Server) -> io::Result<()> {
    init_tracing();
    let server = match tls_from_env()? {
        Some(config) => server.tls(config),
        None => server,
    };
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

/// The TLS configuration `WEBSOCK_TLS_CERT` and `WEBSOCK_TLS_KEY` name; an error when only
/// one is set, as serving plain text when TLS was meant would be a surprise.
fn tls_from_env() -> io::Result<Option<rustls::ServerConfig>> {
    let var = |name| std::env::var(name).ok().filter(|value| !value.is_empty());
    match (var("WEBSOCK_TLS_CERT"), var("WEBSOCK_TLS_KEY")) {
        (Some(cert), Some(key)) => tls_config_from_pem(cert, key).map(Some),
        (None, None) => Ok(None),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "set both WEBSOCK_TLS_CERT and WEBSOCK_TLS_KEY (PEM files), or neither",
        )),
    }
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
