//! A payload type of the user's own called `Context` (by value, no arguments) is a payload,
//! not a mistaken `&mut Context<Self>`, in a handler and in a channel.
#![deny(warnings)]

use serde::Deserialize;
use websock::channel;
use websock::channels::{ChannelReply, ChannelSocket};
use websock::websock_handler;

#[derive(Deserialize)]
struct Context {
    user: String,
}

struct Chat;

#[websock_handler]
impl Chat {
    fn init(_ctx: &mut websock::Context<Self>) -> Self {
        Chat
    }

    #[on_json]
    fn context(&mut self, context: Context) -> String {
        context.user
    }
}

struct Room;

#[channel("room:lobby")]
impl Room {
    #[on_join]
    fn join(_socket: &mut ChannelSocket) -> Self {
        Room
    }

    #[on_event("context")]
    fn context(&mut self, context: Context) -> ChannelReply {
        let _ = context.user;
        ChannelReply::none()
    }
}

fn main() {
    fn handler<H: websock::Handler>() {}
    fn channel<C: websock::channels::Channel>() {}
    handler::<Chat>();
    channel::<Room>();
}
