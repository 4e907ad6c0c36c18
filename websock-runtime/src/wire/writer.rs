//! Writing our frames: gathered in one buffer, written with as few syscalls as the socket allows.

use super::header::{self, OpCode};
use crate::Frame;
use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::AsyncWrite;

/// An emptied buffer larger than this is freed rather than kept for the next frames, so a
/// connection that once sent a large message does not hold its size while idle.
const KEEP_CAPACITY: usize = 16 << 10;
/// Written bytes at the front of a buffer that is still being written are dropped past this.
const COMPACT_AFTER: usize = 64 << 10;

/// The writing half of a connection.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
    /// How much of `out` the socket has taken.
    written: usize,
    /// Our close frame is queued: nothing may follow it (RFC 6455 §5.5.1).
    closed: bool,
}

impl Writer {
    /// Bytes queued and not yet taken by the socket.
    pub(crate) fn buffered(&self) -> usize {
        self.out.len() - self.written
    }

    /// Queues a data or control frame.
    pub(crate) fn push(&mut self, frame: &Frame) {
        let (opcode, payload) = match frame {
            Frame::Text(text) => (OpCode::Text, text.as_bytes()),
            Frame::Binary(bytes) => (OpCode::Binary, &bytes[..]),
            Frame::Ping(payload) => (OpCode::Ping, payload.as_bytes()),
            Frame::Pong(payload) => (OpCode::Pong, payload.as_bytes()),
        };
        self.push_raw(opcode, &[], payload);
    }

    /// Queues the reply to a client's ping.
    pub(crate) fn push_pong(&mut self, payload: &[u8]) {
        self.push_raw(OpCode::Pong, &[], payload);
    }

    /// Queues a close frame; `None` sends one without a code (the reply to an empty close).
    pub(crate) fn push_close(&mut self, close: Option<(u16, &str)>) {
        match close {
            Some((code, reason)) => {
                self.push_raw(OpCode::Close, &code.to_be_bytes(), reason.as_bytes());
            }
            None => self.push_raw(OpCode::Close, &[], &[]),
        }
        self.closed = true;
    }

    fn push_raw(&mut self, opcode: OpCode, prefix: &[u8], payload: &[u8]) {
        if self.closed {
            return;
        }
        let len = prefix.len() + payload.len();
        // RFC 6455 §5.5: `ControlPayload` and `Close` make longer ones impossible to build.
        debug_assert!(
            !matches!(opcode, OpCode::Ping | OpCode::Pong | OpCode::Close) || len <= 125,
            "a {opcode:?} frame of {len} bytes"
        );
        self.out.reserve(header::MAX_LEN + len);
        header::write(&mut self.out, opcode, len);
        self.out.extend_from_slice(prefix);
        self.out.extend_from_slice(payload);
    }

    /// Writes everything queued, then flushes the stream (a TLS stream holds a record back
    /// until then).
    pub(crate) fn poll_flush<S>(&mut self, io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while self.written < self.out.len() {
            match Pin::new(&mut *io).poll_write(cx, &self.out[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    if self.written >= COMPACT_AFTER {
                        self.out.drain(..self.written);
                        self.written = 0;
                    }
                    return Poll::Pending;
                }
            }
        }
        self.written = 0;
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        } else {
            self.out.clear();
        }
        ready!(Pin::new(io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn frames_follow_each_other_and_nothing_follows_a_close() {
        let mut writer = Writer::default();
        writer.push(&Frame::text("hi"));
        writer.push(&Frame::Binary(Bytes::from(vec![7; 200])));
        writer.push_close(Some((1000, "bye")));
        writer.push(&Frame::text("late"));
        let out = &writer.out;
        assert_eq!(&out[..4], &[0x81, 2, b'h', b'i']);
        assert_eq!(&out[4..8], &[0x82, 126, 0, 200]);
        assert_eq!(&out[208..], &[0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
        assert_eq!(writer.buffered(), out.len());
    }
}
