//! The Phoenix V2 serializer: `[join_ref, ref, topic, event, payload]` JSON arrays, and the
//! binary layout for `ArrayBuffer` payloads (phoenix.js `serializer.js`,
//! `Phoenix.Socket.V2.JSONSerializer`).

use crate::Payload;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use websock_runtime::{Frame, Message};

/// Binary frame kinds (the first byte).
const KIND_PUSH: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// A decoded message from the client.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Inbound {
    pub(crate) join_ref: Option<String>,
    pub(crate) msg_ref: Option<String>,
    pub(crate) topic: String,
    pub(crate) event: String,
    pub(crate) payload: Payload,
}

/// Why a frame could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

pub(crate) fn decode(message: &Message) -> Result<Inbound, DecodeError> {
    match message {
        Message::Text(text) => decode_text(text.as_str()),
        Message::Binary(bytes) => decode_binary(bytes),
    }
}

fn decode_text(text: &str) -> Result<Inbound, DecodeError> {
    let value: Value =
        serde_json::from_str(text).map_err(|_| DecodeError("a text frame must be JSON"))?;
    let Value::Array(items) = value else {
        return Err(DecodeError("a text frame must be a JSON array"));
    };
    // The server ignores extra trailing items (the reference, §2).
    let mut items = items.into_iter();
    let join_ref = opt_ref(items.next())?;
    let msg_ref = opt_ref(items.next())?;
    let topic = string(items.next(), "the topic must be a string")?;
    let event = string(items.next(), "the event must be a string")?;
    let payload = items.next().unwrap_or(Value::Null);
    Ok(Inbound {
        join_ref,
        msg_ref,
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

/// Refs are opaque strings (the reference, §7: integer refs are a client bug, and echoing them
/// as strings would not match either).
fn opt_ref(value: Option<Value>) -> Result<Option<String>, DecodeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(DecodeError("join_ref and ref must be strings or null")),
    }
}

fn string(value: Option<Value>, error: &'static str) -> Result<String, DecodeError> {
    match value {
        Some(Value::String(text)) => Ok(text),
        _ => Err(DecodeError(error)),
    }
}

/// Kind 0, client to server: `0, len(jr), len(ref), len(topic), len(event)`, the four fields,
/// then the payload.
fn decode_binary(bytes: &Bytes) -> Result<Inbound, DecodeError> {
    let short = DecodeError("binary frame shorter than its header");
    match bytes.first() {
        Some(&KIND_PUSH) => {}
        Some(_) => return Err(DecodeError("a client binary frame must be a push (kind 0)")),
        None => return Err(short),
    }
    let header = bytes.get(1..5).ok_or(short)?;
    let mut at = 5;
    let mut fields = [""; 4];
    for (field, &len) in fields.iter_mut().zip(header) {
        let end = at + usize::from(len);
        let raw = bytes
            .get(at..end)
            .ok_or(DecodeError("binary frame shorter than its header"))?;
        *field = std::str::from_utf8(raw).map_err(|_| DecodeError("binary field is not UTF-8"))?;
        at = end;
    }
    let [join_ref, msg_ref, topic, event] = fields;
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(Inbound {
        join_ref: non_empty(join_ref),
        msg_ref: non_empty(msg_ref),
        topic: topic.to_owned(),
        event: event.to_owned(),
        payload: Payload::Binary(bytes.slice(at..)),
    })
}

/// `[join_ref, ref, topic, event, payload]` as a text frame, or the binary layout for bytes.
pub(crate) fn encode_push(
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Payload,
) -> Frame {
    match payload {
        Payload::Json(value) => text(join_ref, None, topic, event, value),
        Payload::Binary(data) => {
            let jr = join_ref.unwrap_or("");
            binary(KIND_PUSH, &[jr, topic, event], data)
        }
    }
}

/// A `phx_reply`: `{"status": status, "response": payload}`, or kind 1 for bytes.
pub(crate) fn encode_reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    status: &str,
    payload: &Payload,
) -> Frame {
    match payload {
        Payload::Json(value) => {
            // A struct, not `json!`: the key order stays `status`, `response` as Phoenix writes it.
            #[derive(serde::Serialize)]
            struct Body<'a> {
                status: &'a str,
                response: &'a Value,
            }
            let body = Body {
                status,
                response: value,
            };
            let array = (join_ref, msg_ref, topic, "phx_reply", &body);
            Frame::text(serde_json::to_string(&array).expect("JSON values always serialize"))
        }
        Payload::Binary(data) => binary(
            KIND_REPLY,
            &[join_ref.unwrap_or(""), msg_ref.unwrap_or(""), topic, status],
            data,
        ),
    }
}

