//! The generated code names everything by absolute path: shadowing the prelude at module level
//! changes nothing, and no qualification is reported as unused.
#![deny(warnings, unused_qualifications)]
#![allow(dead_code, non_camel_case_types)]

use websock::{Context, Handler, Reply, websock_handler};

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct String;
struct Vec;
struct Box;
struct Into;
struct From;
struct Infallible;
struct core;
struct websock_private;

struct Shadowed {
    count: u32,
}

struct Tick;

#[websock_handler]
impl Shadowed {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Shadowed { count: 0 }
    }

    #[on_text("count")]
    fn count(&mut self) -> Reply {
        self.count += 1;
        Reply::text(self.count.to_string())
    }

    #[on_text("join {room}")]
    async fn join(&mut self, room: u32) -> ::std::string::String {
        ::std::format!("joined {room}")
    }

    #[on_text]
    fn other(&mut self, text: &str) -> ::core::option::Option<::std::string::String> {
        ::core::option::Option::Some(text.to_owned())
    }

    #[on_binary(prefix = b"x")]
    fn x(&mut self, data: &[u8]) -> ::core::result::Result<::std::vec::Vec<u8>, &'static str> {
        ::core::result::Result::Ok(data.to_vec())
    }

    #[on_info]
    fn tick(&mut self, _: Tick, ctx: &mut Context<Self>) {
        let _ = ctx.handle().try_send(Tick);
    }

    #[on_close]
    fn closed(&mut self) {}

    #[on_terminate]
    fn terminated(&mut self) {}
}

fn assert_handler<H: Handler<Init = ()>>() {}

fn main() {
    assert_handler::<Shadowed>();
}
