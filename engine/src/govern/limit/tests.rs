//! Rate and Gauge tests: GCRA refill math from an injected clock, refund and charge
//! bounds, take_all's rollback, and exact admission under threads at a frozen time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;

use super::*;

/// 10 units per second: T = 100 ms, cap = 1 s.
const TEN_PER_S: RateSpec = RateSpec {
    limit: 10,
    period: 1_000_000_000,
};
const MS: Nanos = 1_000_000;
/// An arbitrary non-zero start, so `max(tat, now)` is exercised.
const T0: Nanos = 5_000 * MS;

#[test]
fn per_minute_is_sixty_seconds() {
    assert_eq!(
        RateSpec::per_minute(7),
        RateSpec {
            limit: 7,
            period: 60_000_000_000
        }
    );
}

#[test]
fn burst_of_limit_then_one_unit_per_interval() {
    let r = Rate::new();
    for i in 0..10 {
        let q = r.take(TEN_PER_S, 1, T0).unwrap();
        assert_eq!(q.remaining, 9 - i);
        assert_eq!(q.reset, (i + 1) * 100 * MS);
        assert_eq!(q.limit, 10);
    }
    let e = r.take(TEN_PER_S, 1, T0).unwrap_err();
    assert_eq!(
        e,
        Exceeded {
            limit: 10,
            retry_after: 100 * MS,
            reset: 1_000 * MS
        }
    );
    // One nanosecond early is still refused, and says so exactly.
    let e = r.take(TEN_PER_S, 1, T0 + 100 * MS - 1).unwrap_err();
    assert_eq!(e.retry_after, 1);
    // Then exactly one unit per 100 ms.
    for k in 1..=5 {
        let now = T0 + k * 100 * MS;
        let q = r.take(TEN_PER_S, 1, now).unwrap();
        assert_eq!(q.remaining, 0);
        assert_eq!(q.reset, 1_000 * MS);
        assert!(r.take(TEN_PER_S, 1, now).is_err());
    }
}

#[test]
fn retry_after_covers_n_units() {
    let r = Rate::new();
    r.take(TEN_PER_S, 8, T0).unwrap();
    // 2 left; 5 need 3 more refilled: 300 ms.
    let e = r.take(TEN_PER_S, 5, T0).unwrap_err();
    assert_eq!(e.retry_after, 300 * MS);
    assert_eq!(e.reset, 800 * MS);
    assert!(r.take(TEN_PER_S, 5, T0 + 300 * MS - 1).is_err());
    let q = r.take(TEN_PER_S, 5, T0 + 300 * MS).unwrap();
    assert_eq!(q.remaining, 0);
}

#[test]
fn idle_bucket_refills_to_full_and_no_further() {
    let r = Rate::new();
    r.take(TEN_PER_S, 10, T0).unwrap();
    let later = T0 + 10_000 * MS;
    assert_eq!(
        r.peek(TEN_PER_S, later),
        Quota {
            limit: 10,
            remaining: 10,
            reset: 0
        }
    );
    // A long idle time does not bank more than the capacity.
    r.take(TEN_PER_S, 10, later).unwrap();
    assert!(r.take(TEN_PER_S, 1, later).is_err());
}

#[test]
fn partial_refill_counts_whole_units() {
    let r = Rate::new();
    r.take(TEN_PER_S, 10, T0).unwrap();
    let q = r.peek(TEN_PER_S, T0 + 250 * MS);
    assert_eq!(q.remaining, 2);
    assert_eq!(q.reset, 750 * MS);
}

#[test]
fn more_than_limit_never_fits() {
    let r = Rate::new();
    let e = r.take(TEN_PER_S, 11, T0).unwrap_err();
    assert_eq!(e.retry_after, TEN_PER_S.period);
    assert_eq!(e.reset, 0);
    // Nothing was taken.
    assert_eq!(r.peek(TEN_PER_S, T0).remaining, 10);
}

#[test]
fn zero_units_and_zero_limit() {
    let r = Rate::new();
    r.take(TEN_PER_S, 10, T0).unwrap();
    // n == 0 fits even on an empty bucket and changes nothing.
    assert_eq!(r.take(TEN_PER_S, 0, T0).unwrap().remaining, 0);
    assert_eq!(r.peek(TEN_PER_S, T0).reset, 1_000 * MS);

    let zero = RateSpec {
        limit: 0,
        period: 1_000 * MS,
    };
    let z = Rate::new();
    assert_eq!(z.take(zero, 1, T0).unwrap_err().retry_after, 1_000 * MS);
    assert_eq!(z.take(zero, 0, T0).unwrap().remaining, 0);
    z.charge(zero, 5, T0);
    z.refund(zero, 5, T0);
    assert_eq!(z.peek(zero, T0).reset, 0);
}

