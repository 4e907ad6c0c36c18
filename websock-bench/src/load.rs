//! The load generator: tokio-tungstenite clients on loopback, every scenario bounded in time.
//!
//! Each scenario prints one JSON object on its last stdout line; `all` reads it.

use crate::{args::Args, servers::FANOUT_TEXT};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::{
    io::{self, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::AsyncReadExt,
    net::{TcpSocket, TcpStream},
    sync::Semaphore,
    task::JoinSet,
    time::Instant,
};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, Utf8Bytes, protocol::WebSocketConfig},
};

pub(crate) type Ws = WebSocketStream<TcpStream>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Nothing the load generator does may take longer than this: it always stops by itself.
const HARD_LIMIT: Duration = Duration::from_secs(300);
const PRESENCE_LIMIT: Duration = Duration::from_secs(900);

/// Runs `load <scenario> ...` and prints its result.
pub(crate) fn run(scenario: &str, args: &mut Args) -> Result<(), BoxError> {
    let addr: SocketAddr = args.value("--addr")?.parse()?;
    if !addr.ip().is_loopback() {
        return Err("the load generator only targets loopback addresses".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let work = async {
            match scenario {
                "throughput" => throughput(addr, args).await,
                "latency" => latency(addr, args).await,
                "idle" => idle(addr, args).await,
                "connrate" => connection_rate(addr, args).await,
                "fanout" => fanout(addr, args).await,
                "deflate-echo" => crate::deflate_load::echo(addr, args).await,
                "deflate-idle" => crate::deflate_load::idle(addr, args).await,
                "deflate-fanout" => crate::deflate_load::fanout(addr, args).await,
                "fanout-channels" => crate::channels_load::fanout(addr, args).await,
                "presence" => crate::presence_load::presence(addr, args).await,
                "presence-cluster" => crate::presence_load::cluster(addr, args).await,
                other => Err(format!("unknown scenario {other:?}").into()),
            }
        };
        // A presence storm against a server that sends every diff to every member takes
        // minutes: those scenarios have their own `--timeout` and a longer bound here.
        let limit = if scenario.starts_with("presence") {
            PRESENCE_LIMIT
        } else {
            HARD_LIMIT
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| BoxError::from("the load generator passed its time limit"))?
    })?;
    let mut stdout = io::stdout();
    writeln!(stdout, "{result}")?;
    stdout.flush()?;
    // Open connections are dropped with the runtime; the servers see them reset.
    runtime.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}

/// The source address of the `index`th connection: spread over 127.0.0.2–251 so that
/// ephemeral ports never run short, however many connections come and go.
fn source_ip(index: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (index % 250) as u8))
}

/// A client config for connections that carry little: small buffers.
pub(crate) fn small_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 << 10)
        .write_buffer_size(0)
}

pub(crate) async fn connect(
    addr: SocketAddr,
    path: &str,
    index: u64,
    config: WebSocketConfig,
) -> Result<Ws, BoxError> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source_ip(index), 0))?;
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{addr}{path}");
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    Ok(ws)
}

