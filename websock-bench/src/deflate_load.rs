//! The permessage-deflate scenarios (issue 15), with the client of `deflate_client`:
//!
//! - `deflate-echo`: `--conns 20 --size 1024 --secs 3 --warmup 0.5 [--plain]`: JSON echoes per
//!   second over `/ws/echo/deflate`, and the bytes on the wire per message each way;
//!   `--plain` does not offer compression (the same route, uncompressed).
//! - `deflate-idle`: `--conns 1000 --first-index 0 --hold 240 [--plain]`: opens compressing
//!   connections that each echo one 1 KiB JSON message, prints `ready N`, holds them idle.
//! - `deflate-fanout`: `--conns 1000 --size 16384 [--unshared]`: one broadcast of a JSON text
//!   to every compressing connection of `/ws/fanout/deflate`, compressed once (a
//!   `SharedFrame`) or, with `--unshared`, once per connection.

use crate::{args::Args, deflate_client::DeflateClient};
use serde_json::{Value, json};
use std::{
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{io::AsyncReadExt, sync::Semaphore, task::JoinSet, time::Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A JSON document of about `size` bytes: an array of chat-like objects.
pub(crate) fn json_of(size: usize) -> String {
    let mut text = String::from("[");
    let mut id = 0u32;
    while text.len() + 2 < size {
        text.push_str(&format!(
            r#"{{"id":{id},"user":"user{}","body":"message number {id} in room lobby","at":{}}},"#,
            id % 97,
            1_700_000_000 + id * 7
        ));
        id += 1;
    }
    text.truncate(size.saturating_sub(1).max(1));
    // Still JSON-shaped enough for deflate; the echo compares bytes, not values.
    text.push(']');
    text
}

fn source_ip(index: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (index % 250) as u8))
}

/// Opens `count` clients, 64 handshakes at a time; each echoes `greeting` once if given.
async fn open_many(
    addr: SocketAddr,
    path: &str,
    count: u64,
    first_index: u64,
    offer: bool,
    greeting: Option<Arc<String>>,
) -> (Vec<DeflateClient>, u64) {
    let permits = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    for index in first_index..first_index + count {
        let (permits, path, greeting) = (permits.clone(), path.to_owned(), greeting.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let mut client = DeflateClient::connect(addr, source_ip(index), &path, offer).await?;
            if offer && !client.negotiated {
                return Err("permessage-deflate was not negotiated".into());
            }
            if let Some(greeting) = greeting {
                client.send_text(greeting.as_bytes()).await?;
                client.recv().await?;
            }
            Ok::<_, BoxError>(client)
        });
    }
    let mut open = Vec::new();
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(client)) => open.push(client),
            Ok(Err(error)) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("a connection failed: {error}");
                }
            }
            Err(_) => failed += 1,
        }
    }
    (open, failed)
}

/// Echo throughput and bytes on the wire, compressed or `--plain`.
pub(crate) async fn echo(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo/deflate");
    let conns = args.number_or("--conns", 20)?;
    let size = args.number_or("--size", 1024)? as usize;
    let secs = args.float_or("--secs", 3.0)?;
    let warmup = args.float_or("--warmup", 0.5)?;
    let plain = args.flag("--plain");
    args.finish()?;

    let message = Arc::new(json_of(size));
    let (clients, failed) = open_many(addr, &path, conns, 0, !plain, None).await;
    if clients.is_empty() {
        return Err("no connection could be opened".into());
    }
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let (message, counting, stop, totals) = (
            message.clone(),
            counting.clone(),
            stop.clone(),
            totals.clone(),
        );
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (out, inn) = (client.bytes_out, client.bytes_in);
                client.send_text(message.as_bytes()).await?;
                let echoed = client.recv().await?;
                if echoed.len() != message.len() {
                    return Err::<(), BoxError>("the echo differs".into());
                }
                if counting.load(Ordering::Relaxed) {
                    totals[0].fetch_add(1, Ordering::Relaxed);
                    totals[1].fetch_add(client.bytes_out - out, Ordering::Relaxed);
                    totals[2].fetch_add(client.bytes_in - inn, Ordering::Relaxed);
                }
            }
            Ok(())
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    counting.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut broken = 0;
    while let Some(joined) = tasks.join_next().await {
        if !matches!(joined, Ok(Ok(()))) {
            broken += 1;
        }
    }
    let messages = totals[0].load(Ordering::Relaxed).max(1);
    Ok(json!({
        "messages_per_sec": totals[0].load(Ordering::Relaxed) as f64 / elapsed,
        "compressed": !plain,
        "size": size,
        "wire_bytes_to_server_per_message": totals[1].load(Ordering::Relaxed) as f64 / messages as f64,
        "wire_bytes_to_client_per_message": totals[2].load(Ordering::Relaxed) as f64 / messages as f64,
        "failed_conns": failed,
        "broken_conns": broken,
    }))
}