#[test]
fn interval_rounds_up_and_never_reaches_zero() {
    // 7 per minute: T = ceil(60 s / 7); the burst is still exactly 7.
    let spec = RateSpec::per_minute(7);
    let t = 60_000_000_000u64.div_ceil(7);
    let r = Rate::new();
    for _ in 0..7 {
        r.take(spec, 1, T0).unwrap();
    }
    assert_eq!(r.take(spec, 1, T0).unwrap_err().retry_after, t);
    // More units than nanoseconds per period: T clamps to 1 ns.
    let dense = RateSpec {
        limit: 1_000,
        period: 10,
    };
    let d = Rate::new();
    assert_eq!(d.take(dense, 1_000, T0).unwrap().reset, 1_000);
    assert_eq!(d.take(dense, 1, T0).unwrap_err().retry_after, 1);
    // A zero period behaves the same way rather than dividing by zero.
    let instant = RateSpec {
        limit: 3,
        period: 0,
    };
    assert_eq!(Rate::new().take(instant, 3, T0).unwrap().remaining, 0);
}

#[test]
fn huge_values_saturate_without_panicking() {
    let spec = RateSpec {
        limit: u64::MAX,
        period: u64::MAX,
    };
    let r = Rate::new();
    r.take(spec, u64::MAX, u64::MAX - 1).unwrap();
    r.charge(spec, u64::MAX, u64::MAX);
    r.refund(spec, u64::MAX, u64::MAX);
    // At the end of time the TAT sits at u64::MAX: one nanosecond before, one unit used.
    assert_eq!(
        r.peek(spec, u64::MAX - 1),
        Quota {
            limit: u64::MAX,
            remaining: u64::MAX - 1,
            reset: 1
        }
    );
    let tiny = RateSpec {
        limit: 1,
        period: u64::MAX,
    };
    // Read as one unit per year.
    let r = Rate::new();
    r.take(tiny, 1, T0).unwrap();
    let e = r.take(tiny, 1, T0).unwrap_err();
    assert_eq!(e.retry_after, RATE_PERIOD_NS_MAX);
}

#[test]
fn refund_gives_back_but_never_beyond_full() {
    let r = Rate::new();
    r.take(TEN_PER_S, 6, T0).unwrap();
    r.refund(TEN_PER_S, 4, T0);
    assert_eq!(r.peek(TEN_PER_S, T0).remaining, 8);
    r.refund(TEN_PER_S, 100, T0);
    assert_eq!(
        r.peek(TEN_PER_S, T0),
        Quota {
            limit: 10,
            remaining: 10,
            reset: 0
        }
    );
    // A refund cannot bank units: the capacity stays 10.
    r.take(TEN_PER_S, 10, T0).unwrap();
    assert!(r.take(TEN_PER_S, 1, T0).is_err());
}

#[test]
fn charge_goes_into_debt_bounded_to_one_period() {
    let r = Rate::new();
    r.take(TEN_PER_S, 10, T0).unwrap();
    r.charge(TEN_PER_S, 5, T0);
    let q = r.peek(TEN_PER_S, T0);
    assert_eq!(q.remaining, 0);
    assert_eq!(q.reset, 1_500 * MS);
    // In debt: the next unit waits for the debt plus its own interval.
    assert_eq!(r.take(TEN_PER_S, 1, T0).unwrap_err().retry_after, 600 * MS);
    // A huge charge stops at one capacity beyond empty (2 s of TAT ahead).
    r.charge(TEN_PER_S, 1_000_000, T0);
    assert_eq!(r.peek(TEN_PER_S, T0).reset, 2_000 * MS);
    assert_eq!(
        r.take(TEN_PER_S, 1, T0).unwrap_err().retry_after,
        1_100 * MS
    );
    // And it is paid off by time alone.
    assert_eq!(r.peek(TEN_PER_S, T0 + 2_000 * MS).remaining, 10);
}

