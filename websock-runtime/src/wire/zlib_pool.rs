//! Each worker thread's spare compressors and decompressors.
//!
//! Without context takeover a connection needs zlib state only while it compresses or inflates
//! one message, which it does without yielding: it borrows the state from its thread, resets
//! it and gives it back, so 10,000 idle compressing connections hold none (zlib's state is
//! 380,032 B for a compressor at a 15-bit window, 47,552 B for a decompressor, as measured by
//! `websock-bench/tests/alloc_count.rs`).

use flate2::{Compress, Compression, Decompress};
use std::cell::RefCell;

/// Spares kept per thread: one is the steady state (nothing yields while holding one); a
/// second covers a compressor kept for another level or window.
const MAX_SPARES: usize = 2;

thread_local! {
    static COMPRESSORS: RefCell<Vec<(u8, u8, Compress)>> = const { RefCell::new(Vec::new()) };
    static DECOMPRESSORS: RefCell<Vec<Decompress>> = const { RefCell::new(Vec::new()) };
}

/// A raw-deflate compressor at `level` with a `window_bits` window (9 to 15).
pub(super) fn take_compressor(level: u8, window_bits: u8) -> Compress {
    let spare = COMPRESSORS.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        let at = spares
            .iter()
            .position(|(l, w, _)| (*l, *w) == (level, window_bits))?;
        Some(spares.swap_remove(at).2)
    });
    spare
        .ok()
        .flatten()
        .unwrap_or_else(|| new_compressor(level, window_bits))
}

pub(super) fn new_compressor(level: u8, window_bits: u8) -> Compress {
    // `new_with_window_bits` panics outside 9..=15; negotiation never agrees on anything else.
    let window_bits = window_bits.clamp(9, 15);
    Compress::new_with_window_bits(Compression::new(level.into()), false, window_bits)
}

/// Takes `compressor` back, reset, for the next message on this thread.
pub(super) fn give_compressor(level: u8, window_bits: u8, mut compressor: Compress) {
    compressor.reset();
    let _ = COMPRESSORS.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < MAX_SPARES {
            spares.push((level, window_bits, compressor));
        }
    });
}

/// A raw-deflate decompressor with a 15-bit window, which reads any window size.
pub(super) fn take_decompressor() -> Decompress {
    DECOMPRESSORS
        .try_with(|spares| spares.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Decompress::new(false))
}

/// Takes `decompressor` back, reset.
pub(super) fn give_decompressor(mut decompressor: Decompress) {
    decompressor.reset(false);
    let _ = DECOMPRESSORS.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < MAX_SPARES {
            spares.push(decompressor);
        }
    });
}
