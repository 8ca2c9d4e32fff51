//! Per-worker, per-target recording: the run's totals and the current one-second
//! interval. Owned by one worker thread (behind a `RefCell` its tasks borrow between
//! awaits), so recording takes no lock and allocates nothing.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::conn::Outcome;
use crate::report::{histogram, micros, Counts, ErrorKind};

/// Everything one worker measured against one target (and, merged, the whole run).
#[derive(Clone, Debug)]
pub(crate) struct Totals {
    pub counts: Counts,
    pub latency: Histogram<u64>,
    pub queue: Histogram<u64>,
    pub ttfb: Histogram<u64>,
    pub ttft: Histogram<u64>,
    pub itl: Histogram<u64>,
}

impl Totals {
    pub(crate) fn new() -> Totals {
        Totals {
            counts: Counts::default(),
            latency: histogram(),
            queue: histogram(),
            ttfb: histogram(),
            ttft: histogram(),
            itl: histogram(),
        }
    }

    pub(crate) fn add(&mut self, o: &Totals) {
        self.counts.add(&o.counts);
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&o.latency);
        let _ = self.queue.add(&o.queue);
        let _ = self.ttfb.add(&o.ttfb);
        let _ = self.ttft.add(&o.ttft);
        let _ = self.itl.add(&o.itl);
    }
}

/// What finished during one second of the timeline.
#[derive(Clone, Debug)]
pub(crate) struct Interval {
    pub latency: Histogram<u64>,
    pub completed: u64,
    pub errors: u64,
}

impl Interval {
    pub(crate) fn new() -> Interval {
        Interval {
            latency: histogram(),
            completed: 0,
            errors: 0,
        }
    }

    pub(crate) fn add(&mut self, o: &Interval) {
        let _ = self.latency.add(&o.latency);
        self.completed += o.completed;
        self.errors += o.errors;
    }
}

pub(crate) struct Recorder {
    pub totals: Totals,
    pub interval: Interval,
    /// When the last measured request finished.
    pub last_end: Option<Instant>,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            totals: Totals::new(),
            interval: Interval::new(),
            last_end: None,
        }
    }

    /// Record one request. `start` is its intended send time (open loop) or the moment
    /// it was sent (closed loop); `sent`, in an open loop, when it was actually written.
    /// Connections opened count even during the warm-up; nothing else does.
    pub(crate) fn record(
        &mut self,
        start: Instant,
        sent: Option<Instant>,
        o: &Outcome,
        measured: bool,
    ) {
        let c = &mut self.totals.counts;
        c.connections += u64::from(o.connected);
        if !measured {
            return;
        }
        c.requests += 1;
        c.bytes_sent += o.bytes_out;
        c.bytes_received += o.bytes_in;
        if let Some(sent) = sent {
            self.totals.queue.saturating_record(micros(sent - start));
        }
        self.interval.completed += 1;
        self.last_end = Some(o.end);
        match &o.result {
            Ok(ex) => {
                let class = usize::from(ex.status / 100).clamp(1, 5);
                c.status[class - 1] += 1;
                let latency = micros(o.end - start);
                self.totals.latency.saturating_record(latency);
                self.interval.latency.saturating_record(latency);
                self.totals
                    .ttfb
                    .saturating_record(micros(ex.head_at - start));
                if ex.stream {
                    c.streams += 1;
                    c.tokens += u64::from(ex.tokens);
                    if let Some(first) = ex.first_token {
                        self.totals.ttft.saturating_record(micros(first - start));
                    }
                }
            }
            Err(kind) => {
                c.errors[*kind as usize] += 1;
                self.interval.errors += 1;
            }
        }
    }

    /// One inter-token gap of a measured stream.
    pub(crate) fn itl(&mut self, gap: Duration) {
        self.totals.itl.saturating_record(micros(gap));
    }

    /// Open loop: an arrival that was never sent.
    pub(crate) fn unsent(&mut self, n: u64) {
        self.totals.counts.unsent += n;
    }

    /// Hand over the current interval and start a new one.
    pub(crate) fn take_interval(&mut self) -> Interval {
        std::mem::replace(&mut self.interval, Interval::new())
    }
}

/// For tests of the error mapping: the kind's index is stable.
const _: () = assert!(ErrorKind::BadResponse as usize == ErrorKind::COUNT - 1);
