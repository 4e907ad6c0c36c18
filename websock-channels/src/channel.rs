//! The channel contract (Phoenix's `Phoenix.Channel`) and what its callbacks can do.

use crate::{
    AlreadyTracked, Assigns, Broadcast, ErrorReply, InfoValue, OkReply, Payload, Presence, PubSub,
    Topic, broadcast::SubscriberId, presence::Owner, protocol::Inbound, publisher::Publisher,
    serializer::Serializer, shared::Shared,
};
use serde_json::Value;
use std::{
    any::Any,
    fmt,
    future::Future,
    marker::PhantomData,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use websock_runtime::{Frame, RateLimiter};

/// A channel: the state of one joined topic on one socket, as Phoenix's `Phoenix.Channel`.
///
/// Most users write this through `#[channel("room:{id}")]`; implementing it by hand is just as
/// supported. Each joined channel runs its callbacks in its own task, one at a time (Phoenix's
/// channel process): a slow one delays only its channel, and a panic or a callback past
/// [`SocketRoute::callback_timeout`](crate::SocketRoute::callback_timeout) ends only its
/// channel (the client gets `phx_error` and rejoins), never the socket or the other channels.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a channel",
    note = "put `#[channel(\"topic:{{id}}\")]` on an `impl {Self}` block, or implement `websock::channels::Channel` by hand"
)]
pub trait Channel: Sized + Send + 'static {
    /// The topic pattern: `"room:lobby"`, `"room:{id}"` (captures, read with
    /// [`Topic::get`]) or `"room:*"` (a prefix).
    const TOPIC: &'static str;

    /// The events whose broadcasts go through [`handle_out`](Self::handle_out) on this socket
    /// instead of being pushed as they are (Phoenix's `intercept`).
    const INTERCEPT: &'static [&'static str] = &[];

    /// Messages sent to this channel with a [`ChannelHandle`],
    /// [`ChannelSocket::send_after`] or [`PubSub::publish_info`]: what `#[channel]` generates
    /// from its `#[on_info]` methods (one variant per type). A hand-written channel says which
    /// types it takes by implementing [`HandlesInfo`] for each.
    type Info: Send + 'static;

    /// The app state the channel reads: `()` for none, or [`State<S>`](crate::State) for the
    /// value its route was made with (`socket(S { .. })`), read with
    /// [`State::of`](crate::State::of). A route serves the channel only if it matches
    /// ([`StateOf`](crate::StateOf)), checked at compile time.
    type State;

    /// A client asks to join `topic`: accept with the channel's state and a response payload
    /// (`{}` with [`Payload::empty`]), or refuse with a [`JoinError`]. Pushes made here are
    /// sent after the join reply.
    fn join(
        topic: Topic,
        params: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> impl Future<Output = Result<(Self, Payload), JoinError>> + Send;

    /// An event pushed by the client.
    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> impl Future<Output = ChannelReply> + Send;

    /// An info message. Ignored by default.
    fn handle_info(
        &mut self,
        info: Self::Info,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> impl Future<Output = ChannelReply> + Send {
        let _ = (info, socket);
        std::future::ready(ChannelReply::none())
    }

    /// Takes a value published to this channel's topic ([`PubSub::publish_info`]), or `None`
    /// when it has no `handle_info` for its type: the socket then counts it in
    /// [`ChannelMetrics::unhandled_infos`](crate::ChannelMetrics) and logs it. By default, a
    /// value of exactly `Self::Info` published on this node; `#[channel]` generates one that
    /// takes every `#[on_info]` type, decoding (once per node) a value from another node when
    /// the type is `Deserialize`.
    fn accept_info(value: &InfoValue) -> Option<Self::Info> {
        value.clone_as::<Self::Info>()
    }

    /// An intercepted broadcast (see [`INTERCEPT`](Self::INTERCEPT)); pushes it unchanged by
    /// default.
    fn handle_out(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> impl Future<Output = ChannelReply> + Send {
        socket.push(event, payload);
        std::future::ready(ChannelReply::none())
    }

    /// The channel is ending (leave, stop, duplicate join, socket closed). Not called after a
    /// panic. Presences it tracked are untracked after this.
    fn terminate(
        &mut self,
        reason: LeaveReason,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> impl Future<Output = ()> + Send {
        let _ = (reason, socket);
        std::future::ready(())
    }
}

/// `I` is one of the infos channel `Self` handles: what makes [`ChannelHandle::send`],
/// [`ChannelSocket::send_after`] and [`ChannelTopic::publish`](crate::ChannelTopic::publish)
/// refuse, at compile time, an info the channel has no `#[on_info]` for. `#[channel]` implements it for each `#[on_info]`
/// type; a hand-written channel implements it for the types its `Info` is made from:
///
/// ```
/// use websock_channels::{Channel, ChannelReply, ChannelSocket, HandlesInfo, JoinError, Payload, Topic};
/// use std::time::Duration;
///
/// struct Clock;
/// struct Tick;
///
/// impl Channel for Clock {
///     const TOPIC: &'static str = "clock";
///     type Info = Tick;
///     type State = ();
///
///     async fn join(_: Topic, _: Payload, socket: &mut ChannelSocket<'_, Self>) -> Result<(Self, Payload), JoinError> {
///         socket.send_after(Duration::from_secs(1), Tick);
///         Ok((Clock, Payload::empty()))
///     }
///
///     async fn handle_in(&mut self, _: &str, _: Payload, _: &mut ChannelSocket<'_, Self>) -> ChannelReply {
///         ChannelReply::none()
///     }
///
///     async fn handle_info(&mut self, _: Tick, socket: &mut ChannelSocket<'_, Self>) -> ChannelReply {
///         socket.push("tick", Payload::empty());
///         socket.send_after(Duration::from_secs(1), Tick);
///         ChannelReply::none()
///     }
/// }
///
/// impl HandlesInfo<Tick> for Clock {
///     fn into_info(info: Tick) -> Tick {
///         info
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[on_info]` for `{I}`",
    label = "`{Self}` cannot receive a `{I}`",
    note = "add `#[on_info] fn on_it(&mut self, info: {I}, socket: &mut ChannelSocket)` to the `#[channel]` impl of `{Self}`, or send one of the types it handles"
)]
pub trait HandlesInfo<I>: Channel {
    /// `info` as this channel's [`Channel::Info`].
    fn into_info(info: I) -> Self::Info;
}

/// Why a channel ended, as passed to [`Channel::terminate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaveReason {
    /// The client left (`phx_leave`).
    Leave,
    /// The channel stopped itself ([`ChannelReply::stop`], [`ChannelSocket::stop`]).
    Stop,
    /// The client joined the same topic again; this instance is replaced.
    Duplicate,
    /// The socket closed.
    SocketClosed,
}

