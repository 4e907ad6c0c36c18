//! Test helpers in the spirit of `Phoenix.ChannelTest`: a socket in this process, without TCP
//! or HTTP, driving the same protocol code as a real connection.
//!
//! ```
//! # use websock_channels::{AnonymousSocket, Channel, ChannelSocket, JoinError, Payload, ChannelReply, Topic, socket};
//! # struct Echo;
//! # impl Channel for Echo {
//! #     const TOPIC: &'static str = "echo:{id}";
//! #     type Info = ();
//! #     type State = ();
//! #     async fn join(_: Topic, _: Payload, _: &mut ChannelSocket<'_, Self>) -> Result<(Self, Payload), JoinError> { Ok((Echo, Payload::empty())) }
//! #     async fn handle_in(&mut self, _: &str, payload: Payload, _: &mut ChannelSocket<'_, Self>) -> ChannelReply { ChannelReply::ok(payload) }
//! # }
//! use serde_json::json;
//! use websock_channels::testing::TestSocket;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let route = socket(AnonymousSocket).channel::<Echo>();
//! let mut client = TestSocket::connect(&route, [("token", "t")]).await.unwrap();
//! client.join("echo:1", json!({})).await.unwrap();
//! let push = client.push("echo:1", "ping", json!({"n": 1}));
//! assert_eq!(client.assert_reply(&push, "ok").await, json!({"n": 1}));
//! # }
//! ```
//!
//! Every `assert_*` waits up to the socket's timeout (1 s by default; see
//! [`TestSocket::timeout`]) and panics with what it waited for and what arrived instead.

use crate::{
    ConnectInfo, Params, Payload, Refused, Socket, SocketRoute,
    core::Core,
    mailbox::{Info, Mailbox},
    socket::connect_with,
};
use bytes::Bytes;
use serde_json::{Value, json};
use std::{collections::VecDeque, fmt, time::Duration};
use tokio::sync::mpsc;
use websock_runtime::{Close, Frame, Message};

/// A frame the server sent, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// The join ref (`None` for broadcasts and heartbeat replies).
    pub join_ref: Option<String>,
    /// The message ref (`Some` on replies and `phx_close`/`phx_error`).
    pub msg_ref: Option<String>,
    /// The topic.
    pub topic: String,
    /// The event (`phx_reply` for replies).
    pub event: String,
    /// For replies, the status.
    pub status: Option<String>,
    /// The payload (for replies, the `response`).
    pub payload: Payload,
}

impl Received {
    /// The payload as JSON (`Value::Null` for binary payloads).
    pub fn json(&self) -> Value {
        self.payload.as_json().cloned().unwrap_or(Value::Null)
    }

    /// Whether this is a broadcast (`[null, null, ..]`).
    pub fn is_broadcast(&self) -> bool {
        self.join_ref.is_none() && self.msg_ref.is_none()
    }
}

enum Event {
    Frame(Received),
    Closed(Close),
}

/// A client socket connected in process; see the [module docs](self).
pub struct TestSocket {
    to_server: Option<mpsc::Sender<Message>>,
    from_server: mpsc::UnboundedReceiver<Event>,
    buffer: VecDeque<Received>,
    closed: Option<Close>,
    next_ref: u64,
    timeout: Duration,
    joins: Vec<(String, String)>,
}

