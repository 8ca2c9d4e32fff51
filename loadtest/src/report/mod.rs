//! What a run measured, and the three ways it is written out.
//!
//! [`Report`] holds, per target, the HDR histograms merged from every worker (all in
//! microseconds, 3 significant digits, 1 µs to 1 h), the counters, the offered and
//! achieved rates and a per-second timeline. [`Summary`] and [`Difference`] read
//! percentiles off them. Writers: [`table`] (the text report on stdout), [`json`] (every
//! number, including the timeline) and [`svg`] (latency over time, hand-written SVG).
//!
//! What the histograms measure, per request, from its *start*: the intended send time in
//! an open-loop run (so queueing for a connection is included and a slow target cannot
//! hide it), the moment it was sent in a closed-loop run:
//! - `latency`: start to the last byte of the response (responses of any status;
//!   failed exchanges are counted in [`Counts::errors`] instead);
//! - `queue`: open loop only, intended send time to the moment the request was written;
//! - `ttfb`: start to the complete response head;
//! - `ttft`: streams only, start to the first SSE event that carries a token, i.e. a
//!   `data:` payload with a non-empty `"content"` or `"text"` string (so an opening
//!   role-only delta, an empty first delta, a finish frame or `[DONE]` is not a token);
//! - `itl`: streams only, the gap between consecutive token events, each timed when the
//!   read that completed it returned (events that arrive in one read are 0 µs apart).

pub mod json;
pub mod svg;
pub mod table;

use std::time::Duration;

pub use hdrhistogram::Histogram;

use crate::run::{Driver, Mode};

/// Histogram bounds: every value is in microseconds.
pub const HIST_LOW_US: u64 = 1;
pub const HIST_HIGH_US: u64 = 3_600_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// An empty histogram with the report's bounds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_US, HIST_HIGH_US, HIST_SIGFIG)
        .expect("the histogram bounds are valid")
}

/// A duration as whole microseconds, saturating at the histogram's top.
pub fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u128::from(HIST_HIGH_US))) as u64
}

/// Why an exchange failed (a response with an error status is not a failure here: it
/// counts in [`Counts::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP connection could not be opened (refused, unreachable, timed out).
    Connect,
    /// No complete response within the run's request timeout.
    Timeout,
    /// The connection failed mid-exchange (ECONNRESET, EPIPE, any other socket error).
    Reset,
    /// The peer closed the connection before the response ended.
    Closed,
    /// The response was not valid HTTP/1.1 (head, framing) or SSE (an event too large).
    BadResponse,
}

impl ErrorKind {
    pub const COUNT: usize = 5;
    pub const ALL: [ErrorKind; ErrorKind::COUNT] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Closed,
        ErrorKind::BadResponse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Closed => "closed",
            ErrorKind::BadResponse => "bad_response",
        }
    }
}

/// Counters of one target. Every measured request ends either with a status (counted in
/// `status`) or an error (counted in `errors`): `requests == responses() + errors_total()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Measured requests that finished, with a response or an error.
    pub requests: u64,
    /// Responses by status class: `status[0]` is 1xx, ..., `status[4]` is 5xx.
    pub status: [u64; 5],
    /// Failed exchanges, indexed by `ErrorKind as usize`.
    pub errors: [u64; ErrorKind::COUNT],
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Responses read as event streams, and the token events in them.
    pub streams: u64,
    pub tokens: u64,
    /// TCP connections opened (warm-up included).
    pub connections: u64,
    /// Open loop: measured arrivals never sent, because the run ended while they waited
    /// for a connection (or the wait queue was full).
    pub unsent: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        for (a, b) in self.status.iter_mut().zip(o.status) {
            *a += b;
        }
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.streams += o.streams;
        self.tokens += o.tokens;
        self.connections += o.connections;
        self.unsent += o.unsent;
    }

    pub fn responses(&self) -> u64 {
        self.status.iter().sum()
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn error(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    /// Responses with a status in `class`xx, `class` in 1..=5.
    pub fn class(&self, class: usize) -> u64 {
        self.status[class - 1]
    }
}

/// The percentiles the report prints: labels and quantiles. (Quantiles, not percents:
/// `99.9 / 100` is not exactly 0.999 in floating point, and at the tail one rank more
/// can be a very different value.)
pub const PERCENTILES: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)];

