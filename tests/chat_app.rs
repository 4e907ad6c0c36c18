//! A smoke test of `examples/chat_app` as a user runs it (the binary, `WEBSOCK_ADDR`,
//! `DATABASE_URL`): the login, the 403s before the upgrade, a message stored and sent back
//! in the history after a restart. The full contract is tested with phoenix.js
//! (`tests/js/chat_app*.mjs`) and Chromium.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat_app/config.rs"]
mod config;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, SystemTime},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
};
use tokio_tungstenite::tungstenite::{self, Message};
use websock::channels::token;

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("timed out")
}

/// `target/<profile>/examples/chat_app`, built by `cargo test` or `cargo build --example
/// chat_app`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("chat_app{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --example chat_app` first",
        binary.display()
    );
    binary
}

/// A database file for one test, removed (with SQLite's `-wal` and `-shm`) when dropped.
struct Database(PathBuf);

impl Database {
    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl std::ops::Deref for Database {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A fresh database path for one test.
fn database(name: &str) -> Database {
    let path = std::env::temp_dir().join(format!("chat_app_{name}_{}.db", std::process::id()));
    let database = Database(path);
    database.remove();
    database
}

/// Starts the app on a free port with `database`; its address once it says `listening on`.
async fn start(database: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(example_binary())
        .env("WEBSOCK_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", format!("sqlite://{}", database.display()))
        .env_remove("REDIS_URL")
        .env_remove("SECRET_KEY_BASE")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = within(lines.next_line())
            .await
            .unwrap()
            .expect("the app exited before listening");
        if let Some(rest) = line.split("listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            // Keep draining stdout so the app never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, addr);
        }
    }
}

/// A raw HTTP/1.1 POST; the status and the body.
async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within(stream.read_to_string(&mut response)).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

async fn login(addr: SocketAddr, name: &str) -> (String, i64) {
    let (status, body) = post(addr, "/api/login", &json!({ "name": name }).to_string()).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["user"]["name"], json!(name), "{body}");
    let id = body["user"]["id"].as_i64().unwrap();
    (body["token"].as_str().unwrap().to_owned(), id)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn connect(addr: SocketAddr, token: Option<&str>) -> Result<Ws, u16> {
    let query = token.map_or(String::new(), |t| format!("&token={t}"));
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0{query}");
    match within(tokio_tungstenite::connect_async(url)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(error) => panic!("{error}"),
    }
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

/// The next `[join_ref, ref, topic, event, payload]` whose event is `event` (within 30 s in
/// all, however many others come first: the game ticks never stop).
async fn next_event(ws: &mut Ws, event: &str) -> Value {
    within(async {
        loop {
            let message = ws.next().await.unwrap().unwrap();
            let Message::Text(text) = message else {
                continue;
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame[3] == json!(event) {
                return frame;
            }
        }
    })
    .await
}

#[tokio::test]
async fn login_gives_one_user_per_name_and_refuses_bad_bodies() {
    let db = database("login");
    let (_app, addr) = start(&db).await;
    let (_, alice) = login(addr, "Alice").await;
    let (_, again) = login(addr, "Alice").await;
    let (_, bob) = login(addr, "Bob").await;
    assert_eq!(alice, again);
    assert_ne!(alice, bob);
    assert_eq!(post(addr, "/api/login", "{not json").await.0, 400);
    assert_eq!(post(addr, "/api/login", r#"{"name": "  "}"#).await.0, 422);
    let long = json!({ "name": "x".repeat(2000) }).to_string();
    assert_eq!(post(addr, "/api/login", &long).await.0, 413);
}

/// A raw HTTP/1.1 GET; the status and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within(stream.read_to_string(&mut response)).await.unwrap();
    let status = response[9..12].parse().unwrap();
    (
        status,
        response.split_once("\r\n\r\n").unwrap().1.to_owned(),
    )
}

/// The value of the unlabelled metric `name` in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_sockets_joins_and_events_and_the_game_ticks() {
    let db = database("metrics");
    let (_app, addr) = start(&db).await;
    let (token, _) = login(addr, "Erin").await;
    let mut ws = connect(addr, Some(&token)).await.unwrap();
    send(&mut ws, json!(["1", "1", "game:42", "phx_join", {}])).await;
    let first = next_event(&mut ws, "game_state").await;
    let second = next_event(&mut ws, "game_state").await;
    assert_eq!(first[4]["game_id"], json!(42), "{first}");
    let tick = first[4]["tick"].as_u64().unwrap();
    assert_eq!(second[4]["tick"], json!(tick + 1), "{second}");
    join(&mut ws, "room:elixir").await;
    send(
        &mut ws,
        json!(["1", "2", "room:elixir", "typing", {"typing": true}]),
    )
    .await;
    next_event(&mut ws, "phx_reply").await;

    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&text, "websock_sockets_connected"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "websock_channel_joined_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "websock_channel_handled_in_total"),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_403_before_the_upgrade() {
    let db = database("tokens");
    let (_app, addr) = start(&db).await;
    let (token, id) = login(addr, "Carol").await;
    assert!(connect(addr, Some(&token)).await.is_ok());
    assert_eq!(connect(addr, None).await.err(), Some(403), "missing");
    assert_eq!(
        connect(addr, Some("not-a-token")).await.err(),
        Some(403),
        "malformed"
    );
    let forged = token::sign(b"another key", "user socket", &id);
    assert_eq!(
        connect(addr, Some(&forged)).await.err(),
        Some(403),
        "forged"
    );
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 60 * 60);
    let key = config::DEV_SECRET_KEY_BASE.as_bytes();
    let expired = token::sign_at(key, "user socket", &id, two_days_ago);
    assert_eq!(
        connect(addr, Some(&expired)).await.err(),
        Some(403),
        "expired"
    );
    // The same signing, dated now, is accepted: the 403 above was the age.
    let fresh = token::sign(key, "user socket", &id);
    assert!(connect(addr, Some(&fresh)).await.is_ok());
}

#[tokio::test]
async fn a_message_is_stored_broadcast_and_in_the_history_after_a_restart() {
    let db = database("history");
    let (mut app, addr) = start(&db).await;
    let (token, id) = login(addr, "Dave").await;
    let mut ws = connect(addr, Some(&token)).await.unwrap();
    send(&mut ws, json!(["1", "1", "room:rust", "phx_join", {}])).await;
    let reply = next_event(&mut ws, "phx_reply").await;
    assert_eq!(reply[4]["status"], json!("ok"), "{reply}");
    let history = next_event(&mut ws, "recent_messages").await;
    assert_eq!(history[4]["messages"], json!([]));
    next_event(&mut ws, "presence_state").await;
    send(
        &mut ws,
        json!(["1", "2", "room:rust", "new_message", {"body": "hello"}]),
    )
    .await;
    let reply = next_event(&mut ws, "phx_reply").await;
    assert_eq!(reply[4]["status"], json!("ok"), "{reply}");
    let message_id = reply[4]["response"]["id"].clone();
    let broadcast = next_event(&mut ws, "new_message").await;
    assert_eq!(broadcast[4]["id"], message_id);
    assert_eq!(broadcast[4]["user"], json!({ "id": id, "name": "Dave" }));
    drop(ws);
    app.kill().await.unwrap();

    let (_app, addr) = start(&db).await;
    let mut ws = connect(addr, Some(&token)).await.unwrap();
    send(&mut ws, json!(["1", "1", "room:rust", "phx_join", {}])).await;
    let history = next_event(&mut ws, "recent_messages").await;
    let messages = history[4]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{history}");
    assert_eq!(messages[0]["id"], message_id);
    assert_eq!(messages[0]["body"], json!("hello"));
    assert!(messages[0]["timestamp"].as_str().unwrap().ends_with('Z'));
}

/// Joins `topic` and reads the join reply, `recent_messages` and `presence_state`.
async fn join(ws: &mut Ws, topic: &str) {
    send(ws, json!(["1", "1", topic, "phx_join", {}])).await;
    let reply = next_event(ws, "phx_reply").await;
    assert_eq!(reply[4]["status"], json!("ok"), "{reply}");
    next_event(ws, "recent_messages").await;
    next_event(ws, "presence_state").await;
}

/// The events `ws` gets until the reply to a `typing` it sends now: what its room channel
/// pushed before handling it.
async fn events_until_typing_reply(ws: &mut Ws, topic: &str) -> Vec<String> {
    send(
        ws,
        json!(["1", "marker", topic, "typing", {"typing": false}]),
    )
    .await;
    let mut events = Vec::new();
    loop {
        let message = within(ws.next()).await.unwrap().unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        if frame[1] == json!("marker") {
            return events;
        }
        events.push(frame[3].as_str().unwrap().to_owned());
    }
}

/// The events `ws` gets through the next `presence_diff` and whatever its room channel pushed
/// with it (the `typing` rounds end after the callback that pushed the diff).
async fn events_through_diff(ws: &mut Ws, topic: &str) -> Vec<String> {
    let mut events = Vec::new();
    while !events.contains(&"presence_diff".to_owned()) {
        events.extend(events_until_typing_reply(ws, topic).await);
    }
    events
}

#[tokio::test]
async fn user_joined_and_user_left_follow_a_users_first_and_last_presence() {
    let db = database("presence");
    let (_app, addr) = start(&db).await;
    let (alice_token, _) = login(addr, "Alice").await;
    let (bob_token, bob) = login(addr, "Bob").await;
    let mut alice = connect(addr, Some(&alice_token)).await.unwrap();
    join(&mut alice, "room:lobby").await;

    let mut bob_tab1 = connect(addr, Some(&bob_token)).await.unwrap();
    join(&mut bob_tab1, "room:lobby").await;
    next_event(&mut alice, "presence_diff").await;
    let joined = next_event(&mut alice, "user_joined").await;
    assert_eq!(joined[4], json!({ "user": { "id": bob, "name": "Bob" } }));

    // Bob's second tab: a presence_diff, but not his first presence.
    let mut bob_tab2 = connect(addr, Some(&bob_token)).await.unwrap();
    join(&mut bob_tab2, "room:lobby").await;
    let events = events_through_diff(&mut alice, "room:lobby").await;
    assert!(!events.contains(&"user_joined".to_owned()), "{events:?}");

    // His status changes: an update, neither a join nor a leave.
    send(
        &mut bob_tab1,
        json!(["1", "2", "room:lobby", "update_status", {"status": "away"}]),
    )
    .await;
    let reply = next_event(&mut bob_tab1, "phx_reply").await;
    assert_eq!(reply[4]["status"], json!("ok"), "{reply}");
    let events = events_through_diff(&mut alice, "room:lobby").await;
    assert_eq!(events, ["presence_diff"]);

    // One tab closes: Bob is still there.
    drop(bob_tab1);
    let events = events_through_diff(&mut alice, "room:lobby").await;
    assert!(!events.contains(&"user_left".to_owned()), "{events:?}");
    // The other leaves the room: his last presence.
    send(
        &mut bob_tab2,
        json!(["1", "3", "room:lobby", "phx_leave", {}]),
    )
    .await;
    let left = next_event(&mut alice, "user_left").await;
    assert_eq!(left[4], json!({ "user_id": bob }));
    next_event(&mut alice, "presence_diff").await;
}
