//! One LongPoll session: a WebSocket connection of the route's socket handler whose frames
//! travel over an in-memory pipe, with the buffer its polls drain.

use super::{
    frames::{self, ServerMessage},
    metrics::Counters,
};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf},
    sync::Notify,
    time::Instant,
};

/// The sessions of one LongPoll endpoint, by id.
#[derive(Default)]
pub(super) struct Sessions {
    map: Mutex<HashMap<u64, Arc<Session>>>,
    next: AtomicU64,
}

impl Sessions {
    pub(super) fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.map.lock().ok()?.get(&id).cloned()
    }

    pub(super) fn len(&self) -> usize {
        self.map.lock().map_or(0, |map| map.len())
    }

    /// A new session writing into `writer`, or `None` when `max` are open.
    pub(super) fn insert(
        &self,
        writer: WriteHalf<DuplexStream>,
        max: usize,
    ) -> Option<Arc<Session>> {
        let mut map = self.map.lock().ok()?;
        if map.len() >= max {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(Session {
            id,
            state: Mutex::new(State {
                buffer: Vec::new(),
                bytes: 0,
                closed: false,
                last_poll: Instant::now(),
                generation: 0,
                polling: 0,
            }),
            notify: Notify::new(),
            writer: tokio::sync::Mutex::new(Some(writer)),
        });
        map.insert(id, session.clone());
        Some(session)
    }

    pub(super) fn remove(&self, id: u64) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&id);
        }
    }
}

pub(super) struct Session {
    pub(super) id: u64,
    state: Mutex<State>,
    /// Wakes the held polls: messages arrived, a newer poll came, or the session ended.
    notify: Notify,
    writer: tokio::sync::Mutex<Option<WriteHalf<DuplexStream>>>,
}

struct State {
    /// Serialized frames, oldest first, waiting for a poll.
    buffer: Vec<String>,
    bytes: usize,
    closed: bool,
    last_poll: Instant,
    /// Bumped by every poll: only the newest poll takes messages.
    generation: u64,
    /// Polls held now.
    polling: usize,
}

/// How a held poll ended.
pub(super) enum Polled {
    Messages(Vec<String>),
    /// The window passed with nothing to send.
    Empty,
    /// A newer poll of the same session took over.
    Superseded,
    /// The session ended.
    Gone,
}

/// Why frames did not reach the connection.
pub(super) enum SendFailed {
    Gone,
    Timeout,
}

/// Decrements the count of held polls however the poll ends (hyper drops the future of a
/// request whose client went away).
struct Holding<'a>(&'a Session, &'a Counters);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.1.held_polls.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut state) = self.0.state.lock() {
            state.polling -= 1;
            state.last_poll = Instant::now();
        }
    }
}

