//! An `#[on_json]` payload that did not deserialize: what the handler's `#[on_json_error]`
//! method receives, and the reply sent when it has none.

use crate::{Reply, Utf8Bytes};
use std::fmt;

/// A text message meant for an `#[on_json]` method whose body did not deserialize into the
/// method's type: the serde error, and the tag that selected the method.
///
/// An `#[on_json_error]` method receives it; without one, the client gets
/// [`JsonError::to_reply`]: a text message
/// `{"error":"invalid payload","type":"new_message","detail":"missing field `body` at line 1 column 24"}`
/// (the tag's field and value, when a tag selected the method), and the connection goes on.
#[derive(Debug)]
pub struct JsonError {
    tag: Option<(&'static str, String)>,
    error: serde_json::Error,
}

impl JsonError {
    /// The tag value that selected the method (`"new_message"` for
    /// `#[on_json(type = "new_message")]`), or `None` for an untagged `#[on_json]`.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_ref().map(|(_, value)| value.as_str())
    }

    /// The field the tag is read from (`"type"`), or `None` for an untagged `#[on_json]`.
    pub fn field(&self) -> Option<&'static str> {
        self.tag.as_ref().map(|(field, _)| *field)
    }

    /// The serde error: its message, line and column, and its category (syntax, data, eof).
    pub fn error(&self) -> &serde_json::Error {
        &self.error
    }

    /// The serde error, by value.
    pub fn into_inner(self) -> serde_json::Error {
        self.error
    }

    /// The reply sent when the handler has no `#[on_json_error]` method: a text message
    /// `{"error":"invalid payload",<field>:<tag>,"detail":<serde message>}` (without the tag
    /// for an untagged `#[on_json]`).
    pub fn to_reply(&self) -> Reply {
        // Written by hand so the keys keep this order (a `serde_json::Map` sorts them).
        let quoted = |text: &str| serde_json::Value::from(text).to_string();
        let tag = match &self.tag {
            Some((field, tag)) => format!("{}:{},", quoted(field), quoted(tag)),
            None => String::new(),
        };
        let detail = quoted(&self.error.to_string());
        let body = format!(r#"{{"error":"invalid payload",{tag}"detail":{detail}}}"#);
        Reply::text(Utf8Bytes::from(body))
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some((field, tag)) => write!(f, "invalid payload for {field} {tag:?}: {}", self.error),
            None => write!(f, "invalid payload: {}", self.error),
        }
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Builds the error for a tagged `#[on_json(field = "tag")]` method; called by generated code.
#[doc(hidden)]
pub fn json_error_tagged(field: &'static str, tag: &str, error: serde_json::Error) -> JsonError {
    JsonError {
        tag: Some((field, tag.to_owned())),
        error,
    }
}

/// Builds the error for an untagged `#[on_json]` method; called by generated code.
#[doc(hidden)]
pub fn json_error_untagged(error: serde_json::Error) -> JsonError {
    JsonError { tag: None, error }
}

/// The default for a handler without `#[on_json_error]`: log at debug level (a client's
/// mistake, not the server's) and answer with [`JsonError::to_reply`].
#[doc(hidden)]
pub fn invalid_json(error: JsonError) -> Reply {
    tracing::debug!(%error, "an #[on_json] payload did not deserialize; replying with the error");
    error.to_reply()
}

/// What an `#[on_json_error]` method's parameter may be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot receive an invalid `#[on_json]` payload's error",
    label = "the `#[on_json_error]` parameter must be `JsonError` or `serde_json::Error`",
    note = "write `fn invalid(&mut self, error: websock::JsonError) -> ..`"
)]
pub trait JsonErrorArg: Sized {
    /// Converts the error.
    fn from_json_error(error: JsonError) -> Self;
}

impl JsonErrorArg for JsonError {
    fn from_json_error(error: JsonError) -> Self {
        error
    }
}

// Not listed among the types that implement the trait in errors: the label names it, and
// rustc would print it by a path through a hidden module.
#[diagnostic::do_not_recommend]
impl JsonErrorArg for serde_json::Error {
    fn from_json_error(error: JsonError) -> Self {
        error.error
    }
}
