//! `sluice-loadtest`: the mock upstream (and, later, the load generator).
//!
//! ```text
//! sluice-loadtest mock [--listen ADDR] [--workers N] [--seed N] [--latency-ms N|MIN-MAX]
//!                      [--latency-normal-ms MEAN:STDDEV] [--ttft-ms N] [--chunk-interval-ms N]
//!                      [--chunks N] [--completion-tokens N] [--embedding-dims N]
//!                      [--error-status N] [--error-rate P] [--models a,b,..]
//!                      [--driver auto|io_uring|epoll]
//! ```

use std::str::FromStr;

use anyhow::{anyhow, bail, Context, Result};
use loadtest::mock::{self, Latency, MockConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: sluice-loadtest <command> [options]

commands:
  mock    run the mock OpenAI-compatible upstream until SIGINT/SIGTERM
          --listen ADDR (127.0.0.1:8000)  --workers N (cores)  --driver auto|io_uring|epoll
          --seed N  --latency-ms N|MIN-MAX  --latency-normal-ms MEAN:STDDEV
          --ttft-ms N  --chunk-interval-ms N  --chunks N  --completion-tokens N
          --embedding-dims N  --error-status N  --error-rate P  --models a,b,..
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("mock") => run_mock(Args(args.collect::<Vec<_>>().into_iter())),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
}

/// Flags and their values, in order.
struct Args(std::vec::IntoIter<String>);

impl Args {
    fn value<T: FromStr>(&mut self, flag: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        let v = self
            .0
            .next()
            .ok_or_else(|| anyhow!("{flag} needs a value"))?;
        v.parse().map_err(|e| anyhow!("{flag} {v:?}: {e}"))
    }
}

fn parse_mock(mut args: Args) -> Result<MockConfig> {
    let mut cfg = MockConfig {
        listen: "127.0.0.1:8000".parse()?,
        workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..MockConfig::default()
    };
    while let Some(flag) = args.0.next() {
        match flag.as_str() {
            "--listen" => cfg.listen = args.value(&flag)?,
            "--workers" => cfg.workers = args.value(&flag)?,
            "--driver" => cfg.driver = args.value(&flag)?,
            "--seed" => cfg.seed = args.value(&flag)?,
            "--latency-ms" => {
                let v: String = args.value(&flag)?;
                cfg.latency = match v.split_once('-') {
                    Some((lo, hi)) => Latency::Uniform {
                        min_ms: lo.parse()?,
                        max_ms: hi.parse()?,
                    },
                    None => Latency::Fixed { ms: v.parse()? },
                };
            }
            "--latency-normal-ms" => {
                let v: String = args.value(&flag)?;
                let (mean, sd) = v
                    .split_once(':')
                    .context("--latency-normal-ms wants MEAN:STDDEV")?;
                cfg.latency = Latency::Normal {
                    mean_ms: mean.parse()?,
                    stddev_ms: sd.parse()?,
                };
            }
            "--ttft-ms" => cfg.ttft_ms = args.value(&flag)?,
            "--chunk-interval-ms" => cfg.chunk_interval_ms = args.value(&flag)?,
            "--chunks" => cfg.chunks = args.value(&flag)?,
            "--completion-tokens" => cfg.completion_tokens = args.value(&flag)?,
            "--embedding-dims" => cfg.embedding_dims = args.value(&flag)?,
            "--error-status" => cfg.error_status = args.value(&flag)?,
            "--error-rate" => cfg.error_rate = args.value(&flag)?,
            "--models" => {
                cfg.models = args
                    .value::<String>(&flag)?
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            _ => bail!("unknown option {flag:?} for mock\n{USAGE}"),
        }
    }
    if cfg.workers == 0 {
        bail!("--workers must be at least 1");
    }
    Ok(cfg)
}

fn run_mock(args: Args) -> Result<()> {
    let cfg = parse_mock(args)?;
    // Block SIGINT and SIGTERM before any thread starts, so every thread inherits the
    // mask and the signals wait for `sigwait` below instead of killing the process.
    let signals = termination_signals();
    // SAFETY: `signals` is an initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &signals, std::ptr::null_mut()) };
    if rc != 0 {
        bail!("pthread_sigmask: {}", std::io::Error::from_raw_os_error(rc));
    }
    let handle = mock::start(cfg).context("starting the mock")?;
    println!("mock listening on {}", handle.addr);
    let drivers: Vec<String> = handle.drivers.iter().map(|d| d.to_string()).collect();
    eprintln!("{} workers on {}", drivers.len(), drivers.join(","));
    let mut sig: libc::c_int = 0;
    // SAFETY: both pointers are valid for the call.
    let rc = unsafe { libc::sigwait(&signals, &mut sig) };
    if rc != 0 {
        bail!("sigwait: {}", std::io::Error::from_raw_os_error(rc));
    }
    let stats = handle.stats.clone();
    handle.shutdown();
    eprintln!("mock stopped (signal {sig}): {}", stats.summary());
    Ok(())
}

fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set; sigaddset only adds valid signals.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}
