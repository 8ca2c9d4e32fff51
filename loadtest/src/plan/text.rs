//! The plan as text: the SLO and how steps ran, a table of steps, the knee, what was
//! measured of the gateway, and the sizing with every formula written out.

use std::fmt::Write;

use super::slo::fmt_signed_us;
use super::{Basis, CoresFrom, Plan, Step};
use crate::report::fmt_us;

/// The plan for people.
pub fn render(p: &Plan) -> String {
    let mut s = String::new();
    header(&mut s, p);
    let _ = writeln!(s);
    table(&mut s, p);
    let _ = writeln!(s);
    knee(&mut s, p);
    gateway(&mut s, p);
    sizing(&mut s, p);
    if !p.notes.is_empty() {
        let _ = writeln!(s, "\nnotes:");
        for n in &p.notes {
            let _ = writeln!(s, "  - {n}");
        }
    }
    s
}

fn header(s: &mut String, p: &Plan) {
    match &p.baseline {
        Some(b) => {
            let _ = writeln!(s, "plan for {} (baseline {b})", p.target);
        }
        None => {
            let _ = writeln!(s, "plan for {}", p.target);
        }
    }
    let latency = match p.slo.basis {
        Basis::Added => "p99 added latency (target minus baseline at p99, one interleaved run)",
        Basis::Absolute => "p99 latency of the target itself (no baseline)",
    };
    let _ = writeln!(
        s,
        "SLO: {latency} <= {}; errors (not 2xx) <= {}%; achieved rate >= {}% of offered",
        fmt_us(p.slo.p99_us),
        p.slo.errors * 100.0,
        p.slo.achieved * 100.0
    );
    let _ = writeln!(
        s,
        "steps: open loop, {} arrivals, {:.1} s warm-up + {:.1} s measured, up to {} connections per target",
        p.arrivals,
        p.step_warmup.as_secs_f64(),
        p.step_duration.as_secs_f64(),
        p.max_connections
    );
}

/// The column header of [`step_line`].
pub fn table_header(basis: Basis) -> String {
    let (p50, p99) = match basis {
        Basis::Added => ("p50 added", "p99 added"),
        Basis::Absolute => ("p50", "p99"),
    };
    format!(
        "{:>4} {:>10} {:>10} {:>8} {:>10} {:>10} {:>9}  verdict",
        "step", "offered/s", "achieved/s", "errors", p50, p99, "cpu/req"
    )
}

/// One step as a table row (also the live progress line).
pub fn step_line(n: usize, st: &Step) -> String {
    let lat = |v: Option<i64>| v.map_or("-".to_owned(), fmt_signed_us);
    let cpu = st
        .cpu_us_per_request
        .map_or("-".to_owned(), |c| format!("{c:.1}µs"));
    let verdict = if st.passed() {
        "pass".to_owned()
    } else {
        format!("FAIL: {}", st.violations.join("; "))
    };
    format!(
        "{n:>4} {:>10} {:>10} {:>7.3}% {:>10} {:>10} {:>9}  {verdict}",
        rate(st.offered_rate),
        rate(st.achieved_rate),
        st.error_ratio * 100.0,
        lat(st.p50_us),
        lat(st.p99_us),
        cpu
    )
}

fn table(s: &mut String, p: &Plan) {
    let _ = writeln!(s, "{}", table_header(p.slo.basis));
    for (i, st) in p.steps.iter().enumerate() {
        let mark = if Some(i) == p.knee { "  <- knee" } else { "" };
        let _ = writeln!(s, "{}{mark}", step_line(i + 1, st));
    }
}

fn knee(s: &mut String, p: &Plan) {
    match p.knee_step() {
        Some(k) => {
            let _ = write!(
                s,
                "max rate meeting the SLO on this host: {} req/s (step {})",
                rate(k.offered_rate),
                p.knee.unwrap_or(0) + 1
            );
        }
        None => {
            let _ = write!(s, "no rate met the SLO");
        }
    }
    if let Some(f) = p.first_fail_step() {
        let _ = write!(
            s,
            "; {} req/s failed (step {}): {}",
            rate(f.offered_rate),
            p.first_fail.unwrap_or(0) + 1,
            f.violations.join("; ")
        );
    }
    let _ = writeln!(s, "\nsweep: {}, {} steps", p.end.describe(), p.steps.len());
    let from = match &p.gateway_cores_from {
        CoresFrom::Given => "--gateway-cores".to_owned(),
        CoresFrom::CpusAllowed(list) => format!("Cpus_allowed_list {list}"),
        CoresFrom::ThisHost => "assumed: this host's cores; pass --gateway-cores".to_owned(),
    };
    let _ = write!(s, "gateway cores: {} ({from})", p.gateway_cores);
    match p.max_rate() {
        Some(r) => {
            let _ = writeln!(s, ": {} req/s per core", rate(r / p.gateway_cores as f64));
        }
        None => s.push('\n'),
    }
}

