//! The report as JSON: every number the text report prints, the per-second timeline,
//! and the run's parameters. Written by hand (the shape is small and fixed).
//!
//! ```text
//! {
//!   "version": 1,
//!   "mode": "closed" | "open",
//!   "connections": N,                  closed loop, per target
//!   "rate": R, "arrivals": "constant" | "poisson", "max_connections": N,   open loop
//!   "workers": N, "drivers": ["io_uring", ...], "seed": N,
//!   "warmup_s": F, "elapsed_s": F,
//!   "targets": [{
//!     "url": "...", "offered_rate": R | null, "achieved_rate": F,
//!     "requests": N, "unsent": N, "connections": N,
//!     "status": {"1xx": N, "2xx": N, "3xx": N, "4xx": N, "5xx": N},
//!     "errors": {"total": N, "connect": N, "timeout": N, "reset": N, "closed": N,
//!                "bad_response": N},
//!     "bytes_sent": N, "bytes_received": N, "streams": N, "tokens": N,
//!     "latency_us" | "queue_us" | "ttfb_us" | "ttft_us" | "itl_us":
//!       {"count": N, "mean": F, "min": N, "p50": N, "p90": N, "p99": N, "p99_9": N,
//!        "max": N},
//!     "timeline": [{"t": N, "seconds": F, "completed": N, "errors": N, "rate": F,
//!                   "p50_us": N, "p90_us": N, "p99_us": N, "max_us": N}, ...]
//!   }, ...],
//!   "difference": null | {"latency_us" | "ttfb_us" | "ttft_us" | "itl_us":
//!       null | {"p50": N, "p90": N, "p99": N, "p99_9": N, "max": N}}   (B - A, µs)
//! }
//! ```

use std::fmt::Write;

use super::{Delta, ErrorKind, Report, Summary, TargetReport};
use crate::run::Mode;

/// The report as a JSON document.
pub fn render(r: &Report) -> String {
    let mut s = String::from("{\"version\":1,");
    match r.mode {
        Mode::Closed { connections } => {
            let _ = write!(s, "\"mode\":\"closed\",\"connections\":{connections},");
        }
        Mode::Open {
            rate,
            arrivals,
            max_connections,
        } => {
            let _ = write!(
                s,
                "\"mode\":\"open\",\"rate\":{},\"arrivals\":\"{arrivals}\",\"max_connections\":{max_connections},",
                num(rate)
            );
        }
    }
    let drivers: Vec<String> = r.drivers.iter().map(|d| format!("\"{d}\"")).collect();
    let _ = write!(
        s,
        "\"workers\":{},\"drivers\":[{}],\"seed\":{},\"warmup_s\":{},\"elapsed_s\":{},\"targets\":[",
        r.drivers.len(),
        drivers.join(","),
        r.seed,
        num(r.warmup.as_secs_f64()),
        num(r.elapsed.as_secs_f64())
    );
    for (i, t) in r.targets.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        target(&mut s, t);
    }
    s.push_str("],\"difference\":");
    match r.difference() {
        None => s.push_str("null"),
        Some(d) => {
            s.push('{');
            for (i, (name, delta)) in d.rows().iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{name}_us\":");
                match delta {
                    None => s.push_str("null"),
                    Some(delta) => write_delta(&mut s, delta),
                }
            }
            s.push('}');
        }
    }
    s.push_str("}\n");
    s
}

fn target(s: &mut String, t: &TargetReport) {
    let c = &t.counts;
    s.push_str("{\"url\":");
    string(s, &t.url);
    let _ = write!(
        s,
        ",\"offered_rate\":{},\"achieved_rate\":{},\"requests\":{},\"unsent\":{},\"connections\":{},",
        t.offered_rate.map_or("null".to_owned(), num),
        num(t.achieved_rate),
        c.requests,
        c.unsent,
        c.connections
    );
    let _ = write!(
        s,
        "\"status\":{{\"1xx\":{},\"2xx\":{},\"3xx\":{},\"4xx\":{},\"5xx\":{}}},",
        c.class(1),
        c.class(2),
        c.class(3),
        c.class(4),
        c.class(5)
    );
    let _ = write!(s, "\"errors\":{{\"total\":{}", c.errors_total());
    for k in ErrorKind::ALL {
        let _ = write!(s, ",\"{}\":{}", k.name(), c.error(k));
    }
    let _ = write!(
        s,
        "}},\"bytes_sent\":{},\"bytes_received\":{},\"streams\":{},\"tokens\":{}",
        c.bytes_sent, c.bytes_received, c.streams, c.tokens
    );
    for (name, h) in t.metrics() {
        let m = Summary::of(h);
        let _ = write!(
            s,
            ",\"{name}_us\":{{\"count\":{},\"mean\":{},\"min\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
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
    s.push_str(",\"timeline\":[");
    for (i, sec) in t.timeline.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"t\":{},\"seconds\":{},\"completed\":{},\"errors\":{},\"rate\":{},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"max_us\":{}}}",
            sec.t,
            num(sec.seconds),
            sec.completed,
            sec.errors,
            num(sec.rate),
            sec.p50_us,
            sec.p90_us,
            sec.p99_us,
            sec.max_us
        );
    }
    s.push_str("]}");
}

fn write_delta(s: &mut String, d: &Delta) {
    let _ = write!(
        s,
        "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p99_9\":{},\"max\":{}}}",
        d.p50, d.p90, d.p99, d.p999, d.max
    );
}

/// A finite float as JSON (`null` otherwise: JSON has no NaN or infinity).
pub(crate) fn num(x: f64) -> String {
    if x.is_finite() {
        let r = (x * 1000.0).round() / 1000.0;
        format!("{r}")
    } else {
        "null".to_owned()
    }
}

/// `v` as a JSON string.
pub(crate) fn string(s: &mut String, v: &str) {
    let mut out = Vec::with_capacity(v.len() + 2);
    proto::json::write_string(&mut out, v.as_bytes());
    // write_string escapes ASCII only and copies the rest: valid UTF-8 in, valid out.
    s.push_str(&String::from_utf8_lossy(&out));
}
