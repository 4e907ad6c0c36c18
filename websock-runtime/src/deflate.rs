//! The options of permessage-deflate (RFC 7692), turned on per route with
//! [`Config::deflate`](crate::Config::deflate).

/// permessage-deflate (RFC 7692) for a route's connections: off unless
/// [`Config::deflate`](crate::Config::deflate) is given one, as in Bandit and Phoenix.
///
/// ```
/// use websock_runtime::{Config, Deflate};
///
/// let config = Config::default().deflate(Deflate::default());
/// ```
///
/// **Memory.** By default neither side keeps its compression context from one message to the
/// next: the response always carries `server_no_context_takeover` and
/// `client_no_context_takeover` (RFC 7692 §7.1.1, which lets a server ask for the latter even
/// when the offer lacks it; browsers accept it). A connection then holds no zlib state while it
/// is idle: a compressor or decompressor is borrowed from its worker thread's pool for one
/// message and reset. [`context_takeover`](Self::context_takeover) trades that memory (about
/// 418 KiB of zlib state per connection) for a better ratio on small repetitive messages.
///
/// **Hostile input.** Inflated bytes count against
/// [`Config::max_message_size`](crate::Config::max_message_size): a message that inflates past
/// it (a zip bomb) is closed with 1009 after at most that many bytes were inflated, and
/// [`max_inflate_ratio`](Self::max_inflate_ratio) bounds how much each received byte may
/// become. Compressed data zlib cannot read closes the connection with 1002.
///
/// | option | default |
/// | --- | --- |
/// | [`level`](Self::level) | 6, zlib's default |
/// | [`window_bits`](Self::window_bits) | 15 (a 32 KiB window) |
/// | [`threshold`](Self::threshold) | 256 bytes: shorter messages go uncompressed |
/// | [`context_takeover`](Self::context_takeover) | off |
/// | [`max_inflate_ratio`](Self::max_inflate_ratio) | none |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deflate {
    pub(crate) level: u8,
    pub(crate) window_bits: u8,
    pub(crate) threshold: usize,
    pub(crate) context_takeover: bool,
    pub(crate) max_inflate_ratio: Option<u32>,
}

impl Default for Deflate {
    fn default() -> Self {
        Self {
            level: 6,
            window_bits: 15,
            threshold: 256,
            context_takeover: false,
            max_inflate_ratio: None,
        }
    }
}

impl Deflate {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self::default()
    }

    /// zlib's compression level, 0 (stored) to 9 (smallest); larger values mean 9.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.min(9) as u8;
        self
    }

    /// The base-2 logarithm of the window our compressor uses, 9 to 15 (values outside are
    /// clamped). A client can ask for a smaller one (`server_max_window_bits`); a client that
    /// asks for 8 is answered 8 and served with zlib's 9-bit window, whose matches reach at most
    /// 250 bytes back and so fit an 8-bit window. What clients send is always inflated with a
    /// 15-bit window, which reads any window size.
    pub fn window_bits(mut self, bits: u8) -> Self {
        self.window_bits = bits.clamp(9, 15);
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed (RSV1 clear): on small
    /// messages deflate saves little and costs a compressor's setup. A message that would not
    /// shrink is also sent as it is (without context takeover).
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Keep the compression context across messages in both directions, as RFC 7692 allows by
    /// default: repetitive small messages compress far better, but every connection then holds
    /// its zlib state for its whole life: measured at the defaults (15-bit window, memLevel 8),
    /// 380,032 B for the compressor and 47,552 B for the decompressor, about 418 KiB per idle
    /// connection (`websock-bench/tests/alloc_count.rs`, `idle_context_takeover_connection_heap`). A client that offers `server_no_context_takeover` still gets none on our
    /// side.
    pub fn context_takeover(mut self, on: bool) -> Self {
        self.context_takeover = on;
        self
    }

    /// Close with 1009 a message that inflates to more than `ratio` times its compressed size
    /// (counted once it passes 64 KiB, so small messages of repeated bytes are not refused);
    /// `None` leaves only the message size limit.
    pub fn max_inflate_ratio(mut self, ratio: impl Into<Option<u32>>) -> Self {
        self.max_inflate_ratio = ratio.into().map(|ratio| ratio.max(1));
        self
    }
}
