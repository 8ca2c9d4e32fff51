//! Offline evaluation of the semantic cache's hit decision on labelled prompt pairs.
//!
//! Each [`Pair`] says whether one cached answer may serve both prompts (`same`). For a
//! sweep of similarity thresholds, [`sweep`] counts what the cache would do — a hit when
//! the embedder's cosine similarity reaches the threshold, and, with the guard, only when
//! [`crate::guard::check`] also passes — and scores it: hit rate, precision (the share of
//! hits that were right: the number that must stay near 1, since a wrong answer is worse
//! than a miss) and recall (the share of `same` pairs that hit). `sluice-loadtest
//! cache-eval` runs it over `loadtest/data/cache-pairs.tsv`; the table is in
//! BENCHMARKS.md.
//!
//! Each pair is embedded and guarded once, whatever the number of thresholds.

use crate::embed::{cosine, Embedder};
use crate::guard;

/// One labelled pair: may one cached answer serve both prompts?
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// Reads `prompt_a \t prompt_b \t same(1|0)` lines. Blank lines and lines starting with
/// `#` are skipped; anything else malformed is an error naming its (1-based) line.
pub fn parse_pairs(tsv: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    for (i, line) in tsv.lines().enumerate() {
        let n = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let [a, b, label] = fields[..] else {
            return Err(format!(
                "line {n}: expected 3 tab-separated fields (prompt_a, prompt_b, same), found {}",
                fields.len()
            ));
        };
        let same = match label.trim() {
            "1" => true,
            "0" => false,
            other => return Err(format!("line {n}: label must be 1 or 0, found {other:?}")),
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() {
            return Err(format!("line {n}: empty prompt"));
        }
        pairs.push(Pair {
            a: a.to_owned(),
            b: b.to_owned(),
            same,
        });
    }
    Ok(pairs)
}

/// The outcome at one threshold, with or without the guard.
#[derive(Clone, Debug)]
pub struct Row {
    pub threshold: f32,
    pub guard: bool,
    /// Pairs that would hit.
    pub hits: usize,
    /// Hits on pairs labelled same.
    pub true_hits: usize,
    /// hits / pairs.
    pub hit_rate: f64,
    /// true_hits / hits; NaN when nothing hit (undefined, printed as "n/a").
    pub precision: f64,
    /// true_hits / pairs labelled same; NaN when none is.
    pub recall: f64,
}

/// For each threshold, with and without the guard: a "hit" is cosine >= threshold (and guard Ok when guard = true).
/// Rows come in threshold order, the unguarded row first.
pub fn sweep(pairs: &[Pair], e: &dyn Embedder, thresholds: &[f32]) -> Vec<Row> {
    let (mut va, mut vb) = (vec![0.0; e.dims()], vec![0.0; e.dims()]);
    let scored: Vec<(f32, bool, bool)> = pairs
        .iter()
        .map(|p| {
            e.embed(&p.a, &mut va);
            e.embed(&p.b, &mut vb);
            (cosine(&va, &vb), guard::check(&p.a, &p.b).is_ok(), p.same)
        })
        .collect();
    let positives = pairs.iter().filter(|p| p.same).count();
    let mut rows = Vec::with_capacity(thresholds.len() * 2);
    for &threshold in thresholds {
        for use_guard in [false, true] {
            let (mut hits, mut true_hits) = (0, 0);
            for &(sim, guard_ok, same) in &scored {
                if sim >= threshold && (guard_ok || !use_guard) {
                    hits += 1;
                    true_hits += usize::from(same);
                }
            }
            rows.push(Row {
                threshold,
                guard: use_guard,
                hits,
                true_hits,
                hit_rate: ratio(hits, pairs.len()),
                precision: ratio(true_hits, hits),
                recall: ratio(true_hits, positives),
            });
        }
    }
    rows
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        f64::NAN
    } else {
        n as f64 / d as f64
    }
}

/// The rows as a markdown table: one line per threshold, the unguarded and guarded
/// results side by side (rows without a partner at their threshold get their own line).
pub fn table(rows: &[Row]) -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "| threshold | hits | false hits | hit rate | precision | recall | hits (guard) | false hits (guard) | hit rate (guard) | precision (guard) | recall (guard) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let cells = |r: Option<&Row>| match r {
        None => "| | | | | ".to_owned(),
        Some(r) => format!(
            "| {} | {} | {} | {} | {} ",
            r.hits,
            r.hits - r.true_hits,
            pct(r.hit_rate),
            pct(r.precision),
            pct(r.recall)
        ),
    };
    let mut i = 0;
    while i < rows.len() {
        let t = rows[i].threshold;
        let mut plain = None;
        let mut guarded = None;
        while i < rows.len() && rows[i].threshold == t && (plain.is_none() || guarded.is_none()) {
            let slot = if rows[i].guard {
                &mut guarded
            } else {
                &mut plain
            };
            if slot.is_some() {
                break;
            }
            *slot = Some(&rows[i]);
            i += 1;
        }
        let _ = writeln!(out, "| {t:.2} {}{}|", cells(plain), cells(guarded));
    }
    out
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

#[cfg(test)]
mod tests;
