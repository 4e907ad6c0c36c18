//! Compressing the messages we send (RFC 7692 §7.2.1).

use super::{
    header::{self, OpCode},
    negotiate::CompressParams,
    zlib_pool,
};
use bytes::Bytes;
use flate2::{Compress, FlushCompress, Status};

/// The writer's side of permessage-deflate for one connection.
#[derive(Debug)]
pub(crate) struct Deflater {
    params: CompressParams,
    /// The compressor kept across messages, with context takeover only (made with the first
    /// message).
    context: Option<Box<Compress>>,
}

/// The room left before the payload for the longest header we write.
const HEADROOM: usize = 10;

impl Deflater {
    pub(crate) fn new(params: CompressParams) -> Self {
        Self {
            params,
            context: None,
        }
    }

    pub(super) fn params(&self) -> CompressParams {
        self.params
    }

    /// Whether each message is compressed on its own, so one encoding serves every connection
    /// with the same parameters.
    pub(super) fn is_stateless(&self) -> bool {
        !self.params.takeover
    }

    /// The whole frame (header with RSV1, compressed payload) for a data message, or `None` to
    /// send it uncompressed: shorter than the threshold, or (without context takeover) not
    /// smaller compressed.
    pub(super) fn encode(&mut self, opcode: OpCode, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < self.params.threshold {
            return None;
        }
        if !self.params.takeover {
            return encode_stateless(self.params, opcode, payload);
        }
        let params = self.params;
        let compressor = self.context.get_or_insert_with(|| {
            Box::new(zlib_pool::new_compressor(params.level, params.window_bits))
        });
        // With context takeover the client's decompressor follows ours: once compressed, the
        // message must be sent compressed, whatever its size.
        Some(frame(opcode, compressor, payload))
    }
}

/// One message compressed with a compressor from the thread's pool, or `None` when it would
/// not be smaller.
pub(super) fn encode_stateless(
    params: CompressParams,
    opcode: OpCode,
    payload: &[u8],
) -> Option<Bytes> {
    if payload.len() < params.threshold {
        return None;
    }
    let mut compressor = zlib_pool::take_compressor(params.level, params.window_bits);
    let encoded = frame(opcode, &mut compressor, payload);
    zlib_pool::give_compressor(params.level, params.window_bits, compressor);
    (encoded.len() < payload.len() + header_len(payload.len())).then_some(encoded)
}

fn header_len(len: usize) -> usize {
    match len {
        0..126 => 2,
        126..65_536 => 4,
        _ => 10,
    }
}

/// Compresses `payload` with a sync flush, drops the flush's empty-block tail
/// (`00 00 ff ff`, RFC 7692 §7.2.1) and puts the header (RSV1 set) in front, in one buffer.
fn frame(opcode: OpCode, compressor: &mut Compress, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(HEADROOM + payload.len() / 2 + 64);
    out.resize(HEADROOM, 0);
    deflate(compressor, payload, &mut out);
    debug_assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "a sync flush ends so");
    out.truncate(out.len() - 4);
    let len = out.len() - HEADROOM;
    let mut head = [0u8; HEADROOM];
    let mut cursor = &mut head[..];
    header::write_compressed(&mut cursor, opcode, len);
    let head_len = HEADROOM - cursor.len();
    let start = HEADROOM - head_len;
    out[start..HEADROOM].copy_from_slice(&head[..head_len]);
    Bytes::from(out).slice(start..)
}

/// Runs `payload` through `compressor` with a sync flush, growing `out` as zlib fills it.
fn deflate(compressor: &mut Compress, payload: &[u8], out: &mut Vec<u8>) {
    let start = compressor.total_in();
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(256));
        }
        let consumed = (compressor.total_in() - start) as usize;
        let status = compressor
            .compress_vec(&payload[consumed..], out, FlushCompress::Sync)
            // zlib reports an error only for a misuse (a stream already finished).
            .expect("deflate of a sync-flushed stream");
        let consumed = (compressor.total_in() - start) as usize;
        // Done once all input is in and zlib stopped before the end of the buffer: the
        // flush is complete.
        if consumed == payload.len() && out.len() < out.capacity() {
            break;
        }
        debug_assert!(status != Status::StreamEnd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn params(takeover: bool) -> CompressParams {
        CompressParams {
            level: 6,
            window_bits: 15,
            threshold: 16,
            takeover,
        }
    }

    /// Strips the header and inflates with the tail put back, as a client does.
    fn inflate(frame: &[u8], decompress: &mut Decompress) -> (u8, Vec<u8>) {
        let (len, at) = match frame[1] {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize,
                10,
            ),
            len => (len as usize, 2),
        };
        assert_eq!(frame.len(), at + len);
        let mut input = frame[at..].to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(1 << 20);
        decompress
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        (frame[0], out)
    }

    #[test]
    fn compresses_with_rsv1_and_without_the_tail() {
        let json =
            br#"{"topic":"room:lobby","event":"new_msg","payload":{"body":"hello"}}"#.repeat(40);
        let mut deflater = Deflater::new(params(false));
        let frame = deflater.encode(OpCode::Text, &json).unwrap();
        assert!(frame.len() < json.len() / 4, "{}", frame.len());
        let (first, out) = inflate(&frame, &mut Decompress::new(false));
        assert_eq!(first, 0xC1, "FIN, RSV1, text");
        assert_eq!(out, json);
        // Below the threshold, and incompressible bytes: sent as they are.
        assert!(deflater.encode(OpCode::Text, b"short").is_none());
        let mut state = 0x9E37_79B9u32;
        let noise: Vec<u8> = (0..5_000)
            .map(|_| {
                // xorshift32: bytes deflate cannot shrink.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        assert!(deflater.encode(OpCode::Binary, &noise).is_none());
    }

    #[test]
    fn context_takeover_makes_a_repeated_message_smaller() {
        let message = br#"{"event":"price","symbol":"ACME","bid":101.25,"ask":101.5}"#;
        let mut kept = Deflater::new(params(true));
        let mut client = Decompress::new(false);
        let first = kept.encode(OpCode::Text, message).unwrap();
        let second = kept.encode(OpCode::Text, message).unwrap();
        assert_eq!(inflate(&first, &mut client).1, message);
        assert_eq!(inflate(&second, &mut client).1, message);
        // The first one is what every message costs without it.
        assert!(
            second.len() < first.len() / 2,
            "{} vs {}",
            second.len(),
            first.len()
        );
    }
}
