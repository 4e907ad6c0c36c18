//! A connection's one timer. The idle timeout, the server's pings and the handler's
//! `send_after` timers share one `Sleep`, and the callback timeout borrows it while a callback
//! runs: every idle connection pays for each `Sleep` it keeps (112 B in its task, 112 B more
//! for one boxed in an `Interval`).

use crate::timer::deadline_after;
use std::{pin::Pin, task::Poll, time::Duration};
use tokio::time::{Instant, Sleep};

/// What fell due when the timer fired.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing arrived from the client for the idle timeout.
    Idle,
    /// Time to send a ping.
    Ping,
    /// A `send_after` timer.
    Timer,
}

/// When the next ping is due and when the client last sent something. The `Sleep` is the
/// caller's (pinned in its future). It is set no later than the earliest deadline and moved
/// forward only when it fires, so a frame from the client costs no timer update.
#[derive(Debug)]
pub(crate) struct Clock {
    idle_timeout: Option<Duration>,
    ping_interval: Option<Duration>,
    last_activity: Instant,
    next_ping: Instant,
}

impl Clock {
    /// Starts now; make the caller's `Sleep` with [`deadline`](Self::deadline)`(None)`.
    pub(crate) fn new(idle_timeout: Option<Duration>, ping_interval: Option<Duration>) -> Self {
        let now = Instant::now();
        Self {
            idle_timeout,
            ping_interval,
            last_activity: now,
            next_ping: deadline_after(now, ping_interval.unwrap_or(Duration::MAX)),
        }
    }

    /// Something arrived from the client.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// The earliest of the idle deadline, the next ping and `timer` (the next `send_after`
    /// timer); "never" when none is on.
    pub(crate) fn deadline(&self, timer: Option<Instant>) -> Instant {
        let idle = self
            .idle_timeout
            .map_or(self.next_ping, |limit| deadline_after(self.last_activity, limit));
        let earliest = idle.min(self.next_ping);
        timer.map_or(earliest, |timer| timer.min(earliest))
    }

    /// Polls the timer; `timer` is the next `send_after` deadline. `Ready` with what fell due
    /// (a timer that fell due is the caller's to take), `Pending` otherwise.
    pub(crate) fn poll(
        &mut self,
        mut sleep: Pin<&mut Sleep>,
        timer: Option<Instant>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Due> {
        if self.idle_timeout.is_none() && self.ping_interval.is_none() && timer.is_none() {
            return Poll::Pending;
        }
        // A timer set since the last pass may be due before the `Sleep`.
        if let Some(timer) = timer.filter(|&timer| timer < sleep.deadline()) {
            sleep.as_mut().reset(timer);
        }
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // Left elapsed until nothing is due, so the next pass looks again.
            if let Some(due) = self.due(Instant::now(), timer) {
                return Poll::Ready(due);
            }
            // Frames arrived since it was set: moved forward, polled again to register.
            sleep.as_mut().reset(self.deadline(timer));
        }
    }

    /// What is due at `now`. A ping due is scheduled again one interval later (pings missed
    /// while a callback ran are not sent in a burst).
    fn due(&mut self, now: Instant, timer: Option<Instant>) -> Option<Due> {
        if let Some(limit) = self.idle_timeout {
            if deadline_after(self.last_activity, limit) <= now {
                return Some(Due::Idle);
            }
        }
        if let Some(period) = self.ping_interval.filter(|_| self.next_ping <= now) {
            self.next_ping = deadline_after(now, period);
            return Some(Due::Ping);
        }
        timer.filter(|&timer| timer <= now).map(|_| Due::Timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{future::poll_fn, pin::pin};

    async fn next(clock: &mut Clock, mut sleep: Pin<&mut Sleep>, timer: Option<Instant>) -> Due {
        poll_fn(|cx| clock.poll(sleep.as_mut(), timer, cx)).await
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn pings_every_interval_and_times_out_after_silence() {
        let start = Instant::now();
        let mut clock = Clock::new(Some(secs(60)), Some(secs(30)));
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(None)));
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Ping);
        assert_eq!(Instant::now() - start, secs(30));
        // The client answers at 45 s: the idle deadline moves to 105 s, after the next pings.
        tokio::time::sleep(secs(15)).await;
        clock.touch(Instant::now());
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Ping);
        assert_eq!(Instant::now() - start, secs(60));
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Ping);
        assert_eq!(Instant::now() - start, secs(90));
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Idle);
        assert_eq!(Instant::now() - start, secs(105));
    }

    #[tokio::test(start_paused = true)]
    async fn without_pings_only_the_idle_timeout_fires() {
        let start = Instant::now();
        let mut clock = Clock::new(Some(secs(10)), None);
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(None)));
        tokio::time::sleep(secs(4)).await;
        clock.touch(Instant::now());
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Idle);
        assert_eq!(Instant::now() - start, secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn with_nothing_on_nothing_fires() {
        let mut clock = Clock::new(None, None);
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(None)));
        let waited = tokio::time::timeout(
            secs(86_400 * 365),
            next(&mut clock, sleep.as_mut(), None),
        )
        .await;
        assert!(waited.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_set_later_fires_before_the_pings() {
        let start = Instant::now();
        let mut clock = Clock::new(Some(secs(60)), Some(secs(30)));
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(None)));
        let timer = Some(start + secs(7));
        assert_eq!(next(&mut clock, sleep.as_mut(), timer).await, Due::Timer);
        assert_eq!(Instant::now() - start, secs(7));
        // Taken by the caller: the ping is next.
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Ping);
        assert_eq!(Instant::now() - start, secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_moved_away_is_brought_back() {
        // The callback timeout borrows the `Sleep`; `deadline` is where it goes back.
        let start = Instant::now();
        let mut clock = Clock::new(None, Some(secs(5)));
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(None)));
        sleep.as_mut().reset(start + secs(100));
        sleep.as_mut().reset(clock.deadline(None));
        assert_eq!(next(&mut clock, sleep.as_mut(), None).await, Due::Ping);
        assert_eq!(Instant::now() - start, secs(5));
    }
}
