//! Reading the client's frames and putting its messages together (RFC 6455 §5.4, §5.5, §8.1).

use super::{
    WireError,
    header::{self, Header, OpCode},
    inbound_budget::{Charge, InboundBudget},
    inflater::Inflater,
    mask, read_pool,
};
use crate::Utf8Bytes;
use bytes::{Buf, Bytes, BytesMut};
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::io::AsyncRead;

/// What the client sent: a whole message or a control frame.
#[derive(Debug)]
pub(crate) enum Inbound {
    Text(Utf8Bytes),
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
    /// The code (already checked against RFC 6455 §7.4) and reason, or `None` for an empty
    /// close frame.
    Close(Option<(u16, String)>),
}

/// The sizes reading works with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) read_buffer: usize,
    pub(crate) max_frame: usize,
    pub(crate) max_message: usize,
}

/// A fragmented message waiting for its last frame.
#[derive(Debug)]
struct Partial {
    text: bool,
    /// Its first frame had RSV1: `data` is deflated, inflated when the last frame arrives.
    compressed: bool,
    data: BytesMut,
    /// How much of `data` is known to be UTF-8, so each fragment is checked once and an invalid
    /// sequence fails at once rather than at the end of the message.
    valid_utf8: usize,
}

/// The reading half of a connection.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    /// Bytes read but not yet made into frames; no capacity while the connection is idle.
    buffer: BytesMut,
    /// The header of the frame whose payload is still arriving.
    header: Option<Header>,
    // Boxed: fragmented messages are rare, and the reader is inline in every idle connection.
    partial: Option<Box<Partial>>,
    /// The bytes of unfinished messages held here, counted against the server-wide budget.
    charge: Charge,
    /// The length of this client's last data frame (up to `MAX_READ_AHEAD`): how far ahead of
    /// the bytes here the buffer may grow for the next one (see `make_room`).
    read_ahead: u32,
    /// permessage-deflate, when negotiated.
    // Boxed: inline, every idle connection would pay for it, compressing or not.
    inflater: Option<Box<Inflater>>,
}

/// The most a client's earlier frames let the buffer grow ahead of the bytes that arrived.
const MAX_READ_AHEAD: usize = 1 << 20;

impl Reader {
    /// A reader whose unfinished messages count against `budget`, when there is one.
    pub(crate) fn new(budget: Option<Arc<InboundBudget>>) -> Self {
        Self {
            buffer: BytesMut::new(),
            header: None,
            partial: None,
            charge: Charge::new(budget),
            read_ahead: 0,
            inflater: None,
        }
    }

