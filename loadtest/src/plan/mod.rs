//! Capacity planning: find the highest rate a target serves within an SLO on this host,
//! measure the gateway's CPU per request and memory per concurrent stream, and turn
//! them into cores, hosts and memory for a target rate. [`plan`] takes a [`PlanConfig`]
//! and returns a [`Plan`]; `sluice-loadtest plan` is its CLI, and [`text`], [`json`]
//! and [`svg`] write a plan out.
//!
//! # The sweep
//! Each [`Step`] is one open-loop [`run::run`] at an offered rate (constant or Poisson
//! arrivals, latency timed from the intended send time) for a warm-up plus a measured
//! duration, at most `max_connections` connections. With a baseline (for example the
//! mock, directly) the step is a compare run: requests alternate between the baseline
//! (A) and the target (B) at the same rate, and the latency judged is the *added*
//! latency B − A at each percentile ([`Report::difference`]). Without one, it is the
//! target's own latency. A step passes the [`Slo`] when all of these hold:
//! - p99 latency (added or absolute) ≤ the bound;
//! - error ratio = (requests − 2xx responses) / requests ≤ `errors` (failed exchanges
//!   and error statuses both count);
//! - achieved rate ≥ `achieved` (95 % by default) × offered rate.
//!
//! The rate starts at `rate_start` and grows by `growth` (×2) until a step fails (or
//! `rate_max` passes: the knee is above the cap), then the highest pass and the lowest
//! fail are bisected until they are within `resolution` (5 %) of each other; the last
//! pass is then run once more, and reported only if it passes again (near a saturation
//! cliff a single step can pass by luck; a failed confirmation moves the bracket below
//! it and the bisection goes on). If the first step fails, the rate falls by the same
//! factor until one passes (down to 1 req/s). The
//! search runs at most `steps_max` steps, each bounded by its warm-up, duration and
//! request timeout, so a plan always ends by itself. The *knee* is the highest rate that
//! passed; it is a property of this host, the load generator and the mock included.
//!
//! A step's duration T bounds how much overload it can hide: a rate a fraction e above
//! what the target sustains queues about e × T of waiting by the step's end, so a step
//! passes up to e ≈ (bound − unloaded p99) / T. With a 1 ms added-latency bound and 3 s
//! steps that is 0.03 %; with loose bounds, lengthen the steps.
//!
//! # The gateway's resources (with its pid)
//! - CPU per request: `/proc/PID/stat` utime + stime is read at the end of a step's
//!   warm-up and after its last response; the difference, in µs, divided by the
//!   requests the target answered in the step. The plan uses the knee step's figure
//!   (the most load, so fixed costs weigh least). Resolution: one clock tick (10 ms), so
//!   steps of a few seconds at a few hundred req/s or more.
//! - Memory per stream: before the sweep, `VmRSS` of `/proc/PID/status` is read idle,
//!   then `streams` connections each open one stream through the target (closed loop,
//!   a streaming workload whose mock stream lasts `stream_hold`: its `x-mock-chunks`
//!   frames come `x-mock-chunk-interval-ms` apart) and RSS is sampled while they are all
//!   open; per stream = (peak RSS during − RSS idle) / streams. The gateway's open
//!   sockets are counted alongside, as a check that the streams were really concurrent
//!   (at least two per stream: client and upstream side). Plan against a freshly
//!   started gateway: memory its allocator kept from earlier traffic is reused by the
//!   streams and hides their cost (a second plan against the same sluice process read
//!   6.4 KiB per stream where the first read 28.4 KiB).
//! - Cores the gateway had: `gateway_cores` if given, else the count of its
//!   `Cpus_allowed_list`, else this host's cores (an assumption the plan states).
//!
//! Without a pid, CPU and memory are not measured and the plan says so.
//!
//! # The plan, for a target rate R with headroom H (`0 ≤ H < 1`)
//! ```text
//! cores by CPU  = ceil(R × cpu_per_request / (1 − H))
//! cores by rate = ceil(R / (max_rate_per_core × (1 − H))),  max_rate_per_core = knee / gateway cores
//! cores         = the larger of the two (either alone when only one is known)
//! hosts         = ceil(cores / cores_per_host)
//! streams       = given, or by Little's law R × mean latency at the knee
//! memory        = hosts × (RSS idle + ceil(streams / hosts) × memory_per_stream)
//! ```
//! The CPU estimate is what the gateway itself burns; the rate estimate is what this
//! host sustained within the SLO, load generator and upstream included, so on a small
//! shared machine it is the pessimistic one. The plan reports both and takes the larger.

