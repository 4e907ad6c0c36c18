//! `load fanout-channels`: N clients in one room, then broadcasts, each timed from its send
//! until the last client has it; against websock's `room:bench` (phoenix V2, presence off) or
//! uWebSockets' `/ws/pubsub` (`--protocol uws`: every socket subscribed to `fan`, a text
//! `pub:<payload>` publishes `<payload>`). The payload is the same size for both: `--size`
//! bytes, `r<round, 6 digits>` then `x`s, sent as a JSON string to websock (so its frame adds
//! the V2 envelope, as a real channel's does).
//!
//! One warm-up broadcast (every client must get it: it proves every subscription is live),
//! then `--broadcasts` timed ones, 100 ms apart; the result is their median and every sample.
//! All clients are in this process: at most [`MAX_CONNS`], below the 20,000 open files a
//! process may have.

use crate::{args::Args, channels_server::TICK, load::Ws, phoenix_client};
use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{sync::Semaphore, task::JoinSet, time::Instant};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The most clients of one load process (each is a file descriptor).
pub(crate) const MAX_CONNS: u64 = 19_000;

/// How long one broadcast may take to reach everyone before the run gives up.
const ROUND_LIMIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Phoenix,
    Uws,
}

/// Per round: how many clients have it, and when the last got it (ns after `base`).
struct Rounds {
    base: Instant,
    received: Vec<AtomicU64>,
    last_ns: Vec<AtomicU64>,
}

