//! End-to-end tests of the load generator against in-process mocks on 127.0.0.1:0.
//! Each run is short (about a second); timing assertions leave room for a noisy
//! two-core machine.

use std::time::Duration;

use loadtest::mock::{Driver, Latency, MockHandle};
use loadtest::report::{self, ErrorKind, Report, Summary, TargetReport};
use loadtest::run::{self, Arrivals, Length, Mode, RunConfig, Target};
use loadtest::workload::Workload;
use serde_json::Value;

use super::{drivers, get, start};

const MS: u64 = 1_000;

fn config(mocks: &[&MockHandle], mode: Mode, driver: Driver) -> RunConfig {
    let targets = mocks.iter().map(|m| Target::from_addr(m.addr)).collect();
    let mut cfg = RunConfig::new(targets, mode);
    cfg.driver = driver;
    cfg.workers = 2;
    cfg.warmup = Duration::from_millis(200);
    cfg.length = Length::Duration(Duration::from_secs(1));
    cfg.timeout = Duration::from_secs(5);
    cfg
}

fn workload(text: &str) -> Workload {
    Workload::parse(text).expect("the test workload parses")
}

fn closed(connections: usize) -> Mode {
    Mode::Closed { connections }
}

fn open(rate: f64, max_connections: usize) -> Mode {
    Mode::Open {
        rate,
        arrivals: Arrivals::Constant,
        max_connections,
    }
}

/// Every measured request ended with a status or an error, and nothing else happened.
fn assert_counts_add_up(t: &TargetReport) {
    let c = &t.counts;
    assert_eq!(c.requests, c.responses() + c.errors_total(), "{c:?}");
    assert_eq!(
        t.latency.len(),
        c.responses(),
        "one latency sample per response"
    );
    let per_second: u64 = t.timeline.iter().map(|s| s.completed).sum();
    assert_eq!(per_second, c.requests, "the timeline covers every request");
}

#[test]
fn closed_loop_counts_add_up_and_times_streams() {
    for driver in drivers() {
        eprintln!("--- driver {driver}");
        let mock = start(driver, |c| {
            c.ttft_ms = 30;
            c.chunk_interval_ms = 5;
            c.chunks = 6;
        });
        let mut cfg = config(&[&mock], closed(4), driver);
        cfg.workload = workload("[[request]]\nmodel = \"m\"\nstream = 1.0\nmax_tokens = 64");
        let r = run::run(&cfg).expect("the run completes");
        assert_eq!(r.drivers, vec![driver; 2]);
        let t = &r.targets[0];
        assert_counts_add_up(t);
        let c = &t.counts;
        assert!(c.requests >= 20, "{c:?}");
        assert_eq!((c.class(2), c.errors_total()), (c.requests, 0), "{c:?}");
        assert_eq!(c.streams, c.requests);
        // Six content frames per stream: six tokens, five gaps.
        assert_eq!(c.tokens, 6 * c.streams);
        assert_eq!(t.itl.len(), 5 * c.streams);
        assert!(c.connections >= 4 && c.connections <= 8, "{c:?}");
        let ttft = Summary::of(&t.ttft);
        assert!((30 * MS..=60 * MS).contains(&ttft.p50), "ttft {ttft:?}");
        let itl = Summary::of(&t.itl);
        assert!((5 * MS..=12 * MS).contains(&itl.p50), "itl {itl:?}");
        // The response head comes before the first token, the last byte after it.
        let (ttfb, latency) = (Summary::of(&t.ttfb), Summary::of(&t.latency));
        assert!(
            ttfb.p50 < ttft.p50 && ttft.p50 + 25 * MS <= latency.p50,
            "{ttfb:?} {latency:?}"
        );
        assert!(t.queue.is_empty(), "no queueing in a closed loop");
        assert!(get(&mock.stats.requests_total) >= c.requests);
        assert!(c.bytes_sent > 0 && c.bytes_received > c.bytes_sent);
        mock.shutdown();
    }
}

#[test]
fn counted_run_sends_exactly_n_and_counts_statuses_and_errors() {
    let driver = Driver::Epoll;
    let mock = start(driver, |_| {});
    let mut cfg = config(&[&mock], closed(3), driver);
    cfg.length = Length::Requests(300);
    cfg.warmup = Duration::ZERO;
    // A third of the requests fail with 503, and a fifth of another entry are reset.
    cfg.workload = workload(
        r#"
[[request]]
model = "m"
headers = { "x-mock-status" = "503", "x-mock-error-rate" = "0.33" }
[[request]]
model = "m"
headers = { "x-mock-fault" = "reset", "x-mock-error-rate" = "0.2" }
"#,
    );
    let r = run::run(&cfg).unwrap();
    let t = &r.targets[0];
    assert_counts_add_up(t);
    let c = &t.counts;
    assert_eq!(c.requests, 300);
    assert!(c.class(5) > 20 && c.class(2) > 150, "{c:?}");
    assert!(c.error(ErrorKind::Reset) > 5, "{c:?}");
    assert_eq!(c.errors_total(), c.error(ErrorKind::Reset), "{c:?}");
    assert_eq!(
        get(&mock.stats.requests_total),
        300,
        "no warm-up, no extra request"
    );
    mock.shutdown();
}

