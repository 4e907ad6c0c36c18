//! The Phoenix V1 serializer: `{"topic", "event", "payload", "ref"}` JSON objects, text only
//! (`Phoenix.Socket.V1.JSONSerializer`; phoenix.js before 1.4, or any client without `vsn`).
//!
//! The server writes exactly those four fields, as Phoenix's `encode_v1_fields_only` does: a
//! `join_ref` a client sends is read, never written. V1 has no binary layout, so a binary
//! payload cannot be encoded (`None`: the frame is not sent, counted and logged by the caller)
//! and a binary frame from a client is read as JSON text, as Phoenix reads it (its V1
//! `decode!` ignores the opcode).

use crate::{
    Payload,
    protocol::{DecodeError, Header, Inbound},
};
use serde::{Deserialize, Serialize, de::IgnoredAny};
use serde_json::Value;
use websock_runtime::{Frame, Message};

/// A client frame. `payload` is `IgnoredAny` when only the header is wanted: the payload is
/// then scanned, never built into a JSON tree. Unknown keys are ignored, as Phoenix does.
#[derive(Deserialize)]
struct ClientFrame<P> {
    topic: String,
    event: String,
    #[serde(default, rename = "ref")]
    msg_ref: Option<String>,
    #[serde(default)]
    join_ref: Option<String>,
    #[serde(default)]
    payload: P,
}

impl<P> ClientFrame<P> {
    fn header(self) -> (Header, P) {
        let header = Header {
            join_ref: self.join_ref,
            msg_ref: self.msg_ref,
            topic: self.topic,
            event: self.event,
        };
        (header, self.payload)
    }
}

fn parse<P: serde::de::DeserializeOwned + Default>(
    message: &Message,
) -> Result<ClientFrame<P>, DecodeError> {
    let text = match message {
        Message::Text(text) => text.as_str(),
        Message::Binary(bytes) => std::str::from_utf8(bytes)
            .map_err(|_| DecodeError("a V1 binary frame must hold JSON text"))?,
    };
    // A derived struct also reads a JSON array by position: a V2 array sent without `vsn`
    // would be misread as an object, so anything but an object is refused first.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(DecodeError("a V1 frame must be a JSON object"));
    }
    serde_json::from_str(text).map_err(|error| {
        if error.is_data() {
            DecodeError(
                "a V1 frame must be a JSON object with string topic and event, and string or null refs",
            )
        } else {
            DecodeError("a text frame must be JSON")
        }
    })
}

pub(crate) fn decode_header(message: &Message) -> Result<Header, DecodeError> {
    parse::<IgnoredAny>(message).map(|frame| frame.header().0)
}

pub(crate) fn decode(message: &Message) -> Result<Inbound, DecodeError> {
    let (header, payload) = parse::<Value>(message)?.header();
    Ok(Inbound {
        header,
        payload: Payload::Json(payload),
    })
}

/// The four fields Phoenix writes (`ref` is `null` on pushes and broadcasts).
#[derive(Serialize)]
struct ServerFrame<'a, P> {
    topic: &'a str,
    event: &'a str,
    payload: P,
    #[serde(rename = "ref")]
    msg_ref: Option<&'a str>,
}

fn text<P: Serialize>(topic: &str, event: &str, payload: P, msg_ref: Option<&str>) -> Frame {
    let frame = ServerFrame {
        topic,
        event,
        payload,
        msg_ref,
    };
    Frame::text(serde_json::to_string(&frame).expect("JSON values always serialize"))
}

/// A push: `{"topic", "event", "payload", "ref": null}`; `None` for bytes.
pub(crate) fn encode_push(topic: &str, event: &str, payload: &Payload) -> Option<Frame> {
    Some(text(topic, event, payload.as_json()?, None))
}

/// A push whose payload, a JSON object, is encoded already: `{"topic", "event", "payload",
/// "ref": null}` with its bytes copied in.
pub(crate) fn encode_push_json(topic: &str, event: &str, json: &str) -> Frame {
    #[derive(Serialize)]
    struct Head<'a> {
        topic: &'a str,
        event: &'a str,
    }
    let mut text = serde_json::to_string(&Head { topic, event }).expect("strings always serialize");
    // `{"topic":..,"event":..}` becomes `{.., "payload":<json>,"ref":null}`.
    text.pop();
    text.reserve(json.len() + 24);
    text.push_str(",\"payload\":");
    text.push_str(json);
    text.push_str(",\"ref\":null}");
    Frame::text(text)
}

