//! A worker thread: its runtime, its share of the load, its recorders, and the ticker
//! that hands a per-second interval to the calling thread.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};

use super::request::{filler, Renderer};
use super::stats::{Interval, Recorder, Totals};
use super::{closed, open, share, Driver, Length, Mode, RunConfig};
use crate::workload::mix;

/// What all workers read: the config and the prompt filler. Immutable.
pub(crate) struct Shared {
    pub cfg: RunConfig,
    /// Workers carrying load; shares of connections, rate and requests divide by it.
    pub workers: usize,
    pub filler: Arc<[u8]>,
}

impl Shared {
    pub(crate) fn new(cfg: RunConfig, workers: usize) -> Shared {
        let filler = filler(cfg.workload.prompt_bytes_max());
        Shared {
            cfg,
            workers,
            filler,
        }
    }
}

/// Worker to caller.
pub(crate) enum Msg {
    /// The interval `index` (second `index` after the warm-up; negative during it),
    /// cut at `until`: one entry per target.
    Tick {
        worker: usize,
        index: i64,
        until: Instant,
        intervals: Vec<Interval>,
    },
    Done {
        worker: usize,
        result: std::io::Result<Finished>,
    },
}

/// A worker's totals, one per target.
pub(crate) struct Finished {
    pub totals: Vec<Totals>,
    pub last_end: Option<Instant>,
}

/// One worker's run state, shared by its tasks (same thread).
pub(crate) struct Ctx {
    pub id: usize,
    pub shared: Arc<Shared>,
    pub t0: Instant,
    /// The end of the warm-up.
    pub t_measure: Instant,
    /// A timed run's end; None when it counts requests.
    pub t_end: Option<Instant>,
    /// A counted run: this worker's measured requests per target.
    pub requests: Option<u64>,
    claimed: Cell<u64>,
    /// Per target.
    pub recorders: Vec<RefCell<Recorder>>,
    pub renderers: Vec<Renderer>,
    tick: Cell<i64>,
    finished: Cell<bool>,
    tx: mpsc::Sender<Msg>,
}

impl Ctx {
    pub(crate) fn cfg(&self) -> &RunConfig {
        &self.shared.cfg
    }

    /// This worker's seed: the same on every run with the same `--seed`.
    pub(crate) fn seed(&self) -> u64 {
        mix(self.cfg().seed ^ mix(self.id as u64 + 1))
    }

    /// A counted run: take one of this worker's measured requests, if any are left.
    pub(crate) fn claim(&self) -> bool {
        match self.requests {
            None => true,
            Some(n) if self.claimed.get() < n => {
                self.claimed.set(self.claimed.get() + 1);
                true
            }
            Some(_) => false,
        }
    }

    pub(crate) fn ended(&self, now: Instant) -> bool {
        self.t_end.is_some_and(|end| now >= end)
    }

    /// The start of interval `k`.
    fn boundary(&self, k: i64) -> Instant {
        let secs = Duration::from_secs(k.unsigned_abs());
        if k >= 0 {
            self.t_measure + secs
        } else {
            self.t_measure.checked_sub(secs).unwrap_or(self.t0)
        }
    }

    fn send_tick(&self, until: Instant) {
        let k = self.tick.get();
        self.tick.set(k + 1);
        // Only measured requests are recorded, so a warm-up interval holds at most what
        // finished between the warm-up's end and the ticker's (late, by up to the
        // runtime's 1 ms timer tick) wake-up: keep it for second 0.
        let intervals = self
            .recorders
            .iter()
            .map(|r| {
                if k < 0 {
                    Interval::new()
                } else {
                    r.borrow_mut().take_interval()
                }
            })
            .collect();
        let _ = self.tx.send(Msg::Tick {
            worker: self.id,
            index: k,
            until,
            intervals,
        });
    }
}

type Ready = mpsc::Sender<(usize, std::io::Result<Driver>)>;

