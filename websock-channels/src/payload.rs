//! What travels in a message: a JSON object, or bytes (phoenix.js `ArrayBuffer` pushes).

use bytes::Bytes;
use serde::{
    Deserialize, Deserializer, Serialize,
    de::{self, DeserializeOwned, Visitor},
};
use serde_json::Value;
use std::{any::Any, fmt};

/// A message's payload: JSON (the text serializer) or bytes (the binary serializer, phoenix.js
/// `ArrayBuffer` pushes). Phoenix requires JSON payloads to be objects.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A JSON value (an object on the wire).
    Json(Value),
    /// Raw bytes, sent and received as a binary frame.
    Binary(Bytes),
}

impl Default for Payload {
    fn default() -> Self {
        Self::empty()
    }
}

impl Payload {
    /// `{}`.
    pub fn empty() -> Self {
        Self::Json(Value::Object(serde_json::Map::new()))
    }

    /// Any serializable value as JSON; a value that cannot be serialized becomes
    /// `{"reason":"<the error>"}` (a bug in a `Serialize` impl should not crash a channel).
    pub fn json(value: &impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => Self::Json(value),
            Err(error) => Self::Json(serde_json::json!({ "reason": error.to_string() })),
        }
    }

    /// `{"reason": reason}`, Phoenix's shape for errors.
    pub fn reason(reason: impl fmt::Display) -> Self {
        Self::Json(serde_json::json!({ "reason": reason.to_string() }))
    }

    /// The JSON value, if this is JSON.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Self::Json(value) => Some(value),
            Self::Binary(_) => None,
        }
    }

    /// The bytes, if this is binary.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Self::Binary(bytes) => Some(bytes),
            Self::Json(_) => None,
        }
    }

    /// Deserializes into `T`: JSON through serde_json; bytes into [`Binary`], `Bytes`-like
    /// types that accept bytes, or `Payload` itself.
    pub fn parse<T: DeserializeOwned + 'static>(self) -> Result<T, PayloadError> {
        // `Payload` itself is taken as is (bytes included), without a serde round trip.
        let any: Box<dyn Any> = Box::new(self);
        let payload = match any.downcast::<T>() {
            Ok(same) => return Ok(*same),
            Err(any) => *any.downcast::<Payload>().expect("it was a Payload"),
        };
        match payload {
            Self::Json(value) => T::deserialize(value).map_err(|e| PayloadError(e.to_string())),
            Self::Binary(bytes) => T::deserialize(BytesDeserializer(bytes)),
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

impl From<Bytes> for Payload {
    fn from(bytes: Bytes) -> Self {
        Self::Binary(bytes)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Binary(bytes.into())
    }
}

impl From<Binary> for Payload {
    fn from(binary: Binary) -> Self {
        Self::Binary(binary.0)
    }
}

/// `T` as JSON, so that `Json<T>` goes wherever a payload does: a reply's response (also in
/// `Result<Json<T>, Json<E>>`), `push`, `broadcast`. A value that fails to serialize becomes
/// `{"reason":"internal error"}`, logged with its type (a bug in a `Serialize` impl should not
/// crash a channel).
impl<T: Serialize> From<websock_runtime::Json<T>> for Payload {
    fn from(json: websock_runtime::Json<T>) -> Self {
        match serde_json::to_value(&json.0) {
            Ok(value) => Self::Json(value),
            Err(error) => {
                tracing::error!(
                    %error,
                    "could not serialize the JSON payload `{}`: sending {{\"reason\":\"internal error\"}}",
                    std::any::type_name::<T>()
                );
                Self::reason("internal error")
            }
        }
    }
}

impl From<()> for Payload {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value or bytes")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Payload, E> {
        Ok(Payload::Binary(Bytes::copy_from_slice(bytes)))
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Payload, E> {
        Ok(Payload::Binary(bytes.into()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Payload, E> {
        Ok(Payload::Json(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Payload, E> {
        Ok(Payload::Json(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Payload, E> {
        Ok(Payload::Json(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Payload, E> {
        Ok(Payload::Json(v.into()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
        Ok(Payload::Json(v.into()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Payload, E> {
        Ok(Payload::Json(Value::Null))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Payload, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Payload::Json)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Payload, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Payload::Json)
    }
}

/// Bytes as an event parameter: `#[on_event("upload")] fn upload(&mut self, data: Binary)`
/// receives a phoenix.js `ArrayBuffer` push.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Binary(pub Bytes);

impl<'de> Deserialize<'de> for Binary {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BinaryVisitor;
        impl Visitor<'_> for BinaryVisitor {
            type Value = Binary;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a binary payload")
            }
            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Binary, E> {
                Ok(Binary(Bytes::copy_from_slice(bytes)))
            }
            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Binary, E> {
                Ok(Binary(bytes.into()))
            }
        }
        deserializer.deserialize_byte_buf(BinaryVisitor)
    }
}

/// A payload that did not deserialize into the event's parameter type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayloadError(String);

impl PayloadError {
    /// The serde message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid payload: {}", self.0)
    }
}

impl std::error::Error for PayloadError {}

impl de::Error for PayloadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Hands bytes to a `Deserialize` impl: `visit_byte_buf` for types that take bytes, an error
/// (a clear one) for everything else.
struct BytesDeserializer(Bytes);

impl<'de> Deserializer<'de> for BytesDeserializer {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        visitor.visit_byte_buf(self.0.into())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Parses an event's payload into a method's parameter type.
#[doc(hidden)]
pub fn parse_param<T: DeserializeOwned + 'static>(payload: Payload) -> Result<T, PayloadError> {
    payload.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Msg {
        body: String,
    }

    #[test]
    fn json_binary_and_payload_parse() {
        let msg: Msg = Payload::Json(json!({"body": "hi"})).parse().unwrap();
        assert_eq!(msg.body, "hi");
        let bin: Binary = Payload::Binary(Bytes::from_static(b"\x01\x02"))
            .parse()
            .unwrap();
        assert_eq!(&bin.0[..], b"\x01\x02");
        let same: Payload = Payload::Binary(Bytes::from_static(b"x")).parse().unwrap();
        assert_eq!(same, Payload::Binary(Bytes::from_static(b"x")));
        let value: Value = Payload::Json(json!({"a": 1})).parse().unwrap();
        assert_eq!(value, json!({"a": 1}));
        let error = Payload::Binary(Bytes::from_static(b"x")).parse::<Msg>();
        assert!(error.is_err());
        let error = Payload::Json(json!({"a": 1})).parse::<Binary>();
        assert!(error.is_err());
    }
}
