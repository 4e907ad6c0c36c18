//! The channel scenarios of `all` (issue 16): a broadcast to one room of N members against
//! uWebSockets' `publish` (`fanout-channels`), a presence join storm (`presence`), and presence
//! across two nodes over Redis (`presence-cluster`). Each runs its servers and one load process
//! (`channels_load.rs`, `presence_load.rs`) per measurement.

use crate::{
    processes::{Launcher, ServerProcess, load},
    results::{Results, group_thousands},
    servers::Kind,
};
use serde_json::Value;
use std::{error::Error, path::PathBuf, process::Command};

type BoxError = Box<dyn Error + Send + Sync>;

/// The sizes of the channel scenarios.
pub(crate) struct ScalePlan {
    pub(crate) fanout_members: Vec<u64>,
    pub(crate) broadcasts: u64,
    /// Payload bytes of each broadcast, the same for websock and uWebSockets.
    pub(crate) payload: u64,
    pub(crate) presence_members: u64,
    pub(crate) presence_js: u64,
    pub(crate) cluster_sockets: u64,
    pub(crate) cluster_keys: u64,
    pub(crate) cluster_observers: u64,
}

impl ScalePlan {
    pub(crate) fn new(smoke: bool) -> Self {
        if smoke {
            ScalePlan {
                fanout_members: vec![50],
                broadcasts: 2,
                payload: 20,
                presence_members: 50,
                presence_js: 2,
                cluster_sockets: 10,
                cluster_keys: 5,
                cluster_observers: 4,
            }
        } else {
            ScalePlan {
                fanout_members: vec![1_000, 5_000, 10_000],
                broadcasts: 7,
                payload: 20,
                presence_members: 10_000,
                presence_js: 20,
                cluster_sockets: 500,
                cluster_keys: 100,
                cluster_observers: 20,
            }
        }
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|&arg| arg.to_owned()).collect()
}

fn number(result: &Value, key: &str) -> f64 {
    result[key].as_f64().unwrap_or(f64::NAN)
}

/// One broadcast to N members of one room, websock (phoenix V2 channel, presence off) against
/// uWebSockets' `publish` when `uws` (its binaries are built).
pub(crate) fn fanout_channels(
    launcher: &Launcher,
    plan: &ScalePlan,
    uws: bool,
    results: &mut Results,
    notes: &mut Vec<String>,
) -> Result<(), BoxError> {
    let kinds: &[Kind] = if uws {
        &[Kind::Websock, Kind::Uws]
    } else {
        &[Kind::Websock]
    };
    for &members in &plan.fanout_members {
        for &kind in kinds {
            let (server, protocol) = match kind {
                Kind::Uws => (
                    ServerProcess::start_with(launcher, "uws-pubsub", &[])?,
                    "uws",
                ),
                _ => (ServerProcess::start(launcher, Kind::Websock)?, "phoenix"),
            };
            let result = load(
                launcher,
                &[
                    strings(&["load", "fanout-channels", "--addr", &server.addr]),
                    strings(&["--protocol", protocol, "--conns", &members.to_string()]),
                    strings(&["--size", &plan.payload.to_string()]),
                    strings(&["--broadcasts", &plan.broadcasts.to_string()]),
                ]
                .concat(),
            )?;
            crate::suite::check(notes, kind, "channel fan-out", &result);
            if result["complete"] != true {
                notes.push(format!(
                    "channel fan-out to {members} / {}: not every member got every broadcast: {}",
                    kind.name(),
                    result["received"]
                ));
            }
            let label = format!(
                "channel fan-out to {} in one room, {} B (median of {}, until the last has it)",
                group_thousands(members as f64),
                plan.payload,
                plan.broadcasts
            );
            results.record(&label, "ms", false, kind, number(&result, "fanout_ms"));
        }
    }
    Ok(())
}