pub mod json;
mod measure;
pub mod procfs;
pub mod sizing;
pub mod slo;
pub mod svg;
pub mod sweep;
pub mod text;

use std::io;
use std::time::Duration;

pub use measure::stream_workload;
pub use slo::{Basis, Slo, SloError};
pub use sweep::End;

use crate::report::{Delta, Report, Summary};
use crate::run::{self, Arrivals, Driver, Length, Mode, RunConfig, Target};
use crate::workload::Workload;

/// Steps a sweep may run at most.
pub const STEPS_MAX: usize = 100;
/// Concurrent streams the memory measurement may open at most.
pub const STREAMS_MAX: usize = 100_000;
/// The pause after each step, so the target drains what the step left behind.
pub const STEP_PAUSE: Duration = Duration::from_millis(200);
/// Below this share of its cores busy at the knee, the plan notes that the gateway's
/// CPU did not set the knee.
pub const BUSY_BOUND: f64 = 0.7;
/// The frame interval of the built-in memory-measurement stream.
pub const STREAM_FRAME_MS: u64 = 100;

/// Everything a plan needs. [`PlanConfig::new`] fills in the defaults.
#[derive(Clone, Debug)]
pub struct PlanConfig {
    /// What is planned for: usually the gateway.
    pub target: Target,
    /// Where the same requests go directly (usually the mock); makes the SLO's latency
    /// *added* latency.
    pub baseline: Option<Target>,
    /// The request mix of every sweep step.
    pub workload: Workload,
    pub slo: Slo,
    pub arrivals: Arrivals,
    /// Connections per target at most, per step.
    pub max_connections: usize,
    /// The first rate tried, the cap, the growth factor and the bisection's resolution.
    pub rate_start: f64,
    pub rate_max: f64,
    pub growth: f64,
    pub resolution: f64,
    pub steps_max: usize,
    /// Per step: sent and not recorded, then measured.
    pub step_warmup: Duration,
    pub step_duration: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Load generator threads, driver, seed, API key and `Host` override.
    pub workers: usize,
    pub driver: Driver,
    pub seed: u64,
    pub key: Option<String>,
    pub host_header: Option<String>,
    /// The gateway's process, for CPU and memory; None skips both.
    pub gateway_pid: Option<u32>,
    /// The cores the gateway used while the knee was measured; None reads them from
    /// the pid's `Cpus_allowed_list` (or assumes this host's cores).
    pub gateway_cores: Option<usize>,
    /// Concurrent streams for the memory measurement, and how long each stays open.
    pub streams: usize,
    pub stream_hold: Duration,
    /// The memory measurement's workload; None builds one from the first entry of
    /// `workload` (its model and keys) that streams for `stream_hold` from the mock.
    pub stream_workload: Option<Workload>,
    /// The rate to size a deployment for, req/s; None sizes nothing.
    pub target_rate: Option<f64>,
    /// The share of each core kept free.
    pub headroom: f64,
    pub cores_per_host: usize,
    /// Requests in flight at `target_rate`; None estimates them by Little's law.
    pub target_streams: Option<f64>,
    /// Print each step on stderr as it ends.
    pub progress: bool,
}

