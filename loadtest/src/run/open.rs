//! Open loop: requests arrive on a schedule, whether or not the target keeps up.
//!
//! Per worker and target, a *lane*: a dispatcher task releases each arrival at its
//! intended time (through the [`Pacer`]) into a FIFO queue, wakes an idle connection
//! task, or opens a new one when none is idle and fewer than the maximum exist.
//! Connection tasks take arrivals from the queue, oldest first. Latency is timed from
//! the intended time, so an arrival that waited in the queue carries its wait (also
//! recorded alone as `queue`).
//!
//! With two targets, each worker runs one arrival process at twice the per-target rate
//! and request `k` goes to target `k mod 2`; each lane replays the process from the same
//! seed and keeps its own share, so the lanes need no coordination and the i-th request
//! of each target is the same.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::conn::Client;
use super::pacer::Pacer;
use super::worker::Ctx;
use super::Arrivals;
use crate::workload::{mix, Picker, Rng, Spec};

/// Arrivals waiting for a connection, per lane. Beyond this, new arrivals are dropped
/// and counted as unsent (a target this far behind has long been saturated).
pub(crate) const QUEUE_MAX: usize = 1 << 20;

/// An arrival released to the queue.
#[derive(Clone, Copy)]
struct Job {
    intended: Instant,
    spec: Spec,
    measured: bool,
}

/// One target's queue and idle connections on one worker.
#[derive(Default)]
struct Lane {
    queue: RefCell<VecDeque<Job>>,
    /// Wakers of connection tasks waiting for a job. INVARIANT: a task is here only while
    /// its `NextJob` is pending, so every entry is an idle connection.
    idle: RefCell<Vec<Waker>>,
    closed: Cell<bool>,
    /// When closed, let connections take what is still queued (a counted run sends every
    /// request); otherwise queued arrivals are abandoned.
    drain: Cell<bool>,
}

impl Lane {
    fn next_job(&self) -> NextJob<'_> {
        NextJob { lane: self }
    }

    /// Wake one idle connection; false when there is none.
    fn wake_one(&self) -> bool {
        match self.idle.borrow_mut().pop() {
            Some(w) => {
                w.wake();
                true
            }
            None => false,
        }
    }

    fn close(&self, drain: bool) {
        self.closed.set(true);
        self.drain.set(drain);
        for w in self.idle.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

struct NextJob<'a> {
    lane: &'a Lane,
}

impl Future for NextJob<'_> {
    type Output = Option<Job>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Job>> {
        let lane = self.lane;
        if !lane.closed.get() || lane.drain.get() {
            if let Some(job) = lane.queue.borrow_mut().pop_front() {
                return Poll::Ready(Some(job));
            }
        }
        if lane.closed.get() {
            return Poll::Ready(None);
        }
        lane.idle.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Arrival times, in seconds after the run's start, of one lane's share of the worker's
/// arrival process.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    kind: Arrivals,
    /// Mean gap of the worker's whole process (all lanes), seconds.
    gap: f64,
    next: f64,
    rng: Rng,
    /// Lanes sharing the process; this lane takes every `stride`-th arrival.
    stride: usize,
}

impl Schedule {
    /// The lane `lane` of `lanes` of a process at `rate` arrivals per second (all lanes
    /// together), starting at `phase` seconds.
    pub(crate) fn new(
        kind: Arrivals,
        rate: f64,
        phase: f64,
        seed: u64,
        lane: usize,
        lanes: usize,
    ) -> Schedule {
        let mut s = Schedule {
            kind,
            gap: 1.0 / rate,
            next: phase,
            rng: Rng::new(mix(seed ^ 0xa221_7a15)),
            stride: lanes,
        };
        for _ in 0..lane {
            s.advance();
        }
        s
    }

    fn advance(&mut self) -> f64 {
        let t = self.next;
        self.next += match self.kind {
            Arrivals::Constant => self.gap,
            // 1 - u is in (0, 1]: the logarithm is finite.
            Arrivals::Poisson => -(1.0 - self.rng.next_f64()).ln() * self.gap,
        };
        t
    }

    /// This lane's next arrival time.
    pub(crate) fn next_arrival(&mut self) -> f64 {
        let t = self.advance();
        for _ in 1..self.stride {
            self.advance();
        }
        t
    }
}

/// Run one lane per target at `rate` (this worker's share, per target) until the run
/// ends, with at most `max_conns` connections per lane.
pub(crate) async fn run(
    ctx: Rc<Ctx>,
    rate: f64,
    arrivals: Arrivals,
    max_conns: usize,
) -> std::io::Result<()> {
    let lanes = ctx.cfg().targets.len();
    let handles: Vec<_> = (0..lanes)
        .map(|t| monoio::spawn(dispatch(ctx.clone(), t, rate, arrivals, max_conns)))
        .collect();
    let mut result = Ok(());
    for h in handles {
        result = result.and(h.await);
    }
    result
}