/// A refused join: the `response` of the error reply, e.g. `{"reason":"unauthorized"}`.
/// phoenix.js retries a refused join on its rejoin schedule until the app calls `leave()`.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinError {
    pub(crate) payload: Payload,
    pub(crate) unmatched: bool,
}

impl JoinError {
    /// `{"reason": reason}`.
    pub fn reason(reason: impl fmt::Display) -> Self {
        Self::new(Payload::reason(reason))
    }

    /// Any response payload.
    pub fn new(payload: impl Into<Payload>) -> Self {
        Self {
            payload: payload.into(),
            unmatched: false,
        }
    }

    /// The topic matched the pattern but a capture did not parse: answered like a topic no
    /// channel serves (`{"reason":"unmatched topic"}`).
    pub fn unmatched_topic() -> Self {
        Self {
            payload: Payload::reason("unmatched topic"),
            unmatched: true,
        }
    }

    /// The response payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.payload {
            Payload::Json(value) => write!(f, "join refused: {value}"),
            Payload::Binary(bytes) => write!(f, "join refused ({} bytes)", bytes.len()),
        }
    }
}

impl std::error::Error for JoinError {}

/// What an event callback answers: Phoenix's `{:reply, {status, response}, socket}`,
/// `{:noreply, socket}` and `{:stop, reason, socket}`.
#[must_use = "a ChannelReply does nothing unless returned from a callback"]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChannelReply {
    pub(crate) status: Option<(String, Payload)>,
    pub(crate) stop: bool,
}

