//! The context every callback gets: this connection's handle, its timers, its request, and the
//! frames pushed so far.

use crate::{
    Close, Frame, Handle, Handler, RequestInfo, Stats,
    handle::{Mailbox, Shared},
    lane::Lane,
    reply::{Frames, Reply, Stop},
    timer::{Timer, Timers},
};
use http::HeaderMap;
use std::{
    collections::VecDeque,
    fmt,
    net::SocketAddr,
    sync::{
        Arc, OnceLock, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio::time::Instant;

/// A connection's handle and the mailbox it sends to.
type HandleCell<H> = Box<(Handle<H>, Mailbox<<H as Handler>::Info>)>;

/// Frames pushed and not yet written, and `send_after` timers.
struct Queued<I> {
    outbox: VecDeque<Frame>,
    timers: Timers<I>,
}

/// What a callback can do besides returning a [`Reply`]: push frames, schedule info messages to
/// itself, stop, and read about its connection.
pub struct Context<H: Handler> {
    id: u64,
    // What `stats` reports until a handle is made; from then on the handle's shared counters
    // are kept too. Here rather than behind an `Arc` made for every connection: only
    // connections that hand out a handle need one.
    buffered: usize,
    dropped_frames: u64,
    mailbox_capacity: usize,
    // The mailbox is made when a handle is first asked for: most connections of a plain
    // request/response endpoint never need one, and it is the largest part of an idle one.
    // One cell for both, boxed: every byte here is paid by every idle connection.
    handle: OnceLock<HandleCell<H>>,
    request: Box<RequestInfo>,
    // Made with the first pushed frame or timer: a reply of one frame goes straight to the
    // socket's buffer, most connections never set a timer, and inline these 64 bytes would be
    // paid by every idle connection.
    queued: Option<Box<Queued<H::Info>>>,
    // Boxed: a stop happens once, and its 32 bytes would be paid by every idle connection.
    pub(crate) stop: Option<Box<Stop>>,
}

impl<H: Handler> fmt::Debug for Context<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id)
            .field("path", &self.request.path())
            .field("queued_frames", &self.queued_frames())
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Context<H> {
    pub(crate) fn new(id: u64, mailbox_capacity: usize, request: Box<RequestInfo>) -> Self {
        Self {
            id,
            buffered: 0,
            dropped_frames: 0,
            mailbox_capacity,
            handle: OnceLock::new(),
            request,
            queued: None,
            stop: None,
        }
    }

    /// A handle to this connection, to give to other tasks (the Rust `pid`).
    pub fn handle(&self) -> &Handle<H> {
        &self
            .handle
            .get_or_init(|| {
                let shared = Arc::new(Shared {
                    id: self.id,
                    buffered: AtomicUsize::new(self.buffered),
                    dropped_frames: AtomicU64::new(self.dropped_frames),
                    ..Shared::default()
                });
                Box::new(Handle::new(self.mailbox_capacity, shared))
            })
            .0
    }

    /// Shows [`stats`](Self::stats) and handles how many bytes wait to be written.
    pub(crate) fn set_buffered(&mut self, bytes: usize) {
        self.buffered = bytes;
        if let Some(cell) = self.handle.get() {
            cell.0.shared().buffered.store(bytes, Ordering::Relaxed);
        }
    }

    /// Counts frames dropped because the client did not read.
    pub(crate) fn add_dropped_frames(&mut self, count: u64) {
        self.dropped_frames += count;
        if let Some(cell) = self.handle.get() {
            let shared = cell.0.shared();
            shared.dropped_frames.fetch_add(count, Ordering::Relaxed);
        }
    }

    /// Queues a frame; frames are written in order, after the callback returns, with one flush.
    pub fn push(&mut self, frame: impl Into<Frame>) {
        self.queued().outbox.push_back(frame.into());
    }

    /// Delivers `info` to this connection's `handle_info` after `delay`, unless cancelled first
    /// with [`cancel_timer`](Self::cancel_timer). Timers live and die with the connection.
    pub fn send_after(&mut self, delay: Duration, info: impl Into<H::Info>) -> Timer {
        self.queued().timers.insert(delay, info.into())
    }

    /// Cancels a timer; `true` if it had not fired yet (then it never will).
    pub fn cancel_timer(&mut self, timer: Timer) -> bool {
        self.queued
            .as_mut()
            .is_some_and(|queued| queued.timers.cancel(timer))
    }

    /// Stops the connection after this callback with `close` (`terminate` gets `Normal`);
    /// frames pushed before are sent first.
    pub fn stop(&mut self, close: impl Into<Close>) {
        self.stop = Some(Box::new(Stop::Close(close.into())));
    }

    /// The HTTP request that opened this connection.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    /// The request path.
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The path parameter `name` matched by the router.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.request.param(name)
    }

    /// The query parameter `name`, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        self.request.query(name)
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The client's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.request.peer_addr()
    }

    /// The subprotocol chosen in the handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.request
            .selected_protocol
            .as_ref()
            .and_then(|p| p.to_str().ok())
    }

    /// This connection's queues right now.
    pub fn stats(&self) -> Stats {
        match self.handle.get() {
            Some(cell) => cell.0.stats(),
            None => Stats {
                buffered_bytes: self.buffered,
                mailbox_len: 0,
                dropped_frames: self.dropped_frames,
            },
        }
    }

    /// The fast lane and the handle's view of the mailbox, once a handle was made.
    pub(crate) fn lane(&self) -> Option<(&Lane, &Handle<H>)> {
        self.handle
            .get()
            .map(|cell| (&cell.0.shared().lane, &cell.0))
    }

    /// The mailbox, once a handle was made.
    pub(crate) fn mailbox(&mut self) -> Option<&mut Mailbox<H::Info>> {
        self.handle.get_mut().map(|cell| &mut cell.1)
    }

    /// Refuses further infos and closes, and drops what is queued; returns how many infos were
    /// dropped. The close sender goes too: it holds this task's waker, which would otherwise
    /// keep the finished task's memory alive for as long as someone keeps a handle.
    pub(crate) fn close_mailbox(&mut self) -> u64 {
        let dropped = self.mailbox().map_or(0, Mailbox::close_and_drain);
        if let Some(cell) = self.handle.get() {
            let close = cell.0.shared().close.lock();
            drop(close.unwrap_or_else(PoisonError::into_inner).take());
        }
        dropped
    }

    /// Moves a reply's frames into the outbox and remembers its stop.
    pub(crate) fn apply(&mut self, reply: Reply) {
        match reply.frames {
            Frames::None => {}
            Frames::One(frame) => self.queued().outbox.push_back(frame),
            Frames::Many(frames) => self.queued().outbox.extend(frames),
        }
        if let Some(stop) = reply.stop {
            self.stop.get_or_insert_with(|| Box::new(stop));
        }
    }

    fn queued(&mut self) -> &mut Queued<H::Info> {
        self.queued.get_or_insert_with(|| {
            Box::new(Queued {
                outbox: VecDeque::new(),
                timers: Timers::default(),
            })
        })
    }

    /// How many pushed frames wait in the outbox.
    pub(crate) fn queued_frames(&self) -> usize {
        self.queued.as_ref().map_or(0, |queued| queued.outbox.len())
    }

    /// The next frame of the outbox.
    pub(crate) fn pop_frame(&mut self) -> Option<Frame> {
        self.queued.as_mut()?.outbox.pop_front()
    }

    /// Drops the frames of the outbox; a burst that grew it gives the memory back, so an idle
    /// connection holds none.
    /// The connection parks with nothing to write: the outbox's buffer goes back to the
    /// allocator, so that a burst (a channel socket's join storm, say) leaves nothing behind
    /// in an idle connection. A busy connection keeps reusing it.
    pub(crate) fn release_outbox(&mut self) {
        if let Some(queued) = &mut self.queued {
            if queued.outbox.is_empty() && queued.outbox.capacity() > 0 {
                queued.outbox = VecDeque::new();
            }
        }
    }

    pub(crate) fn clear_outbox(&mut self) {
        if let Some(queued) = &mut self.queued {
            if queued.outbox.capacity() > 64 {
                queued.outbox = VecDeque::new();
            } else {
                queued.outbox.clear();
            }
        }
    }

    /// When the next `send_after` timer is due.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.queued.as_ref()?.timers.next_deadline()
    }

    /// The earliest timer due at `now`, if any.
    pub(crate) fn pop_due_timer(&mut self, now: Instant) -> Option<H::Info> {
        self.queued.as_mut()?.timers.pop_due(now)
    }
}
