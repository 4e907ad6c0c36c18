//! One connection's task: a single loop that owns the socket, the handler, the mailbox and the
//! timers, as a BEAM process owns its state.

use crate::{
    Close, CloseCode, Config, Context, Control, ControlPayload, Frame, Handler, Message,
    RequestInfo, TerminateReason, Timeout,
    callback::{self, Outcome},
    clock::{Clock, Due},
    close::PeerClose,
    handler::{Error, ErrorKind},
    reply::{Frames, Stop},
    server_handle::Slot,
    socket::Socket,
    wire::{Agreed, Deflater, Inbound, Inflater, Reader, WireError, Writer},
};
use std::{
    any::Any,
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
    time::{Instant, Sleep},
};

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

    /// Maps what stopped the reading to RFC 6455's close codes (§7.4.1).
    fn from_wire(error: WireError) -> Self {
        match error {
            WireError::Eof => Self::new(TerminateReason::Remote(None), None),
            WireError::Io(error) => Self::from_io(error),
            WireError::InvalidUtf8 => Self::error(
                ErrorKind::InvalidUtf8,
                "invalid UTF-8",
                Some(Close::new(CloseCode::INVALID_PAYLOAD, "invalid UTF-8")),
            ),
            WireError::TooBig(message) | WireError::OverBudget(message) => {
                let close = Close::new(CloseCode::MESSAGE_TOO_BIG, &message);
                Self::error(ErrorKind::TooBig, message, Some(close))
            }
            WireError::OutOfMemory(bytes) => Self::error(
                ErrorKind::TooBig,
                format!("could not allocate {bytes} bytes for the message"),
                Some(Close::new(
                    CloseCode::MESSAGE_TOO_BIG,
                    "server out of memory",
                )),
            ),
            WireError::Protocol(message) => {
                let close = Close::new(CloseCode::PROTOCOL_ERROR, &message);
                Self::error(ErrorKind::Protocol, message, Some(close))
            }
        }
    }

    fn from_io(error: io::Error) -> Self {
        if is_disconnect(&error) {
            Self::new(TerminateReason::Remote(None), None)
        } else {
            Self::error(ErrorKind::Io, error.to_string(), None)
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
    // Boxed: the loop's future keeps room for an event while a callback runs, and an ending
    // is twice the size of a message.
    End(Box<Ending>),
}

impl<I> Event<I> {
    fn end(ending: Ending) -> Self {
        Self::End(Box::new(ending))
    }
}

struct Connection<S> {
    io: S,
    reader: Reader,
    writer: Writer,
    config: Arc<Config>,
    slot: Option<Slot>,
    /// Frames were handed to the socket since its last complete flush.
    dirty: bool,
    /// Whether this connection's socket can take part in the fast lane.
    lane: LaneUse,
    /// The lane was opened when the connection last parked.
    lane_open: bool,
}

/// Whether a connection's socket can take part in the fast lane (see `lane`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LaneUse {
    /// Not tried yet: no handle was made, or the connection never parked idle since.
    Untried,
    /// Its writing half is shared with the lane.
    Shared,
    /// Not a plain TCP socket: its writes are its own.
    Never,
}

/// What a connection starts from once hyper hands over the socket.
pub(crate) struct Start<H: Handler> {
    pub(crate) init: H::Init,
    pub(crate) request: Box<RequestInfo>,
    pub(crate) config: Arc<Config>,
    pub(crate) slot: Option<Slot>,
    /// permessage-deflate, when negotiated.
    pub(crate) deflate: Option<Agreed>,
}

