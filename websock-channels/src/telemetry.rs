//! Counters for one socket endpoint, readable through [`SocketRoute::metrics`](crate::SocketRoute::metrics)
//! and reported through the [`metrics`] facade.

use metrics::{Counter, Gauge, counter, gauge};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    exported: Exported,
    sockets_open: AtomicU64,
    sockets_total: AtomicU64,
    refused_connects: AtomicU64,
    channels_open: AtomicU64,
    joins: AtomicU64,
    refused_joins: AtomicU64,
    crashes: AtomicU64,
    messages_in: AtomicU64,
    handled_in: AtomicU64,
    messages_out: AtomicU64,
    rate_limited: AtomicU64,
    presence_resyncs: AtomicU64,
    presence_diffs: AtomicU64,
    slow_consumers: AtomicU64,
    unencodable: AtomicU64,
    unhandled_infos: AtomicU64,
}

/// A snapshot of an endpoint's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelMetrics {
    /// Sockets connected now.
    pub sockets: u64,
    /// Sockets connected so far.
    pub sockets_total: u64,
    /// Connects refused (HTTP 403).
    pub refused_connects: u64,
    /// Channels joined now, over all sockets.
    pub channels: u64,
    /// Successful joins so far.
    pub joins: u64,
    /// Joins refused (by the channel, the channel limit, or an unmatched topic).
    pub refused_joins: u64,
    /// Channel callbacks that panicked (joins included).
    pub crashes: u64,
    /// Messages received from clients (heartbeats included).
    pub messages_in: u64,
    /// Events delivered to a joined channel (Phoenix's `[:phoenix, :channel_handled_in]`).
    pub handled_in: u64,
    /// Frames sent to clients.
    pub messages_out: u64,
    /// Messages refused by the rate limit (undecodable frames included).
    pub rate_limited: u64,
    /// Fresh `presence_state`s pushed to sockets whose mailbox was full when a
    /// `presence_diff` came (see [`Delivery`](crate::Delivery)).
    pub presence_resyncs: u64,
    /// `presence_diff` broadcasts sent: each carries every change one topic's presence had
    /// in one [`presence_interval`](crate::SocketRoute::presence_interval).
    pub presence_diffs: u64,
    /// Sockets closed with 1013 because a broadcast found their mailbox full (see
    /// [`Delivery`](crate::Delivery)).
    pub slow_consumers: u64,
    /// Binary frames not sent because a field (an event, a reply status) was over the 255
    /// bytes the binary layout allows, or because the socket speaks V1, which has no binary
    /// frames.
    pub unencodable: u64,
    /// Values published to a topic ([`PubSub::publish_info`](crate::PubSub::publish_info))
    /// that a channel joined to it did not take: it has no `#[on_info]` for their type, or
    /// the value came from another node and did not decode. Each is logged (warn).
    pub unhandled_infos: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> ChannelMetrics {
        ChannelMetrics {
            sockets: self.sockets_open.load(Relaxed),
            sockets_total: self.sockets_total.load(Relaxed),
            refused_connects: self.refused_connects.load(Relaxed),
            channels: self.channels_open.load(Relaxed),
            joins: self.joins.load(Relaxed),
            refused_joins: self.refused_joins.load(Relaxed),
            crashes: self.crashes.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            handled_in: self.handled_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            presence_resyncs: self.presence_resyncs.load(Relaxed),
            presence_diffs: self.presence_diffs.load(Relaxed),
            slow_consumers: self.slow_consumers.load(Relaxed),
            unencodable: self.unencodable.load(Relaxed),
            unhandled_infos: self.unhandled_infos.load(Relaxed),
        }
    }

    pub(crate) fn socket_opened(&self) {
        self.sockets_open.fetch_add(1, Relaxed);
        self.sockets_total.fetch_add(1, Relaxed);
        self.exported.sockets.increment(1);
        self.exported.sockets_total.increment(1);
    }

    pub(crate) fn socket_closed(&self) {
        self.sockets_open.fetch_sub(1, Relaxed);
        self.exported.sockets.decrement(1);
    }

    pub(crate) fn refused_connect(&self) {
        self.refused_connects.fetch_add(1, Relaxed);
        self.exported.refused_connects.increment(1);
    }

    pub(crate) fn joined(&self) {
        self.joins.fetch_add(1, Relaxed);
        self.channels_open.fetch_add(1, Relaxed);
        self.exported.joins.increment(1);
        self.exported.channels.increment(1);
    }

    pub(crate) fn channel_closed(&self) {
        self.channels_open.fetch_sub(1, Relaxed);
        self.exported.channels.decrement(1);
    }

    pub(crate) fn refused_join(&self) {
        self.refused_joins.fetch_add(1, Relaxed);
        self.exported.refused_joins.increment(1);
    }

    pub(crate) fn crashed(&self) {
        self.crashes.fetch_add(1, Relaxed);
        self.exported.crashes.increment(1);
    }

    pub(crate) fn message_in(&self) {
        self.messages_in.fetch_add(1, Relaxed);
        self.exported.messages_in.increment(1);
    }

    pub(crate) fn handled_in(&self) {
        self.handled_in.fetch_add(1, Relaxed);
        self.exported.handled_in.increment(1);
    }

    pub(crate) fn messages_out(&self, n: usize) {
        self.messages_out.fetch_add(n as u64, Relaxed);
        self.exported.messages_out.increment(n as u64);
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
        self.exported.rate_limited.increment(1);
    }

    pub(crate) fn presence_resynced(&self) {
        self.presence_resyncs.fetch_add(1, Relaxed);
        self.exported.presence_resyncs.increment(1);
    }

    pub(crate) fn presence_diff(&self) {
        self.presence_diffs.fetch_add(1, Relaxed);
        self.exported.presence_diffs.increment(1);
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Relaxed);
        self.exported.slow_consumers.increment(1);
    }

    pub(crate) fn unencodable(&self) {
        self.unencodable.fetch_add(1, Relaxed);
        self.exported.unencodable.increment(1);
    }

    pub(crate) fn unhandled_info(&self) {
        self.unhandled_infos.fetch_add(1, Relaxed);
        self.exported.unhandled_infos.increment(1);
    }
}

