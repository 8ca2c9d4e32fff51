//! The rate search: grow the offered rate geometrically until a step fails the SLO,
//! then bisect between the highest pass and the lowest fail, and confirm the knee by
//! running it again. No I/O: the caller's `probe` runs a step at a rate and says
//! whether it passed, so the search is tested against synthetic latency curves.
//!
//! The bracket is recomputed from every step so far: the lowest failing rate is the
//! upper end, and the highest rate that passed *below it* the lower end (a lucky pass
//! above a failure does not count). A knee is only reported once its rate has passed
//! twice: near a saturation cliff one step can pass by luck, and the plan's promise is
//! a rate that holds. A failed confirmation lowers the upper end to that rate and the
//! bisection goes on below it.

use std::io;

use super::Step;

/// The lowest rate the search tries when even its first step fails, req/s.
pub const RATE_FLOOR: f64 = 1.0;

/// How the search moves. Validated by the caller (see `PlanConfig`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// The first rate tried, req/s.
    pub start: f64,
    /// No step runs above this rate.
    pub max: f64,
    /// The factor between rates before the first failure, > 1.
    pub growth: f64,
    /// Bisection stops once `lowest fail <= highest pass * (1 + resolution)`.
    pub resolution: f64,
    /// Steps at most, whatever happens.
    pub steps_max: usize,
}

/// Why the search stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The highest pass and the lowest fail are within the resolution.
    Resolved,
    /// Every rate up to the cap passed: the knee is above it.
    Capped,
    /// Every rate down to [`RATE_FLOOR`] failed.
    NeverPassed,
    /// The step budget ran out first.
    StepsExhausted,
}

impl End {
    /// `resolved`, `capped`, `never_passed` or `steps_exhausted`.
    pub fn name(self) -> &'static str {
        match self {
            End::Resolved => "resolved",
            End::Capped => "capped",
            End::NeverPassed => "never_passed",
            End::StepsExhausted => "steps_exhausted",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            End::Resolved => "resolved to the requested resolution",
            End::Capped => "every rate up to the cap passed (the knee is above --rate-max)",
            End::NeverPassed => "no rate passed, down to 1 req/s",
            End::StepsExhausted => "stopped at the step limit before resolving",
        }
    }
}

/// The steps in the order they ran, and where the knee is among them.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub steps: Vec<Step>,
    /// Index in `steps` of the highest rate that passed below the lowest failing one
    /// (its latest step: the confirmation, when it ran).
    pub knee: Option<usize>,
    /// Index in `steps` of the lowest failing rate.
    pub first_fail: Option<usize>,
    pub end: End,
}

/// Run the search. `probe(rate)` runs one step; an error from it ends the search.
pub fn sweep(b: &Bounds, mut probe: impl FnMut(f64) -> io::Result<Step>) -> io::Result<Outcome> {
    debug_assert!(b.start > 0.0 && b.max >= b.start && b.growth > 1.0 && b.resolution > 0.0);
    let mut steps: Vec<Step> = Vec::new();
    let mut rate = b.start.min(b.max);
    let end = loop {
        if steps.len() >= b.steps_max {
            break End::StepsExhausted;
        }
        steps.push(probe(rate)?);
        let (pass, fail) = bracket(&steps);
        let rate_of = |i: usize| steps[i].offered_rate;
        rate = match (pass.map(rate_of), fail.map(rate_of)) {
            (Some(lo), None) if lo >= b.max && confirmed(&steps, lo) => break End::Capped,
            (Some(lo), None) if lo >= b.max => lo,
            (Some(lo), None) => (lo * b.growth).min(b.max),
            (None, Some(hi)) if hi / b.growth < RATE_FLOOR => break End::NeverPassed,
            (None, Some(hi)) => hi / b.growth,
            (Some(lo), Some(hi)) if hi <= lo * (1.0 + b.resolution) => {
                if confirmed(&steps, lo) {
                    break End::Resolved;
                }
                lo
            }
            (Some(lo), Some(hi)) => (lo + hi) / 2.0,
            (None, None) => unreachable!("a step either passed or failed"),
        };
    };
    let (knee, first_fail) = bracket(&steps);
    Ok(Outcome {
        steps,
        knee,
        first_fail,
        end,
    })
}

