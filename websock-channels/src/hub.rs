//! An endpoint seen from its sockets: the channel routes (Phoenix's `channel "room:*", ..`
//! lines), and a connection that passed `connect`.

use crate::{
    Assigns, Payload, Topic,
    channel::{Joined, SocketState},
    serializer::Serializer,
    shared::Shared,
    topic::TopicPattern,
};
use std::{fmt, sync::Arc};

/// One `channel "room:*", RoomChannel` line.
#[derive(Clone)]
pub(crate) struct ChannelRoute {
    pub(crate) pattern: TopicPattern,
    pub(crate) join:
        for<'a> fn(Topic, Payload, &'a mut SocketState) -> crate::BoxFuture<'a, Joined>,
    pub(crate) name: &'static str,
    /// The events its channel intercepts (`Channel::INTERCEPT`): the others may take the
    /// fast lane to the socket.
    pub(crate) intercept: &'static [&'static str],
}

/// What every socket of one endpoint shares: its channel routes, and what its channels see.
pub(crate) struct Hub {
    pub(crate) routes: Vec<ChannelRoute>,
    pub(crate) shared: Arc<Shared>,
}

impl Hub {
    pub(crate) fn route(&self, topic: &str) -> Option<(&ChannelRoute, Topic)> {
        self.routes
            .iter()
            .find_map(|route| route.pattern.matches(topic).map(|t| (route, t)))
    }
}

/// A connection that passed `connect`: what its socket starts from.
pub(crate) struct Connected {
    pub(crate) hub: Arc<Hub>,
    pub(crate) assigns: Assigns,
    pub(crate) id: Option<String>,
    /// The wire format its `vsn` chose.
    pub(crate) serializer: Serializer,
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