/// The same counts through the [`metrics`] facade, named after Phoenix's telemetry events.
/// The handles are registered once, when the endpoint is built, so that counting a message
/// allocates nothing; install the recorder (e.g. a Prometheus exporter) before building the
/// socket route, or these report to no one.
#[derive(Debug)]
struct Exported {
    sockets: Gauge,
    sockets_total: Counter,
    refused_connects: Counter,
    channels: Gauge,
    joins: Counter,
    refused_joins: Counter,
    crashes: Counter,
    messages_in: Counter,
    handled_in: Counter,
    messages_out: Counter,
    rate_limited: Counter,
    presence_resyncs: Counter,
    presence_diffs: Counter,
    slow_consumers: Counter,
    unencodable: Counter,
    unhandled_infos: Counter,
}

impl Default for Exported {
    fn default() -> Self {
        Self {
            sockets: gauge!("websock_sockets_connected"),
            sockets_total: counter!("websock_socket_connected_total"),
            refused_connects: counter!("websock_socket_refused_total"),
            channels: gauge!("websock_channels_joined"),
            joins: counter!("websock_channel_joined_total"),
            refused_joins: counter!("websock_channel_join_refused_total"),
            crashes: counter!("websock_channel_crashed_total"),
            messages_in: counter!("websock_socket_messages_in_total"),
            handled_in: counter!("websock_channel_handled_in_total"),
            messages_out: counter!("websock_socket_messages_out_total"),
            rate_limited: counter!("websock_socket_rate_limited_total"),
            presence_resyncs: counter!("websock_presence_resynced_total"),
            presence_diffs: counter!("websock_presence_diff_total"),
            slow_consumers: counter!("websock_socket_slow_consumer_total"),
            unencodable: counter!("websock_frame_unencodable_total"),
            unhandled_infos: counter!("websock_channel_unhandled_info_total"),
        }
    }
}