    /// Starts from `bytes` the client sent before the connection took over its socket.
    pub(crate) fn seed(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.buffer = BytesMut::from(bytes);
        }
    }

    /// Accepts compressed messages (RSV1) from now on, inflated by `inflater`.
    pub(crate) fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// The next message or control frame from `io`.
    pub(crate) fn poll_next<S>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
        limits: Limits,
    ) -> Poll<Result<Inbound, WireError>>
    where
        S: AsyncRead + Unpin,
    {
        loop {
            if let Some(inbound) = self.next_buffered(limits)? {
                // The message is the handler's now: its share goes back at once, even if the
                // connection does not read again for a while (paused by backpressure).
                self.charge.lower_to(self.counted(limits));
                return Poll::Ready(Ok(inbound));
            }
            self.charge_held(limits)?;
            self.make_room(limits)?;
            let read = tokio_util::io::poll_read_buf(Pin::new(&mut *io), cx, &mut self.buffer);
            match read {
                // The buffer is kept until the connection has nothing else to do
                // (`release_buffer`): by then the frames it wrote have usually let go of the
                // payloads in it, and it can go back to the pool whole.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.release_buffer(limits);
                    return Poll::Ready(Err(WireError::Eof));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(WireError::Io(error))),
            }
        }
    }

    /// Counts what is held of unfinished messages against the server-wide budget.
    fn charge_held(&mut self, limits: Limits) -> Result<(), WireError> {
        let counted = self.counted(limits);
        self.charge.set(counted).map_err(|_| {
            WireError::OverBudget(format!(
                "over the server's budget for unfinished messages ({counted} bytes held here)"
            ))
        })
    }

    /// What counts against the budget: nothing while it fits in one read buffer, so the small
    /// messages of ordinary traffic never touch the server-wide counter.
    fn counted(&self, limits: Limits) -> usize {
        let held = self.held();
        if held <= limits.read_buffer { 0 } else { held }
    }

    /// The bytes read and not yet handed out: unfinished frames and fragmented messages.
    fn held(&self) -> usize {
        let partial = self
            .partial
            .as_ref()
            .map_or(0, |partial| partial.data.len());
        self.buffer.len() + partial
    }

    /// Room for the next read. Memory follows the bytes that arrived, never the length a header
    /// announces (14 bytes would otherwise buy a 16 MiB reservation): while a frame's payload
    /// arrives, the buffer grows by at most what is already here of it, so it doubles as the
    /// bytes come and holds at most twice what was received (plus two read buffers, the room a
    /// read needs), or by as much as this client's previous data frame brought (up to 1 MiB):
    /// a client that sent 64 KiB messages gets its next one in one read, as before, while a
    /// header alone buys nothing.
    fn make_room(&mut self, limits: Limits) -> Result<(), WireError> {
        let (needed, additional) = match &self.header {
            Some(header) => {
                let missing = header.len - self.buffer.len();
                let earned = self.buffer.len().max(self.read_ahead as usize);
                let step = missing.min(earned.max(limits.read_buffer));
                (step, step.max(limits.read_buffer))
            }
            None => (header::MAX_LEN, limits.read_buffer),
        };
        if self.buffer.capacity() == 0 {
            // A client whose last data frame was large gets room for the next one in its first
            // read (earned as above: what its previous frame brought, up to 1 MiB), instead of
            // a pooled read buffer grown (and copied) once the header is in.
            let ahead = self.read_ahead as usize + header::MAX_LEN;
            if ahead > limits.read_buffer {
                try_grow(&mut self.buffer, ahead)?;
            } else {
                self.buffer = read_pool::take(limits.read_buffer);
            }
        }
        let len = self.buffer.len();
        if self.buffer.capacity() - len >= needed {
            return Ok(());
        }
        // Once a read has filled a buffer, two read buffers' worth: what is left of the last
        // frame plus a full read, so reads stay large in steady traffic.
        let additional = additional.max((2 * limits.read_buffer).saturating_sub(len));
        try_grow(&mut self.buffer, additional)
    }

    /// Gives the read buffer back to the thread's pool if nothing is left in it: call it when
    /// the connection is about to wait, so an idle connection holds no read buffer.
    pub(crate) fn release_buffer(&mut self, limits: Limits) {
        if self.buffer.is_empty() && self.buffer.capacity() != 0 {
            read_pool::give(std::mem::take(&mut self.buffer), limits.read_buffer);
        }
    }

    /// The next message from what has been read so far, if it is all there.
    fn next_buffered(&mut self, limits: Limits) -> Result<Option<Inbound>, WireError> {
        loop {
            let header = match self.header {
                Some(header) => header,
                None => {
                    match header::parse(&self.buffer, limits.max_frame, self.inflater.is_some())? {
                        Some((header, len)) => {
                            self.buffer.advance(len);
                            self.header = Some(header);
                            header
                        }
                        None => return Ok(None),
                    }
                }
            };
            if self.buffer.len() < header.len {
                return Ok(None);
            }
            self.header = None;
            if !header.opcode.is_control() {
                self.read_ahead = header.len.min(MAX_READ_AHEAD) as u32;
            }
            let mut payload = self.buffer.split_to(header.len);
            mask::unmask(&mut payload, header.mask);
            if let Some(inbound) = self.frame(header, payload, limits)? {
                return Ok(Some(inbound));
            }
        }
    }

    /// One whole frame: a message, a control frame, or a fragment (`None`).
    fn frame(
        &mut self,
        header: Header,
        payload: BytesMut,
        limits: Limits,
    ) -> Result<Option<Inbound>, WireError> {
        let too_big = |len: usize| {
            WireError::TooBig(format!(
                "message of {len} bytes or more is over the limit of {}",
                limits.max_message
            ))
        };
        match header.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(WireError::protocol(
                        "a new message started before the fragmented one ended",
                    ));
                }
                if payload.len() > limits.max_message {
                    return Err(too_big(payload.len()));
                }
                let text = header.opcode == OpCode::Text;
                if header.fin {
                    return self
                        .message(text, header.compressed, payload, limits)
                        .map(Some);
                }
                let mut partial = Box::new(Partial {
                    text,
                    compressed: header.compressed,
                    data: payload,
                    valid_utf8: 0,
                });
                partial.check_utf8(false)?;
                self.partial = Some(partial);
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(partial) = &mut self.partial else {
                    return Err(WireError::protocol(
                        "a continuation frame with no message to continue",
                    ));
                };
                let len = partial.data.len() + payload.len();
                if len > limits.max_message {
                    return Err(too_big(len));
                }
                // Doubling, so many small fragments cost amortised O(1) per byte, and never
                // past twice what arrived.
                if partial.data.capacity() - partial.data.len() < payload.len() {
                    let room = limits.max_message - partial.data.len();
                    let additional = payload.len().max(partial.data.len().min(room));
                    try_grow(&mut partial.data, additional)?;
                }
                partial.data.extend_from_slice(&payload);
                partial.check_utf8(header.fin)?;
                if !header.fin {
                    return Ok(None);
                }
                let partial = self.partial.take().unwrap();
                self.message(partial.text, partial.compressed, partial.data, limits)
                    .map(Some)
            }
            OpCode::Ping => Ok(Some(Inbound::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Inbound::Pong(payload.freeze()))),
            OpCode::Close => close(&payload).map(Some),
        }
    }

    /// A whole message, inflated first if it was compressed.
    fn message(
        &mut self,
        text: bool,
        compressed: bool,
        payload: BytesMut,
        limits: Limits,
    ) -> Result<Inbound, WireError> {
        let payload = match (&mut self.inflater, compressed) {
            (Some(inflater), true) => inflater.inflate(&payload, limits.max_message)?,
            _ => payload.freeze(),
        };
        message(text, payload)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.buffer.capacity() != 0 {
            self.buffer.clear();
            read_pool::give(std::mem::take(&mut self.buffer), 0);
        }
    }
}

