//! `State<S>` parameters and `#[rate_limit]` in every position they may take, with the prelude
//! shadowed and warnings denied: the generated code names everything by absolute path.
#![deny(warnings, unused_qualifications)]
#![allow(dead_code, non_camel_case_types)]

use std::time::Duration;
use websock::channel;
use websock::channels::{
    Assigns, ChannelReply, ChannelSocket, ConnectInfo, JoinError, LeaveReason, Params, Payload,
    Refused, Socket, State, socket,
};

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct String;
struct Vec;
struct Box;
struct core;

struct App {
    window: Duration,
}

impl Socket for App {
    async fn connect(&self, _: &Params, _: &ConnectInfo) -> std::result::Result<Assigns, Refused> {
        std::result::Result::Ok(Assigns::new())
    }
}

struct Room {
    user: u64,
}

struct Tick;

#[derive(serde::Deserialize)]
struct NewMsg {
    body: std::string::String,
}

#[channel("room:lobby")]
impl Room {
    #[on_join]
    async fn join(app: State<App>, socket: &mut ChannelSocket) -> std::result::Result<Self, JoinError> {
        let _ = (app.window, socket.topic());
        std::result::Result::Ok(Room { user: 1 })
    }

    #[on_event("new_msg")]
    #[rate_limit(30, per = Duration::from_secs(60), key = self.user)]
    fn new_msg(&mut self, msg: NewMsg) -> ChannelReply {
        let _ = msg.body;
        ChannelReply::ok(Payload::empty())
    }

    #[on_event("typing")]
    #[rate_limit(
        u64::from(self.user as u8) + 1,
        per = socket.rate_limiter().refused().max(1) as u32 * Duration::from_millis(10),
        key = socket.topic(),
        reply = ChannelReply::error(Payload::reason("slow down")),
    )]
    async fn typing(&mut self, app: State<App>, socket: &mut ChannelSocket) {
        let _ = (app.window, socket.topic());
    }

    #[on_event("anonymous")]
    #[rate_limit(1, per = Duration::from_secs(1))]
    fn anonymous(&mut self) {}

    #[on_info]
    fn tick(&mut self, _: Tick, app: State<App>) {
        let _ = app.window;
    }

    #[on_leave]
    fn leave(&mut self, _: LeaveReason, app: State<App>) {
        let _ = app.window;
    }
}

fn main() {
    let _ = socket(App { window: Duration::from_secs(1) }).channel::<Room>();
}
