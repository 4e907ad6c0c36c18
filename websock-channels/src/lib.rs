//! Phoenix-compatible channels for websock: topics multiplexed over one socket, join
//! authorization, request/reply, broadcast, presence and heartbeats, speaking Phoenix's own
//! wire protocol (the V2 serializer, and V1 for clients without `vsn`) so the official
//! `phoenix` JavaScript client connects unchanged.
//!
//! ```no_run
//! use websock_channels::{AnonymousSocket, Channel, ChannelSocket, JoinError, Payload, ChannelReply, Topic, socket};
//!
//! struct Room;
//!
//! impl Channel for Room {
//!     const TOPIC: &'static str = "room:{id}";
//!     type Info = ();
//!     type State = ();
//!
//!     async fn join(topic: Topic, _: Payload, _: &mut ChannelSocket<'_, Self>) -> Result<(Self, Payload), JoinError> {
//!         if topic.get("id") == Some("secret") {
//!             return Err(JoinError::reason("unauthorized"));
//!         }
//!         Ok((Room, Payload::empty()))
//!     }
//!
//!     async fn handle_in(&mut self, event: &str, payload: Payload, socket: &mut ChannelSocket<'_, Self>) -> ChannelReply {
//!         socket.broadcast(event, payload);
//!         ChannelReply::ok(Payload::empty())
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let route = socket(AnonymousSocket).channel::<Room>();
//! let router = websock_runtime::Router::new().route("/socket/websocket", route);
//! websock_runtime::serve(tokio::net::TcpListener::bind("127.0.0.1:4000").await?, router).await?;
//! # Ok(()) }
//! ```
//!
//! Most users write channels with `#[channel("room:{id}")]` from the `websock` crate, which
//! re-exports this one as `websock::channels`.
//!
//! # How it maps to Phoenix
//!
//! | Phoenix | here |
//! | --- | --- |
//! | `UserSocket.connect/3`, `id/1` | [`Socket::connect`], [`Socket::id`] (403 on refusal, before the upgrade) |
//! | `channel "room:*", RoomChannel` | [`SocketRoute::channel`] with [`Channel::TOPIC`] |
//! | `join/3`, `handle_in/3`, `handle_info/2`, `handle_out/3`, `terminate/2` | the [`Channel`] methods |
//! | `{:reply, {:ok, map}, socket}` / `{:noreply, socket}` / `{:stop, ..}` | [`ChannelReply::ok`], [`ChannelReply::none`], [`ChannelReply::stop`] |
//! | `push`, `broadcast`, `broadcast_from` | [`ChannelSocket::push`], [`ChannelSocket::broadcast`], [`ChannelSocket::broadcast_from`] |
//! | `Endpoint.broadcast`, `Endpoint.broadcast(id, "disconnect", %{})` | [`PubSub::broadcast`], [`PubSub::disconnect`] |
//! | `PubSub.broadcast(MyApp.PubSub, "game:42", {:game_update, state})` to `handle_info`, `PubSub.subscribe` | [`PubSub::publish_info`], `GameChannel::topic("42").publish(..)` ([`ChannelTopic::publish`], checked at compile time), [`PubSub::subscribe_info`] |
//! | `send(self(), msg)`, `Process.send_after(self(), msg, ms)` | [`ChannelSocket::handle`] ([`ChannelHandle::send`]), [`ChannelSocket::send_after`]: only the types the channel has an `#[on_info]` for ([`HandlesInfo`]) |
//! | `Presence.track/update/list/get_by_key` | [`ChannelSocket::track`], [`ChannelSocket::update`], [`Presence::list`], [`Presence::get_by_key`] |
//! | `Phoenix.ChannelTest` | [`testing`] |
//! | `serializer: [{V1.JSONSerializer, "~> 1.0.0"}, {V2.JSONSerializer, "~> 2.0.0"}]` | chosen by `vsn` at connect: no `vsn` or `~> 1.0.0` is V1 (`{"topic","event","payload","ref"}` objects, no binary: a binary payload is not sent to a V1 socket, counted in [`ChannelMetrics::unencodable`]), `~> 2.0.0` is V2, others get 403 |
//!
//! Each connection is one task (the runtime's), and each channel it joins runs in a task of
//! its own, as a Phoenix channel is a process: the socket's task reads frames, answers
//! heartbeats, routes events to their channel and writes what the channels send back, so a
//! slow `await` in one channel delays only that channel; within a channel, pushes and replies
//! keep their order. Broadcasts a channel does not intercept skip the channel's task and are
//! encoded once for every subscriber (Phoenix's fastlane); the broadcaster writes them
//! straight to each idle member's socket (the runtime's
//! [`Handle::try_write_frame`](websock_runtime::Handle::try_write_frame)), and through the
//! socket's task only when it is busy, the order of each socket's frames kept.
//! A panic in a channel
//! callback, or one still running after [`SocketRoute::callback_timeout`] (30 s), is caught:
//! the client gets `phx_error` `{"reason":"channel_crash"}` (or `{"reason":"timeout"}`; a
//! join answers `{"reason":"join crashed"}`) and the socket and its other channels go on.
//!
//! Close codes: the idle timeout (60 s without a frame from the client) and `disconnect`
//! close with 1001, a server shutdown with 1012, sustained rate-limit abuse with 1008, a slow
//! consumer (a broadcast found its mailbox full; see [`Delivery`]) with 1013: all codes
//! phoenix.js reconnects after. Nothing here closes with 1000, which stops phoenix.js up
//! to 1.8.12 for good.

