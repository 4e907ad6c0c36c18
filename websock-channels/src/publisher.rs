//! A socket's broadcasts, published in order by one task of their own: a channel (or the
//! socket) hands a broadcast over and goes on, instead of awaiting the adapter (a Redis round
//! trip) before its next reply.

use crate::{Broadcast, PubSub};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc;

/// How many broadcasts may wait for the adapter before a publisher waits for room: a
/// backlog that large means the adapter is far behind, and waiting is the visible bound.
const CAPACITY: usize = 1024;

/// The publish queue of one socket, shared by its channels; its task starts with the first
/// broadcast and ends when the socket and its channels have all gone.
#[derive(Clone)]
pub(crate) struct Publisher {
    pubsub: PubSub,
    queue: Arc<OnceLock<mpsc::Sender<Broadcast>>>,
}

impl Publisher {
    pub(crate) fn new(pubsub: PubSub) -> Self {
        Self {
            pubsub,
            queue: Arc::default(),
        }
    }

    /// Queues `broadcast` behind this socket's earlier ones. Waits only while the queue is
    /// full.
    pub(crate) async fn publish(&self, broadcast: Broadcast) {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            tokio::spawn(drain(self.pubsub.clone(), rx));
            tx
        });
        // The task ends only when every sender (this one included) has gone.
        let _ = queue.send(broadcast).await;
    }
}

/// Sends each queued broadcast through the adapter, one after the other: one publisher's
/// broadcasts arrive in the order they were made.
async fn drain(pubsub: PubSub, mut queue: mpsc::Receiver<Broadcast>) {
    while let Some(broadcast) = queue.recv().await {
        if let Err(error) = pubsub.send(broadcast).await {
            tracing::warn!(%error, "broadcast failed");
        }
    }
}
