//! Routing: `engine::route::pick` for every strategy over groups of 2, 8 and 64 members.
//!
//! Run: `cargo bench -p sluice-bench --bench route -- --warm-up-time 1 --measurement-time 2`
//! (table in BENCHMARKS.md, "Routing"). Before criterion starts, the binary runs
//! 10,000 pick/started/finished cycles per strategy and size under a counting global
//! allocator and panics unless they allocate nothing (the requirement).
//!
//! - `pick/<strategy>/<n>`: one `pick` at a fixed time, everything closed and eligible.
//! - `cycle/<strategy>/<n>`: `pick` + `started` + `finished` (an EWMA sample, a breaker
//!   record, a rate-window add), the clock advancing 1 ms per cycle — the whole per-attempt
//!   cost of routing on one core with no contention.
//! - `naive/weighted-random/<n>`: the baseline, a pick that collects the eligible members
//!   into a fresh `Vec` and draws by weight from it (what routing costs written plainly).
//!
//! Members: weights 1 to 4, all in tier 0, rpm 1,000,000 and tpm 100,000,000 (so
//! usage-aware reads every window but never excludes), prices 1 to 5, TTFB samples of 1
//! to 4 ms. The target: under 200 ns per pick, no allocation.
//!
//! Results and the verdict against the target: BENCHMARKS.md, "Routing".

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use engine::route::{
    pick, BreakerConfig, Filter, GroupLocal, GroupSpec, Health, Member, Millis, Pick, Rng, Strategy,
};
use sluice_bench::allocations;

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

const SIZES: [usize; 3] = [2, 8, 64];
/// Cycles the allocation check runs per strategy and size.
const CHECK_CYCLES: u32 = 10_000;
const START: Millis = 1_000_000;

struct Group {
    spec: GroupSpec,
    local: GroupLocal,
    board: Vec<Health>,
    ttfb_us: Vec<u64>,
    rng: Rng,
    now: Millis,
}

impl Group {
    fn new(strategy: Strategy, n: usize) -> Group {
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                weight: 1 + (i % 4) as u32,
                priority: 0,
                tags: 0b1,
                rpm: 1_000_000,
                tpm: 100_000_000,
                cost: 1.0 + (i % 5) as f64,
                health: i,
            })
            .collect();
        let spec = GroupSpec {
            strategy,
            breaker: BreakerConfig::default(),
            members,
        };
        let mut g = Group {
            local: GroupLocal::new(&spec),
            board: (0..n).map(|_| Health::new()).collect(),
            ttfb_us: (0..n).map(|i| 1_000 + 500 * (i % 7) as u64).collect(),
            spec,
            rng: Rng::new(0x5eed),
            now: START,
        };
        // Every member observed once, so LeastLatency compares real costs.
        for i in 0..n {
            g.local.started(i);
            g.finish(Pick {
                member: i,
                probe: false,
            });
        }
        g
    }

    fn pick(&mut self) -> Option<Pick> {
        pick(
            &self.spec,
            &mut self.local,
            &self.board,
            self.now,
            &mut self.rng,
            Filter {
                tried: 0,
                required_tags: 0b1,
            },
        )
    }

    fn finish(&mut self, p: Pick) {
        let ttfb = self.ttfb_us[p.member];
        self.local.finished(
            &self.spec,
            &self.board,
            p.member,
            p.probe,
            self.now,
            Some(ttfb),
            true,
            500,
        );
    }

    /// One attempt's routing: pick, start, finish; the clock moves 1 ms.
    fn cycle(&mut self) {
        self.now += 1;
        let p = self.pick().expect("every member is eligible");
        self.local.started(p.member);
        self.finish(black_box(p));
    }
}

/// The baseline: eligible members collected into a Vec, then a weighted draw.
fn naive_weighted(spec: &GroupSpec, board: &[Health], now: Millis, rng: &mut Rng) -> usize {
    let eligible: Vec<&Member> = spec
        .members
        .iter()
        .filter(|m| board[m.health].eligible(now))
        .collect();
    let total: u64 = eligible.iter().map(|m| u64::from(m.weight)).sum();
    let mut r = rng.below(total);
    for m in &eligible {
        if r < u64::from(m.weight) {
            return m.health;
        }
        r -= u64::from(m.weight);
    }
    unreachable!("draw below the total weight")
}

fn check_allocations() {
    for strategy in Strategy::ALL {
        for n in SIZES {
            let mut g = Group::new(strategy, n);
            g.cycle();
            let count = allocations(|| {
                for _ in 0..CHECK_CYCLES {
                    g.cycle();
                }
            });
            assert!(
                count == 0,
                "{}/{n}: {count} allocations in {CHECK_CYCLES} cycles",
                strategy.as_str()
            );
            // The cycles really ran: every attempt finished (nothing left in flight) and
            // fed the latency EWMAs (and, usage-aware, the shared windows).
            assert!(g.local.members.iter().all(|m| m.in_flight == 0));
            assert!(g.local.members.iter().any(|m| m.ttfb.value_us() > 0.0));
            if strategy == Strategy::UsageAware {
                let requests: f64 = g.board.iter().map(|h| h.window.rate(g.now).0).sum();
                assert!(requests >= f64::from(CHECK_CYCLES), "{requests}");
            }
        }
    }
    let g = Group::new(Strategy::WeightedRandom, 8);
    let mut rng = Rng::new(1);
    let naive = allocations(|| {
        black_box(naive_weighted(&g.spec, &g.board, g.now, &mut rng));
    });
    println!(
        "route: {CHECK_CYCLES} pick/started/finished cycles per strategy and size (2, 8, 64) \
         allocate 0 times; naive/weighted-random: {naive} allocations per pick"
    );
}

fn bench_pick(c: &mut Criterion) {
    check_allocations();
    let mut g = c.benchmark_group("pick");
    for strategy in Strategy::ALL {
        for n in SIZES {
            let mut group = Group::new(strategy, n);
            g.bench_function(BenchmarkId::new(strategy.as_str(), n), |b| {
                b.iter(|| black_box(group.pick()))
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("cycle");
    for strategy in Strategy::ALL {
        for n in SIZES {
            let mut group = Group::new(strategy, n);
            g.bench_function(BenchmarkId::new(strategy.as_str(), n), |b| {
                b.iter(|| group.cycle())
            });
        }
    }
    g.finish();
    let mut g = c.benchmark_group("naive");
    for n in SIZES {
        let group = Group::new(Strategy::WeightedRandom, n);
        let mut rng = Rng::new(2);
        g.bench_function(BenchmarkId::new("weighted-random", n), |b| {
            b.iter(|| {
                black_box(naive_weighted(
                    &group.spec,
                    &group.board,
                    group.now,
                    &mut rng,
                ))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pick);
criterion_main!(benches);