impl ChannelReply {
    /// No reply (the client's `push` times out unless something else answers it).
    pub fn none() -> Self {
        Self::default()
    }

    /// `{"status":"ok","response": payload}`.
    pub fn ok(payload: impl Into<Payload>) -> Self {
        Self::status("ok", payload)
    }

    /// `{"status":"error","response": payload}`.
    pub fn error(payload: impl Into<Payload>) -> Self {
        Self::status("error", payload)
    }

    /// Any status (phoenix.js's `receive(status, ..)` matches it).
    pub fn status(status: impl Into<String>, payload: impl Into<Payload>) -> Self {
        Self {
            status: Some((status.into(), payload.into())),
            stop: false,
        }
    }

    /// Stop the channel gracefully: the client gets `phx_close` and does not rejoin.
    pub fn stop() -> Self {
        Self::none().then_stop()
    }

    /// Send this reply, then stop the channel.
    pub fn then_stop(mut self) -> Self {
        self.stop = true;
        self
    }
}

/// Anything a channel callback generated by `#[channel]` may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply a channel callback can return",
    label = "this return type is not a channel reply",
    note = "return `ChannelReply`, `()` (no reply), `Payload`, `serde_json::Value` or `Json<T: Serialize>` (an ok reply), or `Result<T, E>` where both convert into a `Payload` (ok / error reply)"
)]
pub trait IntoChannelReply {
    /// Converts into the reply.
    fn into_reply(self) -> ChannelReply;
}

impl IntoChannelReply for ChannelReply {
    fn into_reply(self) -> ChannelReply {
        self
    }
}

impl IntoChannelReply for () {
    fn into_reply(self) -> ChannelReply {
        ChannelReply::none()
    }
}

impl IntoChannelReply for Payload {
    fn into_reply(self) -> ChannelReply {
        ChannelReply::ok(self)
    }
}

// Not listed among the types that implement the trait in errors (the note names
// `serde_json::Value`): rustc would print it by a path through a hidden module.
#[diagnostic::do_not_recommend]
impl IntoChannelReply for Value {
    fn into_reply(self) -> ChannelReply {
        ChannelReply::ok(self)
    }
}

/// An ok reply whose response is `T` as JSON, as a `#[websock_handler]` method's `Json<T>`
/// pushes it. A value that fails to serialize is answered with an error reply
/// (`{"reason":"internal error"}`) and logged with its type; the channel goes on.
impl<T: serde::Serialize> IntoChannelReply for websock_runtime::Json<T> {
    fn into_reply(self) -> ChannelReply {
        match serde_json::to_value(&self.0) {
            Ok(value) => ChannelReply::ok(value),
            Err(error) => {
                tracing::error!(
                    %error,
                    "could not serialize the JSON reply `{}`: answering with an error reply",
                    std::any::type_name::<T>()
                );
                ChannelReply::error(Payload::reason("internal error"))
            }
        }
    }
}

impl<T: IntoChannelReply> IntoChannelReply for Option<T> {
    fn into_reply(self) -> ChannelReply {
        self.map_or_else(ChannelReply::none, IntoChannelReply::into_reply)
    }
}

/// `Ok` is an ok reply, `Err` an error reply (`{"status":"error","response": ..}`); each side
/// is anything that converts into a [`Payload`]: `Json<T>`, `serde_json::Value`, `Payload`,
/// bytes, `()` (`{}`).
impl<T: OkReply, E: ErrorReply> IntoChannelReply for Result<T, E> {
    fn into_reply(self) -> ChannelReply {
        match self {
            Ok(value) => ChannelReply::ok(value.into_payload()),
            Err(error) => ChannelReply::error(error.into_payload()),
        }
    }
}

/// Sends infos to one channel instance (of type `C`) of one socket, from any task; see
/// [`ChannelSocket::handle`]. Only the types `C` has an `#[on_info]` for can be sent.
pub struct ChannelHandle<C> {
    /// Weak: a handle kept somewhere does not keep an ended channel's task alive.
    mail: mpsc::WeakSender<Mail>,
    topic: Arc<str>,
    join_ref: Arc<str>,
    channel: PhantomData<fn() -> C>,
}