fn gateway(s: &mut String, p: &Plan) {
    let Some(g) = &p.gateway else {
        let _ = writeln!(s, "gateway CPU and memory: not measured (no --gateway-pid)");
        return;
    };
    match g.cpu_us_per_request {
        Some(c) => {
            let _ = writeln!(
                s,
                "gateway CPU (pid {}): {c:.1} µs per request at the knee (utime + stime over the \
                 measured window / requests to the target; {} ticks per second), {:.0}% of \
                 its {} core(s) busy",
                g.pid,
                g.ticks_per_second,
                g.busy_at_knee.unwrap_or(0.0) * 100.0,
                p.gateway_cores
            );
        }
        None => {
            let _ = writeln!(
                s,
                "gateway CPU (pid {}): no step passed, so none is quoted",
                g.pid
            );
        }
    }
    let m = &g.memory;
    let _ = writeln!(
        s,
        "gateway memory: RSS {} idle, {} at most with {} streams held open {:.1} s ({} more \
         sockets): ({} - {}) / {} = {} per stream",
        bytes(m.rss_idle as f64),
        bytes(m.rss_peak as f64),
        m.streams,
        m.hold.as_secs_f64(),
        m.sockets_peak.saturating_sub(m.sockets_idle),
        bytes(m.rss_peak as f64),
        bytes(m.rss_idle as f64),
        m.streams,
        bytes(m.per_stream)
    );
}

fn sizing(s: &mut String, p: &Plan) {
    let Some(z) = &p.sizing else {
        if p.streams_from.is_none() {
            let _ = writeln!(s, "\nno --target-rate: no deployment sized");
        }
        return;
    };
    let i = &z.inputs;
    let h = 1.0 - i.headroom;
    let _ = writeln!(
        s,
        "\nfor R = {} req/s with headroom H = {}%, {} cores per host:",
        rate(i.target_rate),
        i.headroom * 100.0,
        i.cores_per_host
    );
    match (z.cores_by_cpu, i.cpu_us_per_request) {
        (Some((x, n)), Some(c)) => {
            let _ = writeln!(
                s,
                "  cores by CPU  = ceil(R × cpu_per_request / (1 − H)) = ceil({} × {c:.1}µs / {h:.2}) = ceil({x:.2}) = {n}",
                rate(i.target_rate)
            );
        }
        _ => {
            let _ = writeln!(s, "  cores by CPU  = not measured");
        }
    }
    match (z.cores_by_rate, z.max_rate_per_core) {
        (Some((x, n)), Some(m)) => {
            let _ = writeln!(
                s,
                "  cores by rate = ceil(R / (max_rate_per_core × (1 − H))) = ceil({} / ({} × {h:.2})) = ceil({x:.2}) = {n}",
                rate(i.target_rate),
                rate(m)
            );
        }
        _ => {
            let _ = writeln!(s, "  cores by rate = no rate met the SLO");
        }
    }
    let which = match (z.cores_by_cpu, z.cores_by_rate) {
        (Some(a), Some(b)) if a.1 >= b.1 => "the larger: by CPU",
        (Some(_), Some(_)) => "the larger: by rate",
        (Some(_), None) => "by CPU alone",
        _ => "by rate alone",
    };
    let _ = writeln!(s, "  cores         = {} ({which})", z.cores);
    let _ = writeln!(
        s,
        "  hosts         = ceil(cores / cores_per_host) = ceil({} / {}) = {}",
        z.cores, i.cores_per_host, z.hosts
    );
    let from = p.streams_from.unwrap_or("unknown");
    match i.concurrent_streams {
        Some(n) => {
            let _ = writeln!(s, "  streams       = {n:.0} in flight ({from})");
        }
        None => {
            let _ = writeln!(s, "  streams       = {from}");
        }
    }
    match (
        z.memory_per_host,
        i.concurrent_streams,
        i.memory_per_stream,
        i.rss_idle,
    ) {
        (Some(per_host), Some(n), Some(per), Some(idle)) => {
            let _ = writeln!(
                s,
                "  memory        = hosts × (RSS idle + ceil(streams / hosts) × per stream) = {} × ({} + {} × {}) = {} ({} per host)",
                z.hosts,
                bytes(idle as f64),
                (n / z.hosts as f64).ceil(),
                bytes(per),
                bytes(z.memory_total.unwrap_or(0) as f64),
                bytes(per_host as f64)
            );
        }
        _ => {
            let _ = writeln!(s, "  memory        = not measured");
        }
    }
}

/// A rate for people: one decimal below 100 req/s, whole above.
pub(crate) fn rate(r: f64) -> String {
    if r < 100.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

/// Bytes for people: `812 B`, `31.6 KiB`, `5.20 MiB`, `1.50 GiB`.
pub(crate) fn bytes(b: f64) -> String {
    const K: f64 = 1024.0;
    if b < K {
        format!("{b:.0} B")
    } else if b < K * K {
        format!("{:.1} KiB", b / K)
    } else if b < K * K * K {
        format!("{:.2} MiB", b / (K * K))
    } else {
        format!("{:.2} GiB", b / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(bytes(812.0), "812 B");
        assert_eq!(bytes(32_358.0), "31.6 KiB");
        assert_eq!(bytes(5.2 * 1024.0 * 1024.0), "5.20 MiB");
        assert_eq!(rate(12.34), "12.3");
        assert_eq!(rate(12_400.4), "12400");
    }
}