impl PlanConfig {
    /// Defaults: the built-in workload, constant arrivals, rates from 100 req/s doubling
    /// up to 100,000 and bisected to 5 %, at most 30 steps of 1 s warm-up and 3 s
    /// measured, 10 s timeout, 256 streams held 3 s, 30 % headroom, this host's cores
    /// per host, a load worker per core.
    pub fn new(target: Target, slo: Slo) -> PlanConfig {
        let cores = this_host_cores();
        PlanConfig {
            target,
            baseline: None,
            workload: Workload::default_chat("mock-gpt"),
            slo,
            arrivals: Arrivals::Constant,
            max_connections: 1024,
            rate_start: 100.0,
            rate_max: 100_000.0,
            growth: 2.0,
            resolution: 0.05,
            steps_max: 30,
            step_warmup: Duration::from_secs(1),
            step_duration: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            workers: cores,
            driver: Driver::Auto,
            seed: 0,
            key: None,
            host_header: None,
            gateway_pid: None,
            gateway_cores: None,
            streams: 256,
            stream_hold: Duration::from_secs(3),
            stream_workload: None,
            target_rate: None,
            headroom: 0.3,
            cores_per_host: cores,
            target_streams: None,
            progress: false,
        }
    }

    fn validate(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        match (self.slo.basis, &self.baseline) {
            (Basis::Added, None) => {
                return bad(
                    "the SLO bounds added latency (p99_added_ms) but there is no \
                            baseline: give one, or bound the target's own latency with p99_ms"
                        .into(),
                )
            }
            (Basis::Absolute, Some(_)) => {
                return bad("with a baseline the SLO bounds added latency: write \
                            p99_added_ms instead of p99_ms"
                    .into())
            }
            _ => {}
        }
        let rate_ok = |r: f64| (sweep::RATE_FLOOR..=run::RATE_MAX).contains(&r);
        if !rate_ok(self.rate_start) || !rate_ok(self.rate_max) || self.rate_max < self.rate_start {
            return bad(format!(
                "rates must satisfy 1 <= rate start ({}) <= rate max ({}) <= {}",
                self.rate_start,
                self.rate_max,
                run::RATE_MAX
            ));
        }
        if !(self.growth.is_finite() && self.growth >= 1.1 && self.growth <= 10.0) {
            return bad(format!("growth {} must be between 1.1 and 10", self.growth));
        }
        if !(self.resolution.is_finite() && self.resolution >= 0.005 && self.resolution <= 1.0) {
            return bad(format!(
                "resolution {} must be between 0.005 and 1",
                self.resolution
            ));
        }
        if self.steps_max == 0 || self.steps_max > STEPS_MAX {
            return bad(format!("steps max must be between 1 and {STEPS_MAX}"));
        }
        if self.step_duration.is_zero() {
            return bad("the step duration must be above 0".into());
        }
        if !(0.0..1.0).contains(&self.headroom) {
            return bad(format!(
                "headroom {} must be at least 0 and below 1",
                self.headroom
            ));
        }
        if self.cores_per_host == 0 || self.gateway_cores == Some(0) {
            return bad("cores per host and gateway cores must be at least 1".into());
        }
        if let Some(r) = self.target_rate {
            if !(r.is_finite() && r > 0.0) {
                return bad(format!("target rate {r} must be above 0"));
            }
        }
        if let Some(s) = self.target_streams {
            if !(s.is_finite() && s >= 0.0) {
                return bad(format!("target streams {s} must be at least 0"));
            }
        }
        if self.streams == 0 || self.streams > STREAMS_MAX {
            return bad(format!("streams must be between 1 and {STREAMS_MAX}"));
        }
        if self.stream_hold < Duration::from_millis(500) || self.stream_hold > run::DURATION_MAX {
            return bad("the stream hold must be at least 500ms".into());
        }
        if let Some(pid) = self.gateway_pid {
            if !procfs::exists(pid) {
                return bad(format!("no process {pid} (/proc/{pid}/stat is missing)"));
            }
        }
        Ok(())
    }

