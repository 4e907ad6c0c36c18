//! `#[rate_limit]` on `#[websock_handler]` methods over real sockets: per key (here the user
//! from the path, across connections) and per method, in the process's limiter; a refused
//! message is dropped (the method does not run) unless `reply = ..` says what to push, and the
//! default key is the peer's IP address.

mod support;

use futures_util::StreamExt;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use websock::{PathParams, RateLimiter, Router, websock_handler, websocket};

use support::{Client, send, serve, within};

struct Cursors {
    user: String,
}

#[websock_handler]
impl Cursors {
    fn init(params: PathParams) -> Self {
        Cursors {
            user: params.get("user").unwrap_or_default().to_owned(),
        }
    }

    #[on_text("ping")]
    #[rate_limit(2, per = Duration::from_secs(60), key = self.user)]
    fn ping(&mut self) -> &'static str {
        "pong"
    }

    #[on_text("hello")]
    #[rate_limit(1, per = Duration::from_secs(60), reply = "slow down")]
    async fn hello(&mut self) -> String {
        format!("hi {}", self.user)
    }

    #[on_text("marker")]
    fn marker(&mut self) -> &'static str {
        "marker"
    }
}

async fn client(addr: std::net::SocketAddr, user: &str) -> Client {
    let url = format!("ws://{addr}/ws/{user}");
    within(tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .0
}

async fn next_text(client: &mut Client) -> String {
    loop {
        match within(client.next()).await {
            Some(Ok(WsMessage::Text(text))) => return text.to_string(),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn refused_messages_are_dropped_or_answered_with_the_reply() {
    let addr = serve(Router::new().route("/ws/{user}", websocket::<Cursors>())).await;
    let refused_before = RateLimiter::global().refused();
    let mut one = client(addr, "alice").await;
    let mut two = client(addr, "alice").await;
    let mut bob = client(addr, "bob").await;

    send(&mut one, "ping").await;
    assert_eq!(next_text(&mut one).await, "pong");
    send(&mut two, "ping").await;
    assert_eq!(next_text(&mut two).await, "pong");
    // Alice's third ping, on either connection, is dropped: the next frame answers the marker.
    send(&mut one, "ping").await;
    send(&mut one, "marker").await;
    assert_eq!(next_text(&mut one).await, "marker");
    send(&mut bob, "ping").await;
    assert_eq!(next_text(&mut bob).await, "pong");

    // Without a key, the peer's address: every test client is 127.0.0.1.
    send(&mut bob, "hello").await;
    assert_eq!(next_text(&mut bob).await, "hi bob");
    send(&mut two, "hello").await;
    assert_eq!(next_text(&mut two).await, "slow down");
    assert_eq!(RateLimiter::global().refused() - refused_before, 2);
}