/// Runs a connection from the 101 to its last byte.
///
/// Not an `async fn`: a future keeps what it captured for its whole life, even once moved on,
/// so the connection and its context are built here and captured once, then only borrowed.
/// (Every byte of this future is paid by every idle connection.) `early`: bytes already read
/// from the stream past the request (by hyper), read first.
// The box is the point: see the unboxing below.
#[allow(clippy::boxed_local)]
pub(crate) fn run<H, S>(
    stream: S,
    start: Box<Start<H>>,
    early: bytes::Bytes,
) -> impl Future<Output = ()> + Send
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Unboxed here, in a plain function, so the box is freed now rather than when the caller's
    // future (which captured it) ends.
    let Start {
        init,
        request,
        config,
        slot,
        deflate,
    } = *start;
    let span =
        tracing::info_span!("websocket", path = %request.path(), peer = ?request.peer_addr());
    // Entered on every poll, as `Instrumented` would, but boxed, and left out when no
    // subscriber wants it: inline, its 40 bytes would be paid by every idle connection.
    let span = (!span.is_disabled()).then(|| Box::new(span));
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut ctx = Context::<H>::new(id, config.mailbox_capacity, request);
    let budget = slot
        .as_ref()
        .map(|slot| slot.server().inbound_budget().clone());
    let mut reader = Reader::new(budget);
    reader.seed(&early);
    let mut writer = Writer::default();
    if let Some(agreed) = deflate {
        reader.set_inflater(Inflater::new(agreed.inflate));
        writer.set_deflater(Deflater::new(agreed.compress));
    }
    let mut conn = Connection {
        io: stream,
        reader,
        writer,
        config,
        slot,
        dirty: false,
        lane: LaneUse::Untried,
        lane_open: false,
    };
    // Boxed: what a future captures keeps its place in it for good, and a handler's `Init` can
    // be large.
    let init = Box::new(init);
    async move {
        let mut connection = pin!(conn.run(init, &mut ctx));
        poll_fn(|cx| {
            let _entered = span.as_deref().map(tracing::Span::enter);
            connection.as_mut().poll(cx)
        })
        .await;
    }
}

impl<S> Connection<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn run<H: Handler>(&mut self, init: Box<H::Init>, ctx: &mut Context<H>) {
        // The start and the end run once: boxed, their states do not add to the size of every
        // idle connection's task, which is as large as its largest inline state.
        let Some(mut handler) = Box::pin(self.start(*init, ctx)).await else {
            return;
        };
        tracing::debug!("connection open");

