//! Load: 10,000 concurrent connections held for 30 s (`WEBSOCK_SOAK_SECS`) with periodic
//! messages, every message answered, then a graceful shutdown in which every connection gets its
//! close frame and every `terminate` runs. The open-files limit is 20,000 per process, so the
//! server and four client groups are separate processes (this test binary, re-run by role).
//! Loopback only; every loop is bounded and the test stops by itself.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{Message as WsMessage, protocol::WebSocketConfig};
use websock_runtime::Config;

const ROLE: &str = "WEBSOCK_SOAK_ROLE";
const CONNECTIONS: usize = 10_000;
const GROUPS: usize = 4;

fn hold() -> Duration {
    let secs = std::env::var("WEBSOCK_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

fn spawn_role(role: &str, test: &str, extra: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Reads the child's stdout until a line containing `marker`; returns the rest of that line.
fn line_with(child: &mut Child, marker: &str) -> String {
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child ended before printing {marker:?}"
        );
        if let Some(rest) = line.split(marker).nth(1) {
            return rest.trim().to_owned();
        }
    }
}

/// Server role: the probe server; once every connection is open it holds, shuts down
/// gracefully and prints how each connection ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_server() {
    if std::env::var(ROLE).as_deref() != Ok("server") {
        return;
    }
    // Drained as channel sockets are: the 10,000 closes spread over 5 s, within the deadline.
    let config = Config::default()
        .idle_timeout(Duration::from_secs(120))
        .drain(true);
    let mut server = TestServer::start_with(config, |s| s.max_connections(CONNECTIONS + 100)).await;
    println!("listening on {}", server.addr);
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.handle.metrics().active_connections < CONNECTIONS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("SOAK-OPEN {}", server.handle.metrics().active_connections);
    tokio::time::sleep(hold()).await;
    let metrics = server
        .handle
        .shutdown_and_wait(Duration::from_secs(60))
        .await;
    let mut shutdown = 0;
    let mut other = 0;
    while let Ok(event) = server.events.try_recv() {
        match event {
            Event::Terminated(reason) if reason == "shutdown" => shutdown += 1,
            Event::Terminated(_) => other += 1,
            _ => {}
        }
    }
    println!(
        "SOAK-ENDED shutdown={shutdown} other={other} unflushed={} active={}",
        metrics.unflushed_connections, metrics.active_connections
    );
}

/// Client role: `WEBSOCK_SOAK_N` connections, a message every 2 s each until the server's
/// close frame; prints what it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_clients() {
    if std::env::var(ROLE).as_deref() != Ok("clients") {
        return;
    }
    let addr = std::env::var("WEBSOCK_SOAK_ADDR").unwrap();
    let count: usize = std::env::var("WEBSOCK_SOAK_N").unwrap().parse().unwrap();
    let group: usize = std::env::var("WEBSOCK_SOAK_GROUP")
        .unwrap()
        .parse()
        .unwrap();
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut tasks = Vec::new();
    for i in 0..count {
        let url = format!("ws://{addr}/probe");
        tasks.push(tokio::spawn(async move {
            // A burst of 10,000 handshakes can overflow the listen backlog: retry like a client
            // would, a bounded number of times.
            let mut attempt = 0;
            let mut client = loop {
                let connect = tokio_tungstenite::connect_async_with_config(url.clone(), Some(config), true);
                match tokio::time::timeout(Duration::from_secs(20), connect).await {
                    Ok(Ok((client, _))) => break client,
                    _ if attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    }
                    Ok(Err(_)) => return Err("connect failed"),
                    Err(_) => return Err("connect timed out"),
                }
            };
            let mut answered = 0u64;
            let mut ticker = tokio::time::interval(Duration::from_millis(2000 + (i % 1000) as u64));
            let stop = Instant::now() + Duration::from_secs(300);
            loop {
                if Instant::now() > stop {
                    return Err("no close frame within 300 s");
                }
                tokio::select! {
                    _ = ticker.tick() => {
                        let text = format!("{group}-{i}-{answered}");
                        if client.send(WsMessage::text(format!("echo:{text}"))).await.is_err() {
                            // The close frame may already be on its way.
                            continue;
                        }
                        // The server's pings (every 30 s by default) may come before the answer.
                        let reply = loop {
                            match tokio::time::timeout(Duration::from_secs(30), client.next()).await {
                                Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => {}
                                reply => break reply,
                            }
                        };
                        match reply {
                            Ok(Some(Ok(WsMessage::Text(reply)))) if reply.as_str() == text => answered += 1,
                            Ok(Some(Ok(WsMessage::Close(Some(frame))))) => return Ok((answered, u16::from(frame.code))),
                            _ => return Err("wrong or missing answer"),
                        }
                    }
                    message = client.next() => match message {
                        Some(Ok(WsMessage::Close(Some(frame)))) => return Ok((answered, u16::from(frame.code))),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                        _ => return Err("unexpected frame or disconnect"),
                    },
                }
            }
        }));
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let (mut closed_1012, mut answered, mut failures) = (0, 0, Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok((n, code)) => {
                answered += n;
                if code == 1012 {
                    closed_1012 += 1;
                }
            }
            Err(why) => failures.push(why),
        }
    }
    failures.dedup();
    println!("SOAK-CLIENTS closed_1012={closed_1012} answered={answered} failures={failures:?}");
}

#[test]
fn ten_thousand_connections_held_then_shut_down_gracefully() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let mut server = spawn_role("server", "soak_server", &[]);
    let addr = line_with(&mut server, "listening on ");
    let per_group = CONNECTIONS / GROUPS;
    let mut groups: Vec<Child> = (0..GROUPS)
        .map(|g| {
            spawn_role(
                "clients",
                "soak_clients",
                &[
                    ("WEBSOCK_SOAK_ADDR", addr.clone()),
                    ("WEBSOCK_SOAK_N", per_group.to_string()),
                    ("WEBSOCK_SOAK_GROUP", g.to_string()),
                ],
            )
        })
        .collect();
    let open: usize = line_with(&mut server, "SOAK-OPEN ").parse().unwrap();
    if open != CONNECTIONS {
        for group in &mut groups {
            eprintln!("{}", line_with(group, "SOAK-CLIENTS "));
        }
    }
    assert_eq!(open, CONNECTIONS);
    let ended = line_with(&mut server, "SOAK-ENDED ");
    assert_eq!(
        ended,
        format!("shutdown={CONNECTIONS} other=0 unflushed=0 active=0")
    );
    let mut total_answered = 0u64;
    for group in &mut groups {
        let report = line_with(group, "SOAK-CLIENTS ");
        assert!(
            report.contains(&format!("closed_1012={per_group} ")),
            "{report}"
        );
        assert!(report.ends_with("failures=[]"), "{report}");
        let answered: u64 = report
            .split("answered=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        total_answered += answered;
        assert!(group.wait().unwrap().success());
    }
    // Every connection sent at least one message during the hold (and all were answered).
    assert!(
        total_answered >= CONNECTIONS as u64 * hold().as_secs().min(3) / 3,
        "{total_answered}"
    );
    assert!(server.wait().unwrap().success());
}
