//! Process-wide request and token rates per minute, for usage-aware routing.
//!
//! Two fixed one-minute windows (the current and the previous) give a sliding estimate:
//! `rate = previous × (1 − elapsed fraction of the current minute) + current`, the
//! approximation NGINX and Cloudflare use for rate limiting, without per-request state.
//!
//! This is a steering estimate, not a limit: the window roll is a CAS on the minute
//! followed by swaps of the counters, and an `add` racing the roll on another core may
//! land in the previous minute or be lost. Provider limits are enforced by the provider;
//! the estimate only keeps traffic away from deployments near theirs.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Millis;

/// Length of one window.
pub const WINDOW_MS: u64 = 60_000;

/// Requests and tokens per minute of one deployment, shared by all cores (atomics only).
#[derive(Debug, Default)]
pub struct RateWindow {
    /// The minute (`now / WINDOW_MS`) the `cur_*` counters belong to.
    minute: AtomicU64,
    cur_requests: AtomicU64,
    cur_tokens: AtomicU64,
    /// The counts of minute `minute - 1` (0 when that minute saw none).
    prev_requests: AtomicU64,
    prev_tokens: AtomicU64,
}

impl RateWindow {
    /// An empty window.
    pub const fn new() -> RateWindow {
        RateWindow {
            minute: AtomicU64::new(0),
            cur_requests: AtomicU64::new(0),
            cur_tokens: AtomicU64::new(0),
            prev_requests: AtomicU64::new(0),
            prev_tokens: AtomicU64::new(0),
        }
    }

    /// Counts `requests` and `tokens` at `now`. A `now` in a minute before the current
    /// one (another core's older clock read) counts in the current minute.
    pub fn add(&self, now: Millis, requests: u64, tokens: u64) {
        let minute = now / WINDOW_MS;
        let cur = self.minute.load(Ordering::Acquire);
        if minute > cur
            && self
                .minute
                .compare_exchange(cur, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // The roll's one winner moves the current counts back (or drops them, when
            // a whole minute passed without traffic).
            let r = self.cur_requests.swap(0, Ordering::AcqRel);
            let t = self.cur_tokens.swap(0, Ordering::AcqRel);
            let adjacent = minute == cur + 1;
            self.prev_requests
                .store(if adjacent { r } else { 0 }, Ordering::Release);
            self.prev_tokens
                .store(if adjacent { t } else { 0 }, Ordering::Release);
        }
        self.cur_requests.fetch_add(requests, Ordering::AcqRel);
        self.cur_tokens.fetch_add(tokens, Ordering::AcqRel);
    }

    /// (requests per minute, tokens per minute) estimated at `now`.
    pub fn rate(&self, now: Millis) -> (f64, f64) {
        self.rate_at(WindowTime::new(now))
    }

    /// [`rate`](Self::rate) with the time split done once for a whole scan of members.
    pub(super) fn rate_at(&self, at: WindowTime) -> (f64, f64) {
        let cur = self.minute.load(Ordering::Acquire);
        let load = |a: &AtomicU64| a.load(Ordering::Acquire) as f64;
        if at.minute == cur {
            (
                load(&self.prev_requests) * at.keep + load(&self.cur_requests),
                load(&self.prev_tokens) * at.keep + load(&self.cur_tokens),
            )
        } else if at.minute == cur + 1 {
            // Nobody has added this minute yet: the stored current minute is the previous.
            (
                load(&self.cur_requests) * at.keep,
                load(&self.cur_tokens) * at.keep,
            )
        } else if at.minute < cur {
            // A clock behind the window: everything counted is at most a minute old.
            (
                load(&self.prev_requests) + load(&self.cur_requests),
                load(&self.prev_tokens) + load(&self.cur_tokens),
            )
        } else {
            (0.0, 0.0)
        }
    }
}

/// A time as the window sees it: its minute, and the share of the previous minute that
/// still counts (1 − elapsed fraction of this one).
#[derive(Clone, Copy, Debug)]
pub(super) struct WindowTime {
    minute: u64,
    keep: f64,
}

impl WindowTime {
    pub(super) fn new(now: Millis) -> WindowTime {
        WindowTime {
            minute: now / WINDOW_MS,
            keep: 1.0 - (now % WINDOW_MS) as f64 / WINDOW_MS as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_within_a_minute() {
        let w = RateWindow::new();
        assert_eq!(w.rate(0), (0.0, 0.0));
        w.add(1_000, 1, 100);
        w.add(30_000, 2, 50);
        assert_eq!(w.rate(30_000), (3.0, 150.0));
        assert_eq!(w.rate(59_999), (3.0, 150.0));
    }

    #[test]
    fn the_previous_minute_weighs_by_what_remains_of_it() {
        let w = RateWindow::new();
        w.add(10_000, 60, 6_000);
        // A quarter into the next minute with no traffic yet: 75% of the previous.
        assert_eq!(w.rate(75_000), (45.0, 4_500.0));
        w.add(75_000, 10, 1_000);
        assert_eq!(w.rate(75_000), (45.0 + 10.0, 4_500.0 + 1_000.0));
        // Three quarters in: 25% of the previous minute remains.
        assert_eq!(w.rate(105_000), (15.0 + 10.0, 1_500.0 + 1_000.0));
        // Two minutes later the first minute is gone, the second is the previous.
        w.add(150_000, 4, 40);
        assert_eq!(w.rate(150_000), (10.0 * 0.5 + 4.0, 1_000.0 * 0.5 + 40.0));
    }

    #[test]
    fn a_silent_minute_drops_everything_before_it() {
        let w = RateWindow::new();
        w.add(0, 100, 100);
        assert_eq!(w.rate(125_000), (0.0, 0.0));
        w.add(125_000, 1, 2);
        assert_eq!(w.rate(125_000), (1.0, 2.0));
    }

    #[test]
    fn an_older_clock_counts_in_the_current_minute() {
        let w = RateWindow::new();
        w.add(61_000, 1, 1);
        w.add(59_000, 1, 1);
        assert_eq!(w.rate(61_000).0, 2.0);
        assert_eq!(w.rate(59_000).0, 2.0);
    }

    #[test]
    fn concurrent_adds_within_a_minute_are_exact() {
        let w = RateWindow::new();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        w.add(5_000, 1, 3);
                    }
                });
            }
        });
        assert_eq!(w.rate(5_000), (20_000.0, 60_000.0));
    }
}
