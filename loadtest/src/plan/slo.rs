//! The service-level objective a sweep step must meet, parsed from
//! `p99_added_ms=1,errors=0.001[,achieved=0.95]`, and the verdict on one step.

use std::fmt;

/// Which latency the p99 bound applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// The target's latency minus the baseline's, per percentile, from one interleaved
    /// run (`p99_added_ms`; needs a baseline).
    Added,
    /// The target's own latency (`p99_ms`; no baseline).
    Absolute,
}

impl Basis {
    /// `"added"` or `"absolute"`.
    pub fn name(self) -> &'static str {
        match self {
            Basis::Added => "added",
            Basis::Absolute => "absolute",
        }
    }
}

/// The objective. Every step is judged against all three bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slo {
    /// The p99 latency bound, µs, on [`Slo::basis`].
    pub p99_us: u64,
    pub basis: Basis,
    /// The highest share of requests that may end without a 2xx response, `0..=1`.
    pub errors: f64,
    /// The lowest achieved/offered rate ratio, `(0, 1]`: below it, the target is not
    /// keeping up, whatever the latency of the requests it did answer.
    pub achieved: f64,
}

/// The default `achieved` bound.
pub const ACHIEVED_DEFAULT: f64 = 0.95;
/// The default `errors` bound when the SLO names none.
pub const ERRORS_DEFAULT: f64 = 0.001;
/// The largest latency bound, ms (an hour).
pub const P99_MS_MAX: f64 = 3_600_000.0;

/// Why an SLO string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SloError(pub String);

impl fmt::Display for SloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SloError {}

const SYNTAX: &str = "expected p99_added_ms=N or p99_ms=N, then optionally errors=RATIO \
                      (0.001 or 0.1%) and achieved=RATIO, comma-separated";

impl std::str::FromStr for Slo {
    type Err = SloError;

    /// `p99_added_ms=1,errors=0.001`: exactly one of `p99_added_ms` and `p99_ms`;
    /// `errors` (default 0.001) and `achieved` (default 0.95) as ratios or percents.
    fn from_str(s: &str) -> Result<Slo, SloError> {
        let mut p99: Option<(f64, Basis)> = None;
        let (mut errors, mut achieved) = (None, None);
        for part in s.split(',').map(str::trim) {
            if part.is_empty() {
                continue;
            }
            let Some((key, value)) = part.split_once('=') else {
                return Err(SloError(format!("{part:?}: {SYNTAX}")));
            };
            let (key, value) = (key.trim(), value.trim());
            let basis = match key {
                "p99_added_ms" => Some(Basis::Added),
                "p99_ms" => Some(Basis::Absolute),
                _ => None,
            };
            if let Some(basis) = basis {
                if p99.is_some() {
                    return Err(SloError(
                        "one p99 bound only: p99_added_ms or p99_ms, not both or twice".into(),
                    ));
                }
                let ms: f64 = value
                    .parse()
                    .map_err(|_| SloError(format!("{key}={value}: expected milliseconds")))?;
                if !(ms.is_finite() && ms > 0.0 && ms <= P99_MS_MAX) {
                    return Err(SloError(format!(
                        "{key}={value}: must be above 0 and at most {P99_MS_MAX} ms"
                    )));
                }
                p99 = Some((ms, basis));
                continue;
            }
            let slot = match key {
                "errors" => &mut errors,
                "achieved" => &mut achieved,
                _ => return Err(SloError(format!("unknown SLO key {key:?}: {SYNTAX}"))),
            };
            if slot.is_some() {
                return Err(SloError(format!("{key} given twice")));
            }
            *slot = Some(ratio(key, value)?);
        }
        let Some((ms, basis)) = p99 else {
            return Err(SloError(format!("the SLO needs a latency bound: {SYNTAX}")));
        };
        let achieved = achieved.unwrap_or(ACHIEVED_DEFAULT);
        if achieved == 0.0 {
            return Err(SloError("achieved=0 would accept any rate".into()));
        }
        Ok(Slo {
            p99_us: (ms * 1000.0).round().max(1.0) as u64,
            basis,
            errors: errors.unwrap_or(ERRORS_DEFAULT),
            achieved,
        })
    }
}

/// `0.001` or `0.1%`, within `0..=1`.
fn ratio(key: &str, value: &str) -> Result<f64, SloError> {
    let (num, scale) = match value.strip_suffix('%') {
        Some(n) => (n.trim(), 0.01),
        None => (value, 1.0),
    };
    let x = num
        .parse::<f64>()
        .ok()
        .map(|x| x * scale)
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| {
            SloError(format!(
                "{key}={value}: expected a ratio between 0 and 1 (0.001) or a percent (0.1%)"
            ))
        })?;
    Ok(x)
}

impl fmt::Display for Slo {
    /// The SLO as it can be parsed back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match self.basis {
            Basis::Added => "p99_added_ms",
            Basis::Absolute => "p99_ms",
        };
        write!(
            f,
            "{key}={},errors={},achieved={}",
            self.p99_us as f64 / 1000.0,
            self.errors,
            self.achieved
        )
    }
}

/// What a step measured, as far as the SLO is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observed {
    pub offered_rate: f64,
    pub achieved_rate: f64,
    /// p99 on the SLO's basis (added may be negative); None when either side had no
    /// responses.
    pub p99_us: Option<i64>,
    pub error_ratio: f64,
}

