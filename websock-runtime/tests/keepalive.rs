//! Server pings keep a client that only receives: its pongs (tokio-tungstenite answers pings
//! whenever it reads) reset the idle timeout, while a client that reads nothing is still closed
//! with 1001. The default timings (a ping every 30 s, idle after 60 s) are too long for a test;
//! these are the same rule at 2 s / 400 ms.

mod common;

use common::*;
use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use websock_runtime::Config;

const IDLE: Duration = Duration::from_secs(2);

fn config() -> Config {
    Config::default()
        .idle_timeout(IDLE)
        .ping_interval(Duration::from_millis(400))
}

#[tokio::test]
async fn a_client_that_only_reads_stays_connected_past_twice_the_idle_timeout() {
    let mut server = TestServer::start(config()).await;
    let (mut client, _handle) = server.open("/probe").await;

    // Never send a data frame: only read (which answers each ping with a pong).
    let until = tokio::time::Instant::now() + IDLE * 2 + Duration::from_secs(1);
    let mut pings = 0;
    while let Ok(message) = tokio::time::timeout_at(until, client.next()).await {
        match message {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            other => panic!("expected only pings while idle, got {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings");

    // Still open, and still served.
    send_text(&mut client, "echo:alive").await;
    assert_eq!(recv_text(&mut client).await, "alive");
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_closed_after_the_idle_timeout() {
    let mut server = TestServer::start(config()).await;
    // A raw client that never reads, so never answers a ping.
    let mut stream = raw_upgrade(server.addr, "/probe").await;
    assert_eq!(server.terminated().await, "timeout idle");
    // Its unread bytes: pings, then the 1001 close.
    assert_eq!(raw_close_code(&mut stream).await, 1001);
}
