//! The pick: candidates as a bitmask, the lowest tier, the strategy, the breaker's admit.
//!
//! Every step is a pass over at most [`MEMBERS_MAX`] members with bit operations on a
//! `u64`; nothing is allocated and nothing shared is written except by `admit`'s
//! transitions and probe slots.

use std::cmp::Ordering;

use super::window::WindowTime;
use super::{
    Admit, Filter, GroupLocal, GroupSpec, Health, Member, Millis, Pick, Rng, Strategy, MEMBERS_MAX,
};

/// Chooses a member for the next attempt of a request.
///
/// Eligible: not in `filter.tried`, tags ⊇ `filter.required_tags`, [`Health::eligible`],
/// and for `UsageAware` under its rpm and tpm (those that are known) at the deployment's
/// shared window rate. Among the eligible only the lowest priority tier counts. Then the
/// strategy:
/// - `WeightedRandom`: by weight.
/// - `RoundRobin`: the first eligible member at or after this core's cursor (wrapping);
///   the cursor moves past it.
/// - `LeastInFlight`: fewest in flight from this core; ties by weighted random.
/// - `LeastLatency`: power of two choices — two distinct candidates drawn by weight, the
///   lower [`PeakEwma::cost`](super::PeakEwma::cost) wins (ties: fewer in flight, then the
///   first drawn); a lone candidate wins outright.
/// - `LowestCost`: lowest `cost`; ties by weighted random.
/// - `UsageAware`: lowest utilization max(rpm rate / rpm, tpm rate / tpm), an unknown
///   limit counting 0; ties by weighted random.
///
/// Then the deployment's breaker admits it; when it answers `No` (another core took the
/// last probe slot, or reopened it, since the eligibility check) that member is excluded
/// and the pick repeats. `None` when nothing is eligible.
///
/// No allocation; O(members) per round, and a round repeats only after losing a race.
pub fn pick(
    spec: &GroupSpec,
    local: &mut GroupLocal,
    board: &[Health],
    now: Millis,
    rng: &mut Rng,
    filter: Filter,
) -> Option<Pick> {
    debug_assert_eq!(local.members.len(), spec.members.len());
    let mut excluded = filter.tried;
    loop {
        let c = candidates(spec, local, board, now, excluded, filter.required_tags);
        if c.mask == 0 {
            return None;
        }
        let member = choose(spec, local, rng, c);
        debug_assert!(c.mask & bit(member) != 0);
        let health = &board[spec.members[member].health];
        match health.breaker.admit(&spec.breaker, now) {
            Admit::Yes => {
                return Some(Pick {
                    member,
                    probe: false,
                })
            }
            Admit::Probe => {
                return Some(Pick {
                    member,
                    probe: true,
                })
            }
            // INVARIANT: each round excludes one more member, so the loop ends.
            Admit::No => excluded |= bit(member),
        }
    }
}

fn bit(i: usize) -> u64 {
    debug_assert!(i < MEMBERS_MAX);
    1 << i
}

/// The members a strategy chooses among, and their total weight.
#[derive(Clone, Copy)]
struct Candidates {
    mask: u64,
    weight: u64,
}

fn weight(m: &Member) -> u64 {
    u64::from(m.weight.max(1))
}

/// One pass over the members: the eligible ones of the lowest tier that has any, and for
/// the strategies that rank (least in flight, lowest cost, usage-aware) only those with
/// the lowest key in that tier, so the ranking costs no second pass.
fn candidates(
    spec: &GroupSpec,
    local: &GroupLocal,
    board: &[Health],
    now: Millis,
    excluded: u64,
    required_tags: u64,
) -> Candidates {
    let scan = Scan {
        spec,
        board,
        now,
        excluded,
        required_tags,
    };
    match spec.strategy {
        Strategy::WeightedRandom | Strategy::RoundRobin | Strategy::LeastLatency => {
            scan.run::<false>(|_, _, _| Some(0.0))
        }
        Strategy::LeastInFlight => {
            scan.run::<true>(|i, _, _| Some(f64::from(local.members[i].in_flight)))
        }
        Strategy::LowestCost => scan.run::<true>(|_, m, _| Some(m.cost)),
        Strategy::UsageAware => {
            let at = WindowTime::new(now);
            scan.run::<true>(|_, m, h| usage(m, h, at))
        }
    }
}

struct Scan<'a> {
    spec: &'a GroupSpec,
    board: &'a [Health],
    now: Millis,
    excluded: u64,
    required_tags: u64,
}

