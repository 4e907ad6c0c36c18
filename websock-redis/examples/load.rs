//! Load over Redis: 1,000 phoenix-protocol clients on two nodes (two servers in this process,
//! each with its own [`RedisAdapter`]), 20 broadcasts a second for 30 s, alternately from
//! each node. Counts what every client got and reports delivery latency (broadcast call to
//! frame read by the client). A benchmark, not a test: figures in BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p websock-redis --example load
//! CLIENTS=1000 RATE=20 SECONDS=30 REDIS_URL=redis://127.0.0.1:6379/ cargo run --release -p websock-redis --example load
//! ```
//!
//! Without `REDIS_URL` it starts `redis-server` (from PATH) on a free loopback port.

use futures_util::{SinkExt, StreamExt};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::Message;
use websock_channels::{
    AnonymousSocket, Channel, ChannelReply, ChannelSocket, JoinError, Payload, PubSub, SocketRoute,
    Topic, socket,
};
use websock_redis::{RedisAdapter, redis};
use websock_runtime::{Router, Server};

struct Room;

impl Channel for Room {
    const TOPIC: &'static str = "room:{id}";
    type Info = ();
    type State = ();

    async fn join(
        _: Topic,
        _: Payload,
        _: &mut ChannelSocket<'_, Self>,
    ) -> Result<(Self, Payload), JoinError> {
        Ok((Room, Payload::empty()))
    }

    async fn handle_in(
        &mut self,
        _: &str,
        _: Payload,
        _: &mut ChannelSocket<'_, Self>,
    ) -> ChannelReply {
        ChannelReply::none()
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn node(url: &str) -> (SocketAddr, SocketRoute<AnonymousSocket>) {
    let adapter = RedisAdapter::connect(url).await.expect("redis");
    let route = socket(AnonymousSocket)
        .channel::<Room>()
        .with_pubsub(PubSub::new(adapter));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/socket/websocket", route.clone());
    tokio::spawn(Server::new(router).serve(listener));
    (addr, route)
}

/// One client: joins, then records the latency of every `msg` until `expected` arrived or the
/// deadline passed. Returns (received, latencies in µs).
async fn client(
    addr: SocketAddr,
    base: Instant,
    expected: usize,
    joined: Arc<AtomicUsize>,
    deadline: Instant,
) -> (usize, Vec<u32>) {
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.send(Message::text(r#"["1","1","room:load","phx_join",{}]"#))
        .await
        .unwrap();
    let mut latencies = Vec::with_capacity(expected);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(15));
    heartbeat.reset();
    while latencies.len() < expected {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            _ = heartbeat.tick() => {
                let _ = ws.send(Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)).await;
                continue;
            }
            () = tokio::time::sleep_until(deadline.into()) => break,
        };
        let Some(Ok(Message::Text(text))) = frame else {
            if frame.is_none() {
                break;
            }
            continue;
        };
        let now = base.elapsed().as_micros() as u64;
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        match value[3].as_str() {
            Some("phx_reply") if value[1] == "1" => {
                joined.fetch_add(1, Ordering::Relaxed);
            }
            Some("msg") => {
                let sent = value[4]["t"].as_u64().unwrap_or(now);
                latencies.push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
            }
            _ => {}
        }
    }
    (latencies.len(), latencies)
}

#[tokio::main]
async fn main() {
    let clients = env("CLIENTS", 1000) as usize;
    let rate = env("RATE", 20);
    let seconds = env("SECONDS", 30);
    let messages = (rate * seconds) as usize;

    let mut redis_child = None;
    let url = match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server (bash scripts/redis.sh install)");
            redis_child = Some(child);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
            format!("redis://127.0.0.1:{port}/")
        }
    };

    let (addr_a, route_a) = node(&url).await;
    let (addr_b, route_b) = node(&url).await;
    let base = Instant::now();
    let joined = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds + 60);
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        let addr = if i % 2 == 0 { addr_a } else { addr_b };
        tasks.push(tokio::spawn(client(
            addr,
            base,
            messages,
            joined.clone(),
            deadline,
        )));
        if i % 100 == 99 {
            tokio::task::yield_now().await;
        }
    }
    let setup = Instant::now() + Duration::from_secs(60);
    while joined.load(Ordering::Relaxed) < clients {
        assert!(
            Instant::now() < setup,
            "only {} of {clients} clients joined within 60 s",
            joined.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let redis_client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = redis_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    loop {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("websock:room:load")
            .query_async(&mut conn)
            .await
            .unwrap();
        if n == 2 {
            break;
        }
        assert!(
            Instant::now() < setup,
            "the nodes did not subscribe within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{clients} clients joined ({} per node); broadcasting {rate}/s for {seconds} s",
        clients / 2
    );

    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut errors = 0;
    for seq in 0..messages {
        tick.tick().await;
        let pubsub = if seq % 2 == 0 {
            route_a.pubsub()
        } else {
            route_b.pubsub()
        };
        let t = base.elapsed().as_micros() as u64;
        let payload = serde_json::json!({ "seq": seq, "t": t });
        if pubsub.broadcast("room:load", "msg", payload).await.is_err() {
            errors += 1;
        }
    }
    let sending = started.elapsed();

    let mut received = Vec::with_capacity(clients);
    let mut latencies: Vec<u32> = Vec::with_capacity(clients * messages);
    for task in tasks {
        let (n, l) = task.await.unwrap();
        received.push(n);
        latencies.extend(l);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        f64::from(latencies.get(i).copied().unwrap_or(0)) / 1000.0
    };
    let total: usize = received.iter().sum();
    let complete = received.iter().filter(|&&n| n == messages).count();
    println!(
        "| clients | nodes | broadcasts | rate | delivered | clients with all | broadcast errors | p50 | p99 | p99.9 | max |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| {clients} | 2 | {messages} in {:.1} s | {rate}/s | {total} / {} | {complete} / {clients} | {errors} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        sending.as_secs_f64(),
        clients * messages,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
    if let Some(mut child) = redis_child {
        let _ = child.kill();
        let _ = child.wait();
    }
    std::process::exit(if complete == clients { 0 } else { 1 });
}
