//! The plan as JSON: every step with its measurements and verdict, the knee, the
//! gateway's measurements and the sizing. Written by hand, like `report::json`.
//!
//! ```text
//! {
//!   "version": 1, "target": "...", "baseline": "..." | null,
//!   "slo": {"basis": "added" | "absolute", "p99_us": N, "errors": F, "achieved": F},
//!   "arrivals": "constant" | "poisson", "max_connections": N,
//!   "step_warmup_s": F, "step_duration_s": F,
//!   "steps": [{"step": N, "offered_rate": F, "achieved_rate": F, "requests": N,
//!              "unsent": N, "errors": N, "error_ratio": F,
//!              "p50_us": N | null, "p99_us": N | null,        on the SLO's basis
//!              "latency_us": SUMMARY, "baseline_latency_us": SUMMARY | null,
//!              "added_us": {"p50", "p90", "p99", "p99_9", "max"} | null,
//!              "cpu_us": F | null, "cpu_us_per_request": F | null,
//!              "passed": B, "violations": ["..."]}, ...],
//!   "end": "resolved" | "capped" | "never_passed" | "steps_exhausted",
//!   "knee": {"step": N, "rate": F} | null, "first_fail": {"step": N, "rate": F} | null,
//!   "gateway_cores": N, "gateway_cores_from": "given" | "cpus_allowed:LIST" | "this_host",
//!   "gateway": null | {"pid": N, "cpu_us_per_request": F | null,
//!       "busy_at_knee": F | null, "ticks_per_second": N,
//!       "memory": {"streams": N, "hold_s": F, "rss_idle": N, "rss_peak": N,
//!                  "per_stream": F, "sockets_idle": N, "sockets_peak": N,
//!                  "streams_seen": N, "errors": N}},                       bytes
//!   "sizing": null | {"target_rate": F, "headroom": F, "cores_per_host": N,
//!       "cpu_us_per_request": F | null, "max_rate": F | null, "gateway_cores": N,
//!       "cores_by_cpu": {"exact": F, "cores": N} | null, "max_rate_per_core": F | null,
//!       "cores_by_rate": {"exact": F, "cores": N} | null, "cores": N, "hosts": N,
//!       "concurrent_streams": F | null, "streams_from": "...",
//!       "memory_per_stream": F | null, "rss_idle": N | null,
//!       "memory_per_host": N | null, "memory_total": N | null},
//!   "notes": ["..."]
//! }
//! ```
//! SUMMARY is `{"count", "mean", "min", "p50", "p90", "p99", "p99_9", "max"}` in µs.

use std::fmt::Write;

use super::sizing::Sizing;
use super::{CoresFrom, Gateway, Plan, Step};
use crate::report::json::{num, string};
use crate::report::Summary;

/// The plan as a JSON document.
pub fn render(p: &Plan) -> String {
    let mut s = String::from("{\"version\":1,\"target\":");
    string(&mut s, &p.target);
    s.push_str(",\"baseline\":");
    opt_string(&mut s, p.baseline.as_deref());
    let _ = write!(
        s,
        ",\"slo\":{{\"basis\":\"{}\",\"p99_us\":{},\"errors\":{},\"achieved\":{}}}",
        p.slo.basis.name(),
        p.slo.p99_us,
        p.slo.errors,
        p.slo.achieved
    );
    let _ = write!(
        s,
        ",\"arrivals\":\"{}\",\"max_connections\":{},\"step_warmup_s\":{},\"step_duration_s\":{},\"steps\":[",
        p.arrivals,
        p.max_connections,
        num(p.step_warmup.as_secs_f64()),
        num(p.step_duration.as_secs_f64())
    );
    for (i, st) in p.steps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        step(&mut s, i + 1, st);
    }
    let _ = write!(s, "],\"end\":\"{}\"", p.end.name());
    for (name, idx) in [("knee", p.knee), ("first_fail", p.first_fail)] {
        let _ = write!(s, ",\"{name}\":");
        match idx {
            Some(i) => {
                let _ = write!(
                    s,
                    "{{\"step\":{},\"rate\":{}}}",
                    i + 1,
                    num(p.steps[i].offered_rate)
                );
            }
            None => s.push_str("null"),
        }
    }
    let _ = write!(
        s,
        ",\"gateway_cores\":{},\"gateway_cores_from\":",
        p.gateway_cores
    );
    match &p.gateway_cores_from {
        CoresFrom::Given => string(&mut s, "given"),
        CoresFrom::CpusAllowed(list) => string(&mut s, &format!("cpus_allowed:{list}")),
        CoresFrom::ThisHost => string(&mut s, "this_host"),
    }
    s.push_str(",\"gateway\":");
    match &p.gateway {
        Some(g) => gateway(&mut s, g),
        None => s.push_str("null"),
    }
    s.push_str(",\"sizing\":");
    match &p.sizing {
        Some(z) => sizing(&mut s, z, p.streams_from.unwrap_or("")),
        None => s.push_str("null"),
    }
    s.push_str(",\"notes\":[");
    for (i, n) in p.notes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        string(&mut s, n);
    }
    s.push_str("]}\n");
    s
}

