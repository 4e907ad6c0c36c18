//! RFC 6455 framing for the server side: client frames in, our frames out.
//!
//! Our own rather than tungstenite's protocol layer, for one reason: memory. tungstenite keeps a
//! read buffer for the whole life of a connection and zero-fills it before every read; here a
//! connection borrows a buffer from its worker thread's pool only while bytes are arriving and
//! gives it back when the socket has nothing more, so an idle connection holds no read buffer
//! at all (see BENCHMARKS.md, "Memory per idle connection"). Payloads are slices of the read
//! buffer, as in tungstenite: a message costs no copy and, in steady traffic, no allocation.
//!
//! permessage-deflate (RFC 7692) lives here too: `negotiate` answers the offer, `inflater`
//! and `deflater` work per message with zlib state borrowed from `zlib_pool`, so an idle
//! compressing connection holds none.

mod deflater;
mod header;
mod inbound_budget;
mod inflater;
mod mask;
mod negotiate;
mod pending_pool;
mod read_pool;
mod reader;
mod writer;
mod zlib_pool;

pub(crate) use deflater::Deflater;
pub(crate) use inbound_budget::InboundBudget;
pub(crate) use inflater::Inflater;
pub(crate) use negotiate::{Agreed, negotiate};
pub(crate) use reader::{Inbound, Limits, Reader};
pub(crate) use writer::{Writer, lane_frame};

use std::io;

/// Why reading from the client stopped.
#[derive(Debug)]
pub(crate) enum WireError {
    /// The client broke RFC 6455 (close 1002).
    Protocol(String),
    /// A text message or close reason that is not UTF-8 (close 1007).
    InvalidUtf8,
    /// A frame or message over the configured limit (close 1009).
    TooBig(String),
    /// Holding more of this message would pass the server-wide budget for unfinished messages
    /// (close 1009).
    OverBudget(String),
    /// Memory for this message could not be allocated (close 1009); the bytes it needed.
    OutOfMemory(usize),
    /// The client closed TCP.
    Eof,
    /// The socket failed.
    Io(io::Error),
}

impl WireError {
    fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol(message.into())
    }
}