impl<C> Clone for ChannelHandle<C> {
    fn clone(&self) -> Self {
        Self {
            mail: self.mail.clone(),
            topic: self.topic.clone(),
            join_ref: self.join_ref.clone(),
            channel: PhantomData,
        }
    }
}

/// What a channel's task receives, in order: the socket routes the client's messages and
/// intercepted broadcasts, handles and timers send infos.
pub(crate) enum Mail {
    /// A client event for `handle_in`.
    In(Box<Inbound>),
    /// A broadcast the channel intercepts, for `handle_out`.
    Out(Arc<Broadcast>),
    /// An info for `handle_info` (the channel's own `Info`, from a handle or a timer). Boxed
    /// twice so that every variant is one pointer: the mailbox's slots (allocated 32 at a
    /// time) stay small.
    Info(Box<Box<dyn Any + Send>>),
    /// A value published to the topic ([`PubSub::publish_info`]), for `handle_info` if the
    /// channel takes its type.
    Published(Arc<Broadcast>),
    /// The client's `phx_leave`: reply ok, `terminate`, `phx_close`.
    Leave(Box<Inbound>),
    /// The socket has ended the channel (a duplicate join, the socket closing).
    End(LeaveReason),
}

impl<C> fmt::Debug for ChannelHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelHandle")
            .field("topic", &self.topic)
            .field("join_ref", &self.join_ref)
            .finish()
    }
}

/// A message did not reach its channel: the channel's mailbox is full, or the channel has
/// ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotDelivered;

impl fmt::Display for NotDelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel's mailbox is full or the channel has ended")
    }
}

impl std::error::Error for NotDelivered {}

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// A number for a new channel instance, unique within the process.
pub(crate) fn next_instance() -> u64 {
    NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
}

impl<C: Channel> ChannelHandle<C> {
    /// Sends `info` to the channel's `#[on_info]` method for its type (a compile error if it
    /// has none). A channel that has left or been rejoined since is not reached.
    ///
    /// # Errors
    /// [`NotDelivered`] when the channel's mailbox is full or the channel has ended.
    pub fn send<I>(&self, info: I) -> Result<(), NotDelivered>
    where
        C: HandlesInfo<I>,
    {
        let mail = self.mail.upgrade().ok_or(NotDelivered)?;
        mail.try_send(Mail::Info(Box::new(Box::new(C::into_info(info)))))
            .map_err(|_| NotDelivered)
    }

    /// Sends `info`, waiting for room in the channel's mailbox; `false` once it has ended.
    async fn send_waiting(&self, info: C::Info) -> bool {
        match self.mail.upgrade() {
            Some(mail) => mail
                .send(Mail::Info(Box::new(Box::new(info))))
                .await
                .is_ok(),
            None => false,
        }
    }
}

