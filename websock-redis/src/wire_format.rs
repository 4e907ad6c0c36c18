//! What nodes publish to each other on a topic's Redis channel (the topic is the channel).
//!
//! Every message starts with a format version, so nodes of two releases can share one Redis
//! during a rolling deploy: a node reads the versions it knows and ignores, counts
//! ([`RedisStats::unreadable`](crate::RedisStats::unreadable)) and logs the rest.
//!
//! - Version 2 (this release): `[2][node: u64 BE][type]` then, for a broadcast (type 0),
//!   `[kind][event length: u16 BE][event][payload]` (kind 0: JSON, 1: binary); for a presence
//!   diff (type 1) or a node's whole presence state (type 2), a JSON body (see [`Update`]);
//!   for a typed value published with `PubSub::publish_info` (type 3),
//!   `[tag length: u16 BE][tag][the value as JSON]`, the tag being the name of its Rust type
//!   ([`InfoValue::tag`]). Type 3 is new in this release and kept the version at 2: a node of
//!   the previous release reads it as a malformed message, which it counts
//!   ([`RedisStats::unreadable`](crate::RedisStats::unreadable)) and logs, and goes on; its
//!   clients' broadcasts and presences are unaffected.
//! - Version 1 (the previous release): `[1][node][kind][event length][event][payload]`, a
//!   broadcast; read, never written. A version-1 node ignores (and logs) version 2.

use crate::presence::{Meta, Metas, Side, Update};
use bytes::Bytes;
use serde_json::{Value, json};
use websock_channels::{Broadcast, InfoValue, Payload};

/// The version this release writes.
const VERSION: u8 = 2;
/// The previous release's format: broadcasts only.
const VERSION_1: u8 = 1;

const BROADCAST: u8 = 0;
const PRESENCE_DIFF: u8 = 1;
const PRESENCE_STATE: u8 = 2;
const INFO: u8 = 3;

const JSON: u8 = 0;
const BINARY: u8 = 1;

/// A message from another node.
#[derive(Debug)]
pub(crate) enum Message {
    /// A broadcast, for this node's subscribers.
    Broadcast(Broadcast),
    /// A change of the sender's presences, for the replica.
    Presence(Update),
}

/// Why a message could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreadable {
    /// A format version this release does not know (a newer node's, say).
    Version(u8),
    /// A known version, but not a valid message of it.
    Malformed,
}