fn step(s: &mut String, n: usize, st: &Step) {
    let _ = write!(
        s,
        "{{\"step\":{n},\"offered_rate\":{},\"achieved_rate\":{},\"requests\":{},\"unsent\":{},\"errors\":{},\"error_ratio\":{},\"p50_us\":{},\"p99_us\":{},\"latency_us\":",
        num(st.offered_rate),
        num(st.achieved_rate),
        st.requests,
        st.unsent,
        st.errors,
        num_fine(st.error_ratio),
        opt(st.p50_us),
        opt(st.p99_us)
    );
    summary(s, &st.latency);
    s.push_str(",\"baseline_latency_us\":");
    match &st.baseline {
        Some(b) => summary(s, b),
        None => s.push_str("null"),
    }
    s.push_str(",\"added_us\":");
    match &st.added {
        Some(d) => {
            let _ = write!(
                s,
                "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
                d.p50, d.p90, d.p99, d.p999, d.max
            );
        }
        None => s.push_str("null"),
    }
    let _ = write!(
        s,
        ",\"cpu_us\":{},\"cpu_us_per_request\":{},\"passed\":{},\"violations\":[",
        opt_num(st.cpu_us),
        opt_num(st.cpu_us_per_request),
        st.passed()
    );
    for (i, v) in st.violations.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        string(s, v);
    }
    s.push_str("]}");
}

fn summary(s: &mut String, m: &Summary) {
    let _ = write!(
        s,
        "{{\"count\":{},\"mean\":{},\"min\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
        m.count,
        num(m.mean),
        m.min,
        m.p50,
        m.p90,
        m.p99,
        m.p999,
        m.max
    );
}

fn gateway(s: &mut String, g: &Gateway) {
    let m = &g.memory;
    let _ = write!(
        s,
        "{{\"pid\":{},\"cpu_us_per_request\":{},\"busy_at_knee\":{},\"ticks_per_second\":{},\"memory\":{{\"streams\":{},\"hold_s\":{},\"rss_idle\":{},\"rss_peak\":{},\"per_stream\":{},\"sockets_idle\":{},\"sockets_peak\":{},\"streams_seen\":{},\"errors\":{}}}}}",
        g.pid,
        opt_num(g.cpu_us_per_request),
        opt_num(g.busy_at_knee),
        g.ticks_per_second,
        m.streams,
        num(m.hold.as_secs_f64()),
        m.rss_idle,
        m.rss_peak,
        num(m.per_stream),
        m.sockets_idle,
        m.sockets_peak,
        m.streams_seen,
        m.errors
    );
}

fn sizing(s: &mut String, z: &Sizing, streams_from: &str) {
    let i = &z.inputs;
    let estimate = |e: Option<(f64, u64)>| {
        e.map_or("null".to_owned(), |(x, n)| {
            format!("{{\"exact\":{},\"cores\":{n}}}", num(x))
        })
    };
    let _ = write!(
        s,
        "{{\"target_rate\":{},\"headroom\":{},\"cores_per_host\":{},\"cpu_us_per_request\":{},\"max_rate\":{},\"gateway_cores\":{},\"cores_by_cpu\":{},\"max_rate_per_core\":{},\"cores_by_rate\":{},\"cores\":{},\"hosts\":{},\"concurrent_streams\":{},\"streams_from\":",
        num(i.target_rate),
        num(i.headroom),
        i.cores_per_host,
        opt_num(i.cpu_us_per_request),
        opt_num(i.max_rate),
        i.gateway_cores,
        estimate(z.cores_by_cpu),
        opt_num(z.max_rate_per_core),
        estimate(z.cores_by_rate),
        z.cores,
        z.hosts,
        opt_num(i.concurrent_streams)
    );
    string(s, streams_from);
    let _ = write!(
        s,
        ",\"memory_per_stream\":{},\"rss_idle\":{},\"memory_per_host\":{},\"memory_total\":{}}}",
        opt_num(i.memory_per_stream),
        opt(i.rss_idle),
        opt(z.memory_per_host),
        opt(z.memory_total)
    );
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("null".to_owned(), |v| v.to_string())
}

fn opt_num(v: Option<f64>) -> String {
    v.map_or("null".to_owned(), num)
}

/// A ratio keeps more digits than `num`'s three decimals (0.0004 is not 0).
fn num_fine(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".to_owned()
    }
}

fn opt_string(s: &mut String, v: Option<&str>) {
    match v {
        Some(v) => string(s, v),
        None => s.push_str("null"),
    }
}
