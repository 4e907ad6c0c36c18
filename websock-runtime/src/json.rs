//! JSON replies: `Json<T>` (axum's name) and `serde_json::Value` push one text frame.

use crate::{IntoReply, Reply};
use serde::Serialize;
use serde_json::Value;

/// A reply serialized to JSON and pushed as one text frame, as axum's `Json`.
///
/// ```
/// use serde::Serialize;
/// use websock_runtime::{IntoReply, Json};
///
/// #[derive(Serialize)]
/// struct Cursor {
///     x: i32,
///     y: i32,
/// }
///
/// let reply = Json(Cursor { x: 1, y: 2 }).into_reply(); // pushes {"x":1,"y":2}
/// # let _ = reply;
/// ```
///
/// A value that fails to serialize (a map with non-string keys, a `Serialize` impl that
/// errors) is a handler error, never a panic: the connection closes with 1011 and the error,
/// naming the type, is logged with the connection's `tracing` span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "a Json reply does nothing unless returned from a callback"]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoReply for Json<T> {
    fn into_reply(self) -> Reply {
        Reply::json(&self.0)
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Reply {
        // A `Value` always serializes: its map keys are strings.
        Reply::text(self.to_string())
    }
}

impl Reply {
    /// Push `value` as JSON in one text frame; a value that fails to serialize stops the
    /// connection as [`Reply::error`] does (1011, logged), naming its type.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(text) => Self::text(text),
            Err(error) => Self::error(format_args!(
                "could not serialize the JSON reply `{}`: {error}",
                std::any::type_name::<T>()
            )),
        }
    }
}