/// Opens `count` connections, `concurrency` handshakes at a time; each sends `hello` and waits
/// for its echo when `greet` is set. Failures are counted, not fatal.
async fn connect_many(
    addr: SocketAddr,
    path: &str,
    count: u64,
    first_index: u64,
    concurrency: usize,
    config: WebSocketConfig,
    greet: bool,
) -> (Vec<Ws>, u64) {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for index in first_index..first_index + count {
        let permits = permits.clone();
        let path = path.to_owned();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let mut ws = connect(addr, &path, index, config).await?;
            if greet {
                ws.send(Message::text("hello")).await?;
                match ws.next().await {
                    Some(Ok(Message::Text(_))) => {}
                    other => return Err(format!("no echo: {other:?}").into()),
                }
            }
            Ok::<_, BoxError>(ws)
        });
    }
    let mut open = Vec::with_capacity(count as usize);
    let mut failed = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(ws)) => open.push(ws),
            Ok(Err(error)) => {
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
            Err(error) => {
                failed += 1;
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    if let Some(error) = first_error {
        eprintln!("{failed} of {count} connections failed; the first: {error}");
    }
    (open, failed)
}

fn text_of(size: usize) -> Utf8Bytes {
    Utf8Bytes::from(
        "abcdefghijklmnopqrstuvwxyz0123456789"
            .chars()
            .cycle()
            .take(size)
            .collect::<String>(),
    )
}

/// Throughput: `--conns` connections, each keeping `--window` text messages of `--size` bytes
/// in flight; messages echoed per second over `--secs` after `--warmup`.
async fn throughput(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo");
    let conns = args.number_or("--conns", 100)?;
    let size = args.number_or("--size", 20)? as usize;
    let window = args.number_or("--window", 16)?;
    let secs = args.float_or("--secs", 3.0)?;
    let warmup = args.float_or("--warmup", 0.5)?;
    // `--http2 N`: the WebSockets are HTTP/2 streams, N per TCP connection (RFC 8441).
    let http2 = args.number_or("--http2", 0)?;
    args.finish()?;

    let payload = text_of(size);
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = JoinSet::new();
    let failed = if http2 > 0 {
        let sockets =
            crate::h2::connect_many(addr, &path, conns, http2, WebSocketConfig::default()).await?;
        for ws in sockets {
            tasks.spawn(pump(
                ws,
                payload.clone(),
                window,
                received.clone(),
                stop.clone(),
            ));
        }
        0
    } else {
        let (sockets, failed) = connect_many(
            addr,
            &path,
            conns,
            0,
            100,
            WebSocketConfig::default(),
            false,
        )
        .await;
        if sockets.is_empty() {
            return Err("no connection could be opened".into());
        }
        for ws in sockets {
            tasks.spawn(pump(
                ws,
                payload.clone(),
                window,
                received.clone(),
                stop.clone(),
            ));
        }
        failed
    };
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let start = (Instant::now(), received.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let end = (Instant::now(), received.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    let errors = count_errors(&mut tasks).await;
    let rate = (end.1 - start.1) as f64 / (end.0 - start.0).as_secs_f64();
    Ok(json!({
        "msgs_per_sec": rate,
        "conns": conns,
        "failed_conns": failed,
        "broken_conns": errors,
    }))
}

/// One connection of the throughput scenario: writes every message it can before one flush,
/// as a pipelining client does, so the client is not what limits the server.
async fn pump<S>(
    mut ws: WebSocketStream<S>,
    payload: Utf8Bytes,
    window: u64,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<(), BoxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for _ in 0..window {
        ws.feed(Message::Text(payload.clone())).await?;
    }
    ws.flush().await?;
    while !stop.load(Ordering::Relaxed) {
        match ws.next().await {
            Some(Ok(Message::Text(_) | Message::Binary(_))) => {}
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => return Err("server closed".into()),
        }
        let mut echoed = 1;
        ws.feed(Message::Text(payload.clone())).await?;
        // Everything already read: answer it all, then flush once.
        while let Some(Some(next)) = ws.next().now_or_never() {
            next?;
            echoed += 1;
            ws.feed(Message::Text(payload.clone())).await?;
        }
        received.fetch_add(echoed, Ordering::Relaxed);
        ws.flush().await?;
    }
    Ok(())
}

async fn count_errors(tasks: &mut JoinSet<Result<(), BoxError>>) -> u64 {
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Err(error)) = joined {
            if errors == 0 {
                eprintln!("a connection failed: {error}");
            }
            errors += 1;
        }
    }
    errors
}

/// Latency: `--conns` connections sending `--rate` messages per second in all, evenly spread;
/// round trips in a histogram (p50, p99, p99.9 in microseconds).
async fn latency(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo");
    let conns = args.number_or("--conns", 1000)?;
    let rate = args.float_or("--rate", 20_000.0)?;
    let secs = args.float_or("--secs", 5.0)?;
    let warmup = args.float_or("--warmup", 1.0)?;
    args.finish()?;

    let (sockets, failed) = connect_many(addr, &path, conns, 0, 100, small_config(), false).await;
    let open = sockets.len() as u64;
    if open == 0 {
        return Err("no connection could be opened".into());
    }
    // Nanoseconds, from 1 µs to 60 s, 3 significant figures.
    let histogram = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1_000,
        60_000_000_000,
        3,
    )?));
    let base = Instant::now();
    let period = Duration::from_secs_f64(open as f64 / rate);
    let measure_from = base + Duration::from_secs_f64(warmup);
    let end = measure_from + Duration::from_secs_f64(secs);
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for (index, ws) in sockets.into_iter().enumerate() {
        let first = base + period.mul_f64(index as f64 / open as f64);
        tasks.spawn(ping_pong(
            ws,
            PingPong {
                base,
                first,
                period,
                measure_from,
                end,
                histogram: histogram.clone(),
                sent: sent.clone(),
            },
        ));
    }
    let errors = count_errors(&mut tasks).await;
    let histogram = histogram.lock().expect("histogram lock");
    let micros = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    Ok(json!({
        "p50_us": micros(0.5),
        "p99_us": micros(0.99),
        "p999_us": micros(0.999),
        "max_us": histogram.max() as f64 / 1000.0,
        "samples": histogram.len(),
        "sent": sent.load(Ordering::Relaxed),
        "conns": open,
        "failed_conns": failed,
        "broken_conns": errors,
    }))
}