    /// The run config of a step at `rate`: baseline first, so B − A is the target's
    /// added latency.
    fn step_config(&self, rate: f64) -> RunConfig {
        let targets = self
            .baseline
            .iter()
            .chain(std::iter::once(&self.target))
            .cloned()
            .collect();
        let mut rc = RunConfig::new(
            targets,
            Mode::Open {
                rate,
                arrivals: self.arrivals,
                max_connections: self.max_connections,
            },
        );
        rc.length = Length::Duration(self.step_duration);
        rc.warmup = self.step_warmup;
        rc.timeout = self.timeout;
        rc.workers = self.workers;
        rc.driver = self.driver;
        rc.workload = self.workload.clone();
        rc.key = self.key.clone();
        rc.host_header = self.host_header.clone();
        rc.seed = self.seed;
        rc
    }
}

/// This host's cores (the available parallelism).
pub fn this_host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One rate of the sweep, as measured and judged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// The rate offered to the target (and to the baseline), req/s.
    pub offered_rate: f64,
    /// The target's answered requests per second of the measured window.
    pub achieved_rate: f64,
    /// The target's measured requests, arrivals never sent (still queued at the end),
    /// and requests that ended without a 2xx response.
    pub requests: u64,
    pub unsent: u64,
    pub errors: u64,
    /// `errors / requests` (1 when nothing finished).
    pub error_ratio: f64,
    /// The target's own latency.
    pub latency: Summary,
    /// The baseline's latency, and target minus baseline per percentile.
    pub baseline: Option<Summary>,
    pub added: Option<Delta>,
    /// p50 and p99 on the SLO's basis (added or absolute), µs; None without samples.
    pub p50_us: Option<i64>,
    pub p99_us: Option<i64>,
    /// The gateway's CPU time over the measured window, µs, and per target request.
    pub cpu_us: Option<f64>,
    pub cpu_us_per_request: Option<f64>,
    /// The SLO bounds this step broke; empty when it passed.
    pub violations: Vec<String>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Read a step off a run's report: the target is the last target, the baseline
    /// (when there is one) the first. `cpu_us` is the gateway's CPU over the window.
    pub fn from_report(slo: &Slo, rate: f64, r: &Report, cpu_us: Option<f64>) -> Step {
        let t = r.targets.last().expect("a run has a target");
        let c = &t.counts;
        let errors = c.requests - c.class(2).min(c.requests);
        let error_ratio = if c.requests == 0 {
            1.0
        } else {
            errors as f64 / c.requests as f64
        };
        let latency = Summary::of(&t.latency);
        let (baseline, added) = match &r.targets[..] {
            [a, _] => (
                Some(Summary::of(&a.latency)),
                r.difference().and_then(|d| d.latency),
            ),
            _ => (None, None),
        };
        let (p50_us, p99_us) = match (slo.basis, added) {
            (Basis::Added, Some(d)) => (Some(d.p50), Some(d.p99)),
            (Basis::Added, None) => (None, None),
            (Basis::Absolute, _) if latency.count > 0 => {
                (Some(latency.p50 as i64), Some(latency.p99 as i64))
            }
            (Basis::Absolute, _) => (None, None),
        };
        let violations = slo.violations(&slo::Observed {
            offered_rate: rate,
            achieved_rate: t.achieved_rate,
            p99_us,
            error_ratio,
        });
        Step {
            offered_rate: rate,
            achieved_rate: t.achieved_rate,
            requests: c.requests,
            unsent: c.unsent,
            errors,
            error_ratio,
            latency,
            baseline,
            added,
            p50_us,
            p99_us,
            cpu_us,
            cpu_us_per_request: cpu_us
                .filter(|_| c.requests > 0)
                .map(|u| u / c.requests as f64),
            violations,
        }
    }
}

/// Where the gateway core count came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoresFrom {
    /// `gateway_cores` / `--gateway-cores`.
    Given,
    /// The pid's `Cpus_allowed_list`, as written.
    CpusAllowed(String),
    /// No pid and no count: this host's cores, assumed.
    ThisHost,
}

