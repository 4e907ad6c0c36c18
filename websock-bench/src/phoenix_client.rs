//! A light phoenix V2 client for the channel scenarios: a tokio-tungstenite connection that
//! joins `room:bench` and reads frames `[join_ref, ref, topic, event, payload]`, thousands of
//! them in one load process. Heartbeats every [`HEARTBEAT`] keep the server's idle timeout
//! (60 s) away during long presence storms.

use crate::channels_server::ROOM;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{net::SocketAddr, time::Duration};
use tokio_tungstenite::tungstenite::Message;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The socket's path, with the V2 serializer.
pub(crate) const PATH: &str = "/socket/websocket?vsn=2.0.0";

/// How often a client that reads for a long time sends a heartbeat.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(25);

/// How long a join may wait for its reply: a server busy with a presence storm is slow.
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);

/// One decoded frame.
pub(crate) struct Frame {
    pub(crate) reference: Option<String>,
    pub(crate) event: String,
    pub(crate) payload: Value,
}

impl Frame {
    /// A V2 text frame, or `None` for anything else (a binary push, a malformed frame).
    pub(crate) fn parse(text: &str) -> Option<Frame> {
        let (_, reference, _topic, event, payload): (
            Option<String>,
            Option<String>,
            String,
            String,
            Value,
        ) = serde_json::from_str(text).ok()?;
        Some(Frame {
            reference,
            event,
            payload,
        })
    }
}

/// The text of a push on `room:bench` (join ref `1`).
pub(crate) fn push(reference: u64, event: &str, payload: &Value) -> Message {
    Message::text(json!(["1", reference.to_string(), ROOM, event, payload]).to_string())
}

/// A heartbeat on the `phoenix` topic.
pub(crate) fn heartbeat(reference: u64) -> Message {
    Message::text(json!([null, reference.to_string(), "phoenix", "heartbeat", {}]).to_string())
}

/// Connects to the socket on `addr`, from the `index`th source address.
pub(crate) async fn connect(addr: SocketAddr, index: u64) -> Result<crate::load::Ws, BoxError> {
    crate::load::connect(addr, PATH, index, crate::load::small_config()).await
}

/// Joins `room:bench` with `params`; returns the frames that came before the join's reply
/// (presence diffs, broadcasts) for the caller to apply in order.
pub(crate) async fn join(ws: &mut crate::load::Ws, params: Value) -> Result<Vec<Frame>, BoxError> {
    ws.send(Message::text(
        json!(["1", "1", ROOM, "phx_join", params]).to_string(),
    ))
    .await?;
    let mut before = Vec::new();
    let wait = async {
        loop {
            let text = match ws.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(BoxError::from(error)),
                None => return Err("closed before the join reply".into()),
            };
            let Some(frame) = Frame::parse(&text) else {
                continue;
            };
            if frame.event == "phx_reply" && frame.reference.as_deref() == Some("1") {
                if frame.payload["status"] != "ok" {
                    return Err(format!("join refused: {}", frame.payload).into());
                }
                return Ok(());
            }
            before.push(frame);
        }
    };
    tokio::time::timeout(JOIN_TIMEOUT, wait)
        .await
        .map_err(|_| "no join reply in 120 s")??;
    Ok(before)
}
