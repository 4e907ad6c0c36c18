//! What one idle WebSocket over an HTTP/2 stream (RFC 8441) holds on the server's heap, with
//! the counting allocator of `alloc_count.rs`: 200 streams over 2 connections, each after one
//! 20 B echo. The connections' own share (hyper's HTTP/2 state, the socket) is spread over
//! their streams. Run with `--nocapture` for the itemised table BENCHMARKS.md quotes.

#[path = "support/counting.rs"]
mod counting;
#[path = "../src/h2.rs"]
mod h2;

use counting::{Snapshot, counted_server};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig};
use websock::{Context, Router, Server, Utf8Bytes, websock_handler, websocket};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("timed out")
}

async fn echo_once(ws: &mut h2::H2Ws) {
    let message = tungstenite::Message::text("hello, twenty bytes!");
    within(ws.send(message.clone())).await.unwrap();
    assert_eq!(within(ws.next()).await.unwrap().unwrap(), message);
}

#[tokio::test]
async fn idle_http2_stream_heap() {
    const STREAMS: u64 = 200;
    const PER_CONNECTION: u64 = 100;
    let (addr, stop) = counted_server(|listener| async move {
        let router = Router::new().route("/echo", websocket::<Echo>());
        let _ = Server::new(router).serve(listener).await;
    });
    let config = WebSocketConfig::default();
    // A first connection warms up the server (lazy statics, the runtime's buffers).
    let mut first = within(h2::connect_many(addr, "/echo", 1, 1, config))
        .await
        .unwrap();
    echo_once(&mut first[0]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let before = Snapshot::now();
    let mut sockets = within(h2::connect_many(
        addr,
        "/echo",
        STREAMS,
        PER_CONNECTION,
        config,
    ))
    .await
    .unwrap();
    for ws in &mut sockets {
        echo_once(ws).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (total, _, items) = Snapshot::now().grown_since(&before);
    let per_stream = total as f64 / STREAMS as f64;
    println!(
        "live heap per idle HTTP/2 WebSocket stream: {per_stream:.0} B ({STREAMS} streams, \
         {PER_CONNECTION} per connection)"
    );
    counting::print_table(items, STREAMS as usize, "stream");
    drop(sockets);
    drop(first);
    drop(stop);
    // A regression guard, as alloc_count's idle_connection_heap: the figure is in BENCHMARKS.md.
    assert!(
        per_stream < 32_768.0,
        "an idle HTTP/2 WebSocket stream holds {per_stream:.0} B of heap"
    );
}

struct Echo;

#[websock_handler]
impl Echo {
    fn init(_ctx: &mut Context<Self>) -> Self {
        Echo
    }

    #[on_text]
    fn text(&mut self, text: Utf8Bytes) -> Utf8Bytes {
        text
    }
}
