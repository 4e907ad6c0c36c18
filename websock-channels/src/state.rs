//! Typed app state for channels: the socket route's [`Socket`] value, read as [`State<S>`] by
//! the channels it serves, checked at compile time where the channel is added to the route.

use crate::{Channel, ChannelSocket, Socket};
use std::{any::Any, fmt, ops::Deref, sync::Arc};

/// The app state a channel reads: the value its route was made with, `socket(UserSocket {
/// db, .. })`, the same one `Socket::connect` gets as `&self`. No type-map and no newtype: a
/// `#[channel]` method takes a parameter `app: State<UserSocket>` and reads `app.db` (the
/// macro declares the channel's [`Channel::State`]); a hand-written channel declares it and
/// reads it with [`State::of`]:
///
/// ```
/// use websock_channels::{
///     Assigns, Channel, ChannelReply, ChannelSocket, ConnectInfo, JoinError, Params, Payload,
///     Refused, Socket, State, Topic, socket,
/// };
///
/// struct UserSocket {
///     motd: String,
/// }
///
/// impl Socket for UserSocket {
///     async fn connect(&self, _: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
///         Ok(Assigns::new())
///     }
/// }
///
/// struct Lobby;
///
/// impl Channel for Lobby {
///     const TOPIC: &'static str = "room:lobby";
///     type Info = ();
///     type State = State<UserSocket>;
///
///     async fn join(_: Topic, _: Payload, socket: &mut ChannelSocket<'_, Self>) -> Result<(Self, Payload), JoinError> {
///         let app = State::<UserSocket>::of(socket).expect("checked by `.channel`");
///         Ok((Lobby, serde_json::json!({ "motd": app.motd }).into()))
///     }
///
///     async fn handle_in(&mut self, _: &str, _: Payload, _: &mut ChannelSocket<'_, Self>) -> ChannelReply {
///         ChannelReply::none()
///     }
/// }
///
/// let route = socket(UserSocket { motd: "hello".into() }).channel::<Lobby>();
/// # let _ = route;
/// ```
///
/// A channel whose state is `State<A>` added to a route of another socket type does not
/// compile: `.channel::<Lobby>()` names both types ([`StateOf`]).
pub struct State<S>(Arc<S>);

impl<S> Clone for State<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S> Deref for State<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

impl<S: fmt::Debug> fmt::Debug for State<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

impl<S: Socket> State<S> {
    /// The state of the route `socket` belongs to, if its socket is an `S`: always, for a
    /// channel whose [`Channel::State`] is `State<S>` (its route was checked when it was
    /// added).
    pub fn of<C>(socket: &ChannelSocket<'_, C>) -> Option<Self> {
        socket
            .state
            .shared
            .socket
            .clone()
            .downcast()
            .ok()
            .map(State)
    }

    /// The shared value itself.
    pub fn into_inner(self) -> Arc<S> {
        self.0
    }
}

/// A [`Channel::State`] that a route whose socket is `S` can serve: `()` (no state) on any
/// route, [`State<S>`] on routes of `S`.
#[diagnostic::on_unimplemented(
    message = "this channel reads `{Self}`, but the route's socket is `{S}`",
    label = "the channel's state does not match this route",
    note = "a channel's `State<T>` is the value its route was made with (`socket(T {{ .. }})`): take `State<{S}>` in the channel, or add it to a route of the socket it reads"
)]
pub trait StateOf<S> {}

impl<S> StateOf<S> for () {}

impl<S: Socket> StateOf<S> for State<S> {}

/// The route's socket, type-erased as the channels' shared data keeps it.
pub(crate) type AnySocket = Arc<dyn Any + Send + Sync>;

/// What `#[channel]` passes for a `State<S>` parameter: `C::State` must be that very type,
/// so a method reading another state does not compile.
#[doc(hidden)]
pub fn channel_state<C, S>(socket: &ChannelSocket<'_, C>) -> State<S>
where
    C: Channel<State = State<S>>,
    S: Socket,
{
    // The route checked `C::State: StateOf<its socket>` when `C` was added, and every socket
    // of `C` shares that route's data.
    State::of(socket).expect("a channel's state is its route's socket, checked by `.channel`")
}