/// The thread: build the runtime (io_uring, else epoll unless forced), report ready,
/// wait for the start instant, run, report the totals.
pub(crate) fn thread_main(
    id: usize,
    shared: Arc<Shared>,
    ready: Ready,
    start: mpsc::Receiver<Instant>,
    tx: mpsc::Sender<Msg>,
) {
    let want = shared.cfg.driver;
    if want == Driver::IoUring || (want == Driver::Auto && monoio::utils::detect_uring()) {
        match RuntimeBuilder::<IoUringDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => {
                let _ = ready.send((id, Ok(Driver::IoUring)));
                let Ok(t0) = start.recv() else { return };
                let result = rt.block_on(drive(id, shared, t0, tx.clone()));
                let _ = tx.send(Msg::Done { worker: id, result });
                return;
            }
            Err(e) if want == Driver::IoUring => {
                let _ = ready.send((id, Err(e)));
                return;
            }
            Err(_) => {}
        }
    }
    match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
        Ok(mut rt) => {
            let _ = ready.send((id, Ok(Driver::Epoll)));
            let Ok(t0) = start.recv() else { return };
            let result = rt.block_on(drive(id, shared, t0, tx.clone()));
            let _ = tx.send(Msg::Done { worker: id, result });
        }
        Err(e) => {
            let _ = ready.send((id, Err(e)));
        }
    }
}

async fn drive(
    id: usize,
    shared: Arc<Shared>,
    t0: Instant,
    tx: mpsc::Sender<Msg>,
) -> std::io::Result<Finished> {
    let cfg = &shared.cfg;
    let t_measure = t0 + cfg.warmup;
    let (t_end, requests) = match cfg.length {
        Length::Duration(d) => (Some(t_measure + d), None),
        Length::Requests(n) => (None, Some(share(n, shared.workers, id))),
    };
    let renderers = cfg
        .targets
        .iter()
        .map(|t| {
            let host = cfg.host_header.as_deref().unwrap_or(&t.host);
            Renderer::new(
                &cfg.workload,
                t,
                host,
                cfg.key.as_deref(),
                shared.filler.clone(),
            )
        })
        .collect();
    let first_tick = -((cfg.warmup.as_secs_f64()).ceil() as i64);
    let ctx = Rc::new(Ctx {
        id,
        shared: shared.clone(),
        t0,
        t_measure,
        t_end,
        requests,
        claimed: Cell::new(0),
        recorders: cfg
            .targets
            .iter()
            .map(|_| RefCell::new(Recorder::new()))
            .collect(),
        renderers,
        tick: Cell::new(first_tick),
        finished: Cell::new(false),
        tx,
    });
    let now = Instant::now();
    if t0 > now {
        monoio::time::sleep(t0 - now).await;
    }
    monoio::spawn(ticker(ctx.clone()));
    let workers = shared.workers;
    let result = match cfg.mode {
        Mode::Closed { connections } => {
            closed::run(ctx.clone(), share(connections as u64, workers, id) as usize).await;
            Ok(())
        }
        Mode::Open {
            rate,
            arrivals,
            max_connections,
        } => {
            let conns = share(max_connections as u64, workers, id).max(1) as usize;
            open::run(ctx.clone(), rate / workers as f64, arrivals, conns).await
        }
    };
    ctx.finished.set(true);
    ctx.send_tick(Instant::now());
    result?;
    let mut last_end = None;
    let totals = ctx
        .recorders
        .iter()
        .map(|r| {
            let mut r = r.borrow_mut();
            last_end = last_end.max(r.last_end);
            std::mem::replace(&mut r.totals, Totals::new())
        })
        .collect();
    Ok(Finished { totals, last_end })
}

/// Cut an interval at every whole second after the warm-up's end (and before it).
async fn ticker(ctx: Rc<Ctx>) {
    loop {
        let boundary = ctx.boundary(ctx.tick.get() + 1);
        let now = Instant::now();
        if boundary > now {
            monoio::time::sleep(boundary - now).await;
        }
        if ctx.finished.get() {
            return;
        }
        ctx.send_tick(boundary);
    }
}
