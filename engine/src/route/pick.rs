//! The pick: candidates as a bitmask, the lowest tier, the strategy, the breaker's admit.
//!
//! Every step is a pass over at most [`MEMBERS_MAX`] members with bit operations on a
//! `u64`; nothing is allocated and nothing shared is written except by `admit`'s
//! transitions and probe slots.

use std::cmp::Ordering;

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
        let mask = candidates(spec, board, now, excluded, filter.required_tags);
        if mask == 0 {
            return None;
        }
        let member = choose(spec, local, board, now, rng, mask);
        debug_assert!(mask & bit(member) != 0);
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

/// The eligible members of the lowest tier that has any, as a bitmask.
fn candidates(
    spec: &GroupSpec,
    board: &[Health],
    now: Millis,
    excluded: u64,
    required_tags: u64,
) -> u64 {
    let usage = spec.strategy == Strategy::UsageAware;
    let mut mask = 0u64;
    // Above every u8 priority, so the first eligible member sets the tier.
    let mut tier = u16::MAX;
    for (i, m) in spec.members.iter().enumerate() {
        let priority = u16::from(m.priority);
        // Cheap local checks first; a member above the best tier so far needs no loads.
        if excluded & bit(i) != 0 || m.tags & required_tags != required_tags || priority > tier {
            continue;
        }
        let health = &board[m.health];
        if !health.eligible(now) || (usage && !under_limits(m, health, now)) {
            continue;
        }
        if priority < tier {
            tier = priority;
            mask = bit(i);
        } else {
            mask |= bit(i);
        }
    }
    mask
}

/// Under both known provider limits at the shared window rate.
fn under_limits(m: &Member, health: &Health, now: Millis) -> bool {
    if m.rpm == 0 && m.tpm == 0 {
        return true;
    }
    let (requests, tokens) = health.window.rate(now);
    (m.rpm == 0 || requests < f64::from(m.rpm)) && (m.tpm == 0 || tokens < f64::from(m.tpm))
}

/// max(rpm rate / rpm, tpm rate / tpm), an unknown limit counting 0.
fn utilization(m: &Member, health: &Health, now: Millis) -> f64 {
    if m.rpm == 0 && m.tpm == 0 {
        return 0.0;
    }
    let (requests, tokens) = health.window.rate(now);
    let of = |rate: f64, limit: u32| {
        if limit == 0 {
            0.0
        } else {
            rate / f64::from(limit)
        }
    };
    of(requests, m.rpm).max(of(tokens, m.tpm))
}

/// The strategy's choice among `mask` (non-empty).
fn choose(
    spec: &GroupSpec,
    local: &mut GroupLocal,
    board: &[Health],
    now: Millis,
    rng: &mut Rng,
    mask: u64,
) -> usize {
    debug_assert!(mask != 0);
    match spec.strategy {
        Strategy::WeightedRandom => weighted(spec, mask, rng),
        Strategy::RoundRobin => round_robin(local, spec.members.len(), mask),
        Strategy::LeastInFlight => {
            let least = argmin(mask, |i| f64::from(local.members[i].in_flight));
            weighted(spec, least, rng)
        }
        Strategy::LeastLatency => two_choices(spec, local, mask, rng),
        Strategy::LowestCost => weighted(spec, argmin(mask, |i| spec.members[i].cost), rng),
        Strategy::UsageAware => {
            let least = argmin(mask, |i| {
                let m = &spec.members[i];
                utilization(m, &board[m.health], now)
            });
            weighted(spec, least, rng)
        }
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

/// A member of `mask` at random in proportion to its weight (a weight of 0 counts as 1).
fn weighted(spec: &GroupSpec, mask: u64, rng: &mut Rng) -> usize {
    if single(mask) {
        return mask.trailing_zeros() as usize;
    }
    let weight = |i: usize| u64::from(spec.members[i].weight.max(1));
    let total: u64 = Bits(mask).map(weight).sum();
    let mut r = rng.below(total);
    let mut last = 0;
    for i in Bits(mask) {
        let w = weight(i);
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

/// The members of `mask` with the smallest key (total order: NaN sorts last).
fn argmin(mask: u64, mut key: impl FnMut(usize) -> f64) -> u64 {
    if single(mask) {
        return mask;
    }
    let mut best = f64::INFINITY;
    let mut set = 0u64;
    for i in Bits(mask) {
        let k = key(i);
        match if set == 0 {
            Ordering::Less
        } else {
            k.total_cmp(&best)
        } {
            Ordering::Less => {
                best = k;
                set = bit(i);
            }
            Ordering::Equal => set |= bit(i),
            Ordering::Greater => {}
        }
    }
    set
}

/// Power of two choices on peak-EWMA cost.
fn two_choices(spec: &GroupSpec, local: &GroupLocal, mask: u64, rng: &mut Rng) -> usize {
    let a = weighted(spec, mask, rng);
    let rest = mask & !bit(a);
    if rest == 0 {
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
