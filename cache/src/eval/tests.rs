use super::*;

/// An embedder whose similarities are known exactly: "base" is (1, 0); a prompt with the
/// word high / mid / low is at cosine 0.9 / 0.7 / 0.3 from it.
struct Known;

impl Embedder for Known {
    fn name(&self) -> &str {
        "known"
    }
    fn dims(&self) -> usize {
        2
    }
    fn embed(&self, text: &str, out: &mut [f32]) {
        let s: f32 = [("high", 0.9), ("mid", 0.7), ("low", 0.3)]
            .iter()
            .find(|(w, _)| text.split(' ').any(|t| t == *w))
            .map_or(1.0, |(_, s)| *s);
        out[0] = s;
        out[1] = (1.0 - s * s).sqrt();
    }
}

fn pair(a: &str, b: &str, same: bool) -> Pair {
    Pair {
        a: a.into(),
        b: b.into(),
        same,
    }
}

fn tiny() -> Vec<Pair> {
    vec![
        pair("base", "high", true),       // 0.9, guard ok
        pair("base", "high Rome", false), // 0.9, guard refuses (name)
        pair("base", "mid", true),        // 0.7, guard ok
        pair("base", "mid", false),       // 0.7, guard ok: a near-miss the guard misses
        pair("base", "low", true),        // 0.3
        pair("base", "low not", false),   // 0.3, guard refuses (negation)
    ]
}

#[test]
fn sweep_counts_match_the_hand_computed_ones() {
    let rows = sweep(&tiny(), &Known, &[0.5, 0.8, 0.95]);
    let got: Vec<(f32, bool, usize, usize)> = rows
        .iter()
        .map(|r| (r.threshold, r.guard, r.hits, r.true_hits))
        .collect();
    assert_eq!(
        got,
        [
            (0.5, false, 4, 2),
            (0.5, true, 3, 2),
            (0.8, false, 2, 1),
            (0.8, true, 1, 1),
            (0.95, false, 0, 0),
            (0.95, true, 0, 0),
        ]
    );
    let close = |x: f64, y: f64| (x - y).abs() < 1e-9;
    let r = &rows[0];
    assert!(close(r.hit_rate, 4.0 / 6.0) && close(r.precision, 0.5) && close(r.recall, 2.0 / 3.0));
    let r = &rows[1];
    assert!(close(r.hit_rate, 0.5) && close(r.precision, 2.0 / 3.0) && close(r.recall, 2.0 / 3.0));
    let r = &rows[3];
    assert!(close(r.precision, 1.0) && close(r.recall, 1.0 / 3.0));
    assert!(rows[4].precision.is_nan(), "no hits: precision undefined");
    assert_eq!(rows[4].recall, 0.0);
}

#[test]
fn sweep_of_nothing() {
    let rows = sweep(&[], &Known, &[0.5]);
    assert_eq!(rows.len(), 2);
    assert!(rows[0].hit_rate.is_nan() && rows[0].recall.is_nan() && rows[0].hits == 0);
}

#[test]
fn table_is_markdown_with_one_line_per_threshold() {
    let t = table(&sweep(&tiny(), &Known, &[0.5, 0.95]));
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].starts_with("| threshold | hits | false hits |"));
    assert_eq!(
        lines[2],
        "| 0.50 | 4 | 2 | 66.7% | 50.0% | 66.7% | 3 | 1 | 50.0% | 66.7% | 66.7% |"
    );
    assert_eq!(
        lines[3],
        "| 0.95 | 0 | 0 | 0.0% | n/a | 0.0% | 0 | 0 | 0.0% | n/a | 0.0% |"
    );
    assert!(lines.iter().all(|l| l.matches('|').count() == 12), "{t}");
}

#[test]
fn parse_pairs_reads_labels_comments_and_crlf() {
    let tsv =
        "# made by hand\n\nWhat is 2+2?\twhat's 2 + 2\t1\r\n  # indented comment\nhi\tbye\t0\n";
    let pairs = parse_pairs(tsv).unwrap();
    assert_eq!(
        pairs,
        [
            pair("What is 2+2?", "what's 2 + 2", true),
            pair("hi", "bye", false)
        ]
    );
}

#[test]
fn parse_errors_name_the_line() {
    let err = |tsv: &str| parse_pairs(tsv).unwrap_err();
    assert_eq!(
        err("a\tb\t1\n# c\na\tb\n"),
        "line 3: expected 3 tab-separated fields (prompt_a, prompt_b, same), found 2"
    );
    assert_eq!(
        err("a\tb\t1\na\tb\tc\td\n"),
        "line 2: expected 3 tab-separated fields (prompt_a, prompt_b, same), found 4"
    );
    assert_eq!(
        err("\n\na\tb\tyes\n"),
        "line 3: label must be 1 or 0, found \"yes\""
    );
    assert_eq!(err("a\t \t0\n"), "line 1: empty prompt");
}
