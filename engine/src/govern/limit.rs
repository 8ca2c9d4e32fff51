//! Exact rate limits (RPM, TPM) and concurrency gauges, shared by every core.
//!
//! A [`Rate`] is a token bucket kept the GCRA way: one `AtomicU64` holding the bucket's
//! *theoretical arrival time* (TAT), the instant at which the bucket is full again. With
//! emission interval `T` (the time one unit takes to refill) and capacity `cap = limit × T`,
//! taking `n` units at `now` moves the TAT to `max(TAT, now) + n × T`, and is allowed when
//! that is at most `now + cap` — the bucket holds at most `limit` units and refills one unit
//! every `T`. One word per limited thing, moved by compare-and-swap, is what makes
//! admission exact under any number of cores: there is no per-core share to sum later, so
//! a bucket never admits more than `limit` units at once (per-core shards would each admit
//! up to their share and over-admit together).
//!
//! Time is injected ([`Nanos`], read by the caller); nothing here reads a clock, so every
//! value is deterministic under test.
//!
//! Invariants and edges (no input panics; all arithmetic saturates):
//! - `T = ceil(period / limit)`, at least 1 ns, so the long-run rate never exceeds
//!   `limit` per `period`. When `period` is not a multiple of `limit` the rate is slightly
//!   under it (by less than `limit / period` units per ns, relatively: under 0.002% for a
//!   limit of a million per minute); the burst is exactly `limit` either way.
//! - `limit == 0`: nothing but `n == 0` ever fits.
//! - `period` beyond [`RATE_PERIOD_NS_MAX`] (a year) is read as a year. A limit so large
//!   that `limit × T` nears `u64::MAX` (beyond 2^62 units) saturates into "unlimited".
//! - `n == 0`: always fits and changes nothing.
//! - `n > limit` can never fit: [`Exceeded`] with `retry_after = period` (the caller
//!   should not retry the same request; `period` is an honest "not within this window").
//! - [`Rate::charge`] may put the bucket into debt (TAT beyond `now + cap`), at most one
//!   more `cap` (one period's worth), so a large under-estimate delays later requests by
//!   at most a period instead of forever.
//! - Atomics use `Relaxed`: each `Rate` and `Gauge` is one independent word whose
//!   read-modify-writes are totally ordered by themselves; nothing else is published
//!   through them.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(test)]
mod tests;

/// A monotonic clock the caller reads: nanoseconds since a process epoch.
pub type Nanos = u64;

/// Nanoseconds in a minute.
const MINUTE_NS: Nanos = 60_000_000_000;

/// The longest period a [`RateSpec`] means: longer ones are read as this (a year). Keeps
/// `now + 2 × capacity` far from `u64::MAX` for any realistic limit, so the saturating
/// arithmetic below never turns an absurd spec into "admit everything".
pub const RATE_PERIOD_NS_MAX: Nanos = 366 * 24 * 3_600 * 1_000_000_000;

/// `limit` units per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSpec {
    pub limit: u64,
    pub period: Nanos,
}

impl RateSpec {
    /// `limit` units per minute (RPM, TPM).
    pub const fn per_minute(limit: u64) -> RateSpec {
        RateSpec {
            limit,
            period: MINUTE_NS,
        }
    }

    /// The emission interval `T` (ns per unit, at least 1) and the capacity `limit × T`.
    #[inline]
    const fn interval(self) -> (Nanos, Nanos) {
        let t = if self.limit == 0 {
            // Unused (nothing but n == 0 fits); any non-zero value keeps divisions safe.
            1
        } else {
            let period = if self.period > RATE_PERIOD_NS_MAX {
                RATE_PERIOD_NS_MAX
            } else {
                self.period
            };
            let t = period.div_ceil(self.limit);
            if t == 0 {
                1
            } else {
                t
            }
        };
        (t, self.limit.saturating_mul(t))
    }
}

/// The bucket after a successful take, or as peeked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    /// Units that would fit right now.
    pub remaining: u64,
    /// Until the bucket is full again (0 when it is full).
    pub reset: Nanos,
}

/// A refused take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: u64,
    /// Until the refused `n` units would fit (`period` when they never can: `n > limit`).
    pub retry_after: Nanos,
    /// Until the bucket is full again.
    pub reset: Nanos,
}

/// A token bucket of capacity `limit` refilled at `limit / period`, kept as GCRA's
/// theoretical arrival time in one `AtomicU64` (ns), moved by CAS. Aligned to a cache line
/// so two `Rate`s never share one (cores contending on one key must not slow another key).
///
/// The spec is passed on every call rather than stored, so a config reload changes a
/// limit without resetting what was used; a bucket only ever holds a time.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Rate {
    /// INVARIANT: a TAT at or before `now` means "full"; the value is never decreased
    /// below the `now` of the call that lowers it (refund), so equal states compare equal.
    tat: AtomicU64,
}

impl Rate {
    /// A full bucket.
    pub const fn new() -> Rate {
        Rate {
            tat: AtomicU64::new(0),
        }
    }

