//! Latency over time as a hand-written SVG: per target, the p50 (dashed) and p99
//! (solid) latency of each second of the timeline, on a linear axis from zero.

use std::fmt::Write;

use super::{Report, TargetReport};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];

/// Scales from data to drawing coordinates.
struct Plot {
    w: f64,
    h: f64,
    t_max: f64,
    y_max: f64,
    y_step: f64,
}

impl Plot {
    fn x(&self, t: f64) -> f64 {
        LEFT + t / self.t_max * self.w
    }

    fn y(&self, us: f64) -> f64 {
        TOP + self.h - us / self.y_max * self.h
    }
}

/// The plot as an SVG document.
pub fn render(r: &Report) -> String {
    let t_max = r
        .targets
        .iter()
        .flat_map(|t| t.timeline.iter().map(|s| f64::from(s.t) + s.seconds))
        .fold(1.0_f64, f64::max);
    let y_top = r
        .targets
        .iter()
        .flat_map(|t| t.timeline.iter().map(|s| s.p99_us))
        .max()
        .unwrap_or(0);
    let (y_max, y_step) = nice_axis(y_top as f64);
    let p = Plot {
        w: WIDTH - LEFT - RIGHT,
        h: HEIGHT - TOP - BOTTOM,
        t_max,
        y_max,
        y_step,
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="24" font-size="16" text-anchor="middle">latency over time (p50 dashed, p99 solid, per second)</text>"#,
        LEFT + p.w / 2.0
    );
    axes(&mut s, &p);
    for (i, target) in r.targets.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        series(&mut s, &p, target, color);
        let name = if r.targets.len() > 1 {
            format!("{} {}", (b'A' + i as u8) as char, target.url)
        } else {
            target.url.clone()
        };
        legend(&mut s, &p, i, &name, color);
    }
    if r.targets
        .iter()
        .all(|t| t.timeline.iter().all(|s| s.completed == 0))
    {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no responses</text>"#,
            LEFT + p.w / 2.0,
            TOP + p.h / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Grid lines with latency labels, second ticks, axis lines and titles.
fn axes(s: &mut String, p: &Plot) {
    let (unit, div) = if p.y_max >= 2_000.0 {
        ("ms", 1_000.0)
    } else {
        ("µs", 1.0)
    };
    let bottom = TOP + p.h;
    let mut v = 0.0;
    while v <= p.y_max + p.y_step / 2.0 {
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
        v += p.y_step;
    }
    let x_step = nice_axis(p.t_max).1.max(1.0);
    let mut t = 0.0;
    while t <= p.t_max + 1e-9 {
        let xx = p.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{bottom:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/>
<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 5.0,
            bottom + 18.0,
            trim(t)
        );
        t += x_step;
    }
    let mid_y = TOP + p.h / 2.0;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom:.1}" stroke="#333"/>
<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds after warm-up</text>
<text x="20" y="{mid_y:.1}" text-anchor="middle" transform="rotate(-90 20 {mid_y:.1})">latency ({unit})</text>"##,
        LEFT + p.w,
        LEFT + p.w / 2.0,
        HEIGHT - 15.0,
    );
}

/// The p99 (solid) and p50 (dashed) lines of one target, over seconds with responses.
fn series(s: &mut String, p: &Plot, target: &TargetReport, color: &str) {
    for (dash, p99) in [("", true), (r#" stroke-dasharray="6,4""#, false)] {
        let points: Vec<String> = target
            .timeline
            .iter()
            .filter(|sec| sec.completed > 0)
            .map(|sec| {
                let us = if p99 { sec.p99_us } else { sec.p50_us };
                let x = p.x(f64::from(sec.t) + sec.seconds / 2.0);
                format!("{x:.1},{:.1}", p.y(us as f64))
            })
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                points.join(" ")
            );
        }
    }
}

/// The `i`-th target's legend entry, right of the plot.
fn legend(s: &mut String, p: &Plot, i: usize, name: &str, color: &str) {
    let ly = TOP + 10.0 + i as f64 * 44.0;
    let lx = LEFT + p.w + 16.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/>
<text x="{:.1}" y="{:.1}">p99 {}</text>
<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="6,4"/>
<text x="{:.1}" y="{:.1}">p50</text>"#,
        lx + 24.0,
        lx + 30.0,
        ly + 4.0,
        escape(name),
        ly + 18.0,
        lx + 24.0,
        ly + 18.0,
        lx + 30.0,
        ly + 22.0
    );
}

/// An axis from 0 to a round number at least `top`, and a round tick step (1, 2 or 5
/// times a power of ten, about five ticks).
pub(crate) fn nice_axis(top: f64) -> (f64, f64) {
    if top <= 0.0 {
        return (1.0, 0.2);
    }
    let raw = top / 5.0;
    let pow = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * pow);
    ((top / step).ceil() * step, step)
}

/// A tick label without needless decimals.
pub(crate) fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert_eq!(nice_axis(9.0), (10.0, 2.0));
        assert_eq!(nice_axis(1234.0), (1500.0, 500.0));
        assert_eq!(nice_axis(5.0), (5.0, 1.0));
        assert_eq!(trim(2.5), "2.5");
        assert_eq!(trim(3.0), "3");
        assert_eq!(escape("a&<\""), "a&amp;&lt;&quot;");
    }
}
