//! `sluice-loadtest`: the mock upstream and the load generator.
//!
//! ```text
//! sluice-loadtest mock [--listen ADDR] [--workers N] [--seed N] [--latency-ms N|MIN-MAX]
//!                      [--latency-normal-ms MEAN:STDDEV] [--ttft-ms N] [--chunk-interval-ms N]
//!                      [--chunks N] [--completion-tokens N] [--embedding-dims N]
//!                      [--error-status N] [--error-rate P] [--models a,b,..]
//!                      [--driver auto|io_uring|epoll] [--aws-access-key-id ID]
//!                      [--aws-secret-access-key SECRET]
//! sluice-loadtest run --target URL [--target URL] [--workload FILE] [--model NAME]
//!                     [--connections N | --rate R [--arrivals constant|poisson]
//!                      [--max-connections N]] [--duration D | --requests N] [--warmup D]
//!                     [--timeout D] [--workers N] [--driver auto|io_uring|epoll] [--seed N]
//!                     [--key KEY] [--host-header HOST] [--json FILE] [--svg FILE]
//!                     [--progress | --no-progress]
//! sluice-loadtest plan --target URL [--baseline URL] --slo p99_added_ms=1,errors=0.001
//!                      [--workload FILE] [--model NAME] [--arrivals constant|poisson]
//!                      [--max-connections N] [--rate-start R] [--rate-max R] [--growth F]
//!                      [--resolution F] [--steps-max N] [--step-duration D] [--step-warmup D]
//!                      [--timeout D] [--gateway-pid PID] [--gateway-cores N] [--streams N]
//!                      [--stream-hold D] [--stream-workload FILE] [--target-rate R]
//!                      [--headroom H] [--cores-per-host N] [--target-streams N]
//!                      [--workers N] [--driver auto|io_uring|epoll] [--seed N] [--key KEY]
//!                      [--host-header HOST] [--json FILE] [--svg FILE]
//!                      [--progress | --no-progress]
//! sluice-loadtest cache-eval --pairs FILE.tsv [--embedder lexical|static:DIR] [--dims N]
//!                            [--thresholds 0.5,0.55,..]
//! ```

mod eval;

use std::str::FromStr;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use loadtest::mock::{self, Latency, MockConfig};
use loadtest::plan::{self, PlanConfig, Slo};
use loadtest::report;
use loadtest::run::{self, Arrivals, Length, Mode, RunConfig, Target};
use loadtest::workload::Workload;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: sluice-loadtest <command> [options]

