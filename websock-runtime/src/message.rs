//! The messages a handler receives and the frames it pushes.
//!
//! These are our own types rather than tungstenite's, so a change of codec is not a breaking
//! change for users (the same choice axum makes).

use crate::SharedFrame;
use bytes::Bytes;
use std::{fmt, ops::Deref};
use tokio_tungstenite::tungstenite;

/// UTF-8 text backed by reference-counted bytes: cloning it does not copy the text.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(tungstenite::Utf8Bytes);

impl Utf8Bytes {
    /// Text from a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Self(tungstenite::Utf8Bytes::from_static(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The bytes underneath, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0.into()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that `bytes` are UTF-8, without copying them.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        tungstenite::Utf8Bytes::try_from(bytes).map(Self)
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Self(text.as_str().into())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A complete data message from the client: fragments are already reassembled and text is
/// already checked to be UTF-8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(bytes) => bytes.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A control frame from the client, passed to [`Handler::handle_control`](crate::Handler::handle_control)
/// after the runtime has already answered a ping with its pong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// A ping and its payload.
    Ping(Bytes),
    /// A pong and its payload.
    Pong(Bytes),
}

/// A frame a handler pushes to its client.
///
/// A ping or pong carries a [`ControlPayload`], at most 125 bytes by construction
/// (RFC 6455 §5.5), so an invalid control frame cannot be built: use [`Frame::ping`] and
/// [`Frame::pong`], which say when a payload is too long.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping.
    Ping(ControlPayload),
    /// A pong.
    Pong(ControlPayload),
    /// A frame many connections send, compressed once for all of them (see [`SharedFrame`]).
    Shared(SharedFrame),
}

impl Frame {
    /// A text frame.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary frame.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Self::Binary(bytes.into())
    }

    /// A ping frame, or an error when `payload` is longer than 125 bytes.
    pub fn ping(payload: impl Into<Bytes>) -> Result<Self, ControlFrameTooLong> {
        ControlPayload::new(payload).map(Self::Ping)
    }

    /// A pong frame, or an error when `payload` is longer than 125 bytes.
    pub fn pong(payload: impl Into<Bytes>) -> Result<Self, ControlFrameTooLong> {
        ControlPayload::new(payload).map(Self::Pong)
    }

    /// The payload's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(b) => b.len(),
            Self::Ping(p) | Self::Pong(p) => p.len(),
            Self::Shared(shared) => shared.frame().len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The payload of a ping or pong: at most [`MAX_LEN`](Self::MAX_LEN) (125) bytes, checked when
/// it is built (RFC 6455 §5.5: a control frame's payload must fit the 7-bit length).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ControlPayload(Bytes);

impl ControlPayload {
    /// The longest payload a control frame may carry.
    pub const MAX_LEN: usize = 125;

    /// The payload, or an error when it is longer than 125 bytes.
    pub fn new(payload: impl Into<Bytes>) -> Result<Self, ControlFrameTooLong> {
        let payload = payload.into();
        if payload.len() > Self::MAX_LEN {
            return Err(ControlFrameTooLong {
                len: payload.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(payload))
    }

    /// An empty payload.
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Bytes> for ControlPayload {
    type Error = ControlFrameTooLong;
    fn try_from(payload: Bytes) -> Result<Self, Self::Error> {
        Self::new(payload)
    }
}

impl Deref for ControlPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// A ping or pong payload over 125 bytes, or a close reason over 123 bytes: a control frame
/// that RFC 6455 §5.5 does not allow, refused where it was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlFrameTooLong {
    len: usize,
    max: usize,
}

impl ControlFrameTooLong {
    pub(crate) fn new(len: usize, max: usize) -> Self {
        Self { len, max }
    }

    /// The length that was refused, in bytes.
    pub fn length(&self) -> usize {
        self.len
    }

    /// The most that fits, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl fmt::Display for ControlFrameTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes do not fit in a control frame: at most {} (RFC 6455 §5.5)",
            self.len, self.max
        )
    }
}

impl std::error::Error for ControlFrameTooLong {}

impl From<Message> for Frame {
    fn from(message: Message) -> Self {
        match message {
            Message::Text(text) => Self::Text(text),
            Message::Binary(bytes) => Self::Binary(bytes),
        }
    }
}

impl From<Utf8Bytes> for Frame {
    fn from(text: Utf8Bytes) -> Self {
        Self::Text(text)
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self::Text(text.into())
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Self {
        Self::Text(text.into())
    }
}

impl From<Bytes> for Frame {
    fn from(bytes: Bytes) -> Self {
        Self::Binary(bytes)
    }
}

impl From<Vec<u8>> for Frame {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Binary(bytes.into())
    }
}
