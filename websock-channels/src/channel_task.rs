//! A joined channel's task (Phoenix's channel process): it owns the channel and its
//! state (`SocketState`, which its callbacks see as their `ChannelSocket`), runs their callbacks one at a time from its own mailbox, and sends what
//! they push to its socket, in order. A slow callback delays only its own channel; one that
//! panics or runs past the callback timeout ends only its channel (`phx_error`; phoenix.js
//! rejoins), never the socket.

use crate::{
    Broadcast, Payload,
    channel::{ChannelReply, DynChannel, LeaveReason, Mail, SocketState},
    mailbox::{Down, Info, Mailbox},
    protocol::{Header, Inbound},
    serializer::Serializer,
};
use serde_json::json;
use std::{future::Future, time::Duration};
use tokio::sync::mpsc;
use tracing::Instrument;
use websock_runtime::Frame;

/// How many messages may wait for one channel's task: past the rate limit's default burst, so
/// a client within its limits never meets it. Beyond it the channel is stuck or flooded: the
/// socket answers an event itself (`{"reason":"channel busy"}`) rather than wait. tokio
/// allocates a bounded channel's slots in blocks of 32 as they fill, so an idle channel does
/// not pay for this capacity.
pub(crate) const CAPACITY: usize = 1024;

/// Why a callback did not return.
pub(crate) enum Failure {
    Panicked(String),
    TimedOut(Duration),
}

impl Failure {
    /// The `phx_error` payload's reason.
    fn reason(&self) -> &'static str {
        match self {
            Self::Panicked(_) => "channel_crash",
            Self::TimedOut(_) => "timeout",
        }
    }
}

/// Runs one callback: a panic, or running longer than `timeout`, is a failure.
pub(crate) async fn guard<F: Future>(
    timeout: Option<Duration>,
    future: F,
) -> Result<F::Output, Failure> {
    let caught = websock_runtime::__private::catch_panic(future);
    match timeout {
        Some(limit) => match tokio::time::timeout(limit, caught).await {
            Ok(outcome) => outcome.map_err(Failure::Panicked),
            Err(_) => Err(Failure::TimedOut(limit)),
        },
        None => caught.await.map_err(Failure::Panicked),
    }
}

/// One joined channel, run by [`run`](Self::run) in its own task.
pub(crate) struct ChannelTask {
    pub(crate) channel: Box<dyn DynChannel>,
    pub(crate) socket: SocketState,
    pub(crate) mail: mpsc::Receiver<Mail>,
    /// The socket's mailbox, where its frames go.
    pub(crate) out: Mailbox,
    pub(crate) timeout: Option<Duration>,
    /// The socket's wire format (V1 or V2), for the frames this channel sends.
    pub(crate) serializer: Serializer,
}

impl ChannelTask {
    /// Handles the channel's mail until it ends. Not an `async fn`: that would hold `self`
    /// and `span` once more beside the instrumented future, in every idle channel's task.
    pub(crate) fn run(mut self, span: tracing::Span) -> impl Future<Output = ()> + Send {
        async move {
            while let Some(mail) = self.mail.recv().await {
                // Boxed: an idle channel's task holds only this loop waiting on its mailbox,
                // not the (larger) state of a callback in progress.
                if Box::pin(self.handle(mail)).await {
                    return;
                }
            }
            // Every sender has gone: the socket was dropped without ending its channels.
            Box::pin(self.terminate(LeaveReason::SocketClosed)).await;
        }
        .instrument(span)
    }

    /// Handles one message; `true` when the channel has ended.
    async fn handle(&mut self, mail: Mail) -> bool {
        match mail {
            Mail::In(msg) => self.event(*msg).await,
            Mail::Out(message) => {
                let callback = self.channel.handle_out(
                    message.event(),
                    message.payload().clone(),
                    &mut self.socket,
                );
                let outcome = guard(self.timeout, callback).await;
                self.after(outcome, None).await
            }
            Mail::Info(info) => {
                let callback = self.channel.handle_info(*info, &mut self.socket);
                let outcome = guard(self.timeout, callback).await;
                self.after(outcome, None).await
            }
            Mail::Published(message) => self.published(&message).await,
            Mail::Leave(msg) => {
                self.leave(&msg).await;
                true
            }
            Mail::End(reason) => {
                self.terminate(reason).await;
                true
            }
        }
    }

    /// A value published to the topic: to `handle_info` if the channel takes its type, else
    /// counted and logged (never a silent drop).
    async fn published(&mut self, message: &Broadcast) -> bool {
        let Some(value) = message.info_value() else {
            return false;
        };
        let Some(callback) = self.channel.handle_published(value, &mut self.socket) else {
            self.socket.shared.counters.unhandled_info();
            tracing::warn!(
                tag = value.tag(),
                remote = value.is_remote(),
                "published value dropped: the channel has no #[on_info] for its type (or it came from another node and did not decode)"
            );
            return false;
        };
        let outcome = guard(self.timeout, callback).await;
        self.after(outcome, None).await
    }

    async fn event(&mut self, msg: Inbound) -> bool {
        let Inbound { header, payload } = msg;
        let callback = self
            .channel
            .handle_in(&header.event, payload, &mut self.socket);
        let outcome = guard(self.timeout, callback).await;
        self.after(outcome, Some(&header)).await
    }