#[test]
fn charge_on_a_full_bucket_takes_units() {
    let r = Rate::new();
    r.charge(TEN_PER_S, 3, T0);
    assert_eq!(r.peek(TEN_PER_S, T0).remaining, 7);
}

#[test]
fn take_all_returns_the_tightest_quota() {
    let a = Rate::new();
    let b = Rate::new();
    let small = RateSpec {
        limit: 4,
        period: 1_000 * MS,
    };
    let q = take_all(&[(&a, TEN_PER_S, 1), (&b, small, 1)], T0).unwrap();
    assert_eq!(q.limit, 4);
    assert_eq!(q.remaining, 3);
    assert_eq!(q.reset, 250 * MS);
    assert_eq!(take_all(&[], T0).unwrap().remaining, u64::MAX);
}

#[test]
fn take_all_rolls_back_on_the_first_refusal() {
    let a = Rate::new();
    let b = Rate::new();
    let c = Rate::new();
    let one = RateSpec {
        limit: 1,
        period: 1_000 * MS,
    };
    b.take(one, 1, T0).unwrap();
    let (i, e) = take_all(&[(&a, TEN_PER_S, 3), (&b, one, 1), (&c, TEN_PER_S, 2)], T0).unwrap_err();
    assert_eq!(i, 1);
    assert_eq!(e.retry_after, 1_000 * MS);
    assert_eq!(a.peek(TEN_PER_S, T0).remaining, 10, "a refunded");
    assert_eq!(c.peek(TEN_PER_S, T0).remaining, 10, "c never taken");
    assert_eq!(b.peek(one, T0).remaining, 0, "b unchanged");
}

#[test]
fn gauge_counts_up_to_max() {
    let g = Gauge::new();
    assert!(!g.try_acquire(0));
    assert!(g.try_acquire(2));
    assert!(g.try_acquire(2));
    assert!(!g.try_acquire(2));
    assert_eq!(g.get(), 2);
    g.release();
    assert!(g.try_acquire(2));
    g.release();
    g.release();
    g.release(); // unmatched: stays at 0
    assert_eq!(g.get(), 0);
    assert!(g.try_acquire(1));
}

#[test]
fn rate_and_gauge_own_a_cache_line() {
    assert_eq!(std::mem::align_of::<Rate>(), 64);
    assert_eq!(std::mem::align_of::<Gauge>(), 64);
}

const THREADS: usize = 8;

/// Threads hammering one bucket at a frozen time: exactly `limit` units are admitted.
#[test]
fn threads_at_a_frozen_time_take_exactly_the_limit() {
    for (limit, n) in [(1_000u64, 1u64), (999, 3), (5_000, 7)] {
        let spec = RateSpec::per_minute(limit);
        let rate = Rate::new();
        let taken = AtomicU64::new(0);
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    barrier.wait();
                    let mut mine = 0;
                    // Far more attempts than fit, so every thread races to the end.
                    for _ in 0..(limit / n) {
                        if rate.take(spec, n, T0).is_ok() {
                            mine += n;
                        }
                    }
                    taken.fetch_add(mine, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(taken.load(Ordering::Relaxed), limit / n * n, "{limit}/{n}");
        assert_eq!(rate.peek(spec, T0).remaining, limit % n);
    }
}

/// Threads taking from several levels at once, some refused by a tight sibling: the
/// rollbacks leave every bucket with exactly what the admitted requests took.
#[test]
fn threads_through_take_all_leave_exact_counts() {
    let wide = RateSpec::per_minute(1_000_000);
    let tight = RateSpec::per_minute(500);
    let (a, b, c) = (Rate::new(), Rate::new(), Rate::new());
    let admitted = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..200 {
                    if take_all(&[(&a, wide, 2), (&b, tight, 1), (&c, wide, 3)], T0).is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 500);
    assert_eq!(a.peek(wide, T0).remaining, 1_000_000 - 1_000);
    assert_eq!(c.peek(wide, T0).remaining, 1_000_000 - 1_500);
}

#[test]
fn gauge_under_threads_never_exceeds_max() {
    let g = Gauge::new();
    let peak = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..10_000 {
                    if g.try_acquire(3) {
                        peak.fetch_max(u64::from(g.get()), Ordering::Relaxed);
                        g.release();
                    }
                }
            });
        }
    });
    assert!(peak.load(Ordering::Relaxed) <= 3);
    assert!(peak.load(Ordering::Relaxed) >= 1);
    assert_eq!(g.get(), 0);
}
