//! What a sweep step and the memory measurement do on the wire and in `/proc`: run the
//! load on a scoped thread while this thread reads the gateway process.

use std::io;
use std::time::{Duration, Instant};

use super::{procfs, Memory, PlanConfig, Step, STREAM_FRAME_MS};
use crate::run::{self, Length, Mode, RunConfig};
use crate::workload::{Endpoint, PromptSize, Workload};

/// How long after `run::run` is called its measured window starts, beyond the warm-up:
/// the run's own start delay (5 ms) plus the workers' start-up.
const RUN_START_DELAY: Duration = Duration::from_millis(6);

/// One sweep step: the run on a scoped thread while this thread reads the gateway's
/// CPU time at the end of the warm-up; again after the run returns.
pub(super) fn run_step(cfg: &PlanConfig, rate: f64) -> io::Result<Step> {
    let rc = cfg.step_config(rate);
    let (report, cpu_us) = std::thread::scope(|s| -> io::Result<_> {
        let started = Instant::now();
        let load = s.spawn(|| run::run(&rc));
        let before = cfg.gateway_pid.map(|pid| {
            sleep_until(started + rc.warmup + RUN_START_DELAY);
            procfs::cpu_ticks(pid)
        });
        let report = load
            .join()
            .map_err(|_| io::Error::other("the load generator panicked"))??;
        let cpu_us = match (before, cfg.gateway_pid) {
            (Some(before), Some(pid)) => {
                let ticks = procfs::cpu_ticks(pid)?.saturating_sub(before?);
                Some(ticks as f64 * 1e6 / procfs::ticks_per_second() as f64)
            }
            _ => None,
        };
        Ok((report, cpu_us))
    })?;
    Ok(Step::from_report(&cfg.slo, rate, &report, cpu_us))
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// The built-in memory-measurement workload: the first entry's model (and the
/// workload's keys), every request a stream of `hold / STREAM_FRAME_MS` frames
/// `STREAM_FRAME_MS` apart, so each stays open for `hold` through the mock.
pub fn stream_workload(base: &Workload, hold: Duration) -> Workload {
    let frames = (hold.as_millis() as u64).div_ceil(STREAM_FRAME_MS).max(1);
    let mut w = base.clone();
    let mut e = w.entries[0].clone();
    e.name = "held stream".into();
    e.weight = 1.0;
    e.endpoint = Endpoint::Chat;
    e.prompt = PromptSize::Fixed(64);
    e.max_tokens = Some(frames as u32);
    e.stream = 1.0;
    e.headers = vec![
        (
            "x-mock-chunk-interval-ms".into(),
            STREAM_FRAME_MS.to_string(),
        ),
        ("x-mock-chunks".into(), frames.to_string()),
        ("x-mock-completion-tokens".into(), frames.to_string()),
        ("x-mock-ttft-ms".into(), "0".into()),
    ];
    w.entries = vec![e];
    w
}

/// Idle RSS, then `streams` held streams through the target while RSS and sockets are
/// sampled from 40 % to 90 % of the hold (every connection has sent its one request
/// by then, and none has finished).
pub(super) fn measure_memory(
    cfg: &PlanConfig,
    pid: u32,
    notes: &mut Vec<String>,
) -> io::Result<Memory> {
    let hold = cfg.stream_hold;
    let rss_idle = procfs::rss_bytes(pid)?;
    let sockets_idle = procfs::sockets(pid)?;
    let mut rc = RunConfig::new(
        vec![cfg.target.clone()],
        Mode::Closed {
            connections: cfg.streams,
        },
    );
    rc.workload = match &cfg.stream_workload {
        Some(w) => w.clone(),
        None => stream_workload(&cfg.workload, hold),
    };
    // The measured window ends long before the streams do, so each connection sends
    // exactly one request; the run then waits for them to finish.
    rc.length = Length::Duration(hold / 4);
    rc.warmup = Duration::ZERO;
    rc.timeout = hold + cfg.timeout;
    rc.workers = cfg.workers;
    rc.driver = cfg.driver;
    rc.key = cfg.key.clone();
    rc.host_header = cfg.host_header.clone();
    rc.seed = cfg.seed;
    let (report, rss_peak, sockets_peak) = std::thread::scope(|s| -> io::Result<_> {
        let started = Instant::now();
        let load = s.spawn(|| run::run(&rc));
        let (from, until) = (started + hold * 2 / 5, started + hold * 9 / 10);
        sleep_until(from);
        let (mut rss, mut sockets): (io::Result<u64>, io::Result<usize>) = (Ok(0), Ok(0));
        while Instant::now() < until && !load.is_finished() {
            rss = rss.and_then(|m| Ok(m.max(procfs::rss_bytes(pid)?)));
            sockets = sockets.and_then(|m| Ok(m.max(procfs::sockets(pid)?)));
            std::thread::sleep(Duration::from_millis(50));
        }
        let report = load
            .join()
            .map_err(|_| io::Error::other("the load generator panicked"))??;
        Ok((report, rss?, sockets?))
    })?;
    let t = &report.targets[0];
    let c = &t.counts;
    let errors = c.requests - c.class(2).min(c.requests);
    if rss_peak == 0 {
        notes.push("memory: the streams ended before RSS could be sampled (all too short)".into());
    }
    if errors > 0 || c.streams < cfg.streams as u64 {
        notes.push(format!(
            "memory: {} of {} streams completed, {errors} ended without a 2xx: the per-stream \
             figure is less reliable",
            c.streams, cfg.streams
        ));
    }
    if sockets_peak < sockets_idle + cfg.streams {
        notes.push(format!(
            "memory: the gateway had {} more sockets at most while {} streams were open (expected \
             at least two per stream): streams may have ended early or been queued",
            sockets_peak.saturating_sub(sockets_idle),
            cfg.streams
        ));
    }
    Ok(Memory {
        streams: cfg.streams,
        hold,
        rss_idle,
        rss_peak,
        per_stream: rss_peak.saturating_sub(rss_idle) as f64 / cfg.streams as f64,
        sockets_idle,
        sockets_peak,
        streams_seen: c.streams,
        errors,
    })
}