/// The join storm with presence tracking, websock only: server CPU, time to settle, RSS per
/// member; the lists checked by the load generator.
pub(crate) fn presence(
    launcher: &Launcher,
    plan: &ScalePlan,
    results: &mut Results,
    notes: &mut Vec<String>,
) -> Result<(), BoxError> {
    let kind = Kind::Websock;
    let server = ServerProcess::start(launcher, kind)?;
    let result = load(
        launcher,
        &[
            strings(&["load", "presence", "--addr", &server.addr]),
            strings(&["--conns", &plan.presence_members.to_string()]),
            strings(&["--js", &plan.presence_js.to_string()]),
            strings(&["--server-pid", &server.pid().to_string()]),
        ]
        .concat(),
    )?;
    crate::suite::check(notes, kind, "presence", &result);
    check_lists(
        notes,
        "presence",
        &result,
        "light_lists_equal",
        plan.presence_members,
    );
    check_lists(
        notes,
        "presence (phoenix.js)",
        &result,
        "js_lists_equal",
        plan.presence_js,
    );
    let members = group_thousands(plan.presence_members as f64);
    let label = format!("presence: {members} join one room, server CPU");
    results.record(&label, "s", false, kind, number(&result, "server_cpu_s"));
    let label = format!("presence: {members} join one room, until every list has all");
    results.record(&label, "ms", false, kind, number(&result, "settle_ms"));
    let label = format!("presence: RSS per member after {members} joined");
    results.record(
        &label,
        "KiB",
        false,
        kind,
        number(&result, "rss_per_member_kib"),
    );
    Ok(())
}

fn check_lists(notes: &mut Vec<String>, what: &str, result: &Value, key: &str, want: u64) {
    let equal = result[key].as_u64().unwrap_or(0);
    if equal != want {
        notes.push(format!(
            "{what}: {equal} of {want} lists ended equal to the expected keys ({result})"
        ));
    }
}

/// A private redis-server (scripts/redis.sh), stopped when dropped.
struct Redis {
    script: PathBuf,
    dir: PathBuf,
    port: String,
}

impl Redis {
    fn start() -> Result<Self, BoxError> {
        let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/redis.sh"));
        let dir = std::env::temp_dir().join(format!("websock-bench-redis-{}", std::process::id()));
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&dir)
            .output()?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("{} start failed: {stderr}", script.display()).into());
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let port = stdout.lines().last().unwrap_or("").trim().to_owned();
        Ok(Redis { script, dir, port })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Presence across two websock nodes over one Redis: many keys per socket, observers on both.
pub(crate) fn presence_cluster(
    launcher: &Launcher,
    plan: &ScalePlan,
    results: &mut Results,
    notes: &mut Vec<String>,
) -> Result<(), BoxError> {
    let kind = Kind::Websock;
    let redis = Redis::start()?;
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let options = strings(&["--redis", &url]);
    let node_a = ServerProcess::start_with(launcher, kind.name(), &options)?;
    let node_b = ServerProcess::start_with(launcher, kind.name(), &options)?;
    let pids = format!("{},{}", node_a.pid(), node_b.pid());
    let result = load(
        launcher,
        &[
            strings(&["load", "presence-cluster", "--addr", &node_a.addr]),
            strings(&["--addr2", &node_b.addr, "--server-pids", &pids]),
            strings(&["--sockets", &plan.cluster_sockets.to_string()]),
            strings(&["--keys", &plan.cluster_keys.to_string()]),
            strings(&["--observers", &plan.cluster_observers.to_string()]),
        ]
        .concat(),
    )?;
    crate::suite::check(notes, kind, "presence, two nodes", &result);
    let key = "observer_lists_equal";
    check_lists(
        notes,
        "presence, two nodes",
        &result,
        key,
        plan.cluster_observers,
    );
    let presences = group_thousands((plan.cluster_sockets * plan.cluster_keys) as f64);
    let shape = format!(
        "{presences} presences on 2 nodes over Redis ({} sockets)",
        plan.cluster_sockets
    );
    let label = format!("presence: {shape}, until every observer has all");
    results.record(&label, "ms", false, kind, number(&result, "settle_ms"));
    let label = format!("presence: {shape}, both servers' CPU");
    results.record(&label, "s", false, kind, number(&result, "servers_cpu_s"));
    drop((node_a, node_b));
    drop(redis);
    Ok(())
}
