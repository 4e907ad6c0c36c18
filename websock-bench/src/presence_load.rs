//! `load presence`: a join storm with presence tracking. `--conns` light clients (phoenix V2,
//! each applying phoenix.js's `syncState`/`syncDiff`, see `presence_sync.rs`) join
//! `room:bench`, each tracked under its own key `u<i>`, after `--js` real phoenix.js clients
//! (a node child process, `js/presence_observers.mjs`, keys `js<i>`) have joined. Reports the
//! server's CPU seconds for the storm (`--server-pid`, from /proc), the time until every
//! client's list has every key, and the server's RSS per member 1 s after that; then checks
//! that every list, light and phoenix.js, ends exactly the expected keys.
//!
//! `load presence-cluster`: two nodes over Redis (`--addr` and `--addr2`): `--sockets` sockets,
//! alternating between the nodes, each tracking `--keys` keys `s<i>-<k>`; `--observers` light
//! clients (half on each node) that track nothing must end with every key.

use crate::{
    args::Args,
    channels_server::ROOM,
    load::Ws,
    phoenix_client::{self, Frame},
    presence_sync::{self, PresenceState},
    processes::cpu_seconds,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    sync::{Semaphore, watch},
    task::JoinSet,
    time::Instant,
};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every light client shares: the keys to expect and when each got them all.
struct Settling {
    base: Instant,
    expected: usize,
    settled: AtomicU64,
    last_settled_ns: AtomicU64,
}

impl Settling {
    fn new(expected: usize) -> Self {
        Settling {
            base: Instant::now(),
            expected,
            settled: AtomicU64::new(0),
            last_settled_ns: AtomicU64::new(0),
        }
    }

    fn settled(&self) {
        let at = self.base.elapsed().as_nanos() as u64;
        self.last_settled_ns.fetch_max(at, Ordering::Relaxed);
        self.settled.fetch_add(1, Ordering::Relaxed);
    }
}

/// A member's final list, and its connection: kept open until every list has been taken, so
/// that no member sees another leave.
type Member = (PresenceState, Ws);

/// One light client: applies every presence frame until `stop`, heartbeating meanwhile;
/// returns its final list. `before` are the frames that came before its join reply.
async fn member(
    mut ws: Ws,
    before: Vec<Frame>,
    settling: Arc<Settling>,
    mut stop: watch::Receiver<bool>,
) -> Result<Member, BoxError> {
    let mut state = PresenceState::default();
    let mut settled = false;
    for frame in before {
        state.apply(&frame.event, &frame.payload);
    }
    let mut heartbeat = tokio::time::interval(phoenix_client::HEARTBEAT);
    let mut reference = 1_000u64;
    loop {
        if !settled && state.len() >= settling.expected {
            settled = true;
            settling.settled();
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok((state, ws)),
            _ = heartbeat.tick() => {
                reference += 1;
                ws.send(phoenix_client::heartbeat(reference)).await?;
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    // Heartbeat replies are on the `phoenix` topic.
                    state.apply_text(&text, ROOM);
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Err("server closed".into()),
            },
        }
    }
}

/// Connects and joins `count` clients (100 at a time) with the params `params(i)`, on the
/// address `addr_of(i)`; each then runs [`member`] (or only drains, when `track_state` is
/// off: the trackers of the cluster scenario). Returns the tasks and the failures.
async fn join_all(
    count: u64,
    addr_of: impl Fn(u64) -> SocketAddr,
    params: impl Fn(u64) -> Value,
    settling: &Arc<Settling>,
    stop: &watch::Receiver<bool>,
    tasks: &mut JoinSet<Result<Member, BoxError>>,
) -> u64 {
    let permits = Arc::new(Semaphore::new(100));
    let mut joins = JoinSet::new();
    for index in 0..count {
        let (addr, params, permits) = (addr_of(index), params(index), permits.clone());
        joins.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let mut ws = phoenix_client::connect(addr, index).await?;
            let before = phoenix_client::join(&mut ws, params).await?;
            Ok::<_, BoxError>((ws, before))
        });
    }
    let mut failed = 0;
    while let Some(joined) = joins.join_next().await {
        match joined {
            Ok(Ok((ws, before))) => {
                tasks.spawn(member(ws, before, settling.clone(), stop.clone()));
            }
            Ok(Err(error)) => {
                if failed == 0 {
                    eprintln!("presence: a join failed: {error}");
                }
                failed += 1;
            }
            Err(_) => failed += 1,
        }
    }
    failed
}

/// How the lists ended: exactly the expected keys, other keys, a broken client.
struct Ending {
    equal: u64,
    differ: u64,
    broken: u64,
    /// The members' connections, still open: closing them is a leave the others would see.
    connections: Vec<Ws>,
}