struct PingPong {
    base: Instant,
    first: Instant,
    period: Duration,
    measure_from: Instant,
    end: Instant,
    histogram: Arc<Mutex<Histogram<u64>>>,
    sent: Arc<AtomicU64>,
}

/// One connection of the latency scenario: a message every `period`, carrying the time it was
/// sent, whatever the answers do (so a stalled server shows up in the tail, not in fewer
/// samples); each echo's round trip is recorded.
async fn ping_pong(mut ws: Ws, run: PingPong) -> Result<(), BoxError> {
    let mut ticks = tokio::time::interval_at(run.first, run.period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut local = Vec::new();
    let stop_at = run.end + Duration::from_millis(200);
    loop {
        tokio::select! {
            now = ticks.tick() => {
                if now >= run.end {
                    break;
                }
                // 20 bytes: the send time in nanoseconds, zero-padded.
                let stamp = (Instant::now() - run.base).as_nanos();
                ws.send(Message::text(format!("{stamp:020}"))).await?;
                run.sent.fetch_add(1, Ordering::Relaxed);
            }
            message = ws.next() => {
                let now = Instant::now();
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => return Err(error.into()),
                    None => return Err("server closed".into()),
                };
                let stamp: u64 = text.as_str().parse()?;
                let sent_at = run.base + Duration::from_nanos(stamp);
                if sent_at >= run.measure_from {
                    local.push((now - sent_at).as_nanos() as u64);
                }
            }
        }
    }
    // The last answers.
    while let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout_at(stop_at, ws.next()).await
    {
        let stamp: u64 = text.as_str().parse()?;
        let sent_at = run.base + Duration::from_nanos(stamp);
        if sent_at >= run.measure_from {
            local.push((Instant::now() - sent_at).as_nanos() as u64);
        }
    }
    let mut histogram = run.histogram.lock().expect("histogram lock");
    for nanos in local {
        histogram.saturating_record(nanos);
    }
    Ok(())
}

/// Memory: opens `--conns` connections that each send one message and get its echo, prints
/// `ready <open>`, then holds them idle until stdin closes (or `--hold` seconds pass).
async fn idle(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo");
    let conns = args.number_or("--conns", 1000)?;
    let first = args.number_or("--first-index", 0)?;
    let hold = args.float_or("--hold", 240.0)?;
    args.finish()?;

    let (sockets, failed) = connect_many(addr, &path, conns, first, 64, small_config(), true).await;
    {
        let mut stdout = io::stdout();
        writeln!(stdout, "ready {}", sockets.len())?;
        stdout.flush()?;
    }
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs_f64(hold), stdin.read_to_end(&mut sink)).await;
    Ok(json!({ "open": sockets.len(), "failed_conns": failed }))
}

