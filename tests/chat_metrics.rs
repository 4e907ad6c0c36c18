//! `examples/chat.rs` serves `GET /metrics`: the server's and the channels' counters as text,
//! and they move as clients connect, join and send.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod example;
mod support;

use futures_util::{SinkExt, StreamExt};
use std::{collections::HashMap, net::SocketAddr};
use support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// `GET /metrics`, parsed into name → value; every line must be `name value`.
async fn metrics(addr: SocketAddr) -> HashMap<String, u64> {
    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    within(http.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.lines()
        .map(|line| {
            let (name, value) = line.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
            assert!(name.starts_with("websock_"), "{line:?}");
            (
                name.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("{line:?}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn metrics_lists_the_counters_and_they_move() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = example::server(example::socket_route());
    tokio::spawn(server.serve(listener));

    let before = metrics(addr).await;
    for name in [
        "websock_active_connections",
        "websock_accepted_connections",
        "websock_channel_joins",
        "websock_channel_messages_in",
        "websock_channels",
    ] {
        assert_eq!(before.get(name), Some(&0), "{name} in {before:?}");
    }

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}/socket/websocket?vsn=2.0.0"
    )))
    .await
    .unwrap();
    client
        .send(Message::text(
            r#"["1","1","room:lobby","phx_join",{"user_id":"ada"}]"#,
        ))
        .await
        .unwrap();
    client
        .send(Message::text(
            r#"["1","2","room:lobby","new_msg",{"body":"hi"}]"#,
        ))
        .await
        .unwrap();
    // The join reply, presence_state, the broadcast and the new_msg reply, in some order.
    let mut replied = false;
    while !replied {
        let Some(Ok(Message::Text(text))) = within(client.next()).await else {
            panic!("socket ended");
        };
        replied = text.starts_with(r#"["1","2","room:lobby","phx_reply""#);
    }

    let after = metrics(addr).await;
    assert_eq!(after["websock_active_connections"], 1, "{after:?}");
    assert_eq!(after["websock_accepted_connections"], 1, "{after:?}");
    assert_eq!(after["websock_channel_sockets"], 1, "{after:?}");
    assert_eq!(after["websock_channels"], 1, "{after:?}");
    assert_eq!(after["websock_channel_joins"], 1, "{after:?}");
    assert!(after["websock_channel_messages_in"] >= 2, "{after:?}");
    assert!(after["websock_channel_messages_out"] >= 3, "{after:?}");
}
