//! Latency over time as a hand-written SVG: per target, the p50 (dashed) and p99
//! (solid) latency of each second of the timeline, on a linear axis from zero.

use std::fmt::Write;

use super::Report;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 2] = ["#1f77b4", "#d62728"];

/// The plot as an SVG document.
pub fn render(r: &Report) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
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
    let (unit, div) = if y_max >= 2_000.0 {
        ("ms", 1_000.0)
    } else {
        ("µs", 1.0)
    };
    let x = |t: f64| LEFT + t / t_max * plot_w;
    let y = |us: f64| TOP + plot_h - us / y_max * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="24" font-size="16" text-anchor="middle">latency over time (p50 dashed, p99 solid, per second)</text>"#,
        LEFT + plot_w / 2.0
    );
    // Grid and axes.
    let mut v = 0.0;
    while v <= y_max + y_step / 2.0 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/>
<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            trim(v / div)
        );
        v += y_step;
    }
    let x_step = nice_axis(t_max).1.max(1.0);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/>
<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 18.0,
            trim(t)
        );
        t += x_step;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/>
<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds after warm-up</text>
<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency ({unit})</text>"##,
        TOP + plot_h,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // Series and legend.
    for (i, target) in r.targets.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for (dash, pick) in [("", 99), ("6,4", 50)] {
            let points: Vec<String> = target
                .timeline
                .iter()
                .filter(|sec| sec.completed > 0)
                .map(|sec| {
                    let us = if pick == 99 { sec.p99_us } else { sec.p50_us };
                    format!(
                        "{:.1},{:.1}",
                        x(f64::from(sec.t) + sec.seconds / 2.0),
                        y(us as f64)
                    )
                })
                .collect();
            if !points.is_empty() {
                let dash = if dash.is_empty() {
                    String::new()
                } else {
                    format!(r#" stroke-dasharray="{dash}""#)
                };
                let _ = writeln!(
                    s,
                    r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                    points.join(" ")
                );
            }
        }
        let ly = TOP + 10.0 + i as f64 * 44.0;
        let lx = LEFT + plot_w + 16.0;
        let name = if r.targets.len() > 1 {
            format!("{} {}", (b'A' + i as u8) as char, target.url)
        } else {
            target.url.clone()
        };
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/>
<text x="{:.1}" y="{:.1}">p99 {}</text>
<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="2" stroke-dasharray="6,4"/>
<text x="{:.1}" y="{:.1}">p50</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            escape(&name),
            ly + 18.0,
            lx + 24.0,
            ly + 18.0,
            lx + 30.0,
            ly + 22.0
        );
    }
    if r.targets
        .iter()
        .all(|t| t.timeline.iter().all(|s| s.completed == 0))
    {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no responses</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// An axis from 0 to a round number at least `top`, and a round tick step (1, 2 or 5
/// times a power of ten, about five ticks).
fn nice_axis(top: f64) -> (f64, f64) {
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
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(s: &str) -> String {
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
