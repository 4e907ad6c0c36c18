//! `examples/game_updates.rs`, as a user runs it (the binary `cargo test` builds, with
//! `WEBSOCK_ADDR=127.0.0.1:0`): a client joined to `game:42` gets the ticker's states as
//! `game_state` pushes, a `move` reaches every player, and the example's own
//! `subscribe_info` task prints each update.

#![cfg(unix)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{future::Future, net::SocketAddr, path::PathBuf, process::Stdio, time::Duration};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("timed out waiting")
}

/// `target/<profile>/examples/game_updates`, built by `cargo test` with the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("game_updates{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test` first",
        binary.display()
    );
    binary
}

#[tokio::test]
async fn published_game_states_reach_the_players_and_the_subscription() {
    let mut child = tokio::process::Command::new(example_binary())
        .env("WEBSOCK_ADDR", "127.0.0.1:0")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = within(stdout.next_line()).await.unwrap().unwrap();
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap()
        .parse()
        .unwrap();

    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    let (mut client, _) = within(tokio_tungstenite::connect_async(url)).await.unwrap();
    let mut send = async |frame: Value| {
        within(client.send(Message::text(frame.to_string())))
            .await
            .unwrap();
    };
    send(json!(["1", "1", "game:42", "phx_join", {}])).await;
    send(json!(["1", "2", "game:42", "move", {"turn": 1000}])).await;
    // The ticker's states (turn 1, 2, ..) and the move, in any interleaving.
    let (mut saw_tick, mut saw_move) = (false, false);
    while !(saw_tick && saw_move) {
        let Some(Ok(Message::Text(text))) = within(client.next()).await else {
            panic!("the socket ended");
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame[3] == "game_state" {
            match frame[4]["turn"].as_u64() {
                Some(1000) => saw_move = true,
                Some(_) => saw_tick = true,
                None => panic!("unexpected state {frame}"),
            }
        }
    }
    // The example's `subscribe_info::<GameUpdate>("game:42")` task printed the move.
    loop {
        let line = within(stdout.next_line()).await.unwrap().unwrap();
        if line == r#"game 42: {"turn":1000}"# {
            break;
        }
    }
}