/// Connection rate: `--concurrency` clients, each in a loop: connect, handshake, one echo,
/// close handshake. Completed connections per second.
async fn connection_rate(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/echo");
    let concurrency = args.number_or("--concurrency", 32)?;
    let secs = args.float_or("--secs", 3.0)?;
    let warmup = args.float_or("--warmup", 0.5)?;
    args.finish()?;

    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let next_index = Arc::new(AtomicU64::new(0));
    let stop_at = Instant::now() + Duration::from_secs_f64(warmup + secs);
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (done, failed, next_index, path) = (
            done.clone(),
            failed.clone(),
            next_index.clone(),
            path.clone(),
        );
        tasks.spawn(async move {
            while Instant::now() < stop_at {
                let index = next_index.fetch_add(1, Ordering::Relaxed);
                match one_connection(addr, &path, index).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(error) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("a connection failed: {error}");
                        }
                        // Do not spin on a refusing server.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        0
                    }
                };
            }
            Ok::<(), BoxError>(())
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let start = (Instant::now(), done.load(Ordering::Relaxed));
    tokio::time::sleep_until(stop_at).await;
    let end = (Instant::now(), done.load(Ordering::Relaxed));
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(json!({
        "conns_per_sec": (end.1 - start.1) as f64 / (end.0 - start.0).as_secs_f64(),
        "failed_conns": failed.load(Ordering::Relaxed),
    }))
}

async fn one_connection(addr: SocketAddr, path: &str, index: u64) -> Result<(), BoxError> {
    let mut ws = connect(addr, path, index, small_config()).await?;
    ws.send(Message::text("hello")).await?;
    match ws.next().await {
        Some(Ok(Message::Text(_))) => {}
        other => return Err(format!("no echo: {other:?}").into()),
    }
    ws.close(None).await?;
    // The server's close frame, then the end of the stream (RFC 6455 §7.1.1).
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}

/// Fan-out: `--conns` connections to websock's `/ws/fanout`, then one more sends `broadcast`;
/// the time from that send until the last of the `--conns` clients has the info message.
async fn fanout(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let path = args.string_or("--path", "/ws/fanout");
    let conns = args.number_or("--conns", 10_000)?;
    // How long to wait once every connection is open, before the broadcast (to attach a
    // profiler to the server, say).
    let settle = args.float_or("--settle", 0.1)?;
    args.finish()?;

    let (sockets, failed) = connect_many(addr, &path, conns, 0, 100, small_config(), true).await;
    let open = sockets.len() as u64;
    if open == 0 {
        return Err("no connection could be opened".into());
    }
    let mut trigger = connect(addr, &path, conns, small_config()).await?;
    trigger.send(Message::text("hello")).await?;
    trigger.next().await.ok_or("no echo")??;

    let mut tasks = JoinSet::new();
    let go = Arc::new(tokio::sync::Barrier::new(sockets.len() + 1));
    for mut ws in sockets {
        let go = go.clone();
        tasks.spawn(async move {
            go.wait().await;
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) if text.as_str() == FANOUT_TEXT => {
                        // Keep the connection: closing it now would make the server handle
                        // thousands of disconnects in the middle of the fan-out it is timed on.
                        return Ok::<_, BoxError>((Instant::now(), ws));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error.into()),
                    None => return Err("server closed".into()),
                }
            }
        });
    }
    go.wait().await;
    // Let every receiver park in `next()` before the clock starts.
    eprintln!("fanout: {open} connections open; broadcasting in {settle} s");
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let start = Instant::now();
    trigger.send(Message::text("broadcast")).await?;
    let mut last = start;
    let mut received = 0u64;
    let mut errors = 0u64;
    let mut keep = Vec::with_capacity(open as usize);
    let deadline = start + Duration::from_secs(30);
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        match joined {
            Ok(Ok((at, ws))) => {
                received += 1;
                last = last.max(at);
                keep.push(ws);
            }
            _ => errors += 1,
        }
    }
    // The trigger's own reply (`sent <n>`; its copy of the broadcast may come first), then
    // the server's own timings.
    let mut sent = String::new();
    let mut server = (f64::NAN, f64::NAN);
    trigger.send(Message::text("fanout stats")).await?;
    for _ in 0..3 {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(5), trigger.next()).await
        else {
            break;
        };
        let words: Vec<&str> = text.as_str().split(' ').collect();
        match words[..] {
            ["sent", _] => sent = text.as_str().to_owned(),
            ["enqueued", enqueued, "last_delivery", last] => {
                server = (enqueued.parse::<f64>()? / 1e3, last.parse::<f64>()? / 1e3);
                break;
            }
            _ => {}
        }
    }
    Ok(json!({
        "fanout_ms": (last - start).as_secs_f64() * 1e3,
        "received": received,
        "conns": open,
        "failed_conns": failed,
        "broken_conns": errors,
        "server": sent,
        "server_enqueued_ms": server.0,
        "server_last_callback_ms": server.1,
    }))
}
