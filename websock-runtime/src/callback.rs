//! Runs one callback future: catches its panic and enforces the callback timeout.

use std::{
    any::Any,
    future::{Future, poll_fn},
    panic::{AssertUnwindSafe, catch_unwind},
    pin::{Pin, pin},
    task::Poll,
    time::Duration,
};

pub(crate) enum Outcome<T> {
    Done(T),
    Panicked(String),
    TimedOut,
}

/// Polls `callback` to completion. The timeout's timer is only created if the callback does not
/// finish on its first poll, so a synchronous callback never touches the timer wheel.
pub(crate) async fn guard<F: Future>(callback: F, timeout: Option<Duration>) -> Outcome<F::Output> {
    let mut callback = pin!(callback);
    let mut sleep = pin!(None::<tokio::time::Sleep>);
    poll_fn(|cx| {
        match catch_unwind(AssertUnwindSafe(|| callback.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => return Poll::Ready(Outcome::Done(output)),
            Err(payload) => return Poll::Ready(Outcome::Panicked(panic_message(&*payload))),
            Ok(Poll::Pending) => {}
        }
        let Some(timeout) = timeout else {
            return Poll::Pending;
        };
        if sleep.is_none() {
            sleep.set(Some(tokio::time::sleep(timeout)));
        }
        match sleep.as_mut().as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Outcome::TimedOut),
            _ => Poll::Pending,
        }
    })
    .await
}

/// [`guard`] for the event loop's callbacks, as a plain struct (an `async fn` would keep
/// pointers to its own fields besides them). The timeout borrows the connection's one timer
/// (see `clock`) instead of keeping a `Sleep` of its own in every idle connection's task, and
/// the callback is pinned by the caller (taken by value, it would be laid out twice in the
/// caller's future). Its output also says whether the timer was moved, so the caller can set
/// it back.
pub(crate) struct GuardOn<'a, F> {
    callback: Pin<&'a mut F>,
    timeout: Option<Duration>,
    timer: Pin<&'a mut tokio::time::Sleep>,
    armed: bool,
}

impl<F: Future> Future for GuardOn<'_, F> {
    type Output = (Outcome<F::Output>, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match catch_unwind(AssertUnwindSafe(|| this.callback.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => return Poll::Ready((Outcome::Done(output), this.armed)),
            Err(payload) => {
                let message = panic_message(&*payload);
                return Poll::Ready((Outcome::Panicked(message), this.armed));
            }
            Ok(Poll::Pending) => {}
        }
        let Some(timeout) = this.timeout else {
            return Poll::Pending;
        };
        if !this.armed {
            this.armed = true;
            let deadline = crate::timer::deadline_after(tokio::time::Instant::now(), timeout);
            this.timer.as_mut().reset(deadline);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready((Outcome::TimedOut, true)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// [`GuardOn`] for `callback` (pinned by the caller) with `timeout`, on the connection's timer.
pub(crate) fn guard_on<'a, F: Future>(
    callback: Pin<&'a mut F>,
    timeout: Option<Duration>,
    timer: Pin<&'a mut tokio::time::Sleep>,
) -> GuardOn<'a, F> {
    GuardOn {
        callback,
        timeout,
        timer,
        armed: false,
    }
}

/// Polls `future` to completion, catching a panic: for layers built on the runtime (the
/// channels crate isolates each channel's callbacks with it).
pub async fn catch_panic<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = pin!(future);
    poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
        },
    )
    .await
}

/// Polls a future pinned by the caller to completion, catching a panic. Unlike
/// [`catch_panic`] it borrows the future rather than taking it in, and adds one pointer to the
/// caller's state, not a copy of the future.
pub(crate) struct CatchPanic<'a, F>(pub(crate) Pin<&'a mut F>);

impl<F: Future> Future for CatchPanic<'_, F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| self.0.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
        }
    }
}

/// Runs `f`, catching a panic (a user type's `Drop`, say).
pub(crate) fn catch_panic_sync<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(&*payload))
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