async fn dispatch(
    ctx: Rc<Ctx>,
    target: usize,
    rate: f64,
    arrivals: Arrivals,
    max_conns: usize,
) -> std::io::Result<()> {
    let pacer = Pacer::new()?;
    let lanes = ctx.cfg().targets.len();
    let total_rate = rate * lanes as f64;
    // Constant arrivals of the workers interleave evenly: worker w starts w gaps of the
    // whole run's process late.
    let phase = match arrivals {
        Arrivals::Constant => ctx.id as f64 / (total_rate * ctx.shared.workers as f64),
        Arrivals::Poisson => 0.0,
    };
    let mut schedule = Schedule::new(arrivals, total_rate, phase, ctx.seed(), target, lanes);
    let mut picker = Picker::new(&ctx.cfg().workload, ctx.seed());
    let lane = Rc::new(Lane::default());
    let mut conns = Vec::new();
    let mut measured_sent: u64 = 0;
    let recorder = &ctx.recorders[target];
    loop {
        let intended = ctx.t0 + Duration::from_secs_f64(schedule.next_arrival());
        if ctx.ended(intended) {
            break;
        }
        let measured = intended >= ctx.t_measure;
        if measured {
            if ctx.requests.is_some_and(|n| measured_sent >= n) {
                break;
            }
            measured_sent += 1;
        }
        pacer.wait_until(intended).await?;
        let spec = picker.next_spec();
        if lane.queue.borrow().len() >= QUEUE_MAX {
            if measured {
                recorder.borrow_mut().unsent(1);
            }
            continue;
        }
        lane.queue.borrow_mut().push_back(Job {
            intended,
            spec,
            measured,
        });
        if !lane.wake_one() && conns.len() < max_conns {
            conns.push(monoio::spawn(connection(ctx.clone(), lane.clone(), target)));
        }
    }
    // Let connections woken for the last arrivals take them, up to the end of a timed
    // run; arrivals still queued then found no connection and are abandoned. A counted
    // run sends them all.
    if let Some(end) = ctx.t_end {
        pacer.wait_until(end).await?;
    }
    lane.close(ctx.requests.is_some());
    for h in conns {
        h.await;
    }
    let left = lane.queue.borrow().iter().filter(|j| j.measured).count();
    recorder.borrow_mut().unsent(left as u64);
    Ok(())
}

async fn connection(ctx: Rc<Ctx>, lane: Rc<Lane>, target: usize) {
    let cfg = ctx.cfg();
    let mut client = Client::new(cfg.targets[target].addr);
    let recorder = &ctx.recorders[target];
    let renderer = &ctx.renderers[target];
    while let Some(job) = lane.next_job().await {
        let sent = Instant::now();
        let measured = job.measured;
        let outcome = client
            .request(
                cfg.timeout,
                job.spec.stream,
                |out| renderer.render(&job.spec, out),
                &mut |gap| {
                    if measured {
                        recorder.borrow_mut().itl(gap);
                    }
                },
            )
            .await;
        recorder
            .borrow_mut()
            .record(job.intended, Some(sent), &outcome, measured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_lanes_interleave() {
        let mut a = Schedule::new(Arrivals::Constant, 100.0, 0.0, 1, 0, 2);
        let mut b = Schedule::new(Arrivals::Constant, 100.0, 0.0, 1, 1, 2);
        let ta: Vec<f64> = (0..3).map(|_| a.next_arrival()).collect();
        let tb: Vec<f64> = (0..3).map(|_| b.next_arrival()).collect();
        let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
        assert!(close(ta[1], 0.02) && close(ta[2], 0.04), "{ta:?}");
        assert!(close(tb[0], 0.01) && close(tb[1], 0.03), "{tb:?}");
    }

    #[test]
    fn poisson_rate_and_determinism() {
        let mut s = Schedule::new(Arrivals::Poisson, 1000.0, 0.0, 9, 0, 1);
        let times: Vec<f64> = (0..20_000).map(|_| s.next_arrival()).collect();
        let mut again = Schedule::new(Arrivals::Poisson, 1000.0, 0.0, 9, 0, 1);
        assert!(times.iter().all(|&t| t == again.next_arrival()));
        let rate = times.len() as f64 / times.last().unwrap();
        assert!((rate - 1000.0).abs() < 25.0, "{rate}");
        // Exponential gaps: the coefficient of variation is 1.
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / mean - 1.0).abs() < 0.05, "cv {}", sd / mean);
        // Two lanes split one process between them.
        let mut l0 = Schedule::new(Arrivals::Poisson, 1000.0, 0.0, 9, 0, 2);
        let mut l1 = Schedule::new(Arrivals::Poisson, 1000.0, 0.0, 9, 1, 2);
        assert_eq!(l0.next_arrival(), times[0]);
        assert_eq!(l1.next_arrival(), times[1]);
        assert_eq!(l0.next_arrival(), times[2]);
    }
}
