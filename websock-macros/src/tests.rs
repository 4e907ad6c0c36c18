//! Snapshot tests of the expansion: the generated code, pretty-printed, must stay readable and
//! only change on purpose. Run with `UPDATE_SNAPSHOTS=1` to rewrite the files in
//! `tests/snapshots/`, then review the diff.

use crate::expand::expand;
use proc_macro2::TokenStream;
use quote::quote;
use std::path::PathBuf;

fn snapshot(name: &str, attr: TokenStream, item: TokenStream) {
    let expanded = expand(attr, item);
    let file: syn::File = syn::parse2(expanded.clone())
        .unwrap_or_else(|error| panic!("the expansion does not parse: {error}\n{expanded}"));
    let actual = prettyplease::unparse(&file);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "the expansion of `{name}` changed; rerun with UPDATE_SNAPSHOTS=1 and review \
         tests/snapshots/{name}.rs\n--- actual ---\n{actual}"
    );
}

#[test]
fn connection_timer() {
    snapshot(
        "connection_timer",
        quote!(),
        quote! {
            impl ConnectionTimer {
                fn init(params: PathParams, ctx: &mut Context<Self>) -> Self {
                    ctx.send_after(ALERT, Alert);
                    ConnectionTimer::new(params)
                }

                #[on_text("request_timer")]
                fn request_timer(&mut self) -> String {
                    format!("Connected to {} for {}s.", self.path, self.elapsed())
                }

                #[on_info]
                fn alert(&mut self, _: Alert, ctx: &mut Context<Self>) -> String {
                    ctx.send_after(ALERT, Alert);
                    format!("Alert for {} after {}s.", self.path, self.elapsed())
                }
            }
        },
    );
}

/// Several extractors, patterns among them, and `ctx` in the middle: `Init` is their tuple,
/// taken apart again for the call.
#[test]
fn init_with_extractors() {
    snapshot(
        "init_with_extractors",
        quote!(),
        quote! {
            impl Room {
                fn init(Path(id): Path<u32>, ctx: &mut Context<Self>, State(app): State<App>) -> Self {
                    Room::new(id, app)
                }
            }
        },
    );
}

#[test]
fn every_attribute() {
    snapshot(
        "every_attribute",
        quote!(),
        quote! {
            impl Chat {
                #[init]
                async fn open(user: RequestInfo, ctx: &mut Context<Self>) -> Result<Self, Close> {
                    Chat::new(user)
                }

                #[on_text("ping")]
                fn ping(&mut self) -> &'static str { "pong" }

                #[cfg(feature = "admin")]
                #[on_text("shutdown")]
                fn shutdown(&mut self) -> Reply { Reply::stop() }

                #[on_text("join {room}")]
                async fn join(&mut self, room: RoomId, ctx: &mut Context<Self>) -> Reply { todo!() }

                #[on_text("move {from}->{to}!")]
                fn mv(&mut self, to: &str, from: u32) {}

                #[on_json(type = "new_message")]
                fn new_message(&mut self, message: NewMessage) -> Reply { todo!() }

                #[on_json(type = "leave")]
                fn leave(&mut self) -> Reply { Reply::stop() }

                #[on_json]
                fn command(&mut self, command: Command) {}

                #[on_json_error]
                async fn invalid(&mut self, error: JsonError, ctx: &mut Context<Self>) -> String {
                    error.to_string()
                }

                #[on_text]
                fn other(&mut self, text: &str) {}

                #[on_binary(prefix = b"\x01")]
                fn one(&mut self, data: Bytes) {}

                #[on_binary(prefix = b"\x01\x02")]
                fn one_two(&mut self, data: &[u8]) {}

                #[on_binary]
                fn binary(&mut self, data: Vec<u8>) {}

                #[on_info]
                fn alert(&mut self, alert: Alert) {}

                #[on_info]
                async fn broadcast(&mut self, ctx: &mut Context<Self>, message: Broadcast) {}

                #[on_ping]
                fn on_ping(&mut self, payload: &[u8]) {}

                #[on_pong]
                fn on_pong(&mut self) {}

                #[on_close]
                fn closed(&mut self, close: Option<PeerClose>) {}

                #[on_terminate]
                async fn terminated(&mut self, reason: TerminateReason, ctx: &mut Context<Self>) {}

                fn helper(&self) -> usize { 1 }
            }
        },
    );
}

/// Untagged `#[on_json]` without a text fallback: a miss keeps its serde error for the
/// `#[on_json_error]` methods (here two under exclusive `#[cfg]`s, then the default reply).
#[test]
fn json_error_untagged() {
    snapshot(
        "json_error_untagged",
        quote!(),
        quote! {
            impl Cursors {
                fn init(ctx: &mut Context<Self>) -> Self { Cursors }

                #[on_json]
                fn moved(&mut self, to: Move) {}

                #[cfg(feature = "strict")]
                #[on_json]
                fn clicked(&mut self, click: Click) {}

                #[cfg(feature = "strict")]
                #[on_json_error]
                fn strict(&mut self, error: serde_json::Error) -> Reply { Reply::stop() }

                #[cfg(not(feature = "strict"))]
                #[on_json_error]
                fn lenient(&mut self, error: JsonError) {}
            }
        },
    );
}

#[test]
fn errors_keep_the_impl_and_stub_the_handler() {
    snapshot(
        "errors",
        quote!(),
        quote! {
            impl Broken {
                fn init() -> Self { Broken }

                #[on_text("a")]
                fn first(&mut self) {}

                #[on_text("a")]
                fn second(&mut self) {}

                #[on_txt]
                fn typo(&self) {}

                #[on_info]
                fn alert(&mut self, _: Alert) {}
            }
        },
    );
}

#[test]
fn not_an_impl() {
    let out = expand(
        quote!(),
        quote!(
            struct S;
        ),
    )
    .to_string();
    assert!(out.contains("struct S"), "{out}");
    assert!(out.contains("goes on an inherent impl block"), "{out}");
}

#[test]
fn every_error_is_reported() {
    let out = expand(
        quote!(verbose),
        quote! {
            impl X {
                #[on_text("a")] fn a(&self) {}
                #[on_text("b {c}")] fn b(&mut self, d: u8) {}
                #[on_info] fn i(&mut self) {}
            }
        },
    )
    .to_string();
    for message in [
        "takes no arguments",
        "take `&mut self`, not `&self`",
        "parameter `d` has no capture",
        "capture `{c}` has no parameter",
        "needs one parameter",
        "needs an `init` method",
    ] {
        assert!(out.contains(message), "missing {message:?} in {out}");
    }
}
