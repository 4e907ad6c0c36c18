//! The processes `all` runs: servers (this binary or uWebSockets, pinned to core 0) and load
//! generators (this binary, pinned to core 1).

use serde_json::Value;
use std::{
    error::Error,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

use crate::servers::Kind;

type BoxError = Box<dyn Error + Send + Sync>;

/// How processes are started: through `sh` to raise the soft open-files limit to the hard one,
/// and through `taskset` when there is one and two cores or more.
pub(crate) struct Launcher {
    pub(crate) exe: PathBuf,
    pub(crate) pinned: bool,
}

impl Launcher {
    pub(crate) fn command(&self, core: u32, args: &[String]) -> Command {
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

/// A running server; killed when dropped.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: String,
}

impl ServerProcess {
    /// `websock-bench server <kind>` on a free loopback port.
    pub(crate) fn start(launcher: &Launcher, kind: Kind) -> Result<Self, BoxError> {
        Self::start_with(launcher, kind.name(), &[])
    }

    /// `websock-bench server <name> <options>`: `uws-pubsub`, or websock with `--redis URL`.
    pub(crate) fn start_with(
        launcher: &Launcher,
        name: &str,
        options: &[String],
    ) -> Result<Self, BoxError> {
        let mut args = ["server", name, "--addr", "127.0.0.1:0"]
            .map(str::to_owned)
            .to_vec();
        args.extend_from_slice(options);
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
            return Err(format!("server {name} did not start: {line:?}").into());
        };
        Ok(Self {
            addr: addr.to_owned(),
            child,
        })
    }

    /// The process id (the server itself: `sh` and `taskset` exec it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB, from /proc.
    pub(crate) fn rss_kib(&self) -> Result<u64, BoxError> {
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
pub(crate) fn load(launcher: &Launcher, args: &[String]) -> Result<Value, BoxError> {
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
pub(crate) struct IdleClients {
    pub(crate) children: Vec<(Child, Option<ChildStdin>)>,
    /// Kept open until they exit, so their last line has somewhere to go.
    pub(crate) stdouts: Vec<BufReader<ChildStdout>>,
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

/// A process's CPU time (user + system) in seconds, from `/proc/PID/stat`; clock ticks are
/// taken as 100 per second (`getconf CLK_TCK` on Linux everywhere this runs).
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64, BoxError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count the fields after its `)`.
    let after = stat.rsplit_once(')').ok_or("no ) in /proc/PID/stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15, so 11 and 12 after the name and state.
    let ticks = |index: usize| -> Result<f64, BoxError> {
        Ok(fields
            .get(index)
            .ok_or("short /proc/PID/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}