        // A panic outside the callbacks (a user type's `Drop` in a pushed frame, a bug of
        // ours) still ends the connection as a callback's would: 1011 and one `terminate`.
        let ending = {
            // Pinned here and polled by reference: moved into a wrapping future instead, the
            // loop's state would be laid out twice in every idle connection's task.
            let serve = pin!(self.serve(&mut handler, ctx));
            callback::CatchPanic(serve)
                .await
                .unwrap_or_else(Ending::panicked)
        };
        // The lane was shut when the loop last woke; now it lets go of the socket, which
        // the closing handshake shuts down.
        if let Some((lane, _)) = ctx.lane() {
            lane.retire();
        }
        Box::pin(self.end(handler, ending, ctx)).await;
    }

    /// Runs `init`: the handler, or `None` when it refused (then the connection is closed).
    async fn start<H: Handler>(&mut self, init: H::Init, ctx: &mut Context<H>) -> Option<H> {
        let timeout = self.config.callback_timeout;
        let close = match callback::guard(H::init(init, ctx), timeout).await {
            Outcome::Done(Ok(handler)) => return Some(handler),
            Outcome::Done(Err(close)) => {
                tracing::debug!(%close, "init refused the connection");
                close
            }
            Outcome::Panicked(message) => {
                self.count_panic(&message);
                Close::new(CloseCode::INTERNAL_ERROR, "internal error")
            }
            Outcome::TimedOut => {
                tracing::warn!("init timed out");
                Close::new(CloseCode::INTERNAL_ERROR, "callback timeout")
            }
        };
        self.finish(ctx, Some(close)).await;
        None
    }

    /// After the loop: `terminate`, the closing handshake, the handler dropped.
    async fn end<H: Handler>(&mut self, mut handler: H, ending: Ending, ctx: &mut Context<H>) {
        let Ending { reason, close } = ending;
        match &reason {
            TerminateReason::Error(error) if error.kind() == ErrorKind::Panic => {
                self.count_panic(error.message());
            }
            TerminateReason::Error(error) => tracing::warn!(%error, "connection failed"),
            TerminateReason::Timeout(timeout) => tracing::info!(?timeout, "connection timed out"),
            other => tracing::debug!(reason = ?other, "connection ending"),
        }
        let timeout = self.config.callback_timeout;
        match callback::guard(handler.terminate(reason, ctx), timeout).await {
            Outcome::Done(()) => {}
            Outcome::Panicked(message) => self.count_panic(&message),
            Outcome::TimedOut => tracing::warn!("terminate timed out"),
        }
        self.finish(ctx, close).await;
        if let Err(message) = callback::catch_panic_sync(|| drop(handler)) {
            self.count_panic(&message);
        }
    }

    /// Ready when this connection should close for the shutdown: at once, or at its turn in
    /// the server's drain when its route drains.
    fn drain_turn(
        &self,
        turn: &mut Option<Pin<Box<Sleep>>>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        let Some(slot) = self.slot.as_ref().filter(|_| self.config.drain) else {
            return Poll::Ready(());
        };
        turn.get_or_insert_with(|| Box::pin(tokio::time::sleep(slot.server().drain_delay())))
            .as_mut()
            .poll(cx)
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
    async fn serve<H: Handler>(&mut self, handler: &mut H, ctx: &mut Context<H>) -> Ending {
        // Armed when a draining connection sees the shutdown: its turn to close.
        let mut drain: Option<Pin<Box<Sleep>>> = None;
        // One timer for the idle timeout, the pings, `send_after` and the callback timeout
        // (see `clock`).
        let mut clock = Clock::new(&self.config);
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(&self.config, None)));
        let mut mailbox_first = false;

        loop {
            if let Err(ending) = self.write_outbox(ctx) {
                return ending;
            }
            if let Some(stop) = ctx.stop.take() {
                return Ending::from_stop(*stop);
            }

            let event = poll_fn(|cx| {
                // Woken: no sender may write past what this connection is about to do.
                if self.lane_open {
                    self.shut_lane(ctx);
                }
                loop {
                    // The first pass leaves this task's waker with the server (see
                    // `shutdown_wakers`); every pass reads the flag.
                    let shutting_down = self
                        .slot
                        .as_mut()
                        .is_some_and(|slot| slot.shutting_down(cx));
                    if shutting_down && self.drain_turn(&mut drain, cx).is_ready() {
                        let code = self
                            .slot
                            .as_ref()
                            .map_or(CloseCode::SERVICE_RESTART, |s| s.server().shutdown_code());
                        let close = Close::new(code, "server shutting down");
                        return Poll::Ready(Event::end(Ending::new(
                            TerminateReason::Shutdown,
                            Some(close),
                        )));
                    }
                    // A handle's close goes ahead of everything queued (see `Handle::close`).
                    if let Some(mailbox) = ctx.mailbox() {
                        if let Poll::Ready(close) = mailbox.poll_close(cx) {
                            return Poll::Ready(Event::end(Ending::new(
                                TerminateReason::Normal,
                                Some(close),
                            )));
                        }
                    }
                    let buffered = self.writer.buffered();
                    // Keep bytes moving to the socket even while input never stops.
                    if self.dirty && buffered >= self.config.write_buffer_size {
                        if let Poll::Ready(Err(ending)) = self.poll_flush(ctx, cx) {
                            return Poll::Ready(Event::end(ending));
                        }
                    }
                    let reading = self.writer.buffered() < self.config.read_pause_threshold();

                    // Alternate which source goes first so neither can starve the other.
                    mailbox_first = !mailbox_first;
                    for from_mailbox in [mailbox_first, !mailbox_first] {
                        if from_mailbox {
                            let Some(mailbox) = ctx.mailbox() else {
                                continue;
                            };
                            if let Poll::Ready(Some(info)) = mailbox.poll_info(cx) {
                                return Poll::Ready(Event::Info(info));
                            }
                        } else if reading {
                            let limits = self.config.limits();
                            let read = self.reader.poll_next(&mut self.io, cx, limits);
                            if let Poll::Ready(read) = read {
                                clock.touch(Instant::now());
                                return Poll::Ready(self.inbound(read, ctx));
                            }
                        }
                    }

                    let timer = ctx.next_timer();
                    match clock.poll(&self.config, sleep.as_mut(), timer, cx) {
                        Poll::Ready(Due::Idle) => {
                            let close = Close::new(CloseCode::GOING_AWAY, "idle timeout");
                            return Poll::Ready(Event::end(Ending::new(
                                TerminateReason::Timeout(Timeout::Idle),
                                Some(close),
                            )));
                        }
                        Poll::Ready(Due::Ping) => return Poll::Ready(Event::Ping),
                        Poll::Ready(Due::Timer) => {
                            if let Some(info) = ctx.pop_due_timer(Instant::now()) {
                                return Poll::Ready(Event::Info(info));
                            }
                            continue;
                        }
                        Poll::Pending => {}
                    }

                    // Nothing else is ready: write everything queued with one flush.
                    if self.dirty {
                        match self.poll_flush(ctx, cx) {
                            Poll::Ready(Ok(())) => continue,
                            Poll::Ready(Err(ending)) => return Poll::Ready(Event::end(ending)),
                            Poll::Pending => {}
                        }
                    }
                    // After the flush, so echoed payloads have let go of the read buffer.
                    self.reader.release_buffer(self.config.limits());
                    ctx.release_outbox();
                    self.open_lane(ctx, cx);
                    return Poll::Pending;
                }
            })
            .await;

            let (outcome, moved) = match event {
                Event::Message(message) => {
                    let callback = pin!(handler.handle_in(message, ctx));
                    let timeout = self.config.callback_timeout;
                    callback::guard_on(callback, timeout, sleep.as_mut()).await
                }
                Event::Control(control) => {
                    let callback = pin!(handler.handle_control(control, ctx));
                    let timeout = self.config.callback_timeout;
                    callback::guard_on(callback, timeout, sleep.as_mut()).await
                }
                Event::Info(info) => {
                    let callback = pin!(handler.handle_info(info, ctx));
                    let timeout = self.config.callback_timeout;
                    callback::guard_on(callback, timeout, sleep.as_mut()).await
                }
                Event::Ping => {
                    ctx.push(Frame::Ping(ControlPayload::empty()));
                    continue;
                }
                Event::End(ending) => return *ending,
            };
            if moved {
                let deadline = clock.deadline(&self.config, ctx.next_timer());
                sleep.as_mut().reset(deadline);
            }
            match outcome {
                Outcome::Done(mut reply) => {
                    // The usual reply, one frame with nothing pushed before it, goes straight to
                    // the socket's buffer: the outbox is then never allocated on an idle
                    // connection.
                    match std::mem::take(&mut reply.frames) {
                        Frames::One(frame) if ctx.queued_frames() == 0 => {
                            if let Err(ending) = self.write_frame(frame, ctx) {
                                return ending;
                            }
                        }
                        frames => reply.frames = frames,
                    }
                    ctx.apply(reply);
                }
                Outcome::Panicked(message) => return Ending::panicked(message),
                Outcome::TimedOut => return Ending::callback_timeout(),
            }
        }
    }

    /// Turns what the client sent into an event, answering pings and closes on the way.
    fn inbound<H: Handler>(
        &mut self,
        read: Result<Inbound, WireError>,
        ctx: &mut Context<H>,
    ) -> Event<H::Info> {
        let inbound = match read {
            Ok(inbound) => inbound,
            Err(error) => {
                self.count_memory_refusal(&error);
                return Event::end(Ending::from_wire(error));
            }
        };
        match inbound {
            Inbound::Text(text) => Event::Message(Message::Text(text)),
            Inbound::Binary(bytes) => Event::Message(Message::Binary(bytes)),
            Inbound::Ping(payload) => {
                // RFC 6455 §5.5.2; written with the next flush.
                self.writer.push_pong(&payload);
                self.dirty = true;
                // Counted like any push: a client that pings without reading is paused too.
                ctx.set_buffered(self.writer.buffered());
                Event::Control(Control::Ping(payload))
            }
            Inbound::Pong(payload) => Event::Control(Control::Pong(payload)),
            Inbound::Close(close) => {
                // Echo the client's close (RFC 6455 §5.5.1); `finish` flushes it.
                self.writer.push_close(
                    close
                        .as_ref()
                        .map(|(code, reason)| (*code, reason.as_str())),
                );
                self.dirty = true;
                let peer = close.map_or(
                    PeerClose {
                        code: 1005,
                        reason: String::new(),
                    },
                    |(code, reason)| PeerClose { code, reason },
                );
                Event::end(Ending::new(TerminateReason::Remote(Some(peer)), None))
            }
        }
    }

    /// Counts a connection closed because the server could not hold its message.
    fn count_memory_refusal(&self, error: &WireError) {
        let (Some(slot), WireError::OverBudget(_) | WireError::OutOfMemory(_)) =
            (&self.slot, error)
        else {
            return;
        };
        tracing::warn!(
            ?error,
            "closing with 1009: no room for this client's message"
        );
        let counters = slot.server().counters();
        let counter = match error {
            WireError::OverBudget(_) => &counters.closed_over_inbound_buffer,
            _ => &counters.allocation_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Parked with nothing to write: lets senders write to the socket past this connection
    /// (see `lane`). The first time, a plain TCP socket is split so its writing half can be
    /// shared.
    fn open_lane<H: Handler>(&mut self, ctx: &Context<H>, cx: &mut std::task::Context<'_>) {
        if self.lane == LaneUse::Never || self.dirty || !self.writer.lane_may_open() {
            return;
        }
        let Some((lane, handle)) = ctx.lane() else {
            return;
        };
        if self.lane == LaneUse::Untried {
            let io: &mut dyn Any = &mut self.io;
            match io.downcast_mut::<Socket>().and_then(Socket::share_writer) {
                Some(writer) => {
                    lane.set_socket(writer);
                    self.lane = LaneUse::Shared;
                }
                None => {
                    self.lane = LaneUse::Never;
                    return;
                }
            }
        }
        self.lane_open = lane.open(cx.waker(), || handle.stats().mailbox_len);
    }

    /// Woken: shuts the lane; what a sender's write left unwritten goes first.
    fn shut_lane<H: Handler>(&mut self, ctx: &mut Context<H>) {
        self.lane_open = false;
        let rest = ctx.lane().and_then(|(lane, _)| lane.shut());
        if let Some(rest) = rest {
            self.writer.push_encoded(rest);
            ctx.set_buffered(self.writer.buffered());
            self.dirty = true;
        }
    }

    /// Hands queued frames to the socket, within the write-buffer limit.
    fn write_outbox<H: Handler>(&mut self, ctx: &mut Context<H>) -> Result<(), Ending> {
        while let Some(frame) = ctx.pop_frame() {
            self.write_frame(frame, ctx)?;
        }
        ctx.clear_outbox();
        Ok(())
    }

    /// Hands one frame to the socket's buffer, within the write-buffer limit.
    fn write_frame<H: Handler>(
        &mut self,
        frame: Frame,
        ctx: &mut Context<H>,
    ) -> Result<(), Ending> {
        let buffered = self.writer.buffered();
        if buffered > 0 && buffered + frame.len() > self.config.max_write_buffer {
            let dropped = 1 + ctx.queued_frames() as u64;
            ctx.clear_outbox();
            ctx.add_dropped_frames(dropped);
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
        self.writer.push(frame);
        ctx.set_buffered(self.writer.buffered());
        self.dirty = true;
        Ok(())
    }

    /// Writes what is queued; shows handles (`Stats::buffered_bytes`) how much still waits.
    fn poll_flush<H: Handler>(
        &mut self,
        ctx: &mut Context<H>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Result<(), Ending>> {
        let flushed = self.writer.poll_flush(&mut self.io, cx);
        ctx.set_buffered(self.writer.buffered());
        match flushed {
            Poll::Ready(Ok(())) => {
                self.dirty = false;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(Ending::from_io(error))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Sends what is left and the close frame, waits for the client's close within the close
    /// timeout (or until the server's shutdown deadline), then counts what was lost.
    async fn finish<H: Handler>(&mut self, ctx: &mut Context<H>, close: Option<Close>) {
        // Dropping what is left (frames, infos) runs user code; `terminate` has run already.
        if let Err(message) = callback::catch_panic(self.close_and_count(ctx, close)).await {
            self.count_panic(&message);
        }
    }

    async fn close_and_count<H: Handler>(&mut self, ctx: &mut Context<H>, close: Option<Close>) {
        let deadline = self
            .slot
            .as_ref()
            .map(|slot| slot.server().deadline_token().clone());
        let sending_close = close.is_some();
        let close_timeout = self.config.close_timeout;
        let work = async {
            if let Some(close) = close {
                if self.write_outbox(ctx).is_ok() {
                    self.writer
                        .push_close(Some((close.code().as_u16(), close.reason())));
                    self.dirty = true;
                }
            }
            ctx.clear_outbox();
            if self.dirty && poll_fn(|cx| self.poll_flush(ctx, cx)).await.is_err() {
                return;
            }
            if sending_close {
                // RFC 6455 §7.1.1: wait for the client's close frame, then close TCP. What
                // arrives before it is not handled: the handler has already terminated.
                let limits = self.config.limits();
                while let Ok(inbound) =
                    poll_fn(|cx| self.reader.poll_next(&mut self.io, cx, limits)).await
                {
                    if matches!(inbound, Inbound::Close(_)) {
                        break;
                    }
                }
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

        let unflushed = self.writer.buffered() as u64;
        let dropped_infos = ctx.close_mailbox();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use std::mem::size_of;

    struct Echo;

    impl Handler for Echo {
        type Init = ();
        type Info = ();

        async fn init(_: (), _: &mut Context<Self>) -> Result<Self, Close> {
            Ok(Echo)
        }

        async fn handle_in(&mut self, message: Message, _: &mut Context<Self>) -> Reply {
            match message {
                Message::Text(text) => Reply::text(text),
                Message::Binary(bytes) => Reply::binary(bytes),
            }
        }
    }

    fn start() -> Box<Start<Echo>> {
        let request = http::Request::get("/echo").body(()).unwrap();
        Box::new(Start {
            init: (),
            request: Box::new(RequestInfo::from_request(&request)),
            config: Arc::default(),
            slot: None,
            deflate: None,
        })
    }

    /// Every byte of the connection's future is held by every idle connection (in tokio's
    /// task cell, rounded up to 128 bytes): a guard against it growing back.
    #[tokio::test]
    async fn the_connection_future_stays_small() {
        let (stream, _client) = tokio::io::duplex(64);
        let future = run(stream, start(), bytes::Bytes::new());
        let size = std::mem::size_of_val(&future);
        println!("connection future: {size} B");
        println!(
            "Connection {}, Context {}, Reader {}, Writer {}, Config {}, RequestInfo {}, \
             Sleep {}, Span {}",
            size_of::<Connection<tokio::io::DuplexStream>>(),
            size_of::<Context<Echo>>(),
            size_of::<Reader>(),
            size_of::<Writer>(),
            size_of::<Config>(),
            size_of::<RequestInfo>(),
            size_of::<Sleep>(),
            size_of::<tracing::Span>(),
        );
        let (stream, _client) = tokio::io::duplex(64);
        let mut conn = Connection {
            io: stream,
            reader: Reader::new(None),
            writer: Writer::default(),
            config: Arc::default(),
            slot: None,
            dirty: false,
            lane: LaneUse::Untried,
            lane_open: false,
        };
        let request = Box::new(RequestInfo::from_request(
            &http::Request::get("/").body(()).unwrap(),
        ));
        let mut ctx = Context::<Echo>::new(1, 1, request);
        let mut handler = Echo;
        {
            let serve = conn.serve(&mut handler, &mut ctx);
            println!("serve future: {} B", std::mem::size_of_val(&serve));
        }
        {
            let mut sleep = pin!(tokio::time::sleep_until(Instant::now()));
            let callback = handler.handle_in(Message::Text("x".into()), &mut ctx);
            println!("handle_in future: {} B", std::mem::size_of_val(&callback));
            let callback = pin!(callback);
            let guard = callback::guard_on(callback, None, sleep.as_mut());
            println!("guard_on future: {} B", std::mem::size_of_val(&guard));
            println!(
                "Event {}, Outcome<Reply> {}, Reply {}, Ending {}",
                size_of::<Event<()>>(),
                size_of::<Outcome<Reply>>(),
                size_of::<Reply>(),
                size_of::<Ending>()
            );
        }
        let run = conn.run(Box::new(()), &mut ctx);
        println!("run future: {} B", std::mem::size_of_val(&run));
        println!(
            "Clock {}, Option<Slot> {}, Socket {}",
            size_of::<Clock>(),
            size_of::<Option<Slot>>(),
            size_of::<crate::socket::Socket>()
        );
        assert!(size <= 768, "the connection future is {size} B");
    }
}