commands:
  mock    run the mock upstream (OpenAI, Anthropic, Gemini, Azure, Bedrock, Responses) until SIGINT/SIGTERM
          --listen ADDR (127.0.0.1:8000)  --workers N (cores)  --driver auto|io_uring|epoll
          --seed N  --latency-ms N|MIN-MAX  --latency-normal-ms MEAN:STDDEV
          --ttft-ms N  --chunk-interval-ms N  --chunks N  --completion-tokens N
          --embedding-dims N  --error-status N  --error-rate P  --models a,b,..
          --aws-access-key-id ID (AKIDMOCK)  --aws-secret-access-key SECRET (mock-secret)
                              the one key pair Bedrock requests must be SigV4-signed with
  run     drive one or two OpenAI-compatible targets and report latency (plain HTTP/1.1,
          keep-alive, no pipelining; no TLS client: put a terminator in front for https)
          --target URL        http://host:port[/base]; /v1/... is appended. Twice to compare:
                              requests alternate between A and B, and the report adds
                              B - A at each percentile (the latency B adds)
          --workload FILE     TOML request mix (see examples/workloads/); default: one
                              model, non-streaming chat, ~1 KiB bodies
          --model NAME        the model of every request (default workload: mock-gpt)
          --connections N     closed loop, N connections per target (default 64)
          --rate R            open loop, R req/s per target, latency timed from the
                              intended send time
          --arrivals constant|poisson   (default constant)
          --max-connections N open loop: connections per target at most (default 1024)
          --duration D        measured time after warm-up (default 10s; 500ms, 2m, ...)
          --requests N        or stop after N measured requests per target
          --warmup D          sent, not recorded (default 2s)
          --timeout D         per request (default 30s)
          --workers N (cores)  --driver auto|io_uring|epoll  --seed N (0)
          --key KEY           API key when the workload lists none
          --host-header HOST  replaces the Host header
          --json FILE         everything, with the per-second timeline
          --svg FILE          p50/p99 latency per second, per target
          --progress | --no-progress   live line on stderr (default: when it is a TTY)
          Measured from each request's start (its intended send time in an open loop):
          latency (last byte), queue (open loop: until written), ttfb (response head),
          ttft (first SSE event with a non-empty \"content\" or \"text\": a token), itl
          (gaps between token events). Percentiles are HDR, 3 significant digits.
  plan    capacity planning: sweep the offered rate (open loop) to the highest rate that
          meets an SLO on this host, measure the gateway's CPU per request and memory per
          concurrent stream, and size cores and hosts for a target rate
          --target URL        what is planned for (the gateway)
          --baseline URL      the same requests directly (the mock): the SLO then bounds
                              the *added* latency, target minus baseline per percentile,
                              from one interleaved run; without it, the target's own
          --slo SPEC          p99_added_ms=N (with --baseline) or p99_ms=N (without), then
                              errors=RATIO (0.001 or 0.1%; default 0.001: share not 2xx)
                              and achieved=RATIO (default 0.95 of the offered rate)
          --workload FILE  --model NAME  --arrivals constant|poisson (constant)
          --max-connections N per target (1024)
          --rate-start R (100)  --rate-max R (100000)  --growth F (2)  --resolution F (0.05)
                              rates grow by F until a step fails, then the last pass and
                              the first fail are bisected to within the resolution
          --steps-max N (30)  --step-duration D (3s)  --step-warmup D (1s)  --timeout D (10s)
          --gateway-pid PID   measure the gateway: CPU per request (/proc/PID/stat utime +
                              stime over a step's measured window / its requests) and
                              memory per stream (RSS while --streams N (256) streams are
                              held open --stream-hold D (3s) through it, minus idle RSS,
                              / N; the streams pace themselves with x-mock-* headers, or
                              --stream-workload FILE). Start the gateway fresh: memory
                              kept from earlier traffic hides the streams' cost
          --gateway-cores N   cores the gateway used (default: its Cpus_allowed_list)
          --target-rate R     size a deployment for R req/s:
                                cores = max(ceil(R * cpu_per_request / (1 - H)),
                                            ceil(R / (max_rate_per_core * (1 - H))))
                                hosts = ceil(cores / cores_per_host)
          --headroom H (0.3)  --cores-per-host N (this host's)
          --target-streams N  requests in flight at R (default: R * mean latency at the knee)
          --workers N  --driver  --seed N  --key KEY  --host-header HOST
          --json FILE         every step and the plan
          --svg FILE          p50/p99 latency against offered rate, knee and SLO marked
          --progress | --no-progress   each step on stderr as it ends (default: on)
  cache-eval  the semantic cache's hit quality on labelled prompt pairs: hit rate,
          precision and recall per similarity threshold, with and without the precision
          guard, as a markdown table
          --pairs FILE.tsv    prompt_a<TAB>prompt_b<TAB>same(1|0) lines, '#' comments
                              (loadtest/data/cache-pairs.tsv is the shipped set)
          --embedder NAME     lexical (default), or static:DIR for a model2vec directory
                              (tokenizer.json + model.safetensors, WordPiece models)
          --dims N            lexical's vector length (512); static uses the model's
          --thresholds LIST   comma-separated (0.5,0.55,...,0.95)
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("mock") => run_mock(Args(args.collect::<Vec<_>>().into_iter())),
        Some("run") => run_load(Args(args.collect::<Vec<_>>().into_iter())),
        Some("plan") => run_plan(Args(args.collect::<Vec<_>>().into_iter())),
        Some("cache-eval") => eval::run(args),
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
            "--aws-access-key-id" => cfg.aws_access_key_id = args.value(&flag)?,
            "--aws-secret-access-key" => cfg.aws_secret_access_key = args.value(&flag)?,
            _ => bail!("unknown option {flag:?} for mock\n{USAGE}"),
        }
    }
    if cfg.workers == 0 {
        bail!("--workers must be at least 1");
    }
    Ok(cfg)
}

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds (fractions allowed).
fn parse_duration(v: &str) -> Result<Duration> {
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow!("{v:?} is not a duration (10s, 500ms, 2m)"))?;
    Duration::try_from_secs_f64(x * scale).map_err(|_| anyhow!("{v:?} is not a duration"))
}

