//! The runtime's and the channels' counters reach a `metrics` recorder (here the Prometheus
//! exporter), under names that mirror Phoenix's telemetry events. Its own test binary: the
//! recorder is process-wide and must be installed before the server is built.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/chat.rs"]
mod example;
mod support;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use support::{connect_v2, join_lobby, next_event, send};

/// The rendered value of the unlabelled metric `name`.
fn value(handle: &PrometheusHandle, name: &str) -> Option<f64> {
    let text = handle.render();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn counters_reach_the_installed_recorder() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example::server(example::socket_route()).serve(listener));

    let mut client = connect_v2(addr).await;
    join_lobby(&mut client, "ada").await;
    send(
        &mut client,
        json!(["1", "2", "room:lobby", "new_msg", { "body": "hi" }]),
    )
    .await;
    let reply = next_event(&mut client, "phx_reply").await;
    assert_eq!(reply[1], "2", "{reply}");

    let expected = [
        ("websock_connections_active", 1.0),
        ("websock_connections_accepted_total", 1.0),
        ("websock_sockets_connected", 1.0),
        ("websock_socket_connected_total", 1.0),
        ("websock_channels_joined", 1.0),
        ("websock_channel_joined_total", 1.0),
        ("websock_channel_handled_in_total", 1.0),
    ];
    for (name, want) in expected {
        assert_eq!(
            value(&handle, name),
            Some(want),
            "{name}:\n{}",
            handle.render()
        );
    }

    drop(client);
    // The gauges come down once the server sees the socket go.
    support::within(async {
        while value(&handle, "websock_sockets_connected") != Some(0.0)
            || value(&handle, "websock_connections_active") != Some(0.0)
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}