impl Slo {
    /// The bounds `o` breaks, as sentences; empty when the step passes.
    pub fn violations(&self, o: &Observed) -> Vec<String> {
        let mut v = Vec::new();
        match o.p99_us {
            None => v.push("no responses to read a p99 from".to_owned()),
            Some(p99) if p99 > self.p99_us as i64 => v.push(format!(
                "p99 {} {} > {}",
                self.basis.name(),
                fmt_exact_us(p99),
                fmt_exact_us(self.p99_us as i64)
            )),
            // Added latency far below zero means the baseline (the upstream alone)
            // queued more than the target did: the generator or the upstream is
            // saturated, and the step says nothing about the gateway. Small negative
            // values are noise and pass.
            Some(p99) if self.basis == Basis::Added && p99 < -(self.p99_us as i64) => {
                v.push(format!(
                    "baseline p99 above the target's by {}: the load generator or the \
                     upstream queued",
                    fmt_exact_us(-p99)
                ))
            }
            Some(_) => {}
        }
        if o.error_ratio > self.errors {
            v.push(format!(
                "errors {:.3}% > {:.3}%",
                o.error_ratio * 100.0,
                self.errors * 100.0
            ));
        }
        if o.achieved_rate < self.achieved * o.offered_rate {
            v.push(format!(
                "achieved {:.1} req/s < {:.0}% of {:.1} offered",
                o.achieved_rate,
                self.achieved * 100.0,
                o.offered_rate
            ));
        }
        v
    }
}

/// µs for people, signed only when negative (`-12µs`, `1.25ms`).
pub(crate) fn fmt_signed_us(n: i64) -> String {
    if n < 0 {
        crate::report::fmt_delta_us(n)
    } else {
        crate::report::fmt_us(n as u64)
    }
}

/// Like [`fmt_signed_us`], but whole µs below 10 ms, so that a value just over a bound
/// does not print the same as the bound (`1001µs > 1000µs`, not `1.00ms > 1.00ms`).
fn fmt_exact_us(n: i64) -> String {
    if n.unsigned_abs() < 10_000 {
        format!("{n}µs")
    } else {
        fmt_signed_us(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Slo, String> {
        s.parse::<Slo>().map_err(|e| e.0)
    }

    #[test]
    fn valid() {
        let slo = parse("p99_added_ms=1,errors=0.001").unwrap();
        assert_eq!(
            slo,
            Slo {
                p99_us: 1000,
                basis: Basis::Added,
                errors: 0.001,
                achieved: 0.95
            }
        );
        let slo = parse(" p99_ms = 2.5 , errors=0.1% ,achieved=90%,").unwrap();
        assert_eq!(slo.p99_us, 2500);
        assert_eq!(slo.basis, Basis::Absolute);
        assert!((slo.errors - 0.001).abs() < 1e-12);
        assert!((slo.achieved - 0.9).abs() < 1e-12);
        let slo = parse("p99_ms=0.05").unwrap();
        assert_eq!((slo.p99_us, slo.errors), (50, ERRORS_DEFAULT));
        assert_eq!(parse(&slo.to_string()).unwrap(), slo, "Display parses back");
        assert_eq!(parse("p99_ms=1,errors=0").unwrap().errors, 0.0);
    }

    #[test]
    fn invalid_with_clear_errors() {
        let cases = [
            ("", "needs a latency bound"),
            ("errors=0.01", "needs a latency bound"),
            ("p99_added_ms", "expected p99_added_ms=N"),
            ("p99_added_ms=fast", "expected milliseconds"),
            ("p99_added_ms=0", "must be above 0"),
            ("p99_added_ms=-1", "must be above 0"),
            ("p99_added_ms=inf", "must be above 0"),
            ("p99_added_ms=1,p99_ms=2", "one p99 bound only"),
            ("p99_ms=1,errors=2", "between 0 and 1"),
            ("p99_ms=1,errors=150%", "between 0 and 1"),
            ("p99_ms=1,errors=x", "between 0 and 1"),
            ("p99_ms=1,errors=0.1,errors=0.2", "errors given twice"),
            ("p99_ms=1,achieved=0", "would accept any rate"),
            ("p99_ms=1,p50_ms=1", "unknown SLO key \"p50_ms\""),
        ];
        for (input, want) in cases {
            let err = parse(input).expect_err(input);
            assert!(err.contains(want), "{input:?}: {err:?} lacks {want:?}");
        }
    }

    #[test]
    fn violations_name_each_bound() {
        let slo = parse("p99_added_ms=1,errors=0.01").unwrap();
        let ok = Observed {
            offered_rate: 100.0,
            achieved_rate: 96.0,
            p99_us: Some(1000),
            error_ratio: 0.01,
        };
        assert!(slo.violations(&ok).is_empty(), "bounds are inclusive");
        assert!(slo
            .violations(&Observed {
                p99_us: Some(-40),
                ..ok
            })
            .is_empty());
        let bad = Observed {
            offered_rate: 100.0,
            achieved_rate: 94.0,
            p99_us: Some(1001),
            error_ratio: 0.02,
        };
        let v = slo.violations(&bad);
        assert_eq!(v.len(), 3, "{v:?}");
        assert_eq!(v[0], "p99 added 1001µs > 1000µs");
        assert!(v[1].starts_with("errors 2.000%"), "{v:?}");
        assert!(v[2].starts_with("achieved 94.0"), "{v:?}");
        let queued = Observed {
            p99_us: Some(-232_000),
            ..ok
        };
        let v = slo.violations(&queued);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].starts_with("baseline p99 above the target's by"),
            "{v:?}"
        );
        let absolute = parse("p99_ms=1,errors=0.01").unwrap();
        assert!(
            absolute.violations(&queued).is_empty(),
            "only added latency has a baseline"
        );
        let none = Observed { p99_us: None, ..ok };
        assert_eq!(slo.violations(&none), ["no responses to read a p99 from"]);
    }
}
