//! Memory per room member (issue 16): the live heap the server holds per WebSocket connection
//! joined to one room with presence, after a join storm has settled: every client connects and
//! joins `room:1` at once, tracks itself and gets `presence_state` and the merged
//! `presence_diff`s. Counted with the allocator of `alloc_count.rs` on the server's thread
//! only (the clients run elsewhere), itemised by allocation size. A benchmark that prints
//! figures, not a timed test: `ROOM_MEMBERS=2000 cargo test --release -p websock-bench --test
//! room_memory -- --nocapture` (500 members by default, so the debug suite stays quick).
//!
//! And the fan-out's delivery path: the server's allocations per broadcast per member, which
//! should be none (the frame is encoded once, for every member).

#[path = "support/counting.rs"]
mod counting;

use counting::{ALLOCATED_BYTES, ALLOCATIONS, SERIAL, Snapshot, counted_server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::{net::SocketAddr, time::Duration};
use tokio::{net::TcpStream, sync::oneshot};
use tokio_tungstenite::tungstenite::Message;
use websock::channel;
use websock::channels::{AnonymousSocket, ChannelSocket, JoinError, SocketRoute, socket};
use websock::{Router, Server};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

struct Room;

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(id: u32, params: Value, socket: &mut ChannelSocket) -> Result<Self, JoinError> {
        let _ = id;
        let user = params["user"].as_str().unwrap_or_default().to_owned();
        socket
            .track(&user, json!({"online_at": 1_700_000_000}))
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok(Room)
    }
}

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), future)
        .await
        .expect("timed out")
}

/// A member: connects, joins as `user`, then reads (and drops) every frame, counting them.
async fn member(addr: std::net::SocketAddr, user: String, frames: Arc<AtomicU64>) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let join = json!(["1", "1", "room:1", "phx_join", {"user": user}]);
    ws.send(Message::text(join.to_string())).await.unwrap();
    while let Some(Ok(_)) = ws.next().await {
        frames.fetch_add(1, Ordering::Relaxed);
    }
}

/// The room's socket route (kept, to read its metrics and presence), served on the counted
/// thread; the server's address and its stop.
fn room_server() -> (
    SocketRoute<AnonymousSocket>,
    SocketAddr,
    oneshot::Sender<()>,
) {
    let route = socket(AnonymousSocket).channel::<Room>().rate_limit(None);
    let served = route.clone();
    let (addr, stop) = counted_server(move |listener| async move {
        let router = Router::new().route("/socket/websocket", served);
        let _ = Server::new(router).serve(listener).await;
    });
    (route, addr, stop)
}

/// Waits until the server has sent no frame for a while (its diffs are all out).
async fn settle(frames: &AtomicU64) {
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = frames.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_member_heap() {
    let members: usize = std::env::var("ROOM_MEMBERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let _serial = SERIAL.lock().await;
    let (route, addr, stop) = room_server();
    let frames = Arc::new(AtomicU64::new(0));
    // Warm-up: lazy statics, the runtime's first buffers, the room's first members.
    let mut tasks = Vec::new();
    for i in 0..20 {
        tasks.push(tokio::spawn(member(
            addr,
            format!("warm-{i}"),
            frames.clone(),
        )));
    }
    settle(&frames).await;

    let before = Snapshot::now();
    let (allocations, bytes) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        ALLOCATED_BYTES.load(Ordering::Relaxed),
    );
    for i in 0..members {
        tasks.push(tokio::spawn(member(
            addr,
            format!("user-{i}"),
            frames.clone(),
        )));
    }
    within(async {
        while route.metrics().joins < (20 + members) as u64 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    settle(&frames).await;
    let (total, large, items) = Snapshot::now().grown_since(&before);
    let per_member = total as f64 / members as f64;
    let metrics = route.metrics();
    println!(
        "live heap per room member after a storm of {members} joins: {per_member:.0} B \
         ({:.0} B of it in allocations of 64 KiB or more); {} presence_diff broadcasts, {} frames out",
        large as f64 / members as f64,
        metrics.presence_diffs,
        metrics.messages_out,
    );
    println!(
        "the storm's work on the server, counted: {} allocations, {} MB allocated",
        ALLOCATIONS.load(Ordering::Relaxed) - allocations,
        (ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes) >> 20,
    );
    counting::print_table(items, members, "member");
    let keys = route.presence().keys("room:1").len();
    assert_eq!(keys, 20 + members);
    for task in &tasks {
        task.abort();
    }
    drop(stop);
    // A regression guard (≈ 8.2 KiB in a debug build, where futures are larger; it was
    // ≈ 45 KiB before the diffs were merged and the buffers given back).
    assert!(per_member < 12_288.0, "{per_member:.0} B per room member");
}

/// Allocations on the server's thread per broadcast delivered to one member: the frame is
/// encoded once per broadcast, and delivering it to a member's mailbox and writer allocates
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_allocations_per_member() {
    const MEMBERS: usize = 200;
    const BROADCASTS: usize = 50;
    let _serial = SERIAL.lock().await;
    let (route, addr, stop) = room_server();
    let frames = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..MEMBERS {
        tasks.push(tokio::spawn(member(
            addr,
            format!("user-{i}"),
            frames.clone(),
        )));
    }
    within(async {
        while route.metrics().joins < MEMBERS as u64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    settle(&frames).await;
    // Warm-up: the sockets' buffers reach their working size.
    let pubsub = route.pubsub().clone();
    let send_all = |n: usize| {
        let pubsub = pubsub.clone();
        async move {
            for i in 0..n {
                let body = json!({"body": "a message of some forty bytes", "n": i});
                pubsub.broadcast("room:1", "new_msg", body).await.unwrap();
                // Paced, so the mailboxes never fill (that would be another path).
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    send_all(10).await;
    settle(&frames).await;
    let before_frames = frames.load(Ordering::Relaxed);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    send_all(BROADCASTS).await;
    within(async {
        let expected = before_frames + (MEMBERS * BROADCASTS) as u64;
        while frames.load(Ordering::Relaxed) < expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let per_delivery = allocations as f64 / (MEMBERS * BROADCASTS) as f64;
    println!(
        "{BROADCASTS} broadcasts to {MEMBERS} members: {allocations} allocations on the server \
         ({per_delivery:.3} per member per broadcast)"
    );
    for task in &tasks {
        task.abort();
    }
    drop(stop);
    // Encoding is once per broadcast (a few allocations, spread over the members); anything
    // per member would make this at least 1.
    assert!(
        per_delivery < 0.25,
        "{per_delivery} allocations per delivery"
    );
}
