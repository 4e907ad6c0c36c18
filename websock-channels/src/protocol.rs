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

/// A decoded message from the client: its header (read through `Deref`) and its payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Inbound {
    pub(crate) header: Header,
    pub(crate) payload: Payload,
}

impl std::ops::Deref for Inbound {
    type Target = Header;

    fn deref(&self) -> &Header {
        &self.header
    }
}

/// The binary serializer writes each field's length in one byte (the reference, §3).
pub(crate) const MAX_FIELD: usize = 255;

/// The four fields before the payload: enough to answer a frame (a limit's error reply)
/// without decoding its payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub(crate) join_ref: Option<String>,
    pub(crate) msg_ref: Option<String>,
    pub(crate) topic: String,
    pub(crate) event: String,
}

impl Header {
    /// The error reason for a field the binary serializer could not echo, if any: refused
    /// here rather than cut short in a binary frame later (phoenix.js would misread it).
    pub(crate) fn too_long(&self) -> Option<&'static str> {
        let long = |field: &str| field.len() > MAX_FIELD;
        let long_ref = |field: &Option<String>| field.as_deref().is_some_and(long);
        if long(&self.topic) {
            Some("topic too long")
        } else if long(&self.event) {
            Some("event too long")
        } else if long_ref(&self.join_ref) || long_ref(&self.msg_ref) {
            Some("ref too long")
        } else {
            None
        }
    }
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

/// The header alone. A text frame's payload is not parsed: the limits are checked first, so
/// a frame over them costs a scan of its first four items, never a JSON tree of its payload.
pub(crate) fn decode_header(message: &Message) -> Result<Header, DecodeError> {
    match message {
        Message::Text(text) => decode_text_header(text.as_str()),
        // Binary fields are at most 255 bytes and the payload is a slice: no parse to spare.
        Message::Binary(bytes) => decode_binary(bytes).map(|inbound| inbound.header),
    }
}

fn decode_text_header(text: &str) -> Result<Header, DecodeError> {
    let mut header = None;
    let mut json = serde_json::Deserializer::from_str(text);
    // The visitor stops after the fourth item; serde_json then finds the payload where it
    // expected `]` and errs without reading it, which is the point. The header is kept.
    let result = serde::Deserializer::deserialize_seq(&mut json, HeaderVisitor(&mut header));
    match header {
        Some(header) => header,
        None => Err(match result {
            Err(error) if error.is_data() => DecodeError("a text frame must be a JSON array"),
            _ => DecodeError("a text frame must be JSON"),
        }),
    }
}

struct HeaderVisitor<'a>(&'a mut Option<Result<Header, DecodeError>>);

impl<'de> serde::de::Visitor<'de> for HeaderVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[join_ref, ref, topic, event, payload]")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let bad_ref = DecodeError("join_ref and ref must be strings or null");
        let Ok(join_ref) = seq.next_element::<Option<String>>() else {
            *self.0 = Some(Err(bad_ref));
            return Ok(());
        };
        let Ok(msg_ref) = seq.next_element::<Option<String>>() else {
            *self.0 = Some(Err(bad_ref));
            return Ok(());
        };
        let Ok(Some(topic)) = seq.next_element::<String>() else {
            *self.0 = Some(Err(DecodeError("the topic must be a string")));
            return Ok(());
        };
        let Ok(Some(event)) = seq.next_element::<String>() else {
            *self.0 = Some(Err(DecodeError("the event must be a string")));
            return Ok(());
        };
        *self.0 = Some(Ok(Header {
            join_ref: join_ref.flatten(),
            msg_ref: msg_ref.flatten(),
            topic,
            event,
        }));
        Ok(())
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
        header: Header {
            join_ref,
            msg_ref,
            topic,
            event,
        },
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
        header: Header {
            join_ref: non_empty(join_ref),
            msg_ref: non_empty(msg_ref),
            topic: topic.to_owned(),
            event: event.to_owned(),
        },
        payload: Payload::Binary(bytes.slice(at..)),
    })
}

/// `[join_ref, ref, topic, event, payload]` as a text frame, or the binary layout for bytes
/// (`None` if a field is too long for it).
pub(crate) fn encode_push(
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Payload,
) -> Option<Frame> {
    match payload {
        Payload::Json(value) => Some(text(join_ref, None, topic, event, value)),
        Payload::Binary(data) => {
            let jr = join_ref.unwrap_or("");
            binary(KIND_PUSH, &[jr, topic, event], data)
        }
    }
}

/// `[join_ref, null, topic, event, json]` with `json` encoded already (a topic's cached
/// `presence_state`): its bytes are copied, not encoded again.
pub(crate) fn encode_push_json(
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    json: &str,
) -> Frame {
    let head = (join_ref, None::<&str>, topic, event);
    let mut text = serde_json::to_string(&head).expect("strings always serialize");
    // `[..,"event"]` becomes `[..,"event",<json>]`.
    text.pop();
    text.reserve(json.len() + 2);
    text.push(',');
    text.push_str(json);
    text.push(']');
    Frame::text(text)
}

/// A `phx_reply`: `{"status": status, "response": payload}`, or kind 1 for bytes (`None` if
/// a field is too long for it).
pub(crate) fn encode_reply(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    status: &str,
    payload: &Payload,
) -> Option<Frame> {
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
            let text = serde_json::to_string(&array).expect("JSON values always serialize");
            Some(Frame::text(text))
        }
        Payload::Binary(data) => binary(
            KIND_REPLY,
            &[join_ref.unwrap_or(""), msg_ref.unwrap_or(""), topic, status],
            data,
        ),
    }
}

