//! The handle other tasks hold to talk to one connection: the Rust `pid`.

use crate::{Close, Frame, Handler, lane::Lane, wire::lane_frame};
use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};
use tokio::sync::{mpsc, oneshot};

/// A connection's receiving end: info messages in a bounded queue, and beside it the one close
/// a handle may ask for, so a full queue can never hold the close up (an Erlang exit signal
/// does not wait in the mailbox either).
pub(crate) struct Mailbox<I> {
    infos: mpsc::Receiver<I>,
    /// `None` once a close arrived or every handle is gone.
    close: Option<oneshot::Receiver<Close>>,
}

impl<I> Mailbox<I> {
    /// A mailbox for `capacity` infos, its info sender, and its close sender.
    fn new(capacity: usize) -> (mpsc::Sender<I>, oneshot::Sender<Close>, Self) {
        let (tx, infos) = mpsc::channel(capacity);
        let (close_tx, close) = oneshot::channel();
        let mailbox = Self {
            infos,
            close: Some(close),
        };
        (tx, close_tx, mailbox)
    }

    /// The close a handle asked for, if any.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Close> {
        let Some(receiver) = &mut self.close else {
            return Poll::Pending;
        };
        match Pin::new(receiver).poll(cx) {
            Poll::Ready(received) => {
                // A oneshot may not be polled again once it answered.
                self.close = None;
                match received {
                    Ok(close) => Poll::Ready(close),
                    Err(_) => Poll::Pending,
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next info.
    pub(crate) fn poll_info(&mut self, cx: &mut Context<'_>) -> Poll<Option<I>> {
        self.infos.poll_recv(cx)
    }

    /// Refuses further sends and drops what is queued; returns how many infos were dropped.
    pub(crate) fn close_and_drain(&mut self) -> u64 {
        self.infos.close();
        self.close = None;
        let mut dropped = 0;
        while self.infos.try_recv().is_ok() {
            dropped += 1;
        }
        dropped
    }
}

/// Counters one connection shares with its handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) id: u64,
    /// Payload bytes pushed but not yet written to the socket.
    pub(crate) buffered: AtomicUsize,
    /// Frames dropped because the client did not read (see `Config::max_write_buffer`).
    pub(crate) dropped_frames: AtomicU64,
    /// The handles' side of the mailbox's close: the first close taken out wins. Here rather
    /// than in each handle, so a handle stays two pointers.
    pub(crate) close: Mutex<Option<oneshot::Sender<Close>>>,
    /// Where senders write a frame straight to the socket while the connection is idle.
    pub(crate) lane: Lane,
}

/// A cloneable handle to one connection, usable from any task: send it info messages, ask it to
/// close, see whether it is alive and read its stats.
///
/// ```no_run
/// # use websock_runtime::{Handle, Handler};
/// # async fn f<H: Handler>(handle: Handle<H>, info: H::Info) {
/// match handle.try_send(info) {
///     Ok(()) => {}
///     Err(e) => eprintln!("not delivered: {e}"), // full or closed: the value comes back in `e`
/// }
/// # }
/// ```
pub struct Handle<H: Handler> {
    tx: mpsc::Sender<H::Info>,
    shared: Arc<Shared>,
}

impl<H: Handler> Clone for Handle<H> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<H: Handler> fmt::Debug for Handle<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.shared.id)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl<H: Handler> PartialEq for Handle<H> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<H: Handler> Eq for Handle<H> {}

/// Why a message did not reach a connection's mailbox; the message comes back.
#[derive(PartialEq, Eq)]
pub enum SendError<T> {
    /// The mailbox is full (see `Config::mailbox_capacity`).
    Full(T),
    /// The connection has ended.
    Closed(T),
}

impl<T> SendError<T> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(value) | Self::Closed(value) => value,
        }
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the connection's mailbox is full"),
            Self::Closed(_) => f.write_str("the connection has ended"),
        }
    }
}

impl<T> std::error::Error for SendError<T> {}

