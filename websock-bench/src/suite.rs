//! `websock-bench all`: every scenario against every server, each server and each load
//! generator its own process (this binary, re-executed), servers pinned to core 0 and load to
//! core 1, the servers alternated, each scenario repeated; one table at the end.

use crate::{
    args::Args,
    processes::{IdleClients, Launcher, ServerProcess, load},
    results::{Results, group_thousands},
    scale_suite::{self, ScalePlan},
    servers::Kind,
};
use serde_json::Value;
use std::{
    error::Error,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

type BoxError = Box<dyn Error + Send + Sync>;

/// The scenarios of `all` without `--only`.
const DEFAULT_SCENARIOS: &str =
    "throughput,latency,memory,connrate,fanout,deflate,fanout-channels,presence,presence-cluster";

/// The sizes of every scenario; `--smoke` makes them tiny.
struct Plan {
    reps: usize,
    /// (label, message bytes, connections, window)
    throughput: Vec<(&'static str, u64, u64, u64)>,
    throughput_secs: f64,
    latency_conns: u64,
    latency_rate: u64,
    latency_secs: f64,
    memory_steps: Vec<u64>,
    connrate_secs: f64,
    fanout_conns: u64,
    /// permessage-deflate echoes: (label, JSON bytes, connections)
    deflate_echo: Vec<(&'static str, u64, u64)>,
    deflate_secs: f64,
    scale: ScalePlan,
    /// The servers of the echo scenarios, in the table's order.
    servers: Vec<Kind>,
    scenarios: Vec<String>,
}

impl Plan {
    fn new(smoke: bool, args: &mut Args) -> Result<Self, BoxError> {
        let reps = args.number_or("--reps", if smoke { 1 } else { 5 })? as usize;
        let scenarios = args
            .string_or("--only", DEFAULT_SCENARIOS)
            .split(',')
            .map(str::to_owned)
            .collect();
        // uWebSockets is a C++ build: not in the smoke pass unless asked for.
        let default_servers = if smoke {
            "raw,websock,axum,fastwebsockets"
        } else {
            "raw,websock,axum,fastwebsockets,uws"
        };
        let servers = args
            .string_or("--servers", default_servers)
            .split(',')
            .map(|name| Kind::parse(name).ok_or_else(|| format!("--servers: no server {name:?}")))
            .collect::<Result<Vec<_>, _>>()?;
        if servers.is_empty() {
            return Err("--servers: at least one".into());
        }
        let scale = ScalePlan::new(smoke);
        Ok(if smoke {
            Plan {
                reps,
                throughput: vec![
                    ("20 B", 20, 10, 4),
                    ("1 KiB", 1024, 10, 4),
                    ("64 KiB", 64 << 10, 4, 2),
                ],
                throughput_secs: 0.5,
                latency_conns: 50,
                latency_rate: 1000,
                latency_secs: 0.5,
                memory_steps: vec![200, 500],
                connrate_secs: 0.5,
                fanout_conns: 500,
                deflate_echo: vec![("1 KiB", 1024, 4), ("64 KiB", 64 << 10, 2)],
                deflate_secs: 0.5,
                scale,
                servers,
                scenarios,
            }
        } else {
            Plan {
                reps,
                throughput: vec![
                    ("20 B", 20, 100, 16),
                    ("1 KiB", 1024, 100, 16),
                    ("64 KiB", 64 << 10, 20, 4),
                ],
                throughput_secs: 3.0,
                latency_conns: 1000,
                latency_rate: 20_000,
                latency_secs: 5.0,
                memory_steps: vec![5_000, 18_000],
                connrate_secs: 3.0,
                fanout_conns: 10_000,
                deflate_echo: vec![("1 KiB", 1024, 20), ("64 KiB", 64 << 10, 4)],
                deflate_secs: 3.0,
                scale,
                servers,
                scenarios,
            }
        })
    }

    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

/// What this machine is, for the report.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|model| model.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug build (numbers are not comparable)"
    } else {
        "release build"
    };
    format!("{cores} cores, {cpu}, Linux {}, {profile}", kernel.trim())
}

/// The 1-minute load average: other work on the machine is the first suspect for noisy figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn taskset_works() -> bool {
    Command::new("taskset")
        .args(["-c", "1", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&arg| arg.to_owned()).collect()
}

/// `websock-bench all [--smoke] [--reps N] [--only a,b] [--json FILE] [--unpinned]`.
pub(crate) fn run(args: &mut Args) -> Result<(), BoxError> {
    let smoke = args.flag("--smoke");
    let unpinned = args.flag("--unpinned");
    let mut plan = Plan::new(smoke, args)?;
    let json_path = args.string_or("--json", "");
    args.finish()?;

    let cores = thread::available_parallelism().map_or(1, usize::from);
    let pinned = !unpinned && cores >= 2 && taskset_works();
    let launcher = Launcher {
        exe: std::env::current_exe()?,
        pinned,
    };
    let started = Instant::now();
    let load_at_start = load_average();
    eprintln!("machine: {}", machine());
    if pinned {
        eprintln!("servers pinned to core 0 (taskset -c 0), load generators to core 1");
    } else {
        eprintln!(
            "not pinned (no taskset, one core, or --unpinned): servers and load share the cores"
        );
    }

    let mut results = Results::default();
    let mut notes = Vec::new();
    if plan.servers.contains(&Kind::Uws) {
        if let Err(why) = crate::uws::build() {
            eprintln!("uWebSockets skipped: {why}");
            notes.push(format!("uWebSockets skipped: {why}"));
            plan.servers.retain(|&kind| kind != Kind::Uws);
        }
    }
    for rep in 0..plan.reps {
        // Alternate which server goes first.
        let mut order = plan.servers.clone();
        let first = rep % order.len();
        order.rotate_left(first);
        eprintln!(
            "repetition {}/{} (load average {})",
            rep + 1,
            plan.reps,
            load_average()
        );

        if plan.runs("throughput") {
            for &(label, size, conns, window) in &plan.throughput {
                for kind in order.iter().copied() {
                    let server = ServerProcess::start(&launcher, kind)?;
                    let result = load(
                        &launcher,
                        &[
                            strings(&["load", "throughput", "--addr", &server.addr]),
                            strings(&["--size", &size.to_string(), "--conns", &conns.to_string()]),
                            strings(&["--window", &window.to_string()]),
                            strings(&["--secs", &plan.throughput_secs.to_string()]),
                            strings(&["--warmup", if smoke { "0.2" } else { "0.5" }]),
                        ]
                        .concat(),
                    )?;
                    check(&mut notes, kind, "throughput", &result);
                    let label = format!("throughput {label} ({conns} conns × {window} in flight)");
                    results.record(
                        &label,
                        "msg/s",
                        true,
                        kind,
                        number(&result, "msgs_per_sec")?,
                    );
                }
            }
        }

        if plan.runs("latency") {
            for kind in order.iter().copied() {
                let server = ServerProcess::start(&launcher, kind)?;
                let result = load(
                    &launcher,
                    &[
                        strings(&["load", "latency", "--addr", &server.addr]),
                        strings(&["--conns", &plan.latency_conns.to_string()]),
                        strings(&["--rate", &plan.latency_rate.to_string()]),
                        strings(&["--secs", &plan.latency_secs.to_string()]),
                        strings(&["--warmup", if smoke { "0.2" } else { "1" }]),
                    ]
                    .concat(),
                )?;
                check(&mut notes, kind, "latency", &result);
                let shape = format!(
                    "{} conns, {} msg/s",
                    group_thousands(plan.latency_conns as f64),
                    group_thousands(plan.latency_rate as f64)
                );
                for (key, name) in [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")] {
                    let label = format!("latency {name} ({shape})");
                    results.record(&label, "µs", false, kind, number(&result, key)?);
                }
            }
        }

        if plan.runs("memory") {
            for kind in order.iter().copied() {
                let steps = &plan.memory_steps;
                for (count, per_conn) in memory(&launcher, kind, "idle", steps, &mut notes)? {
                    let label =
                        format!("memory per idle conn at {}", group_thousands(count as f64));
                    results.record(&label, "KiB RSS", false, kind, per_conn);
                }
            }
        }

        if plan.runs("connrate") {
            for kind in order.iter().copied() {
                let server = ServerProcess::start(&launcher, kind)?;
                let result = load(
                    &launcher,
                    &[
                        strings(&["load", "connrate", "--addr", &server.addr]),
                        strings(&["--secs", &plan.connrate_secs.to_string()]),
                        strings(&["--warmup", if smoke { "0.2" } else { "0.5" }]),
                    ]
                    .concat(),
                )?;
                check(&mut notes, kind, "connection rate", &result);
                let label = "connection rate (handshake + echo + close)";
                results.record(
                    label,
                    "conn/s",
                    true,
                    kind,
                    number(&result, "conns_per_sec")?,
                );
            }
        }

        if plan.runs("http2") {
            // websock only: echo over HTTP/2 streams (RFC 8441), all on one TCP connection,
            // against the same number of HTTP/1.1 connections, on one server process.
            let server = ServerProcess::start(&launcher, Kind::Websock)?;
            for &(label, size, conns, window) in &plan.throughput {
                for http2 in [0, conns] {
                    let result = load(
                        &launcher,
                        &[
                            strings(&["load", "throughput", "--addr", &server.addr]),
                            strings(&["--size", &size.to_string(), "--conns", &conns.to_string()]),
                            strings(&["--window", &window.to_string()]),
                            strings(&["--secs", &plan.throughput_secs.to_string()]),
                            strings(&["--warmup", if smoke { "0.2" } else { "0.5" }]),
                            strings(&["--http2", &http2.to_string()]),
                        ]
                        .concat(),
                    )?;
                    check(&mut notes, Kind::Websock, "http2", &result);
                    let label = if http2 > 0 {
                        format!("echo {label} over HTTP/2 ({conns} streams on 1 conn × {window})")
                    } else {
                        format!("echo {label} over HTTP/1.1 ({conns} conns × {window})")
                    };
                    let rate = number(&result, "msgs_per_sec")?;
                    results.record(&label, "msg/s", true, Kind::Websock, rate);
                }
            }
        }

        if plan.runs("fanout") {
            // axum has no fan-out route: it would be the raw loop again, behind axum's types.
            let fanout_servers = order.iter().copied();
            for kind in fanout_servers.filter(|kind| matches!(kind, Kind::Websock | Kind::Raw)) {
                let server = ServerProcess::start(&launcher, kind)?;
                let result = load(
                    &launcher,
                    &[
                        strings(&["load", "fanout", "--addr", &server.addr]),
                        strings(&["--conns", &plan.fanout_conns.to_string()]),
                    ]
                    .concat(),
                )?;
                check(&mut notes, kind, "fan-out", &result);
                if result["received"].as_u64() != Some(plan.fanout_conns) {
                    notes.push(format!("fan-out: only {} received it", result["received"]));
                }
                let label = format!(
                    "fan-out to {} (until the last has it)",
                    group_thousands(plan.fanout_conns as f64)
                );
                results.record(&label, "ms", false, kind, number(&result, "fanout_ms")?);
                let label = "fan-out: server's last delivery ran";
                let at = number(&result, "server_last_callback_ms")?;
                results.record(label, "ms", false, kind, at);
                let label = "fan-out: server enqueued all (`try_send` loop)";
                let at = number(&result, "server_enqueued_ms")?;
                results.record(label, "ms", false, kind, at);
            }
        }

        if plan.runs("deflate") {
            deflate(&launcher, &plan, smoke, &mut results, &mut notes)?;
        }

        let uws = plan.servers.contains(&Kind::Uws);
        if plan.runs("fanout-channels") {
            let scale = &plan.scale;
            scale_suite::fanout_channels(&launcher, scale, uws, &mut results, &mut notes)?;
        }
        if plan.runs("presence") {
            scale_suite::presence(&launcher, &plan.scale, &mut results, &mut notes)?;
        }
        if plan.runs("presence-cluster") {
            scale_suite::presence_cluster(&launcher, &plan.scale, &mut results, &mut notes)?;
        }
    }

    let mut stdout = std::io::stdout();
    writeln!(stdout, "\nmachine: {}", machine())?;
    writeln!(
        stdout,
        "pinning: {}",
        if pinned {
            "servers on core 0, load on core 1 (taskset)"
        } else {
            "none (taskset missing, one core, or --unpinned)"
        }
    )?;
    writeln!(
        stdout,
        "{} repetition(s), servers alternated; cells are median (min–max); ratios are per repetition\n",
        plan.reps
    )?;
    write!(stdout, "{}", results.table())?;
    for note in &notes {
        writeln!(stdout, "note: {note}")?;
    }
    writeln!(
        stdout,
        "\ntotal time: {:.0} s; 1-minute load average {load_at_start} at the start, {} at the end",
        started.elapsed().as_secs_f64(),
        load_average()
    )?;
    if !json_path.is_empty() {
        std::fs::write(
            &json_path,
            serde_json::to_string_pretty(&results.to_json())?,
        )?;
    }
    Ok(())
}

fn number(result: &Value, key: &str) -> Result<f64, BoxError> {
    result[key]
        .as_f64()
        .ok_or_else(|| format!("no {key:?} in {result}").into())
}

/// Notes failed or broken connections: figures from a run that lost connections are suspect.
pub(crate) fn check(notes: &mut Vec<String>, kind: Kind, scenario: &str, result: &Value) {
    for key in ["failed_conns", "broken_conns"] {
        if let Some(count) = result[key].as_u64().filter(|&count| count > 0) {
            notes.push(format!("{scenario} / {}: {count} {key}", kind.name()));
        }
    }
}

/// Opens idle connections in steps (each step's count is the total open), in client processes
/// of at most 4,500 connections each (the open-files limit is per process); returns the server's
/// RSS growth per connection at each step, in KiB.
fn memory(
    launcher: &Launcher,
    kind: Kind,
    scenario: &str,
    steps: &[u64],
    notes: &mut Vec<String>,
) -> Result<Vec<(u64, f64)>, BoxError> {
    const PER_PROCESS: u64 = 4_500;
    let server = ServerProcess::start(launcher, kind)?;
    thread::sleep(Duration::from_millis(300));
    let base = server.rss_kib()?;
    let mut clients = IdleClients {
        children: Vec::new(),
        stdouts: Vec::new(),
    };
    let mut open = 0u64;
    let mut requested = 0u64;
    let mut figures = Vec::new();
    for &target in steps {
        let first_new = clients.stdouts.len();
        while requested < target {
            let count = (target - requested).min(PER_PROCESS);
            let args = [
                strings(&["load", scenario, "--addr", &server.addr]),
                strings(&["--conns", &count.to_string()]),
                strings(&["--first-index", &requested.to_string()]),
            ]
            .concat();
            let mut child = launcher
                .command(1, &args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            let stdout = child.stdout.take().ok_or("no stdout")?;
            clients.stdouts.push(BufReader::new(stdout));
            let stdin = child.stdin.take();
            clients.children.push((child, stdin));
            requested += count;
        }
        for stdout in &mut clients.stdouts[first_new..] {
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            let ready: u64 = line
                .trim()
                .strip_prefix("ready ")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("idle client did not get ready: {line:?}"))?;
            open += ready;
        }
        if open < target {
            notes.push(format!(
                "memory / {}: {open} of {target} connections opened",
                kind.name()
            ));
        }
        // Let the server settle: handshakes done, their transient buffers freed.
        thread::sleep(Duration::from_secs(1));
        let rss = server.rss_kib()?;
        figures.push((target, rss.saturating_sub(base) as f64 / open.max(1) as f64));
    }
    drop(clients);
    drop(server);
    Ok(figures)
}

/// permessage-deflate (issue 15), websock only: JSON echoes compressed and not (the same route,
/// with and without the client's offer) and their bytes on the wire, memory per idle
/// compressing connection, and a broadcast compressed once against once per connection.
fn deflate(
    launcher: &Launcher,
    plan: &Plan,
    smoke: bool,
    results: &mut Results,
    notes: &mut Vec<String>,
) -> Result<(), BoxError> {
    let kind = Kind::Websock;
    for &(label, size, conns) in &plan.deflate_echo {
        for plain in [false, true] {
            let server = ServerProcess::start(launcher, kind)?;
            let mut args = [
                strings(&["load", "deflate-echo", "--addr", &server.addr]),
                strings(&["--size", &size.to_string(), "--conns", &conns.to_string()]),
                strings(&["--secs", &plan.deflate_secs.to_string()]),
                strings(&["--warmup", if smoke { "0.2" } else { "0.5" }]),
            ]
            .concat();
            if plain {
                args.push("--plain".to_owned());
            }
            let result = load(launcher, &args)?;
            check(notes, kind, "deflate echo", &result);
            let how = if plain { "uncompressed" } else { "compressed" };
            let shape = format!("{label} JSON ({conns} conns × 1 in flight), {how}");
            let rate = number(&result, "messages_per_sec")?;
            results.record(&format!("deflate echo {shape}"), "msg/s", true, kind, rate);
            let wire = number(&result, "wire_bytes_to_client_per_message")?;
            results.record(
                &format!("wire bytes per echo {shape}"),
                "B",
                false,
                kind,
                wire,
            );
        }
    }
    for (count, per_conn) in memory(launcher, kind, "deflate-idle", &plan.memory_steps, notes)? {
        let label = format!(
            "memory per idle compressing conn at {}",
            group_thousands(count as f64)
        );
        results.record(&label, "KiB RSS", false, kind, per_conn);
    }
    for unshared in [false, true] {
        let server = ServerProcess::start(launcher, kind)?;
        let mut args = [
            strings(&["load", "deflate-fanout", "--addr", &server.addr]),
            strings(&["--conns", &plan.fanout_conns.to_string()]),
        ]
        .concat();
        if unshared {
            args.push("--unshared".to_owned());
        }
        let result = load(launcher, &args)?;
        check(notes, kind, "deflate fan-out", &result);
        let how = if unshared {
            "compressed per connection"
        } else {
            "compressed once"
        };
        let label = format!(
            "deflate fan-out of 16 KiB JSON to {}, {how}",
            group_thousands(plan.fanout_conns as f64)
        );
        results.record(&label, "ms", false, kind, number(&result, "fanout_ms")?);
    }
    Ok(())
}
