//! The connections to wake when the server shuts down.
//!
//! A connection could wait on the shutdown token's `cancelled()` future, but that future keeps
//! a waiter node of about 100 bytes in every idle connection's task. Here each connection
//! leaves its task's waker in one server-wide list instead (16 bytes), and reads the token's
//! flag when woken.

use std::{
    sync::{Mutex, PoisonError},
    task::Waker,
};

/// The wakers of the connections that wait for the shutdown, by place.
#[derive(Debug, Default)]
pub(crate) struct ShutdownWakers {
    inner: Mutex<Places>,
}

#[derive(Debug, Default)]
struct Places {
    wakers: Vec<Option<Waker>>,
    /// Places given back, reused first.
    free: Vec<u32>,
}

impl ShutdownWakers {
    /// Keeps `waker` until [`remove`](Self::remove); returns its place.
    pub(crate) fn insert(&self, waker: &Waker) -> u32 {
        let mut places = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match places.free.pop() {
            Some(place) => {
                places.wakers[place as usize] = Some(waker.clone());
                place
            }
            None => {
                places.wakers.push(Some(waker.clone()));
                u32::try_from(places.wakers.len() - 1).expect("fewer than 4 billion connections")
            }
        }
    }

    /// Forgets the waker at `place`.
    pub(crate) fn remove(&self, place: u32) {
        let mut places = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        places.wakers[place as usize] = None;
        places.free.push(place);
        // All gone (between bursts of connections): give the memory back.
        if places.free.len() == places.wakers.len() {
            *places = Places::default();
        }
    }

    /// Wakes every connection that waits.
    pub(crate) fn wake_all(&self) {
        let places = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in places.wakers.iter().flatten() {
            waker.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::Wake,
    };

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn wakes_those_still_waiting_and_reuses_places() {
        let wakers = ShutdownWakers::default();
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let places: Vec<_> = counts
            .iter()
            .map(|count| wakers.insert(&Waker::from(count.clone())))
            .collect();
        assert_eq!(places, [0, 1, 2]);
        wakers.remove(places[1]);
        let again = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(wakers.insert(&Waker::from(again.clone())), 1);
        wakers.wake_all();
        let woken: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::Relaxed)).collect();
        assert_eq!(woken, [1, 0, 1]);
        assert_eq!(again.0.load(Ordering::Relaxed), 1);
        for place in [0, 1, 2] {
            wakers.remove(place);
        }
        assert!(wakers.inner.lock().unwrap().wakers.is_empty());
    }
}