/// The gateway's memory under concurrent streams.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Memory {
    /// Streams opened, and how long each was held open.
    pub streams: usize,
    pub hold: Duration,
    /// RSS before the streams, and the highest RSS sampled while they were open, bytes.
    pub rss_idle: u64,
    pub rss_peak: u64,
    /// `(rss_peak - rss_idle) / streams`, bytes (0 when RSS did not grow).
    pub per_stream: f64,
    /// The gateway's open sockets before, and at most while the streams were open.
    pub sockets_idle: usize,
    pub sockets_peak: usize,
    /// Streams the load generator saw complete, and requests that did not end in 2xx.
    pub streams_seen: u64,
    pub errors: u64,
}

/// What was measured of the gateway process.
#[derive(Clone, Debug, PartialEq)]
pub struct Gateway {
    pub pid: u32,
    /// CPU µs per request at the knee step (None when no step passed).
    pub cpu_us_per_request: Option<f64>,
    /// The share of its cores the gateway kept busy over the knee step's measured
    /// window: CPU time / (step duration × gateway cores). Well below 1, the knee was
    /// set by something else (the load generator, the upstream, the SLO's latency).
    pub busy_at_knee: Option<f64>,
    /// Clock ticks per second: the CPU figures' resolution.
    pub ticks_per_second: u64,
    pub memory: Memory,
}

/// A finished plan: the sweep, what was measured of the gateway, and the sizing.
#[derive(Clone, Debug)]
pub struct Plan {
    pub target: String,
    pub baseline: Option<String>,
    pub slo: Slo,
    pub arrivals: Arrivals,
    pub max_connections: usize,
    pub step_warmup: Duration,
    pub step_duration: Duration,
    /// In the order they ran.
    pub steps: Vec<Step>,
    /// Index in `steps` of the highest passing rate, and of the lowest failing one.
    pub knee: Option<usize>,
    pub first_fail: Option<usize>,
    pub end: End,
    pub gateway_cores: usize,
    pub gateway_cores_from: CoresFrom,
    /// With a pid.
    pub gateway: Option<Gateway>,
    /// With a target rate (and something to size from).
    pub sizing: Option<sizing::Sizing>,
    /// Where the concurrent streams of the sizing came from.
    pub streams_from: Option<&'static str>,
    /// Caveats worth printing with the plan.
    pub notes: Vec<String>,
}

impl Plan {
    /// The highest rate that met the SLO, req/s.
    pub fn max_rate(&self) -> Option<f64> {
        self.knee.map(|i| self.steps[i].offered_rate)
    }

    pub fn knee_step(&self) -> Option<&Step> {
        self.knee.map(|i| &self.steps[i])
    }

    pub fn first_fail_step(&self) -> Option<&Step> {
        self.first_fail.map(|i| &self.steps[i])
    }
}

