//! Each worker thread's spare read buffers.
//!
//! A connection takes a buffer when its socket may have bytes and gives it back once the socket
//! has none left and every frame in it has been handed out, so 10,000 idle connections hold no
//! read buffers while a busy one reuses the same few. A buffer whose payloads are still held by
//! a handler cannot be reused; it is dropped, and freed when the last payload goes.

use bytes::BytesMut;
use std::cell::RefCell;

/// The most a thread keeps in spare buffers.
const MAX_POOLED_BYTES: usize = 512 << 10;
/// Larger buffers (grown for a large frame) are freed rather than kept.
const MAX_POOLED_BUFFER: usize = 128 << 10;
/// Smaller ones are not worth keeping: a buffer is pooled only with room for this much.
const MIN_POOLED_BUFFER: usize = 1 << 10;

#[derive(Default)]
struct Pool {
    buffers: Vec<BytesMut>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::default();
}

/// A buffer with room for at least `size` bytes.
pub(super) fn take(size: usize) -> BytesMut {
    POOL.with_borrow_mut(|pool| match pool.buffers.pop() {
        Some(mut buffer) => {
            pool.bytes -= buffer.capacity();
            buffer.reserve(size);
            buffer
        }
        None => BytesMut::with_capacity(size),
    })
}

/// Takes `buffer` back if it is empty and has room for a read of `size` bytes without
/// allocating (once no payload points into it, all of it is room again).
pub(super) fn give(mut buffer: BytesMut, size: usize) {
    if !buffer.is_empty() || !buffer.try_reclaim(size.max(MIN_POOLED_BUFFER)) {
        return;
    }
    let capacity = buffer.capacity();
    if capacity > MAX_POOLED_BUFFER {
        return;
    }
    // `try_with`: a connection dropped while its thread's locals are being destroyed frees its
    // buffer instead of panicking.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + capacity <= MAX_POOLED_BYTES {
            pool.bytes += capacity;
            pool.buffers.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_a_buffer_no_payload_holds() {
        let mut buffer = take(4096);
        buffer.extend_from_slice(b"hello");
        let address = buffer.as_ptr();
        let payload = buffer.split_to(5).freeze();
        drop(payload);
        give(buffer, 4096);
        let again = take(4096);
        assert_eq!(again.as_ptr(), address);
        assert!(again.capacity() >= 4096);
    }

    #[test]
    fn drops_a_buffer_a_payload_still_holds() {
        let mut buffer = take(4096);
        buffer.extend_from_slice(b"kept");
        let payload = buffer.split_to(4).freeze();
        let address = payload.as_ptr();
        give(buffer, 4096);
        let other = take(4096);
        assert_ne!(other.as_ptr(), address);
        assert_eq!(&payload[..], b"kept");
    }
}