impl Scan<'_> {
    /// `key`: the member's rank within its tier (lower wins; total order, NaN last), or
    /// None when the strategy finds it ineligible. Called only for members that pass
    /// the tried, tag, tier and health checks. `RANKED` false: every key ties (the
    /// unranked strategies skip the comparison).
    #[inline(always)]
    fn run<const RANKED: bool>(
        &self,
        mut key: impl FnMut(usize, &Member, &Health) -> Option<f64>,
    ) -> Candidates {
        let mut c = Candidates { mask: 0, weight: 0 };
        // Above every u8 priority, so the first eligible member sets the tier.
        let mut tier = u16::MAX;
        let mut best = 0.0f64;
        for (i, m) in self.spec.members.iter().enumerate() {
            let priority = u16::from(m.priority);
            // Cheap local checks first; a member above the best tier so far needs no loads.
            if self.excluded & bit(i) != 0
                || m.tags & self.required_tags != self.required_tags
                || priority > tier
            {
                continue;
            }
            let health = &self.board[m.health];
            if !health.eligible(self.now) {
                continue;
            }
            let Some(k) = key(i, m, health) else {
                continue;
            };
            let rank = if priority < tier {
                Ordering::Less
            } else if RANKED {
                k.total_cmp(&best)
            } else {
                Ordering::Equal
            };
            match rank {
                Ordering::Less => {
                    tier = priority;
                    best = k;
                    c = Candidates {
                        mask: bit(i),
                        weight: weight(m),
                    };
                }
                Ordering::Equal => {
                    c.mask |= bit(i);
                    c.weight += weight(m);
                }
                Ordering::Greater => {}
            }
        }
        c
    }
}

/// UsageAware's key: utilization max(rpm rate / rpm, tpm rate / tpm), an unknown limit
/// counting 0; None when at or over a known limit. One read of the shared window.
fn usage(m: &Member, health: &Health, at: WindowTime) -> Option<f64> {
    if m.rpm == 0 && m.tpm == 0 {
        return Some(0.0);
    }
    let (requests, tokens) = health.window.rate_at(at);
    let of = |rate: f64, limit: u32| {
        if limit == 0 {
            Some(0.0)
        } else {
            let limit = f64::from(limit);
            (rate < limit).then_some(rate / limit)
        }
    };
    Some(of(requests, m.rpm)?.max(of(tokens, m.tpm)?))
}

/// The strategy's choice among the candidates (non-empty; already narrowed to the lowest
/// key for the ranking strategies, which leaves a weighted draw to break ties).
fn choose(spec: &GroupSpec, local: &mut GroupLocal, rng: &mut Rng, c: Candidates) -> usize {
    debug_assert!(c.mask != 0);
    match spec.strategy {
        Strategy::RoundRobin => round_robin(local, spec.members.len(), c.mask),
        Strategy::LeastLatency => two_choices(spec, local, c, rng),
        Strategy::WeightedRandom
        | Strategy::LeastInFlight
        | Strategy::LowestCost
        | Strategy::UsageAware => weighted(spec, c, rng),
    }
}

/// The set bits of a mask, lowest first.
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let i = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(i)
    }
}

fn single(mask: u64) -> bool {
    mask & (mask - 1) == 0
}

/// A candidate at random in proportion to its weight (a weight of 0 counts as 1).
fn weighted(spec: &GroupSpec, c: Candidates, rng: &mut Rng) -> usize {
    if single(c.mask) {
        return c.mask.trailing_zeros() as usize;
    }
    let mut r = rng.below(c.weight);
    let mut last = 0;
    for i in Bits(c.mask) {
        let w = weight(&spec.members[i]);
        if r < w {
            return i;
        }
        r -= w;
        last = i;
    }
    debug_assert!(false, "weighted draw past the total");
    last
}

/// The first member of `mask` at or after the cursor, wrapping; the cursor moves past it.
fn round_robin(local: &mut GroupLocal, n: usize, mask: u64) -> usize {
    // INVARIANT: cursor < n <= 64, so the shift is in range.
    debug_assert!(local.cursor < n.max(1));
    let after = mask & (u64::MAX << local.cursor);
    let i = if after != 0 { after } else { mask }.trailing_zeros() as usize;
    local.cursor = if i + 1 >= n { 0 } else { i + 1 };
    i
}

/// Power of two choices on peak-EWMA cost.
fn two_choices(spec: &GroupSpec, local: &GroupLocal, c: Candidates, rng: &mut Rng) -> usize {
    let a = weighted(spec, c, rng);
    let rest = Candidates {
        mask: c.mask & !bit(a),
        weight: c.weight - weight(&spec.members[a]),
    };
    if rest.mask == 0 {
        return a;
    }
    let b = weighted(spec, rest, rng);
    let (ma, mb) = (&local.members[a], &local.members[b]);
    match ma
        .ttfb
        .cost(ma.in_flight)
        .total_cmp(&mb.ttfb.cost(mb.in_flight))
    {
        Ordering::Less => a,
        Ordering::Greater => b,
        Ordering::Equal if mb.in_flight < ma.in_flight => b,
        Ordering::Equal => a,
    }
}
