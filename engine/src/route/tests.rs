//! Pick tests: each strategy, tiers, tags, the admit race, and the finished bookkeeping,
//! all from injected times and seeded generators.

use std::sync::atomic::Ordering;

use super::*;

fn member(weight: u32, priority: u8) -> Member {
    Member {
        weight,
        priority,
        tags: 0,
        rpm: 0,
        tpm: 0,
        cost: f64::INFINITY,
        health: 0,
    }
}

/// A group whose member i uses board slot i.
fn group(strategy: Strategy, mut members: Vec<Member>) -> (GroupSpec, GroupLocal, Vec<Health>) {
    for (i, m) in members.iter_mut().enumerate() {
        m.health = i;
    }
    let board = (0..members.len()).map(|_| Health::new()).collect();
    let spec = GroupSpec {
        strategy,
        breaker: BreakerConfig {
            consecutive_failures: 2,
            cooldown_ms: 1_000,
            ..BreakerConfig::default()
        },
        members,
    };
    let local = GroupLocal::new(&spec);
    (spec, local, board)
}

fn equal(strategy: Strategy, n: usize) -> (GroupSpec, GroupLocal, Vec<Health>) {
    group(strategy, (0..n).map(|_| member(1, 0)).collect())
}

/// How often each member is picked in `n` picks (each finished at once as a success).
fn shares(
    spec: &GroupSpec,
    local: &mut GroupLocal,
    board: &[Health],
    rng: &mut Rng,
    filter: Filter,
    n: u32,
) -> Vec<f64> {
    let mut counts = vec![0u32; spec.members.len()];
    for _ in 0..n {
        let p = pick(spec, local, board, 0, rng, filter).expect("a member");
        counts[p.member] += 1;
    }
    counts
        .iter()
        .map(|&c| f64::from(c) / f64::from(n))
        .collect()
}

fn pick_now(
    spec: &GroupSpec,
    local: &mut GroupLocal,
    board: &[Health],
    now: Millis,
    rng: &mut Rng,
) -> Option<Pick> {
    pick(spec, local, board, now, rng, Filter::default())
}

#[test]
fn strategy_names_round_trip() {
    for s in Strategy::ALL {
        assert_eq!(Strategy::parse(s.as_str()), Some(s));
    }
    assert_eq!(Strategy::parse("weighted"), Some(Strategy::WeightedRandom));
    assert_eq!(Strategy::parse("least-in-flight"), None);
    assert_eq!(Strategy::parse(""), None);
}

#[test]
fn health_fills_exactly_one_cache_line() {
    assert_eq!(std::mem::align_of::<Health>(), 64);
    assert_eq!(std::mem::size_of::<Health>(), 64);
    let board: Vec<Health> = (0..2).map(|_| Health::new()).collect();
    let gap = &board[1] as *const Health as usize - &board[0] as *const Health as usize;
    assert_eq!(gap, 64);
}

#[test]
#[should_panic(expected = "at most 64 members")]
fn groups_above_members_max_are_refused() {
    equal(Strategy::RoundRobin, MEMBERS_MAX + 1);
}

#[test]
fn weighted_random_follows_weights() {
    let (spec, mut local, board) = group(
        Strategy::WeightedRandom,
        vec![member(1, 0), member(2, 0), member(7, 0)],
    );
    let mut rng = Rng::new(42);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        100_000,
    );
    for (got, want) in s.iter().zip([0.1, 0.2, 0.7]) {
        assert!((got - want).abs() <= 0.015, "{s:?}");
    }
}