#[test]
fn unreachable_target_ends_with_connect_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = RunConfig::new(vec![Target::from_addr(port)], closed(2));
    cfg.workers = 1;
    cfg.warmup = Duration::ZERO;
    cfg.length = Length::Duration(Duration::from_millis(300));
    let r = run::run(&cfg).unwrap();
    let c = &r.targets[0].counts;
    assert!(
        c.requests > 0 && c.requests == c.error(ErrorKind::Connect),
        "{c:?}"
    );
    assert_eq!(c.connections, 0);
}

#[test]
fn open_loop_keeps_its_rate_against_a_fast_target() {
    let mock = start(Driver::Epoll, |c| c.workers = 1);
    for driver in drivers() {
        eprintln!("--- driver {driver}");
        let rate = 400.0;
        let mut cfg = config(&[&mock], open(rate, 64), driver);
        cfg.length = Length::Duration(Duration::from_millis(1500));
        let r = run::run(&cfg).unwrap();
        let t = &r.targets[0];
        assert_counts_add_up(t);
        assert_eq!(t.offered_rate, Some(rate));
        assert!(
            (t.achieved_rate - rate).abs() <= rate * 0.03,
            "achieved {} of {rate}",
            t.achieved_rate
        );
        assert_eq!((t.counts.unsent, t.counts.errors_total()), (0, 0));
        assert_eq!(t.queue.len(), t.counts.requests);
        // Constant arrivals at 400/s: about 400 in the first full second.
        let first = t.timeline[0];
        assert!((360..=440).contains(&first.completed), "{first:?}");
        // Sent close to the intended time: a fast target leaves almost no queueing.
        let queue = Summary::of(&t.queue);
        assert!(queue.p50 < 2 * MS, "{queue:?}");
    }
    mock.shutdown();
}

#[test]
fn open_loop_against_a_slow_target_reports_queueing() {
    let driver = Driver::Epoll;
    let mock = start(Driver::Epoll, |c| {
        c.latency = Latency::Fixed { ms: 50 };
    });
    // Two connections at 50 ms serve at most 40 req/s; 100 req/s are offered.
    let mut cfg = config(&[&mock], open(100.0, 2), driver);
    cfg.workers = 1;
    cfg.length = Length::Duration(Duration::from_millis(1500));
    let r = run::run(&cfg).unwrap();
    let t = &r.targets[0];
    assert_counts_add_up(t);
    let c = &t.counts;
    assert!(t.achieved_rate < 60.0, "achieved {}", t.achieved_rate);
    assert!(c.unsent > 30, "the backlog at the end is reported: {c:?}");
    assert!(c.connections <= 2, "{c:?}");
    let (latency, queue) = (Summary::of(&t.latency), Summary::of(&t.queue));
    // Latency runs from the intended send time: queueing plus at least the 50 ms service.
    assert!(queue.p50 > 100 * MS, "the queue grows: {queue:?}");
    assert!(
        latency.p50 >= queue.p50 + 45 * MS,
        "{latency:?} vs {queue:?}"
    );
    assert!(latency.min >= 50 * MS, "{latency:?}");
    mock.shutdown();
}

#[test]
fn compare_mode_reports_the_added_latency() {
    let a = start(Driver::Epoll, |_| {});
    let b = start(Driver::Epoll, |c| c.latency = Latency::Fixed { ms: 5 });
    for mode in [closed(2), open(100.0, 16)] {
        eprintln!("--- {mode:?}");
        let cfg = config(&[&a, &b], mode, Driver::Auto);
        let r = run::run(&cfg).unwrap();
        let (ta, tb) = (&r.targets[0], &r.targets[1]);
        assert_counts_add_up(ta);
        assert_counts_add_up(tb);
        assert!(ta.counts.requests >= 50, "{:?}", ta.counts);
        // Interleaved: the same number of requests to each, give or take those in flight.
        assert!(
            ta.counts.requests.abs_diff(tb.counts.requests) <= 4,
            "{} vs {}",
            ta.counts.requests,
            tb.counts.requests
        );
        let d = r.difference().expect("two targets have a difference");
        let added = d.latency.expect("both have latency samples");
        // The mock's 5 ms sleep rounds up to its 1 ms timer tick.
        assert!((4_500..=7_500).contains(&added.p50), "{added:?}");
        assert!(d.ttft.is_none(), "no streams, no ttft");
        let text = report::table::render(&r);
        assert!(text.contains("difference, B - A"), "{text}");
    }
    a.shutdown();
    b.shutdown();
}

