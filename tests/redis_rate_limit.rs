//! `#[rate_limit]` counted in Redis: two servers (nodes) on one private `redis-server` share
//! one user's limit, so the 31st message of a minute is refused whichever node it reaches;
//! the key expires with its window; a Redis outage lets messages through, counted.
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it); fails, never skips, without it.

mod redis_server;
mod support;

use redis_server::RedisServer;
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use websock::channels::{
    Assigns, ChannelSocket, ConnectInfo, JoinError, Params, Refused, Socket, socket,
};
use websock::{RateLimitStore, RateLimiter, Router, channel};
use websock_redis::{RedisRateLimitStore, redis};

use support::{Client, connect, next_event, send, serve};

struct UserSocket;

struct UserId(String);

impl Socket for UserSocket {
    async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        let user = params.get("user").ok_or(Refused::new("no user"))?;
        Ok(Assigns::new().with(UserId(user.to_owned())))
    }
}

struct Room {
    user: String,
}

#[channel("room:*")]
impl Room {
    #[on_join]
    fn join(socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let user = socket
            .assigns()
            .get::<UserId>()
            .ok_or(JoinError::reason("unauthorized"))?;
        Ok(Room {
            user: user.0.clone(),
        })
    }

    #[on_event("new_message")]
    #[rate_limit(30, per = Duration::from_secs(60), key = self.user)]
    fn new_message(&mut self) -> Value {
        json!({})
    }
}

/// A node: its own server and its own limiter, counting in the Redis at `url`.
async fn node(url: &str) -> (SocketAddr, RateLimiter) {
    let store = RedisRateLimitStore::new(url)
        .unwrap()
        .timeout(Duration::from_secs(2));
    let limiter = RateLimiter::new(store);
    let route = socket(UserSocket)
        .rate_limiter(limiter.clone())
        .channel::<Room>();
    (
        serve(Router::new().route("/socket/websocket", route)).await,
        limiter,
    )
}

async fn joined(addr: SocketAddr, user: &str, topic: &str) -> Client {
    let mut client = connect(addr, &format!("?vsn=2.0.0&user={user}")).await;
    send(&mut client, json!(["1", "1", topic, "phx_join", {}])).await;
    assert_eq!(
        next_event(&mut client, "phx_reply").await[4]["status"],
        "ok"
    );
    client
}

async fn status(client: &mut Client, topic: &str) -> Value {
    send(client, json!(["1", "2", topic, "new_message", {}])).await;
    next_event(client, "phx_reply").await[4].clone()
}

#[tokio::test]
async fn two_nodes_share_one_users_limit() {
    let server = RedisServer::start();
    let (one, limiter_one) = node(&server.url()).await;
    let (two, limiter_two) = node(&server.url()).await;
    let mut on_one = joined(one, "alice", "room:a").await;
    let mut on_two = joined(two, "alice", "room:b").await;

    for _ in 0..15 {
        assert_eq!(status(&mut on_one, "room:a").await["status"], "ok");
        assert_eq!(status(&mut on_two, "room:b").await["status"], "ok");
    }
    let refused = json!({"status": "error", "response": {"reason": "rate_limited"}});
    assert_eq!(status(&mut on_one, "room:a").await, refused);
    assert_eq!(status(&mut on_two, "room:b").await, refused);
    assert_eq!((limiter_one.refused(), limiter_two.refused()), (1, 1));
    let mut bob = joined(two, "bob", "room:b").await;
    assert_eq!(status(&mut bob, "room:b").await["status"], "ok");

    // One key per user and event, expiring with its window.
    let mut conn = server.connection().await;
    let count: u64 = redis::cmd("GET")
        .arg("websock:rate:new_message:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, 32);
    let ttl: i64 = redis::cmd("PTTL")
        .arg("websock:rate:new_message:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn a_window_ends_in_redis_and_an_outage_lets_hits_through() {
    let mut server = RedisServer::start();
    let store = RedisRateLimitStore::new(&server.url())
        .unwrap()
        .prefix("test:")
        .timeout(Duration::from_secs(2));
    let window = Duration::from_millis(300);
    assert_eq!(store.hit("k", window).await, Ok(1));
    assert_eq!(store.hit("k", window).await, Ok(2));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.hit("k", window).await, Ok(1));

    let limiter = RateLimiter::new(store);
    server.stop();
    assert!(limiter.check("e", "k", 0, window).await.is_ok());
    assert_eq!(limiter.store_errors(), 1);
    // Back: it connects again on the next hit.
    server.restart();
    assert!(limiter.check("e", "k", 0, window).await.is_err());
}
