//! The runtime handler: one per WebSocket connection, driving the socket's [`Core`].

use crate::{
    broadcast::{BoxFuture, Delivery},
    core::Core,
    hub::Connected,
    mailbox::{Inbox, Info, Mailbox},
};
use std::fmt;
use tracing::Instrument;
use websock_runtime::{
    Close, Context, Handle, Handler, Message, Reply, SendError, TerminateReason,
};

/// A message in a socket's mailbox (a broadcast, or an info for one of its channels).
pub(crate) struct SocketInfo(pub(crate) Info);

impl fmt::Debug for SocketInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Info::Broadcast(message) => f.debug_tuple("Broadcast").field(message).finish(),
            Info::Frames(frames) => f.debug_tuple("Frames").field(&frames.len()).finish(),
            Info::Down(down) => f.debug_struct("Down").field("topic", &down.topic).finish(),
            Info::Wake => f.write_str("Wake"),
        }
    }
}

/// The runtime handler behind a [`SocketRoute`](crate::SocketRoute): the Phoenix socket of one
/// connection, multiplexing its channels.
pub(crate) struct SocketHandler {
    core: Core,
}

impl fmt::Debug for SocketHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketHandler")
            .field("id", &self.core.socket_id())
            .finish_non_exhaustive()
    }
}

impl SocketHandler {
    fn drain(&mut self, ctx: &mut Context<Self>) -> Reply {
        self.core.drain_out(|frame| ctx.push(frame));
        match self.core.close.take() {
            Some(close) => Reply::close(close),
            None => Reply::ok(),
        }
    }
}

impl Handler for SocketHandler {
    type Init = Connected;
    type Info = SocketInfo;

    async fn init(init: Connected, ctx: &mut Context<Self>) -> Result<Self, Close> {
        let counters = init.hub.shared.counters.clone();
        let mailbox = Mailbox::new(ctx.handle().clone(), counters, init.serializer);
        Ok(Self {
            core: Core::new(init, mailbox),
        })
    }

    async fn handle_in(&mut self, message: Message, ctx: &mut Context<Self>) -> Reply {
        let span = self.core.span.clone();
        // Boxed: a join's future is large, and the connection's task holds this callback's
        // future inline, idle or not (+1 allocation per client message; they allocate anyway).
        Box::pin(self.core.handle_message(message).instrument(span)).await;
        self.drain(ctx)
    }

    async fn handle_info(&mut self, info: SocketInfo, ctx: &mut Context<Self>) -> Reply {
        let span = self.core.span.clone();
        // A broadcast (the fan-out's hot path) is handled without a future or an allocation;
        // only a channel's end waits, boxed as above.
        if let Some(info) = span.in_scope(|| self.core.handle_info_now(info.0)) {
            Box::pin(self.core.handle_info(info).instrument(span)).await;
        }
        self.drain(ctx)
    }

    async fn terminate(&mut self, reason: TerminateReason, _ctx: &mut Context<Self>) {
        let span = self.core.span.clone();
        span.in_scope(|| tracing::debug!(?reason, "socket closing"));
        self.core.terminate().instrument(span).await;
    }
}

/// A runtime connection's mailbox is where its socket's mailbox messages go.
impl Inbox for Handle<SocketHandler> {
    fn try_send(&self, info: Info) -> Result<(), Delivery> {
        Handle::try_send(self, SocketInfo(info)).map_err(|e| match e {
            SendError::Full(_) => Delivery::Full,
            SendError::Closed(_) => Delivery::Gone,
        })
    }

    fn send(&self, info: Info) -> BoxFuture<'_, bool> {
        Box::pin(async move { Handle::send(self, SocketInfo(info)).await.is_ok() })
    }

    fn len(&self) -> usize {
        self.stats().mailbox_len
    }

    fn try_write_frame(&self, frame: &websock_runtime::Frame) -> bool {
        Handle::try_write_frame(self, frame)
    }
}