/// A snapshot of one connection's queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Payload bytes pushed to the client but not yet written to its socket.
    pub buffered_bytes: usize,
    /// Messages waiting in the mailbox.
    pub mailbox_len: usize,
    /// Frames dropped because the client stopped reading.
    pub dropped_frames: u64,
}

impl<H: Handler> Handle<H> {
    /// A handle and the mailbox it sends to.
    pub(crate) fn new(capacity: usize, shared: Arc<Shared>) -> (Self, Mailbox<H::Info>) {
        let (tx, close, mailbox) = Mailbox::new(capacity);
        *shared.close.lock().unwrap_or_else(PoisonError::into_inner) = Some(close);
        (Self { tx, shared }, mailbox)
    }

    /// The counters this handle shares with its connection.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// A number that identifies this connection within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Sends `info` to the connection's `handle_info` if its mailbox has room.
    pub fn try_send(&self, info: impl Into<H::Info>) -> Result<(), SendError<H::Info>> {
        self.tx.try_send(info.into()).map_err(|error| match error {
            mpsc::error::TrySendError::Full(info) => SendError::Full(info),
            mpsc::error::TrySendError::Closed(info) => SendError::Closed(info),
        })?;
        self.shared.lane.mark_queued();
        Ok(())
    }

    /// Sends `info`, waiting for room in the mailbox; fails only if the connection has ended.
    pub async fn send(&self, info: impl Into<H::Info>) -> Result<(), SendError<H::Info>> {
        self.tx
            .send(info.into())
            .await
            .map_err(|error| SendError::Closed(error.0))?;
        self.shared.lane.mark_queued();
        Ok(())
    }

    /// Writes a text or binary `frame` straight to the client's socket, without waking the
    /// connection, when the connection is idle: parked, with nothing waiting to be written and
    /// nothing in its mailbox. This is the fast lane a channel broadcast takes to the sockets
    /// of its topic (encoded once, written by the broadcaster, as uWebSockets' `publish`
    /// does).
    ///
    /// `false`, with nothing written, when the connection is busy or has messages queued,
    /// when its socket is not plain TCP (TLS, HTTP/2) or compresses (permessage-deflate),
    /// or for a control frame: send it through the mailbox then, to `handle_info`. A frame
    /// written here never overtakes what was queued before it, and what is queued after it
    /// comes after it. The connection takes part in the lane once it has handed out a handle
    /// and parked with nothing to do.
    pub fn try_write_frame(&self, frame: &Frame) -> bool {
        let mut head = [0; 10];
        match lane_frame(frame, &mut head) {
            Some((len, payload)) => self.shared.lane.try_write(&head[..len], payload),
            None => false,
        }
    }

    /// Asks the connection to close with `close`; `terminate` gets `Normal`.
    ///
    /// The close does not wait in the mailbox: it is taken as soon as the callback running now
    /// returns, ahead of the infos still queued, which are dropped and counted
    /// ([`Metrics::dropped_infos`](crate::Metrics)), as an exit signal overtakes an Erlang
    /// process's mailbox. So it works when the mailbox is full. Only the first close asked for
    /// is sent; a later one returns `Ok` and is dropped. Fails with
    /// [`SendError::Closed`] only when the connection has ended; never with `Full`.
    pub fn close(&self, close: impl Into<Close>) -> Result<(), SendError<Close>> {
        let close = close.into();
        let sender = self
            .shared
            .close
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match sender {
            Some(sender) => sender.send(close).map_err(SendError::Closed),
            None if self.is_alive() => Ok(()),
            None => Err(SendError::Closed(close)),
        }
    }

    /// Whether the connection is still running.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// The connection's queues right now.
    pub fn stats(&self) -> Stats {
        Stats {
            buffered_bytes: self.shared.buffered.load(Ordering::Relaxed),
            mailbox_len: self.tx.max_capacity() - self.tx.capacity(),
            dropped_frames: self.shared.dropped_frames.load(Ordering::Relaxed),
        }
    }
}
