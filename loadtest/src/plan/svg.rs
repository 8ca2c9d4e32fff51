//! Latency against offered rate as a hand-written SVG: one point per sweep step (p99
//! solid with a marker, filled when the step passed and hollow when it failed; p50
//! dashed), the SLO's p99 bound as a horizontal line and the knee (the highest passing
//! rate) as a vertical one. Latency is added or absolute, as the SLO is. The latency
//! axis stops at four times the bound: steps far past the knee are drawn on its top
//! edge as triangles, their value written beside them. Axis helpers are shared with
//! `report::svg`.

use std::fmt::Write;

use super::text::rate;
use super::{Basis, Plan, Step};
use crate::report::fmt_us;
use crate::report::svg::{escape, nice_axis, trim};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const P99_COLOR: &str = "#1f77b4";
const SLO_COLOR: &str = "#d62728";
const KNEE_COLOR: &str = "#2ca02c";
/// The latency axis ends at most this many times the SLO bound.
const Y_SPAN_OF_BOUND: f64 = 4.0;

struct Plot {
    w: f64,
    h: f64,
    x_max: f64,
    y_max: f64,
}

impl Plot {
    fn x(&self, rate: f64) -> f64 {
        LEFT + rate / self.x_max * self.w
    }

    /// Clamped to the plot: negative values at the axis, values above it on the top edge.
    fn y(&self, us: f64) -> f64 {
        TOP + self.h - us.clamp(0.0, self.y_max) / self.y_max * self.h
    }
}

/// The plot as an SVG document.
pub fn render(p: &Plan) -> String {
    let bound = p.slo.p99_us as f64;
    let mut steps: Vec<&Step> = p.steps.iter().collect();
    steps.sort_by(|a, b| a.offered_rate.total_cmp(&b.offered_rate));
    let data_top = steps
        .iter()
        .filter_map(|s| s.p99_us)
        .map(|v| v as f64)
        .fold(0.0, f64::max);
    let y_top = data_top.min(Y_SPAN_OF_BOUND * bound).max(1.25 * bound);
    let (y_max, y_step) = nice_axis(y_top);
    let x_top = steps.last().map_or(1.0, |s| s.offered_rate);
    let (x_max, x_step) = nice_axis(x_top);
    let plot = Plot {
        w: WIDTH - LEFT - RIGHT,
        h: HEIGHT - TOP - BOTTOM,
        x_max,
        y_max,
    };
    let what = match p.slo.basis {
        Basis::Added => "added latency (target − baseline)",
        Basis::Absolute => "latency",
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{:.1}" y="24" font-size="16" text-anchor="middle">{what} against offered rate, one point per step</text>"#,
        LEFT + plot.w / 2.0
    );
    axes(&mut s, &plot, y_step, x_step, what);
    slo_line(&mut s, &plot, bound);
    if let Some(k) = p.knee_step() {
        knee_line(&mut s, &plot, k.offered_rate);
    }
    series(&mut s, &plot, &steps);
    legend(&mut s, &plot, p, &steps);
    if steps.iter().all(|st| st.p99_us.is_none()) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no responses</text>"#,
            LEFT + plot.w / 2.0,
            TOP + plot.h / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn axes(s: &mut String, p: &Plot, y_step: f64, x_step: f64, what: &str) {
    let (unit, div) = if p.y_max >= 2_000.0 {
        ("ms", 1_000.0)
    } else {
        ("µs", 1.0)
    };
    let bottom = TOP + p.h;
    let mut v = 0.0;
    while v <= p.y_max + y_step / 2.0 {
        let yy = p.y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/>
<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + p.w,
            LEFT - 6.0,
            yy + 4.0,
            trim(v / div)
        );
        v += y_step;
    }
    let mut r = 0.0;
    while r <= p.x_max + x_step / 2.0 {
        let xx = p.x(r);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{bottom:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/>
<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 18.0,
            trim(r)
        );
        r += x_step;
    }
    let mid_y = TOP + p.h / 2.0;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom:.1}" stroke="#333"/>
<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">offered rate (req/s)</text>
<text x="20" y="{mid_y:.1}" text-anchor="middle" transform="rotate(-90 20 {mid_y:.1})">{} ({unit})</text>"##,
        LEFT + p.w,
        LEFT + p.w / 2.0,
        HEIGHT - 15.0,
        escape(what)
    );
}

fn slo_line(s: &mut String, p: &Plot, bound: f64) {
    let y = p.y(bound);
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{SLO_COLOR}" stroke-width="1.5" stroke-dasharray="8,4"/>
<text x="{:.1}" y="{:.1}" fill="{SLO_COLOR}" text-anchor="end">SLO p99 ≤ {}</text>"#,
        LEFT + p.w,
        LEFT + p.w - 4.0,
        y - 6.0,
        fmt_us(bound as u64)
    );
}

fn knee_line(s: &mut String, p: &Plot, knee: f64) {
    let x = p.x(knee);
    let _ = writeln!(
        s,
        r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="{KNEE_COLOR}" stroke-width="1.5" stroke-dasharray="4,4"/>
<text x="{:.1}" y="{:.1}" fill="{KNEE_COLOR}" text-anchor="end">knee {} req/s</text>"#,
        TOP + p.h,
        x - 4.0,
        TOP + 14.0,
        rate(knee)
    );
}