fn parse_run(mut args: Args) -> Result<(RunConfig, Option<String>, Option<String>)> {
    let mut urls: Vec<String> = Vec::new();
    let mut workload = None;
    let mut model = None;
    let (mut connections, mut rate, mut arrivals, mut max_conns) = (None, None, None, None);
    let (mut duration, mut requests) = (None, None);
    let mut progress = None;
    let (mut json, mut svg) = (None, None);
    let mut cfg = RunConfig::new(Vec::new(), Mode::Closed { connections: 64 });
    while let Some(flag) = args.0.next() {
        match flag.as_str() {
            "--target" => urls.push(args.value(&flag)?),
            "--workload" => workload = Some(args.value::<String>(&flag)?),
            "--model" => model = Some(args.value::<String>(&flag)?),
            "--connections" => connections = Some(args.value::<usize>(&flag)?),
            "--rate" => rate = Some(args.value::<f64>(&flag)?),
            "--arrivals" => arrivals = Some(args.value::<Arrivals>(&flag)?),
            "--max-connections" => max_conns = Some(args.value::<usize>(&flag)?),
            "--duration" => duration = Some(parse_duration(&args.value::<String>(&flag)?)?),
            "--requests" => requests = Some(args.value::<u64>(&flag)?),
            "--warmup" => cfg.warmup = parse_duration(&args.value::<String>(&flag)?)?,
            "--timeout" => cfg.timeout = parse_duration(&args.value::<String>(&flag)?)?,
            "--workers" => cfg.workers = args.value(&flag)?,
            "--driver" => cfg.driver = args.value(&flag)?,
            "--seed" => cfg.seed = args.value(&flag)?,
            "--key" => cfg.key = Some(args.value(&flag)?),
            "--host-header" => cfg.host_header = Some(args.value(&flag)?),
            "--json" => json = Some(args.value(&flag)?),
            "--svg" => svg = Some(args.value(&flag)?),
            "--progress" => progress = Some(true),
            "--no-progress" => progress = Some(false),
            _ => bail!("unknown option {flag:?} for run\n{USAGE}"),
        }
    }
    if urls.is_empty() || urls.len() > run::TARGETS_MAX {
        bail!("run needs --target URL, once or twice");
    }
    cfg.targets = urls
        .iter()
        .map(|u| Target::parse(u))
        .collect::<std::io::Result<_>>()?;
    if let Some(path) = workload {
        cfg.workload = Workload::load(path.as_ref())?;
    }
    if let Some(m) = model {
        cfg.workload.set_model(&m);
    }
    cfg.mode = match (connections, rate) {
        (Some(_), Some(_)) => {
            bail!("--connections (closed loop) and --rate (open loop) exclude each other")
        }
        (_, None) if arrivals.is_some() || max_conns.is_some() => {
            bail!("--arrivals and --max-connections need --rate")
        }
        (c, None) => Mode::Closed {
            connections: c.unwrap_or(64),
        },
        (None, Some(rate)) => Mode::Open {
            rate,
            arrivals: arrivals.unwrap_or_default(),
            max_connections: max_conns.unwrap_or(1024),
        },
    };
    cfg.length = match (duration, requests) {
        (Some(_), Some(_)) => bail!("--duration and --requests exclude each other"),
        (_, Some(n)) => Length::Requests(n),
        (d, None) => Length::Duration(d.unwrap_or(Duration::from_secs(10))),
    };
    cfg.progress = progress.unwrap_or_else(|| std::io::stderr().is_terminal());
    Ok((cfg, json, svg))
}

