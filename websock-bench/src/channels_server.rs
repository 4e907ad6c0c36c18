//! The channels side of `websock-bench server websock`: a phoenix V2 socket at
//! `/socket/websocket` with one channel, `room:bench`, for the channel fan-out and presence
//! scenarios (issue 16). With `--redis URL` its broadcasts and presence go through Redis, so
//! two such servers are two nodes of one cluster.
//!
//! Join params (all optional):
//! - `{"presence": true}`: the channel pushes `presence_state` after the join reply;
//! - `"key": "u7"`: and tracks the joiner under that key;
//! - `"prefix": "s3-", "count": 100`: and tracks `s3-0` … `s3-99` (many keys, one socket: the
//!   two-node presence scenario; a bench-only route, at most [`MAX_KEYS`] keys per join).
//!
//! Without `presence` the channel neither tracks nor pushes presence: the fan-out scenario.
//! The event `broadcast` re-broadcasts its payload to the room as event `tick`, unchanged.

use serde_json::{Value, json};
use websock::channels::{
    AnonymousSocket, Channel, ChannelReply, ChannelSocket, JoinError, Payload, PubSub, SocketRoute,
    Topic, socket,
};

/// The room every scenario joins.
pub(crate) const ROOM: &str = "room:bench";

/// The event the room's broadcasts arrive as.
pub(crate) const TICK: &str = "tick";

/// The most keys one join may ask to track.
pub(crate) const MAX_KEYS: u64 = 10_000;

/// One member of `room:bench`.
pub(crate) struct BenchRoom;

impl Channel for BenchRoom {
    const TOPIC: &'static str = ROOM;
    type Info = ();
    type State = ();

    async fn join(
        _: Topic,
        params: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> Result<(Self, Payload), JoinError> {
        let params = params.as_json().cloned().unwrap_or(Value::Null);
        if params["presence"].as_bool() != Some(true) {
            return Ok((BenchRoom, Payload::empty()));
        }
        for key in keys_to_track(&params)? {
            socket.track(&key, json!({})).map_err(JoinError::reason)?;
        }
        socket.push_presence_state();
        Ok((BenchRoom, Payload::empty()))
    }

    async fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        socket: &mut ChannelSocket<'_, Self>,
    ) -> ChannelReply {
        match event {
            "broadcast" => {
                socket.broadcast(TICK, payload);
                ChannelReply::ok(Payload::empty())
            }
            _ => ChannelReply::error(json!({ "reason": "unknown event" })),
        }
    }
}

/// The keys a join asks to track: `key`, or `count` keys named `prefix0`, `prefix1`, …
fn keys_to_track(params: &Value) -> Result<Vec<String>, JoinError> {
    if let Some(key) = params["key"].as_str() {
        return Ok(vec![key.to_owned()]);
    }
    let Some(count) = params["count"].as_u64() else {
        return Ok(Vec::new());
    };
    if count > MAX_KEYS {
        return Err(JoinError::reason(format!("count: at most {MAX_KEYS}")));
    }
    let prefix = params["prefix"].as_str().unwrap_or("");
    Ok((0..count).map(|k| format!("{prefix}{k}")).collect())
}

/// The socket route of `room:bench`: no per-socket rate limit (the scenarios push in bursts),
/// with Redis when `pubsub` says so.
pub(crate) fn route(pubsub: Option<PubSub>) -> SocketRoute<AnonymousSocket> {
    let route = socket(AnonymousSocket)
        .channel::<BenchRoom>()
        .rate_limit(None);
    match pubsub {
        Some(pubsub) => route.with_pubsub(pubsub),
        None => route,
    }
}

/// The Redis pub/sub of a node, for `server websock --redis URL`.
pub(crate) async fn redis_pubsub(url: &str) -> std::io::Result<PubSub> {
    let adapter = websock_redis::RedisAdapter::connect(url)
        .await
        .map_err(std::io::Error::other)?;
    Ok(PubSub::new(adapter))
}
