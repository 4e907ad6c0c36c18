//! `#[on_json_error]` compiles warning-free: a hook taking `JsonError` and the context, one
//! taking `serde_json::Error`, hooks under exclusive `#[cfg]`s, untagged `#[on_json]` without
//! a text fallback (whose misses reach the hook), and a handler with no hook (the default
//! reply), all with the prelude's names shadowed.
#![deny(warnings, unused_qualifications)]
#![allow(dead_code)]

use serde::Deserialize;
use websock::{Context, JsonError, websock_handler};

#[allow(non_camel_case_types)]
type Result = ();
#[allow(non_camel_case_types)]
type Option = ();
#[allow(non_upper_case_globals)]
const Ok: () = ();
#[allow(non_upper_case_globals)]
const None: () = ();

#[derive(Deserialize)]
struct Move {
    x: i32,
}

#[derive(Deserialize)]
struct Click {
    button: u8,
}

struct Tagged;

#[websock_handler]
impl Tagged {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Tagged
    }

    #[on_json(type = "move")]
    fn moved(&mut self, to: Move) -> String {
        to.x.to_string()
    }

    #[on_json_error]
    async fn invalid(&mut self, error: JsonError, _ctx: &mut Context<Self>) -> String {
        error.to_string()
    }
}

struct Untagged;

#[websock_handler]
impl Untagged {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Untagged
    }

    #[on_json]
    fn moved(&mut self, to: Move) -> String {
        to.x.to_string()
    }

    #[cfg(any())]
    #[on_json]
    fn clicked(&mut self, click: Click) -> String {
        click.button.to_string()
    }

    #[cfg(any())]
    #[on_json_error]
    fn strict(&mut self, _error: serde_json::Error) -> websock::Reply {
        websock::Reply::stop()
    }

    #[cfg(not(any()))]
    #[on_json_error]
    fn lenient(&mut self, error: serde_json::Error) -> String {
        error.to_string()
    }
}

struct NoHook;

#[websock_handler]
impl NoHook {
    fn init(_ctx: &mut Context<Self>) -> Self {
        NoHook
    }

    #[on_json(kind = "click")]
    fn clicked(&mut self, click: Click) -> String {
        click.button.to_string()
    }

    #[on_json]
    fn moved(&mut self, to: Move) -> String {
        to.x.to_string()
    }
}

fn main() {}