/// Run a plan: measure the gateway's memory (with a pid), sweep the rate, size the
/// deployment. Blocks until done: at most `steps_max` steps plus one memory run.
/// Errors: an invalid config (`InvalidInput`), a load run that could not start, or a
/// gateway process that went away.
pub fn plan(cfg: &PlanConfig) -> io::Result<Plan> {
    // What the runs check themselves (workers, workload, key) fails the first run.
    cfg.validate()?;
    let mut notes = Vec::new();
    let (gateway_cores, gateway_cores_from) = match (cfg.gateway_cores, cfg.gateway_pid) {
        (Some(n), _) => (n, CoresFrom::Given),
        (None, Some(pid)) => {
            let (list, n) = procfs::cpus_allowed(pid)?;
            (n, CoresFrom::CpusAllowed(list))
        }
        (None, None) => (this_host_cores(), CoresFrom::ThisHost),
    };
    // Memory first, while the gateway is idle and nothing from the sweep is retained.
    let memory = match cfg.gateway_pid {
        Some(pid) => Some(measure::measure_memory(cfg, pid, &mut notes)?),
        None => {
            notes.push(
                "no --gateway-pid: the gateway's CPU per request and memory per stream were \
                 not measured"
                    .into(),
            );
            None
        }
    };
    let outcome = run_sweep(cfg)?;
    let knee = outcome.knee.map(|i| &outcome.steps[i]);
    let gateway = cfg.gateway_pid.zip(memory).map(|(pid, memory)| Gateway {
        pid,
        cpu_us_per_request: knee.and_then(|s| s.cpu_us_per_request),
        busy_at_knee: knee
            .and_then(|s| s.cpu_us)
            .map(|us| us / (cfg.step_duration.as_secs_f64() * 1e6 * gateway_cores as f64)),
        ticks_per_second: procfs::ticks_per_second(),
        memory,
    });
    if let Some(busy) = gateway.as_ref().and_then(|g| g.busy_at_knee) {
        if busy < BUSY_BOUND {
            notes.push(format!(
                "the gateway was {:.0}% busy at the knee: the knee was not set by its CPU but \
                 by the load generator, the upstream or queueing on this host, so the \
                 rate-based core count is pessimistic for the gateway alone (run the load \
                 generator and upstream on other cores or hosts for a tighter one)",
                busy * 100.0
            ));
        }
    }
    let (sizing, streams_from) = match cfg.target_rate {
        None => (None, None),
        Some(rate) => {
            let (sizing, from) = size(cfg, rate, knee, gateway.as_ref(), gateway_cores);
            if sizing.is_none() {
                notes.push(
                    "nothing to size from: no step met the SLO and the gateway's CPU was not \
                     measured"
                        .into(),
                );
            }
            (sizing, Some(from))
        }
    };
    if outcome.end == End::Capped {
        notes.push(format!(
            "the SLO held at the cap of {} req/s: the real knee is higher (raise --rate-max)",
            cfg.rate_max
        ));
    }
    Ok(Plan {
        target: cfg.target.url.clone(),
        baseline: cfg.baseline.as_ref().map(|b| b.url.clone()),
        slo: cfg.slo,
        arrivals: cfg.arrivals,
        max_connections: cfg.max_connections,
        step_warmup: cfg.step_warmup,
        step_duration: cfg.step_duration,
        steps: outcome.steps,
        knee: outcome.knee,
        first_fail: outcome.first_fail,
        end: outcome.end,
        gateway_cores,
        gateway_cores_from,
        gateway,
        sizing,
        streams_from,
        notes,
    })
}

/// The sweep, printing each step when asked and pausing after it.
fn run_sweep(cfg: &PlanConfig) -> io::Result<sweep::Outcome> {
    let bounds = sweep::Bounds {
        start: cfg.rate_start,
        max: cfg.rate_max,
        growth: cfg.growth,
        resolution: cfg.resolution,
        steps_max: cfg.steps_max,
    };
    let mut n = 0usize;
    sweep::sweep(&bounds, |rate| {
        n += 1;
        let step = measure::run_step(cfg, rate)?;
        if cfg.progress {
            if n == 1 {
                eprintln!("{}", text::table_header(cfg.slo.basis));
            }
            eprintln!("{}", text::step_line(n, &step));
        }
        std::thread::sleep(STEP_PAUSE);
        Ok(step)
    })
}

/// The sizing for `rate`, and where its concurrent streams came from.
fn size(
    cfg: &PlanConfig,
    rate: f64,
    knee: Option<&Step>,
    gateway: Option<&Gateway>,
    gateway_cores: usize,
) -> (Option<sizing::Sizing>, &'static str) {
    let (streams, from) = match (cfg.target_streams, knee) {
        (Some(s), _) => (Some(s), "given (--target-streams)"),
        (None, Some(k)) => (
            Some(rate * k.latency.mean / 1e6),
            "Little's law: target rate × the target's mean latency at the knee",
        ),
        (None, None) => (None, "unknown (no step passed)"),
    };
    let sizing = sizing::size(sizing::Inputs {
        target_rate: rate,
        headroom: cfg.headroom,
        cores_per_host: cfg.cores_per_host,
        cpu_us_per_request: gateway.and_then(|g| g.cpu_us_per_request),
        max_rate: knee.map(|k| k.offered_rate),
        gateway_cores,
        concurrent_streams: streams,
        memory_per_stream: gateway.map(|g| g.memory.per_stream),
        rss_idle: gateway.map(|g| g.memory.rss_idle),
    });
    (sizing, from)
}