#[test]
fn round_robin_cycles_in_order_and_skips_the_ineligible() {
    let (spec, mut local, board) = equal(Strategy::RoundRobin, 4);
    let mut rng = Rng::new(1);
    let mut next = |local: &mut GroupLocal, tried: u64| {
        let filter = Filter {
            tried,
            required_tags: 0,
        };
        pick(&spec, local, &board, 0, &mut rng, filter).map(|p| p.member)
    };
    let seq: Vec<_> = (0..6).map(|_| next(&mut local, 0).unwrap()).collect();
    assert_eq!(seq, [0, 1, 2, 3, 0, 1]);
    // Member 2 already tried by the request: the cursor (at 2) moves on to 3.
    let seq: Vec<_> = (0..4).map(|_| next(&mut local, 1 << 2).unwrap()).collect();
    assert_eq!(seq, [3, 0, 1, 3]);
    // Member 0 down by health check: skipped; the cycle keeps its order.
    board[0].probe_down.store(true, Ordering::Relaxed);
    let seq: Vec<_> = (0..4).map(|_| next(&mut local, 0).unwrap()).collect();
    assert_eq!(seq, [1, 2, 3, 1]);
    // Everything tried or down: nothing.
    assert_eq!(next(&mut local, 0b1110), None);
}

#[test]
fn least_in_flight_prefers_the_least_busy() {
    let (spec, mut local, board) = equal(Strategy::LeastInFlight, 3);
    let mut rng = Rng::new(5);
    local.started(0);
    local.started(0);
    local.started(1);
    for _ in 0..1_000 {
        assert_eq!(
            pick_now(&spec, &mut local, &board, 0, &mut rng)
                .unwrap()
                .member,
            2
        );
    }
    local.started(2);
    local.started(2);
    for _ in 0..1_000 {
        assert_eq!(
            pick_now(&spec, &mut local, &board, 0, &mut rng)
                .unwrap()
                .member,
            1
        );
    }
    // All equal: ties split by weight.
    local.started(1);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        30_000,
    );
    for got in &s {
        assert!((got - 1.0 / 3.0).abs() < 0.02, "{s:?}");
    }
}

/// Observes `ttfb_us` for `member` through a successful attempt.
fn observe(spec: &GroupSpec, local: &mut GroupLocal, board: &[Health], member: usize, us: u64) {
    local.started(member);
    local.finished(spec, board, member, false, 0, Some(us), true, 0);
}

#[test]
fn least_latency_with_two_members_always_takes_the_faster() {
    let (spec, mut local, board) = equal(Strategy::LeastLatency, 2);
    observe(&spec, &mut local, &board, 0, 50_000);
    observe(&spec, &mut local, &board, 1, 5_000);
    let mut rng = Rng::new(9);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        10_000,
    );
    assert_eq!(s, [0.0, 1.0]);
    // Busy enough, the fast one costs more: 5 ms × 11 > 50 ms × 1.
    for _ in 0..10 {
        local.started(1);
    }
    assert_eq!(
        pick_now(&spec, &mut local, &board, 0, &mut rng)
            .unwrap()
            .member,
        0
    );
}

#[test]
fn least_latency_with_three_members_prefers_the_fastest_when_sampled() {
    let (spec, mut local, board) = equal(Strategy::LeastLatency, 3);
    observe(&spec, &mut local, &board, 0, 50_000);
    observe(&spec, &mut local, &board, 1, 5_000);
    observe(&spec, &mut local, &board, 2, 50_000);
    let mut rng = Rng::new(11);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        30_000,
    );
    // The fast one is in 2 of the 3 equally likely pairs; the slow pair splits evenly.
    assert!((s[1] - 2.0 / 3.0).abs() < 0.015, "{s:?}");
    assert!((s[0] - 1.0 / 6.0).abs() < 0.015, "{s:?}");
    assert!((s[2] - 1.0 / 6.0).abs() < 0.015, "{s:?}");
}

#[test]
fn least_latency_tries_an_unobserved_member_whenever_sampled() {
    let (spec, mut local, board) = equal(Strategy::LeastLatency, 3);
    observe(&spec, &mut local, &board, 0, 1_000);
    observe(&spec, &mut local, &board, 1, 1_000);
    let mut rng = Rng::new(12);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        30_000,
    );
    assert!((s[2] - 2.0 / 3.0).abs() < 0.015, "{s:?}");
}