/// The p99 line with its markers and the p50 line, in rate order.
fn series(s: &mut String, p: &Plot, steps: &[&Step]) {
    for (dash, p99) in [("", true), (r#" stroke-dasharray="6,4""#, false)] {
        let points: Vec<String> = steps
            .iter()
            .filter_map(|st| {
                let v = if p99 { st.p99_us } else { st.p50_us }?;
                Some(format!("{:.1},{:.1}", p.x(st.offered_rate), p.y(v as f64)))
            })
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{P99_COLOR}" stroke-width="2"{dash} points="{}"/>"#,
                points.join(" ")
            );
        }
    }
    // Labels of clipped steps are stacked downwards so that neighbours do not overlap.
    let mut clipped = 0.0;
    for st in steps {
        let Some(v) = st.p99_us else { continue };
        let (x, y) = (p.x(st.offered_rate), p.y(v as f64));
        let fill = if st.passed() { P99_COLOR } else { "white" };
        if v as f64 > p.y_max {
            let _ = writeln!(
                s,
                r#"<path d="M{x:.1},{:.1} l-5,9 h10 z" fill="{fill}" stroke="{P99_COLOR}" stroke-width="1.5"/>
<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                y - 2.0,
                x + 7.0,
                y + 10.0 + clipped * 12.0,
                fmt_us(v as u64)
            );
            clipped += 1.0;
        } else {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{fill}" stroke="{P99_COLOR}" stroke-width="1.5"/>"#
            );
        }
    }
}

fn legend(s: &mut String, p: &Plot, plan: &Plan, steps: &[&Step]) {
    let lx = LEFT + p.w + 16.0;
    let ly = TOP + 10.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{P99_COLOR}" stroke-width="2"/>
<text x="{:.1}" y="{:.1}">p99</text>
<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{P99_COLOR}" stroke-width="2" stroke-dasharray="6,4"/>
<text x="{:.1}" y="{:.1}">p50</text>
<circle cx="{:.1}" cy="{:.1}" r="4" fill="{P99_COLOR}" stroke="{P99_COLOR}"/>
<text x="{:.1}" y="{:.1}">step passed</text>
<circle cx="{:.1}" cy="{:.1}" r="4" fill="white" stroke="{P99_COLOR}" stroke-width="1.5"/>
<text x="{:.1}" y="{:.1}">step failed</text>"#,
        lx + 24.0,
        lx + 30.0,
        ly + 4.0,
        ly + 18.0,
        lx + 24.0,
        ly + 18.0,
        lx + 30.0,
        ly + 22.0,
        lx + 12.0,
        ly + 36.0,
        lx + 30.0,
        ly + 40.0,
        lx + 12.0,
        ly + 54.0,
        lx + 30.0,
        ly + 58.0,
    );
    let mut lines = vec![escape(&plan.target)];
    if let Some(b) = &plan.baseline {
        lines.push(format!("minus {}", escape(b)));
    }
    if steps.iter().any(|st| st.p50_us.is_some_and(|v| v < 0)) {
        lines.push("negative values drawn at 0".into());
    }
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{:.1}" font-size="11">{line}</text>"#,
            ly + 84.0 + i as f64 * 16.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CoresFrom, End, Slo};
    use super::*;

    fn step(rate: f64, p99: i64, pass: bool) -> Step {
        Step {
            offered_rate: rate,
            p50_us: Some(p99 / 2),
            p99_us: Some(p99),
            violations: if pass { vec![] } else { vec!["x".into()] },
            ..Step::default()
        }
    }

    #[test]
    fn draws_each_step_the_knee_and_the_slo() {
        let plan = Plan {
            target: "http://a<b".into(),
            baseline: None,
            slo: "p99_ms=1".parse::<Slo>().unwrap(),
            arrivals: crate::run::Arrivals::Constant,
            max_connections: 4,
            step_warmup: std::time::Duration::ZERO,
            step_duration: std::time::Duration::from_secs(1),
            // Out of rate order, as a bisection runs them; the last is far off the axis.
            steps: vec![
                step(100.0, 300, true),
                step(400.0, 90_000, false),
                step(200.0, 500, true),
                step(300.0, 1_500, false),
            ],
            knee: Some(2),
            first_fail: Some(3),
            end: End::Resolved,
            gateway_cores: 1,
            gateway_cores_from: CoresFrom::ThisHost,
            gateway: None,
            sizing: None,
            streams_from: None,
            notes: vec![],
        };
        let svg = render(&plan);
        assert!(svg.starts_with("<?xml") && svg.ends_with("</svg>\n"));
        assert_eq!(
            svg.matches("<circle").count(),
            3 + 2,
            "3 in range + 2 legend"
        );
        assert_eq!(svg.matches("<path").count(), 1, "the clipped step");
        assert!(svg.contains(">90.00ms<"), "the clipped value is written");
        assert!(svg.contains("knee 200 req/s") && svg.contains("SLO p99 ≤ 1.00ms"));
        assert!(svg.contains("http://a&lt;b"), "escaped");
        // The p99 polyline visits the steps in rate order.
        let line = svg.lines().find(|l| l.starts_with("<polyline")).unwrap();
        let xs: Vec<f64> = line
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split(' ')
            .map(|pt| {
                pt.split(',')
                    .next()
                    .unwrap()
                    .trim_end_matches("\"/>")
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    }
}
