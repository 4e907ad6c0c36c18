//! `websock-bench all`: every scenario against every server, each server and each load
//! generator its own process (this binary, re-executed), servers pinned to core 0 and load to
//! core 1, the servers alternated, each scenario repeated; one table at the end.

use crate::{args::Args, servers::Kind};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    error::Error,
    fmt::Write as _,
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

type BoxError = Box<dyn Error + Send + Sync>;

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
    scenarios: Vec<String>,
}

impl Plan {
    fn new(smoke: bool, args: &mut Args) -> Result<Self, BoxError> {
        let reps = args.number_or("--reps", if smoke { 1 } else { 5 })? as usize;
        let scenarios = args
            .string_or(
                "--only",
                "throughput,latency,memory,connrate,fanout,deflate",
            )
            .split(',')
            .map(str::to_owned)
            .collect();
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
                scenarios,
            }
        })
    }

    fn runs(&self, scenario: &str) -> bool {
        self.scenarios.iter().any(|s| s == scenario)
    }
}

/// How processes are started: through `sh` to raise the soft open-files limit to the hard one,
/// and through `taskset` when there is one and two cores or more.
struct Launcher {
    exe: PathBuf,
    pinned: bool,
}

impl Launcher {
    fn command(&self, core: u32, args: &[String]) -> Command {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(r#"ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@""#)
            .arg("sh");
        if self.pinned {
            command.args(["taskset", "-c", &core.to_string()]);
        }
        command.arg(&self.exe).args(args);
        command
    }
}

/// A running echo server; killed when dropped.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(launcher: &Launcher, kind: Kind) -> Result<Self, BoxError> {
        let args = ["server", kind.name(), "--addr", "127.0.0.1:0"].map(str::to_owned);
        let mut child = launcher
            .command(0, &args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("server {} did not start: {line:?}", kind.name()).into());
        };
        Ok(Self {
            addr: addr.to_owned(),
            child,
        })
    }

    /// Resident memory in KiB, from /proc.
    fn rss_kib(&self) -> Result<u64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one `load` process to its end and returns its JSON result.
fn load(launcher: &Launcher, args: &[String]) -> Result<Value, BoxError> {
    let output = launcher
        .command(1, args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("load {args:?} failed: {}", output.status).into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().ok_or("load printed nothing")?;
    Ok(serde_json::from_str(last)?)
}

/// Idle clients holding connections open until their stdin closes.
struct IdleClients {
    children: Vec<(Child, Option<ChildStdin>)>,
    /// Kept open until they exit, so their last line has somewhere to go.
    stdouts: Vec<BufReader<ChildStdout>>,
}

impl Drop for IdleClients {
    fn drop(&mut self) {
        for (_, stdin) in &mut self.children {
            drop(stdin.take());
        }
        for (child, _) in &mut self.children {
            let _ = child.wait();
        }
    }
}

/// The results: for each row of the table, each server's samples, one per repetition.
#[derive(Default)]
struct Results {
    rows: Vec<Row>,
}

struct Row {
    label: String,
    unit: &'static str,
    higher_is_better: bool,
    samples: BTreeMap<&'static str, Vec<f64>>,
}

impl Results {
    fn record(
        &mut self,
        label: &str,
        unit: &'static str,
        higher_is_better: bool,
        kind: Kind,
        value: f64,
    ) {
        eprintln!("  {label:<34} {:<8} {value:>12.1} {unit}", kind.name());
        let row = match self.rows.iter().position(|row| row.label == label) {
            Some(index) => &mut self.rows[index],
            None => {
                self.rows.push(Row {
                    label: label.to_owned(),
                    unit,
                    higher_is_better,
                    samples: BTreeMap::new(),
                });
                self.rows.last_mut().expect("just pushed")
            }
        };
        row.samples.entry(kind.name()).or_default().push(value);
    }

    fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | unit | raw | websock | axum | websock / raw | axum / raw |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for row in &self.rows {
            let cell = |name: &str| match row.samples.get(name) {
                Some(samples) if !samples.is_empty() => spread(samples, 0),
                _ => "n/a".to_owned(),
            };
            let ratio = |name: &str| match (row.samples.get(name), row.samples.get("raw")) {
                (Some(ours), Some(raw)) if !ours.is_empty() && ours.len() == raw.len() => {
                    // Per repetition: each ratio compares two runs made back to back.
                    let ratios: Vec<f64> = ours.iter().zip(raw).map(|(a, b)| a / b).collect();
                    format!("{}×", spread(&ratios, 2))
                }
                _ => "n/a".to_owned(),
            };
            let better = if row.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            };
            let _ = writeln!(
                out,
                "| {} | {} ({better}) | {} | {} | {} | {} | {} |",
                row.label,
                row.unit,
                cell("raw"),
                cell("websock"),
                cell("axum"),
                ratio("websock"),
                ratio("axum"),
            );
        }
        out
    }

    fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| json!({ "scenario": row.label, "unit": row.unit, "samples": row.samples }))
                .collect(),
        )
    }
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `median (min–max)`, or just the value for one sample.
fn spread(samples: &[f64], decimals: usize) -> String {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let fmt = |value: f64| {
        if decimals == 0 && value >= 10_000.0 {
            group_thousands(value)
        } else if decimals == 0 && value < 100.0 {
            format!("{value:.1}")
        } else {
            format!("{value:.decimals$}")
        }
    };
    if samples.len() == 1 {
        fmt(samples[0])
    } else {
        format!("{} ({}–{})", fmt(median(samples)), fmt(min), fmt(max))
    }
}

fn group_thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    let plan = Plan::new(smoke, args)?;
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
    for rep in 0..plan.reps {
        // Alternate which server goes first.
        let mut order = Kind::ALL;
        order.rotate_left(rep % Kind::ALL.len());
        eprintln!(
            "repetition {}/{} (load average {})",
            rep + 1,
            plan.reps,
            load_average()
        );

        if plan.runs("throughput") {
            for &(label, size, conns, window) in &plan.throughput {
                for kind in order {
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
            for kind in order {
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
            for kind in order {
                let steps = &plan.memory_steps;
                for (count, per_conn) in memory(&launcher, kind, "idle", steps, &mut notes)? {
                    let label =
                        format!("memory per idle conn at {}", group_thousands(count as f64));
                    results.record(&label, "KiB RSS", false, kind, per_conn);
                }
            }
        }

        if plan.runs("connrate") {
            for kind in order {
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
            for kind in order.into_iter().filter(|kind| *kind != Kind::Axum) {
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
fn check(notes: &mut Vec<String>, kind: Kind, scenario: &str, result: &Value) {
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
