//! Running a handler over a stream that is already a WebSocket, for transports built on the
//! runtime (websock-channels' LongPoll runs each session as a WebSocket over an in-memory
//! pipe), and handing an HTTP request's body to such transports.

use crate::{
    Config, Handler, RequestInfo, ServerHandle,
    connection::{self, Start},
};
use hyper::body::Incoming;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};

/// Why [`run_on_stream`] did not start.
#[derive(Debug)]
pub struct NoSlot;

/// Runs `H` over `stream`, which speaks RFC 6455 frames past the handshake, as the connection
/// of `request`. When `server` is given, the connection takes one of its slots (counted under
/// its connection limit, closed by its shutdown) and runs on its task tracker; `Err(NoSlot)`
/// when the limit is reached. The connection runs in a task of its own; its handle says when
/// it ended.
pub fn run_on_stream<H, S>(
    stream: S,
    init: H::Init,
    request: RequestInfo,
    config: Config,
    server: Option<&ServerHandle>,
) -> Result<tokio::task::JoinHandle<()>, NoSlot>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = match server {
        Some(server) => Some(server.try_acquire().ok_or(NoSlot)?),
        None => None,
    };
    let tracker = slot.as_ref().map(|slot| slot.server().tracker().clone());
    let start = Box::new(Start::<H> {
        init,
        request: Box::new(request),
        config: Arc::new(config),
        slot,
        // The transports running here (LongPoll) frame their own messages.
        deflate: None,
    });
    let task = connection::run(stream, start, bytes::Bytes::new());
    Ok(match tracker {
        Some(tracker) => tracker.spawn(task),
        None => tokio::spawn(task),
    })
}

/// A request's body, kept in its extensions by [`Server`](crate::Server): the [`Router`]
/// hands endpoints bodiless requests, and LongPoll's POSTs need theirs.
///
/// [`Router`]: crate::Router
#[derive(Clone, Debug)]
pub struct RequestBody(Arc<Mutex<Option<Incoming>>>);

impl RequestBody {
    pub(crate) fn new(body: Incoming) -> Self {
        Self(Arc::new(Mutex::new(Some(body))))
    }

    /// The body, once.
    pub fn take(&self) -> Option<Incoming> {
        self.0.lock().ok()?.take()
    }
}
