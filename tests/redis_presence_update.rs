//! `ChannelSocket::update_with` (Phoenix's `Presence.update/4` with a function) over real
//! sockets: a status change keeps the meta's other fields in the `presence_diff` everyone in
//! the topic gets, on one node and across two nodes sharing a private `redis-server`.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;
mod support;

use redis_server::{RedisServer, eventually};
use serde::Deserialize;
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use support::{Client, connect_v2, join_lobby, next_event, send, serve};
use websock::{
    Router, channel,
    channels::{AnonymousSocket, ChannelSocket, JoinError, PubSub, SocketRoute, socket},
};
use websock_redis::{RedisAdapter, RedisOptions};

struct Lobby {
    user: String,
}

#[derive(Deserialize)]
struct JoinParams {
    user_id: String,
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

#[channel("room:lobby")]
impl Lobby {
    #[on_join]
    fn join(params: JoinParams, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let meta = json!({"joined_at": 1700, "status": "online"});
        socket
            .track(&params.user_id, meta)
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok(Lobby {
            user: params.user_id,
        })
    }

    #[on_event("update_status")]
    fn update_status(&mut self, status: Status, socket: &mut ChannelSocket) -> Value {
        let updated = socket.update_with(&self.user, |mut meta| {
            meta["status"] = json!(status.status);
            meta
        });
        json!({"updated": updated})
    }
}

fn route() -> SocketRoute<AnonymousSocket> {
    socket(AnonymousSocket).channel::<Lobby>()
}

async fn join(addr: SocketAddr, user: &str) -> Client {
    let mut client = connect_v2(addr).await;
    join_lobby(&mut client, user).await;
    client
}

async fn set_status(client: &mut Client, status: &str) {
    let payload = json!({ "status": status });
    send(
        client,
        json!(["1", "5", "room:lobby", "update_status", payload]),
    )
    .await;
    let reply = next_event(client, "phx_reply").await;
    assert_eq!(reply[4]["response"], json!({"updated": true}), "{reply}");
}

/// The next `presence_diff` that `client` gets in which `user` joins with `status`.
async fn diff_with_status(client: &mut Client, user: &str, status: &str) -> Value {
    loop {
        let diff = next_event(client, "presence_diff").await;
        if diff[4]["joins"][user]["metas"][0]["status"] == status {
            return diff[4].clone();
        }
    }
}

fn assert_kept(diff: &Value) {
    let joined = &diff["joins"]["alice"]["metas"][0];
    assert_eq!(joined["joined_at"], 1700, "{diff}");
    let left = &diff["leaves"]["alice"]["metas"][0];
    assert_eq!(left["status"], "online", "{diff}");
    assert_eq!(joined["phx_ref_prev"], left["phx_ref"], "{diff}");
}

#[tokio::test]
async fn a_status_change_keeps_the_other_fields() {
    let route = route();
    let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
    let mut bob = join(addr, "bob").await;
    let mut alice = join(addr, "alice").await;

    set_status(&mut alice, "away").await;
    assert_kept(&diff_with_status(&mut bob, "alice", "away").await);
    let listed = &route.presence().list("room:lobby")["alice"]["metas"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["joined_at"], 1700);
    assert_eq!(listed[0]["status"], "away");
}

#[tokio::test]
async fn a_status_change_reaches_the_other_node_with_the_other_fields() {
    let server = RedisServer::start();
    let options = || {
        RedisOptions::new()
            .max_backoff(Duration::from_millis(200))
            .timeout(Duration::from_secs(2))
    };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let adapter = RedisAdapter::connect_with(&server.url(), options())
            .await
            .unwrap();
        let route = route().with_pubsub(PubSub::new(adapter));
        let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
        nodes.push((route, addr));
    }
    let mut bob = join(nodes[1].1, "bob").await;
    let mut alice = join(nodes[0].1, "alice").await;
    // Bob's node knows Alice before she changes her status.
    diff_with_status(&mut bob, "alice", "online").await;

    set_status(&mut alice, "away").await;
    assert_kept(&diff_with_status(&mut bob, "alice", "away").await);
    let other = &nodes[1].0;
    eventually("the other node lists the new meta", async || {
        let metas = &other.presence().list("room:lobby")["alice"]["metas"];
        metas.as_array().map(Vec::len) == Some(1)
            && metas[0]["status"] == "away"
            && metas[0]["joined_at"] == 1700
    })
    .await;
}
