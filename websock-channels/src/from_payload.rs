//! How an event's payload (or the join params) becomes a `#[channel]` method's parameter,
//! and what an error reply may carry: traits named for users, because their names appear in
//! compile errors.
//!
//! The blanket impls are marked `#[diagnostic::do_not_recommend]`: without it, rustc would
//! report the inner bound (`Deserialize`, `Into<Payload>`) and list every type that has it in
//! the dependency graph, instead of this trait's message, which says the fix.

use crate::{Payload, PayloadError};
use serde::de::DeserializeOwned;

/// A type an event's payload or the join params are deserialized into: any type that
/// implements serde's `Deserialize` (without borrowing), or [`Payload`] itself.
#[diagnostic::on_unimplemented(
    message = "payloads are deserialized: add `#[derive(Deserialize)]` to `{Self}`",
    label = "`{Self}` does not implement `Deserialize`",
    note = "a payload that does not deserialize gets the error reply `{{\"reason\": ..}}`; take `Payload` to read it as it came"
)]
pub trait FromPayload: Sized {
    /// Deserializes the payload.
    fn from_payload(payload: Payload) -> Result<Self, PayloadError>;
}

#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned + 'static> FromPayload for T {
    fn from_payload(payload: Payload) -> Result<Self, PayloadError> {
        payload.parse()
    }
}