#[test]
fn lowest_cost_takes_the_cheapest_and_splits_ties() {
    let costs = [3.0, 1.0, 1.0, f64::INFINITY];
    let members = costs
        .iter()
        .map(|&cost| Member {
            cost,
            ..member(1, 0)
        })
        .collect();
    let (spec, mut local, board) = group(Strategy::LowestCost, members);
    let mut rng = Rng::new(3);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        20_000,
    );
    assert_eq!((s[0], s[3]), (0.0, 0.0), "{s:?}");
    assert!((s[1] - 0.5).abs() < 0.02, "{s:?}");
    // The cheap ones tried: the next cheapest, and unknown prices come last.
    let filter = Filter {
        tried: 0b0110,
        required_tags: 0,
    };
    let p = pick(&spec, &mut local, &board, 0, &mut rng, filter).unwrap();
    assert_eq!(p.member, 0);
    let filter = Filter {
        tried: 0b0111,
        required_tags: 0,
    };
    let p = pick(&spec, &mut local, &board, 0, &mut rng, filter).unwrap();
    assert_eq!(p.member, 3);
}

#[test]
fn usage_aware_avoids_the_member_at_its_limit_and_prefers_the_less_used() {
    let limited = |rpm, tpm| Member {
        rpm,
        tpm,
        ..member(1, 0)
    };
    let (spec, mut local, board) = group(
        Strategy::UsageAware,
        vec![limited(100, 0), limited(100, 10_000), limited(0, 0)],
    );
    let mut rng = Rng::new(4);
    let now = 30_000;
    // Member 2 has no known limits: utilization 0, always preferred while eligible.
    board[0].window.add(now, 10, 0);
    board[1].window.add(now, 5, 5_000);
    assert_eq!(
        pick_now(&spec, &mut local, &board, now, &mut rng)
            .unwrap()
            .member,
        2
    );
    // Without it: member 0 at 10% of rpm beats member 1 at 50% of tpm.
    let tried = Filter {
        tried: 0b100,
        required_tags: 0,
    };
    for _ in 0..100 {
        assert_eq!(
            pick(&spec, &mut local, &board, now, &mut rng, tried)
                .unwrap()
                .member,
            0
        );
    }
    // Member 0 reaches its rpm: excluded outright, though member 1 is busier than it was.
    board[0].window.add(now, 90, 0);
    board[1].window.add(now, 0, 4_000);
    for _ in 0..100 {
        assert_eq!(
            pick(&spec, &mut local, &board, now, &mut rng, tried)
                .unwrap()
                .member,
            1
        );
    }
    // Member 1 at its tpm too: nothing under its limits.
    board[1].window.add(now, 0, 1_000);
    assert_eq!(pick(&spec, &mut local, &board, now, &mut rng, tried), None);
    // Rates slide: three quarters into the next minute a quarter of it remains, so both
    // are eligible again at 25% (25 of 100 rpm; 2,500 of 10,000 tpm) and split evenly.
    let later = 60_000 + 45_000;
    let mut zero = 0;
    for _ in 0..4_000 {
        zero += usize::from(
            pick(&spec, &mut local, &board, later, &mut rng, tried)
                .unwrap()
                .member
                == 0,
        );
    }
    assert!((1_800..2_200).contains(&zero), "{zero}");
}

#[test]
fn usage_aware_splits_equal_utilization() {
    let limited = Member {
        rpm: 1_000,
        ..member(1, 0)
    };
    let (spec, mut local, board) = group(Strategy::UsageAware, vec![limited.clone(), limited]);
    board[0].window.add(0, 100, 0);
    board[1].window.add(0, 100, 0);
    let mut rng = Rng::new(8);
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        10_000,
    );
    assert!((s[0] - 0.5).abs() < 0.03, "{s:?}");
}