impl<C> ChannelHandle<C> {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// A timer from [`ChannelSocket::send_after`]; [`cancel`](Self::cancel) stops it, and so does
/// the end of its channel.
#[derive(Debug)]
pub struct ChannelTimer(tokio::task::AbortHandle);

impl ChannelTimer {
    /// Cancels the timer (a no-op once it fired).
    pub fn cancel(self) {
        self.0.abort();
    }
}

/// What a callback pushes to its client.
pub(crate) enum Push {
    Event(String, Payload),
    /// A `presence_state` whose payload is encoded already (see
    /// [`ChannelSocket::push_presence_state`]).
    State(Arc<String>),
}

impl Push {
    /// The frame to `topic` for the channel joined as `join_ref` (`None`: not encodable, a
    /// binary field over 255 bytes), and its event for the log.
    pub(crate) fn encode(
        &self,
        serializer: Serializer,
        join_ref: &str,
        topic: &str,
    ) -> (Option<Frame>, &str) {
        match self {
            Self::Event(event, payload) => (
                serializer.encode_push(Some(join_ref), topic, event, payload),
                event,
            ),
            Self::State(json) => {
                let frame =
                    serializer.encode_push_json(Some(join_ref), topic, PRESENCE_STATE, json);
                (Some(frame), PRESENCE_STATE)
            }
        }
    }
}

const PRESENCE_STATE: &str = "presence_state";

/// What a joined channel instance keeps between callbacks; its callbacks see it as a
/// [`ChannelSocket`].
pub(crate) struct SocketState {
    pub(crate) topic: Arc<str>,
    pub(crate) join_ref: Arc<str>,
    /// Tells this channel instance from any other of the same topic on the socket, including
    /// a rejoin that reuses the join_ref: infos for an instance go to it alone.
    pub(crate) instance: u64,
    /// Cancelled when the channel ends: its `send_after` timers stop. Made with the first.
    pub(crate) timers: OnceLock<CancellationToken>,
    pub(crate) assigns: Arc<Assigns>,
    pub(crate) socket_id: Option<Arc<str>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) subscriber: SubscriberId,
    /// The channel's own mailbox (its task holds the receiver).
    pub(crate) mail: mpsc::WeakSender<Mail>,
    /// The socket's publish queue: broadcasts never wait for the adapter in a callback.
    pub(crate) publisher: Publisher,
    pub(crate) pushes: Vec<Push>,
    pub(crate) broadcasts: Vec<Broadcast>,
    pub(crate) tracked: bool,
    pub(crate) stop: bool,
}

impl fmt::Debug for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketState")
            .field("topic", &self.topic)
            .field("join_ref", &self.join_ref)
            .field("socket_id", &self.socket_id)
            .finish_non_exhaustive()
    }
}

impl Drop for SocketState {
    fn drop(&mut self) {
        self.end_timers();
    }
}

/// What a callback of channel `C` can do besides returning a [`ChannelReply`]: push to its
/// client, broadcast to its topic, track presence, send itself infos, stop; and read the
/// socket's assigns. In a `#[channel]` impl, write it `socket: &mut ChannelSocket`: the macro
/// makes it `ChannelSocket<'_, Self>`; a hand-written [`Channel`] writes that itself.
/// Elsewhere, `ChannelSocket` is `ChannelSocket<'_, ()>`: every operation but the typed ones
/// ([`handle`](Self::handle), [`send_after`](Self::send_after)), for helper functions (pass
/// them [`socket.untyped()`](Self::untyped)).
pub struct ChannelSocket<'a, C = ()> {
    pub(crate) state: &'a mut SocketState,
    channel: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for ChannelSocket<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSocket")
            .field("topic", &self.state.topic)
            .field("join_ref", &self.state.join_ref)
            .field("socket_id", &self.state.socket_id)
            .finish_non_exhaustive()
    }
}

impl<'a, C> ChannelSocket<'a, C> {
    pub(crate) fn new(state: &'a mut SocketState) -> Self {
        Self {
            state,
            channel: PhantomData,
        }
    }

    /// This socket without its channel's type, for a helper function that takes
    /// `&mut ChannelSocket`.
    pub fn untyped(&mut self) -> ChannelSocket<'_> {
        ChannelSocket::new(self.state)
    }
}

