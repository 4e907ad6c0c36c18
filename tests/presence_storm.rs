//! Presence at scale (issue 16): a storm of joins, updates and leaves in one topic over real
//! sockets. Light clients (tokio-tungstenite) apply phoenix.js's `syncState`/`syncDiff` to
//! key → `phx_ref` sets, and every one still joined must end with the server's list; the
//! diffs are merged per topic over the presence interval, so N joins cost far fewer than the
//! N² frames one diff per join would (counted, not timed).

mod support;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;
use support::{Client, connect_v2, serve, within};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use websock::Router;
use websock::channel;
use websock::channels::{AnonymousSocket, ChannelReply, ChannelSocket, JoinError, socket};

const TOPIC: &str = "storm:1";

struct Storm {
    user: String,
}

#[derive(Deserialize)]
struct JoinParams {
    user: String,
}

#[channel("storm:{id}")]
impl Storm {
    #[on_join]
    fn join(
        id: String,
        params: JoinParams,
        socket: &mut ChannelSocket,
    ) -> Result<(Self, Value), JoinError> {
        let _ = id;
        socket
            .track(&params.user, json!({"status": "joined"}))
            .map_err(JoinError::reason)?;
        socket.push_presence_state();
        Ok((Storm { user: params.user }, json!({})))
    }

    #[on_event("status")]
    fn status(&mut self, msg: Value, socket: &mut ChannelSocket) -> ChannelReply {
        let status = msg["status"].clone();
        socket.update_with(&self.user, |mut meta| {
            meta["status"] = status;
            meta
        });
        ChannelReply::ok(json!({}))
    }
}

/// key → its metas' `phx_ref`s, what phoenix.js's `Presence` keeps (its metas, by ref).
type Refs = BTreeMap<String, BTreeSet<String>>;

fn refs_of(list: &Value) -> Refs {
    let mut refs = Refs::new();
    for (key, presence) in list.as_object().into_iter().flatten() {
        let metas = presence["metas"].as_array().into_iter().flatten();
        let set: BTreeSet<String> = metas
            .map(|m| m["phx_ref"].as_str().unwrap_or_default().to_owned())
            .collect();
        refs.insert(key.clone(), set);
    }
    refs
}

/// phoenix.js `syncDiff`: the joins, then the leaves; a key without metas goes.
fn sync_diff(state: &mut Refs, diff: &Value) {
    for (key, refs) in refs_of(&diff["joins"]) {
        state.entry(key).or_default().extend(refs);
    }
    for (key, refs) in refs_of(&diff["leaves"]) {
        if let Some(held) = state.get_mut(&key) {
            held.retain(|r| !refs.contains(r));
            if held.is_empty() {
                state.remove(&key);
            }
        }
    }
}

enum Command {
    Push(Value),
    Report(oneshot::Sender<(Option<Refs>, usize)>),
}

/// A light client: reads its frames, keeps phoenix.js's presence state (diffs before the
/// first `presence_state` wait for it, as phoenix.js's `pendingDiffs`), counts the diffs.
async fn light_client(mut client: Client, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut state: Option<Refs> = None;
    let mut pending: Vec<Value> = Vec::new();
    let mut diffs = 0;
    loop {
        tokio::select! {
            frame = client.next() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let frame: Value = serde_json::from_str(&text).unwrap();
                match frame[3].as_str() {
                    Some("presence_state") => {
                        let mut fresh = refs_of(&frame[4]);
                        pending.drain(..).for_each(|diff| sync_diff(&mut fresh, &diff));
                        state = Some(fresh);
                    }
                    Some("presence_diff") => {
                        diffs += 1;
                        match &mut state {
                            Some(state) => sync_diff(state, &frame[4]),
                            None => pending.push(frame[4].clone()),
                        }
                    }
                    _ => {}
                }
            }
            command = commands.recv() => match command {
                Some(Command::Push(frame)) => {
                    client.send(Message::text(frame.to_string())).await.unwrap();
                }
                Some(Command::Report(tx)) => {
                    let _ = tx.send((state.clone(), diffs));
                }
                None => return,
            },
        }
    }
}

