//! The handler contract: Elixir's WebSock behaviour, typed.

use crate::{Close, Context, Control, Message, Reply, close::PeerClose};
use std::{fmt, future::Future};

/// A WebSocket connection's behaviour, as Elixir's `WebSock`: one value per connection, owned by
/// that connection's task, so every callback takes `&mut self` and needs no lock.
///
/// Most users write this through `#[websock_handler]`; implementing it by hand is just as
/// supported. Every callback may be `async`; while one runs, its connection reads nothing else.
///
/// ```
/// use websock_runtime::{Context, Close, Handler, Message, Reply};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type Init = ();
///     type Info = std::convert::Infallible;
///
///     async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, Close> {
///         Ok(Echo)
///     }
///
///     async fn handle_in(&mut self, message: Message, _ctx: &mut Context<Self>) -> Reply {
///         Reply::push(message)
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a websock handler",
    note = "put `#[websock_handler]` on an `impl {Self}` block, or implement `websock::Handler` by hand"
)]
pub trait Handler: Sized + Send + 'static {
    /// What the upgrade passes to [`init`](Handler::init): WebSock's `state` argument (path
    /// parameters, the authenticated user, anything).
    type Init: Send + 'static;

    /// The messages other tasks send to this connection through its [`Handle`](crate::Handle)
    /// or [`Context::send_after`].
    type Info: Send + 'static;

    /// Runs after the 101 response: builds the handler, or refuses with a close frame. It may
    /// push frames and schedule timers through `ctx`.
    fn init(
        init: Self::Init,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Result<Self, Close>> + Send;

    /// A complete data message from the client.
    fn handle_in(
        &mut self,
        message: Message,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Reply> + Send;

    /// A message from another task or a timer. Ignored by default.
    fn handle_info(
        &mut self,
        info: Self::Info,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Reply> + Send {
        let _ = (info, ctx);
        std::future::ready(Reply::ok())
    }

    /// A ping or pong from the client, after the runtime has already answered a ping with its
    /// pong. Ignored by default.
    fn handle_control(
        &mut self,
        control: Control,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = Reply> + Send {
        let _ = (control, ctx);
        std::future::ready(Reply::ok())
    }

    /// Called exactly once when the connection ends, whatever the cause (but not when `init`
    /// refused the connection: there is no handler then). Frames pushed here are not sent.
    fn terminate(
        &mut self,
        reason: TerminateReason,
        ctx: &mut Context<Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, ctx);
        std::future::ready(())
    }
}

/// Why a connection ended, as passed to [`Handler::terminate`].
#[derive(Debug)]
#[non_exhaustive]
pub enum TerminateReason {
    /// The handler stopped (a reply that stops, or [`Context::stop`]).
    Normal,
    /// The client closed: with its close frame, or `None` when the TCP connection dropped
    /// without one.
    Remote(Option<PeerClose>),
    /// The server is shutting down.
    Shutdown,
    /// A timeout elapsed.
    Timeout(Timeout),
    /// Something failed: the handler, the protocol, or the socket.
    Error(Error),
}

/// Which timeout ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// No frame arrived from the client for the idle timeout (closed with 1001).
    Idle,
    /// A callback ran longer than the callback timeout (closed with 1011).
    Callback,
}

/// What went wrong on a connection.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// The kind of an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The handler returned an error ([`Reply::error`], or `Err` through `IntoReply`).
    Handler,
    /// A callback panicked.
    Panic,
    /// The client broke RFC 6455 (closed with 1002).
    Protocol,
    /// A text message was not UTF-8 (closed with 1007).
    InvalidUtf8,
    /// A frame or message was over its limit (closed with 1009).
    TooBig,
    /// The client did not read: its write buffer passed the limit (closed with 1008).
    SlowReader,
    /// The socket failed.
    Io,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message: the handler's error text, the panic payload, or the protocol error.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ErrorKind::Handler => "handler error",
            ErrorKind::Panic => "handler panicked",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::InvalidUtf8 => "invalid UTF-8",
            ErrorKind::TooBig => "message too big",
            ErrorKind::SlowReader => "client does not read",
            ErrorKind::Io => "socket error",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

impl std::error::Error for Error {}
