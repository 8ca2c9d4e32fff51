//! The capacity planner's validation (issue 3: "a test runs a plan at a small scale and
//! then a measured run at the predicted rate, and the two agree within 15%").
//!
//! The system under plan is a mock with a fixed 10 ms latency reached through at most
//! 4 connections: it serves at most 4 / 10 ms = 400 req/s (about 350: the mock's timer
//! rounds the 10 ms up to 11 or so), whatever the CPU, so its
//! knee is known in advance and reachable in seconds. Below that rate a request waits
//! for nothing; above it the arrivals queue for a connection and the queue, and the
//! latency timed from the intended send time, grow for as long as the step lasts. The
//! knee is therefore sharp, and a plan that finds it can be checked from both sides.

//!
//! These tests are timing-sensitive by nature (a knee is a latency measurement), so they
//! live in their own test binary: cargo runs test binaries one after another, so the
//! dozens of mock tests in `tests/it` never compete with them for the CPU, and within this
//! binary each test holds [`SERIAL`] so the plans do not compete with each other either.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use loadtest::mock::{self, Latency, MockConfig, MockHandle};
use loadtest::plan::{self, Plan, PlanConfig, Slo, Step};
use loadtest::run::{self, Arrivals, Driver, Length, Mode, RunConfig, Target};

static SERIAL: Mutex<()> = Mutex::new(());

/// Run one plan test at a time (a panicking test must not block the others).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn start(driver: Driver, configure: impl FnOnce(&mut MockConfig)) -> MockHandle {
    let mut cfg = MockConfig {
        driver,
        ..MockConfig::default()
    };
    configure(&mut cfg);
    let workers = cfg.workers;
    let mock = mock::start(cfg).expect("mock starts");
    assert_eq!(mock.drivers, vec![driver; workers]);
    mock
}

const LATENCY_MS: u64 = 10;
const CONNECTIONS: usize = 4;

fn slow_mock() -> MockHandle {
    start(Driver::Epoll, |c| {
        c.workers = 1;
        c.latency = Latency::Fixed { ms: LATENCY_MS };
    })
}

fn config(mock: &MockHandle, slo: &str) -> PlanConfig {
    let mut cfg = PlanConfig::new(Target::from_addr(mock.addr), slo.parse::<Slo>().unwrap());
    cfg.max_connections = CONNECTIONS;
    cfg.arrivals = Arrivals::Constant;
    cfg.workers = 1;
    cfg.driver = Driver::Epoll;
    cfg.rate_start = 100.0;
    cfg.step_warmup = Duration::from_millis(250);
    cfg.step_duration = Duration::from_secs(1);
    cfg.timeout = Duration::from_secs(5);
    cfg
}

/// A measured open-loop run at `rate`, made without the planner's sweep but shaped
/// like one of its steps (same warm-up and duration: a step of T seconds at a
/// rate a fraction e above capacity queues about e * T by its end, so the duration is
/// part of what a plan claims; see the `plan` module docs).
fn measured_run(mock: &MockHandle, cfg: &PlanConfig, rate: f64) -> Step {
    let mut rc = RunConfig::new(
        vec![Target::from_addr(mock.addr)],
        Mode::Open {
            rate,
            arrivals: Arrivals::Constant,
            max_connections: CONNECTIONS,
        },
    );
    rc.workers = 1;
    rc.driver = Driver::Epoll;
    rc.warmup = cfg.step_warmup;
    rc.length = Length::Duration(cfg.step_duration);
    rc.timeout = Duration::from_secs(5);
    let report = run::run(&rc).expect("the measured run completes");
    Step::from_report(&cfg.slo, rate, &report, None)
}

fn describe(p: &Plan) -> String {
    plan::text::render(p)
}