/// Idle compressing connections for the memory figure.
pub(crate) async fn idle(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo/deflate");
    let conns = args.number_or("--conns", 1000)?;
    let first = args.number_or("--first-index", 0)?;
    let hold = args.float_or("--hold", 240.0)?;
    let plain = args.flag("--plain");
    args.finish()?;

    let greeting = Some(Arc::new(json_of(1024)));
    let (clients, failed) = open_many(addr, &path, conns, first, !plain, greeting).await;
    {
        let mut stdout = io::stdout();
        writeln!(stdout, "ready {}", clients.len())?;
        stdout.flush()?;
    }
    let (mut stdin, mut sink) = (tokio::io::stdin(), Vec::new());
    let closed = stdin.read_to_end(&mut sink);
    let _ = tokio::time::timeout(Duration::from_secs_f64(hold), closed).await;
    Ok(json!({ "open": clients.len(), "failed_conns": failed }))
}

/// One broadcast to every compressing connection: how long until the last has it, and how
/// many bytes each got.
pub(crate) async fn fanout(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/fanout/deflate");
    let conns = args.number_or("--conns", 1000)?;
    let size = args.number_or("--size", 16 << 10)?;
    let unshared = args.flag("--unshared");
    args.finish()?;

    let hello = Some(Arc::new("hello".to_owned()));
    let (clients, failed) = open_many(addr, &path, conns, 0, true, hello.clone()).await;
    let (mut triggers, _) = open_many(addr, &path, 1, conns, true, hello).await;
    let mut trigger = triggers.pop().ok_or("the trigger could not connect")?;
    let open = clients.len();
    let mut tasks = JoinSet::new();
    for mut client in clients {
        tasks.spawn(async move {
            let before = client.bytes_in;
            let message = client.recv().await?;
            Ok::<_, BoxError>((
                Instant::now(),
                message.len(),
                client.bytes_in - before,
                client,
            ))
        });
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let command = if unshared { "unshared" } else { "shared" };
    let start = Instant::now();
    trigger
        .send_text(format!("broadcast json {command} {size}").as_bytes())
        .await?;
    let (mut last, mut received, mut wire, mut broken) = (start, 0u64, 0u64, 0u64);
    let mut keep = Vec::with_capacity(open);
    let deadline = start + Duration::from_secs(60);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        match joined {
            Ok(Ok((at, len, bytes, client))) if len as u64 == size => {
                received += 1;
                wire += bytes;
                last = last.max(at);
                keep.push(client);
            }
            _ => broken += 1,
        }
    }
    Ok(json!({
        "fanout_ms": (last - start).as_secs_f64() * 1e3,
        "compressed_once": !unshared,
        "size": size,
        "received": received,
        "wire_bytes_per_client": wire as f64 / received.max(1) as f64,
        "conns": open,
        "failed_conns": failed,
        "broken_conns": broken,
    }))
}