/// Stops every member and checks its final list against `expected`.
async fn final_lists(
    stop: watch::Sender<bool>,
    mut tasks: JoinSet<Result<Member, BoxError>>,
    expected: &[String],
) -> Ending {
    let _ = stop.send(true);
    let ids = presence_sync::key_ids(expected);
    let (mut equal, mut differ, mut broken) = (0, 0, 0);
    let mut connections = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((state, ws))) => {
                if ids.as_ref().is_some_and(|ids| state.has_exactly(ids)) {
                    equal += 1;
                } else {
                    if differ == 0 {
                        eprintln!(
                            "presence: a light list differs: {} keys of {}{}",
                            state.len(),
                            expected.len(),
                            if ids.is_none() {
                                ", some never seen by any client"
                            } else {
                                ""
                            }
                        );
                    }
                    differ += 1;
                }
                connections.push(ws);
            }
            _ => broken += 1,
        }
    }
    Ending {
        equal,
        differ,
        broken,
        connections,
    }
}

/// Waits until `count` clients have settled, or `deadline`; whether they all did.
async fn settle(settling: &Settling, count: u64, deadline: Instant) -> bool {
    while settling.settled.load(Ordering::Relaxed) < count {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

fn rss_kib(pid: u32) -> Result<f64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
}

/// The phoenix.js clients: a node child process, driven by lines on its stdin.
struct JsObservers {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl JsObservers {
    /// Starts `count` of them on the socket at `addr`; returns once all have joined.
    async fn start(addr: SocketAddr, count: u64) -> Result<Self, BoxError> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/js/presence_observers.mjs");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg(format!("ws://{addr}/socket"))
            .arg(count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("node {script}: {error}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut observers = JsObservers {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        observers.expect_line("ready").await?;
        Ok(observers)
    }

    async fn expect_line(&mut self, want: &str) -> Result<(), BoxError> {
        match self.lines.next_line().await? {
            Some(line) if line == want => Ok(()),
            other => Err(format!("phoenix.js observers: {other:?}, not {want:?}").into()),
        }
    }

    async fn command(&mut self, line: &str) -> Result<(), BoxError> {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await?;
        Ok(self.stdin.flush().await?)
    }

    /// Every client's `Presence.list()` keys, sorted; the process then exits.
    async fn dump(mut self) -> Result<Vec<Vec<String>>, BoxError> {
        self.command("dump").await?;
        let line = self.lines.next_line().await?.ok_or("no dump")?;
        let _ = self.child.wait().await;
        Ok(serde_json::from_str(&line)?)
    }
}

/// `load presence`, see the module's docs.
pub(crate) async fn presence(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let conns = args.number_or("--conns", 10_000)?;
    let js = args.number_or("--js", 20)?;
    let pid = args.number_or("--server-pid", 0)? as u32;
    let timeout = args.float_or("--timeout", 600.0)?;
    args.finish()?;
    if conns > crate::channels_load::MAX_CONNS {
        return Err("--conns: too many for one process".into());
    }
    let expected: Vec<String> = (0..conns)
        .map(|i| format!("u{i}"))
        .chain((0..js).map(|i| format!("js{i}")))
        .collect();
    let mut observers = JsObservers::start(addr, js).await?;
    let server =
        |read: fn(u32) -> Result<f64, BoxError>| if pid == 0 { Ok(f64::NAN) } else { read(pid) };
    let (cpu_before, rss_before) = (server(cpu_seconds)?, server(rss_kib)?);

    // The storm.
    let settling = Arc::new(Settling::new(expected.len()));
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let params = |i: u64| json!({ "presence": true, "key": format!("u{i}") });
    let failed = join_all(conns, |_| addr, params, &settling, &stop, &mut tasks).await;
    let joined_ms = settling.base.elapsed().as_secs_f64() * 1e3;
    let deadline = settling.base + Duration::from_secs_f64(timeout);
    let light_settled = settle(&settling, conns - failed, deadline).await;
    observers
        .command(&format!("expect {}", expected.len()))
        .await?;
    let js_settled = tokio::time::timeout_at(deadline, observers.expect_line("settled"))
        .await
        .is_ok_and(|done| done.is_ok());
    let settle_ms = settling.base.elapsed().as_secs_f64() * 1e3;
    let light_ms = settling.last_settled_ns.load(Ordering::Relaxed) as f64 / 1e6;
    let cpu = server(cpu_seconds)? - cpu_before;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_per_member = (server(rss_kib)? - rss_before) / conns.max(1) as f64;

    // The light lists first (their connections stay open), then phoenix.js's: its clients
    // leave as they exit.
    let ending = final_lists(stop_tx, tasks, &expected).await;
    // Unsettled, the node process still waits for its lists: it is killed (on drop) instead.
    let js_lists = if js_settled {
        observers.dump().await?
    } else {
        Vec::new()
    };
    drop(ending.connections);
    let (equal, differ, broken) = (ending.equal, ending.differ, ending.broken);
    let js_equal = lists_equal(&js_lists, &expected);
    Ok(json!({
        "server_cpu_s": cpu,
        "settle_ms": if light_settled && js_settled { settle_ms } else { f64::NAN },
        "light_settle_ms": light_ms,
        "joined_ms": joined_ms,
        "rss_per_member_kib": rss_per_member,
        "members": conns,
        "expected_keys": expected.len(),
        "light_lists_equal": equal,
        "light_lists_differ": differ,
        "js_lists_equal": js_equal,
        "js_clients": js,
        "settled": light_settled && js_settled,
        "failed_conns": failed,
        "broken_conns": broken,
    }))
}

/// How many of the phoenix.js clients' lists (sorted) are exactly `expected`; the first that
/// is not is described on stderr.
fn lists_equal(lists: &[Vec<String>], expected: &[String]) -> usize {
    let mut sorted = expected.to_vec();
    sorted.sort();
    if let Some(list) = lists.iter().find(|list| **list != sorted) {
        let missing: Vec<_> = sorted
            .iter()
            .filter(|key| !list.contains(key))
            .take(5)
            .collect();
        let extra: Vec<_> = list
            .iter()
            .filter(|key| !sorted.contains(key))
            .take(5)
            .collect();
        eprintln!(
            "presence: a phoenix.js list differs: {} keys, missing {missing:?}, extra {extra:?}",
            list.len()
        );
    }
    lists.iter().filter(|list| **list == sorted).count()
}

/// `load presence-cluster`, see the module's docs.
pub(crate) async fn cluster(addr: SocketAddr, args: &mut Args) -> Result<Value, BoxError> {
    let addr2: SocketAddr = args.value("--addr2")?.parse()?;
    let sockets = args.number_or("--sockets", 500)?;
    let keys = args.number_or("--keys", 100)?;
    let observers = args.number_or("--observers", 20)?;
    let pids = args.string_or("--server-pids", "");
    let timeout = args.float_or("--timeout", 600.0)?;
    args.finish()?;
    if !addr2.ip().is_loopback() {
        return Err("the load generator only targets loopback addresses".into());
    }
    let pids: Vec<u32> = pids.split(',').filter_map(|pid| pid.parse().ok()).collect();
    let cpu = || {
        pids.iter()
            .map(|&pid| cpu_seconds(pid).unwrap_or(f64::NAN))
            .sum::<f64>()
    };
    let expected: Vec<String> = (0..sockets)
        .flat_map(|i| (0..keys).map(move |k| format!("s{i}-{k}")))
        .collect();
    let node = move |i: u64| if i % 2 == 0 { addr } else { addr2 };

    let settling = Arc::new(Settling::new(expected.len()));
    let (stop_tx, stop) = watch::channel(false);
    let mut watchers = JoinSet::new();
    let observe = |_: u64| json!({ "presence": true });
    let observers_failed =
        join_all(observers, node, observe, &settling, &stop, &mut watchers).await;
    let cpu_before = cpu();
    let storm_ms = settling.base.elapsed().as_secs_f64() * 1e3;
    // The trackers: light clients too (a socket that stops reading is a slow consumer), but
    // only the observers' lists are checked.
    let never = Arc::new(Settling::new(usize::MAX));
    let mut trackers = JoinSet::new();
    let track = |i: u64| json!({ "presence": true, "prefix": format!("s{i}-"), "count": keys });
    let tracker_addr = move |i: u64| node(i + 1);
    let trackers_failed =
        join_all(sockets, tracker_addr, track, &never, &stop, &mut trackers).await;
    let deadline = settling.base + Duration::from_secs_f64(timeout);
    let settled = settle(&settling, observers - observers_failed, deadline).await;
    let settle_ms = settling.last_settled_ns.load(Ordering::Relaxed) as f64 / 1e6 - storm_ms;
    let cpu = cpu() - cpu_before;
    let ending = final_lists(stop_tx, watchers, &expected).await;
    let (equal, differ, broken) = (ending.equal, ending.differ, ending.broken);
    trackers.abort_all();
    Ok(json!({
        "settle_ms": if settled { settle_ms } else { f64::NAN },
        "servers_cpu_s": cpu,
        "presences": expected.len(),
        "observer_lists_equal": equal,
        "observer_lists_differ": differ,
        "settled": settled,
        "failed_conns": observers_failed + trackers_failed,
        "broken_conns": broken,
    }))
}