impl Session {
    /// Holds a poll for up to `window`: Phoenix's `listen`.
    pub(super) async fn poll(&self, window: Duration, counters: &Counters) -> Polled {
        let generation = {
            let Ok(mut state) = self.state.lock() else {
                return Polled::Gone;
            };
            state.generation += 1;
            state.polling += 1;
            state.last_poll = Instant::now();
            state.generation
        };
        counters.held_polls.fetch_add(1, Ordering::Relaxed);
        let _holding = Holding(self, counters);
        // An older poll of this session answers now (204) instead of waiting out its window.
        self.notify.notify_waiters();
        let deadline = Instant::now() + window;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let Ok(mut state) = self.state.lock() else {
                    return Polled::Gone;
                };
                if state.generation != generation {
                    counters.superseded_polls.fetch_add(1, Ordering::Relaxed);
                    return Polled::Superseded;
                }
                if !state.buffer.is_empty() {
                    state.bytes = 0;
                    return Polled::Messages(std::mem::take(&mut state.buffer));
                }
                if state.closed {
                    return Polled::Gone;
                }
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(deadline) => return Polled::Empty,
            }
        }
    }

    /// Writes client frames into the connection, waiting at most `timeout` for it to read.
    pub(super) async fn send(&self, frames: &[u8], timeout: Duration) -> Result<(), SendFailed> {
        let write = async {
            let mut writer = self.writer.lock().await;
            let writer = writer.as_mut().ok_or(SendFailed::Gone)?;
            writer
                .write_all(frames)
                .await
                .map_err(|_| SendFailed::Gone)?;
            writer.flush().await.map_err(|_| SendFailed::Gone)
        };
        tokio::time::timeout(timeout, write)
            .await
            .unwrap_or(Err(SendFailed::Timeout))
    }

    /// Adds a frame for the next poll; `false` when the buffer would go over `max` bytes.
    fn push(&self, frame: String, max: usize) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        if state.bytes + frame.len() > max {
            return false;
        }
        state.bytes += frame.len();
        state.buffer.push(frame);
        drop(state);
        self.notify.notify_waiters();
        true
    }

    fn expired(&self, timeout: Duration) -> bool {
        self.state.lock().map_or(true, |state| {
            state.polling == 0 && state.last_poll.elapsed() > timeout
        })
    }

    /// Ends the session: polls answer 410 from now on, and the connection reads the end of its
    /// stream, so its channels leave as when a WebSocket drops.
    async fn end(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
        }
        self.notify.notify_waiters();
        if let Some(mut writer) = self.writer.lock().await.take() {
            let _ = writer.shutdown().await;
        }
    }
}

/// What a session's bridge task needs.
pub(super) struct Bridge {
    pub(super) sessions: Arc<Sessions>,
    pub(super) session: Arc<Session>,
    pub(super) reader: ReadHalf<DuplexStream>,
    pub(super) counters: Arc<Counters>,
    pub(super) buffer_bytes: usize,
    /// A session with no poll for this long ends (Phoenix: 1.5 × the poll window, checked
    /// as often).
    pub(super) timeout: Duration,
}

impl Bridge {
    /// Moves the connection's frames into the session's buffer until the connection ends,
    /// the buffer overflows or the polls stop.
    pub(super) async fn run(mut self) {
        let mut check = tokio::time::interval(self.timeout);
        check.tick().await;
        loop {
            tokio::select! {
                message = frames::read_message(&mut self.reader, self.buffer_bytes) => {
                    if !self.deliver(message) {
                        break;
                    }
                }
                _ = check.tick() => {
                    if self.session.expired(self.timeout) {
                        self.counters.expired.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(session = self.session.id, "longpoll session expired: no poll");
                        break;
                    }
                }
            }
        }
        self.sessions.remove(self.session.id);
        self.session.end().await;
    }

    /// `false` when the session must end.
    fn deliver(&self, message: std::io::Result<Option<ServerMessage>>) -> bool {
        match message {
            Ok(Some(ServerMessage::Text(frame))) => {
                if self.session.push(frame, self.buffer_bytes) {
                    return true;
                }
                self.counters.overflows.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    session = self.session.id,
                    max_bytes = self.buffer_bytes,
                    "longpoll session ended: its buffer is full (the client stopped polling?)"
                );
                false
            }
            Ok(Some(ServerMessage::Binary(len))) => {
                // phoenix.js's LongPoll JSON-parses every message: a binary frame cannot reach
                // it. Dropped whole, never sent mangled.
                self.counters.binary_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    session = self.session.id,
                    len,
                    "binary frame not sent: LongPoll carries text frames only"
                );
                true
            }
            Ok(Some(ServerMessage::Close) | None) => false,
            Err(error) if error.kind() == std::io::ErrorKind::OutOfMemory => {
                self.counters.overflows.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    session = self.session.id,
                    max_bytes = self.buffer_bytes,
                    "longpoll session ended: a message is larger than its buffer"
                );
                false
            }
            Err(error) => {
                tracing::warn!(session = self.session.id, %error, "longpoll session ended");
                false
            }
        }
    }
}