impl<C> ChannelSocket<'_, C> {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.state.topic
    }

    /// The ref of the `phx_join` this instance answers (each rejoin has a new one).
    pub fn join_ref(&self) -> &str {
        &self.state.join_ref
    }

    /// What the socket's `connect` returned.
    pub fn assigns(&self) -> &Assigns {
        &self.state.assigns
    }

    /// The socket's id ([`Socket::id`](crate::Socket::id)), if it has one.
    pub fn socket_id(&self) -> Option<&str> {
        self.state.socket_id.as_deref()
    }

    /// This socket as a broadcast sender (see [`PubSub::broadcast_from`]).
    pub fn subscriber_id(&self) -> SubscriberId {
        self.state.subscriber
    }

    /// The endpoint's pubsub, to broadcast to other topics or from spawned tasks.
    pub fn pubsub(&self) -> &PubSub {
        &self.state.shared.pubsub
    }

    /// The endpoint's rate limiter, what `#[rate_limit]` checks (see
    /// [`SocketRoute::rate_limiter`](crate::SocketRoute::rate_limiter)); a hand-written
    /// channel calls its [`check`](RateLimiter::check).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.state.shared.rate_limiter
    }

    /// The endpoint's presence, to read other topics.
    pub fn presence(&self) -> &Presence {
        &self.state.shared.presence
    }

    /// Pushes `event` to this client only: `[join_ref, null, topic, event, payload]`. With a
    /// binary payload, an `event` over 255 bytes cannot be encoded (each length is one byte):
    /// the push is then not sent, and is logged and counted in
    /// [`ChannelMetrics::unencodable`](crate::ChannelMetrics).
    pub fn push(&mut self, event: impl Into<String>, payload: impl Into<Payload>) {
        self.state
            .pushes
            .push(Push::Event(event.into(), payload.into()));
    }

    /// Broadcasts `event` to every socket in this topic, this one included. With a binary
    /// payload, an `event` over 255 bytes is refused ([`PubSub::send`]) and logged.
    pub fn broadcast(&mut self, event: impl Into<String>, payload: impl Into<Payload>) {
        self.state
            .broadcasts
            .push(Broadcast::new(&*self.state.topic, event, payload));
    }

    /// Broadcasts `event` to every socket in this topic except this one.
    pub fn broadcast_from(&mut self, event: impl Into<String>, payload: impl Into<Payload>) {
        self.state
            .broadcasts
            .push(Broadcast::new(&*self.state.topic, event, payload).from(self.state.subscriber));
    }

    /// Stops the channel after this callback: the client gets `phx_close`.
    pub fn stop(&mut self) {
        self.state.stop = true;
    }

    /// Tracks `key` (a user id, say) in this topic's presence with `meta`; everyone in the
    /// topic gets a `presence_diff`. Untracked by itself when the channel ends.
    ///
    /// # Errors
    /// [`AlreadyTracked`] when this channel already tracks `key` in its topic, as
    /// Phoenix.Presence answers `{:error, {:already_tracked, pid, topic, key}}`: nothing
    /// changes (use [`update`](Self::update) to change the meta).
    pub fn track(&mut self, key: impl AsRef<str>, meta: Value) -> Result<(), AlreadyTracked> {
        self.state.shared.presence.track(
            self.state.owner(),
            &self.state.topic,
            key.as_ref(),
            meta,
        )?;
        self.state.tracked = true;
        Ok(())
    }

    /// Replaces the meta this channel tracked under `key` (a new `phx_ref`, with
    /// `phx_ref_prev`); `false` if it tracked nothing under `key`. To change some fields and
    /// keep the others, use [`update_with`](Self::update_with).
    pub fn update(&mut self, key: impl AsRef<str>, meta: Value) -> bool {
        self.update_with(key, |_| meta)
    }

    /// Replaces the meta this channel tracked under `key` with `f` of the current one, as
    /// Phoenix's `Presence.update/4` with a function: a status change keeps `joined_at` and
    /// the other fields. `f` gets the fields given to `track` (or the last update), without
    /// `phx_ref`; everyone in the topic (on every node with a networked adapter) gets a
    /// `presence_diff`. `false`, and `f` not called, if this channel tracked nothing under
    /// `key`.
    ///
    /// ```
    /// # use websock_channels::ChannelSocket;
    /// # use serde_json::json;
    /// fn away(socket: &mut ChannelSocket, user_id: &str) {
    ///     socket.update_with(user_id, |mut meta| {
    ///         meta["status"] = json!("away");
    ///         meta
    ///     });
    /// }
    /// ```
    ///
    /// `f` runs while the presence is locked: it must not call presence itself.
    pub fn update_with(&mut self, key: impl AsRef<str>, f: impl FnOnce(Value) -> Value) -> bool {
        self.state
            .shared
            .presence
            .update(self.state.owner(), &self.state.topic, key.as_ref(), f)
    }

    /// Stops tracking `key`.
    pub fn untrack(&mut self, key: impl AsRef<str>) {
        self.state.shared.presence.untrack(
            self.state.owner(),
            &self.state.topic,
            Some(key.as_ref()),
        );
    }

    /// This topic's presences, in the `presence_state` shape.
    pub fn presence_list(&self) -> Value {
        self.state.shared.presence.list(&self.state.topic)
    }

    /// Pushes `presence_state` to this client (do it after `track`, on every join). The
    /// state is encoded once per change of the topic and shared by the sockets that push it.
    pub fn push_presence_state(&mut self) {
        let state = self.state.shared.presence.encoded_state(&self.state.topic);
        self.state.pushes.push(Push::State(state));
    }
}

