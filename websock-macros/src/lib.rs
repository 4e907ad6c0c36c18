//! The `#[websock_handler]` attribute of [websock](https://docs.rs/websock); use it through
//! that crate, which re-exports it with the runtime the generated code needs.

#![allow(unreachable_pub)] // a proc-macro crate exports nothing but its macros

extern crate proc_macro;

mod ast;
mod attr;
mod channel;
mod ctxt;
mod expand;
mod fallback;
mod info;
mod rate_limit;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro::TokenStream;

/// Turns an `impl` block into a [`Handler`]: one method per message pattern, the pattern
/// written in an attribute.
///
/// ```
/// use std::time::{Duration, Instant};
/// use websock::{Context, PathParams, Router, websock_handler, websocket};
///
/// struct ConnectionTimer {
///     path: String,
///     start: Instant,
/// }
///
/// struct Alert;
///
/// #[websock_handler]
/// impl ConnectionTimer {
///     fn init(params: PathParams, ctx: &mut Context<Self>) -> Self {
///         ctx.send_after(Duration::from_secs(15), Alert);
///         let name = params.get("name").unwrap_or_default();
///         ConnectionTimer { path: format!("/ws/connection_timer/{name}"), start: Instant::now() }
///     }
///
///     #[on_text("request_timer")]
///     fn request_timer(&mut self) -> String {
///         format!("Connected to {} for {}s.", self.path, self.start.elapsed().as_secs())
///     }
///
///     #[on_info]
///     fn alert(&mut self, _: Alert, ctx: &mut Context<Self>) -> String {
///         ctx.send_after(Duration::from_secs(15), Alert);
///         format!("Alert for {} after {}s.", self.path, self.start.elapsed().as_secs())
///     }
/// }
///
/// let router = Router::new().route("/ws/connection_timer/{name}", websocket::<ConnectionTimer>());
/// # let _ = router;
/// ```
///
/// # The attributes
///
/// | attribute | called for | the method's value parameter |
/// | --- | --- | --- |
/// | `#[init]`, or a method named `init` | the connection opening; returns `Self` or `Result<Self, Close>` | any number of extractors (up to 8), in any order with `ctx`: `Path<T>`, `Query<T>`, `State<S>`, `HeaderMap`, `PeerAddr`, `PathParams`, `RequestInfo`, or your own `FromRequest`; patterns work (`Path(name): Path<String>`). The handler's `Init` is `()` for none, the type for one, their tuple for several |
/// | `#[on_text("ping")]` | a text message equal to `ping` | none, or the text |
/// | `#[on_text("join {room}")]` | a text message matching the pattern | one per capture, by name: `&str`, or any `FromStr` type |
/// | `#[on_json(type = "new_message")]` | a JSON object whose top-level field `type` is `"new_message"` | none, or the body, parsed (`serde::Deserialize`) |
/// | `#[on_json]` | a text message that parses as JSON into the parameter's type | the body, parsed |
/// | `#[on_json_error]` (at most one) | an `#[on_json]` payload that does not deserialize (see below) | exactly one: the `JsonError` (or the bare `serde_json::Error`) |
/// | `#[on_text]` | any other text message (the text fallback) | none, or the text: `&str`, `String` or `Utf8Bytes` |
/// | `#[on_binary(prefix = b"\x01")]` | a binary message starting with these bytes (the whole message is passed) | none, or the bytes: `&[u8]`, `Vec<u8>` or `Bytes` |
/// | `#[on_binary]` | any other binary message (the binary fallback) | none, or the bytes |
/// | `#[on_info]` | an info message of the parameter's type | exactly one: the info |
/// | `#[on_ping]` / `#[on_pong]` | a ping (after the runtime answered it) / a pong | none, or the payload |
/// | `#[on_close]` | the client closing (before `#[on_terminate]`) | none, `Option<PeerClose>` (`None`: dropped without a close frame), or `PeerClose` (called only with a frame) |
/// | `#[on_terminate]` | the connection ending, whatever the cause | none, or the `TerminateReason` |
///
/// Every method takes `&mut self`, may be `async`, and may also take `ctx: &mut Context<Self>`,
/// anywhere in its parameters (recognised by its type). Methods return anything that
/// implements [`IntoReply`]: `()` keeps going, `String`/`&str`/`Utf8Bytes` push text,
/// `Vec<u8>`/`Bytes` push binary, `Json<T: Serialize>` and `serde_json::Value` push JSON text
/// (a value that fails to serialize closes with 1011), `Reply` says exactly what to do, `Option<_>` pushes when
/// `Some`, and `Result<_, E: Display>` closes with 1011 on `Err`. `#[on_close]` and
/// `#[on_terminate]` return `()`: the connection is already closing. Methods without an
/// attribute stay ordinary methods.
///
/// # Rate limits
///
/// `#[rate_limit(limit, per = window, key = ..)]` beside `#[on_text]`, `#[on_binary]` or
/// `#[on_json]` counts the method's messages per key in a fixed window that starts with the
/// key's first message, in the process's [`RateLimiter::global`] (in memory, or any store
/// given to `RateLimiter::set_global`): `#[rate_limit(10, per = Duration::from_secs(1), key =
/// self.user_id)]`. `limit` (a `u64`), `per` (a `Duration`) and `key` (anything `Display`;
/// default: the peer's IP address) are expressions evaluated for each message, with `self`
/// and `ctx` in scope. Over the limit, the message is dropped before it is decoded and the
/// method does not run (counted in `RateLimiter::refused`, logged at debug), or
/// `reply = <expr>` (any [`IntoReply`]) says what to answer: `reply = "slow down"`,
/// `reply = Reply::close(Close::new(CloseCode::POLICY, "rate limited"))`.
///
/// For `#[on_info]`, the macro generates the handler's `Info` type (an enum with a variant per
/// info type) and a `From` impl per type, so `ctx.send_after(delay, Alert)` and
/// `handle.try_send(Alert)` take the info type itself. Without `#[on_info]`, `Info` is
/// `Infallible`.
///
/// # Dispatch order
///
/// A text message goes to the first of:
///
/// 1. the `#[on_text("..")]` whose literal equals the text: one `match` on the string, no
///    allocation;
/// 2. the capture patterns, in the order of the methods. A capture matches one character or
///    more; the literal text between two captures is matched at its first occurrence. A
///    capture whose type fails to parse (`"join abc"` for `room: u32`) makes the pattern miss:
///    the next pattern is tried, and in the end the fallback;
/// 3. the tagged `#[on_json(field = "tag")]` methods: the tag is read once (without parsing
///    the rest), then one `match`; a body that does not deserialize into the method's type
///    is an invalid payload (below), it does not fall through;
/// 4. the untagged `#[on_json]` methods, in the order of the methods;
/// 5. the `#[on_text]` fallback; without one, the message is an invalid payload when there
///    are untagged `#[on_json]` methods (the last one's serde error), else it is ignored.
///
/// # Invalid JSON payloads
///
/// A payload that does not deserialize goes to the `#[on_json_error]` method, which takes
/// `&mut self`, the error ([`JsonError`]: the serde error, and the tag's field and value) and
/// optionally `ctx`, and returns a reply like the other methods. Without one, the client gets
/// the text message
/// `{"error":"invalid payload","type":"new_message","detail":"missing field `body` at line 1 column 24"}`
/// (the tag's field and value, absent for an untagged `#[on_json]`; [`JsonError::to_reply`]),
/// a `tracing` debug line is logged, and the connection goes on: a bad payload is the
/// client's mistake, answered as a Phoenix channel answers one, not a protocol error (1007
/// and 1003 are for invalid UTF-8 and unacceptable frame types, RFC 6455 §7.4.1).
///
/// ```
/// use serde::Deserialize;
/// use websock::{Context, JsonError, websock_handler};
///
/// #[derive(Deserialize)]
/// struct Move { x: i32, y: i32 }
///
/// struct Cursors;
///
/// #[websock_handler]
/// impl Cursors {
///     fn init(_: &mut Context<Self>) -> Self { Cursors }
///
///     #[on_json(type = "move")]
///     fn moved(&mut self, to: Move) -> String { format!("{},{}", to.x, to.y) }
///
///     #[on_json_error] // `{"type":"move","x":"left"}` lands here
///     fn invalid(&mut self, error: JsonError) -> String {
///         format!("cannot read your {:?}: {}", error.tag(), error.error())
///     }
/// }
/// ```
///
/// An `#[on_json_error]` that nothing can reach (no tagged `#[on_json]` with a payload, and no
/// untagged one without an `#[on_text]` fallback) is a compile error.
///
/// A binary message goes to the `#[on_binary(prefix = ..)]` with the longest matching prefix
/// (one `match` on slice patterns), else to the `#[on_binary]` fallback, else is ignored.
/// Info messages go to their method through a `match` on the generated enum. Dispatch itself
/// allocates nothing for literals, binary messages and infos.
///
/// A `#[cfg(..)]` on a method also applies to its dispatch arm.
///
/// # Compile errors
///
/// Mistakes are compile errors at the token that is wrong, all reported in one build, and say
/// what to write instead:
///
/// ```compile_fail
/// # use websock::{Context, websock_handler};
/// # struct Chat;
/// #[websock_handler]
/// impl Chat {
///     fn init(_: &mut Context<Self>) -> Self { Chat }
///
///     #[on_text("ping")]
///     fn first(&mut self) -> &'static str { "pong" }
///
///     #[on_text("ping")] // error: duplicate `#[on_text("ping")]`: `first` (line 7)
///     fn second(&mut self) {} //  already handles this text and wins; remove one
/// }
/// ```
///
/// Types are checked by rustc, with the error on your type and a message that says the fix:
/// a return type that is not a reply (`` `i32` is not a reply a websock callback can return ``),
/// a capture type without `FromStr` (`` captures are parsed with `FromStr`: implement it for
/// `RoomId`, or take a `String` ``, through [`FromCapture`]), an `#[on_json]` type without
/// `Deserialize` (through [`FromJson`]), an info type used by two methods (conflicting impls of
/// [`OnInfo<Alert>`][OnInfo] for the handler), a field that is not `Send` (reported once, at
/// the impl: the generated impl and each method of yours carry `where Chat: Send`, so the
/// bound is not reported again by every callback and every `&mut Context<Self>`).
/// `ctx: &Context<Self>` gets "write `ctx: &mut Context<Self>`", and a `#[channel]` attribute
/// (`#[on_leave]`, `#[on_event]`) its `#[websock_handler]` counterpart.
///
/// # Not supported
///
/// - Generic impl blocks (`impl<T> Chat<T>`) and generic methods: the generated dispatch and
///   info enum are for one concrete type. Implement [`Handler`] by hand for those.
/// - The attribute on a trait impl, a struct or a function: it goes on an inherent impl.
/// - Arguments to `#[websock_handler]` itself.
///
/// [`Handler`]: https://docs.rs/websock/latest/websock/trait.Handler.html
/// [`IntoReply`]: https://docs.rs/websock/latest/websock/trait.IntoReply.html
/// [`FromCapture`]: https://docs.rs/websock/latest/websock/trait.FromCapture.html
/// [`FromJson`]: https://docs.rs/websock/latest/websock/trait.FromJson.html
/// [OnInfo]: https://docs.rs/websock/latest/websock/trait.OnInfo.html
/// [`JsonError`]: https://docs.rs/websock/latest/websock/struct.JsonError.html
/// [`JsonError::to_reply`]: https://docs.rs/websock/latest/websock/struct.JsonError.html#method.to_reply
/// [`RateLimiter::global`]: https://docs.rs/websock/latest/websock/struct.RateLimiter.html#method.global
#[proc_macro_attribute]
pub fn websock_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}

