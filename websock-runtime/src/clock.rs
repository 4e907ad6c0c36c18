//! A connection's one timer. The idle timeout, the server's pings and the handler's
//! `send_after` timers share one `Sleep`, and the callback timeout borrows it while a callback
//! runs: every idle connection pays for each `Sleep` it keeps (112 B in its task, 112 B more
//! for one boxed in an `Interval`).

use crate::{Config, timer::deadline_after};
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

/// When the next ping is due and when the client last sent something; the idle timeout and
/// the ping interval are the route's (`Config`, passed to each call rather than copied into
/// every connection). The `Sleep` is the caller's (pinned in its future). It is set no later
/// than the earliest deadline and moved forward only when it fires, so a frame from the
/// client costs no timer update.
#[derive(Debug)]
pub(crate) struct Clock {
    last_activity: Instant,
    next_ping: Instant,
}

impl Clock {
    /// Starts now; make the caller's `Sleep` with [`deadline`](Self::deadline)`(config, None)`.
    pub(crate) fn new(config: &Config) -> Self {
        Self::starting_at(Instant::now(), config)
    }

    fn starting_at(now: Instant, config: &Config) -> Self {
        Self {
            last_activity: now,
            next_ping: deadline_after(now, config.ping_interval.unwrap_or(Duration::MAX)),
        }
    }

    /// Something arrived from the client.
    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// The earliest of the idle deadline, the next ping and `timer` (the next `send_after`
    /// timer); "never" when none is on.
    pub(crate) fn deadline(&self, config: &Config, timer: Option<Instant>) -> Instant {
        let idle = config.idle_timeout.map_or(self.next_ping, |limit| {
            deadline_after(self.last_activity, limit)
        });
        let earliest = idle.min(self.next_ping);
        timer.map_or(earliest, |timer| timer.min(earliest))
    }

    /// Polls the timer; `timer` is the next `send_after` deadline. `Ready` with what fell due
    /// (a timer that fell due is the caller's to take), `Pending` otherwise.
    pub(crate) fn poll(
        &mut self,
        config: &Config,
        mut sleep: Pin<&mut Sleep>,
        timer: Option<Instant>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Due> {
        if config.idle_timeout.is_none() && config.ping_interval.is_none() && timer.is_none() {
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
            if let Some(due) = self.due(config, Instant::now(), timer) {
                return Poll::Ready(due);
            }
            // Frames arrived since it was set: moved forward, polled again to register.
            sleep.as_mut().reset(self.deadline(config, timer));
        }
    }

    /// What is due at `now`. A ping due is scheduled again one interval later (pings missed
    /// while a callback ran are not sent in a burst).
    fn due(&mut self, config: &Config, now: Instant, timer: Option<Instant>) -> Option<Due> {
        if let Some(limit) = config.idle_timeout {
            if deadline_after(self.last_activity, limit) <= now {
                return Some(Due::Idle);
            }
        }
        if let Some(period) = config.ping_interval.filter(|_| self.next_ping <= now) {
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

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn config(idle: Option<Duration>, ping: Option<Duration>) -> Config {
        Config::default().idle_timeout(idle).ping_interval(ping)
    }

    #[test]
    fn pings_every_interval_and_times_out_after_silence() {
        let start = Instant::now();
        let at = |n| start + secs(n);
        let c = config(Some(secs(60)), Some(secs(30)));
        let mut clock = Clock::starting_at(start, &c);
        assert_eq!(clock.deadline(&c, None), at(30));
        assert_eq!(clock.due(&c, at(29), None), None);
        assert_eq!(clock.due(&c, at(30), None), Some(Due::Ping));
        assert_eq!(clock.deadline(&c, None), at(60));
        // The client answers at 45 s: the idle deadline moves to 105 s, after the next pings.
        clock.touch(at(45));
        assert_eq!(clock.due(&c, at(60), None), Some(Due::Ping));
        assert_eq!(clock.due(&c, at(90), None), Some(Due::Ping));
        assert_eq!(clock.deadline(&c, None), at(105));
        assert_eq!(clock.due(&c, at(104), None), None);
        assert_eq!(clock.due(&c, at(105), None), Some(Due::Idle));
    }

    #[test]
    fn a_late_ping_is_sent_once_and_the_next_one_is_an_interval_later() {
        let start = Instant::now();
        let c = config(None, Some(secs(30)));
        let mut clock = Clock::starting_at(start, &c);
        // A callback ran for 100 s: three pings were missed, one goes.
        assert_eq!(clock.due(&c, start + secs(100), None), Some(Due::Ping));
        assert_eq!(clock.due(&c, start + secs(100), None), None);
        assert_eq!(clock.deadline(&c, None), start + secs(130));
    }

    #[test]
    fn a_timer_comes_after_the_idle_timeout_and_the_ping_and_can_be_earlier() {
        let start = Instant::now();
        let c = config(Some(secs(60)), Some(secs(30)));
        let mut clock = Clock::starting_at(start, &c);
        let timer = Some(start + secs(7));
        assert_eq!(clock.deadline(&c, timer), start + secs(7));
        assert_eq!(clock.due(&c, start + secs(6), timer), None);
        assert_eq!(clock.due(&c, start + secs(7), timer), Some(Due::Timer));
        let late = Some(start + secs(20));
        assert_eq!(clock.due(&c, start + secs(70), late), Some(Due::Idle));
    }

    #[tokio::test]
    async fn with_nothing_on_the_deadline_is_never() {
        let start = Instant::now();
        let c = config(None, None);
        let mut clock = Clock::starting_at(start, &c);
        assert!(clock.deadline(&c, None) > start + secs(86_400 * 365 * 10));
        let mut sleep = pin!(tokio::time::sleep_until(start));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Not even polled: the elapsed `Sleep` says nothing.
        assert!(clock.poll(&c, sleep.as_mut(), None, &mut cx).is_pending());
    }

    #[tokio::test]
    async fn the_sleep_is_moved_forward_and_fires_for_what_is_due() {
        let c = config(Some(Duration::from_millis(40)), None);
        let mut clock = Clock::new(&c);
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(&c, None)));
        // Activity after the `Sleep` was set: it fires, finds nothing due, moves on.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let touched = Instant::now();
        clock.touch(touched);
        let due = poll_fn(|cx| clock.poll(&c, sleep.as_mut(), None, cx)).await;
        assert_eq!(due, Due::Idle);
        assert!(Instant::now() >= touched + Duration::from_millis(40));
        // A timer earlier than the `Sleep` pulls it in.
        let c = config(Some(secs(60)), None);
        let mut clock = Clock::new(&c);
        let mut sleep = pin!(tokio::time::sleep_until(clock.deadline(&c, None)));
        let timer = Some(Instant::now() + Duration::from_millis(10));
        let due = poll_fn(|cx| clock.poll(&c, sleep.as_mut(), timer, cx)).await;
        assert_eq!(due, Due::Timer);
    }
}
