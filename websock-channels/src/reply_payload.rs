//! What a `Result` returned from a channel callback may hold: the ok and error replies'
//! responses. Traits named for users, because their names appear in compile errors.
//!
//! The blanket impls are marked `#[diagnostic::do_not_recommend]`, so a `Result<(), &str>`
//! is reported with these traits' messages (which say what to return) instead of rustc's list
//! of every type that converts into a `Payload`.

use crate::Payload;

/// The ok side of a `Result` a channel callback returns: anything that converts into a
/// [`Payload`] (`()`, `serde_json::Value`, `Payload`, `Binary`, `Vec<u8>`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the response of a channel's ok reply: return a `Payload`",
    label = "the `Ok` of a channel callback's `Result` must convert into a `Payload`",
    note = "use `()` (an empty response), `serde_json::Value` (`json!({{..}})`), `Payload::json(&value)` or `Payload`"
)]
pub trait OkReply {
    /// The ok reply's response.
    fn into_payload(self) -> Payload;
}

#[diagnostic::do_not_recommend]
impl<T: Into<Payload>> OkReply for T {
    fn into_payload(self) -> Payload {
        self.into()
    }
}

/// The error side of a `Result` a channel callback returns: anything that converts into a
/// [`Payload`], such as `Payload::reason("not allowed")` (Phoenix's `{"reason": ..}`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the response of a channel's error reply: return `Err(Payload::reason(..))`",
    label = "the `Err` of a channel callback's `Result` must convert into a `Payload`",
    note = "write `-> Result<T, Payload>` and `Err(Payload::reason(\"not allowed\"))` for Phoenix's `{{\"reason\": \"not allowed\"}}`, or return `ChannelReply::error(..)`"
)]
pub trait ErrorReply {
    /// The error reply's response.
    fn into_payload(self) -> Payload;
}

#[diagnostic::do_not_recommend]
impl<E: Into<Payload>> ErrorReply for E {
    fn into_payload(self) -> Payload {
        self.into()
    }
}
