//! The text report: per target, rates, counters and a percentile table; with two
//! targets, the difference table (B minus A).

use std::fmt::Write;

use super::{fmt_delta_us, fmt_us, ErrorKind, Report, Summary, TargetReport, PERCENTILES};
use crate::run::Mode;

/// The whole report as text, ready for stdout.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let mode = match r.mode {
        Mode::Closed { connections } => format!("closed loop, {connections} connections per target"),
        Mode::Open {
            rate,
            arrivals,
            max_connections,
        } => format!(
            "open loop, {rate} req/s per target ({arrivals} arrivals), up to {max_connections} connections per target"
        ),
    };
    let mut drivers: Vec<String> = r.drivers.iter().map(|d| d.to_string()).collect();
    drivers.dedup();
    let _ = writeln!(
        s,
        "{mode}\n{:.2} s measured after a {:.2} s warm-up, {} workers ({}), seed {}",
        r.elapsed.as_secs_f64(),
        r.warmup.as_secs_f64(),
        r.drivers.len(),
        drivers.join(","),
        r.seed
    );
    for (i, t) in r.targets.iter().enumerate() {
        let _ = writeln!(s);
        target(&mut s, label(r, i), t);
    }
    if let Some(d) = r.difference() {
        let _ = writeln!(s, "\ndifference, B - A (the latency B adds)");
        header(&mut s, false);
        for (name, delta) in d.rows() {
            if let Some(delta) = delta {
                let _ = write!(s, "  {name:<8}");
                for v in delta.values() {
                    let _ = write!(s, " {:>9}", fmt_delta_us(v));
                }
                let _ = writeln!(s);
            }
        }
    }
    s
}

fn label(r: &Report, i: usize) -> String {
    if r.targets.len() > 1 {
        format!("{} ", (b'A' + i as u8) as char)
    } else {
        String::new()
    }
}

fn header(s: &mut String, with_count: bool) {
    let _ = write!(s, "  {:<8}", "");
    if with_count {
        let _ = write!(s, " {:>9}", "count");
    }
    for (name, _) in PERCENTILES {
        let _ = write!(s, " {name:>9}");
    }
    let _ = write!(s, " {:>9}", "max");
    if with_count {
        let _ = write!(s, " {:>9}", "mean");
    }
    let _ = writeln!(s);
}

fn target(s: &mut String, label: String, t: &TargetReport) {
    let c = &t.counts;
    let _ = writeln!(s, "{label}{}", t.url);
    let offered = t
        .offered_rate
        .map_or(String::new(), |r| format!(" (offered {r:.1})"));
    let _ = writeln!(
        s,
        "  requests {}   achieved {:.1} req/s{offered}   unsent {}   connections opened {}",
        c.requests, t.achieved_rate, c.unsent, c.connections
    );
    let _ = writeln!(
        s,
        "  status   2xx {}   3xx {}   4xx {}   5xx {}   1xx {}",
        c.class(2),
        c.class(3),
        c.class(4),
        c.class(5),
        c.class(1)
    );
    let kinds: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|&k| format!("{} {}", k.name(), c.error(k)))
        .collect();
    let _ = writeln!(s, "  errors   {} ({})", c.errors_total(), kinds.join(", "));
    let _ = writeln!(
        s,
        "  bytes    sent {}   received {}   streams {}   tokens {}",
        bytes(c.bytes_sent),
        bytes(c.bytes_received),
        c.streams,
        c.tokens
    );
    header(s, true);
    for (name, h) in t.metrics() {
        if h.is_empty() {
            continue;
        }
        let m = Summary::of(h);
        let _ = write!(s, "  {name:<8} {:>9}", m.count);
        for v in m.values() {
            let _ = write!(s, " {:>9}", fmt_us(v));
        }
        let _ = writeln!(s, " {:>9}", fmt_us(m.mean.round() as u64));
    }
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
