//! websock against a hand-written tokio-tungstenite loop, axum, fastwebsockets and uWebSockets:
//! one binary that is each server (uWebSockets: exec'd, see `uws.rs`), the load generator,
//! and the driver that runs them all.
//!
//! ```text
//! cargo run --release -p websock-bench -- all            # every scenario, 5 repetitions (long)
//! cargo run --release -p websock-bench -- all --smoke    # a few seconds per scenario (CI)
//! cargo run --release -p websock-bench -- server websock --addr 127.0.0.1:4000
//! cargo run --release -p websock-bench -- server floor --conns 10000   # the fan-out's floor
//! cargo run --release -p websock-bench -- load throughput --addr 127.0.0.1:4000 --size 20
//! ```
//!
//! `all` options: `--reps N`, `--only throughput,latency,memory,connrate,fanout,deflate,
//! fanout-channels,presence,presence-cluster` (the default list), `--servers raw,websock,axum,
//! fastwebsockets,uws` (the echo scenarios' servers; `--smoke` leaves out uws, which `all`
//! otherwise builds with `../shared/tools/uws/build.sh target/uws` when g++ is there, or skips
//! with a note), `--json FILE` (every sample), `--unpinned`. `--only http2` (not in the default
//! list) runs websock's echo over HTTP/2 streams against HTTP/1.1 connections.
//!
//! `server` kinds: `websock` (also a phoenix V2 socket at `/socket/websocket` with the channel
//! `room:bench`, see `channels_server.rs`; `--redis URL` shares its channels over Redis), `raw`,
//! `axum`, `fastwebsockets`, `uws` (uWebSockets' echo), `uws-pubsub` (its `publish`), `floor`.
//!
//! `load` scenarios and their options, with their defaults:
//! - `throughput`: `--conns 100 --size 20 --window 16 --secs 3 --warmup 0.5`; with
//!   `--http2 N` the connections are WebSockets over HTTP/2 streams (RFC 8441), N per TCP
//!   connection (`--http2 100`: 100 streams on one connection)
//! - `latency`: `--conns 1000 --rate 20000` (messages per second in all) `--secs 5 --warmup 1`
//! - `idle`: `--conns 1000 --first-index 0 --hold 240`: prints `ready N`, then holds the
//!   connections until stdin closes (or `--hold` seconds pass)
//! - `connrate`: `--concurrency 32 --secs 3 --warmup 0.5`
//! - `fanout`: `--conns 10000 --settle 0.1` (seconds before the broadcast; websock only)
//! - `deflate-echo`, `deflate-idle`, `deflate-fanout`: permessage-deflate against websock's
//!   `/ws/echo/deflate` and `/ws/fanout/deflate` (see `deflate_load.rs`)
//! - `fanout-channels`: `--protocol phoenix|uws --conns 1000 --size 20 --broadcasts 5`
//!   (`channels_load.rs`)
//! - `presence`: `--conns 10000 --js 20 --server-pid PID --timeout 600`; `presence-cluster`:
//!   `--addr2 ADDR --sockets 500 --keys 100 --observers 20 --server-pids A,B --timeout 600`
//!   (`presence_load.rs`)
//!
//! Every load scenario takes `--addr` (a loopback address; nothing else is accepted) and
//! `--path` (`/ws/echo`), stops by itself, and prints its result as JSON on its last line.
//! See BENCHMARKS.md for the figures and what they mean.

mod args;
mod channels_load;
mod channels_server;
mod deflate_client;
mod deflate_load;
mod fastws_server;
mod h2;
mod load;
mod phoenix_client;
mod presence_load;
mod presence_parse;
mod presence_sync;
mod processes;
mod results;
mod scale_suite;
mod servers;
mod suite;
mod uws;

use args::Args;
use std::process::ExitCode;

const USAGE: &str = "usage:
  websock-bench all [--smoke] [--reps N] [--only throughput,latency,memory,connrate,fanout,deflate,fanout-channels,presence,presence-cluster,http2] [--servers raw,websock,axum,fastwebsockets,uws] [--json FILE] [--unpinned]
  websock-bench server <websock|raw|axum|fastwebsockets|uws|uws-pubsub> [--addr 127.0.0.1:0] [--redis URL (websock)]
  websock-bench server floor [--addr 127.0.0.1:0] [--conns 10000]
  websock-bench load <throughput|latency|idle|connrate|fanout|deflate-echo|deflate-idle|deflate-fanout|fanout-channels|presence|presence-cluster> --addr ADDR [options]";

fn main() -> ExitCode {
    let mut args = Args::new(std::env::args().skip(1));
    let result = match args.positional().as_deref() {
        Some("all") => suite::run(&mut args),
        Some("server") => server(&mut args),
        Some("load") => match args.positional() {
            Some(scenario) => load::run(&scenario, &mut args),
            None => Err(USAGE.into()),
        },
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("websock-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn server(args: &mut Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let name = args.positional().ok_or(USAGE)?;
    let addr = args.string_or("--addr", "127.0.0.1:0");
    if name == "floor" {
        let conns = args.number_or("--conns", 10_000)?;
        args.finish()?;
        servers::run_floor(&addr, conns as usize)?;
        return Ok(());
    }
    if name == "uws-pubsub" {
        args.finish()?;
        uws::exec(uws::PUBSUB, &addr)?;
        return Ok(());
    }
    let kind = servers::Kind::parse(&name).ok_or(USAGE)?;
    let redis = args.string_or("--redis", "");
    args.finish()?;
    servers::run(
        kind,
        &addr,
        Some(redis.as_str()).filter(|url| !url.is_empty()),
    )?;
    Ok(())
}
