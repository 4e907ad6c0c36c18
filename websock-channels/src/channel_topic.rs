//! A topic of one channel type: what is published to it must be an info that channel has an
//! `#[on_info]` for, checked at compile time (`GameChannel::topic("42")`).

use crate::{
    BoxFuture, Channel, HandlesInfo, InfoValue, Payload, PubSub, PubSubError, broadcast::Broadcast,
};
use serde::Serialize;
use std::{fmt, marker::PhantomData};

/// A topic that channel `C` serves, such as `GameChannel::topic("42")` for
/// `#[channel("game:*")]`: [`publish`](Self::publish) takes only the infos `C` handles.
pub struct ChannelTopic<C> {
    name: String,
    channel: PhantomData<fn() -> C>,
}

impl<C> Clone for ChannelTopic<C> {
    fn clone(&self) -> Self {
        Self::named(self.name.clone())
    }
}

impl<C> fmt::Debug for ChannelTopic<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ChannelTopic").field(&self.name).finish()
    }
}

impl<C> fmt::Display for ChannelTopic<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl<C> ChannelTopic<C> {
    /// The topic `name` as it is (for a pattern with several captures, say).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            channel: PhantomData,
        }
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<C: Channel> ChannelTopic<C> {
    /// `C`'s topic pattern with `fill` in place of its wildcard (`"game:*"`) or its first
    /// capture (`"game:{id}"`); a pattern with neither is the topic itself.
    pub fn new(fill: impl fmt::Display) -> Self {
        Self::named(fill_pattern(C::TOPIC, &fill.to_string()))
    }

    /// Sends `info` to the `#[on_info]` method for its type of every channel joined to this
    /// topic, on every node (a compile error if `C` has none for it). Other channels joined
    /// to the topic get it too if they take its type.
    ///
    /// # Errors
    /// The adapter's (see [`PubSub::publish_info`]).
    // Not an `async fn`: its future would carry the `HandlesInfo` bound, and a missing impl
    // would be reported three times (the call, the future, the `.await`) instead of once.
    pub fn publish<I>(
        &self,
        pubsub: &PubSub,
        info: I,
    ) -> BoxFuture<'static, Result<(), PubSubError>>
    where
        C: HandlesInfo<I>,
        I: Clone + Send + Sync + Serialize + 'static,
    {
        let pubsub = pubsub.clone();
        let broadcast = Broadcast::info(&*self.name, InfoValue::new(info));
        Box::pin(async move { pubsub.send(broadcast).await })
    }

    /// Broadcasts `event` to the clients joined to this topic, as [`PubSub::broadcast`].
    ///
    /// # Errors
    /// As [`PubSub::broadcast`].
    pub async fn broadcast(
        &self,
        pubsub: &PubSub,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Result<(), PubSubError> {
        pubsub.broadcast(&*self.name, event, payload).await
    }
}

/// `pattern` with its `*` or its first `{capture}` replaced by `fill`.
fn fill_pattern(pattern: &str, fill: &str) -> String {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return format!("{prefix}{fill}");
    }
    match (pattern.find('{'), pattern.find('}')) {
        (Some(open), Some(close)) if open < close => {
            format!("{}{fill}{}", &pattern[..open], &pattern[close + 1..])
        }
        _ => pattern.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::fill_pattern;

    #[test]
    fn the_wildcard_or_first_capture_is_filled() {
        assert_eq!(fill_pattern("game:*", "42"), "game:42");
        assert_eq!(fill_pattern("game:{id}", "42"), "game:42");
        assert_eq!(fill_pattern("game:{id}:x", "42"), "game:42:x");
        assert_eq!(fill_pattern("room:lobby", "42"), "room:lobby");
    }
}
