//! The fast lane: a frame encoded once for many connections (a channel broadcast) written by
//! its sender straight to the socket of every connection that is idle, rather than through
//! each connection's mailbox and task.
//!
//! A broadcast to 10,000 members otherwise wakes 10,000 tasks, each to take one message from
//! its mailbox and make one write; the write is most of the cost, and uWebSockets' `publish`
//! pays only that. Here the sender makes the write itself when the connection is parked with
//! nothing to send, and falls back to the mailbox otherwise.
//!
//! Order: nothing sent through the lane may overtake what a connection already has. So the
//! lane is open only while the connection is parked with its writer empty and its mailbox
//! empty; every mailbox send marks the lane `queued` (after queueing), which keeps it shut
//! until the connection has read its mailbox empty again; and the connection shuts it, under
//! the lock a sender writes under, before it does anything else when it wakes. A write the
//! socket takes only part of leaves the rest with the lane, and the connection, woken, writes
//! it before anything else.

use bytes::Bytes;
use std::{
    io::IoSlice,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    task::Waker,
};
use tokio::net::tcp::OwnedWriteHalf;

/// One connection's lane, in the state it shares with its handles.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    /// Something was queued in the mailbox since the connection last read it empty.
    queued: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The socket's writing half, once the connection has shared it.
    socket: Option<Arc<OwnedWriteHalf>>,
    /// The connection is parked with nothing to write: a sender may write.
    open: bool,
    /// What is left of a frame the socket took only part of.
    rest: Option<Bytes>,
    /// Wakes the connection for `rest`.
    waker: Option<Waker>,
}

impl Lane {
    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is a few field stores: a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A send to the mailbox: the lane stays shut until the connection has read it.
    pub(crate) fn mark_queued(&self) {
        self.queued.store(true, Ordering::SeqCst);
    }

    /// Writes `head` and `payload` (one whole frame) to the socket if the lane is open.
    /// `false`: nothing was written, send it through the mailbox.
    pub(crate) fn try_write(&self, head: &[u8], payload: &[u8]) -> bool {
        if self.queued.load(Ordering::SeqCst) {
            return false;
        }
        // Never wait: a sender that finds the lock held (the connection waking, another
        // sender writing) takes the mailbox, which is just as ordered.
        let Ok(mut state) = self.state.try_lock() else {
            return false;
        };
        if !state.open || self.queued.load(Ordering::SeqCst) {
            return false;
        }
        let Some(socket) = &state.socket else {
            return false;
        };
        let total = head.len() + payload.len();
        let slices = [IoSlice::new(head), IoSlice::new(payload)];
        // Would block, or failed (the connection sees the error on its own): nothing written.
        let written = socket.try_write_vectored(&slices).unwrap_or(0);
        if written == 0 {
            return false;
        }
        if written < total {
            let mut rest = Vec::with_capacity(total - written);
            let mut skip = written;
            for slice in [head, payload] {
                rest.extend_from_slice(&slice[skip.min(slice.len())..]);
                skip = skip.saturating_sub(slice.len());
            }
            let rest = Bytes::from(rest);
            state.rest = Some(rest);
            state.open = false;
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
        true
    }

    /// The connection has woken: shuts the lane, and returns what is left of a frame the
    /// socket took only part of, to write before anything else.
    pub(crate) fn shut(&self) -> Option<Bytes> {
        let mut state = self.state();
        state.open = false;
        state.rest.take()
    }

    /// The connection parks with nothing to write: opens the lane if its mailbox is empty
    /// (`mailbox_len`, read after the `queued` mark is cleared, so a send that raced with
    /// this either is counted or marks the lane again). `false` if it stays shut.
    pub(crate) fn open(&self, waker: &Waker, mailbox_len: impl Fn() -> usize) -> bool {
        let mut state = self.state();
        if state.socket.is_none() {
            return false;
        }
        self.queued.store(false, Ordering::SeqCst);
        if mailbox_len() > 0 {
            return false;
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        state.open = true;
        true
    }

    /// The connection shares its socket's writing half.
    pub(crate) fn set_socket(&self, socket: Arc<OwnedWriteHalf>) {
        self.state().socket = Some(socket);
    }

    /// The connection is ending: the lane lets go of the socket for good.
    pub(crate) fn retire(&self) {
        let mut state = self.state();
        state.open = false;
        state.socket = None;
        state.waker = None;
    }
}
