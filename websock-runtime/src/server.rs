//! Serving a [`Router`] over any listener: HTTP/1.1 with keep-alive and upgrades and HTTP/2
//! with RFC 8441's extended CONNECT on the same port, TLS, a connection limit, accept-error
//! backoff and graceful shutdown.

use crate::{CloseCode, Drain, Metrics, PeerAddr, Router, ServerHandle, http_connection};
use hyper::{body::Incoming, service::service_fn};
use std::{
    convert::Infallible, future::Future, io, net::SocketAddr, pin::pin, sync::Arc, time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::rustls;

/// A source of accepted connections: a TCP listener, or your own (a Unix socket, TLS).
pub trait Listener: Send + 'static {
    /// The accepted stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Accepts the next connection. Must be cancel-safe, as `TcpListener::accept` is.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;

    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Listener for TcpListener {
    type Io = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Small frames should not wait for Nagle's algorithm; writes are coalesced already.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        TcpListener::local_addr(self)
    }
}

/// A server: a [`Router`] plus server-wide options.
///
/// ```no_run
/// # use websock_runtime::{Router, Server};
/// # async fn f(router: Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
/// Server::new(router)
///     .max_connections(10_000)
///     .serve_with_shutdown(listener, websock_runtime::shutdown_signal())
///     .await?;
/// # Ok(()) }
/// ```
///
/// Every connection may speak HTTP/1.1 or HTTP/2 (with prior knowledge, or chosen by ALPN over
/// TLS): a WebSocket opens with an HTTP/1.1 upgrade or with an HTTP/2 extended CONNECT
/// (RFC 8441), at the same routes, with the same handlers and checks. With [`tls`](Self::tls)
/// the server speaks TLS (rustls).
///
/// Cloning is cheap and shares the router and the handle: clone it into the task that
/// finishes a TLS handshake of your own, then call [`serve_connection`](Self::serve_connection).
#[derive(Clone)]
pub struct Server {
    router: Arc<Router>,
    handle: ServerHandle,
    header_read_timeout: Duration,
    shutdown_timeout: Duration,
    max_headers: usize,
    max_concurrent_streams: u32,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    /// A server for `router` with the defaults: 16,384 connections, 1012 on shutdown, 10 s to
    /// read request headers, 10 s for the graceful shutdown, 100 headers per request, 100
    /// streams per HTTP/2 connection, no TLS.
    pub fn new<S: Send + Sync + 'static>(router: Router<S>) -> Self {
        Self {
            router: Arc::new(router.into_stateless()),
            handle: ServerHandle::new(),
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_concurrent_streams: 100,
            tls: None,
        }
    }

    /// Serves TLS with `config` (see [`tls_config_from_pem`](crate::tls_config_from_pem)):
    /// HTTP/2 and HTTP/1.1 are offered by ALPN unless `config` names its own protocols. The
    /// handshake runs in the connection's task, under the header read timeout.
    pub fn tls(mut self, mut config: rustls::ServerConfig) -> Self {
        if config.alpn_protocols.is_empty() {
            config.alpn_protocols = crate::tls::ALPN.iter().map(|p| p.to_vec()).collect();
        }
        self.tls = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        self
    }

    /// The most streams a client may open at once on one HTTP/2 connection
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113 §6.5.2): 100 by default. Each WebSocket
    /// over HTTP/2 is a stream; each also takes a slot of [`max_connections`](Self::max_connections),
    /// which counts WebSockets, not TCP connections.
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = max;
        self
    }

    /// The most WebSocket connections open at once, over HTTP/1.1 and HTTP/2 together; beyond
    /// it upgrades get 503 and the open connections are untouched.
    pub fn max_connections(self, max: usize) -> Self {
        self.handle.set_max_connections(max);
        self
    }

    /// The most bytes of partly received messages (frames whose payload is still arriving and
    /// fragmented messages) held over all connections at once: 1 GiB by default, room for 16
    /// messages of the default `max_message_size` (64 MiB) arriving at once.
    ///
    /// `max_message_size` bounds what one client can make the server hold; this bounds what
    /// all of them hold together, so many clients that each send most of a large message and
    /// stall cannot exhaust memory. Past it, the connection whose message would take the total
    /// over is closed with 1009 (its message is too big for the server to hold now) and counted
    /// in [`Metrics::closed_over_inbound_buffer`]; the other connections are served as before.
    /// A connection's share counts once it holds more than one read buffer
    /// ([`Config::read_buffer_size`](crate::Config::read_buffer_size), 4 KiB) of them, so the
    /// small messages of ordinary traffic never touch the server-wide counter.
    pub fn max_inbound_buffer(self, bytes: usize) -> Self {
        self.handle.set_max_inbound_buffer(bytes);
        self
    }

    /// The close code sent on shutdown: 1012 (service restart) by default, or 1001.
    pub fn shutdown_code(self, code: CloseCode) -> Self {
        self.handle.set_shutdown_code(code);
        self
    }

    /// How long a graceful shutdown waits for connections to flush and close; the drain ends
    /// within three quarters of it.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self.handle.set_shutdown_timeout(timeout);
        self
    }

    /// How a graceful shutdown drains the connections of routes that drain (channel sockets,
    /// [`Config::drain`](crate::Config::drain)): by default in batches spread over 5 s with
    /// jitter, where Phoenix closes 10,000 at once every 2 s ([`Drain::phoenix`]).
    pub fn drain(self, drain: Drain) -> Self {
        self.handle.set_drain(drain);
        self
    }

    /// How long a client may take to send its request headers (against slowloris clients), and
    /// before them the TLS handshake and the first bytes that say which HTTP it speaks (the
    /// HTTP/2 preface): 10 s by default. A connection that misses it is closed and counted in
    /// [`Metrics::handshake_timeouts`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The most headers a request may have; more gets 431.
    pub fn max_headers(mut self, max: usize) -> Self {
        self.max_headers = max;
        self
    }

    /// A handle to trigger shutdown and read the counters.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves until [`ServerHandle::shutdown`] is called, then shuts down gracefully and
    /// returns the final counters.
    pub async fn serve<L: Listener>(self, listener: L) -> io::Result<Metrics> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves until `signal` completes (or [`ServerHandle::shutdown`] is called), then shuts
    /// down gracefully: stop accepting, close every connection with the shutdown code after its
    /// queued frames (connections of draining routes in batches, see [`Drain`]), wait up to
    /// the shutdown timeout.
    pub async fn serve_with_shutdown<L, F>(self, mut listener: L, signal: F) -> io::Result<Metrics>
    where
        L: Listener,
        F: Future<Output = ()> + Send,
    {
        let token = self.handle.shutdown_token().clone();
        let mut signal = pin!(signal);
        let mut backoff = Duration::ZERO;
        loop {
            let accepted = tokio::select! {
                biased;
                () = token.cancelled() => break,
                () = &mut signal => break,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((io, peer)) => {
                    backoff = Duration::ZERO;
                    self.handle
                        .tracker()
                        .spawn(self.serve_connection(io, Some(peer)));
                }
                Err(error) if is_per_connection(&error) => {
                    tracing::debug!(%error, "accept: connection failed before it was accepted");
                }
                Err(error) => {
                    // Out of file descriptors (EMFILE) and the like: retrying at once would
                    // spin, so back off up to a second and let connections close meanwhile.
                    backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                    tracing::error!(%error, ?backoff, "accept failed; backing off");
                    tokio::select! {
                        () = token.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        drop(listener);
        tracing::info!("shutting down");
        Ok(self.handle.shutdown_and_wait(self.shutdown_timeout).await)
    }

    /// Serves one already-accepted connection (after a TLS handshake of your own, say) until it
    /// ends or the server shuts down. Spawn it; it is tracked by the graceful shutdown. Its
    /// first bytes say whether it speaks HTTP/1.1 or HTTP/2; with [`tls`](Self::tls) set, the
    /// TLS handshake is done here first, so pass the plain stream then.
    pub fn serve_connection<Io>(
        &self,
        io: Io,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let router = self.router.clone();
        let handle = self.handle.clone();
        let options = http_connection::Options {
            header_read_timeout: self.header_read_timeout,
            max_headers: self.max_headers,
            max_concurrent_streams: self.max_concurrent_streams,
            tls: self.tls.clone(),
        };
        let tracker = handle.tracker().clone();
        let server = handle.clone();
        let service = service_fn(move |request: http::Request<Incoming>| {
            // Routed requests lose their body; a transport that reads one (LongPoll's POST)
            // takes it from here.
            let (mut parts, body) = request.into_parts();
            parts
                .extensions
                .insert(crate::stream::RequestBody::new(body));
            let mut request = http::Request::from_parts(parts, ());
            request.extensions_mut().insert(handle.clone());
            if let Some(peer) = peer {
                request.extensions_mut().insert(PeerAddr(peer));
            }
            let response = router.handle(request);
            async move { Ok::<_, Infallible>(response.await) }
        });
        let task = http_connection::serve(io, service, options, server);
        tracker.track_future(task)
    }
}

/// Errors that concern one connection only; the listener is fine.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `router` on `listener` with the default options until Ctrl-C or SIGTERM.
pub async fn serve<L, S>(listener: L, router: Router<S>) -> io::Result<Metrics>
where
    L: Listener,
    S: Send + Sync + 'static,
{
    Server::new(router)
        .serve_with_shutdown(listener, shutdown_signal())
        .await
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