    /// Sends what a callback pushed, then its reply (Phoenix sends a push as it happens and
    /// the reply when the callback returns), then publishes its broadcasts; ends the channel
    /// on a stop or a failure. `true` when the channel has ended.
    async fn after(&mut self, outcome: Result<ChannelReply, Failure>, to: Option<&Header>) -> bool {
        let ChannelReply { status, stop } = match outcome {
            Ok(reply) => reply,
            Err(failure) => {
                self.crashed(failure).await;
                return true;
            }
        };
        let mut frames = self.pushes();
        if let (Some((status, payload)), Some(msg)) = (status, to) {
            if msg.msg_ref.is_some() {
                let frame = self.serializer.encode_reply(
                    Some(&self.socket.join_ref),
                    msg.msg_ref.as_deref(),
                    &msg.topic,
                    &status,
                    &payload,
                );
                self.encoded(frame, &status, &mut frames);
            }
        }
        self.send(frames).await;
        self.publish().await;
        if stop || self.socket.stop {
            self.terminate(LeaveReason::Stop).await;
            let close = self.lifecycle("phx_close", &json!({}));
            self.down(close).await;
            return true;
        }
        false
    }

    /// The pushes a callback queued, encoded.
    fn pushes(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        for push in std::mem::take(&mut self.socket.pushes) {
            let (frame, event) =
                push.encode(self.serializer, &self.socket.join_ref, &self.socket.topic);
            self.encoded(frame, event, &mut frames);
        }
        frames
    }

    /// Keeps a frame that may not have been encodable (a binary field over 255 bytes).
    fn encoded(&self, frame: Option<Frame>, event: &str, frames: &mut Vec<Frame>) {
        match frame {
            Some(frame) => frames.push(frame),
            None => {
                self.socket.shared.counters.unencodable();
                tracing::error!(
                    event,
                    "frame not sent: a binary payload's topic, event or status must be at most 255 bytes"
                );
            }
        }
    }

    fn lifecycle(&self, event: &str, payload: &serde_json::Value) -> Frame {
        self.serializer
            .encode_lifecycle(&self.socket.join_ref, &self.socket.topic, event, payload)
    }

    /// Hands frames to the socket, waiting for room in its mailbox: the socket writes them in
    /// the order they were sent.
    async fn send(&mut self, frames: Vec<Frame>) {
        if !frames.is_empty() {
            self.out.send_info_waiting(Info::Frames(frames)).await;
        }
    }

    /// Queues the broadcasts a callback made, in order, on the socket's publisher: the next
    /// callback does not wait for the adapter.
    async fn publish(&mut self) {
        for broadcast in std::mem::take(&mut self.socket.broadcasts) {
            self.socket.publisher.publish(broadcast).await;
        }
    }

    /// Tells the socket this channel has ended by itself.
    async fn down(&mut self, frame: Frame) {
        let down = Info::Down(Box::new(Down {
            topic: self.socket.topic.clone(),
            instance: self.socket.instance,
            frame: Some(frame),
        }));
        self.out.send_info_waiting(down).await;
    }

    /// A callback panicked or timed out: `phx_error` (the client rejoins), and only this
    /// channel goes. What it queued before is dropped with the state it came from.
    async fn crashed(&mut self, failure: Failure) {
        self.socket.shared.counters.crashed();
        match &failure {
            Failure::Panicked(panic) => tracing::error!(panic, "channel crashed"),
            Failure::TimedOut(limit) => {
                tracing::error!(?limit, "channel callback timed out: channel crashed");
            }
        }
        self.socket.pushes.clear();
        self.socket.broadcasts.clear();
        self.socket.end_timers();
        let error = self.lifecycle("phx_error", &json!({ "reason": failure.reason() }));
        self.down(error).await;
    }

    /// The client left: reply ok, `terminate`, then `phx_close`.
    async fn leave(&mut self, msg: &Header) {
        // The reply names the channel's join even when the leave came with a `null` join_ref.
        let ok = self.serializer.encode_reply(
            Some(&self.socket.join_ref),
            msg.msg_ref.as_deref(),
            &msg.topic,
            "ok",
            &Payload::empty(),
        );
        self.terminate(LeaveReason::Leave).await;
        let mut frames = Vec::with_capacity(2);
        self.encoded(ok, "ok", &mut frames);
        frames.push(self.lifecycle("phx_close", &json!({})));
        self.send(frames).await;
    }

    /// Runs `terminate`. Its pushes are not sent (the channel is gone); its broadcasts are.
    async fn terminate(&mut self, reason: LeaveReason) {
        let callback = self.channel.terminate(reason, &mut self.socket);
        if let Err(failure) = guard(self.timeout, callback).await {
            self.socket.shared.counters.crashed();
            match failure {
                Failure::Panicked(panic) => tracing::error!(panic, "terminate panicked"),
                Failure::TimedOut(limit) => tracing::error!(?limit, "terminate timed out"),
            }
            self.socket.broadcasts.clear();
        }
        self.socket.pushes.clear();
        self.socket.end_timers();
        self.publish().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What BENCHMARKS.md itemises: run with `--nocapture`.
    #[test]
    fn sizes() {
        println!("ChannelTask: {} B", std::mem::size_of::<ChannelTask>());
        println!("SocketState: {} B", std::mem::size_of::<SocketState>());
        println!("Mail: {} B", std::mem::size_of::<Mail>());
        println!("Info: {} B", std::mem::size_of::<Info>());
        println!("Frame: {} B", std::mem::size_of::<websock_runtime::Frame>());
        assert_eq!(std::mem::size_of::<Mail>(), 16);
        // Every slot of a socket's mailbox is this large (a block holds 32).
        assert!(std::mem::size_of::<Info>() <= 32);
    }
}
