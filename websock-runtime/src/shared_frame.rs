//! A frame sent to many connections: compressed once for all of them.

use crate::Frame;
use bytes::Bytes;
use std::{
    fmt,
    sync::{Arc, Mutex},
};

/// A frame many connections send, as a channel broadcast is: cloning it shares it, and with
/// permessage-deflate (no context takeover, the default) it is compressed once for every
/// connection with the same compression parameters, not once per connection.
///
/// ```
/// use websock_runtime::{Frame, SharedFrame};
///
/// let frame = Frame::from(SharedFrame::new(r#"{"event":"tick"}"#));
/// # let _ = frame;
/// ```
///
/// Without compression it is sent as the frame it wraps.
#[derive(Clone)]
pub struct SharedFrame(Arc<Inner>);

struct Inner {
    frame: Frame,
    compressed: Mutex<Vec<Encoding>>,
}

/// (level, window bits): what makes two compressed encodings differ.
type Key = (u8, u8);

/// The whole compressed frame (header and payload) for a key; `None` when it is sent
/// uncompressed (short, or not smaller compressed).
type Encoding = (Key, Option<Bytes>);

impl SharedFrame {
    /// Shares `frame` (a shared frame stays as it is).
    pub fn new(frame: impl Into<Frame>) -> Self {
        match frame.into() {
            Frame::Shared(shared) => shared,
            frame => Self(Arc::new(Inner {
                frame,
                compressed: Mutex::new(Vec::new()),
            })),
        }
    }

    /// The frame it sends.
    pub fn frame(&self) -> &Frame {
        &self.0.frame
    }

    /// The compressed encoding for `key`, made by `encode` on first use. The lock is held
    /// while compressing, so connections on other threads wait for the one encoding instead
    /// of making their own.
    pub(crate) fn compressed(
        &self,
        key: Key,
        encode: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        let mut encodings = self
            .0
            .compressed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, encoded)) = encodings.iter().find(|(k, _)| *k == key) {
            return encoded.clone();
        }
        let encoded = encode();
        encodings.push((key, encoded.clone()));
        encoded
    }
}

impl fmt::Debug for SharedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedFrame").field(&self.0.frame).finish()
    }
}

impl PartialEq for SharedFrame {
    fn eq(&self, other: &Self) -> bool {
        self.0.frame == other.0.frame
    }
}

impl Eq for SharedFrame {}

impl From<SharedFrame> for Frame {
    fn from(shared: SharedFrame) -> Self {
        Frame::Shared(shared)
    }
}