#[test]
fn a_plan_agrees_with_a_measured_run_within_15_percent() {
    let _serial = serial();
    let mock = slow_mock();
    // 5x the service time: met with room below the knee, broken within a second above
    // it (at 5 % over capacity the queue outgrows 40 ms in 0.5 s).
    let cfg = config(&mock, "p99_ms=50,errors=0.001");
    let p = plan::plan(&cfg).expect("the plan runs");
    let text = describe(&p);
    eprintln!("{text}");
    let knee = p.max_rate().unwrap_or_else(|| panic!("no knee:\n{text}"));
    assert_eq!(p.end, plan::End::Resolved, "{text}");
    assert!(p.steps.len() <= 14, "{text}");

    // 1. The knee is where the system's known capacity puts it: connections / latency,
    //    with the latency as the plan measured it unloaded (timer rounding included).
    let unloaded_s = p.steps[0].latency.p50 as f64 / 1e6;
    let capacity = CONNECTIONS as f64 / unloaded_s;
    assert!(
        knee >= 0.85 * capacity && knee <= 1.05 * capacity,
        "knee {knee} vs capacity {capacity:.0}\n{text}"
    );

    // 2. The prediction is not more than 15 % high: a measured run 15 % below it keeps
    //    the SLO (sustains the rate, answers all, p99 within the bound). Measuring *at*
    //    the knee would test a system loaded to its capacity, where the p99 is at the
    //    mercy of any scheduler stall on a shared two-core machine (seen in CI: 65 ms
    //    against a 50 ms bound at the knee); a knee wrongly past the capacity would queue
    //    for the whole run 15 % below it too, and put the p99 at hundreds of ms.
    let below = measured_run(&mock, &cfg, knee * 0.85);
    eprintln!("measured 15% below: {below:?}");
    assert!(
        below.achieved_rate >= 0.95 * knee * 0.85,
        "achieved {} at {}",
        below.achieved_rate,
        knee * 0.85
    );
    assert_eq!(below.errors, 0, "{below:?}");
    let p99 = below.p99_us.expect("responses");
    assert!(
        p99 <= cfg.slo.p99_us as i64,
        "p99 {p99} µs 15% below the predicted rate {knee}\n{text}"
    );

    // 3. And the prediction is not more than 15 % low: 15 % above it the SLO fails
    //    (queueing past the bound, or the rate not kept), so the true knee lies within
    //    15 % of the predicted one.
    let above = measured_run(&mock, &cfg, knee * 1.15);
    eprintln!("measured 15% above: {above:?}");
    assert!(
        !above.passed(),
        "the SLO still held 15% above the knee {knee}: {above:?}\n{text}"
    );
    mock.shutdown();
}