#[test]
fn priority_tiers_fail_over_and_come_back_after_a_probe() {
    let (spec, mut local, board) = group(
        Strategy::WeightedRandom,
        vec![member(1, 0), member(1, 0), member(100, 1)],
    );
    let mut rng = Rng::new(6);
    // Tier 0 only, despite tier 1's weight.
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        2_000,
    );
    assert_eq!(s[2], 0.0, "{s:?}");
    assert!(s[0] > 0.4 && s[1] > 0.4, "{s:?}");
    // Two consecutive failures open each tier-0 breaker.
    for m in [0, 1] {
        for _ in 0..2 {
            local.started(m);
            local.finished(&spec, &board, m, false, 100, None, false, 0);
        }
        assert_eq!(board[m].breaker.state(100), BreakerState::Open);
    }
    for _ in 0..100 {
        let p = pick_now(&spec, &mut local, &board, 500, &mut rng).unwrap();
        assert_eq!(
            p,
            Pick {
                member: 2,
                probe: false
            }
        );
    }
    // After the cooldown a tier-0 member is available again; the pick is a probe.
    let p = pick_now(&spec, &mut local, &board, 1_100, &mut rng).unwrap();
    assert!(p.member < 2 && p.probe, "{p:?}");
    // While that probe is out, the other tier-0 member gets the next probe...
    let q = pick_now(&spec, &mut local, &board, 1_100, &mut rng).unwrap();
    assert_eq!(
        q,
        Pick {
            member: 1 - p.member,
            probe: true
        }
    );
    // ...and with both probe slots taken, tier 1 serves.
    let r = pick_now(&spec, &mut local, &board, 1_100, &mut rng).unwrap();
    assert_eq!(
        r,
        Pick {
            member: 2,
            probe: false
        }
    );
    // The probes succeed: tier 0 is closed and takes all traffic again.
    for x in [p, q] {
        local.started(x.member);
        local.finished(
            &spec,
            &board,
            x.member,
            x.probe,
            1_200,
            Some(1_000),
            true,
            0,
        );
        assert_eq!(board[x.member].breaker.state(1_200), BreakerState::Closed);
    }
    let s = shares(
        &spec,
        &mut local,
        &board,
        &mut rng,
        Filter::default(),
        2_000,
    );
    assert_eq!(s[2], 0.0, "{s:?}");
}

#[test]
fn a_failed_probe_keeps_the_tier_down() {
    let (spec, mut local, board) = group(Strategy::RoundRobin, vec![member(1, 0), member(1, 1)]);
    let mut rng = Rng::new(2);
    board[0].breaker.trip(0, 1_000);
    assert_eq!(
        pick_now(&spec, &mut local, &board, 10, &mut rng)
            .unwrap()
            .member,
        1
    );
    let p = pick_now(&spec, &mut local, &board, 1_000, &mut rng).unwrap();
    assert_eq!(
        p,
        Pick {
            member: 0,
            probe: true
        }
    );
    local.started(0);
    local.finished(&spec, &board, 0, true, 1_050, None, false, 0);
    assert_eq!(board[0].breaker.open_until(), Some(2_050));
    assert_eq!(
        pick_now(&spec, &mut local, &board, 2_000, &mut rng)
            .unwrap()
            .member,
        1
    );
    assert_eq!(board[0].breaker.probes_in_flight(), 0);
}

#[test]
fn required_tags_filter_members() {
    let tagged = |tags| Member {
        tags,
        ..member(1, 0)
    };
    let (spec, mut local, board) = group(
        Strategy::WeightedRandom,
        vec![tagged(0b01), tagged(0b11), tagged(0b10)],
    );
    let mut rng = Rng::new(7);
    let with = |required_tags| Filter {
        tried: 0,
        required_tags,
    };
    let s = shares(&spec, &mut local, &board, &mut rng, with(0b01), 4_000);
    assert!(s[0] > 0.4 && s[1] > 0.4 && s[2] == 0.0, "{s:?}");
    let s = shares(&spec, &mut local, &board, &mut rng, with(0b11), 1_000);
    assert_eq!(s, [0.0, 1.0, 0.0]);
    assert_eq!(
        pick(&spec, &mut local, &board, 0, &mut rng, with(0b100)),
        None
    );
    // Tags decide before tiers: a lower tier lacking the tag does not hide a higher one.
    let (spec, mut local, board) = group(
        Strategy::WeightedRandom,
        vec![
            tagged(0b01),
            Member {
                priority: 1,
                ..tagged(0b10)
            },
        ],
    );
    let p = pick(&spec, &mut local, &board, 0, &mut rng, with(0b10)).unwrap();
    assert_eq!(p.member, 1);
}