impl fmt::Debug for TestSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSocket")
            .field("buffered", &self.buffer.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// A reference to a push, for [`TestSocket::assert_reply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRef(pub String);

impl TestSocket {
    /// Runs the socket's `connect` with `params`, and on success a socket task.
    pub async fn connect<S, K, V>(
        route: &SocketRoute<S>,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, Refused>
    where
        S: Socket,
        K: Into<String>,
        V: Into<String>,
    {
        Self::connect_with(route, Params::new(params), ConnectInfo::default()).await
    }

    /// As [`connect`](Self::connect), with a [`ConnectInfo`] (an `authToken`, say).
    pub async fn connect_with<S: Socket>(
        route: &SocketRoute<S>,
        params: Params,
        info: ConnectInfo,
    ) -> Result<Self, Refused> {
        let hub = route.hub().clone();
        let connected = connect_with(&hub, &**route.user_socket(), params, info)
            .await
            .map_err(|_| Refused::new("connect refused"))?;
        let (to_server, mut inbound) = mpsc::channel::<Message>(1024);
        let (mailbox_tx, mut mailbox) = mpsc::channel::<Info>(1024);
        let (events, from_server) = mpsc::unbounded_channel();
        let serializer = connected.serializer;
        let mailbox_tx = Mailbox::new(mailbox_tx, hub.shared.counters.clone(), serializer);
        let mut core = Core::new(connected, mailbox_tx);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = inbound.recv() => match message {
                        Some(message) => core.handle_message(message).await,
                        None => break,
                    },
                    Some(info) = mailbox.recv() => core.handle_info(info).await,
                }
                for frame in core.take_out() {
                    if let Some(received) = decode(&frame) {
                        let _ = events.send(Event::Frame(received));
                    }
                }
                if let Some(close) = core.close.take() {
                    let _ = events.send(Event::Closed(close));
                    break;
                }
            }
            core.terminate().await;
        });
        Ok(Self {
            to_server: Some(to_server),
            from_server,
            buffer: VecDeque::new(),
            closed: None,
            next_ref: 0,
            timeout: Duration::from_secs(1),
            joins: Vec::new(),
        })
    }

    /// How long each `assert_*` waits (1 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    fn join_ref(&self, topic: &str) -> Option<String> {
        self.joins
            .iter()
            .rev()
            .find(|(t, _)| t == topic)
            .map(|(_, r)| r.clone())
    }

    /// Sends a raw frame, exactly as a client would.
    pub fn send(&mut self, message: Message) {
        if let Some(tx) = &self.to_server {
            let _ = tx.try_send(message);
        }
    }

    /// Sends `[join_ref, ref, topic, event, payload]` as a text frame.
    pub fn send_json(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        let text = json!([join_ref, msg_ref, topic, event, payload]).to_string();
        self.send(Message::Text(text.into()));
    }

    /// Joins `topic`: `Ok(response)` or `Err(response)` of the join reply.
    pub async fn join(&mut self, topic: &str, params: Value) -> Result<Value, Value> {
        let join_ref = self.make_ref();
        self.joins.push((topic.to_owned(), join_ref.clone()));
        self.send_json(Some(&join_ref), Some(&join_ref), topic, "phx_join", params);
        let reply = self.assert_reply_any(&PushRef(join_ref)).await;
        match reply.status.as_deref() {
            Some("ok") => Ok(reply.json()),
            _ => Err(reply.json()),
        }
    }

    /// Pushes `event` to the joined `topic` (with its current join_ref).
    pub fn push(&mut self, topic: &str, event: &str, payload: Value) -> PushRef {
        let msg_ref = self.make_ref();
        let join_ref = self.join_ref(topic);
        self.send_json(join_ref.as_deref(), Some(&msg_ref), topic, event, payload);
        PushRef(msg_ref)
    }

    /// Pushes bytes, as phoenix.js sends an `ArrayBuffer` payload (binary kind 0).
    pub fn push_binary(&mut self, topic: &str, event: &str, data: &[u8]) -> PushRef {
        let msg_ref = self.make_ref();
        let join_ref = self.join_ref(topic).unwrap_or_default();
        let mut frame = vec![0u8];
        for field in [join_ref.as_str(), msg_ref.as_str(), topic, event] {
            frame.push(u8::try_from(field.len()).expect("fields are at most 255 bytes"));
        }
        for field in [join_ref.as_str(), msg_ref.as_str(), topic, event] {
            frame.extend_from_slice(field.as_bytes());
        }
        frame.extend_from_slice(data);
        self.send(Message::Binary(Bytes::from(frame)));
        PushRef(msg_ref)
    }

    /// Leaves `topic`; returns the reply's status.
    pub async fn leave(&mut self, topic: &str) -> String {
        let msg_ref = self.make_ref();
        let join_ref = self.join_ref(topic);
        self.send_json(
            join_ref.as_deref(),
            Some(&msg_ref),
            topic,
            "phx_leave",
            json!({}),
        );
        let reply = self.assert_reply_any(&PushRef(msg_ref)).await;
        reply.status.unwrap_or_default()
    }

    /// Sends a heartbeat and waits for its ok reply.
    pub async fn heartbeat(&mut self) {
        let msg_ref = self.make_ref();
        self.send_json(None, Some(&msg_ref), "phoenix", "heartbeat", json!({}));
        self.assert_reply(&PushRef(msg_ref), "ok").await;
    }

    /// Waits for the reply to `push` with `status`; returns its response as JSON.
    pub async fn assert_reply(&mut self, push: &PushRef, status: &str) -> Value {
        let reply = self.assert_reply_any(push).await;
        assert_eq!(
            reply.status.as_deref(),
            Some(status),
            "reply to ref {} has status {:?}, expected {status:?}: {reply:?}",
            push.0,
            reply.status
        );
        reply.json()
    }

    /// Waits for the reply to `push`, whatever its status.
    pub async fn assert_reply_any(&mut self, push: &PushRef) -> Received {
        let wanted = push.0.clone();
        self.expect(&format!("a reply to ref {wanted}"), |r| {
            r.event == "phx_reply" && r.msg_ref.as_deref() == Some(wanted.as_str())
        })
        .await
    }

    /// Waits for a push (`[join_ref, null, ..]`) of `event` on `topic`; returns its payload.
    pub async fn assert_push(&mut self, topic: &str, event: &str) -> Payload {
        self.expect(&format!("a push of {event:?} on {topic:?}"), |r| {
            r.topic == topic && r.event == event && r.join_ref.is_some() && r.msg_ref.is_none()
        })
        .await
        .payload
    }

    /// Waits for a broadcast (`[null, null, ..]`) of `event` on `topic`; returns its payload.
    pub async fn assert_broadcast(&mut self, topic: &str, event: &str) -> Payload {
        self.expect(&format!("a broadcast of {event:?} on {topic:?}"), |r| {
            r.topic == topic && r.event == event && r.is_broadcast()
        })
        .await
        .payload
    }

    /// Waits for any message of `event` on `topic`.
    pub async fn assert_event(&mut self, topic: &str, event: &str) -> Received {
        self.expect(&format!("{event:?} on {topic:?}"), |r| {
            r.topic == topic && r.event == event
        })
        .await
    }

    /// Asserts that nothing matching `event` on `topic` arrives within `within`.
    pub async fn refute_event(&mut self, topic: &str, event: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(found) = self
                .buffer
                .iter()
                .find(|r| r.topic == topic && r.event == event)
            {
                panic!("expected no {event:?} on {topic:?}, got {found:?}");
            }
            match tokio::time::timeout_at(deadline, self.from_server.recv()).await {
                Ok(Some(Event::Frame(received))) => self.buffer.push_back(received),
                Ok(Some(Event::Closed(close))) => self.closed = Some(close),
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// The next frame, whatever it is.
    pub async fn next(&mut self) -> Received {
        self.expect("any frame", |_| true).await
    }

    /// Waits for the server to close the socket; returns its close frame.
    pub async fn assert_closed(&mut self) -> Close {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(close) = &self.closed {
                return close.clone();
            }
            match tokio::time::timeout_at(deadline, self.from_server.recv()).await {
                Ok(Some(Event::Frame(received))) => self.buffer.push_back(received),
                Ok(Some(Event::Closed(close))) => self.closed = Some(close),
                Ok(None) => panic!("the socket ended without a close frame"),
                Err(_) => panic!(
                    "timed out after {:?} waiting for the socket to close; received meanwhile: {:?}",
                    self.timeout, self.buffer
                ),
            }
        }
    }

    /// Closes the client side: the socket terminates its channels (presence leaves, ..).
    pub fn close(&mut self) {
        self.to_server = None;
    }

    async fn expect(&mut self, what: &str, matches: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(at) = self.buffer.iter().position(&matches) {
                return self.buffer.remove(at).expect("the position is in range");
            }
            match tokio::time::timeout_at(deadline, self.from_server.recv()).await {
                Ok(Some(Event::Frame(received))) => self.buffer.push_back(received),
                Ok(Some(Event::Closed(close))) => {
                    panic!(
                        "waiting for {what}: the server closed the socket ({close}); received: {:?}",
                        self.buffer
                    )
                }
                Ok(None) => panic!(
                    "waiting for {what}: the socket ended; received: {:?}",
                    self.buffer
                ),
                Err(_) => panic!(
                    "timed out after {:?} waiting for {what}; received meanwhile: {:?}",
                    self.timeout, self.buffer
                ),
            }
        }
    }
}

