//! websock against a hand-written tokio-tungstenite loop and axum: one binary that is each echo
//! server, the load generator, and the driver that runs them all.
//!
//! ```text
//! cargo run --release -p websock-bench -- all            # every scenario, 5 repetitions (~7 min)
//! cargo run --release -p websock-bench -- all --smoke    # a few seconds per scenario (CI)
//! cargo run --release -p websock-bench -- server websock --addr 127.0.0.1:4000
//! cargo run --release -p websock-bench -- server floor --conns 10000   # the fan-out's floor
//! cargo run --release -p websock-bench -- load throughput --addr 127.0.0.1:4000 --size 20
//! ```
//!
//! `all` options: `--reps N`, `--only throughput,latency,memory,connrate,fanout,deflate`,
//! `--json FILE` (every sample), `--unpinned`. `--only http2` (not in the default list) runs
//! websock's echo over HTTP/2 streams against HTTP/1.1 connections, at the throughput sizes.
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
//!
//! Every load scenario takes `--addr` (a loopback address; nothing else is accepted) and
//! `--path` (`/ws/echo`), stops by itself, and prints its result as JSON on its last line.
//! See BENCHMARKS.md for the figures and what they mean.

mod args;
mod deflate_client;
mod deflate_load;
mod h2;
mod load;
mod servers;
mod suite;

use args::Args;
use std::process::ExitCode;

const USAGE: &str = "usage:
  websock-bench all [--smoke] [--reps N] [--only throughput,latency,memory,connrate,fanout,deflate,http2] [--json FILE] [--unpinned]
  websock-bench server <websock|raw|axum> [--addr 127.0.0.1:0]
  websock-bench server floor [--addr 127.0.0.1:0] [--conns 10000]
  websock-bench load <throughput|latency|idle|connrate|fanout|deflate-echo|deflate-idle|deflate-fanout> --addr ADDR [options]";

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
    let kind = servers::Kind::parse(&name).ok_or(USAGE)?;
    args.finish()?;
    servers::run(kind, &addr)?;
    Ok(())
}
