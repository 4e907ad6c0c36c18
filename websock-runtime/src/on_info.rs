//! The link between a handler and the types it receives as infos.

/// A handler that receives `T` as an info: `#[websock_handler]` implements it for the type
/// of each `#[on_info]` method's parameter, so `ctx.send_after(.., T)` and
/// `handle.try_send(T)` convert `T` into the handler's [`Info`](crate::Handler::Info).
///
/// Two `#[on_info]` methods for one type (also through an alias or another path) are two
/// implementations of `OnInfo<T>` for the handler, which rustc reports at the second one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[on_info]` method for `{T}`",
    label = "`{Self}` cannot receive `{T}` as an info",
    note = "add `#[on_info] fn name(&mut self, info: {T})` to the `#[websock_handler]` impl of `{Self}`"
)]
pub trait OnInfo<T> {
    /// The handler's info type.
    type Info;

    /// Wraps `info` in the handler's info type.
    fn into_info(info: T) -> Self::Info;
}