/// A broadcast: `[null, null, topic, event, payload]`, or kind 2 for bytes.
pub(crate) fn encode_broadcast(topic: &str, event: &str, payload: &Payload) -> Frame {
    match payload {
        Payload::Json(value) => text(None, None, topic, event, value),
        Payload::Binary(data) => binary(KIND_BROADCAST, &[topic, event], data),
    }
}

/// `phx_close` / `phx_error`: `[jr, jr, topic, event, payload]`.
pub(crate) fn encode_lifecycle(join_ref: &str, topic: &str, event: &str, payload: &Value) -> Frame {
    text(Some(join_ref), Some(join_ref), topic, event, payload)
}

fn text(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Value,
) -> Frame {
    let array = (join_ref, msg_ref, topic, event, payload);
    let text = serde_json::to_string(&array).expect("JSON values always serialize");
    Frame::text(text)
}

/// Fields longer than 255 bytes cannot be encoded (each length is one byte); they are cut,
/// which phoenix.js would misread, so callers keep topics and events short (checked on join).
fn binary(kind: u8, fields: &[&str], data: &Bytes) -> Frame {
    let header: usize = 1 + fields.len() + fields.iter().map(|f| f.len().min(255)).sum::<usize>();
    let mut out = BytesMut::with_capacity(header + data.len());
    out.put_u8(kind);
    for field in fields {
        out.put_u8(field.len().min(255) as u8);
    }
    for field in fields {
        out.put_slice(&field.as_bytes()[..field.len().min(255)]);
    }
    out.put_slice(data);
    Frame::Binary(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_frames_decode_with_null_refs_and_trailing_items() {
        let m = decode_text(r#"[null,"6","phoenix","heartbeat",{},"extra"]"#).unwrap();
        assert_eq!(m.join_ref, None);
        assert_eq!(m.msg_ref.as_deref(), Some("6"));
        assert_eq!(m.topic, "phoenix");
        assert_eq!(m.payload, Payload::Json(json!({})));
        assert!(decode_text(r#"[1,"6","phoenix","heartbeat",{}]"#).is_err());
        assert!(decode_text(r#"{"topic":"x"}"#).is_err());
        assert!(decode_text("not json").is_err());
    }

    #[test]
    fn binary_push_round_trip_shapes() {
        let mut frame = vec![0u8, 1, 1, 6, 3];
        frame.extend_from_slice(b"34room:1ev!");
        frame.extend_from_slice(&[0xff, 0x00]);
        let m = decode_binary(&Bytes::from(frame)).unwrap();
        assert_eq!(m.join_ref.as_deref(), Some("3"));
        assert_eq!(m.msg_ref.as_deref(), Some("4"));
        assert_eq!(m.topic, "room:1");
        assert_eq!(m.event, "ev!");
        assert_eq!(m.payload, Payload::Binary(Bytes::from_static(&[0xff, 0])));
        assert!(decode_binary(&Bytes::from_static(&[0, 9, 0, 0, 0])).is_err());
        assert!(decode_binary(&Bytes::from_static(&[1, 0, 0, 0, 0])).is_err());

        let Frame::Binary(push) = encode_push(
            Some("3"),
            "t",
            "e",
            &Payload::Binary(Bytes::from_static(b"P")),
        ) else {
            panic!("binary")
        };
        assert_eq!(&push[..], b"\x00\x01\x01\x013teP");
        let Frame::Binary(reply) = encode_reply(
            Some("3"),
            Some("4"),
            "t",
            "ok",
            &Payload::Binary(Bytes::from_static(b"P")),
        ) else {
            panic!("binary")
        };
        assert_eq!(&reply[..], b"\x01\x01\x01\x01\x0234tokP");
        let Frame::Binary(cast) =
            encode_broadcast("t", "e", &Payload::Binary(Bytes::from_static(b"P")))
        else {
            panic!("binary")
        };
        assert_eq!(&cast[..], b"\x02\x01\x01teP");
    }

    #[test]
    fn text_encodings() {
        let reply = encode_reply(Some("3"), Some("4"), "room:1", "ok", &Payload::empty());
        assert_eq!(
            reply,
            Frame::text(r#"["3","4","room:1","phx_reply",{"status":"ok","response":{}}]"#)
        );
        assert_eq!(
            encode_broadcast("r", "e", &Payload::Json(json!({"a":1}))),
            Frame::text(r#"[null,null,"r","e",{"a":1}]"#)
        );
        assert_eq!(
            encode_lifecycle("3", "r", "phx_close", &json!({})),
            Frame::text(r#"["3","3","r","phx_close",{}]"#)
        );
    }
}
