//! One connection's task: a single loop that owns the socket, the handler, the mailbox and the
//! timers, as a BEAM process owns its state.

use crate::{
    Close, CloseCode, Config, Context, Control, Frame, Handle, Handler, Message, RequestInfo,
    TerminateReason, Timeout, Utf8Bytes,
    callback::{self, Outcome},
    close::PeerClose,
    handle::{Mail, Shared},
    handler::{Error, ErrorKind},
    reply::Stop,
    server_handle::Slot,
};
use futures_util::{Sink, Stream};
use std::{
    future::{Future, poll_fn},
    io,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::Poll,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
    time::Instant,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{self, error::ProtocolError, protocol::Role},
};
use tracing::Instrument;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How the loop ended: what `terminate` is told and which close frame we send (none when the
/// client already closed or the socket is gone).
struct Ending {
    reason: TerminateReason,
    close: Option<Close>,
}

impl Ending {
    fn new(reason: TerminateReason, close: Option<Close>) -> Self {
        Self { reason, close }
    }

    fn error(kind: ErrorKind, message: impl Into<String>, close: Option<Close>) -> Self {
        Self::new(TerminateReason::Error(Error::new(kind, message)), close)
    }

    fn from_stop(stop: Stop) -> Self {
        match stop {
            Stop::Close(close) => Self::new(TerminateReason::Normal, Some(close)),
            Stop::Error(message) => Self::error(
                ErrorKind::Handler,
                message,
                Some(Close::new(CloseCode::INTERNAL_ERROR, "internal error")),
            ),
        }
    }

    fn panicked(message: String) -> Self {
        Self::error(
            ErrorKind::Panic,
            message,
            Some(Close::new(CloseCode::INTERNAL_ERROR, "internal error")),
        )
    }

    fn callback_timeout() -> Self {
        Self::new(
            TerminateReason::Timeout(Timeout::Callback),
            Some(Close::new(CloseCode::INTERNAL_ERROR, "callback timeout")),
        )
    }

    /// Maps a protocol-layer error to RFC 6455's close codes (§7.4.1).
    fn from_ws_error(error: tungstenite::Error) -> Self {
        use tungstenite::Error as E;
        match error {
            E::ConnectionClosed | E::AlreadyClosed => {
                Self::new(TerminateReason::Remote(None), None)
            }
            E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                Self::new(TerminateReason::Remote(None), None)
            }
            E::Io(error) if is_disconnect(&error) => Self::new(TerminateReason::Remote(None), None),
            E::Io(error) => Self::error(ErrorKind::Io, error.to_string(), None),
            E::Utf8(message) => Self::error(
                ErrorKind::InvalidUtf8,
                message,
                Some(Close::new(CloseCode::INVALID_PAYLOAD, "invalid UTF-8")),
            ),
            E::Capacity(error) => {
                let message = error.to_string();
                let close = Close::new(CloseCode::MESSAGE_TOO_BIG, &message);
                Self::error(ErrorKind::TooBig, message, Some(close))
            }
            E::WriteBufferFull(_) => Self::slow_reader(),
            other => {
                let message = other.to_string();
                let close = Close::new(CloseCode::PROTOCOL_ERROR, &message);
                Self::error(ErrorKind::Protocol, message, Some(close))
            }
        }
    }

    fn slow_reader() -> Self {
        Self::error(
            ErrorKind::SlowReader,
            "write buffer limit passed",
            Some(Close::new(
                CloseCode::POLICY_VIOLATION,
                "client does not read",
            )),
        )
    }
}

fn is_disconnect(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

enum Event<I> {
    Message(Message),
    Control(Control),
    Info(I),
    Ping,
    End(Ending),
}

struct Connection<H: Handler, S> {
    ws: WebSocketStream<S>,
    mailbox: mpsc::Receiver<Mail<H::Info>>,
    shared: Arc<Shared>,
    config: Config,
    slot: Option<Slot>,
    /// Frames were handed to the socket since its last complete flush.
    dirty: bool,
}

/// Runs a connection from the 101 to its last byte.
pub(crate) async fn run<H, S>(
    stream: S,
    init: H::Init,
    request: Box<RequestInfo>,
    config: Config,
    slot: Option<Slot>,
) where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let span =
        tracing::info_span!("websocket", path = %request.path(), peer = ?request.peer_addr());
    async move {
        let ws =
            WebSocketStream::from_raw_socket(stream, Role::Server, Some(config.websocket_config()))
                .await;
        let (tx, mailbox) = mpsc::channel(config.mailbox_capacity);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ..Shared::default()
        });
        let mut ctx = Context::new(Handle::<H>::new(tx, shared.clone()), request);
        let mut conn = Connection::<H, S> {
            ws,
            mailbox,
            shared,
            config,
            slot,
            dirty: false,
        };
        conn.run(init, &mut ctx).await;
    }
    .instrument(span)
    .await;
}

