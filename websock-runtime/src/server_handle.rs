//! What all connections of one server share: the shutdown signal, the task tracker, the
//! connection limit and the counters.

use crate::{
    CloseCode, Drain, count::Count, drain::Drainer, shutdown_wakers::ShutdownWakers,
    wire::InboundBudget,
};
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// A handle to a server's shared state: trigger its graceful shutdown, read its counters.
///
/// [`Server`](crate::Server) makes one and puts it in every request's extensions, which is how
/// [`upgrade`](crate::upgrade) finds it. When mounting in another server (axum), insert one
/// yourself (`axum::Extension(handle)`) to get graceful shutdown and the connection limit.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<Inner>,
}

struct Inner {
    shutdown: CancellationToken,
    /// The connections waiting for `shutdown`, woken when it is cancelled.
    shutdown_wakers: ShutdownWakers,
    /// Cancelled when the shutdown deadline passes: connections stop flushing and count what
    /// they could not send.
    deadline: CancellationToken,
    tracker: TaskTracker,
    active: AtomicUsize,
    /// `active`, reported through the `metrics` facade.
    active_gauge: metrics::Gauge,
    max_connections: AtomicUsize,
    shutdown_code: AtomicU16,
    inbound_budget: Arc<InboundBudget>,
    counters: Counters,
    drainer: Drainer,
    /// The graceful shutdown's deadline in milliseconds: the drain ends well before it.
    shutdown_timeout_ms: AtomicU64,
}

pub(crate) struct Counters {
    pub(crate) accepted: Count,
    pub(crate) refused_over_limit: Count,
    pub(crate) dropped_frames: Count,
    pub(crate) dropped_infos: Count,
    pub(crate) unflushed_bytes: Count,
    pub(crate) unflushed_connections: Count,
    pub(crate) panics: Count,
    pub(crate) closed_over_inbound_buffer: Count,
    pub(crate) allocation_failures: Count,
    pub(crate) http1_upgrades: Count,
    pub(crate) http2_upgrades: Count,
    pub(crate) handshake_timeouts: Count,
    pub(crate) tls_handshake_failures: Count,
}

impl Default for Counters {
    /// The `metrics` names of [`Metrics`]' counters.
    fn default() -> Self {
        Self {
            accepted: Count::new("websock_connections_accepted_total"),
            refused_over_limit: Count::new("websock_connections_refused_over_limit_total"),
            dropped_frames: Count::new("websock_frames_dropped_total"),
            dropped_infos: Count::new("websock_infos_dropped_total"),
            unflushed_bytes: Count::new("websock_unflushed_bytes_total"),
            unflushed_connections: Count::new("websock_unflushed_connections_total"),
            panics: Count::new("websock_panics_total"),
            closed_over_inbound_buffer: Count::new("websock_closed_over_inbound_buffer_total"),
            allocation_failures: Count::new("websock_allocation_failures_total"),
            http1_upgrades: Count::new("websock_upgrades_http1_total"),
            http2_upgrades: Count::new("websock_upgrades_http2_total"),
            handshake_timeouts: Count::new("websock_handshake_timeouts_total"),
            tls_handshake_failures: Count::new("websock_tls_handshake_failures_total"),
        }
    }
}

