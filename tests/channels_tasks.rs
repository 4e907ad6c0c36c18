//! A task per channel (issue 12), over real sockets with tokio-tungstenite: a slow or stuck
//! callback delays only its own channel, a callback past the callback timeout crashes only
//! its channel, one channel's replies and pushes keep their order, `#[on_out]` still
//! intercepts while other broadcasts go straight to the client, and a slow adapter does not
//! hold the channel that broadcasts.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};
use websock::channel;
use websock::channels::{
    Adapter, AnonymousSocket, BoxFuture, Broadcast, ChannelReply, ChannelSocket, LocalAdapter,
    PubSub, PubSubError, Subscriber, SubscriberId, socket,
};
use websock::{Router, Server, ServerHandle};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous: the machine is loaded.
async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("timed out waiting")
}

async fn serve(router: Router) -> (SocketAddr, ServerHandle) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(router);
    let handle = server.handle();
    tokio::spawn(server.serve(listener));
    (addr, handle)
}

async fn connect(addr: SocketAddr) -> Client {
    let url = format!("ws://{addr}/socket/websocket?vsn=2.0.0");
    within(tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .0
}

async fn send(client: &mut Client, frame: Value) {
    within(client.send(Message::text(frame.to_string())))
        .await
        .unwrap();
}

/// The next text frame, as JSON.
async fn next(client: &mut Client) -> Value {
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Joins `topic` with join_ref = ref = `join_ref`, and reads frames up to its ok reply.
async fn join(client: &mut Client, topic: &str, join_ref: &str) {
    send(
        client,
        json!([join_ref, join_ref, topic, "phx_join", {"user_id": join_ref}]),
    )
    .await;
    loop {
        let frame = next(client).await;
        if frame[1] == join_ref && frame[3] == "phx_reply" {
            assert_eq!(frame[4]["status"], "ok", "{frame}");
            return;
        }
    }
}

/// Frames up to (and including) the one `until` accepts, skipping presence traffic.
async fn frames_until(client: &mut Client, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next(client).await;
        if frame[3] == "presence_diff" || frame[3] == "presence_state" {
            continue;
        }
        let done = until(&frame);
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

fn is_reply_to(frame: &Value, msg_ref: &str) -> bool {
    frame[1] == msg_ref && frame[3] == "phx_reply"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_event_delays_only_its_channel() {
    let (addr, _server) = serve(chat::router(chat::socket_route())).await;
    let mut client = connect(addr).await;
    join(&mut client, "room:a", "1").await;
    join(&mut client, "room:b", "2").await;

    // Over the limit: an error reply, at once.
    send(
        &mut client,
        json!(["1", "e", "room:a", "slow", {"ms": 10_001}]),
    )
    .await;
    let frames = frames_until(&mut client, |f| is_reply_to(f, "e")).await;
    assert_eq!(frames.last().unwrap()[4]["status"], "error");

    send(
        &mut client,
        json!(["1", "s", "room:a", "slow", {"ms": 3_000}]),
    )
    .await;
    send(&mut client, json!(["2", "w", "room:b", "whoami", {}])).await;
    send(&mut client, json!([null, "h", "phoenix", "heartbeat", {}])).await;
    let frames = frames_until(&mut client, |f| is_reply_to(f, "s")).await;
    let mut order: Vec<&str> = frames.iter().filter_map(|f| f[1].as_str()).collect();
    // The other channel's reply and the heartbeat come while `slow` still waits (the two
    // are written by different tasks, so in either order).
    assert_eq!(order.pop(), Some("s"), "{frames:?}");
    order.sort_unstable();
    assert_eq!(order, ["h", "w"], "{frames:?}");
    let whoami = frames.iter().find(|f| is_reply_to(f, "w")).unwrap();
    assert_eq!(
        whoami[4],
        json!({"status": "ok", "response": {"user_id": "2", "token": null}})
    );
    let slow = frames.last().unwrap();
    assert_eq!(slow[2], "room:a");
    assert_eq!(slow[4], json!({"status": "ok", "response": {}}));
}

struct Lab;

#[channel("lab:{id}")]
impl Lab {
    #[on_join]
    fn join(id: String) -> Self {
        let _ = id;
        Lab
    }

    #[on_event("stuck")]
    async fn stuck(&mut self) -> ChannelReply {
        std::future::pending::<()>().await;
        ChannelReply::ok(json!({}))
    }

    #[on_event("crash")]
    fn crash(&mut self) -> ChannelReply {
        panic!("crash requested")
    }

    #[on_event("ping")]
    fn ping(&mut self) -> ChannelReply {
        ChannelReply::ok(json!({"pong": true}))
    }

    /// Pushes `n` then replies `n`: the push must reach the client first.
    #[on_event("count")]
    fn count(&mut self, n: Value, socket: &mut ChannelSocket) -> ChannelReply {
        socket.push("counted", n.clone());
        ChannelReply::ok(n)
    }

    #[on_out("secret")]
    fn secret(&mut self, payload: Value, socket: &mut ChannelSocket) {
        socket.push("secret", json!({"seen_by_on_out": payload["x"]}));
    }
}

fn lab_router(timeout: Duration) -> (Router, websock::channels::SocketRoute<AnonymousSocket>) {
    let route = socket(AnonymousSocket)
        .channel::<Lab>()
        .callback_timeout(timeout);
    let router = Router::new().route("/socket/websocket", route.clone());
    (router, route)
}

async fn ping(client: &mut Client, join_ref: &str, topic: &str, msg_ref: &str) {
    send(client, json!([join_ref, msg_ref, topic, "ping", {}])).await;
    let frames = frames_until(client, |f| is_reply_to(f, msg_ref)).await;
    assert_eq!(
        frames.last().unwrap()[4],
        json!({"status": "ok", "response": {"pong": true}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_callback_past_the_timeout_crashes_only_its_channel() {
    let (router, route) = lab_router(Duration::from_secs(1));
    let (addr, _server) = serve(router).await;
    let mut client = connect(addr).await;
    join(&mut client, "lab:a", "1").await;
    join(&mut client, "lab:b", "2").await;

    send(&mut client, json!(["1", "s", "lab:a", "stuck", {}])).await;
    // The other channel answers while `stuck` runs.
    ping(&mut client, "2", "lab:b", "p1").await;
    // Past the timeout: phx_error for lab:a only, never a reply to `stuck`.
    let frames = frames_until(&mut client, |f| f[3] == "phx_error").await;
    let error = frames.last().unwrap();
    assert_eq!(
        error,
        &json!(["1", "1", "lab:a", "phx_error", {"reason": "timeout"}])
    );
    assert!(frames.iter().all(|f| !is_reply_to(f, "s")), "{frames:?}");
    // The socket and the other channel go on; the crashed topic can be joined again.
    ping(&mut client, "2", "lab:b", "p2").await;
    join(&mut client, "lab:a", "3").await;
    ping(&mut client, "3", "lab:a", "p3").await;
    assert_eq!(route.metrics().crashes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_crashes_only_its_channel() {
    let (router, _route) = lab_router(Duration::from_secs(30));
    let (addr, _server) = serve(router).await;
    let mut client = connect(addr).await;
    join(&mut client, "lab:a", "1").await;
    join(&mut client, "lab:b", "2").await;
    send(&mut client, json!(["1", "c", "lab:a", "crash", {}])).await;
    let frames = frames_until(&mut client, |f| f[3] == "phx_error").await;
    assert_eq!(
        frames.last().unwrap(),
        &json!(["1", "1", "lab:a", "phx_error", {"reason": "channel_crash"}])
    );
    ping(&mut client, "2", "lab:b", "p").await;
    // lab:a is gone: an event for it is an unmatched topic.
    send(&mut client, json!(["1", "x", "lab:a", "ping", {}])).await;
    let frames = frames_until(&mut client, |f| is_reply_to(f, "x")).await;
    assert_eq!(
        frames.last().unwrap()[4],
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_channel_keeps_its_order_under_load() {
    let (router, _route) = lab_router(Duration::from_secs(30));
    let (addr, _server) = serve(router).await;
    let mut client = connect(addr).await;
    let topics = ["lab:a", "lab:b", "lab:c"];
    for (i, topic) in topics.iter().enumerate() {
        join(&mut client, topic, &format!("j{i}")).await;
    }
    const N: usize = 300;
    for n in 0..N {
        for (i, topic) in topics.iter().enumerate() {
            let frame = json!([format!("j{i}"), format!("{i}-{n}"), topic, "count", n]);
            client.feed(Message::text(frame.to_string())).await.unwrap();
        }
    }
    within(client.flush()).await.unwrap();
    // Per topic: push n, reply n, push n + 1, ...
    let mut expected = vec![(0usize, false); topics.len()];
    let mut left = N * topics.len() * 2;
    while left > 0 {
        let frame = next(&mut client).await;
        let i = topics.iter().position(|t| frame[2] == *t).unwrap();
        let (n, pushed) = expected[i];
        if pushed {
            assert_eq!(frame[3], "phx_reply", "{frame}");
            assert_eq!(frame[4]["response"], json!(n), "{frame}");
            expected[i] = (n + 1, false);
        } else {
            assert_eq!(frame[3], "counted", "{frame}");
            assert_eq!(frame[4], json!(n), "{frame}");
            expected[i] = (n, true);
        }
        left -= 1;
    }
    assert!(expected.iter().all(|&(n, pushed)| n == N && !pushed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_out_still_intercepts_and_other_broadcasts_go_straight_out() {
    let (router, route) = lab_router(Duration::from_secs(30));
    let (addr, _server) = serve(router).await;
    let mut client = connect(addr).await;
    join(&mut client, "lab:a", "1").await;
    let pubsub = route.pubsub();
    pubsub
        .broadcast("lab:a", "secret", json!({"x": 1}))
        .await
        .unwrap();
    pubsub
        .broadcast("lab:a", "plain", json!({"x": 2}))
        .await
        .unwrap();
    // The two take different paths (the channel's task, the socket's fastlane), so either
    // may come first, as in Phoenix.
    let mut frames = vec![next(&mut client).await, next(&mut client).await];
    frames.sort_by_key(|f| f[3].as_str().unwrap().to_owned());
    assert_eq!(
        frames,
        [
            // Not intercepted: the broadcast frame itself.
            json!([null, null, "lab:a", "plain", {"x": 2}]),
            // Intercepted: pushed by the channel's `#[on_out]`, with its join_ref.
            json!(["1", null, "lab:a", "secret", {"seen_by_on_out": 1}]),
        ]
    );
}

/// An adapter whose broadcasts take `delay` (a slow Redis): it delivers locally only after.
struct SlowAdapter {
    local: LocalAdapter,
    delay: Duration,
}

impl Adapter for SlowAdapter {
    fn subscribe(&self, topic: &str, subscriber: Subscriber) {
        self.local.subscribe(topic, subscriber);
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        self.local.unsubscribe(topic, id);
    }

    fn broadcast(&self, message: Arc<Broadcast>) -> BoxFuture<'_, Result<(), PubSubError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.local.broadcast(message).await
        })
    }
}

struct Shouts;

#[channel("shouts:{id}")]
impl Shouts {
    #[on_join]
    fn join(id: String) -> Self {
        let _ = id;
        Shouts
    }

    /// Broadcasts `n` then replies `n`.
    #[on_event("shout")]
    fn shout(&mut self, n: Value, socket: &mut ChannelSocket) -> ChannelReply {
        socket.broadcast("shouted", n.clone());
        ChannelReply::ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_adapter_does_not_hold_the_channel_and_keeps_the_order() {
    let adapter = SlowAdapter {
        local: LocalAdapter::new(),
        delay: Duration::from_millis(1_500),
    };
    let route = socket(AnonymousSocket)
        .channel::<Shouts>()
        .with_pubsub(PubSub::new(adapter));
    let (addr, _server) = serve(Router::new().route("/socket/websocket", route)).await;
    let mut client = connect(addr).await;
    join(&mut client, "shouts:1", "1").await;
    for n in 0..3 {
        send(
            &mut client,
            json!(["1", format!("s{n}"), "shouts:1", "shout", n]),
        )
        .await;
    }
    // Every reply comes before the first broadcast is back from the adapter (which awaits
    // 1.5 s per broadcast): the channel never waited for it.
    let frames: Vec<Value> = {
        let mut frames = Vec::new();
        for _ in 0..6 {
            frames.push(next(&mut client).await);
        }
        frames
    };
    let events: Vec<&str> = frames.iter().map(|f| f[3].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "phx_reply",
            "phx_reply",
            "phx_reply",
            "shouted",
            "shouted",
            "shouted"
        ],
        "{frames:?}"
    );
    // One publisher's broadcasts keep their order.
    let shouted: Vec<&Value> = frames[3..].iter().map(|f| &f[4]).collect();
    assert_eq!(shouted, [&json!(0), &json!(1), &json!(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_the_client_while_its_channel_is_busy() {
    let (router, route) = lab_router(Duration::from_secs(60));
    let (addr, _server) = serve(router).await;
    let mut client = connect(addr).await;
    join(&mut client, "lab:a", "1").await;
    send(&mut client, json!(["1", "s", "lab:a", "stuck", {}])).await;
    // Only once the event is in the channel's hands: the ping after it is still queued.
    send(&mut client, json!(["1", "p", "lab:a", "ping", {}])).await;
    route
        .pubsub()
        .broadcast("lab:a", "plain", json!({"x": 1}))
        .await
        .unwrap();
    // The fastlane: the socket writes it, not the (stuck) channel's task.
    assert_eq!(
        next(&mut client).await,
        json!([null, null, "lab:a", "plain", {"x": 1}])
    );
}