impl<C: Channel> ChannelSocket<'_, C> {
    /// A handle that sends infos to this channel instance from any task.
    pub fn handle(&self) -> ChannelHandle<C> {
        ChannelHandle {
            mail: self.state.mail.clone(),
            topic: self.state.topic.clone(),
            join_ref: self.state.join_ref.clone(),
            channel: PhantomData,
        }
    }

    /// Sends `info` to this channel's `#[on_info]` method for its type (a compile error if it
    /// has none) after `delay`. The timer ends with the channel (leave, stop, crash, rejoin,
    /// socket closed): its info never reaches another instance of the topic. When it fires,
    /// it waits for room in a full mailbox rather than drop the info.
    pub fn send_after<I>(&self, delay: Duration, info: I) -> ChannelTimer
    where
        C: HandlesInfo<I>,
    {
        let handle = self.handle();
        let info = C::into_info(info);
        let ended = self
            .state
            .timers
            .get_or_init(CancellationToken::new)
            .clone();
        let task = tokio::spawn(async move {
            // tokio's `sleep` saturates: `Duration::MAX` means "never", not a panic.
            tokio::select! {
                () = ended.cancelled() => {}
                () = tokio::time::sleep(delay) => {
                    tokio::select! {
                        () = ended.cancelled() => {}
                        _ = handle.send_waiting(info) => {}
                    }
                }
            }
        });
        ChannelTimer(task.abort_handle())
    }
}

impl SocketState {
    /// Stops this channel's timers; called when the channel ends, and when its state is
    /// dropped (an aborted task).
    pub(crate) fn end_timers(&self) {
        if let Some(ended) = self.timers.get() {
            ended.cancel();
        }
    }

    pub(crate) fn owner(&self) -> Owner {
        Owner(self.subscriber)
    }
}

/// A channel with its type erased, as the socket keeps it. Each callback sees the instance's
/// state as the channel's own [`ChannelSocket`].
pub(crate) trait DynChannel: Send {
    fn handle_in<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply>;

    /// An info from a handle or a timer: always the channel's own `Info`.
    fn handle_info<'a>(
        &'a mut self,
        info: Box<dyn Any + Send>,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply>;

    /// A value published to the topic: `None` when the channel does not take its type.
    fn handle_published<'a>(
        &'a mut self,
        value: &InfoValue,
        state: &'a mut SocketState,
    ) -> Option<crate::BoxFuture<'a, ChannelReply>>;

    /// The events `handle_out` intercepts.
    fn intercept(&self) -> &'static [&'static str];

    fn handle_out<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply>;

    fn terminate<'a>(
        &'a mut self,
        reason: LeaveReason,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ()>;
}

impl<C: Channel> DynChannel for C {
    fn handle_in<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply> {
        Box::pin(async move {
            let mut socket = ChannelSocket::new(state);
            Channel::handle_in(self, event, payload, &mut socket).await
        })
    }

    fn handle_info<'a>(
        &'a mut self,
        info: Box<dyn Any + Send>,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply> {
        match info.downcast::<C::Info>() {
            Ok(info) => Box::pin(async move {
                let mut socket = ChannelSocket::new(state);
                Channel::handle_info(self, *info, &mut socket).await
            }),
            // Handles and timers are typed by their channel: only a bug gets here.
            Err(_) => {
                tracing::error!(
                    topic = %state.topic,
                    expected = std::any::type_name::<C::Info>(),
                    "info of another type dropped"
                );
                Box::pin(std::future::ready(ChannelReply::none()))
            }
        }
    }