#[test]
fn an_admit_lost_to_another_core_excludes_that_member_and_repeats() {
    let (spec, mut local, board) = group(
        Strategy::WeightedRandom,
        vec![member(1_000, 0), member(1, 0), member(1, 1)],
    );
    // Member 0 half-open with a probe out, its limit last set at 2 (by another core's
    // config): it looks available, but this group's config allows one probe, so admit
    // says No every time.
    let two = BreakerConfig {
        half_open_probes: 2,
        ..spec.breaker
    };
    board[0].breaker.trip(0, 10);
    assert_eq!(board[0].breaker.admit(&two, 10), Admit::Probe);
    assert!(board[0].eligible(10));
    let mut rng = Rng::new(10);
    for _ in 0..200 {
        let p = pick_now(&spec, &mut local, &board, 10, &mut rng).unwrap();
        assert_eq!(
            p,
            Pick {
                member: 1,
                probe: false
            }
        );
    }
    // With member 1 tried as well, the repeat falls through to tier 1.
    let filter = Filter {
        tried: 0b10,
        required_tags: 0,
    };
    let p = pick(&spec, &mut local, &board, 10, &mut rng, filter).unwrap();
    assert_eq!(p.member, 2);
}

#[test]
fn nothing_eligible_is_none() {
    let (spec, mut local, board) = equal(Strategy::LeastLatency, 3);
    let mut rng = Rng::new(1);
    let all = Filter {
        tried: 0b111,
        required_tags: 0,
    };
    assert_eq!(pick(&spec, &mut local, &board, 0, &mut rng, all), None);
    for h in &board {
        h.breaker.trip(0, 100);
    }
    assert_eq!(pick_now(&spec, &mut local, &board, 99, &mut rng), None);
    let (spec, mut local, board) = equal(Strategy::WeightedRandom, 0);
    assert_eq!(pick_now(&spec, &mut local, &board, 0, &mut rng), None);
}

#[test]
fn finished_keeps_the_books() {
    let (spec, mut local, board) = equal(Strategy::UsageAware, 2);
    local.started(1);
    local.started(1);
    local.finished(&spec, &board, 1, false, 5_000, Some(7_000), true, 300);
    let m = local.members[1];
    assert_eq!(m.in_flight, 1);
    assert_eq!(m.ttfb.value_us(), 7_000.0);
    assert_eq!(board[1].window.rate(5_000), (1.0, 300.0));
    // No head: no TTFB sample; in_flight never goes below 0; failures count.
    local.finished(&spec, &board, 1, false, 6_000, None, false, 0);
    local.finished(&spec, &board, 1, false, 6_000, None, false, 0);
    let m = local.members[1];
    assert_eq!(m.in_flight, 0);
    assert_eq!(m.ttfb.value_us(), 7_000.0);
    assert_eq!(board[1].window.rate(6_000), (3.0, 300.0));
    // consecutive_failures is 2: the two failures opened the breaker.
    assert_eq!(board[1].breaker.state(6_000), BreakerState::Open);
    assert_eq!(local.members[0].in_flight, 0);
}

#[test]
fn only_usage_aware_groups_feed_the_shared_window() {
    for (strategy, want) in [
        (Strategy::UsageAware, (1.0, 40.0)),
        (Strategy::RoundRobin, (0.0, 0.0)),
    ] {
        let (spec, mut local, board) = equal(strategy, 2);
        local.started(0);
        local.finished(&spec, &board, 0, false, 5_000, Some(1_000), true, 40);
        assert_eq!(board[0].window.rate(5_000), want, "{strategy:?}");
    }
}
