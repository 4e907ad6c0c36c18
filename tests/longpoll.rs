//! Phoenix's LongPoll transport over real HTTP (raw TcpStream requests): sessions, held polls,
//! NDJSON posts, signed session tokens, CORS, the authToken header, and hostile clients (poll
//! floods, huge and endless posts, dead and forged tokens, many sessions, unread buffers).

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod chat;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::Message;
use websock::{
    Router, Server,
    channels::{
        Assigns, ConnectInfo, Params, Refused, Socket, SocketRoute, longpoll::LongPoll, socket,
    },
};

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .expect("timed out waiting")
}

/// The chat's socket with a LongPoll endpoint shaped by `shape`.
async fn serve(
    shape: impl FnOnce(LongPoll<chat::UserSocket>) -> LongPoll<chat::UserSocket>,
) -> (
    SocketAddr,
    SocketRoute<chat::UserSocket>,
    LongPoll<chat::UserSocket>,
) {
    let route = chat::socket_route();
    let longpoll = shape(route.longpoll());
    let router = Router::new()
        .route("/socket/longpoll", longpoll.clone())
        .route("/socket/websocket", route.clone());
    (listen(router).await, route, longpoll)
}

async fn listen(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::new(router).serve(listener));
    addr
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

async fn raw(addr: SocketAddr, request: Vec<u8>) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut bytes = Vec::new();
    within(stream.read_to_end(&mut bytes)).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head[9..12].parse().unwrap();
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    raw(addr, request).await
}

const PATH: &str = "/socket/longpoll?vsn=2.0.0";

/// A long-poll client as phoenix.js 1.8 is one: the token in the last `token` parameter.
struct Client {
    addr: SocketAddr,
    token: String,
}

impl Client {
    async fn start(addr: SocketAddr, headers: &[(&str, &str)]) -> Self {
        let answer = http(addr, "GET", &format!("{PATH}&"), headers, b"").await;
        assert_eq!(answer.status, 200);
        let json = answer.json();
        assert_eq!(json["status"], 410, "{json}");
        let token = json["token"].as_str().unwrap().to_owned();
        Self { addr, token }
    }

    fn path(&self) -> String {
        format!("{PATH}&token={}", self.token)
    }

    async fn get(&self) -> Value {
        let answer = http(self.addr, "GET", &self.path(), &[], b"").await;
        assert_eq!(answer.status, 200);
        answer.json()
    }

    async fn post(&self, lines: &[&str]) -> Value {
        let body = lines.join("\n");
        let headers = [("content-type", "application/x-ndjson")];
        http(self.addr, "POST", &self.path(), &headers, body.as_bytes())
            .await
            .json()
    }

    /// Polls until a message satisfying `wanted` arrives; every message seen, in order.
    async fn until(&self, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        within(async {
            loop {
                let answer = self.get().await;
                assert_eq!(answer["token"], self.token.as_str());
                for message in answer["messages"].as_array().unwrap() {
                    let frame: Value = serde_json::from_str(message.as_str().unwrap()).unwrap();
                    seen.push(frame);
                }
                if seen.iter().any(&wanted) {
                    return;
                }
            }
        })
        .await;
        seen
    }
}

fn is_reply(frame: &Value, reference: &str, status: &str) -> bool {
    frame[3] == "phx_reply" && frame[1] == reference && frame[4]["status"] == status
}

async fn join(client: &Client, user: &str) {
    let join = format!(r#"["1","1","room:lobby","phx_join",{{"user_id":"{user}"}}]"#);
    assert_eq!(client.post(&[&join]).await["status"], 200);
    client.until(|f| is_reply(f, "1", "ok")).await;
}

#[tokio::test]
async fn a_session_joins_pushes_and_gets_replies_and_broadcasts() {
    let (addr, route, _) = serve(|lp| lp).await;
    let first = http(addr, "GET", &format!("{PATH}&"), &[], b"").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));
    assert_eq!(first.header("cache-control"), Some("no-store"));
    assert!(
        first
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let json = first.json();
    assert_eq!(json["status"], 410);
    assert_eq!(json["messages"], serde_json::json!([]));
    let client = Client {
        addr,
        token: json["token"].as_str().unwrap().to_owned(),
    };
    join(&client, "lp").await;
    let posted = client
        .post(&[
            r#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#,
            r#"[null,"3","phoenix","heartbeat",{}]"#,
        ])
        .await;
    assert_eq!(posted, serde_json::json!({"status": 200}));
    let seen = client
        .until(|f| f[3] == "new_msg" && f[4]["body"] == "hi")
        .await;
    let mut seen = seen;
    if !seen.iter().any(|f| is_reply(f, "3", "ok")) {
        seen.extend(client.until(|f| is_reply(f, "3", "ok")).await);
    }
    assert!(seen.iter().any(|f| is_reply(f, "2", "ok")), "{seen:?}");
    assert_eq!(route.metrics().sockets, 1);
}