fn run_load(args: Args) -> Result<()> {
    let (cfg, json, svg) = parse_run(args)?;
    let report = run::run(&cfg).context("running the load")?;
    print!("{}", report::table::render(&report));
    if let Some(path) = json {
        std::fs::write(&path, report::json::render(&report))
            .with_context(|| format!("writing {path}"))?;
    }
    if let Some(path) = svg {
        std::fs::write(&path, report::svg::render(&report))
            .with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

struct PlanArgs {
    cfg: PlanConfig,
    json: Option<String>,
    svg: Option<String>,
}

fn parse_plan(mut args: Args) -> Result<PlanArgs> {
    let (mut target, mut baseline, mut slo) = (None, None, None);
    let (mut workload, mut stream_workload, mut model) = (None, None, None);
    let (mut json, mut svg) = (None, None);
    // Filled in once the target and SLO are known; start from placeholders.
    let placeholder = Target::from_addr("127.0.0.1:1".parse()?);
    let mut cfg = PlanConfig::new(placeholder, "p99_ms=1".parse()?);
    cfg.progress = true;
    while let Some(flag) = args.0.next() {
        let dur =
            |args: &mut Args| -> Result<Duration> { parse_duration(&args.value::<String>(&flag)?) };
        match flag.as_str() {
            "--target" => target = Some(args.value::<String>(&flag)?),
            "--baseline" => baseline = Some(args.value::<String>(&flag)?),
            "--slo" => slo = Some(args.value::<Slo>(&flag)?),
            "--workload" => workload = Some(args.value::<String>(&flag)?),
            "--stream-workload" => stream_workload = Some(args.value::<String>(&flag)?),
            "--model" => model = Some(args.value::<String>(&flag)?),
            "--arrivals" => cfg.arrivals = args.value(&flag)?,
            "--max-connections" => cfg.max_connections = args.value(&flag)?,
            "--rate-start" => cfg.rate_start = args.value(&flag)?,
            "--rate-max" => cfg.rate_max = args.value(&flag)?,
            "--growth" => cfg.growth = args.value(&flag)?,
            "--resolution" => cfg.resolution = args.value(&flag)?,
            "--steps-max" => cfg.steps_max = args.value(&flag)?,
            "--step-duration" => cfg.step_duration = dur(&mut args)?,
            "--step-warmup" => cfg.step_warmup = dur(&mut args)?,
            "--timeout" => cfg.timeout = dur(&mut args)?,
            "--gateway-pid" => cfg.gateway_pid = Some(args.value(&flag)?),
            "--gateway-cores" => cfg.gateway_cores = Some(args.value(&flag)?),
            "--streams" => cfg.streams = args.value(&flag)?,
            "--stream-hold" => cfg.stream_hold = dur(&mut args)?,
            "--target-rate" => cfg.target_rate = Some(args.value(&flag)?),
            "--headroom" => cfg.headroom = args.value(&flag)?,
            "--cores-per-host" => cfg.cores_per_host = args.value(&flag)?,
            "--target-streams" => cfg.target_streams = Some(args.value(&flag)?),
            "--workers" => cfg.workers = args.value(&flag)?,
            "--driver" => cfg.driver = args.value(&flag)?,
            "--seed" => cfg.seed = args.value(&flag)?,
            "--key" => cfg.key = Some(args.value(&flag)?),
            "--host-header" => cfg.host_header = Some(args.value(&flag)?),
            "--json" => json = Some(args.value(&flag)?),
            "--svg" => svg = Some(args.value(&flag)?),
            "--progress" => cfg.progress = true,
            "--no-progress" => cfg.progress = false,
            _ => bail!("unknown option {flag:?} for plan\n{USAGE}"),
        }
    }
    cfg.target = Target::parse(&target.context("plan needs --target URL")?)?;
    cfg.baseline = baseline.map(|b| Target::parse(&b)).transpose()?;
    cfg.slo = slo.context("plan needs --slo, e.g. p99_added_ms=1,errors=0.001")?;
    if let Some(path) = workload {
        cfg.workload = Workload::load(path.as_ref())?;
    }
    if let Some(m) = &model {
        cfg.workload.set_model(m);
    }
    if let Some(path) = stream_workload {
        let mut w = Workload::load(path.as_ref())?;
        if let Some(m) = &model {
            w.set_model(m);
        }
        cfg.stream_workload = Some(w);
    }
    Ok(PlanArgs { cfg, json, svg })
}

fn run_plan(args: Args) -> Result<()> {
    let PlanArgs { cfg, json, svg } = parse_plan(args)?;
    let p = plan::plan(&cfg).context("planning")?;
    print!("{}", plan::text::render(&p));
    if let Some(path) = json {
        std::fs::write(&path, plan::json::render(&p)).with_context(|| format!("writing {path}"))?;
    }
    if let Some(path) = svg {
        std::fs::write(&path, plan::svg::render(&p)).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
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
