//! The calling thread's side of a run: gather the workers' per-second intervals into the
//! timeline (printing the live progress line when asked), and their totals at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::stats::{Interval, Totals};
use super::worker::Msg;
use super::RunConfig;
use crate::report::{fmt_us, Second};

/// The merged result of every worker.
pub(crate) struct Gathered {
    /// Per target.
    pub totals: Vec<Totals>,
    pub timelines: Vec<Vec<Second>>,
    pub last_end: Option<Instant>,
}

/// One interval index while workers are still reporting it.
struct Pending {
    intervals: Vec<Interval>,
    until: Instant,
}

/// The timeline being assembled: an interval is final once every worker has reported
/// it or finished.
struct Timeline {
    targets: usize,
    t_measure: Instant,
    pending: BTreeMap<i64, Pending>,
    /// The last interval index each worker reported.
    reported: Vec<i64>,
    done: Vec<bool>,
    seconds: Vec<Vec<Second>>,
    line: Line,
}

impl Timeline {
    fn tick(&mut self, worker: usize, index: i64, until: Instant, intervals: &[Interval]) {
        let targets = self.targets;
        let p = self.pending.entry(index).or_insert_with(|| Pending {
            intervals: (0..targets).map(|_| Interval::new()).collect(),
            until,
        });
        for (acc, i) in p.intervals.iter_mut().zip(intervals) {
            acc.add(i);
        }
        p.until = p.until.max(until);
        self.reported[worker] = index;
        self.flush();
    }

    fn done(&mut self, worker: usize) {
        self.done[worker] = true;
        self.flush();
    }

    /// Finalise, in order, every interval all workers are past.
    fn flush(&mut self) {
        while let Some((&k, _)) = self.pending.first_key_value() {
            let all = (0..self.done.len()).all(|w| self.done[w] || self.reported[w] >= k);
            if !all {
                return;
            }
            let p = self.pending.remove(&k).expect("the first key is present");
            if k >= 0 {
                let start = self.t_measure + Duration::from_secs(k as u64);
                let seconds = p
                    .until
                    .saturating_duration_since(start)
                    .as_secs_f64()
                    .min(1.0);
                for (timeline, i) in self.seconds.iter_mut().zip(&p.intervals) {
                    timeline.push(second(k as u32, seconds, i));
                }
            }
            self.line.update(k, &p.intervals);
        }
    }
}

/// Receive until every worker is done.
pub(crate) fn gather(
    cfg: &RunConfig,
    workers: usize,
    t_measure: Instant,
    rx: mpsc::Receiver<Msg>,
) -> std::io::Result<Gathered> {
    let n = cfg.targets.len();
    let mut totals: Vec<Totals> = (0..n).map(|_| Totals::new()).collect();
    let mut timeline = Timeline {
        targets: n,
        t_measure,
        pending: BTreeMap::new(),
        reported: vec![i64::MIN; workers],
        done: vec![false; workers],
        seconds: vec![Vec::new(); n],
        line: Line::new(cfg.progress, n),
    };
    let mut finished = 0;
    let mut failure = None;
    let mut last_end = None;
    while finished < workers {
        match rx.recv() {
            Ok(Msg::Tick {
                worker,
                index,
                until,
                intervals,
            }) => timeline.tick(worker, index, until, &intervals),
            Ok(Msg::Done { worker, result }) => {
                finished += 1;
                match result {
                    Ok(f) => {
                        for (acc, t) in totals.iter_mut().zip(&f.totals) {
                            acc.add(t);
                        }
                        last_end = last_end.max(f.last_end);
                    }
                    Err(e) => failure = failure.or(Some(e)),
                }
                timeline.done(worker);
            }
            Err(_) => break,
        }
    }
    timeline.line.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    if finished < workers {
        return Err(std::io::Error::other(
            "a load worker stopped without reporting",
        ));
    }
    Ok(Gathered {
        totals,
        timelines: timeline.seconds,
        last_end,
    })
}

fn second(t: u32, seconds: f64, i: &Interval) -> Second {
    let q = |p: f64| {
        if i.latency.is_empty() {
            0
        } else {
            i.latency.value_at_quantile(p)
        }
    };
    Second {
        t,
        seconds,
        completed: i.completed,
        errors: i.errors,
        rate: if seconds > 0.0 {
            i.completed as f64 / seconds
        } else {
            0.0
        },
        p50_us: q(0.5),
        p90_us: q(0.9),
        p99_us: q(0.99),
        max_us: if i.latency.is_empty() {
            0
        } else {
            i.latency.max()
        },
    }
}

/// The live progress line on stderr.
struct Line {
    on: bool,
    printed: bool,
    completed: u64,
    errors: u64,
    targets: usize,
}

impl Line {
    fn new(on: bool, targets: usize) -> Line {
        Line {
            on,
            printed: false,
            completed: 0,
            errors: 0,
            targets,
        }
    }

    fn update(&mut self, k: i64, intervals: &[Interval]) {
        for i in intervals {
            self.completed += i.completed;
            self.errors += i.errors;
        }
        if !self.on {
            return;
        }
        let mut s = if k < 0 {
            format!("[warm-up {}s]", -k)
        } else {
            format!("[{:>4}s] done {}", k + 1, self.completed)
        };
        if k >= 0 {
            for (t, i) in intervals.iter().enumerate() {
                let label = if self.targets > 1 {
                    format!(" | {} ", (b'A' + t as u8) as char)
                } else {
                    " | ".to_owned()
                };
                let p99 = if i.latency.is_empty() {
                    "-".to_owned()
                } else {
                    fmt_us(i.latency.value_at_quantile(0.99))
                };
                s.push_str(&format!("{label}{}/s p99 {p99}", i.completed));
            }
            s.push_str(&format!(" | errors {}", self.errors));
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{s}");
        let _ = err.flush();
        self.printed = true;
    }

    fn finish(&mut self) {
        if self.printed {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err);
        }
    }
}
