//! Draining on graceful shutdown, over real sockets: connections of a draining route close in
//! batches spread over the drain with jitter, each with 1012 and its `terminate`; the drain
//! never runs past the shutdown timeout; routes that do not drain close at once.

mod common;

use common::within;
use futures_util::StreamExt;
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_tungstenite::tungstenite;
use websock_runtime::{
    Close, Config, Context, Drain, Handler, Message, Metrics, Reply, Router, Server, ServerHandle,
    TerminateReason, WebSocketRoute,
};

/// Counts `terminate(Shutdown)` calls.
struct Counted(Arc<AtomicUsize>);

impl Handler for Counted {
    type Init = Arc<AtomicUsize>;
    type Info = std::convert::Infallible;

    async fn init(counter: Arc<AtomicUsize>, _: &mut Context<Self>) -> Result<Self, Close> {
        Ok(Counted(counter))
    }

    async fn handle_in(&mut self, message: Message, _: &mut Context<Self>) -> Reply {
        Reply::push(message)
    }

    async fn terminate(&mut self, reason: TerminateReason, _: &mut Context<Self>) {
        if matches!(reason, TerminateReason::Shutdown) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct Started {
    addr: SocketAddr,
    handle: ServerHandle,
    served: JoinHandle<std::io::Result<Metrics>>,
    terminated: Arc<AtomicUsize>,
}

async fn start(tune: impl FnOnce(Server) -> Server) -> Started {
    let terminated = Arc::new(AtomicUsize::new(0));
    let route = |drain: bool| {
        let counter = terminated.clone();
        WebSocketRoute::<Counted>::with_init(move |_| {
            let counter = counter.clone();
            async move { Ok(counter) }
        })
        .config(Config::default().drain(drain))
    };
    let router = Router::new()
        .route("/drained", route(true))
        .route("/plain", route(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tune(Server::new(router));
    let handle = server.handle();
    let served = tokio::spawn(server.serve(listener));
    Started {
        addr,
        handle,
        served,
        terminated,
    }
}

/// Opens `n` clients at `path`; each task resolves to (close code, when the close arrived).
async fn open(addr: SocketAddr, path: &str, n: usize) -> Vec<JoinHandle<(u16, Instant)>> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
            "ws://{addr}{path}"
        )))
        .await
        .unwrap();
        clients.push(tokio::spawn(async move {
            loop {
                match client.next().await {
                    Some(Ok(tungstenite::Message::Close(frame))) => {
                        let at = Instant::now();
                        let code = frame.map_or(0, |f| u16::from(f.code));
                        return (code, at);
                    }
                    Some(Ok(_)) => {}
                    other => panic!("expected a close frame, got {other:?}"),
                }
            }
        }));
    }
    clients
}

async fn close_times(clients: Vec<JoinHandle<(u16, Instant)>>, since: Instant) -> Vec<Duration> {
    let mut times = Vec::new();
    for client in clients {
        let (code, at) = within(client).await.unwrap();
        assert_eq!(code, 1012);
        times.push(at - since);
    }
    times.sort();
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_style_routes_drain_in_jittered_batches_over_the_spread() {
    const N: usize = 200;
    let server = start(|s| {
        s.drain(
            Drain::new()
                .spread(Duration::from_secs(2))
                .interval(Duration::from_millis(250)),
        )
    })
    .await;
    let drained = open(server.addr, "/drained", N).await;
    let plain = open(server.addr, "/plain", 20).await;
    assert_eq!(server.handle.metrics().active_connections, N + 20);

    let started = Instant::now();
    server.handle.shutdown();
    let plain = close_times(plain, started).await;
    let drained = close_times(drained, started).await;
    let metrics = within(server.served).await.unwrap().unwrap();
    assert_eq!(metrics.active_connections, 0);
    assert_eq!(server.terminated.load(Ordering::SeqCst), N + 20);

    // 8 batches of 25 over 2 s: without draining they would all close in a few milliseconds.
    let spread = drained[N - 1] - drained[0];
    assert!(spread >= Duration::from_millis(1200), "spread {spread:?}");
    // Jitter: without it each batch of 25 closes within a millisecond or two, so the closes
    // would fill at most 16 distinct 10 ms slots; spread at random, they fill most of 200.
    let mut slots: Vec<u128> = drained.iter().map(|t| t.as_millis() / 10).collect();
    slots.dedup();
    assert!(
        slots.len() >= 40,
        "closes fell in {} 10 ms slots: {drained:?}",
        slots.len()
    );
    // Each 250 ms batch window got some of them.
    let batches = (0..8)
        .filter(|b| {
            let window = Duration::from_millis(250) * *b..Duration::from_millis(250) * (*b + 1);
            drained.iter().any(|t| window.contains(t))
        })
        .count();
    assert!(
        batches >= 6,
        "closes fell in {batches} of 8 batch windows: {drained:?}"
    );
    // A route that does not drain closes at once, ahead of most drained sockets.
    assert!(
        plain[19] < drained[N / 2],
        "plain {plain:?}, drained {drained:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_ends_within_the_shutdown_timeout() {
    // The default drain spreads over 5 s; a 3 s shutdown timeout squeezes it into 2.25 s.
    let server = start(|s| s.shutdown_timeout(Duration::from_secs(3))).await;
    let clients = open(server.addr, "/drained", 50).await;
    let started = Instant::now();
    server.handle.shutdown();
    let times = close_times(clients, started).await;
    let metrics = within(server.served).await.unwrap().unwrap();
    assert_eq!(metrics.unflushed_connections, 0);
    assert_eq!(server.terminated.load(Ordering::SeqCst), 50);
    assert!(times[49] < Duration::from_millis(3500), "{times:?}");
    assert!(
        times[49] - times[0] >= Duration::from_millis(1000),
        "{times:?}"
    );
}