/// One histogram read off: percentiles in µs, each the highest value equivalent to the
/// sample at that rank (HDR's convention; within 0.1 % of the exact sample).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub mean: f64,
    pub min: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean: h.mean(),
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// The values in [`PERCENTILES`] order, then the maximum.
    pub fn values(&self) -> [u64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }
}

/// One second of the timeline, by completion time, counted from the end of the warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Second {
    /// Seconds since the end of the warm-up: this entry covers `[t, t + seconds)`.
    pub t: u32,
    /// The interval's length: 1, or less for the last one.
    pub seconds: f64,
    /// Requests finished in the interval (responses and errors).
    pub completed: u64,
    pub errors: u64,
    /// `completed / seconds`.
    pub rate: f64,
    /// Latency percentiles of the responses finished in the interval (0 when none).
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// Everything measured against one target.
#[derive(Clone, Debug)]
pub struct TargetReport {
    /// The target's URL as given.
    pub url: String,
    /// Open loop: the configured rate to this target, req/s. None in a closed loop.
    pub offered_rate: Option<f64>,
    /// Measured requests finished per second of the measured window.
    pub achieved_rate: f64,
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub queue: Histogram<u64>,
    pub ttfb: Histogram<u64>,
    pub ttft: Histogram<u64>,
    pub itl: Histogram<u64>,
    pub timeline: Vec<Second>,
}

impl TargetReport {
    pub(crate) fn empty(url: String, offered_rate: Option<f64>) -> TargetReport {
        TargetReport {
            url,
            offered_rate,
            achieved_rate: 0.0,
            counts: Counts::default(),
            latency: histogram(),
            queue: histogram(),
            ttfb: histogram(),
            ttft: histogram(),
            itl: histogram(),
            timeline: Vec::new(),
        }
    }

    /// The metrics with their report names, in report order.
    pub fn metrics(&self) -> [(&'static str, &Histogram<u64>); 5] {
        [
            ("latency", &self.latency),
            ("queue", &self.queue),
            ("ttfb", &self.ttfb),
            ("ttft", &self.ttft),
            ("itl", &self.itl),
        ]
    }
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Report {
    pub mode: Mode,
    /// Worker threads that carried load, and the driver each ran.
    pub drivers: Vec<Driver>,
    pub warmup: Duration,
    /// The measured window: the configured duration, or (with a request count) the
    /// time from the end of the warm-up to the last response.
    pub elapsed: Duration,
    pub seed: u64,
    /// One per target, in the order given.
    pub targets: Vec<TargetReport>,
}

/// `B - A` at each percentile, in µs (signed): the latency the second target adds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
    pub p999: i64,
    pub max: i64,
}

impl Delta {
    pub fn between(a: &Histogram<u64>, b: &Histogram<u64>) -> Option<Delta> {
        if a.is_empty() || b.is_empty() {
            return None;
        }
        let (a, b) = (Summary::of(a).values(), Summary::of(b).values());
        let d = |i: usize| b[i] as i64 - a[i] as i64;
        Some(Delta {
            p50: d(0),
            p90: d(1),
            p99: d(2),
            p999: d(3),
            max: d(4),
        })
    }

    pub fn values(&self) -> [i64; 5] {
        [self.p50, self.p90, self.p99, self.p999, self.max]
    }
}

/// The difference table of a two-target run: each metric of target B minus target A
/// (None where either side has no samples).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Difference {
    pub latency: Option<Delta>,
    pub ttfb: Option<Delta>,
    pub ttft: Option<Delta>,
    pub itl: Option<Delta>,
}

