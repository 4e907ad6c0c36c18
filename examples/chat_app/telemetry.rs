//! The article's `ChannelMetrics`: the library reports its telemetry through the `metrics`
//! facade (`websock_sockets_connected`, `websock_channel_joined_total`,
//! `websock_channel_handled_in_total`, ..); the app installs the Prometheus recorder and
//! serves what it holds at `GET /metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::time::Duration;
use websock::{
    Body,
    http::{Response, header},
};

/// Installs the Prometheus recorder as the process's `metrics` recorder. Call it before the
/// socket route and the server are built: they register their handles once, then.
pub fn install() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|error| format!("installing the metrics recorder: {error}"))?;
    // Histograms and summaries drain their buckets on upkeep; the exporter's own HTTP
    // listener would run it, and this app serves `/metrics` itself.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// `GET /metrics`: Prometheus's text format.
pub fn render(handle: &PrometheusHandle) -> Response<Body> {
    let mut response = Response::new(Body::from(handle.render()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