impl Rounds {
    fn arrived(&self, round: usize) {
        let Some(count) = self.received.get(round) else {
            return;
        };
        let at = self.base.elapsed().as_nanos() as u64;
        self.last_ns[round].fetch_max(at, Ordering::Relaxed);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) async fn fanout(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let protocol = match args.string_or("--protocol", "phoenix").as_str() {
        "phoenix" => Protocol::Phoenix,
        "uws" => Protocol::Uws,
        other => return Err(format!("--protocol: phoenix or uws, not {other:?}").into()),
    };
    let conns = args.number_or("--conns", 1000)?;
    let size = args.number_or("--size", 20)?.max(7) as usize;
    let broadcasts = args.number_or("--broadcasts", 5)? as usize;
    args.finish()?;
    if conns > MAX_CONNS {
        return Err(format!("--conns: at most {MAX_CONNS} in one process").into());
    }

    let rounds = Arc::new(Rounds {
        base: Instant::now(),
        received: (0..=broadcasts).map(|_| AtomicU64::new(0)).collect(),
        last_ns: (0..=broadcasts).map(|_| AtomicU64::new(0)).collect(),
    });
    let (sockets, failed) = open_members(addr, protocol, conns).await;
    let open = sockets.len() as u64;
    if open == 0 {
        return Err("no member could join".into());
    }
    let mut readers = JoinSet::new();
    for ws in sockets {
        readers.spawn(read_ticks(ws, protocol, rounds.clone()));
    }
    let mut trigger = open_member(addr, protocol, conns).await?;
    let mut samples = Vec::new();
    let mut complete = true;
    for round in 0..=broadcasts {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = rounds.base.elapsed().as_nanos() as u64;
        trigger.send(publish(protocol, round, size)).await?;
        if !all_arrived(&mut trigger, &rounds, round, open).await {
            complete = false;
            break;
        }
        if round > 0 {
            let last = rounds.last_ns[round].load(Ordering::Relaxed);
            samples.push(last.saturating_sub(start) as f64 / 1e6);
        }
    }
    readers.abort_all();
    let broken = count_broken(&mut readers).await;
    let received: Vec<u64> = rounds
        .received
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    Ok(json!({
        "fanout_ms": median(&samples),
        "samples_ms": samples,
        "complete": complete,
        "received": received,
        "conns": open,
        "failed_conns": failed,
        "broken_conns": broken,
    }))
}

/// The trigger's message for `round`: `size` bytes of payload.
fn publish(protocol: Protocol, round: usize, size: usize) -> Message {
    let mut payload = format!("r{round:06}");
    payload.extend(std::iter::repeat_n('x', size.saturating_sub(payload.len())));
    match protocol {
        Protocol::Phoenix => phoenix_client::push(round as u64 + 2, "broadcast", &json!(payload)),
        Protocol::Uws => Message::text(format!("pub:{payload}")),
    }
}

/// Waits until `open` clients have `round`, reading (and dropping) the trigger's own frames
/// meanwhile; `false` after [`ROUND_LIMIT`].
async fn all_arrived(trigger: &mut Ws, rounds: &Rounds, round: usize, open: u64) -> bool {
    let deadline = Instant::now() + ROUND_LIMIT;
    while rounds.received[round].load(Ordering::Relaxed) < open {
        if Instant::now() > deadline {
            eprintln!(
                "fanout-channels: round {round}: {} of {open} after {ROUND_LIMIT:?}",
                rounds.received[round].load(Ordering::Relaxed)
            );
            return false;
        }
        let _ = tokio::time::timeout(Duration::from_millis(1), trigger.next()).await;
    }
    true
}

/// The round a tick names: `r000123xx…`, bare (uWebSockets) or as a V2 frame's payload,
/// read in place (no allocation), so that a phoenix member costs the load generator about
/// what a uWebSockets one does.
fn round_of(protocol: Protocol, text: &str) -> Option<usize> {
    let payload = match protocol {
        Protocol::Uws => text,
        Protocol::Phoenix => {
            let (_, _, _, event, payload): (IgnoredAny, IgnoredAny, IgnoredAny, &str, &str) =
                serde_json::from_str(text).ok()?;
            (event == TICK).then_some(payload)?
        }
    };
    payload.strip_prefix('r')?.get(..6)?.parse().ok()
}

/// One member: reads until aborted, counting the rounds it gets; a phoenix member also
/// heartbeats, so that a long run never meets the server's idle timeout.
async fn read_ticks(mut ws: Ws, protocol: Protocol, rounds: Arc<Rounds>) -> Result<(), BoxError> {
    let mut heartbeat = tokio::time::interval(phoenix_client::HEARTBEAT);
    heartbeat.tick().await;
    let mut reference = 1_000u64;
    loop {
        let message = tokio::select! {
            message = ws.next() => message,
            _ = heartbeat.tick(), if protocol == Protocol::Phoenix => {
                reference += 1;
                ws.send(phoenix_client::heartbeat(reference)).await?;
                continue;
            }
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                if let Some(round) = round_of(protocol, &text) {
                    rounds.arrived(round);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => return Err("server closed".into()),
        }
    }
}

/// One member, connected and (phoenix) joined without presence.
async fn open_member(addr: SocketAddr, protocol: Protocol, index: u64) -> Result<Ws, BoxError> {
    match protocol {
        Protocol::Phoenix => {
            let mut ws = phoenix_client::connect(addr, index).await?;
            phoenix_client::join(&mut ws, json!({})).await?;
            Ok(ws)
        }
        Protocol::Uws => {
            Ok(
                crate::load::connect(addr, "/ws/pubsub", index, crate::load::small_config())
                    .await?,
            )
        }
    }
}

/// `conns` members, 100 handshakes at a time; failures counted.
async fn open_members(addr: SocketAddr, protocol: Protocol, conns: u64) -> (Vec<Ws>, u64) {
    let permits = Arc::new(Semaphore::new(100));
    let mut tasks = JoinSet::new();
    for index in 0..conns {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            open_member(addr, protocol, index).await
        });
    }
    let mut open = Vec::with_capacity(conns as usize);
    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(ws)) => open.push(ws),
            Ok(Err(error)) => {
                if failed == 0 {
                    eprintln!("fanout-channels: a member failed: {error}");
                }
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    (open, failed)
}

async fn count_broken(tasks: &mut JoinSet<Result<(), BoxError>>) -> u64 {
    let mut broken = 0;
    while let Some(joined) = tasks.join_next().await {
        if matches!(joined, Ok(Err(_))) {
            broken += 1;
        }
    }
    broken
}

/// The median, or NaN with no samples (a run that stopped at its warm-up).
fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    crate::results::median(samples)
}