#[tokio::test]
async fn websocket_and_longpoll_clients_see_each_other() {
    let (addr, _, _) = serve(|lp| lp).await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/socket/websocket?vsn=2.0.0"))
            .await
            .unwrap();
    ws.send(Message::text(
        r#"["1","1","room:lobby","phx_join",{"user_id":"ws"}]"#,
    ))
    .await
    .unwrap();
    let lp = Client::start(addr, &[]).await;
    join(&lp, "lp").await;
    // The WebSocket client sees the long-poll client arrive, then its message.
    lp.post(&[r#"["1","2","room:lobby","new_msg",{"body":"from lp"}]"#])
        .await;
    // The diff comes within the presence interval: before or after the message.
    let (mut ws_saw_join, mut ws_saw_msg) = (false, false);
    within(async {
        while !(ws_saw_join && ws_saw_msg) {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                panic!("websocket ended");
            };
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame[3] == "presence_diff" && frame[4]["joins"].get("lp").is_some() {
                ws_saw_join = true;
            }
            if frame[3] == "new_msg" && frame[4]["body"] == "from lp" {
                ws_saw_msg = true;
            }
        }
    })
    .await;
    ws.send(Message::text(
        r#"["1","2","room:lobby","new_msg",{"body":"from ws"}]"#,
    ))
    .await
    .unwrap();
    let seen = lp
        .until(|f| f[3] == "new_msg" && f[4]["body"] == "from ws")
        .await;
    assert!(
        seen.iter()
            .all(|f| f[4]["body"] != "from lp" || f[4]["user_id"] == "lp")
    );
}

#[tokio::test]
async fn the_auth_token_header_reaches_connect() {
    let (addr, _, _) = serve(|lp| lp).await;
    let client = Client::start(addr, &[("x-phoenix-authtoken", "secret-42")]).await;
    join(&client, "u").await;
    client
        .post(&[r#"["1","2","room:lobby","whoami",{}]"#])
        .await;
    let seen = client.until(|f| is_reply(f, "2", "ok")).await;
    let reply = seen.iter().find(|f| is_reply(f, "2", "ok")).unwrap();
    assert_eq!(reply[4]["response"]["token"], "secret-42");
}

#[tokio::test]
async fn an_empty_poll_answers_204_after_the_window() {
    let (addr, _, _) = serve(|lp| lp.window(Duration::from_secs(1))).await;
    let client = Client::start(addr, &[]).await;
    let answer = client.get().await;
    assert_eq!(answer["status"], 204);
    assert_eq!(answer["token"], client.token.as_str());
    assert_eq!(answer["messages"], serde_json::json!([]));
}

#[tokio::test]
async fn the_token_comes_from_the_header_or_the_last_token_param() {
    let (addr, _, _) = serve(|lp| lp.window(Duration::from_secs(1))).await;
    let client = Client::start(addr, &[]).await;
    let after_app_token = format!(
        "/socket/longpoll?token=user-token&vsn=2.0.0&token={}",
        client.token
    );
    assert_eq!(
        http(addr, "GET", &after_app_token, &[], b"").await.json()["status"],
        204
    );
    let header = [("x-phoenix-longpoll-token", client.token.as_str())];
    assert_eq!(
        http(addr, "GET", PATH, &header, b"").await.json()["status"],
        204
    );
    // An app token last: it does not verify, so a new session starts.
    let app_last = format!(
        "/socket/longpoll?token={}&vsn=2.0.0&token=user-token",
        client.token
    );
    assert_eq!(
        http(addr, "GET", &app_last, &[], b"").await.json()["status"],
        410
    );
}

#[tokio::test]
async fn forged_and_tampered_tokens_start_a_new_session() {
    let (addr, _, longpoll) = serve(|lp| lp).await;
    let client = Client::start(addr, &[]).await;
    // Another endpoint's token (another secret) for the same session id.
    let foreign = websock::channels::token::sign(
        b"some other secret of 32 bytes...",
        "websock longpoll session",
        &0u64,
    );
    let mut tampered = client.token.clone();
    tampered.replace_range(8..9, if &tampered[8..9] == "M" { "N" } else { "M" });
    for token in [foreign.as_str(), tampered.as_str(), "garbage"] {
        let forged = Client {
            addr,
            token: token.to_owned(),
        };
        let answer = forged.get().await;
        assert_eq!(answer["status"], 410);
        assert_ne!(answer["token"], client.token.as_str());
        assert_eq!(
            forged
                .post(&[r#"[null,"1","phoenix","heartbeat",{}]"#])
                .await["status"],
            410
        );
    }
    assert_eq!(longpoll.metrics().sessions_total, 4);
}

#[tokio::test]
async fn a_session_without_polls_ends_and_its_channels_leave() {
    let (addr, route, longpoll) = serve(|lp| lp.window(Duration::from_secs(1))).await;
    let client = Client::start(addr, &[]).await;
    join(&client, "gone").await;
    assert_eq!(
        route
            .presence()
            .list("room:lobby")
            .as_object()
            .map(serde_json::Map::len),
        Some(1)
    );
    within(async {
        while longpoll.metrics().expired == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    within(async {
        while route
            .presence()
            .list("room:lobby")
            .as_object()
            .is_some_and(|o| !o.is_empty())
            || route.metrics().sockets != 0
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(
        client
            .post(&[r#"[null,"1","phoenix","heartbeat",{}]"#])
            .await["status"],
        410
    );
    let answer = client.get().await;
    assert_eq!(
        answer["status"], 410,
        "a dead session's token starts a new session"
    );
    assert_ne!(answer["token"], client.token.as_str());
    assert!(longpoll.metrics().gone >= 2);
}

#[tokio::test]
async fn a_newer_poll_answers_the_older_at_once() {
    let (addr, _, longpoll) = serve(|lp| lp.window(Duration::from_secs(20))).await;
    let client = Client::start(addr, &[]).await;
    let path = client.path();
    let older = tokio::spawn(async move { http(addr, "GET", &path, &[], b"").await });
    // The older poll is held before the newer one comes.
    within(async {
        while longpoll.metrics().held_polls == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let path = client.path();
    let newer = tokio::spawn(async move { http(addr, "GET", &path, &[], b"").await });
    let older = tokio::time::timeout(Duration::from_secs(10), older)
        .await
        .expect("the older poll is answered long before its 20 s window")
        .unwrap();
    assert_eq!(older.json()["status"], 204);
    assert_eq!(longpoll.metrics().superseded_polls, 1);
    client
        .post(&[r#"[null,"9","phoenix","heartbeat",{}]"#])
        .await;
    let newer = within(newer).await.unwrap().json();
    assert_eq!(newer["status"], 200, "{newer}");
}

#[tokio::test]
async fn a_huge_post_gets_413_and_an_endless_one_408() {
    let (addr, _, longpoll) =
        serve(|lp| lp.window(Duration::from_secs(1)).max_post_bytes(1000)).await;
    let client = Client::start(addr, &[]).await;
    let headers = [("content-type", "application/x-ndjson")];
    let huge = http(addr, "POST", &client.path(), &headers, &[b'['; 5000]).await;
    assert_eq!(huge.status, 413);
    assert_eq!(huge.json()["status"], 413);
    // Chunked, over the limit, without a Content-Length to refuse it by.
    let mut chunked = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n",
        client.path()
    )
    .into_bytes();
    for _ in 0..3 {
        chunked.extend_from_slice(b"190\r\n");
        chunked.extend_from_slice(&[b'a'; 400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(addr, chunked).await.status, 413);
    // Promises 100 bytes, sends 10, then nothing.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 100\r\n\r\n[null,\"1\",",
        client.path()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    within(stream.read_to_end(&mut answer)).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(longpoll.metrics().bodies_refused, 3);
    // The session and the server go on.
    assert_eq!(
        client
            .post(&[r#"[null,"2","phoenix","heartbeat",{}]"#])
            .await["status"],
        200
    );
    client.until(|f| is_reply(f, "2", "ok")).await;
}

#[tokio::test]
async fn a_post_carries_at_most_100_lines() {
    let (addr, _, longpoll) = serve(|lp| lp.window(Duration::from_secs(1))).await;
    let client = Client::start(addr, &[]).await;
    let lines: Vec<String> = (0..150)
        .map(|i| format!(r#"[null,"{i}","phoenix","heartbeat",{{}}]"#))
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(client.post(&lines).await["status"], 200);
    let seen = client.until(|f| is_reply(f, "99", "ok")).await;
    // Then the window passes with nothing more: replies 100..149 never come.
    let more = client.get().await;
    assert_eq!(more["status"], 204, "{more}");
    assert_eq!(seen.iter().filter(|f| f[3] == "phx_reply").count(), 100);
    assert_eq!(longpoll.metrics().lines_dropped, 50);
}

#[tokio::test]
async fn the_session_limit_answers_503_and_sessions_go_on() {
    let (addr, _, longpoll) = serve(|lp| lp.max_sessions(2)).await;
    let a = Client::start(addr, &[]).await;
    let _b = Client::start(addr, &[]).await;
    let third = http(addr, "GET", &format!("{PATH}&"), &[], b"").await;
    assert_eq!(third.status, 503);
    assert_eq!(longpoll.metrics().refused_over_limit, 1);
    join(&a, "a").await;
}

#[tokio::test]
async fn binary_lines_arrive_whole_and_binary_frames_out_are_dropped_and_counted() {
    let (addr, _, longpoll) = serve(|lp| lp.window(Duration::from_secs(1))).await;
    let client = Client::start(addr, &[]).await;
    join(&client, "bin").await;
    // phoenix.js's binary push layout (kind 0, join_ref, ref, topic, event, payload), base64.
    let mut frame = vec![0u8, 1, 1, 10, 6];
    frame.extend_from_slice(b"12room:lobbybinary");
    frame.extend_from_slice(&[0, 255, 1, 2]);
    let line = base64(&frame);
    assert_eq!(client.post(&[&line]).await["status"], 200);
    // The channel answered (a binary reply and broadcast): neither reaches the client mangled.
    within(async {
        while longpoll.metrics().binary_dropped < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    client
        .post(&[r#"[null,"7","phoenix","heartbeat",{}]"#])
        .await;
    let seen = client.until(|f| is_reply(f, "7", "ok")).await;
    assert!(seen.iter().all(Value::is_array));
    let bad = http(
        addr,
        "POST",
        &client.path(),
        &[("content-type", "application/x-ndjson")],
        b"not base64!",
    )
    .await;
    assert_eq!(bad.status, 400);
    let not_utf8 = http(
        addr,
        "POST",
        &client.path(),
        &[("content-type", "application/x-ndjson")],
        b"[\xff]",
    )
    .await;
    assert_eq!(not_utf8.status, 400);
    assert_eq!(longpoll.metrics().bodies_refused, 2);
    // The session goes on.
    client
        .post(&[r#"[null,"8","phoenix","heartbeat",{}]"#])
        .await;
    client.until(|f| is_reply(f, "8", "ok")).await;
}

#[tokio::test]
async fn an_unread_buffer_ends_its_session() {
    let (addr, route, longpoll) =
        serve(|lp| lp.window(Duration::from_secs(30)).buffer_bytes(4096)).await;
    let client = Client::start(addr, &[]).await;
    join(&client, "slow").await;
    let body = "x".repeat(500);
    for _ in 0..20 {
        route
            .pubsub()
            .broadcast("room:lobby", "new_msg", serde_json::json!({ "body": body }))
            .await
            .unwrap();
    }
    within(async {
        while longpoll.metrics().overflows == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let answer = client.get().await;
    assert_eq!(answer["status"], 410, "{answer}");
    // One message larger than the whole buffer ends its session the same way.
    let other = Client::start(addr, &[]).await;
    join(&other, "small").await;
    let huge = "y".repeat(8000);
    route
        .pubsub()
        .broadcast("room:lobby", "new_msg", serde_json::json!({ "body": huge }))
        .await
        .unwrap();
    within(async {
        while longpoll.metrics().overflows < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(other.get().await["status"], 410);
}

#[tokio::test]
async fn preflight_and_other_methods() {
    // A cross-origin page's preflight: its origin must be allowed, as for the WebSocket
    // (Phoenix checks the origin before it answers any LongPoll request).
    let route = chat::socket_route();
    let router = Router::new()
        .check_origin(["https://app.example"])
        .route("/socket/longpoll", route.longpoll());
    let addr = listen(router).await;
    let refused = http(
        addr,
        "OPTIONS",
        PATH,
        &[("origin", "https://evil.example")],
        b"",
    );
    assert_eq!(refused.await.json()["status"], 403);
    let answer = http(
        addr,
        "OPTIONS",
        PATH,
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "x-phoenix-authtoken, content-type",
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        answer.header("access-control-allow-headers"),
        Some("x-phoenix-authtoken, content-type")
    );
    assert_eq!(
        answer.header("access-control-allow-methods"),
        Some("get, post, options")
    );
    assert_eq!(answer.header("access-control-max-age"), Some("3600"));
    assert_eq!(http(addr, "PUT", PATH, &[], b"").await.status, 400);
}

struct Strict;

impl Socket for Strict {
    async fn connect(&self, params: &Params, _: &ConnectInfo) -> Result<Assigns, Refused> {
        match params.get("token") {
            Some("let-me-in") => Ok(Assigns::new()),
            _ => Err(Refused::new("no token")),
        }
    }
}

#[tokio::test]
async fn connect_refusals_and_origins_answer_403() {
    let route = socket(Strict).check_origin(["https://good.example"]);
    let router = Router::new().route("/socket/longpoll", route.longpoll());
    let addr = listen(router).await;
    let status = |answer: Answer| answer.json()["status"].clone();
    assert_eq!(status(http(addr, "GET", PATH, &[], b"").await), 403);
    let path = "/socket/longpoll?token=let-me-in&vsn=2.0.0&";
    assert_eq!(status(http(addr, "GET", path, &[], b"").await), 410);
    // No `vsn` is V1, as in Phoenix; a version it does not know is refused.
    let no_vsn = "/socket/longpoll?token=let-me-in";
    assert_eq!(status(http(addr, "GET", no_vsn, &[], b"").await), 410);
    let unknown_vsn = "/socket/longpoll?token=let-me-in&vsn=3.0.0";
    assert_eq!(status(http(addr, "GET", unknown_vsn, &[], b"").await), 403);
    let bad_origin = [("origin", "https://evil.example")];
    assert_eq!(status(http(addr, "GET", path, &bad_origin, b"").await), 403);
    let good_origin = [("origin", "https://good.example")];
    assert_eq!(
        status(http(addr, "GET", path, &good_origin, b"").await),
        410
    );
    assert_eq!(
        route.metrics().refused_connects,
        2,
        "the refused connect and the unknown vsn"
    );
}

/// Standard base64 with padding, as the browser's `btoa`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn a_server_shutdown_answers_held_polls_and_ends_sessions() {
    let route = chat::socket_route();
    let longpoll = route.longpoll().window(Duration::from_secs(20));
    let router = Router::new().route("/socket/longpoll", longpoll.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::new(router);
    let handle = server.handle();
    tokio::spawn(server.serve(listener));
    let client = Client::start(addr, &[]).await;
    join(&client, "draining").await;
    // Its own presence_diff comes within the presence interval: taken before the held poll.
    client
        .until(|f| f[3] == "presence_diff" && f[4]["joins"].get("draining").is_some())
        .await;
    let path = client.path();
    let held = tokio::spawn(async move { http(addr, "GET", &path, &[], b"").await });
    within(async {
        while longpoll.metrics().held_polls == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    handle.shutdown();
    // Answered long before its 20 s window: the session's connection closed (1012), so the
    // session ended, and a new one is refused while the server shuts down.
    let answer = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("the held poll is answered at shutdown")
        .unwrap();
    assert_eq!(answer.status, 503, "{}", answer.body);
    within(async {
        while longpoll.metrics().sessions != 0 || route.metrics().sockets != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
