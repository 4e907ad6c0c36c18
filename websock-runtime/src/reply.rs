//! What a callback answers: keep going, push frames, stop.

use crate::{Close, Frame, Utf8Bytes};
use bytes::Bytes;
use std::fmt;

/// The result of a callback, as WebSock's `{:ok, state}`, `{:push, frames, state}` and
/// `{:stop, reason, close, frames, state}`.
///
/// ```
/// use websock_runtime::{Close, CloseCode, Reply};
///
/// let keep_going = Reply::ok();
/// let echo = Reply::text("hello");
/// let bye = Reply::text("bye").then_close(Close::new(CloseCode::NORMAL, "done"));
/// let failed = Reply::error("database unreachable"); // closes with 1011
/// # let _ = (keep_going, echo, bye, failed);
/// ```
#[must_use = "a Reply does nothing unless returned from a callback"]
#[derive(Debug, Default)]
pub struct Reply {
    pub(crate) frames: Frames,
    pub(crate) stop: Option<Stop>,
}

/// Frames to push; one frame needs no allocation.
#[derive(Debug, Default)]
pub(crate) enum Frames {
    #[default]
    None,
    One(Frame),
    Many(Vec<Frame>),
}

impl Frames {
    fn push(&mut self, frame: Frame) {
        *self = match std::mem::take(self) {
            Self::None => Self::One(frame),
            Self::One(first) => Self::Many(vec![first, frame]),
            Self::Many(mut frames) => {
                frames.push(frame);
                Self::Many(frames)
            }
        };
    }
}

/// Why a handler stops.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A deliberate stop: the connection closes with this frame, `terminate` gets `Normal`.
    Close(Close),
    /// A failure: the connection closes with 1011, `terminate` gets `Error`.
    Error(String),
}

impl Reply {
    /// Keep going, push nothing.
    pub fn ok() -> Self {
        Self::default()
    }

    /// Push one frame.
    pub fn push(frame: impl Into<Frame>) -> Self {
        Self {
            frames: Frames::One(frame.into()),
            stop: None,
        }
    }

    /// Push several frames, in order.
    pub fn push_all(frames: impl IntoIterator<Item = Frame>) -> Self {
        Self {
            frames: Frames::Many(frames.into_iter().collect()),
            stop: None,
        }
    }

    /// Push a text frame.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::push(Frame::Text(text.into()))
    }

    /// Push a binary frame.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self::push(Frame::Binary(bytes.into()))
    }

    /// Stop normally: close with 1000, then `terminate(Normal)`.
    pub fn stop() -> Self {
        Self::close(Close::normal())
    }

    /// Stop normally with the given close frame (any [`CloseCode`](crate::CloseCode)).
    pub fn close(close: impl Into<Close>) -> Self {
        Self {
            frames: Frames::None,
            stop: Some(Stop::Close(close.into())),
        }
    }

    /// Stop because of an error: logged, close with 1011, then `terminate(Error)`.
    pub fn error(error: impl fmt::Display) -> Self {
        Self {
            frames: Frames::None,
            stop: Some(Stop::Error(error.to_string())),
        }
    }

    /// Push one more frame after those already in this reply.
    pub fn and_push(mut self, frame: impl Into<Frame>) -> Self {
        self.frames.push(frame.into());
        self
    }

    /// Stop normally (1000) once the frames of this reply are sent.
    pub fn then_stop(self) -> Self {
        self.then_close(Close::normal())
    }

    /// Stop with `close` once the frames of this reply are sent.
    pub fn then_close(mut self, close: impl Into<Close>) -> Self {
        self.stop = Some(Stop::Close(close.into()));
        self
    }

    /// Whether this reply stops the connection.
    pub fn is_stop(&self) -> bool {
        self.stop.is_some()
    }
}

/// Anything a callback of a `#[websock_handler]` may return.
///
/// `()` keeps going, text types push a text frame, byte types a binary frame,
/// [`Json<T>`](crate::Json) and `serde_json::Value` push their JSON as a text frame, `Option`
/// pushes when `Some`, and `Result` stops with 1011 on `Err` (the error is logged).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply a websock callback can return",
    label = "this return type is not a reply",
    note = "return `Reply`, `()`, `String`/`&str` (push text), `Vec<u8>`/`Bytes` (push binary), `Json<T: Serialize>`/`serde_json::Value` (push JSON text), `Frame`, `Option<_>` or `Result<_, E: Display>` of those, or implement `IntoReply` for your type"
)]
pub trait IntoReply {
    /// Converts into the reply.
    fn into_reply(self) -> Reply;
}

impl IntoReply for Reply {
    fn into_reply(self) -> Reply {
        self
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Reply {
        Reply::ok()
    }
}

impl IntoReply for Frame {
    fn into_reply(self) -> Reply {
        Reply::push(self)
    }
}

impl IntoReply for Vec<Frame> {
    fn into_reply(self) -> Reply {
        Reply::push_all(self)
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for &str {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for Utf8Bytes {
    fn into_reply(self) -> Reply {
        Reply::text(self)
    }
}

impl IntoReply for Vec<u8> {
    fn into_reply(self) -> Reply {
        Reply::binary(self)
    }
}

impl IntoReply for Bytes {
    fn into_reply(self) -> Reply {
        Reply::binary(self)
    }
}

impl IntoReply for Close {
    fn into_reply(self) -> Reply {
        Reply::close(self)
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Reply {
        self.map_or_else(Reply::ok, IntoReply::into_reply)
    }
}

impl<T: IntoReply, E: fmt::Display> IntoReply for Result<T, E> {
    fn into_reply(self) -> Reply {
        match self {
            Ok(value) => value.into_reply(),
            Err(error) => Reply::error(error),
        }
    }
}