/// A snapshot of a server's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// WebSocket connections open now.
    pub active_connections: usize,
    /// WebSocket connections accepted so far.
    pub accepted_connections: u64,
    /// Upgrades refused with 503 because `max_connections` were open.
    pub refused_over_limit: u64,
    /// Frames dropped because a client did not read (each also closed that connection, 1008).
    pub dropped_frames: u64,
    /// Info messages still in a mailbox when its connection ended.
    pub dropped_infos: u64,
    /// Frame bytes that could not be written before a connection's close deadline.
    pub unflushed_bytes: u64,
    /// Connections that still had unwritten frames at their close deadline.
    pub unflushed_connections: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Bytes of partly received messages (frames whose payload is still arriving, fragmented
    /// messages) held now over all connections, counted once a connection holds more than one
    /// read buffer of them, against
    /// [`Server::max_inbound_buffer`](crate::Server::max_inbound_buffer).
    pub inbound_buffered_bytes: usize,
    /// Connections closed with 1009 because their message would have taken the server past
    /// [`Server::max_inbound_buffer`](crate::Server::max_inbound_buffer).
    pub closed_over_inbound_buffer: u64,
    /// Connections closed with 1009 because memory for their message could not be allocated
    /// (an address-space limit, `vm.overcommit_memory=2`): the process goes on.
    pub allocation_failures: u64,
    /// WebSockets opened by an HTTP/1.1 upgrade so far.
    pub http1_upgrades: u64,
    /// WebSockets opened over HTTP/2 by an extended CONNECT (RFC 8441) so far.
    pub http2_upgrades: u64,
    /// Connections closed because the TLS handshake or the first bytes of HTTP did not arrive
    /// within [`Server::header_read_timeout`](crate::Server::header_read_timeout).
    pub handshake_timeouts: u64,
    /// TLS handshakes that failed (a client speaking plain HTTP to the TLS port, no common
    /// protocol version or cipher, a certificate the client refused).
    pub tls_handshake_failures: u64,
}

impl Default for ServerHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("metrics", &self.metrics())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

/// The default limit on open WebSocket connections, as Phoenix's `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