// The modules in layers, each using only those above it (no import circles):
//
// 1. `topic`, `payload`, `protocol`, `telemetry`: names, values, the wire format, counters;
//    `info`: a typed value published to a topic.
// 2. `broadcast`: one broadcast (encoded once), its sender id, what its delivery did.
// 3. `mailbox`: a socket's mailbox and its overflow policy.
// 4. `pubsub`: topics to subscribers, adapters.
// 5. `presence`: who is in a topic, its diffs merged per interval (`presence_pending`) and
//    published through pubsub; `publisher`: a socket's publish queue, drained in order by
//    one task.
// 6. `connect`: the user's `Socket` (connect, id), its params, assigns, limits.
// 7. `shared`: what an endpoint's channels share (pubsub, presence, limits, counters);
//    `state`: the app state channels read (the route's socket value).
// 8. `channel`: the `Channel` contract and `ChannelSocket`; `channel_task`: a joined
//    channel's own task (Phoenix's channel process); `rate_limit`: what `#[rate_limit]` calls;
//    `channel_topic`: a topic typed by its channel.
// 9. `hub`: the channel routes, and a connection that passed `connect`.
// 10. `core`: one socket's state machine (frames in, frames out), transport-free.
// 11. `handler` (the WebSocket transport), `socket` (the route builder), `testing`.
mod broadcast;
mod channel;
mod channel_task;
mod channel_topic;
mod connect;
mod core;
mod from_payload;
mod handler;
mod hub;
mod info;
pub mod longpoll;
mod mailbox;
mod payload;
mod presence;
mod presence_pending;
mod protocol;
mod publisher;
mod pubsub;
mod rate_limit;
mod reply_payload;
mod route_service;
mod serializer;
mod shared;
mod socket;
mod state;
mod telemetry;
pub mod testing;
pub mod token;
mod topic;
mod v1;

pub use broadcast::{BoxFuture, Broadcast, Delivery, SubscriberId};
pub use channel::{
    Channel, ChannelHandle, ChannelReply, ChannelSocket, ChannelTimer, HandlesInfo,
    IntoChannelReply, IntoJoin, JoinError, LeaveReason, NotDelivered,
};
pub use channel_topic::ChannelTopic;
pub use connect::{AnonymousSocket, Assigns, ConnectInfo, Params, RateLimit, Refused, Socket};
pub use from_payload::FromPayload;
pub use info::InfoValue;
pub use payload::{Binary, Payload, PayloadError};
pub use presence::{AlreadyTracked, Presence};
pub use pubsub::{
    Adapter, InfoSubscription, LocalAdapter, PresenceDiff, PresenceMeta, PubSub, PubSubError,
    Subscriber, Subscription,
};
pub use reply_payload::{ErrorReply, OkReply};
pub use socket::{SocketRoute, socket};
pub use state::{State, StateOf};
pub use telemetry::ChannelMetrics;
pub use topic::Topic;

/// What `#[channel]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::IntoChannelReply;
    pub use crate::channel::{IntoJoin, into_reply, parse_capture, topic_capture, unhandled_event};
    pub use crate::from_payload::FromPayload;
    pub use crate::info::{Accept, LocalOnly, Remote};
    pub use crate::payload::parse_param;
    pub use crate::rate_limit::{default_rate_key, over_rate_limit, rate_limited_reply};
    pub use crate::state::channel_state;
    pub use serde_json;
}