    /// Takes `n` units at `now`, all or nothing. See the module doc for the edges.
    #[inline]
    pub fn take(&self, spec: RateSpec, n: u64, now: Nanos) -> Result<Quota, Exceeded> {
        let (t, cap) = spec.interval();
        if n == 0 {
            return Ok(self.peek(spec, now));
        }
        if n > spec.limit {
            let tat = self.tat.load(Ordering::Relaxed);
            return Err(Exceeded {
                limit: spec.limit,
                retry_after: spec.period,
                reset: tat.saturating_sub(now),
            });
        }
        // n <= limit, so n × t <= cap: no overflow.
        let cost = n * t;
        let limit = now.saturating_add(cap);
        let result = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                let next = tat.max(now).saturating_add(cost);
                (next <= limit).then_some(next)
            });
        match result {
            Ok(prev) => Ok(quota(spec, prev.max(now).saturating_add(cost), now, t, cap)),
            Err(tat) => Err(Exceeded {
                limit: spec.limit,
                retry_after: tat.max(now).saturating_add(cost) - limit,
                reset: tat.saturating_sub(now),
            }),
        }
    }

    /// Gives `n` units back (a sibling level refused, or the estimate was too high). The
    /// bucket never goes beyond full.
    #[inline]
    pub fn refund(&self, spec: RateSpec, n: u64, now: Nanos) {
        let (t, _) = spec.interval();
        let back = n.saturating_mul(t);
        if back == 0 || spec.limit == 0 {
            return;
        }
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                (tat > now).then(|| tat.saturating_sub(back).max(now))
            });
    }

    /// Takes `n` units unconditionally (usage turned out larger than estimated). The
    /// bucket may go into debt, at most one capacity (one period's worth) beyond empty.
    #[inline]
    pub fn charge(&self, spec: RateSpec, n: u64, now: Nanos) {
        let (t, cap) = spec.interval();
        if n == 0 || spec.limit == 0 {
            return;
        }
        let bound = now.saturating_add(cap.saturating_mul(2));
        let cost = n.saturating_mul(t);
        let _ = self
            .tat
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |tat| {
                let next = tat.max(now).saturating_add(cost).min(bound);
                // A bucket already deeper than the bound (the limit was lowered) stays.
                (next > tat).then_some(next)
            });
    }

    /// The bucket at `now`, unchanged.
    #[inline]
    pub fn peek(&self, spec: RateSpec, now: Nanos) -> Quota {
        let (t, cap) = spec.interval();
        quota(spec, self.tat.load(Ordering::Relaxed), now, t, cap)
    }
}

/// The quota a bucket with theoretical arrival time `tat` shows at `now`.
#[inline]
fn quota(spec: RateSpec, tat: Nanos, now: Nanos, t: Nanos, cap: Nanos) -> Quota {
    let used = tat.saturating_sub(now);
    Quota {
        limit: spec.limit,
        // In debt (used > cap) nothing fits.
        remaining: cap.saturating_sub(used) / t,
        reset: used,
    }
}

/// Takes from every `(rate, spec, n)` in order, all or nothing: on the first refusal the
/// ones already taken are refunded and the refused item's index is returned with its
/// [`Exceeded`]. `Ok` carries the quota with the fewest remaining units (the first of
/// equals), for `x-ratelimit-*` headers; with no items, an unlimited-looking quota
/// (`u64::MAX` remaining). Allocates nothing.
///
/// Between the take and the refund other requests may see the refunded units as used; a
/// refusal is therefore possible that a serial order would have admitted, never the
/// reverse (no level ever admits beyond its limit).
pub fn take_all(items: &[(&Rate, RateSpec, u64)], now: Nanos) -> Result<Quota, (usize, Exceeded)> {
    let mut tightest = Quota {
        limit: u64::MAX,
        remaining: u64::MAX,
        reset: 0,
    };
    for (i, &(rate, spec, n)) in items.iter().enumerate() {
        match rate.take(spec, n, now) {
            Ok(q) => {
                if q.remaining < tightest.remaining {
                    tightest = q;
                }
            }
            Err(e) => {
                for &(rate, spec, n) in &items[..i] {
                    rate.refund(spec, n, now);
                }
                return Err((i, e));
            }
        }
    }
    Ok(tightest)
}

/// Requests in flight against one max-concurrency limit. Aligned to a cache line like
/// [`Rate`].
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Gauge {
    /// INVARIANT: at most the largest `max` any `try_acquire` was given.
    count: AtomicU32,
}

impl Gauge {
    /// No request in flight.
    pub const fn new() -> Gauge {
        Gauge {
            count: AtomicU32::new(0),
        }
    }

    /// Counts one more request in flight if fewer than `max` are (`max == 0` admits none).
    #[inline]
    pub fn try_acquire(&self, max: u32) -> bool {
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                (c < max).then_some(c + 1)
            })
            .is_ok()
    }

    /// Ends one request in flight. A release without an acquire (a caller bug) leaves the
    /// gauge at 0 rather than wrapping to `u32::MAX` and refusing everything.
    #[inline]
    pub fn release(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
    }

    /// Requests in flight now.
    #[inline]
    pub fn get(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}
