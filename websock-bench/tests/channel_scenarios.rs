//! The channel scenarios of `websock-bench all` end as they must, at a small size, against the
//! real bench server: every member of the room gets every broadcast, and after a presence join
//! storm every list (light clients applying phoenix.js's sync, and phoenix.js itself through
//! node) is exactly the expected keys, on one node and on two over Redis. No timing is
//! asserted: the figures are benchmarks.
//!
//! Needs `node` with the repository's `node_modules` (phoenix, ws) and `redis-server` on PATH
//! (scripts/test.sh installs them); fails, never skips, without them.

use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

const BENCH: &str = env!("CARGO_BIN_EXE_websock-bench");

/// `websock-bench server websock` on a free port; killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// With `options` after the address: `--redis URL`.
    fn start_with(options: &[&str]) -> Self {
        let mut child = Command::new(BENCH)
            .args(["server", "websock", "--addr", "127.0.0.1:0"])
            .args(options)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the bench binary starts");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("no address: {line:?}"))
            .to_owned();
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `websock-bench load <args>` and returns its JSON result.
fn load(args: &[&str]) -> Value {
    let output = Command::new(BENCH)
        .arg("load")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success(), "load {args:?}: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a result")).unwrap()
}

#[test]
fn every_member_gets_every_broadcast() {
    let server = Server::start();
    let result = load(&[
        "fanout-channels",
        "--addr",
        &server.addr,
        "--conns",
        "30",
        "--broadcasts",
        "3",
        "--size",
        "64",
    ]);
    assert_eq!(result["complete"], true, "{result}");
    // The warm-up and the three timed broadcasts, each to all 30.
    assert_eq!(
        result["received"],
        serde_json::json!([30, 30, 30, 30]),
        "{result}"
    );
    assert_eq!(result["samples_ms"].as_array().map(Vec::len), Some(3));
    assert_eq!(result["failed_conns"], 0);
}

#[test]
fn every_presence_list_ends_equal() {
    let server = Server::start();
    let pid = server.child.id().to_string();
    let result = load(&[
        "presence",
        "--addr",
        &server.addr,
        "--conns",
        "40",
        "--js",
        "3",
        "--server-pid",
        &pid,
        "--timeout",
        "60",
    ]);
    assert_eq!(result["settled"], true, "{result}");
    assert_eq!(result["expected_keys"], 43);
    assert_eq!(result["light_lists_equal"], 40, "{result}");
    assert_eq!(result["light_lists_differ"], 0, "{result}");
    assert_eq!(result["js_lists_equal"], 3, "{result}");
    assert!(
        result["server_cpu_s"]
            .as_f64()
            .is_some_and(|cpu| cpu >= 0.0),
        "{result}"
    );
}

/// A private redis-server on a free port; killed when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/redis.sh install)");
        // Killed and waited for by `drop`, whatever happens next.
        let redis = Redis { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return redis;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("redis-server did not start on port {port}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn observers_on_two_nodes_end_with_every_presence() {
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let node_a = Server::start_with(&["--redis", &url]);
    let node_b = Server::start_with(&["--redis", &url]);
    let pids = format!("{},{}", node_a.child.id(), node_b.child.id());
    let result = load(&[
        "presence-cluster",
        "--addr",
        &node_a.addr,
        "--addr2",
        &node_b.addr,
        "--sockets",
        "12",
        "--keys",
        "25",
        "--observers",
        "4",
        "--server-pids",
        &pids,
        "--timeout",
        "60",
    ]);
    assert_eq!(result["settled"], true, "{result}");
    assert_eq!(result["presences"], 300);
    assert_eq!(result["observer_lists_equal"], 4, "{result}");
    assert_eq!(result["failed_conns"], 0, "{result}");
}
