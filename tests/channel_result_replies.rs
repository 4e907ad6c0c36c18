//! What a channel callback's `Result` and typed parameters become on the wire, over a real
//! socket with tokio-tungstenite: `Ok` and `Err` replies through `OkReply`/`ErrorReply`, a
//! capture parsed through `FromCapture`, a payload through `FromPayload`.

mod support;

use serde::Deserialize;
use serde_json::{Value, json};
use support::{connect_v2, next_text, send, serve};
use websock::Router;
use websock::channel;
use websock::channels::{AnonymousSocket, ChannelSocket, Payload, socket};

struct Room {
    id: u32,
}

#[derive(Deserialize)]
struct Delete {
    allowed: bool,
}

#[channel("room:{id}")]
impl Room {
    #[on_join]
    fn join(id: u32, _socket: &mut ChannelSocket) -> Self {
        Room { id }
    }

    #[on_event("delete")]
    fn delete(&mut self, request: Delete) -> Result<Value, Payload> {
        if request.allowed {
            Ok(json!({ "deleted": self.id }))
        } else {
            Err(Payload::reason("not allowed"))
        }
    }
}

#[tokio::test]
async fn ok_and_err_replies_captures_and_payloads() {
    let route = socket(AnonymousSocket).channel::<Room>();
    let addr = serve(Router::new().route("/socket/websocket", route)).await;
    let mut client = connect_v2(addr).await;

    // `{id}` is a `u32`: "x" does not parse, so the topic is unmatched (as one no channel
    // serves: no join_ref).
    send(&mut client, r#"["1","1","room:x","phx_join",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"[null,"1","room:x","phx_reply",{"status":"error","response":{"reason":"unmatched topic"}}]"#
    );
    send(&mut client, r#"["2","2","room:7","phx_join",{}]"#).await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["2","2","room:7","phx_reply",{"status":"ok","response":{}}]"#
    );

    send(
        &mut client,
        r#"["2","3","room:7","delete",{"allowed":true}]"#,
    )
    .await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["2","3","room:7","phx_reply",{"status":"ok","response":{"deleted":7}}]"#
    );
    send(
        &mut client,
        r#"["2","4","room:7","delete",{"allowed":false}]"#,
    )
    .await;
    assert_eq!(
        next_text(&mut client).await,
        r#"["2","4","room:7","phx_reply",{"status":"error","response":{"reason":"not allowed"}}]"#
    );
    // A payload that does not deserialize into `Delete`: the error reply, the channel goes on.
    send(
        &mut client,
        r#"["2","5","room:7","delete",{"allowed":"yes"}]"#,
    )
    .await;
    let reply: Value = serde_json::from_str(&next_text(&mut client).await).unwrap();
    assert_eq!(reply[4]["status"], "error");
    assert!(
        reply[4]["response"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.starts_with("invalid payload")),
        "{reply}"
    );
}