impl Partial {
    fn check_utf8(&mut self, last: bool) -> Result<(), WireError> {
        // Compressed text is checked once inflated.
        if !self.text || self.compressed {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.valid_utf8..]) {
            Ok(_) => self.valid_utf8 = self.data.len(),
            // A character cut between two fragments: the next one may complete it.
            Err(error) if error.error_len().is_none() && !last => {
                self.valid_utf8 += error.valid_up_to();
            }
            Err(_) => return Err(WireError::InvalidUtf8),
        }
        Ok(())
    }
}

/// Makes room for `additional` more bytes in `buffer`. Through `try_reserve`: when memory runs
/// out (an address-space limit, `vm.overcommit_memory=2`) this connection fails, not the process.
fn try_grow(buffer: &mut BytesMut, additional: usize) -> Result<(), WireError> {
    if buffer.try_reclaim(additional) {
        return Ok(());
    }
    let len = buffer.len();
    let mut grown = Vec::new();
    grown
        .try_reserve_exact(len + additional)
        .map_err(|_| WireError::OutOfMemory(len + additional))?;
    grown.extend_from_slice(buffer);
    // No copy: the vector is the only owner of its memory.
    *buffer = Bytes::from(grown).into();
    Ok(())
}

fn message(text: bool, payload: Bytes) -> Result<Inbound, WireError> {
    if !text {
        return Ok(Inbound::Binary(payload));
    }
    let text = Utf8Bytes::try_from(payload).map_err(|_| WireError::InvalidUtf8)?;
    Ok(Inbound::Text(text))
}

/// A close frame's payload: nothing, or a valid code and a UTF-8 reason (RFC 6455 §5.5.1).
fn close(payload: &[u8]) -> Result<Inbound, WireError> {
    match payload {
        [] => Ok(Inbound::Close(None)),
        [_] => Err(WireError::protocol("a close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if crate::CloseCode::new(code).is_err() {
                return Err(WireError::protocol(format!("invalid close code {code}")));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WireError::InvalidUtf8)?;
            Ok(Inbound::Close(Some((code, reason.to_owned()))))
        }
    }
}

