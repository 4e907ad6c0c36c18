//! The serializer a socket speaks, chosen at connect time from its `vsn` as Phoenix's
//! `negotiate_serializer` does: `~> 1.0.0` (and no `vsn` at all) is V1, `~> 2.0.0` is V2.

use crate::{
    Payload,
    protocol::{self, DecodeError, Header, Inbound},
    v1,
};
use serde_json::Value;
use websock_runtime::{Frame, Message};

/// The wire format of one socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Serializer {
    /// `{"topic","event","payload","ref"}` objects, text only ([`v1`]).
    V1,
    /// `[join_ref, ref, topic, event, payload]` arrays and the binary layout ([`protocol`]).
    #[default]
    V2,
}

impl Serializer {
    /// Every serializer, indexed by `self as usize` (a broadcast caches one frame per entry).
    pub(crate) const COUNT: usize = 2;

    /// The serializer for a `vsn` query parameter; `None` (HTTP 403, as Phoenix) for one that
    /// is not a version or matches neither. A missing `vsn` means `1.0.0` (Phoenix's
    /// `__connect__`).
    pub(crate) fn negotiate(vsn: Option<&str>) -> Option<Self> {
        let (major, minor, patch, pre) = parse_version(vsn.unwrap_or("1.0.0"))?;
        // `~> x.0.0` is `>= x.0.0 and < x.1.0`: a pre-release of x.0.0 sorts before it.
        if minor != 0 || (patch == 0 && pre) {
            return None;
        }
        match major {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    pub(crate) fn decode_header(self, message: &Message) -> Result<Header, DecodeError> {
        match self {
            Self::V1 => v1::decode_header(message),
            Self::V2 => protocol::decode_header(message),
        }
    }

    pub(crate) fn decode(self, message: &Message) -> Result<Inbound, DecodeError> {
        match self {
            Self::V1 => v1::decode(message),
            Self::V2 => protocol::decode(message),
        }
    }

    /// `None` when it cannot be encoded: bytes over V1, or a binary field over 255 bytes.
    pub(crate) fn encode_push(
        self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Option<Frame> {
        match self {
            Self::V1 => v1::encode_push(topic, event, payload),
            Self::V2 => protocol::encode_push(join_ref, topic, event, payload),
        }
    }

    /// A push whose payload, a JSON object, is encoded already: its bytes are copied in.
    pub(crate) fn encode_push_json(
        self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        json: &str,
    ) -> Frame {
        match self {
            Self::V1 => v1::encode_push_json(topic, event, json),
            Self::V2 => protocol::encode_push_json(join_ref, topic, event, json),
        }
    }

    /// `None` when it cannot be encoded (see [`encode_push`](Self::encode_push)).
    pub(crate) fn encode_reply(
        self,
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        status: &str,
        payload: &Payload,
    ) -> Option<Frame> {
        match self {
            Self::V1 => v1::encode_reply(msg_ref, topic, status, payload),
            Self::V2 => protocol::encode_reply(join_ref, msg_ref, topic, status, payload),
        }
    }

    /// A broadcast is a push without a join_ref in both formats.
    pub(crate) fn encode_broadcast(
        self,
        topic: &str,
        event: &str,
        payload: &Payload,
    ) -> Option<Frame> {
        match self {
            Self::V1 => v1::encode_push(topic, event, payload),
            Self::V2 => protocol::encode_broadcast(topic, event, payload),
        }
    }

    pub(crate) fn encode_lifecycle(
        self,
        join_ref: &str,
        topic: &str,
        event: &str,
        payload: &Value,
    ) -> Frame {
        match self {
            Self::V1 => v1::encode_lifecycle(join_ref, topic, event, payload),
            Self::V2 => protocol::encode_lifecycle(join_ref, topic, event, payload),
        }
    }

    /// Why a frame could not be encoded, for the log.
    pub(crate) fn unencodable_reason(self) -> &'static str {
        match self {
            Self::V1 => "the V1 serializer has no binary frames: a binary payload is not sent",
            Self::V2 => "a binary payload's topic, event or status must be at most 255 bytes",
        }
    }
}

/// `MAJOR.MINOR.PATCH[-pre][+build]` as Elixir's `Version.parse` reads it, and whether it is a
/// pre-release.
fn parse_version(vsn: &str) -> Option<(u64, u64, u64, bool)> {
    let vsn = vsn.split_once('+').map_or(vsn, |(vsn, _build)| vsn);
    let (core, pre) = match vsn.split_once('-') {
        Some((core, pre)) if !pre.is_empty() => (core, true),
        Some(_) => return None,
        None => (vsn, false),
    };
    let number = |part: &str| {
        let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = part.len() > 1 && part.starts_with('0');
        (digits && !leading_zero)
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut parts = core.split('.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    let patch = number(parts.next()?)?;
    parts.next().is_none().then_some((major, minor, patch, pre))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Broadcast;

    #[test]
    fn a_broadcast_is_encoded_once_per_serializer() {
        let broadcast = Broadcast::new("room:1", "msg", serde_json::json!({"a": 1}));
        let text = |serializer| match broadcast.frame(serializer) {
            Some(Frame::Shared(shared)) => match shared.frame() {
                Frame::Text(text) => text.clone(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let (v1, v2) = (text(Serializer::V1), text(Serializer::V2));
        assert_eq!(
            v1.as_str(),
            r#"{"topic":"room:1","event":"msg","payload":{"a":1},"ref":null}"#
        );
        assert_eq!(v2.as_str(), r#"[null,null,"room:1","msg",{"a":1}]"#);
        // Every later subscriber shares the bytes encoded first.
        assert_eq!(text(Serializer::V1).as_str().as_ptr(), v1.as_str().as_ptr());
        assert_eq!(text(Serializer::V2).as_str().as_ptr(), v2.as_str().as_ptr());
        let bytes = Broadcast::new("room:1", "bin", bytes::Bytes::from_static(b"\x00"));
        assert_eq!(bytes.frame(Serializer::V1), None);
        assert!(matches!(
            bytes.frame(Serializer::V2),
            Some(Frame::Shared(shared)) if matches!(shared.frame(), Frame::Binary(_))
        ));
    }

    #[test]
    fn negotiation_follows_phoenix_requirements() {
        use Serializer::{V1, V2};
        assert_eq!(Serializer::negotiate(None), Some(V1));
        for (vsn, expected) in [
            ("1.0.0", Some(V1)),
            ("1.0.7", Some(V1)),
            ("1.0.1-rc.0", Some(V1)),
            ("2.0.0", Some(V2)),
            ("2.0.3+build", Some(V2)),
            ("2.0.0-rc.1", None),
            ("2.1.0", None),
            ("3.0.0", None),
            ("0.9.0", None),
            ("2.0", None),
            ("2.0.x", None),
            ("02.0.0", None),
            ("2.0.0.0", None),
            ("", None),
        ] {
            assert_eq!(Serializer::negotiate(Some(vsn)), expected, "{vsn}");
        }
    }
}
