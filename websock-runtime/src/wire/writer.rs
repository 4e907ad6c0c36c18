//! Writing our frames: a queue of byte segments, written with as few syscalls as the socket
//! allows and advanced in O(1) however slowly the client reads.
//!
//! Small frames are copied into one buffer (the tail), so the echo of a tiny message is one
//! write. A large payload that is already [`Bytes`] is queued as it is, behind its header: no
//! copy, and one encoded frame can be shared by many connections
//! ([`push_encoded`](Writer::push_encoded)). A write that takes part of the queue drops the
//! segments it finished and moves a pointer into the next one; nothing left is ever moved.
//!
//! The queue and the tail are borrowed from the thread's spares while something waits to be
//! written (`pending_pool`), so an idle connection holds neither.

use super::{
    deflater::{self, Deflater},
    header::{self, OpCode},
    pending_pool::{self, Pending},
};
use crate::{Frame, SharedFrame};
use bytes::{Buf, Bytes};
use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::AsyncWrite;

/// Payloads shorter than this are copied next to their header; longer ones are queued without
/// a copy (a copy this small costs less than the extra segment).
const COPY_BELOW: usize = 4 << 10;
/// The most segments handed to one vectored write (Linux takes up to 1,024).
const MAX_SLICES: usize = 64;

/// The writing half of a connection.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    /// What waits to be written; `None` when nothing does.
    pending: Option<Box<Pending>>,
    /// Our close frame is queued: nothing may follow it (RFC 6455 §5.5.1).
    closed: bool,
    /// permessage-deflate, when negotiated.
    // Boxed: inline, every idle connection would pay for it, compressing or not.
    deflater: Option<Box<Deflater>>,
}

impl Writer {
    /// Bytes queued and not yet taken by the socket.
    pub(crate) fn buffered(&self) -> usize {
        self.pending.as_ref().map_or(0, |pending| pending.buffered)
    }

    /// Whether senders may write to the socket past this writer (the fast lane): nothing
    /// waits here, no close was queued, and nothing is compressed (a compressed connection's
    /// frames are its own).
    pub(crate) fn lane_may_open(&self) -> bool {
        self.pending.is_none() && !self.closed && self.deflater.is_none()
    }

    /// Compresses data messages from now on (RFC 7692).
    pub(crate) fn set_deflater(&mut self, deflater: Deflater) {
        self.deflater = Some(Box::new(deflater));
    }

    /// Where frames are gathered: taken from the thread's spares when nothing was waiting.
    fn pending(&mut self) -> &mut Pending {
        self.pending.get_or_insert_with(pending_pool::take)
    }

    /// Queues a data or control frame, compressed when permessage-deflate was negotiated and
    /// the message is long enough.
    pub(crate) fn push(&mut self, frame: Frame) {
        if self.closed {
            return;
        }
        let (opcode, payload) = match frame {
            Frame::Shared(shared) => return self.push_shared(&shared),
            frame => split(frame),
        };
        if let Some(deflater) = self.deflater.as_mut().filter(|_| is_data(opcode)) {
            if let Some(encoded) = deflater.encode(opcode, &payload) {
                return self.push_encoded(encoded);
            }
        }
        self.push_plain(opcode, payload);
    }

    /// A shared frame: without context takeover, its one compressed encoding for these
    /// parameters, made by the first connection that sends it.
    fn push_shared(&mut self, shared: &SharedFrame) {
        let (opcode, payload) = split(shared.frame().clone());
        let encoded = match self.deflater.as_mut().filter(|_| is_data(opcode)) {
            Some(deflater) if deflater.is_stateless() => {
                let params = deflater.params();
                shared.compressed((params.level, params.window_bits), || {
                    deflater::encode_stateless(params, opcode, &payload)
                })
            }
            Some(deflater) => deflater.encode(opcode, &payload),
            None => None,
        };
        match encoded {
            Some(encoded) => self.push_encoded(encoded),
            None => self.push_plain(opcode, payload),
        }
    }

    fn push_plain(&mut self, opcode: OpCode, payload: Bytes) {
        if payload.len() < COPY_BELOW {
            return self.push_raw(opcode, &[], &payload);
        }
        let pending = self.pending();
        pending.write_header(opcode, payload.len());
        pending.push_segment(payload);
    }