impl ServerHandle {
    /// A fresh handle: no shutdown yet, the default limit, close code 1012 on shutdown.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                shutdown: CancellationToken::new(),
                shutdown_wakers: ShutdownWakers::default(),
                deadline: CancellationToken::new(),
                tracker: TaskTracker::new(),
                active: AtomicUsize::new(0),
                active_gauge: metrics::gauge!("websock_connections_active"),
                max_connections: AtomicUsize::new(DEFAULT_MAX_CONNECTIONS),
                shutdown_code: AtomicU16::new(CloseCode::SERVICE_RESTART.as_u16()),
                inbound_budget: Arc::default(),
                counters: Counters::default(),
                drainer: Drainer::default(),
                shutdown_timeout_ms: AtomicU64::new(10_000),
            }),
        }
    }

    /// Sets the most WebSocket connections open at once; beyond it upgrades get 503.
    pub fn set_max_connections(&self, max: usize) {
        self.inner.max_connections.store(max, Ordering::Relaxed);
    }

    /// Sets the most bytes of partly received messages held over all connections; see
    /// [`Server::max_inbound_buffer`](crate::Server::max_inbound_buffer).
    pub fn set_max_inbound_buffer(&self, bytes: usize) {
        self.inner.inbound_budget.set_limit(bytes);
    }

    /// Sets the close code sent on shutdown: 1012 (service restart, the default) or 1001.
    pub fn set_shutdown_code(&self, code: CloseCode) {
        self.inner
            .shutdown_code
            .store(code.as_u16(), Ordering::Relaxed);
    }

    /// Sets how a graceful shutdown drains connections of routes that drain (channel sockets):
    /// in batches spread over 5 s by default; see [`Drain`].
    pub fn set_drain(&self, drain: Drain) {
        self.inner.drainer.set(drain);
    }

    /// Starts a graceful shutdown: stop accepting, close every connection after its queued
    /// frames with the shutdown code, call `terminate(Shutdown)`.
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        // After the cancel: a connection that registers later reads the flag set.
        self.inner.shutdown_wakers.wake_all();
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Shuts down and waits up to `deadline` for every connection to finish; connections still
    /// flushing then are cut, and what they could not send is counted in the metrics.
    pub async fn shutdown_and_wait(&self, deadline: Duration) -> Metrics {
        self.set_shutdown_timeout(deadline);
        self.shutdown();
        self.inner.tracker.close();
        if tokio::time::timeout(deadline, self.inner.tracker.wait())
            .await
            .is_err()
        {
            self.inner.deadline.cancel();
            self.inner.tracker.wait().await;
        }
        let metrics = self.metrics();
        if metrics.unflushed_connections > 0 {
            tracing::warn!(
                connections = metrics.unflushed_connections,
                bytes = metrics.unflushed_bytes,
                "shutdown deadline passed with frames unflushed"
            );
        }
        metrics
    }

    /// The counters right now.
    pub fn metrics(&self) -> Metrics {
        let c = &self.inner.counters;
        Metrics {
            active_connections: self.inner.active.load(Ordering::Relaxed),
            accepted_connections: c.accepted.load(Ordering::Relaxed),
            refused_over_limit: c.refused_over_limit.load(Ordering::Relaxed),
            dropped_frames: c.dropped_frames.load(Ordering::Relaxed),
            dropped_infos: c.dropped_infos.load(Ordering::Relaxed),
            unflushed_bytes: c.unflushed_bytes.load(Ordering::Relaxed),
            unflushed_connections: c.unflushed_connections.load(Ordering::Relaxed),
            panics: c.panics.load(Ordering::Relaxed),
            inbound_buffered_bytes: self.inner.inbound_budget.held(),
            closed_over_inbound_buffer: c.closed_over_inbound_buffer.load(Ordering::Relaxed),
            allocation_failures: c.allocation_failures.load(Ordering::Relaxed),
            http1_upgrades: c.http1_upgrades.load(Ordering::Relaxed),
            http2_upgrades: c.http2_upgrades.load(Ordering::Relaxed),
            handshake_timeouts: c.handshake_timeouts.load(Ordering::Relaxed),
            tls_handshake_failures: c.tls_handshake_failures.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_shutdown_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.inner.shutdown_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// When a draining connection should close, counted from when it saw the shutdown: its
    /// turn in the drain, which ends within three quarters of the shutdown timeout.
    pub(crate) fn drain_delay(&self) -> Duration {
        let timeout = Duration::from_millis(self.inner.shutdown_timeout_ms.load(Ordering::Relaxed));
        let active = self.inner.active.load(Ordering::Relaxed);
        self.inner.drainer.next_delay(active, timeout * 3 / 4)
    }

    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    pub(crate) fn deadline_token(&self) -> &CancellationToken {
        &self.inner.deadline
    }

    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    pub(crate) fn shutdown_code(&self) -> CloseCode {
        CloseCode::new(self.inner.shutdown_code.load(Ordering::Relaxed))
            .unwrap_or(CloseCode::SERVICE_RESTART)
    }

    pub(crate) fn inbound_budget(&self) -> &Arc<InboundBudget> {
        &self.inner.inbound_budget
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Takes a connection slot, or `None` when the limit is reached.
    pub(crate) fn try_acquire(&self) -> Option<Slot> {
        let max = self.inner.max_connections.load(Ordering::Relaxed);
        let taken = self
            .inner
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(_) => {
                self.inner.active_gauge.increment(1);
                self.inner.counters.accepted.fetch_add(1, Ordering::Relaxed);
                Some(Slot {
                    server: self.clone(),
                    waker: None,
                })
            }
            Err(_) => {
                self.inner
                    .counters
                    .refused_over_limit
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

/// One open connection's place under the limit; released on drop.
pub(crate) struct Slot {
    server: ServerHandle,
    /// Where this connection's waker is kept for the shutdown, once it waits.
    waker: Option<u32>,
}

impl Slot {
    pub(crate) fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// Whether the server is shutting down; the first call leaves `cx`'s waker to be woken
    /// when it does (a connection's task keeps its waker).
    pub(crate) fn shutting_down(&mut self, cx: &std::task::Context<'_>) -> bool {
        if self.waker.is_none() {
            self.waker = Some(self.server.inner.shutdown_wakers.insert(cx.waker()));
        }
        self.server.is_shutting_down()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(place) = self.waker {
            self.server.inner.shutdown_wakers.remove(place);
        }
        self.server.inner.active.fetch_sub(1, Ordering::AcqRel);
        self.server.inner.active_gauge.decrement(1);
    }
}
