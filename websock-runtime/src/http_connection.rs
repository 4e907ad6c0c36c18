//! One accepted connection, from its first byte to its last: the TLS handshake, which HTTP it
//! speaks, then hyper's HTTP/1.1 server (with upgrades) or HTTP/2 server (with RFC 8441's
//! extended CONNECT) under the server's limits, until it ends or the server shuts down.

use crate::{
    Body, ServerHandle,
    sniff::{self, Version},
};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
    service::HttpService,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::{
    convert::Infallible, future::Future, pin::Pin, pin::pin, sync::atomic::Ordering, time::Duration,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::Instant,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The HTTP/2 header list limit (RFC 9113 §6.5.2 `SETTINGS_MAX_HEADER_LIST_SIZE`): the
/// decoded headers of one request, CONTINUATION frames included. hyper's default, set here so
/// an endless CONTINUATION sequence is cut at a size we chose.
const MAX_HEADER_LIST_SIZE: u32 = 16 << 10;
/// Streams a client may reset before the server has answered them, before the connection is
/// closed with `ENHANCE_YOUR_CALM` (the "rapid reset" attack, CVE-2023-44487); h2's default.
const MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the server may reset because of a client's protocol errors before it closes the
/// connection (CVE-2025-8671, "MadeYouReset"); hyper's default.
const MAX_LOCAL_ERROR_RESET_STREAMS: usize = 1024;
/// How often an HTTP/2 connection is pinged, and how long the answer may take: a peer that
/// vanished without a FIN is noticed within both.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// What a connection's task needs of its [`Server`](crate::Server)'s options.
pub(crate) struct Options {
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_headers: usize,
    pub(crate) max_concurrent_streams: u32,
    pub(crate) tls: Option<TlsAcceptor>,
}

/// Serves `io` with `service` until it ends, or until `handle`'s shutdown: then an HTTP/1.1
/// connection closes once idle and an HTTP/2 one sends GOAWAY and ends with its last stream.
///
/// The TLS handshake and the sniff of the HTTP version share one deadline, the header read
/// timeout: a client that sends half a handshake or half the HTTP/2 preface and stalls is cut
/// then (counted in [`Metrics::handshake_timeouts`](crate::Metrics::handshake_timeouts)).
pub(crate) async fn serve<Io, S>(io: Io, service: S, options: Options, handle: ServerHandle)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: RequestService,
{
    let deadline = Instant::now() + options.header_read_timeout;
    let Some(acceptor) = options.tls.clone() else {
        return sniff_and_serve(io, service, &options, deadline, &handle).await;
    };
    match bounded(deadline, &handle, acceptor.accept(io)).await {
        Some(Ok(tls)) => sniff_and_serve(tls, service, &options, deadline, &handle).await,
        Some(Err(error)) => {
            handle
                .counters()
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%error, "TLS handshake failed");
        }
        None => {}
    }
}

/// Finds out which HTTP `io` speaks, then serves it.
async fn sniff_and_serve<Io, S>(
    io: Io,
    service: S,
    options: &Options,
    deadline: Instant,
    handle: &ServerHandle,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: RequestService,
{
    // A TCP socket is peeked at and handed over as it is; other streams are read and wrapped.
    let result = match sniff::as_tcp(&io) {
        Some(tcp) => match bounded(deadline, handle, sniff::peek(tcp)).await {
            Some(Ok(version)) => serve_http(io, version, service, options, handle).await,
            Some(Err(error)) => Err(error.into()),
            None => return,
        },
        None => match bounded(deadline, handle, sniff::read(io)).await {
            Some(Ok((version, io))) => serve_http(io, version, service, options, handle).await,
            Some(Err(error)) => Err(error.into()),
            None => return,
        },
    };
    if let Err(error) = result {
        tracing::debug!(%error, "http connection ended with an error");
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The server's service: the router behind hyper, for HTTP/1.1 and HTTP/2 alike.
pub(crate) trait RequestService:
    HttpService<Incoming, ResBody = Body, Error = Infallible, Future: Send + 'static> + Send + 'static
{
}

impl<S> RequestService for S where
    S: HttpService<Incoming, ResBody = Body, Error = Infallible, Future: Send + 'static>
        + Send
        + 'static
{
}

/// Serves `io` as `version` until the connection ends, shutting it down gracefully when the
/// server does.
async fn serve_http<Io, S>(
    io: Io,
    version: Version,
    service: S,
    options: &Options,
    handle: &ServerHandle,
) -> Result<(), BoxError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: RequestService,
{
    let io = TokioIo::new(io);
    let token = handle.shutdown_token();
    match version {
        Version::Http1 => {
            let connection = http1_builder(options)
                .serve_connection(io, service)
                .with_upgrades();
            until_shutdown(
                connection,
                token,
                http1::UpgradeableConnection::graceful_shutdown,
            )
            .await
        }
        Version::Http2 => {
            let connection = http2_builder(options).serve_connection(io, service);
            until_shutdown(connection, token, http2::Connection::graceful_shutdown).await
        }
    }
}

fn http1_builder(options: &Options) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_headers(options.max_headers)
        .keep_alive(true);
    builder
}

/// hyper's HTTP/2 server with RFC 8441 (`SETTINGS_ENABLE_CONNECT_PROTOCOL`) and every cap
/// against hostile clients set here, not left to defaults that may change.
fn http2_builder(options: &Options) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_concurrent_streams(options.max_concurrent_streams)
        .max_header_list_size(MAX_HEADER_LIST_SIZE)
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESET_STREAMS)
        .keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT);
    builder
}

/// Drives `connection`; on shutdown, starts its graceful shutdown and drives it to the end.
async fn until_shutdown<C, E>(
    connection: C,
    token: &CancellationToken,
    graceful: fn(Pin<&mut C>),
) -> Result<(), BoxError>
where
    C: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    let mut connection = pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = token.cancelled() => {
            graceful(connection.as_mut());
            connection.await
        }
    };
    result.map_err(Into::into)
}

/// Runs `step` until `deadline`; `None` when the deadline passes first (counted and logged) or
/// the server shuts down.
async fn bounded<F: Future>(
    deadline: Instant,
    handle: &ServerHandle,
    step: F,
) -> Option<F::Output> {
    tokio::select! {
        output = tokio::time::timeout_at(deadline, step) => match output {
            Ok(output) => Some(output),
            Err(_) => {
                handle
                    .counters()
                    .handshake_timeouts
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!("connection closed: no TLS handshake or HTTP request before the deadline");
                None
            }
        },
        () = handle.shutdown_token().cancelled() => None,
    }
}