#[test]
fn the_same_seed_sends_the_same_requests() {
    let mix = r#"
[keys]
choose = "weighted"
list = [{ key = "sk-a", weight = 2 }, "sk-b"]
[[request]]
model = "m1"
prompt_tokens = { dist = "normal", mean = 50, stddev = 20 }
stream = 0.5
[[request]]
endpoint = "embeddings"
model = "e1"
prompt_tokens = { dist = "uniform", min = 1, max = 30 }
"#;
    let requests = |seed: u64| {
        let mock = start(Driver::Epoll, |c| c.record = 100);
        let mut cfg = config(&[&mock], closed(1), Driver::Epoll);
        cfg.workers = 1;
        cfg.warmup = Duration::ZERO;
        cfg.length = Length::Requests(40);
        cfg.seed = seed;
        cfg.host_header = Some("mock".into()); // each mock has its own port
        cfg.workload = workload(mix);
        let r = run::run(&cfg).unwrap();
        assert_eq!(r.targets[0].counts.class(2), 40);
        let recorded = mock.recorded();
        mock.shutdown();
        recorded
    };
    let (first, again, other) = (requests(7), requests(7), requests(8));
    assert_eq!(first.len(), 40);
    assert_eq!(first, again, "same seed, same requests, byte for byte");
    assert_ne!(first, other, "another seed, other requests");
    let heads: Vec<String> = first
        .iter()
        .map(|(h, _)| String::from_utf8_lossy(h).into_owned())
        .collect();
    assert!(heads.iter().any(|h| h.contains("Bearer sk-a")));
    assert!(heads.iter().any(|h| h.contains("Bearer sk-b")));
    assert!(heads.iter().any(|h| h.starts_with("POST /v1/embeddings ")));
    assert!(first
        .iter()
        .any(|(_, b)| b.windows(13).any(|w| w == b"\"stream\":true")));
}

#[test]
fn example_workloads_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/workloads");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/workloads exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let w = Workload::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!w.entries.is_empty());
            n += 1;
        }
    }
    assert!(n >= 2, "at least two example workloads");
    let e = Workload::load(&dir.join("missing.toml")).unwrap_err();
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