impl Difference {
    pub fn between(a: &TargetReport, b: &TargetReport) -> Difference {
        Difference {
            latency: Delta::between(&a.latency, &b.latency),
            ttfb: Delta::between(&a.ttfb, &b.ttfb),
            ttft: Delta::between(&a.ttft, &b.ttft),
            itl: Delta::between(&a.itl, &b.itl),
        }
    }

    pub fn rows(&self) -> [(&'static str, Option<Delta>); 4] {
        [
            ("latency", self.latency),
            ("ttfb", self.ttfb),
            ("ttft", self.ttft),
            ("itl", self.itl),
        ]
    }
}

impl Report {
    /// Target B minus target A, when the run had two targets.
    pub fn difference(&self) -> Option<Difference> {
        match &self.targets[..] {
            [a, b] => Some(Difference::between(a, b)),
            _ => None,
        }
    }
}

/// `n` µs for people: `850µs`, `1.25ms`, `3.40s`.
pub fn fmt_us(n: u64) -> String {
    if n < 1_000 {
        format!("{n}µs")
    } else if n < 1_000_000 {
        format!("{:.2}ms", n as f64 / 1e3)
    } else {
        format!("{:.2}s", n as f64 / 1e6)
    }
}

/// A signed µs difference for people: `+5.02ms`, `-12µs`.
pub fn fmt_delta_us(n: i64) -> String {
    let sign = if n < 0 { '-' } else { '+' };
    format!("{sign}{}", fmt_us(n.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Rng;

    /// The sample at rank ceil(q * n) of the sorted samples (1-based), the definition
    /// HDR histograms approximate.
    fn naive(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn close(hdr: u64, exact: u64) -> bool {
        // 3 significant digits: the bucket holding `exact` is at most 1/1000 of it wide.
        hdr.abs_diff(exact) <= exact / 1000 + 1
    }

    #[test]
    fn percentiles_match_a_sorted_array() {
        let mut rng = Rng::new(42);
        // A long-tailed mix: mostly 100..1100 µs, 1 % up to 100 ms.
        let samples: Vec<u64> = (0..200_000)
            .map(|_| {
                let u = rng.next_f64();
                if rng.next_f64() < 0.01 {
                    1 + (u * 100_000.0) as u64
                } else {
                    100 + (u * 1_000.0) as u64
                }
            })
            .collect();
        // Four "workers", merged the way run() merges them.
        let mut parts = vec![histogram(), histogram(), histogram(), histogram()];
        for (i, &s) in samples.iter().enumerate() {
            parts[i % 4].record(s).unwrap();
        }
        let mut merged = histogram();
        for p in &parts {
            merged.add(p).unwrap();
        }
        let mut whole = histogram();
        for &s in &samples {
            whole.record(s).unwrap();
        }
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            let exact = naive(&sorted, q);
            for (what, h) in [("merged", &merged), ("single", &whole)] {
                let got = h.value_at_quantile(q);
                assert!(close(got, exact), "{what} q{q}: hdr {got}, exact {exact}");
            }
        }
        let s = Summary::of(&merged);
        assert_eq!(s.count, samples.len() as u64);
        assert!(close(s.max, *sorted.last().unwrap()));
        assert!(close(s.p999, naive(&sorted, 0.999)));
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        assert!((s.mean - mean).abs() / mean < 0.001, "{} {mean}", s.mean);
    }

    #[test]
    fn delta_is_b_minus_a() {
        let (mut a, mut b) = (histogram(), histogram());
        for v in 1..=1000u64 {
            a.record(v * 10).unwrap();
            b.record(v * 10 + 5_000).unwrap();
        }
        let d = Delta::between(&a, &b).unwrap();
        assert!((4_990..=5_010).contains(&d.p50), "{d:?}");
        assert!((4_990..=5_010).contains(&d.max), "{d:?}");
        assert_eq!(Delta::between(&a, &histogram()), None);
        assert_eq!(fmt_delta_us(-12), "-12µs");
        assert_eq!(fmt_delta_us(5_020), "+5.02ms");
        assert_eq!(fmt_us(3_400_000), "3.40s");
    }
}
