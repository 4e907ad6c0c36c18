//! How a capture or a JSON body becomes a method's parameter: the traits `#[websock_handler]`
//! (and `#[channel]`) call, named for users because their names appear in compile errors.
//!
//! Each has one blanket impl over the standard bound (`FromStr`, `Deserialize`) marked
//! `#[diagnostic::do_not_recommend]`: without it, rustc would report the inner bound and list
//! every `FromStr`/`Deserialize` type in the dependency graph (a list that changes whenever a
//! dependency is added) instead of this trait's message, which says the fix.

use serde::de::DeserializeOwned;
use std::str::FromStr;

/// A type a capture (`{room}` in `#[on_text("join {room}")]` or in a channel's topic) is
/// parsed into: any type that implements [`FromStr`].
#[diagnostic::on_unimplemented(
    message = "captures are parsed with `FromStr`: implement it for `{Self}`, or take a `String`",
    label = "`{Self}` does not implement `FromStr`",
    note = "a capture that does not parse makes the pattern not match (`#[on_text]`) or refuses the join (`#[channel]`)"
)]
pub trait FromCapture: Sized {
    /// The parsed capture, or `None` when it does not parse.
    fn from_capture(text: &str) -> Option<Self>;
}

#[diagnostic::do_not_recommend]
impl<T: FromStr> FromCapture for T {
    fn from_capture(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

/// A type an `#[on_json]` message is deserialized into: any type that implements serde's
/// `Deserialize` (without borrowing from the text).
#[diagnostic::on_unimplemented(
    message = "JSON messages are deserialized: add `#[derive(Deserialize)]` to `{Self}`",
    label = "`{Self}` does not implement `Deserialize`",
    note = "with `serde = {{ version = \"1\", features = [\"derive\"] }}` in Cargo.toml: `#[derive(serde::Deserialize)] struct {Self} {{ .. }}`"
)]
pub trait FromJson: Sized {
    /// Deserializes the text.
    fn from_json(text: &str) -> Result<Self, serde_json::Error>;
}

#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned> FromJson for T {
    fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}