impl<H, S> Connection<H, S>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn run(&mut self, init: H::Init, ctx: &mut Context<H>) {
        let timeout = self.config.callback_timeout;
        // The init, terminate and finish states run once: boxed, they do not add to the size of
        // every idle connection's task, which is as large as its largest inline state.
        let mut handler = match Box::pin(callback::guard(H::init(init, ctx), timeout)).await {
            Outcome::Done(Ok(handler)) => handler,
            Outcome::Done(Err(close)) => {
                tracing::debug!(%close, "init refused the connection");
                return Box::pin(self.finish(ctx, Some(close))).await;
            }
            Outcome::Panicked(message) => {
                self.count_panic(&message);
                let close = Close::new(CloseCode::INTERNAL_ERROR, "internal error");
                return Box::pin(self.finish(ctx, Some(close))).await;
            }
            Outcome::TimedOut => {
                tracing::warn!("init timed out");
                let close = Close::new(CloseCode::INTERNAL_ERROR, "callback timeout");
                return Box::pin(self.finish(ctx, Some(close))).await;
            }
        };
        tracing::debug!("connection open");

        let Ending { reason, close } = self.serve(&mut handler, ctx).await;
        match &reason {
            TerminateReason::Error(error) if error.kind() == ErrorKind::Panic => {
                self.count_panic(error.message());
            }
            TerminateReason::Error(error) => tracing::warn!(%error, "connection failed"),
            TerminateReason::Timeout(timeout) => tracing::info!(?timeout, "connection timed out"),
            other => tracing::debug!(reason = ?other, "connection ending"),
        }
        match Box::pin(callback::guard(handler.terminate(reason, ctx), timeout)).await {
            Outcome::Done(()) => {}
            Outcome::Panicked(message) => self.count_panic(&message),
            Outcome::TimedOut => tracing::warn!("terminate timed out"),
        }
        Box::pin(self.finish(ctx, close)).await;
    }

    fn count_panic(&self, message: &str) {
        tracing::error!(panic = message, "handler panicked");
        if let Some(slot) = &self.slot {
            slot.server()
                .counters()
                .panics
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The event loop: one event at a time, each handed to its callback.
    async fn serve(&mut self, handler: &mut H, ctx: &mut Context<H>) -> Ending {
        let timeout = self.config.callback_timeout;
        let shutdown_token = self
            .slot
            .as_ref()
            .map(|slot| slot.server().shutdown_token().clone());
        let mut shutdown = pin!(async {
            match &shutdown_token {
                Some(token) => token.cancelled().await,
                None => std::future::pending().await,
            }
        });
        let idle_timeout = self.config.idle_timeout;
        let mut last_activity = Instant::now();
        let mut idle = pin!(tokio::time::sleep_until(
            last_activity + idle_timeout.unwrap_or_default()
        ));
        let mut timer = pin!(tokio::time::sleep_until(last_activity));
        let mut timer_armed: Option<Instant> = None;
        let mut ping = self
            .config
            .ping_interval
            .map(|period| tokio::time::interval_at(Instant::now() + period, period));
        let mut mailbox_first = false;

        loop {
            if let Err(ending) = self.write_outbox(ctx) {
                return ending;
            }
            if let Some(stop) = ctx.stop.take() {
                return Ending::from_stop(stop);
            }

            let event = poll_fn(|cx| {
                loop {
                    if shutdown.as_mut().poll(cx).is_ready() {
                        let code = self
                            .slot
                            .as_ref()
                            .map_or(CloseCode::SERVICE_RESTART, |s| s.server().shutdown_code());
                        let close = Close::new(code, "server shutting down");
                        return Poll::Ready(Event::End(Ending::new(
                            TerminateReason::Shutdown,
                            Some(close),
                        )));
                    }
                    let buffered = self.shared.buffered.load(Ordering::Relaxed);
                    // Keep bytes moving to the socket even while input never stops.
                    if self.dirty && buffered >= self.config.write_buffer_size {
                        if let Poll::Ready(Err(ending)) = self.poll_flush(cx) {
                            return Poll::Ready(Event::End(ending));
                        }
                    }
                    let reading = self.shared.buffered.load(Ordering::Relaxed)
                        < self.config.read_pause_threshold();

                    // Alternate which source goes first so neither can starve the other.
                    mailbox_first = !mailbox_first;
                    for from_mailbox in [mailbox_first, !mailbox_first] {
                        if from_mailbox {
                            if let Poll::Ready(Some(mail)) = self.mailbox.poll_recv(cx) {
                                return Poll::Ready(match mail {
                                    Mail::Info(info) => Event::Info(info),
                                    Mail::Close(close) => Event::End(Ending::new(
                                        TerminateReason::Normal,
                                        Some(*close),
                                    )),
                                });
                            }
                        } else if reading {
                            if let Poll::Ready(item) = Pin::new(&mut self.ws).poll_next(cx) {
                                last_activity = Instant::now();
                                if let Some(event) = self.inbound(item) {
                                    return Poll::Ready(event);
                                }
                                continue;
                            }
                        }
                    }

                    if let Some(deadline) = ctx.timers.next_deadline() {
                        if timer_armed != Some(deadline) {
                            timer.as_mut().reset(deadline);
                            timer_armed = Some(deadline);
                        }
                        if timer.as_mut().poll(cx).is_ready() {
                            timer_armed = None;
                            if let Some(info) = ctx.timers.pop_due(Instant::now()) {
                                return Poll::Ready(Event::Info(info));
                            }
                            continue;
                        }
                    }

                    if let Some(limit) = idle_timeout {
                        if idle.as_mut().poll(cx).is_ready() {
                            let deadline = last_activity + limit;
                            if deadline <= Instant::now() {
                                let close = Close::new(CloseCode::GOING_AWAY, "idle timeout");
                                return Poll::Ready(Event::End(Ending::new(
                                    TerminateReason::Timeout(Timeout::Idle),
                                    Some(close),
                                )));
                            }
                            // Frames arrived since it was set: move it instead of resetting
                            // the timer on every frame.
                            idle.as_mut().reset(deadline);
                            continue;
                        }
                    }

                    if let Some(ping) = &mut ping {
                        if ping.poll_tick(cx).is_ready() {
                            return Poll::Ready(Event::Ping);
                        }
                    }

                    // Nothing else is ready: write everything queued with one flush.
                    if self.dirty {
                        match self.poll_flush(cx) {
                            Poll::Ready(Ok(())) => continue,
                            Poll::Ready(Err(ending)) => return Poll::Ready(Event::End(ending)),
                            Poll::Pending => {}
                        }
                    }
                    return Poll::Pending;
                }
            })
            .await;

            let outcome = match event {
                Event::Message(message) => {
                    callback::guard(handler.handle_in(message, ctx), timeout).await
                }
                Event::Control(control) => {
                    callback::guard(handler.handle_control(control, ctx), timeout).await
                }
                Event::Info(info) => callback::guard(handler.handle_info(info, ctx), timeout).await,
                Event::Ping => {
                    ctx.push(Frame::Ping(bytes::Bytes::new()));
                    continue;
                }
                Event::End(ending) => return ending,
            };
            match outcome {
                Outcome::Done(reply) => ctx.apply(reply),
                Outcome::Panicked(message) => return Ending::panicked(message),
                Outcome::TimedOut => return Ending::callback_timeout(),
            }
        }
    }

    /// Turns what the socket produced into an event; `None` for frames the loop skips.
    fn inbound(
        &mut self,
        item: Option<Result<tungstenite::Message, tungstenite::Error>>,
    ) -> Option<Event<H::Info>> {
        use tungstenite::Message as M;
        let message = match item {
            None => return Some(Event::End(Ending::new(TerminateReason::Remote(None), None))),
            Some(Err(error)) => return Some(Event::End(Ending::from_ws_error(error))),
            Some(Ok(message)) => message,
        };
        Some(match message {
            M::Text(text) => Event::Message(Message::Text(Utf8Bytes::from_tungstenite(text))),
            M::Binary(bytes) => Event::Message(Message::Binary(bytes)),
            M::Ping(payload) => {
                // tungstenite queued the pong (RFC 6455 §5.5.2); make sure it gets flushed.
                self.dirty = true;
                Event::Control(Control::Ping(payload))
            }
            M::Pong(payload) => Event::Control(Control::Pong(payload)),
            M::Close(frame) => {
                // tungstenite queued the close reply; `finish` flushes it.
                self.dirty = true;
                let peer = frame.map_or(
                    PeerClose {
                        code: 1005,
                        reason: String::new(),
                    },
                    |frame| PeerClose {
                        code: frame.code.into(),
                        reason: frame.reason.as_str().to_owned(),
                    },
                );
                Event::End(Ending::new(TerminateReason::Remote(Some(peer)), None))
            }
            M::Frame(_) => return None,
        })
    }

    /// Hands queued frames to the socket, within the write-buffer limit.
    fn write_outbox(&mut self, ctx: &mut Context<H>) -> Result<(), Ending> {
        while let Some(frame) = ctx.outbox.pop_front() {
            let len = frame.len();
            let buffered = self.shared.buffered.load(Ordering::Relaxed);
            if buffered > 0 && buffered + len > self.config.max_write_buffer {
                let dropped = 1 + ctx.outbox.len() as u64;
                ctx.outbox.clear();
                self.shared
                    .dropped_frames
                    .fetch_add(dropped, Ordering::Relaxed);
                if let Some(slot) = &self.slot {
                    slot.server()
                        .counters()
                        .dropped_frames
                        .fetch_add(dropped, Ordering::Relaxed);
                }
                tracing::warn!(
                    buffered,
                    dropped,
                    limit = self.config.max_write_buffer,
                    "client does not read: dropping its frames and closing with 1008"
                );
                return Err(Ending::slow_reader());
            }
            Pin::new(&mut self.ws)
                .start_send(frame.into_tungstenite())
                .map_err(Ending::from_ws_error)?;
            self.shared
                .buffered
                .store(buffered + len, Ordering::Relaxed);
            self.dirty = true;
        }
        // A burst grew the queue: give the memory back so an idle connection holds none.
        if ctx.outbox.capacity() > 64 {
            ctx.outbox = Default::default();
        }
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Ending>> {
        match Pin::new(&mut self.ws).poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                self.dirty = false;
                self.shared.buffered.store(0, Ordering::Relaxed);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(Ending::from_ws_error(error))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Sends what is left and the close frame, waits for the client's close within the close
    /// timeout (or until the server's shutdown deadline), then counts what was lost.
    async fn finish(&mut self, ctx: &mut Context<H>, close: Option<Close>) {
        let deadline = self
            .slot
            .as_ref()
            .map(|slot| slot.server().deadline_token().clone());
        let sending_close = close.is_some();
        let close_timeout = self.config.close_timeout;
        let work = async {
            if let Some(close) = close {
                if self.write_outbox(ctx).is_ok() {
                    let frame = tungstenite::protocol::CloseFrame {
                        code: close.code().as_u16().into(),
                        reason: close.reason().into(),
                    };
                    let _ =
                        Pin::new(&mut self.ws).start_send(tungstenite::Message::Close(Some(frame)));
                    self.dirty = true;
                }
            }
            ctx.outbox.clear();
            if self.dirty {
                match poll_fn(|cx| Pin::new(&mut self.ws).poll_flush(cx)).await {
                    Ok(()) | Err(tungstenite::Error::ConnectionClosed) => {
                        self.shared.buffered.store(0, Ordering::Relaxed);
                    }
                    Err(_) => return,
                }
            }
            if sending_close {
                // RFC 6455 §7.1.1: wait for the client's close frame, then close TCP.
                while let Some(Ok(_)) = poll_fn(|cx| Pin::new(&mut self.ws).poll_next(cx)).await {}
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(close_timeout, work) => {}
            () = async {
                match &deadline {
                    Some(token) => token.cancelled().await,
                    None => std::future::pending().await,
                }
            } => {}
        }

        let unflushed = self.shared.buffered.load(Ordering::Relaxed) as u64;
        self.mailbox.close();
        let mut dropped_infos = 0;
        while self.mailbox.try_recv().is_ok() {
            dropped_infos += 1;
        }
        if unflushed > 0 {
            tracing::warn!(bytes = unflushed, "connection closed with frames unflushed");
        }
        if dropped_infos > 0 {
            tracing::debug!(count = dropped_infos, "infos left in the mailbox");
        }
        if let Some(slot) = &self.slot {
            let counters = slot.server().counters();
            if unflushed > 0 {
                counters
                    .unflushed_bytes
                    .fetch_add(unflushed, Ordering::Relaxed);
                counters
                    .unflushed_connections
                    .fetch_add(1, Ordering::Relaxed);
            }
            counters
                .dropped_infos
                .fetch_add(dropped_infos, Ordering::Relaxed);
        }
    }
}