/// Decodes a server frame as phoenix.js does.
pub(crate) fn decode(frame: &Frame) -> Option<Received> {
    match frame {
        Frame::Text(text) => {
            let value: Value = serde_json::from_str(text.as_str()).ok()?;
            let items = value.as_array()?;
            let string = |i: usize| items.get(i).and_then(Value::as_str).map(str::to_owned);
            let event = string(3)?;
            let payload = items.get(4).cloned().unwrap_or(Value::Null);
            let (status, payload) = if event == "phx_reply" {
                (
                    payload
                        .get("status")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    payload.get("response").cloned().unwrap_or(Value::Null),
                )
            } else {
                (None, payload)
            };
            Some(Received {
                join_ref: string(0),
                msg_ref: string(1),
                topic: string(2)?,
                event,
                status,
                payload: Payload::Json(payload),
            })
        }
        Frame::Binary(bytes) => decode_binary(bytes),
        Frame::Shared(shared) => decode(shared.frame()),
        _ => None,
    }
}

fn decode_binary(bytes: &Bytes) -> Option<Received> {
    let kind = *bytes.first()?;
    let count = match kind {
        0 => 3,
        1 => 4,
        2 => 2,
        _ => return None,
    };
    let lens = bytes.get(1..1 + count)?;
    let mut at = 1 + count;
    let mut fields = Vec::with_capacity(count);
    for &len in lens {
        let end = at + usize::from(len);
        fields.push(String::from_utf8(bytes.get(at..end)?.to_vec()).ok()?);
        at = end;
    }
    let payload = Payload::Binary(bytes.slice(at..));
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    Some(match kind {
        0 => Received {
            join_ref: non_empty(&fields[0]),
            msg_ref: None,
            topic: fields[1].clone(),
            event: fields[2].clone(),
            status: None,
            payload,
        },
        1 => Received {
            join_ref: non_empty(&fields[0]),
            msg_ref: non_empty(&fields[1]),
            topic: fields[2].clone(),
            event: "phx_reply".to_owned(),
            status: Some(fields[3].clone()),
            payload,
        },
        _ => Received {
            join_ref: None,
            msg_ref: None,
            topic: fields[0].clone(),
            event: fields[1].clone(),
            status: None,
            payload,
        },
    })
}