    /// Queues one already encoded frame (header and payload), shared with other connections
    /// without a copy.
    pub(crate) fn push_encoded(&mut self, frame: Bytes) {
        if self.closed {
            return;
        }
        let pending = self.pending();
        if frame.len() < COPY_BELOW {
            pending.buffered += frame.len();
            pending.tail.extend_from_slice(&frame);
        } else {
            pending.push_segment(frame);
        }
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
        let pending = self.pending();
        pending.tail.reserve(header::MAX_LEN + len);
        pending.write_header(opcode, len);
        pending.tail.extend_from_slice(prefix);
        pending.tail.extend_from_slice(payload);
        pending.buffered += len;
    }

    /// Writes everything queued, then flushes the stream (a TLS stream holds a record back
    /// until then). Once all is written, the queue and tail go back to the thread's spares.
    pub(crate) fn poll_flush<S>(&mut self, io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        if let Some(pending) = &mut self.pending {
            ready!(pending.poll_write_all(io, cx))?;
            pending_pool::give(self.pending.take().expect("checked above"));
        }
        ready!(Pin::new(io).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}

impl Pending {
    fn write_header(&mut self, opcode: OpCode, len: usize) {
        let before = self.tail.len();
        header::write(&mut self.tail, opcode, len);
        self.buffered += self.tail.len() - before;
    }

    /// Queues `segment` after everything gathered so far.
    fn push_segment(&mut self, segment: Bytes) {
        if !self.tail.is_empty() {
            let gathered = self.tail.split().freeze();
            self.queue.push_back(gathered);
        }
        self.buffered += segment.len();
        self.queue.push_back(segment);
    }

    /// Writes everything queued.
    fn poll_write_all<S>(&mut self, io: &mut S, cx: &mut Context<'_>) -> Poll<io::Result<()>>
    where
        S: AsyncWrite + Unpin,
    {
        while self.buffered > 0 {
            // Small frames only (the usual case): one buffer, one plain write.
            let written = if !self.queue.is_empty() && io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                let segments = self.queue.iter().map(|segment| &segment[..]);
                for segment in segments.chain([&self.tail[..]]).take(MAX_SLICES) {
                    slices[count] = IoSlice::new(segment);
                    count += 1;
                }
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?
            } else {
                let first = self
                    .queue
                    .front()
                    .map_or(&self.tail[..], |segment| &segment[..]);
                ready!(Pin::new(&mut *io).poll_write(cx, first))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written);
        }
        Poll::Ready(Ok(()))
    }

    /// Drops the `written` bytes the socket took: whole segments are popped, a partly written
    /// one is advanced (a pointer moves; no byte is copied).
    fn advance(&mut self, mut written: usize) {
        self.buffered -= written;
        while let Some(front) = self.queue.front_mut() {
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.queue.pop_front();
        }
        self.tail.advance(written);
    }
}

/// A frame's opcode and payload (not a shared frame: `SharedFrame::new` unwraps those).
fn split(frame: Frame) -> (OpCode, Bytes) {
    match frame {
        Frame::Text(text) => (OpCode::Text, text.into_bytes()),
        Frame::Binary(bytes) => (OpCode::Binary, bytes),
        Frame::Ping(payload) => (OpCode::Ping, payload.into_bytes()),
        Frame::Pong(payload) => (OpCode::Pong, payload.into_bytes()),
        Frame::Shared(shared) => split(shared.frame().clone()),
    }
}

/// A data frame as the fast lane writes it: its header (in `head`, whose length is returned)
/// and its payload, uncompressed; `None` for a control frame.
pub(crate) fn lane_frame<'f>(frame: &'f Frame, head: &mut [u8; 10]) -> Option<(usize, &'f [u8])> {
    let (opcode, payload): (OpCode, &[u8]) = match frame {
        Frame::Text(text) => (OpCode::Text, text.as_bytes()),
        Frame::Binary(bytes) => (OpCode::Binary, bytes),
        Frame::Shared(shared) => return lane_frame(shared.frame(), head),
        Frame::Ping(_) | Frame::Pong(_) => return None,
    };
    let mut out = &mut head[..];
    header::write(&mut out, opcode, payload.len());
    let len = 10 - out.len();
    Some((len, payload))
}

fn is_data(opcode: OpCode) -> bool {
    matches!(opcode, OpCode::Text | OpCode::Binary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn queue(writer: &Writer) -> &VecDeque<Bytes> {
        &writer.pending.as_ref().expect("frames are waiting").queue
    }

    /// A socket that takes at most `per_write` bytes per write and refuses every other write
    /// (as a full socket buffer does), keeping what it took.
    struct Drip {
        taken: Vec<u8>,
        per_write: usize,
        vectored: bool,
        refuse_next: bool,
        /// Writes that took bytes.
        writes: usize,
    }

    impl AsyncWrite for Drip {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            slices: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.refuse_next = !self.refuse_next;
            if !self.refuse_next {
                return Poll::Pending;
            }
            self.writes += 1;
            let mut budget = self.per_write;
            for slice in slices {
                let n = slice.len().min(budget);
                self.taken.extend_from_slice(&slice[..n]);
                budget -= n;
            }
            Poll::Ready(Ok(self.per_write - budget))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Flushes through a socket taking `per_write` bytes at a time; calls `between` after each
    /// refused write.
    fn drain(
        writer: &mut Writer,
        per_write: usize,
        vectored: bool,
        between: impl FnMut(&Writer),
    ) -> Vec<u8> {
        drain_counting(writer, per_write, vectored, between).0
    }

    /// [`drain`], also returning how many writes it took.
    fn drain_counting(
        writer: &mut Writer,
        per_write: usize,
        vectored: bool,
        mut between: impl FnMut(&Writer),
    ) -> (Vec<u8>, usize) {
        let mut io = Drip {
            taken: Vec::new(),
            per_write,
            vectored,
            refuse_next: false,
            writes: 0,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while writer.poll_flush(&mut io, &mut cx).is_pending() {
            between(writer);
        }
        assert_eq!(writer.buffered(), 0);
        (io.taken, io.writes)
    }

    #[test]
    fn a_64_kib_frame_goes_out_in_one_write_with_its_header() {
        let payload = Bytes::from(vec![3u8; 64 << 10]);
        let mut writer = Writer::default();
        writer.push(Frame::Binary(payload.clone()));
        let (out, writes) = drain_counting(&mut writer, usize::MAX, true, |_| {});
        assert_eq!(writes, 1, "header and payload in one vectored write");
        assert_eq!(&out[..4], &[0x82, 127, 0, 0]);
        assert_eq!(out.len(), 10 + payload.len());
        assert!(out[10..] == payload[..]);
    }

    #[test]
    fn an_idle_writer_holds_no_buffer() {
        let mut writer = Writer::default();
        writer.push(Frame::text("hello"));
        writer.push(Frame::Binary(Bytes::from(vec![1u8; 10_000])));
        drain(&mut writer, 777, true, |_| {});
        assert!(
            writer.pending.is_none(),
            "the buffers went back to the pool"
        );
        // And come back from it for the next frames.
        writer.push(Frame::text("again"));
        assert!(writer.pending.as_ref().unwrap().tail.capacity() >= 7);
        assert_eq!(drain(&mut writer, 777, true, |_| {}), b"\x81\x05again");
    }

    /// What the frames below look like on the wire, written one at a time into one buffer.
    fn expected(frames: &[Frame]) -> Vec<u8> {
        let mut out = Vec::new();
        for frame in frames {
            let (opcode, payload) = match frame {
                Frame::Text(text) => (OpCode::Text, text.as_bytes().to_vec()),
                Frame::Binary(bytes) => (OpCode::Binary, bytes.to_vec()),
                _ => unreachable!(),
            };
            header::write(&mut out, opcode, payload.len());
            out.extend_from_slice(&payload);
        }
        out
    }

    fn frames() -> Vec<Frame> {
        let large: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        vec![
            Frame::text("hi"),
            Frame::Binary(Bytes::from(large)),
            Frame::Binary(Bytes::from(vec![7; 200])),
            Frame::text("x".repeat(5_000)),
            Frame::text("end"),
        ]
    }

    #[test]
    fn frames_follow_each_other_and_nothing_follows_a_close() {
        let mut writer = Writer::default();
        writer.push(Frame::text("hi"));
        writer.push(Frame::Binary(Bytes::from(vec![7; 200])));
        writer.push_close(Some((1000, "bye")));
        writer.push(Frame::text("late"));
        writer.push_encoded(Bytes::from_static(b"\x81\x04late"));
        let buffered = writer.buffered();
        let out = drain(&mut writer, usize::MAX, true, |_| {});
        assert_eq!(&out[..4], &[0x81, 2, b'h', b'i']);
        assert_eq!(&out[4..8], &[0x82, 126, 0, 200]);
        assert_eq!(&out[208..], &[0x88, 5, 0x03, 0xE8, b'b', b'y', b'e']);
        assert_eq!(buffered, out.len());
    }

    #[test]
    fn small_frames_are_gathered_into_one_segment() {
        let mut writer = Writer::default();
        for i in 0..100 {
            writer.push(Frame::text(i.to_string()));
        }
        assert!(queue(&writer).is_empty(), "one buffer, one write");
    }

    #[test]
    fn bytes_arrive_in_order_however_the_socket_takes_them() {
        let want = expected(&frames());
        for per_write in [1, 3, 7, 1_001, 4_097, 65_537, usize::MAX] {
            for vectored in [false, true] {
                let mut writer = Writer::default();
                for frame in frames() {
                    writer.push(frame);
                }
                assert_eq!(writer.buffered(), want.len());
                let out = drain(&mut writer, per_write, vectored, |_| {});
                assert!(
                    out == want,
                    "{per_write} bytes per write, vectored {vectored}"
                );
            }
        }
    }

    #[test]
    fn a_large_payload_is_written_from_where_it_is_without_a_copy() {
        let payload = Bytes::from(vec![9u8; 50_000]);
        let start = payload.as_ptr() as usize;
        let range = start..start + payload.len();
        for vectored in [false, true] {
            let mut writer = Writer::default();
            writer.push(Frame::text("before"));
            writer.push(Frame::Binary(payload.clone()));
            let mut advanced = 0;
            drain(&mut writer, 999, vectored, |writer| {
                // Every segment still queued that holds payload bytes points into the
                // client's own buffer, further along at each write.
                for segment in queue(writer) {
                    let at = segment.as_ptr() as usize;
                    if range.contains(&at) {
                        assert!(at >= start + advanced);
                        advanced = at - start;
                    }
                }
            });
            assert!(advanced > 40_000, "the payload was copied: {advanced}");
        }
    }

    #[test]
    fn an_encoded_frame_is_shared_not_copied() {
        let mut encoded = Vec::new();
        header::write(&mut encoded, OpCode::Binary, 10_000);
        encoded.extend_from_slice(&[5; 10_000]);
        let encoded = Bytes::from(encoded);
        let mut writer = Writer::default();
        writer.push(Frame::text("a"));
        writer.push_encoded(encoded.clone());
        writer.push(Frame::text("b"));
        assert_eq!(queue(&writer).len(), 2);
        assert_eq!(queue(&writer)[1].as_ptr(), encoded.as_ptr());
        let out = drain(&mut writer, 5_001, true, |_| {});
        assert_eq!(&out[..3], &[0x81, 1, b'a']);
        assert!(out[3..3 + encoded.len()] == encoded[..]);
        assert_eq!(&out[3 + encoded.len()..], &[0x81, 1, b'b']);
    }

    /// Letters from a fixed generator: compresses to about 60 %, so stays over `COPY_BELOW`.
    fn letters(len: usize) -> String {
        let mut state = 12_345u32;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + (state >> 16) as u8 % 26)
            })
            .collect()
    }

    #[test]
    fn a_shared_frame_is_compressed_once_for_every_connection() {
        let params = super::super::negotiate::CompressParams {
            level: 6,
            window_bits: 15,
            threshold: 16,
            takeover: false,
        };
        let text = letters(20_000);
        let shared = SharedFrame::new(Frame::text(text.clone()));
        let mut encodings = Vec::new();
        for _ in 0..3 {
            let mut writer = Writer::default();
            writer.set_deflater(Deflater::new(params));
            writer.push(Frame::Shared(shared.clone()));
            assert_eq!(queue(&writer).len(), 1);
            let encoded = queue(&writer)[0].clone();
            assert_eq!(encoded[0], 0xC1, "FIN, RSV1, text");
            assert!(encoded.len() < text.len());
            encodings.push(encoded);
        }
        assert!(
            encodings
                .iter()
                .all(|e| e.as_ptr() == encodings[0].as_ptr()),
            "each writer compressed its own copy"
        );
        // The same frame, not shared: compressed again for each writer.
        let mut writer = Writer::default();
        writer.set_deflater(Deflater::new(params));
        writer.push(Frame::text(text));
        assert_eq!(queue(&writer)[0][..], encodings[0][..]);
        assert_ne!(queue(&writer)[0].as_ptr(), encodings[0].as_ptr());
        // Without deflate, the frame it wraps.
        let mut writer = Writer::default();
        writer.push(Frame::Shared(shared));
        assert_eq!(writer.buffered(), 4 + 20_000);
    }
}