/// Turns an `impl` block into a Phoenix channel (`websock::channels::Channel`): the topic
/// pattern in the attribute, one method per event.
///
/// ```
/// use websock::channel;
/// use websock::channels::{ChannelReply, ChannelSocket, JoinError, Payload};
///
/// struct Room {
///     id: u32,
/// }
///
/// #[channel("room:{id}")]
/// impl Room {
///     #[on_join]
///     fn join(id: u32, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
///         if id == 0 {
///             return Err(JoinError::reason("unauthorized"));
///         }
///         socket.push("welcome", Payload::empty()); // sent after the join reply
///         Ok(Room { id })
///     }
///
///     #[on_event("new_msg")] // the payload: any `serde::Deserialize` type
///     fn new_msg(&mut self, msg: Payload, socket: &mut ChannelSocket) -> ChannelReply {
///         socket.broadcast("new_msg", msg);
///         ChannelReply::ok(Payload::empty())
///     }
/// }
/// ```
///
/// # The attributes
///
/// | attribute | called for | parameters besides `socket: &mut ChannelSocket` |
/// | --- | --- | --- |
/// | `#[on_join]` (exactly one, no `self`) | a `phx_join`; returns `Self`, `Result<Self, JoinError>` or `Result<(Self, R), JoinError>` (`R`: the join response) | one per capture, named after it (any `FromStr` type; a value that does not parse answers `unmatched topic`), `topic: Topic`, and one value: the join params, deserialized |
/// | `#[on_event("new_msg")]` | the client's `new_msg` | one value: the payload, deserialized (`Binary` or `Payload` for `ArrayBuffer` pushes); one that does not deserialize gets the error reply `{"reason": "invalid payload: .."}` |
/// | `#[on_info]` | a message of the parameter's type, sent with `socket.handle().send(..)`, `socket.send_after(..)`, or published to the topic (`Room::topic("42").publish(&pubsub, info)`, `pubsub.publish_info("room:42", info)`) | exactly one: the info |
/// | `#[on_out("event")]` | a broadcast of `event`, before it is pushed to this client (Phoenix's `intercept` + `handle_out`) | one value: the payload |
/// | `#[on_leave]` | the channel ending (leave, stop, duplicate join, socket closed) | `reason: LeaveReason` |
///
/// Methods may be `async`. `#[on_event]`, `#[on_info]` and `#[on_out]` take `&mut self` and
/// return a `ChannelReply`, `()` (no reply), `Json<T: Serialize>`, a `serde_json::Value` or
/// `Payload` (an ok reply), or a `Result` of those (`Ok`: an ok reply, `Err`: an error reply,
/// `{"status":"error","response": ..}`). An event no method handles gets the error reply
/// `{"reason":"unhandled event"}`.
///
/// # App state
///
/// A parameter `app: State<UserSocket>` (any method) is the value the route was made with,
/// `socket(UserSocket { .. })`, the one `Socket::connect` gets as `&self`. Every method of a
/// channel reads the same state type, and a route of another socket type does not compile
/// with it (`socket(Other).channel::<Room>()` is an error naming both).
///
/// # Rate limits
///
/// `#[rate_limit(30, per = Duration::from_secs(60), key = self.user_id)]` beside
/// `#[on_event]` counts the event per key in a fixed window that starts with the key's first
/// hit, in the route's `RateLimiter` (`SocketRoute::rate_limiter`: in memory, or Redis to
/// share it between nodes). `limit` (a `u64`), `per` (a `Duration`) and `key` (anything
/// `Display`; default: the socket's id, else the connection) are expressions evaluated for
/// each event, with `self` and `socket` in scope. The check runs before the payload is
/// decoded, and every attempt counts; over the limit the method does not run and the client
/// gets the error reply `{"reason":"rate_limited"}`, or `reply = <expr>` (any reply a method
/// may return).
///
/// # Typed infos
///
/// Infos are typed: the macro generates the channel's `Info` type from its `#[on_info]`
/// methods and implements `HandlesInfo<T>` for each type `T`. `socket: &mut ChannelSocket` in
/// the impl becomes `ChannelSocket<'_, Self>`, so `socket.handle()` is a `ChannelHandle<Self>`
/// and `socket.send_after(..)` takes only those types; so does the typed topic
/// `Room::topic(fill)` (the pattern with its wildcard or first capture filled; not generated
/// when the impl has a method named `topic`). Sending another type is a compile error that
/// names it: "`Room` has no `#[on_info]` for `Foo`". A value published to a topic given as a
/// string is checked on arrival: a channel that has no `#[on_info]` for its type counts it in
/// `ChannelMetrics::unhandled_infos` and logs it. A value published on another node (Redis)
/// reaches the methods whose type is `serde::Deserialize`.
///
/// # Compile errors
///
/// ```compile_fail
/// # use websock::{channel, channels::{ChannelSocket, JoinError}};
/// # struct Room;
/// #[channel("room:{id}")]
/// impl Room {
///     #[on_join] // error: the capture `{id}` of "room:{id}" has no parameter in `join`
///     fn join(socket: &mut ChannelSocket) -> Result<Self, JoinError> { Ok(Room) }
/// }
/// ```
///
/// Capture and payload types are checked through `websock::FromCapture` and
/// `websock::channels::FromPayload` (`` payloads are deserialized: add `#[derive(Deserialize)]`
/// to `NewMsg` ``), a `Result`'s error through `websock::channels::ErrorReply` (`Result<(),
/// &str>` says to return `Err(Payload::reason(..))`); `socket: &ChannelSocket` gets "write
/// `socket: &mut ChannelSocket`", and `#[on_terminate]` "write `#[on_leave]`".
///
/// Not supported: generic impl blocks and methods, the attribute on a trait impl.
#[proc_macro_attribute]
pub fn channel(attr: TokenStream, item: TokenStream) -> TokenStream {
    channel::expand(attr.into(), item.into()).into()
}