    fn handle_published<'a>(
        &'a mut self,
        value: &InfoValue,
        state: &'a mut SocketState,
    ) -> Option<crate::BoxFuture<'a, ChannelReply>> {
        let info = C::accept_info(value)?;
        Some(Box::pin(async move {
            let mut socket = ChannelSocket::new(state);
            Channel::handle_info(self, info, &mut socket).await
        }))
    }

    fn intercept(&self) -> &'static [&'static str] {
        C::INTERCEPT
    }

    fn handle_out<'a>(
        &'a mut self,
        event: &'a str,
        payload: Payload,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ChannelReply> {
        Box::pin(async move {
            let mut socket = ChannelSocket::new(state);
            Channel::handle_out(self, event, payload, &mut socket).await
        })
    }

    fn terminate<'a>(
        &'a mut self,
        reason: LeaveReason,
        state: &'a mut SocketState,
    ) -> crate::BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut socket = ChannelSocket::new(state);
            Channel::terminate(self, reason, &mut socket).await;
        })
    }
}

/// The result of a type-erased join.
pub(crate) type Joined = Result<(Box<dyn DynChannel>, Payload), JoinError>;

/// Joins `C`, erasing its type.
pub(crate) fn join_erased<'a, C: Channel>(
    topic: Topic,
    params: Payload,
    state: &'a mut SocketState,
) -> crate::BoxFuture<'a, Joined> {
    Box::pin(async move {
        let mut socket = ChannelSocket::new(state);
        let (channel, response) = C::join(topic, params, &mut socket).await?;
        Ok((Box::new(channel) as Box<dyn DynChannel>, response))
    })
}

/// Converts an `#[on_event]` method's return value into a [`ChannelReply`].
#[doc(hidden)]
pub fn into_reply<T: IntoChannelReply>(value: T) -> ChannelReply {
    value.into_reply()
}

/// What an `#[on_join]` method may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an `#[on_join]` method",
    label = "`#[on_join]` must return `Self`, `Result<Self, JoinError>` or `Result<(Self, R), JoinError>`",
    note = "`R` is the join reply's response (anything that converts into a `Payload`, e.g. `serde_json::Value`)"
)]
pub trait IntoJoin<C> {
    /// The channel and the join response, or the refusal.
    fn into_join(self) -> Result<(C, Payload), JoinError>;
}

impl<C> IntoJoin<C> for C {
    fn into_join(self) -> Result<(C, Payload), JoinError> {
        Ok((self, Payload::empty()))
    }
}

impl<C> IntoJoin<C> for Result<C, JoinError> {
    fn into_join(self) -> Result<(C, Payload), JoinError> {
        self.map(|channel| (channel, Payload::empty()))
    }
}

impl<C, R: Into<Payload>> IntoJoin<C> for Result<(C, R), JoinError> {
    fn into_join(self) -> Result<(C, Payload), JoinError> {
        self.map(|(channel, response)| (channel, response.into()))
    }
}

/// The reply to an event no `#[on_event]` method handles.
#[doc(hidden)]
pub fn unhandled_event(event: &str) -> ChannelReply {
    tracing::debug!(event, "no #[on_event] method for this event");
    ChannelReply::error(Payload::reason("unhandled event"))
}

/// A topic capture parsed by `parse` (`<T as FromCapture>::from_capture`, named in the
/// generated code so that a type without `FromStr` is reported at the parameter, with
/// `FromCapture`'s message); a capture that does not parse refuses the join as an unmatched
/// topic.
#[doc(hidden)]
pub fn topic_capture<T>(
    topic: &Topic,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, JoinError> {
    topic
        .get(name)
        .and_then(parse)
        .ok_or_else(JoinError::unmatched_topic)
}

/// Parses a topic capture into a method's parameter type.
#[doc(hidden)]
pub fn parse_capture<T: std::str::FromStr>(topic: &Topic, name: &str) -> Result<T, JoinError> {
    topic
        .get(name)
        .and_then(|value| value.parse().ok())
        .ok_or_else(JoinError::unmatched_topic)
}