#[test]
fn plan_outputs_carry_every_step_and_the_knee() {
    let _serial = serial();
    // A quick plan over a narrow range: the cap, the JSON and the SVG.
    let mock = slow_mock();
    let mut cfg = config(&mock, "p99_ms=50");
    cfg.rate_start = 50.0;
    cfg.rate_max = 150.0;
    cfg.step_warmup = Duration::from_millis(100);
    cfg.step_duration = Duration::from_millis(500);
    cfg.target_rate = Some(1000.0);
    cfg.headroom = 0.5;
    cfg.cores_per_host = 4;
    cfg.gateway_cores = Some(1);
    let p = plan::plan(&cfg).expect("the plan runs");
    let text = describe(&p);
    // 50, 100, 150 and 150 again to confirm: all under the ~350 req/s capacity.
    assert_eq!(p.end, plan::End::Capped, "{text}");
    assert_eq!(p.steps.len(), 4, "{text}");
    assert_eq!(p.max_rate(), Some(150.0));
    assert!(p.gateway.is_none());
    assert!(text.contains("not measured (no --gateway-pid)"), "{text}");
    assert!(text.contains("the real knee is higher"), "{text}");
    // Rate-based only (no pid): 1000 / (150 * 0.5) = 13.3 -> 14 cores, 4 hosts.
    let z = p.sizing.expect("sized by rate");
    assert_eq!((z.cores_by_cpu, z.cores, z.hosts), (None, 14, 4), "{text}");
    assert!(
        text.contains("ceil(1000 / (150 × 0.50)) = ceil(13.33) = 14"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::from_str(&plan::json::render(&p)).unwrap();
    assert_eq!(json["steps"].as_array().unwrap().len(), 4);
    assert_eq!(json["knee"]["rate"], 150.0);
    assert_eq!(json["end"], "capped");
    assert_eq!(json["slo"]["basis"], "absolute");
    assert_eq!(json["sizing"]["cores"], 14);
    assert_eq!(json["gateway"], serde_json::Value::Null);
    let first = &json["steps"][0];
    assert_eq!(first["passed"], true);
    assert!(first["latency_us"]["p50"].as_u64().unwrap() >= LATENCY_MS * 1000);
    assert_eq!(first["p99_us"], first["latency_us"]["p99"]);

    let svg = plan::svg::render(&p);
    assert!(svg.contains("knee 150 req/s"), "{svg}");
    assert_eq!(svg.matches("<circle").count(), 4 + 2, "a marker per step");
    mock.shutdown();
}

#[test]
fn a_baseline_makes_the_slo_one_of_added_latency() {
    let _serial = serial();
    // Baseline: the same mock without delay; target: 10 ms. The added latency is the
    // 10 ms, so a 5 ms added-latency bound fails every rate, and a 20 ms one passes.
    let fast = start(Driver::Epoll, |c| c.workers = 1);
    let slow = slow_mock();
    let mut cfg = config(&slow, "p99_added_ms=20");
    cfg.baseline = Some(Target::from_addr(fast.addr));
    cfg.rate_start = 50.0;
    cfg.rate_max = 50.0;
    cfg.step_warmup = Duration::from_millis(100);
    cfg.step_duration = Duration::from_millis(500);
    let p = plan::plan(&cfg).expect("the plan runs");
    let st = &p.steps[0];
    assert!(st.passed(), "{st:?}");
    let added = st.added.expect("compare mode");
    assert!(
        (9_000..=15_000).contains(&added.p50),
        "added p50 {} µs",
        added.p50
    );
    assert_eq!(st.p99_us, Some(added.p99), "the SLO reads the added p99");
    assert!(st.baseline.unwrap().p50 < 2_000, "{st:?}");
    assert!(describe(&p).contains("p99 added latency"));

    cfg.slo = "p99_added_ms=5".parse().unwrap();
    cfg.steps_max = 1;
    let p = plan::plan(&cfg).expect("the plan runs");
    assert!(!p.steps[0].passed());
    assert!(
        p.steps[0].violations[0].starts_with("p99 added"),
        "{:?}",
        p.steps[0].violations
    );

    // The SLO's basis must match the presence of a baseline.
    cfg.slo = "p99_ms=5".parse().unwrap();
    let err = plan::plan(&cfg).unwrap_err().to_string();
    assert!(err.contains("write p99_added_ms"), "{err}");
    cfg.baseline = None;
    cfg.slo = "p99_added_ms=5".parse().unwrap();
    let err = plan::plan(&cfg).unwrap_err().to_string();
    assert!(err.contains("no baseline"), "{err}");
    fast.shutdown();
    slow.shutdown();
}

#[test]
fn a_pid_adds_cpu_per_request_and_memory_per_stream() {
    let _serial = serial();
    // The "gateway" is this test process (the mock and the generator both live in it),
    // which exercises the /proc path end to end; the figures themselves are this
    // process's and only checked for sanity.
    let mock = slow_mock();
    let mut cfg = config(&mock, "p99_ms=50");
    cfg.rate_start = 200.0;
    cfg.rate_max = 200.0;
    cfg.step_warmup = Duration::from_millis(100);
    cfg.step_duration = Duration::from_secs(1);
    cfg.gateway_pid = Some(std::process::id());
    cfg.streams = 32;
    cfg.stream_hold = Duration::from_secs(1);
    cfg.target_rate = Some(10_000.0);
    let p = plan::plan(&cfg).expect("the plan runs");
    let text = describe(&p);
    let g = p.gateway.as_ref().expect("measured");
    let cpu = g.cpu_us_per_request.expect("the step passed");
    assert!(cpu > 0.0 && cpu < 10_000.0, "{cpu} µs per request\n{text}");
    let busy = g.busy_at_knee.expect("the step passed");
    assert!(busy > 0.0 && busy < 4.0, "{busy}");
    let m = &g.memory;
    assert_eq!((m.streams, m.streams_seen, m.errors), (32, 32, 0), "{m:?}");
    assert!(m.rss_idle > 0 && m.rss_peak > 0, "{m:?}");
    assert!(m.sockets_peak > 0, "{m:?}");
    assert!(matches!(
        p.gateway_cores_from,
        plan::CoresFrom::CpusAllowed(_)
    ));
    let z = p.sizing.expect("sized");
    assert!(
        z.cores_by_cpu.is_some() && z.cores_by_rate.is_some(),
        "{z:?}"
    );
    assert!(z.memory_total.is_some(), "{z:?}");
    assert!(text.contains("gateway CPU (pid "), "{text}");
    mock.shutdown();
}