/// Reads from a test's byte sequence, a piece at a time.
#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use tokio::io::ReadBuf;

    /// Hands out `pieces` one per read, then blocks (as an idle socket does).
    struct Pieces(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let Some(mut piece) = self.0.pop_front() else {
                return Poll::Pending;
            };
            let n = piece.len().min(buf.remaining());
            buf.put_slice(&piece[..n]);
            if n < piece.len() {
                self.0.push_front(piece.split_off(n));
            }
            Poll::Ready(Ok(()))
        }
    }

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [9, 8, 7, 6];
        let mut out = vec![first, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const LIMITS: Limits = Limits {
        read_buffer: 64,
        max_frame: 1000,
        max_message: 1000,
    };

    fn read_all(pieces: Vec<Vec<u8>>) -> (Vec<Inbound>, Option<WireError>, Reader) {
        read_all_with(pieces, LIMITS)
    }

    fn read_all_with(
        pieces: Vec<Vec<u8>>,
        limits: Limits,
    ) -> (Vec<Inbound>, Option<WireError>, Reader) {
        let mut io = Pieces(pieces.into());
        let mut reader = Reader::default();
        let mut out = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            match reader.poll_next(&mut io, &mut cx, limits) {
                Poll::Ready(Ok(inbound)) => out.push(inbound),
                Poll::Ready(Err(error)) => return (out, Some(error), reader),
                Poll::Pending => {
                    reader.release_buffer(limits);
                    return (out, None, reader);
                }
            }
        }
    }

    #[test]
    fn assembles_fragments_split_anywhere_and_releases_the_buffer() {
        let mut bytes = frame(0x01, "hé".as_bytes());
        bytes.extend(frame(0x89, b"p"));
        bytes.extend(frame(0x80, "llo wörld".as_bytes()));
        bytes.extend(frame(0x82, &[1, 2, 3]));
        for size in 1..bytes.len() {
            let pieces = bytes.chunks(size).map(<[u8]>::to_vec).collect();
            let (out, error, reader) = read_all(pieces);
            assert!(error.is_none(), "{size}: {error:?}");
            let got: Vec<String> = out.iter().map(|i| format!("{i:?}")).collect();
            assert_eq!(
                got,
                [
                    "Ping(b\"p\")",
                    "Text(\"héllo wörld\")",
                    "Binary(b\"\\x01\\x02\\x03\")"
                ],
                "{size}"
            );
            assert_eq!(
                reader.buffer.capacity(),
                0,
                "an idle reader holds no buffer"
            );
        }
    }

    #[test]
    fn a_character_cut_between_fragments_is_valid_but_a_bad_byte_fails_at_once() {
        let euro = "€".as_bytes();
        let mut bytes = frame(0x01, &euro[..1]);
        bytes.extend(frame(0x80, &euro[1..]));
        let (out, error, _) = read_all(vec![bytes]);
        assert!(error.is_none());
        assert_eq!(format!("{:?}", out[0]), "Text(\"€\")");

        // The first fragment is already invalid: refused before the message ends.
        let (out, error, _) = read_all(vec![frame(0x01, &[b'a', 0xFF])]);
        assert!(out.is_empty());
        assert!(matches!(error, Some(WireError::InvalidUtf8)));
    }

    #[test]
    fn refuses_protocol_breaches() {
        let cases = [
            frame(0x80, b"x"),                               // continuation first
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(), // new message mid-way
            frame(0x88, &[3]),                               // one-byte close
            frame(0x88, &[0x03, 0xEC]),                      // close code 1004
        ];
        for bytes in cases {
            let (_, error, _) = read_all(vec![bytes.clone()]);
            assert!(
                matches!(error, Some(WireError::Protocol(_))),
                "{bytes:?}: {error:?}"
            );
        }
        let (_, error, _) = read_all(vec![frame(0x88, &[0x03, 0xE8, 0xFF])]);
        assert!(matches!(error, Some(WireError::InvalidUtf8)));
        let (out, _, _) = read_all(vec![frame(0x88, &[0x03, 0xE8, b'o', b'k'])]);
        assert_eq!(format!("{:?}", out[0]), "Close(Some((1000, \"ok\")))");
    }

    proptest::proptest! {
        /// Whatever a client sends, split however TCP delivers it, the reader answers with
        /// messages, an error or "wait": it never panics, and it never reads past an error.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cut in 1usize..64,
            masked_frames in proptest::collection::vec(
                (proptest::prelude::any::<u8>(), proptest::collection::vec(proptest::prelude::any::<u8>(), 0..125)),
                0..6,
            ),
        ) {
            // Random noise alone mostly fails at the first byte; well-formed frames with random
            // first bytes (any opcode, FIN and RSV bits) in front of it reach deeper states.
            let mut input: Vec<u8> = masked_frames
                .iter()
                .flat_map(|(first, payload)| frame(*first, payload))
                .collect();
            input.extend(bytes);
            let input_len = input.len();
            let pieces = input.chunks(cut).map(<[u8]>::to_vec).collect();
            let (out, error, _) = read_all(pieces);
            // Every frame is at least 6 bytes (a header and a mask).
            proptest::prop_assert!(out.len() <= input_len / 6);
            if let Some(WireError::Eof | WireError::Io(_)) = error {
                proptest::prop_assert!(false, "the test's reader never ends or fails");
            }
        }
    }

    #[test]
    fn limits_messages_across_fragments() {
        let chunk = vec![b'a'; 100];
        let mut bytes = frame(0x01, &chunk);
        for _ in 0..10 {
            bytes.extend(frame(0x00, &chunk));
        }
        let (out, error, _) = read_all(vec![bytes]);
        assert!(out.is_empty());
        assert!(matches!(error, Some(WireError::TooBig(_))));
    }

    /// A masked binary frame's header announcing `len` bytes (the 8-byte length form).
    fn long_header(len: u64) -> Vec<u8> {
        let mut out = vec![0x82, 0x80 | 127];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out
    }

    const LARGE: Limits = Limits {
        read_buffer: 4096,
        max_frame: 16 << 20,
        max_message: 64 << 20,
    };

    #[test]
    fn an_announced_length_buys_no_memory() {
        let mut bytes = long_header(16 << 20);
        bytes.extend_from_slice(&[7; 100]);
        let (out, error, reader) = read_all_with(vec![bytes], LARGE);
        assert!(out.is_empty() && error.is_none(), "{error:?}");
        let capacity = reader.buffer.capacity();
        assert!(
            capacity < 1 << 20,
            "14 bytes of header bought {capacity} bytes"
        );
    }

    #[test]
    fn a_previous_frame_lets_the_next_one_read_ahead_as_far_and_no_further() {
        let mut bytes = long_header(20_000);
        bytes.extend_from_slice(&[1; 20_000]);
        bytes.extend(long_header(16 << 20));
        bytes.extend_from_slice(&[7; 100]);
        let (out, error, reader) = read_all_with(vec![bytes], LARGE);
        assert!(error.is_none() && out.len() == 1, "{error:?}");
        assert_eq!(reader.read_ahead, 20_000);
        let capacity = reader.buffer.capacity();
        assert!(capacity < 64 << 10, "a header bought {capacity} bytes");
    }

    #[test]
    fn after_a_large_frame_a_fresh_buffer_has_room_for_the_next_in_one_read() {
        let mut bytes = long_header(20_000);
        bytes.extend_from_slice(&[1; 20_000]);
        let (out, error, mut reader) = read_all_with(vec![bytes], LARGE);
        assert!(error.is_none() && out.len() == 1, "{error:?}");
        drop(out);
        reader.release_buffer(LARGE);
        assert_eq!(reader.buffer.capacity(), 0);
        reader.make_room(LARGE).unwrap();
        let capacity = reader.buffer.capacity();
        assert!(
            capacity >= 20_000 + header::MAX_LEN,
            "{capacity} bytes of room"
        );
        assert!(capacity < 64 << 10, "{capacity} bytes of room");
    }

    #[test]
    fn a_large_frame_grows_its_buffer_with_what_arrived() {
        let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let mut bytes = long_header(payload.len() as u64);
        bytes.extend_from_slice(&payload);
        for received in [1_000, 20_000, 150_000] {
            let pieces = bytes[..14 + received]
                .chunks(7_777)
                .map(<[u8]>::to_vec)
                .collect();
            let (out, error, reader) = read_all_with(pieces, LARGE);
            assert!(out.is_empty() && error.is_none(), "{error:?}");
            let capacity = reader.buffer.capacity();
            assert!(
                capacity <= 2 * received + 2 * LARGE.read_buffer,
                "{received} bytes received, {capacity} reserved"
            );
        }
        let pieces = bytes.chunks(7_777).map(<[u8]>::to_vec).collect();
        let (out, error, _) = read_all_with(pieces, LARGE);
        assert!(error.is_none(), "{error:?}");
        match &out[..] {
            [Inbound::Binary(got)] => assert!(got[..] == payload[..]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reassembly_grows_by_doubling_and_counts_against_the_budget() {
        let budget = Arc::new(InboundBudget::default());
        budget.set_limit(700);
        let chunk = vec![b'a'; 100];
        let mut bytes = frame(0x01, &chunk);
        for _ in 0..5 {
            bytes.extend(frame(0x00, &chunk));
        }
        let mut io = Pieces(vec![bytes].into());
        let mut reader = Reader::new(Some(budget.clone()));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(reader.poll_next(&mut io, &mut cx, LIMITS).is_pending());
        let partial = reader.partial.as_ref().unwrap();
        assert_eq!(partial.data.len(), 600);
        assert!(
            partial.data.capacity() <= 1_200,
            "{}",
            partial.data.capacity()
        );
        assert_eq!(budget.held(), 600);

        // 220 more would take the server past its budget of 700.
        let mut io = Pieces(vec![[frame(0x00, &chunk), frame(0x00, &[b'a'; 120])].concat()].into());
        assert!(matches!(
            reader.poll_next(&mut io, &mut cx, LIMITS),
            Poll::Ready(Err(WireError::OverBudget(_)))
        ));
        drop(reader);
        assert_eq!(budget.held(), 0, "a dropped reader gives its share back");
    }
}
