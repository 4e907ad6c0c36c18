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

use serde_json::json;
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    sync::atomic::{AtomicI64, Ordering},
};
use websock::channel;
use websock::channels::{AnonymousSocket, ChannelReply, socket, testing::TestSocket};

/// The system allocator, counting what threads that opted in hold.
struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted. Const-initialised and without a
    /// destructor, so reading it never allocates.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Live allocations by exact size (the last slot: every size from `LARGE` up).
const LARGE: usize = 1 << 16;
static LIVE_BY_SIZE: [AtomicI64; LARGE + 1] = [const { AtomicI64::new(0) }; LARGE + 1];
static LIVE_LARGE_BYTES: AtomicI64 = AtomicI64::new(0);

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

fn live(size: usize, delta: i64) {
    LIVE_BY_SIZE[size.min(LARGE)].fetch_add(delta, Ordering::Relaxed);
    if size >= LARGE {
        LIVE_LARGE_BYTES.fetch_add(delta * size as i64, Ordering::Relaxed);
    }
}

// SAFETY (for the `unsafe` below): every call is forwarded unchanged to `System`; the counters
// are atomics and the thread-local flag never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            live(layout.size(), 1);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counted() {
            live(layout.size(), 1);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            live(layout.size(), -1);
            live(new_size, 1);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            live(layout.size(), -1);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

struct Snapshot {
    by_size: Vec<i64>,
    large: i64,
}

/// Freed uncounted, as it was made.
impl Drop for Snapshot {
    fn drop(&mut self) {
        let counting = COUNTED.with(|c| c.replace(false));
        drop(std::mem::take(&mut self.by_size));
        COUNTED.with(|c| c.set(counting));
    }
}

/// The live counts now. Not counted itself: its own 512 KiB table would be.
fn snapshot() -> Snapshot {
    let counting = COUNTED.with(|c| c.replace(false));
    let snapshot = Snapshot {
        by_size: LIVE_BY_SIZE
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect(),
        large: LIVE_LARGE_BYTES.load(Ordering::Relaxed),
    };
    COUNTED.with(|c| c.set(counting));
    snapshot
}

/// Prints the live heap grown since `before`, per `per` units, by allocation size; returns
/// the bytes per unit.
fn report(before: &Snapshot, per: usize, what: &str) -> f64 {
    let after = snapshot();
    let mut total = after.large - before.large;
    let mut items = Vec::new();
    for size in 0..LARGE {
        let grown = after.by_size[size] - before.by_size[size];
        if grown != 0 {
            total += grown * size as i64;
            items.push((size, grown));
        }
    }
    let bytes = total as f64 / per as f64;
    let large = (after.large - before.large) as f64 / per as f64;
    println!(
        "live heap per {what}: {bytes:.0} B ({per} of them; {large:.0} B of it in allocations of 64 KiB or more)"
    );
    println!("| allocation size | count per {what} | bytes per {what} |");
    println!("| ---: | ---: | ---: |");
    items.sort_by_key(|&(size, count)| std::cmp::Reverse(size as i64 * count));
    for (size, count) in items {
        let each = count as f64 / per as f64;
        if each.abs() >= 0.05 {
            println!("| {size} | {each:.2} | {:.0} |", each * size as f64);
        }
    }
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
        let before = snapshot();
        let mut hundred = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        hundred.heartbeat().await;
        report(&before, 1, "test socket");
        join_all(&mut hundred, 0, 100).await;
        let socket_100 = report(&before, 1, "socket with 100 joined channels");

        let mut client = TestSocket::connect(&route, [("x", "y")]).await.unwrap();
        join_all(&mut client, 0, 100).await;
        let before = snapshot();
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