/// A typed value, as version 2 (type 3).
///
/// # Errors
/// The value's `Serialize` failed, or its tag is over 65,535 bytes.
pub(crate) fn encode_info(node: u64, value: &InfoValue) -> Result<Vec<u8>, String> {
    let json = value.to_json().map_err(|e| e.to_string())?;
    let tag = value.tag().as_bytes();
    let len = u16::try_from(tag.len()).map_err(|_| "type name too long".to_owned())?;
    let mut out = header(node, INFO, 2 + tag.len() + json.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(tag);
    out.extend_from_slice(&json);
    Ok(out)
}

/// A broadcast, as version 2.
pub(crate) fn encode_broadcast(node: u64, message: &Broadcast) -> Vec<u8> {
    let event = message.event().as_bytes();
    let (kind, payload) = match message.payload() {
        Payload::Json(value) => (
            JSON,
            Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        ),
        Payload::Binary(bytes) => (BINARY, bytes.clone()),
    };
    let event = &event[..event.len().min(usize::from(u16::MAX))];
    let mut out = header(node, BROADCAST, 3 + event.len() + payload.len());
    out.push(kind);
    out.extend_from_slice(&u16::try_from(event.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(event);
    out.extend_from_slice(&payload);
    out
}

/// A presence update, as version 2.
pub(crate) fn encode_presence(node: u64, update: &Update) -> Vec<u8> {
    let entries = |side: &mut dyn Iterator<Item = &Meta>| -> Vec<Value> {
        side.map(|m| json!({ "key": m.key, "meta": m.meta }))
            .collect()
    };
    let (kind, body) = match update {
        Update::Diff { joins, leaves } => (
            PRESENCE_DIFF,
            json!({ "joins": entries(&mut joins.iter().map(|(_, m)| m)), "leaves": leaves }),
        ),
        Update::State(metas) => (
            PRESENCE_STATE,
            json!({ "metas": entries(&mut metas.values()) }),
        ),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut out = header(node, kind, body.len());
    out.extend_from_slice(&body);
    out
}

fn header(node: u64, kind: u8, rest: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + rest);
    out.push(VERSION);
    out.extend_from_slice(&node.to_be_bytes());
    out.push(kind);
    out
}

/// A message read from `topic`'s channel: (the sending node, the message).
pub(crate) fn decode(topic: &str, bytes: &[u8]) -> Result<(u64, Message), Unreadable> {
    let (&version, rest) = bytes.split_first().ok_or(Unreadable::Malformed)?;
    let node = rest
        .get(..8)
        .and_then(|n| n.try_into().ok())
        .map(u64::from_be_bytes);
    let (node, rest) = match (version, node) {
        (VERSION | VERSION_1, Some(node)) => (node, &rest[8..]),
        (VERSION | VERSION_1, None) => return Err(Unreadable::Malformed),
        (other, _) => return Err(Unreadable::Version(other)),
    };
    let message = match version {
        VERSION_1 => Message::Broadcast(broadcast(topic, rest)?),
        _ => {
            let (&kind, body) = rest.split_first().ok_or(Unreadable::Malformed)?;
            match kind {
                BROADCAST => Message::Broadcast(broadcast(topic, body)?),
                PRESENCE_DIFF | PRESENCE_STATE => Message::Presence(presence(kind, body)?),
                INFO => Message::Broadcast(info(topic, body)?),
                _ => return Err(Unreadable::Malformed),
            }
        }
    };
    Ok((node, message))
}

/// `[kind][event length: u16 BE][event][payload]`.
fn broadcast(topic: &str, bytes: &[u8]) -> Result<Broadcast, Unreadable> {
    let [kind, a, b, rest @ ..] = bytes else {
        return Err(Unreadable::Malformed);
    };
    let len = usize::from(u16::from_be_bytes([*a, *b]));
    let event = rest.get(..len).ok_or(Unreadable::Malformed)?;
    let event = std::str::from_utf8(event).map_err(|_| Unreadable::Malformed)?;
    let payload = &rest[len..];
    let payload = match *kind {
        JSON => Payload::Json(serde_json::from_slice(payload).map_err(|_| Unreadable::Malformed)?),
        BINARY => Payload::Binary(Bytes::copy_from_slice(payload)),
        _ => return Err(Unreadable::Malformed),
    };
    Ok(Broadcast::new(topic, event, payload))
}

/// `[tag length: u16 BE][tag][JSON]`: decoded into its type later, by the first subscriber
/// of this node whose type has that tag.
fn info(topic: &str, bytes: &[u8]) -> Result<Broadcast, Unreadable> {
    let [a, b, rest @ ..] = bytes else {
        return Err(Unreadable::Malformed);
    };
    let len = usize::from(u16::from_be_bytes([*a, *b]));
    let tag = rest.get(..len).ok_or(Unreadable::Malformed)?;
    let tag = std::str::from_utf8(tag).map_err(|_| Unreadable::Malformed)?;
    let json = Bytes::copy_from_slice(&rest[len..]);
    Ok(Broadcast::info(topic, InfoValue::from_json(tag, json)))
}

fn presence(kind: u8, body: &[u8]) -> Result<Update, Unreadable> {
    let body: Value = serde_json::from_slice(body).map_err(|_| Unreadable::Malformed)?;
    let entries = |list: &Value| -> Result<Side, Unreadable> {
        let list = list.as_array().ok_or(Unreadable::Malformed)?;
        list.iter()
            .map(|entry| Meta::from_entry(entry).ok_or(Unreadable::Malformed))
            .collect()
    };
    if kind == PRESENCE_STATE {
        let metas: Metas = entries(&body["metas"])?.into_iter().collect();
        return Ok(Update::State(metas));
    }
    let leaves = body["leaves"]
        .as_array()
        .ok_or(Unreadable::Malformed)?
        .iter()
        .map(|r| r.as_str().map(str::to_owned).ok_or(Unreadable::Malformed))
        .collect::<Result<_, _>>()?;
    Ok(Update::Diff {
        joins: entries(&body["joins"])?,
        leaves,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broadcast_of(bytes: &[u8]) -> Broadcast {
        match decode("room:1", bytes).unwrap() {
            (_, Message::Broadcast(b)) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broadcasts_round_trip() {
        let json = Broadcast::new("room:1", "new_msg", json!({"body": "hé"}));
        let bytes = encode_broadcast(7, &json);
        assert_eq!(bytes[0], VERSION);
        assert_eq!(decode("room:1", &bytes).unwrap().0, 7);
        let back = broadcast_of(&bytes);
        assert_eq!(back.event(), "new_msg");
        assert_eq!(back.payload(), json.payload());

        let binary = Broadcast::new("t", "bin", Bytes::from_static(&[0, 1, 255]));
        let back = broadcast_of(&encode_broadcast(1, &binary));
        assert_eq!(
            back.payload(),
            &Payload::Binary(Bytes::from_static(&[0, 1, 255]))
        );
    }

    #[test]
    fn typed_values_round_trip_by_tag() {
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct GameUpdate {
            turn: u32,
        }
        let sent = InfoValue::new(GameUpdate { turn: 3 });
        let bytes = encode_info(5, &sent).unwrap();
        assert_eq!(&bytes[..10], &[VERSION, 0, 0, 0, 0, 0, 0, 0, 5, INFO]);
        let back = broadcast_of(&bytes);
        let value = back.info_value().expect("a typed value");
        assert_eq!(value.tag(), sent.tag());
        assert!(value.is_remote());
        assert_eq!(value.decode::<GameUpdate>(), Some(GameUpdate { turn: 3 }));
        assert_eq!(
            decode("t", &bytes[..12]).unwrap_err(),
            Unreadable::Malformed
        );
    }

    #[test]
    fn version_1_broadcasts_are_read() {
        let mut v1 = vec![VERSION_1];
        v1.extend_from_slice(&9u64.to_be_bytes());
        v1.extend_from_slice(&[JSON, 0, 1, b'e']);
        v1.extend_from_slice(b"{\"n\":1}");
        assert_eq!(decode("t", &v1).unwrap().0, 9);
        assert_eq!(broadcast_of(&v1).payload(), &Payload::Json(json!({"n": 1})));
    }

    #[test]
    fn presence_round_trips() {
        let meta = Meta {
            key: "alice".into(),
            meta: json!({"phx_ref": "F1-1", "x": 1}),
        };
        let diff = Update::Diff {
            joins: vec![("F1-1".into(), meta.clone())],
            leaves: vec!["F1-0".into()],
        };
        let (_, back) = decode("t", &encode_presence(3, &diff)).unwrap();
        assert!(
            matches!(back, Message::Presence(ref u) if *u == diff),
            "{back:?}"
        );
        let state = Update::State(Metas::from([("F1-1".to_owned(), meta)]));
        let (_, back) = decode("t", &encode_presence(3, &state)).unwrap();
        assert!(
            matches!(back, Message::Presence(ref u) if *u == state),
            "{back:?}"
        );
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        assert_eq!(decode("t", b"").unwrap_err(), Unreadable::Malformed);
        assert_eq!(decode("t", &[9; 20]).unwrap_err(), Unreadable::Version(9));
        assert_eq!(decode("t", &[2, 0, 0]).unwrap_err(), Unreadable::Malformed);
        let mut bad = header(1, PRESENCE_DIFF, 0);
        bad.extend_from_slice(b"{\"joins\": 1}");
        assert_eq!(decode("t", &bad).unwrap_err(), Unreadable::Malformed);
        let mut bad = header(1, 77, 0);
        bad.push(0);
        assert_eq!(decode("t", &bad).unwrap_err(), Unreadable::Malformed);
    }
}