struct Light {
    user: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Light {
    async fn start(addr: SocketAddr, user: String) -> Self {
        let client = connect_v2(addr).await;
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(light_client(client, rx));
        Self { user, commands }
    }

    fn push(&self, frame: Value) {
        self.commands.send(Command::Push(frame)).unwrap();
    }

    fn join(&self) {
        self.push(json!(["1", "1", TOPIC, "phx_join", {"user": self.user}]));
    }

    async fn report(&self) -> (Option<Refs>, usize) {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Report(tx)).unwrap();
        within(rx).await.unwrap()
    }
}

/// Waits until every client in `joined` holds the server's list; returns the list.
async fn settle(
    route: &websock::channels::SocketRoute<AnonymousSocket>,
    joined: &[&Light],
) -> Refs {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let server = refs_of(&route.presence().list(TOPIC));
        let mut behind = 0;
        for light in joined {
            if light.report().await.0.as_ref() != Some(&server) {
                behind += 1;
            }
        }
        if behind == 0 {
            return server;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{behind} of {} clients never reached the server's list of {} keys",
            joined.len(),
            server.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The storm: `N` clients join at once, then a quarter update, a quarter leave and half of
/// those join again (new connections), without waiting in between; every client still joined
/// ends with the server's list. Returns the presence changes made, the diffs broadcast and the
/// diff frames those clients got.
async fn storm(interval: Duration) -> (u64, u64, usize) {
    const N: usize = 200;
    let route = socket(AnonymousSocket)
        .channel::<Storm>()
        .rate_limit(None)
        .presence_interval(interval);
    let addr = serve(Router::new().route("/socket/websocket", route.clone())).await;
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        clients.push(Light::start(addr, format!("user-{i}")).await);
    }
    clients.iter().for_each(Light::join);
    for light in &clients[..N / 4] {
        light.push(json!(["1", "2", TOPIC, "status", {"status": "away"}]));
    }
    for light in &clients[N / 4..N / 2] {
        light.push(json!(["1", "3", TOPIC, "phx_leave", {}]));
    }
    let mut rejoined = Vec::new();
    for light in &clients[N / 4..N / 4 + N / 8] {
        let again = Light::start(addr, light.user.clone()).await;
        again.join();
        rejoined.push(again);
    }
    let joined: Vec<&Light> = clients[..N / 4]
        .iter()
        .chain(&clients[N / 2..])
        .chain(&rejoined)
        .collect();
    let list = settle(&route, &joined).await;

    assert_eq!(list.len(), N / 2 + N / 4 + N / 8, "{list:?}");
    assert!(list.values().all(|refs| refs.len() == 1));
    let server = route.presence().list(TOPIC);
    assert_eq!(server["user-0"]["metas"][0]["status"], "away", "{server}");
    assert_eq!(
        server[&format!("user-{}", N - 1)]["metas"][0]["status"],
        "joined"
    );

    let changes = (N + N / 4 + N / 4 + N / 8) as u64;
    let mut frames = 0;
    for light in &joined {
        frames += light.report().await.1;
    }
    let diffs = route.metrics().presence_diffs;
    println!(
        "{changes} presence changes: {diffs} presence_diff broadcasts, {frames} diff frames to {} clients",
        joined.len()
    );
    (changes, diffs, frames)
}

/// Counted, not timed: one diff per change would be 325 broadcasts, and every joiner would get
/// one per later join (N²/2 frames for the joins alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_costs_a_diff_per_interval_not_per_change() {
    let (changes, diffs, frames) = storm(Duration::from_millis(500)).await;
    assert!(diffs >= 1);
    assert!(diffs < changes / 4, "{diffs} diffs for {changes} changes");
    assert!(frames < 200 * 200 / 8, "{frames} diff frames");
}

/// Short intervals: the storm spreads over many diffs, and every client still ends in sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_over_many_intervals_ends_with_every_client_in_sync() {
    let (_, diffs, _) = storm(Duration::from_millis(1)).await;
    assert!(diffs >= 1);
}
