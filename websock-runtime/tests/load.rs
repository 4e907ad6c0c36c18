//! Many connections at once, each answered correctly.

mod common;

use common::*;
use websock_runtime::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_each_get_their_own_answers() {
    let server = TestServer::start(Config::default()).await;
    let addr = server.addr;
    let clients: Vec<_> = (0..1000)
        .map(|id| {
            tokio::spawn(async move {
                let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
                    "ws://{addr}/probe"
                )))
                .await
                .unwrap();
                for round in 0..5 {
                    let text = format!("{id}-{round}");
                    send_text(&mut client, &format!("echo:{text}")).await;
                    assert_eq!(recv_text(&mut client).await, text);
                }
                client
            })
        })
        .collect();
    let mut open = Vec::new();
    for client in clients {
        open.push(within(client).await.unwrap());
    }
    assert_eq!(server.handle.metrics().active_connections, 1000);
    drop(open);
}
