//! The handle other tasks hold to talk to one connection: the Rust `pid`.

use crate::{Close, Handler};
use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};
use tokio::sync::mpsc;

/// What arrives in a connection's mailbox.
pub(crate) enum Mail<I> {
    Info(I),
    // Boxed: the mailbox allocates its slots up front, so the rare variant stays pointer-sized.
    Close(Box<Close>),
}

/// Counters one connection shares with its handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) id: u64,
    /// Payload bytes pushed but not yet written to the socket.
    pub(crate) buffered: AtomicUsize,
    /// Frames dropped because the client did not read (see `Config::max_write_buffer`).
    pub(crate) dropped_frames: AtomicU64,
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
    tx: mpsc::Sender<Mail<H::Info>>,
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
    pub(crate) fn new(tx: mpsc::Sender<Mail<H::Info>>, shared: Arc<Shared>) -> Self {
        Self { tx, shared }
    }

    /// A number that identifies this connection within the process.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Sends `info` to the connection's `handle_info` if its mailbox has room.
    pub fn try_send(&self, info: impl Into<H::Info>) -> Result<(), SendError<H::Info>> {
        self.tx
            .try_send(Mail::Info(info.into()))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(mail) => SendError::Full(mail.into_info()),
                mpsc::error::TrySendError::Closed(mail) => SendError::Closed(mail.into_info()),
            })
    }

    /// Sends `info`, waiting for room in the mailbox; fails only if the connection has ended.
    pub async fn send(&self, info: impl Into<H::Info>) -> Result<(), SendError<H::Info>> {
        self.tx
            .send(Mail::Info(info.into()))
            .await
            .map_err(|error| SendError::Closed(error.0.into_info()))
    }

    /// Asks the connection to close with `close` once the messages already in its mailbox are
    /// handled; `terminate` gets `Normal`.
    pub fn close(&self, close: impl Into<Close>) -> Result<(), SendError<Close>> {
        self.tx
            .try_send(Mail::Close(Box::new(close.into())))
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(mail) => SendError::Full(mail.into_close()),
                mpsc::error::TrySendError::Closed(mail) => SendError::Closed(mail.into_close()),
            })
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

impl<I> Mail<I> {
    fn into_info(self) -> I {
        match self {
            Self::Info(info) => info,
            Self::Close(_) => unreachable!("only infos are sent through this path"),
        }
    }

    fn into_close(self) -> Close {
        match self {
            Self::Close(close) => *close,
            Self::Info(_) => unreachable!("only closes are sent through this path"),
        }
    }
}
