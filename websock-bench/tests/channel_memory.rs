//! Memory per joined idle channel (issue 12): the live heap a socket gains per channel it
//! joins, itemised by allocation size, over 10,000 channels on one socket; and a socket with
//! 100 joined channels. A benchmark that prints figures (BENCHMARKS.md quotes them), not a
//! timed test: run with `cargo test --release -p websock-bench --test channel_memory --
//! --nocapture`.
//!
//! Only this test's thread is counted; the socket, its channels' tasks and the test all run
//! on it (a current-thread runtime). The socket is the in-process test socket
//! (`websock::channels::testing`): a channel costs the same there as behind a WebSocket, since
//! both drive the same socket core and spawn the same channel task.

#[path = "support/counting.rs"]
mod counting;

use counting::{COUNTED, Snapshot};
use serde_json::json;
use websock::channel;
use websock::channels::{AnonymousSocket, ChannelReply, socket, testing::TestSocket};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

/// An idle channel with no state of its own.
struct Idle;

#[channel("idle:{id}")]
impl Idle {
    #[on_join]
    fn join(id: u32) -> Self {
        let _ = id;
        Idle
    }

    #[on_event("ping")]
    fn ping(&mut self) -> ChannelReply {
        ChannelReply::ok(json!({}))
    }
}

/// Prints the live heap grown since `before`, per `per` units, by allocation size; returns
/// the bytes per unit.
fn report(before: &Snapshot, per: usize, what: &str) -> f64 {
    let (total, large, items) = Snapshot::now().grown_since(before);
    let bytes = total as f64 / per as f64;
    let large = large as f64 / per as f64;
    println!(
        "live heap per {what}: {bytes:.0} B ({per} of them; {large:.0} B of it in allocations of 64 KiB or more)"
    );
    counting::print_table(items, per, what);
    bytes
}

async fn join_all(client: &mut TestSocket, from: u32, to: u32) {
    for id in from..to {
        client
            .join(&format!("idle:{id}"), json!({}))
            .await
            .expect("joined");
    }
}

#[test]
fn idle_channel_heap() {
    const CHANNELS: u32 = 10_000;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        COUNTED.with(|c| c.set(true));
        let route = socket(AnonymousSocket)
            .channel::<Idle>()
            .max_channels(CHANNELS as usize + 200)
            .rate_limit(None);
        // Warm-up: lazy statics, the socket's first frames, the maps' first growth.
        let mut warm = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        join_all(&mut warm, 0, 100).await;

        let mut first = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        join_all(&mut first, 0, 100).await;
        let before = Snapshot::now();
        let mut hundred = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        hundred.heartbeat().await;
        report(&before, 1, "test socket");
        join_all(&mut hundred, 0, 100).await;
        let socket_100 = report(&before, 1, "socket with 100 joined channels");

        let mut client = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        join_all(&mut client, 0, 100).await;
        let before = Snapshot::now();
        join_all(&mut client, 100, 100 + CHANNELS).await;
        let per_channel = report(&before, CHANNELS as usize, "joined idle channel");
        println!(
            "{:.0} B per channel, {:.0} B for a socket with 100 channels",
            per_channel, socket_100
        );
        COUNTED.with(|c| c.set(false));
        // A regression guard far above the 2 KiB goal (the figure is in BENCHMARKS.md).
        assert!(per_channel < 8_192.0, "{per_channel} B per channel");
    });
}