/// Indices of the highest pass below the lowest fail (the latest step at that rate),
/// and of the lowest fail (the earliest at that rate).
fn bracket(steps: &[Step]) -> (Option<usize>, Option<usize>) {
    let mut fail: Option<usize> = None;
    for (i, s) in steps.iter().enumerate() {
        if !s.passed() && fail.is_none_or(|f| s.offered_rate < steps[f].offered_rate) {
            fail = Some(i);
        }
    }
    let ceiling = fail.map_or(f64::INFINITY, |f| steps[f].offered_rate);
    let mut pass: Option<usize> = None;
    for (i, s) in steps.iter().enumerate() {
        if s.passed()
            && s.offered_rate < ceiling
            && pass.is_none_or(|p| s.offered_rate >= steps[p].offered_rate)
        {
            pass = Some(i);
        }
    }
    (pass, fail)
}

/// Whether `rate` passed at least twice (it never failed: it is below the lowest fail).
fn confirmed(steps: &[Step], rate: f64) -> bool {
    steps
        .iter()
        .filter(|s| s.passed() && s.offered_rate == rate)
        .count()
        >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step at `rate` whose verdict is `pass`.
    fn step(rate: f64, pass: bool) -> Step {
        Step {
            offered_rate: rate,
            violations: if pass {
                vec![]
            } else {
                vec!["synthetic".into()]
            },
            ..Step::default()
        }
    }

    fn bounds() -> Bounds {
        Bounds {
            start: 100.0,
            max: 100_000.0,
            growth: 2.0,
            resolution: 0.05,
            steps_max: 40,
        }
    }

    /// A single-server queue's p99 in µs: service time plus waiting that grows without
    /// bound as the rate nears `capacity` (M/M/1: p99 sojourn = ln(100) / (mu - lambda)).
    fn p99_us(rate: f64, service_us: f64) -> f64 {
        let mu = 1e6 / service_us;
        if rate >= mu {
            f64::INFINITY
        } else {
            (100f64).ln() / (mu - rate) * 1e6
        }
    }

    #[test]
    fn finds_the_knee_of_a_queue_within_the_resolution() {
        // 250 µs of service (4,000 req/s capacity); the SLO allows a p99 of 5 ms, met
        // exactly at rate* = mu - ln(100) / 5 ms = 4000 - 921.03 = 3078.97 req/s.
        let (service, bound) = (250.0, 5_000.0);
        let exact = 1e6 / service - 100f64.ln() / (bound / 1e6);
        let mut rates = Vec::new();
        let out = sweep(&bounds(), |r| {
            rates.push(r);
            Ok(step(r, p99_us(r, service) <= bound))
        })
        .unwrap();
        assert_eq!(out.end, End::Resolved);
        let knee = out.steps[out.knee.unwrap()].offered_rate;
        let fail = out.steps[out.first_fail.unwrap()].offered_rate;
        assert!(knee <= exact && exact < fail, "{knee} {exact} {fail}");
        assert!(fail <= knee * 1.05, "bracket {knee}..{fail} wider than 5%");
        assert!(knee >= exact / 1.05, "{knee} vs {exact}");
        // Geometric up to the first fail (100 .. 3200), then bisection of 1600..3200,
        // and the knee once more to confirm it.
        assert_eq!(
            &rates[..7],
            &[100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 2400.0]
        );
        assert!(rates.len() <= 13, "{rates:?}");
        assert_eq!(rates.iter().filter(|&&r| r == knee).count(), 2, "{rates:?}");
        assert_eq!(
            *rates.last().unwrap(),
            knee,
            "the confirmation is the last step"
        );
        assert_eq!(out.knee, Some(rates.len() - 1));
        assert_eq!(out.steps.len(), rates.len());
    }

    #[test]
    fn stops_at_the_cap_when_everything_passes() {
        let b = Bounds {
            max: 1000.0,
            ..bounds()
        };
        let mut rates = Vec::new();
        let out = sweep(&b, |r| {
            rates.push(r);
            Ok(step(r, true))
        })
        .unwrap();
        assert_eq!(out.end, End::Capped);
        assert_eq!(rates, [100.0, 200.0, 400.0, 800.0, 1000.0, 1000.0]);
        assert_eq!(out.knee, Some(5));
        assert_eq!(out.first_fail, None);
    }

    #[test]
    fn descends_when_the_first_step_fails() {
        let mut rates = Vec::new();
        let out = sweep(&bounds(), |r| {
            rates.push(r);
            Ok(step(r, r <= 30.0))
        })
        .unwrap();
        assert_eq!(out.end, End::Resolved);
        assert_eq!(&rates[..3], &[100.0, 50.0, 25.0]);
        let knee = out.steps[out.knee.unwrap()].offered_rate;
        assert!((28.5..=30.0).contains(&knee), "{knee} {rates:?}");
    }

    #[test]
    fn gives_up_below_the_floor_and_at_the_step_limit() {
        let out = sweep(&bounds(), |r| Ok(step(r, false))).unwrap();
        assert_eq!(out.end, End::NeverPassed);
        assert_eq!(out.knee, None);
        // 100, 50, 25, 12.5, 6.25, 3.125, 1.5625; the next would be under 1 req/s.
        assert_eq!(out.steps.len(), 7);
        assert_eq!(out.steps[out.first_fail.unwrap()].offered_rate, 1.5625);

        let b = Bounds {
            steps_max: 3,
            ..bounds()
        };
        let out = sweep(&b, |r| Ok(step(r, true))).unwrap();
        assert_eq!((out.end, out.steps.len()), (End::StepsExhausted, 3));
    }

    #[test]
    fn a_noisy_verdict_still_terminates_with_a_consistent_bracket() {
        // Passes below 1000 except at a pseudo-random third of the rates, fails above.
        let mut n = 0u32;
        let out = sweep(&bounds(), |r| {
            n += 1;
            Ok(step(r, r < 1000.0 && n % 3 != 2))
        })
        .unwrap();
        // The knee is the highest pass below the lowest fail, it passed twice, and it
        // lies below the first fail.
        let rate = |i: Option<usize>| out.steps[i.unwrap()].offered_rate;
        let (knee, fail) = (rate(out.knee), rate(out.first_fail));
        let fails = out
            .steps
            .iter()
            .filter(|s| !s.passed())
            .map(|s| s.offered_rate);
        assert_eq!(fails.fold(f64::INFINITY, f64::min), fail);
        let below = out
            .steps
            .iter()
            .filter(|s| s.passed() && s.offered_rate < fail);
        assert_eq!(below.map(|s| s.offered_rate).fold(0.0, f64::max), knee);
        assert!(knee < fail, "{knee} {fail}");
        if out.end == End::Resolved {
            assert!(confirmed(&out.steps, knee));
        }
        assert!(out.steps.len() <= 40);
    }

    #[test]
    fn a_knee_that_fails_its_confirmation_is_lowered() {
        // Passes below 1000 req/s, but above 900 only the first time a rate is run: a
        // cliff that lets single lucky steps through.
        let mut rates: Vec<f64> = Vec::new();
        let out = sweep(&bounds(), |r| {
            let again = rates.contains(&r);
            rates.push(r);
            Ok(step(r, r < 1000.0 && !(r > 900.0 && again)))
        })
        .unwrap();
        assert_eq!(out.end, End::Resolved);
        let knee = out.steps[out.knee.unwrap()].offered_rate;
        assert_eq!(knee, 900.0, "{rates:?}");
        assert_eq!(out.steps[out.first_fail.unwrap()].offered_rate, 925.0);
        // Up to 1600, bisection down to 950..1000 and 975, then each lucky knee fails
        // its confirmation in turn (975, 950, 925) until 900 passes again.
        assert_eq!(
            rates,
            [
                100.0, 200.0, 400.0, 800.0, 1600.0, 1200.0, 1000.0, 900.0, 950.0, 975.0, 975.0,
                950.0, 925.0, 925.0, 900.0
            ]
        );
    }

    #[test]
    fn an_error_ends_the_search() {
        let err = sweep(&bounds(), |r| {
            if r > 300.0 {
                Err(io::Error::other("target went away"))
            } else {
                Ok(step(r, true))
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "target went away");
    }
}