/// A broadcast: `[null, null, topic, event, payload]`, or kind 2 for bytes (`None` if a
/// field is too long for it).
pub(crate) fn encode_broadcast(topic: &str, event: &str, payload: &Payload) -> Option<Frame> {
    match payload {
        Payload::Json(value) => Some(text(None, None, topic, event, value)),
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

/// `None` when a field is longer than 255 bytes: its length does not fit the one byte the
/// layout gives it, and a field cut short would make phoenix.js misread the frame. Fields a
/// client sends are checked on arrival ([`Header::too_long`]); what the server chose (an
/// event, a reply status) is checked here, and the frame is then not sent (counted, logged).
fn binary(kind: u8, fields: &[&str], data: &Bytes) -> Option<Frame> {
    let mut lengths = [0u8; 4];
    for (length, field) in lengths.iter_mut().zip(fields) {
        *length = u8::try_from(field.len()).ok()?;
    }
    let lengths = &lengths[..fields.len()];
    let header: usize = 1 + fields.len() + fields.iter().map(|f| f.len()).sum::<usize>();
    let mut out = BytesMut::with_capacity(header + data.len());
    out.put_u8(kind);
    out.put_slice(lengths);
    for field in fields {
        out.put_slice(field.as_bytes());
    }
    out.put_slice(data);
    Some(Frame::Binary(out.freeze()))
}

/// Whether a binary broadcast's topic and event fit the binary layout (kind 2).
pub(crate) fn fits_binary(topic: &str, event: &str) -> bool {
    topic.len() <= MAX_FIELD && event.len() <= MAX_FIELD
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

        let Some(Frame::Binary(push)) = encode_push(
            Some("3"),
            "t",
            "e",
            &Payload::Binary(Bytes::from_static(b"P")),
        ) else {
            panic!("binary")
        };
        assert_eq!(&push[..], b"\x00\x01\x01\x013teP");
        let Some(Frame::Binary(reply)) = encode_reply(
            Some("3"),
            Some("4"),
            "t",
            "ok",
            &Payload::Binary(Bytes::from_static(b"P")),
        ) else {
            panic!("binary")
        };
        assert_eq!(&reply[..], b"\x01\x01\x01\x01\x0234tokP");
        let Some(Frame::Binary(cast)) =
            encode_broadcast("t", "e", &Payload::Binary(Bytes::from_static(b"P")))
        else {
            panic!("binary")
        };
        assert_eq!(&cast[..], b"\x02\x01\x01teP");
    }

    #[test]
    fn the_header_is_read_without_the_payload() {
        // The payload is not JSON at all: the header still decodes, the full decode fails.
        let text = r#"["3","4","room:1","new_msg",{"body": nope"#;
        let header = decode_text_header(text).unwrap();
        assert_eq!(header.join_ref.as_deref(), Some("3"));
        assert_eq!(header.msg_ref.as_deref(), Some("4"));
        assert_eq!((&*header.topic, &*header.event), ("room:1", "new_msg"));
        assert!(decode_text(text).is_err());
        let short = decode_text_header(r#"[null,"6","phoenix","heartbeat"]"#).unwrap();
        assert_eq!(short.join_ref, None);
        assert!(decode_text_header(r#"[1,"6","phoenix","heartbeat",{}]"#).is_err());
        assert!(decode_text_header(r#"["1","6",7,"heartbeat",{}]"#).is_err());
        assert!(decode_text_header(r#"{"topic":"x"}"#).is_err());
        assert!(decode_text_header("not json").is_err());
        assert!(decode_text_header(r#"["1","2","t"]"#).is_err());
    }

    #[test]
    fn fields_over_255_bytes_are_refused_not_cut() {
        let long = "e".repeat(256);
        let data = Payload::Binary(Bytes::from_static(b"P"));
        assert_eq!(encode_push(Some("1"), "t", &long, &data), None);
        assert_eq!(encode_broadcast("t", &long, &data), None);
        assert_eq!(encode_reply(Some("1"), Some("2"), "t", &long, &data), None);
        assert!(encode_broadcast("t", &"e".repeat(255), &data).is_some());
        // Text frames have no such limit.
        assert!(encode_broadcast("t", &long, &Payload::empty()).is_some());
        let header = |topic: &str, event: &str| Header {
            join_ref: Some("1".into()),
            msg_ref: None,
            topic: topic.into(),
            event: event.into(),
        };
        assert_eq!(header("t", &long).too_long(), Some("event too long"));
        assert_eq!(header(&long, "e").too_long(), Some("topic too long"));
        assert_eq!(header("t", "e").too_long(), None);
    }

    #[test]
    fn text_encodings() {
        let reply = encode_reply(Some("3"), Some("4"), "room:1", "ok", &Payload::empty());
        assert_eq!(
            reply,
            Some(Frame::text(
                r#"["3","4","room:1","phx_reply",{"status":"ok","response":{}}]"#
            ))
        );
        assert_eq!(
            encode_broadcast("r", "e", &Payload::Json(json!({"a":1}))),
            Some(Frame::text(r#"[null,null,"r","e",{"a":1}]"#))
        );
        assert_eq!(
            encode_push_json(Some("3"), "r", "presence_state", r#"{"a":{"metas":[]}}"#),
            Frame::text(r#"["3",null,"r","presence_state",{"a":{"metas":[]}}]"#)
        );
        assert_eq!(
            encode_lifecycle("3", "r", "phx_close", &json!({})),
            Frame::text(r#"["3","3","r","phx_close",{}]"#)
        );
    }
}
