//! Each worker thread's spare write queues.
//!
//! A connection's writer needs its queue of segments and its tail buffer only while frames wait
//! to be written. It takes them from its thread when it queues a frame and gives them back once
//! the socket has taken everything, so 10,000 idle connections hold none while a busy one
//! reuses the same few, and the tail's buffer is not allocated again for each reply.

use bytes::{Bytes, BytesMut};
use std::{cell::RefCell, collections::VecDeque};

/// Spares kept per thread: as many as connections of one thread write at the same moment
/// (each keeps its own until its socket takes everything).
const MAX_SPARES: usize = 16;
/// A tail grown larger than this (a burst of small frames) is freed rather than kept.
const KEEP_TAIL: usize = 16 << 10;
/// A queue grown longer than this is freed rather than kept.
const KEEP_SEGMENTS: usize = 64;

/// What waits to be written.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Segments written before `tail`, oldest first.
    pub(super) queue: VecDeque<Bytes>,
    /// Small frames and headers gathered after the queue.
    pub(super) tail: BytesMut,
    /// Bytes queued and not yet taken by the socket: the queue's and the tail's.
    pub(super) buffered: usize,
}

thread_local! {
    // Boxes, as the writers hold them: one moves between a writer and here without a copy or
    // an allocation.
    #[allow(clippy::vec_box)]
    static SPARES: RefCell<Vec<Box<Pending>>> = const { RefCell::new(Vec::new()) };
}

/// An empty queue and tail, with the capacity a spare kept.
pub(super) fn take() -> Box<Pending> {
    SPARES
        .try_with(|spares| spares.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Takes back an emptied queue and tail.
pub(super) fn give(mut pending: Box<Pending>) {
    debug_assert_eq!(pending.buffered, 0, "given back with bytes to write");
    pending.tail.clear();
    if pending.tail.capacity() > KEEP_TAIL {
        pending.tail = BytesMut::new();
    }
    if pending.queue.capacity() > KEEP_SEGMENTS {
        pending.queue = VecDeque::new();
    }
    // `try_with`: a connection dropped while its thread's locals are being destroyed frees
    // them instead of panicking.
    let _ = SPARES.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < MAX_SPARES {
            spares.push(pending);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_is_reused_with_its_buffer() {
        let mut pending = take();
        pending.tail.extend_from_slice(&[1; 100]);
        let address = pending.tail.as_ptr();
        pending.tail.clear();
        give(pending);
        let again = take();
        assert!(again.tail.is_empty());
        assert_eq!(again.tail.as_ptr(), address);
    }

    #[test]
    fn a_grown_tail_is_not_kept() {
        let mut pending = take();
        pending.tail.reserve(KEEP_TAIL + 1);
        give(pending);
        assert_eq!(take().tail.capacity(), 0);
    }
}
