//! Per-route (or per-upgrade) connection options.

use crate::{Deflate, wire::Limits};
use std::{sync::Arc, time::Duration};

/// Half the default idle timeout: a client that only receives (a browser tab showing a feed)
/// answers two pings per idle window, so one late pong does not close it. Browsers answer
/// pings without the page's help, as RFC 6455 §5.5.2 requires of every endpoint.
const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(30);

/// Options for the connections of one route or one [`upgrade`](crate::upgrade).
///
/// | option | default |
/// | --- | --- |
/// | [`idle_timeout`](Self::idle_timeout) | 60 s, reset by every frame from the client (close 1001) |
/// | [`ping_interval`](Self::ping_interval) | 30 s; the client's pong resets the idle timeout |
/// | [`close_timeout`](Self::close_timeout) | 5 s to wait for the client's close frame after ours |
/// | [`callback_timeout`](Self::callback_timeout) | 30 s (close 1011, `terminate(Timeout(Callback))`) |
/// | [`max_frame_size`](Self::max_frame_size) | 16 MiB (close 1009, decided from the frame header) |
/// | [`max_message_size`](Self::max_message_size) | 64 MiB (close 1009) |
/// | [`max_write_buffer`](Self::max_write_buffer) | 16 MiB of unwritten frames (close 1008) |
/// | [`mailbox_capacity`](Self::mailbox_capacity) | 1,024 info messages |
/// | [`protocols`](Self::protocols) | none |
/// | [`deflate`](Self::deflate) | off: no permessage-deflate |
///
/// Text messages are always checked to be UTF-8 (close 1007), as RFC 6455 §8.1 requires.
///
/// **Memory a client controls.** A frame's length is checked against `max_frame_size` from its
/// header, but memory for it follows the bytes that arrive, never the length the header
/// announces: the read buffer grows by at most what is already here of the frame (or by the
/// length of the client's previous data frame, up to 1 MiB, so a steady stream of large
/// messages is read in large reads), so a header alone buys nothing. When memory cannot be had (an address-space limit,
/// `vm.overcommit_memory=2`), that connection is closed with 1009 and counted
/// ([`Metrics::allocation_failures`](crate::Metrics)); the process goes on. What all connections
/// hold of unfinished messages together is bounded by
/// [`Server::max_inbound_buffer`](crate::Server::max_inbound_buffer).
///
/// **Backpressure.** Frames a handler pushes are buffered until the socket takes them. While more
/// than a quarter of `max_write_buffer` is waiting, the connection stops reading from the
/// client, so a client that sends faster than it reads is slowed by TCP rather than buffered.
/// Pushes that do not come from the client (infos, timers) cannot be slowed that way: when a push
/// would take the buffer past `max_write_buffer`, the frame is dropped and counted
/// ([`Stats::dropped_frames`](crate::Stats)), and the connection is closed with 1008 and
/// `terminate(Error(SlowReader))`. A single frame larger than the limit is still accepted when
/// nothing else is waiting, so an echo of a large message works.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) close_timeout: Duration,
    pub(crate) callback_timeout: Option<Duration>,
    pub(crate) max_frame_size: usize,
    pub(crate) max_message_size: usize,
    pub(crate) max_write_buffer: usize,
    pub(crate) mailbox_capacity: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) protocols: Arc<[String]>,
    pub(crate) drain: bool,
    // Boxed behind an `Arc`: every connection keeps its config, and most never compress.
    pub(crate) deflate: Option<Arc<Deflate>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout: Some(Duration::from_secs(60)),
            ping_interval: Some(DEFAULT_PING_INTERVAL),
            close_timeout: Duration::from_secs(5),
            callback_timeout: Some(Duration::from_secs(30)),
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_write_buffer: 16 << 20,
            mailbox_capacity: 1024,
            read_buffer_size: 4 << 10,
            write_buffer_size: 64 << 10,
            protocols: Arc::from([]),
            drain: false,
            deflate: None,
        }
    }
}

impl Config {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Close with 1001 when no frame arrives from the client for `timeout`; `None` disables it.
    /// Every frame from the client (data, ping, pong) resets it; frames we send do not.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// Send a ping every `interval` (every 30 s by default). The client's pong, like any frame
    /// from it, resets the [`idle_timeout`](Self::idle_timeout), so a client that only
    /// receives stays connected, while one that stops reading is still closed (1001).
    /// `None` or `Duration::ZERO` turns pings off: a test suite such as Autobahn, where an
    /// unsolicited ping inside a case fails it, wants that.
    ///
    /// No duration overflows here or in the other timeouts: one beyond about 30 years
    /// (`Duration::MAX`) means "never".
    pub fn ping_interval(mut self, interval: impl Into<Option<Duration>>) -> Self {
        // A zero period would make tokio's interval panic, and pinging without pause is no use.
        self.ping_interval = interval.into().filter(|interval| !interval.is_zero());
        self
    }

    /// After sending our close frame, wait this long for the client's before dropping TCP.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// End the connection (1011, `terminate(Timeout(Callback))`) when a callback runs longer;
    /// `None` disables it.
    pub fn callback_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.callback_timeout = timeout.into();
        self
    }

    /// The largest frame payload accepted (close 1009 otherwise).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// The largest message accepted, fragments included (close 1009 otherwise).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The most unwritten frame bytes kept for a client that does not read (see Backpressure).
    pub fn max_write_buffer(mut self, bytes: usize) -> Self {
        self.max_write_buffer = bytes.max(1);
        self
    }

    /// How many info messages may wait in the mailbox before sends fail with `Full`.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = capacity.max(1);
        self
    }

    /// The size of each read from the socket.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(256);
        self
    }

    /// How many bytes of frames to gather before writing them to the socket mid-callback; the
    /// rest is written with one flush when the connection has nothing else ready.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// The subprotocols this route speaks, in order of preference: the first one the client
    /// also offers in `Sec-WebSocket-Protocol` is selected.
    pub fn protocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Negotiate permessage-deflate (RFC 7692) with clients that offer it, with these options;
    /// `None` (the default) declines every offer. See [`Deflate`] for what it costs and how
    /// hostile input is bounded.
    pub fn deflate(mut self, deflate: impl Into<Option<Deflate>>) -> Self {
        self.deflate = deflate.into().map(Arc::new);
        self
    }

    /// Whether a graceful shutdown closes this route's connections in the server's drain
    /// batches ([`Drain`](crate::Drain)) rather than at once. Off by default (a plain
    /// WebSocket closes at once, as Bandit's); channel sockets turn it on, as Phoenix drains
    /// them.
    pub fn drain(mut self, drain: bool) -> Self {
        self.drain = drain;
        self
    }

    pub(crate) fn read_pause_threshold(&self) -> usize {
        (self.max_write_buffer / 4).max(self.write_buffer_size)
    }

    pub(crate) fn limits(&self) -> Limits {
        Limits {
            read_buffer: self.read_buffer_size,
            max_frame: self.max_frame_size,
            max_message: self.max_message_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_pings_come_twice_per_idle_window() {
        let config = Config::default();
        assert_eq!(config.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(60)));
        assert_eq!(Config::new().ping_interval(None).ping_interval, None);
    }
}
