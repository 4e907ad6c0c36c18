//! Inflating the client's compressed messages (RFC 7692 §7.2.2), within the message size
//! limit: a zip bomb is stopped after at most `max_message` inflated bytes.

use super::{WireError, negotiate::InflateParams, zlib_pool};
use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

/// The empty stored block a sync flush ends with, which the sender dropped (§7.2.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// The ratio limit applies past this many inflated bytes: a short message of repeated bytes
/// has a high ratio and costs nothing.
const RATIO_FLOOR: usize = 64 << 10;
/// The output's first allocation; it doubles from there as bytes come out.
const FIRST_OUTPUT: usize = 4 << 10;

/// The reader's side of permessage-deflate for one connection.
#[derive(Debug)]
pub(crate) struct Inflater {
    params: InflateParams,
    /// The decompressor kept across messages, with the client's context takeover only.
    context: Option<Box<Decompress>>,
}

impl Inflater {
    pub(crate) fn new(params: InflateParams) -> Self {
        Self {
            params,
            context: None,
        }
    }

    /// The message `compressed` stands for, at most `max_message` bytes.
    pub(super) fn inflate(
        &mut self,
        compressed: &[u8],
        max_message: usize,
    ) -> Result<Bytes, WireError> {
        let max_ratio = self.params.max_ratio;
        if self.params.takeover {
            let decompressor = self
                .context
                .get_or_insert_with(|| Box::new(Decompress::new(false)));
            let inflated = inflate(decompressor, compressed, max_message, max_ratio);
            if inflated.is_err() {
                // The stream is broken; the connection is closing anyway.
                self.context = None;
            }
            return inflated;
        }
        let mut decompressor = zlib_pool::take_decompressor();
        let inflated = inflate(&mut decompressor, compressed, max_message, max_ratio);
        zlib_pool::give_decompressor(decompressor);
        inflated
    }
}

fn inflate(
    decompressor: &mut Decompress,
    compressed: &[u8],
    max_message: usize,
    max_ratio: Option<u32>,
) -> Result<Bytes, WireError> {
    // The ratio limit is a lower size limit for this message.
    let ratio_limit = max_ratio.map(|ratio| {
        compressed
            .len()
            .max(1)
            .saturating_mul(ratio as usize)
            .max(RATIO_FLOOR)
    });
    let limit = ratio_limit.map_or(max_message, |limit| limit.min(max_message));
    let over = || match ratio_limit {
        Some(ratio_limit) if ratio_limit < max_message => WireError::TooBig(format!(
            "a message of {} compressed bytes inflates past {ratio_limit} bytes, over the \
             inflate ratio limit",
            compressed.len()
        )),
        _ => WireError::TooBig(format!(
            "message inflates past the limit of {max_message} bytes"
        )),
    };
    let mut out = Vec::new();
    for input in [compressed, &TAIL[..]] {
        match run(decompressor, input, &mut out, limit) {
            Ok(false) => {}
            Ok(true) => {
                // The client ended the deflate stream (BFINAL): the next message starts a
                // new one.
                decompressor.reset(false);
                break;
            }
            Err(Run::Over) => return Err(over()),
            Err(Run::Wire(error)) => return Err(error),
        }
    }
    Ok(Bytes::from(out))
}

enum Run {
    /// More than the limit came out.
    Over,
    Wire(WireError),
}

/// Feeds `input` through, growing `out` by doubling as bytes come out and never past
/// `limit + 1` (one byte over says "too big"); whether the stream ended.
fn run(
    decompressor: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, Run> {
    let start = decompressor.total_in();
    loop {
        if out.len() == out.capacity() {
            grow(out, limit)?;
        }
        let consumed = (decompressor.total_in() - start) as usize;
        let before = (consumed, out.len());
        let status = decompressor
            .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            .map_err(|error| {
                Run::Wire(WireError::protocol(format!(
                    "invalid compressed data: {error}"
                )))
            })?;
        if out.len() > limit {
            return Err(Run::Over);
        }
        let consumed = (decompressor.total_in() - start) as usize;
        if status == Status::StreamEnd {
            return Ok(true);
        }
        let stuck = before == (consumed, out.len());
        if (consumed == input.len() && out.len() < out.capacity()) || stuck {
            return Ok(false);
        }
    }
}

fn grow(out: &mut Vec<u8>, limit: usize) -> Result<(), Run> {
    let room = limit.saturating_add(1).saturating_sub(out.len());
    if room == 0 {
        return Err(Run::Over);
    }
    let additional = out.len().max(FIRST_OUTPUT).min(room);
    out.try_reserve_exact(additional)
        .map_err(|_| Run::Wire(WireError::OutOfMemory(out.len() + additional)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn compress(data: &[u8]) -> Vec<u8> {
        let mut compress = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() + 1024);
        compress
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    fn params(max_ratio: Option<u32>) -> InflateParams {
        InflateParams {
            takeover: false,
            max_ratio,
        }
    }

    #[test]
    fn inflates_what_a_sync_flush_made() {
        let text = "héllo wörld ".repeat(1_000);
        let mut inflater = Inflater::new(params(None));
        let got = inflater
            .inflate(&compress(text.as_bytes()), 1 << 20)
            .unwrap();
        assert_eq!(got, text.as_bytes());
        // The empty message: a single 0x00 (§7.2.3.6), or nothing at all.
        assert_eq!(inflater.inflate(&[0], 10).unwrap(), &b""[..]);
        assert_eq!(inflater.inflate(&[], 10).unwrap(), &b""[..]);
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit_having_inflated_no_more() {
        // 16 MiB of zeros in about 16 KiB.
        let bomb = compress(&vec![0; 16 << 20]);
        assert!(bomb.len() < 40 << 10, "{}", bomb.len());
        let mut inflater = Inflater::new(params(None));
        let limit = 1 << 20;
        assert!(matches!(
            inflater.inflate(&bomb, limit),
            Err(WireError::TooBig(_))
        ));
        // The ratio limit stops it too, under a large size limit.
        let mut inflater = Inflater::new(params(Some(100)));
        assert!(matches!(
            inflater.inflate(&bomb, 64 << 20),
            Err(WireError::TooBig(_))
        ));
        // Exactly at the limit is fine.
        let exact = compress(&vec![7; limit]);
        assert_eq!(
            Inflater::new(params(None))
                .inflate(&exact, limit)
                .unwrap()
                .len(),
            limit
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let mut inflater = Inflater::new(params(None));
        assert!(matches!(
            inflater.inflate(&[0xff, 0xff, 0xff, 0xff, 0x12], 1 << 20),
            Err(WireError::Protocol(_))
        ));
        // The pooled decompressor was reset: the next message inflates.
        let fine = compress(b"fine, thanks");
        assert_eq!(inflater.inflate(&fine, 100).unwrap(), &b"fine, thanks"[..]);
    }
}