/// A minimal XML well-formedness check: tags nest and close, attribute values are
/// quoted, text holds no raw `<` and only known entities.
fn check_xml(doc: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = doc.trim_start();
    if let Some(decl) = rest.strip_prefix("<?xml") {
        rest = &decl[decl.find("?>").expect("the declaration ends") + 2..];
    }
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "bare & in {text:?}"
            );
        }
        let close = rest[open..].find('>').expect("a tag ends") + open;
        let tag = &rest[open + 1..close];
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        assert!(!tag.contains('<'), "< inside <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else {
            let name = tag
                .split_whitespace()
                .next()
                .expect("a tag name")
                .trim_end_matches('/');
            names.push(name.to_owned());
            if !tag.ends_with('/') {
                stack.push(name.to_owned());
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(
        names.first().map(String::as_str),
        Some("svg"),
        "the root is <svg>"
    );
    names
}

#[test]
fn json_and_svg_reports() {
    let a = start(Driver::Epoll, |_| {});
    let b = start(Driver::Epoll, |c| c.latency = Latency::Fixed { ms: 2 });
    let mut cfg = config(&[&a, &b], open(200.0, 8), Driver::Auto);
    cfg.targets[1].url = "http://b.example/?q=<&>".into(); // exercised by escaping
    cfg.length = Length::Duration(Duration::from_millis(2500));
    let r: Report = run::run(&cfg).unwrap();

    let json: Value = serde_json::from_str(&report::json::render(&r)).expect("valid JSON");
    assert_eq!(json["version"], 1);
    assert_eq!(json["mode"], "open");
    assert_eq!(json["rate"], 200.0);
    assert_eq!(json["arrivals"], "constant");
    assert_eq!(json["workers"], 2);
    assert!(json["elapsed_s"].as_f64().unwrap() > 2.0);
    let targets = json["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1]["url"], "http://b.example/?q=<&>");
    for (t, rt) in targets.iter().zip(&r.targets) {
        assert_eq!(t["requests"], rt.counts.requests);
        assert_eq!(t["status"]["2xx"], rt.counts.class(2));
        assert_eq!(t["errors"]["total"], 0);
        assert_eq!(t["offered_rate"], 200.0);
        assert!(t["achieved_rate"].as_f64().unwrap() > 150.0);
        for metric in ["latency_us", "queue_us", "ttfb_us", "ttft_us", "itl_us"] {
            for field in ["count", "mean", "min", "p50", "p90", "p99", "p99_9", "max"] {
                assert!(t[metric][field].is_number(), "{metric}.{field}");
            }
        }
        assert_eq!(t["latency_us"]["p50"], Summary::of(&rt.latency).p50);
        let timeline = t["timeline"].as_array().unwrap();
        assert!(timeline.len() >= 2, "{timeline:?}");
        for (i, s) in timeline.iter().enumerate() {
            assert_eq!(s["t"], i as u64);
            for field in [
                "seconds",
                "completed",
                "errors",
                "rate",
                "p50_us",
                "p90_us",
                "p99_us",
                "max_us",
            ] {
                assert!(s[field].is_number(), "timeline {field}");
            }
        }
    }
    let added = json["difference"]["latency_us"]["p50"].as_i64().unwrap();
    assert!((1_500..=4_500).contains(&added), "{added}");
    assert!(json["difference"]["ttft_us"].is_null());

    let svg = report::svg::render(&r);
    let names = check_xml(&svg);
    assert_eq!(
        names.iter().filter(|n| *n == "polyline").count(),
        4,
        "p50 and p99 per target"
    );
    assert!(svg.contains("http://b.example/?q=&lt;&amp;&gt;"));

    // A single-target closed-loop report has no difference.
    let mut one = config(&[&a], closed(1), Driver::Auto);
    one.length = Length::Requests(20);
    let r = run::run(&one).unwrap();
    let json: Value = serde_json::from_str(&report::json::render(&r)).unwrap();
    assert_eq!(
        (json["mode"].as_str(), json["connections"].as_u64()),
        (Some("closed"), Some(1))
    );
    assert!(json["difference"].is_null());
    assert_eq!(json["targets"][0]["offered_rate"], Value::Null);
    check_xml(&report::svg::render(&r));
    a.shutdown();
    b.shutdown();
}

/// Counts every allocation in the process, for the allocation probe below. A thin
/// wrapper over the system allocator, so the other tests of this binary are unaffected.
struct Counting;

static ALLOCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: delegates to the system allocator; the counter has no effect on memory.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per request of the generator and the mock together (the mock allocates
/// nothing per request: the gateway's allocation test counts it too). Two runs that
/// differ only in their request count: setup, connections and teardown cancel out.
fn allocations_per_request(mode: Mode, small: u64, large: u64) -> f64 {
    let mock = start(Driver::Epoll, |c| c.chunks = 4);
    let count = |n: u64| {
        let mut cfg = config(&[&mock], mode, Driver::Auto);
        cfg.warmup = Duration::ZERO;
        cfg.length = Length::Requests(n);
        cfg.workload = workload(
            "[[request]]\nmodel = \"m\"\nstream = 0.5\nprompt_tokens = { dist = \"uniform\", min = 10, max = 300 }",
        );
        let before = ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
        let r = run::run(&cfg).unwrap();
        let after = ALLOCS.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(r.targets[0].counts.class(2), n);
        assert!(r.targets[0].counts.streams > 0);
        after - before
    };
    let (a, b) = (count(small), count(large));
    eprintln!("{mode:?}: {a} allocations for {small} requests, {b} for {large}");
    b.saturating_sub(a) as f64 / (large - small) as f64
}

#[test]
#[ignore = "run alone, in its own process, by the_generator_does_not_allocate_per_request"]
fn allocation_probe() {
    let closed = allocations_per_request(closed(4), 1_000, 11_000);
    // One connection per worker: opening connections allocates (task, buffers), and how
    // many an open loop opens depends on timing.
    let open = allocations_per_request(open(8_000.0, 2), 1_000, 11_000);
    println!("allocations per request: closed {closed:.4}, open {open:.4}");
    assert!(closed < 0.01 && open < 0.01, "closed {closed}, open {open}");
}

#[test]
fn the_generator_does_not_allocate_per_request() {
    // The counter is process-wide, so the probe runs alone in a child process.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "run::allocation_probe",
            "--nocapture",
        ])
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{stderr}"
    );
    eprintln!(
        "{}",
        stdout
            .lines()
            .find(|l| l.starts_with("allocations"))
            .unwrap_or("")
    );
}
