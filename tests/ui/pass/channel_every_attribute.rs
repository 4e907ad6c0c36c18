//! Every `#[channel]` attribute, sync and async, with the prelude shadowed: the generated code
//! names everything by absolute path.
#![deny(warnings, unused_qualifications)]
#![allow(dead_code, non_camel_case_types)]

use serde::Deserialize;
use websock::channel;
use websock::channels::{
    Binary, ChannelReply, ChannelSocket, JoinError, LeaveReason, Payload, Topic,
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

struct Room {
    id: u32,
}

#[derive(Deserialize)]
struct JoinParams {
    user: std::string::String,
}

#[derive(Deserialize)]
struct NewMsg {
    body: std::string::String,
}

struct Tick;
struct Other(u8);

#[channel("room:{id}")]
impl Room {
    #[on_join]
    async fn join(
        id: u32,
        topic: Topic,
        params: JoinParams,
        socket: &mut ChannelSocket,
    ) -> std::result::Result<(Self, serde_json::Value), JoinError> {
        let _ = (topic, params.user, socket.topic());
        std::result::Result::Ok((Room { id }, serde_json::json!({"id": id})))
    }

    #[on_event("new_msg")]
    fn new_msg(&mut self, msg: NewMsg, socket: &mut ChannelSocket) -> ChannelReply {
        socket.broadcast("new_msg", serde_json::json!({"body": msg.body}));
        let _ = socket.handle().send(Tick);
        let _ = socket.send_after(std::time::Duration::ZERO, Other(1));
        ChannelReply::ok(Payload::empty())
    }

    #[on_event("upload")]
    async fn upload(&mut self, data: Binary) -> ChannelReply {
        ChannelReply::ok(data)
    }

    #[on_event("ping")]
    fn ping(&mut self) -> serde_json::Value {
        serde_json::json!({"id": self.id})
    }

    #[on_event("maybe")]
    fn maybe(
        &mut self,
        value: serde_json::Value,
    ) -> std::result::Result<serde_json::Value, serde_json::Value> {
        std::result::Result::Ok(value)
    }

    #[on_event("quiet")]
    fn quiet(&mut self) {}

    #[on_info]
    fn tick(&mut self, _tick: Tick, socket: &mut ChannelSocket) {
        socket.push("tick", Payload::empty());
    }

    #[on_info]
    async fn other(&mut self, other: Other) -> ChannelReply {
        let _ = other.0;
        ChannelReply::stop()
    }

    #[on_out("new_msg")]
    fn out(&mut self, payload: Payload, socket: &mut ChannelSocket) {
        socket.push("new_msg", payload);
    }

    #[on_leave]
    fn leave(&mut self, reason: LeaveReason) {
        let _ = reason;
    }

    fn helper(&self) -> u32 {
        self.id
    }
}

#[channel("lobby")]
impl Lobby {
    #[on_join]
    fn join() -> Self {
        Lobby
    }
}

struct Lobby;

/// The typed topic `#[channel]` generates.
fn typed_topic() -> websock::channels::ChannelTopic<Room> {
    Room::topic(1u32)
}

fn main() {
    let _route = websock::channels::socket(websock::channels::AnonymousSocket)
        .channel::<Room>()
        .channel::<Lobby>();
}