/// A `phx_reply` echoing the client's ref; `None` for bytes.
pub(crate) fn encode_reply(
    msg_ref: Option<&str>,
    topic: &str,
    status: &str,
    payload: &Payload,
) -> Option<Frame> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'a str,
        response: &'a Value,
    }
    let body = Body {
        status,
        response: payload.as_json()?,
    };
    Some(text(topic, "phx_reply", body, msg_ref))
}

/// `phx_close` / `phx_error`: the ref is the channel's join_ref, as Phoenix sets it.
pub(crate) fn encode_lifecycle(join_ref: &str, topic: &str, event: &str, payload: &Value) -> Frame {
    text(topic, event, payload, Some(join_ref))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;

    #[test]
    fn objects_decode_with_or_without_join_ref() {
        let text = |s: &str| Message::Text(s.to_owned().into());
        let m = decode(&text(
            r#"{"topic":"room:1","event":"msg","payload":{"a":1},"ref":"2","extra":0}"#,
        ))
        .unwrap();
        assert_eq!(
            (m.join_ref.as_deref(), m.msg_ref.as_deref()),
            (None, Some("2"))
        );
        assert_eq!((&*m.topic, &*m.event), ("room:1", "msg"));
        assert_eq!(m.payload, Payload::Json(json!({"a":1})));
        let m = decode(&text(
            r#"{"payload":{},"join_ref":"1","ref":null,"event":"e","topic":"t"}"#,
        ))
        .unwrap();
        assert_eq!(
            (m.join_ref.as_deref(), m.msg_ref.as_deref()),
            (Some("1"), None)
        );
        let binary = Message::Binary(Bytes::from_static(
            br#"{"topic":"t","event":"e","payload":{},"ref":"1"}"#,
        ));
        assert_eq!(decode(&binary).unwrap().topic, "t");
        for bad in [
            r#"["1","1","t","e",{}]"#,
            r#"{"topic":"t","payload":{},"ref":"1"}"#,
            r#"{"topic":"t","event":"e","payload":{},"ref":1}"#,
            "not json",
        ] {
            assert!(decode(&text(bad)).is_err(), "{bad}");
            assert!(decode_header(&text(bad)).is_err(), "{bad}");
        }
        assert!(decode(&Message::Binary(Bytes::from_static(&[0, 1, 0xff]))).is_err());
    }

    #[test]
    fn the_header_skips_a_payload_it_does_not_build() {
        let header = decode_header(&Message::Text(
            r#"{"topic":"t","event":"e","payload":{"deep":[[[1,2,{"x":null}]]]},"ref":"9"}"#
                .to_owned()
                .into(),
        ))
        .unwrap();
        assert_eq!(
            (&*header.topic, header.msg_ref.as_deref()),
            ("t", Some("9"))
        );
    }

    #[test]
    fn encodings_write_the_four_fields_only() {
        assert_eq!(
            encode_reply(Some("4"), "room:1", "ok", &Payload::empty()),
            Some(Frame::text(
                r#"{"topic":"room:1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"4"}"#
            ))
        );
        assert_eq!(
            encode_push("r", "e", &Payload::Json(json!({"a":1}))),
            Some(Frame::text(
                r#"{"topic":"r","event":"e","payload":{"a":1},"ref":null}"#
            ))
        );
        assert_eq!(
            encode_push_json("r", "e", r#"{"a":1}"#),
            encode_push("r", "e", &Payload::Json(json!({"a":1}))).unwrap()
        );
        assert_eq!(
            encode_lifecycle("3", "r", "phx_close", &json!({})),
            Frame::text(r#"{"topic":"r","event":"phx_close","payload":{},"ref":"3"}"#)
        );
        let bytes = Payload::Binary(Bytes::from_static(b"P"));
        assert_eq!(encode_push("r", "e", &bytes), None);
        assert_eq!(encode_reply(Some("1"), "r", "ok", &bytes), None);
    }
}
