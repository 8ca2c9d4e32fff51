//! The routing core: which deployment of a model group serves the next attempt.
//!
//! Pure: no I/O, no clock reads (time is the caller's [`Millis`]), no randomness of its
//! own (the caller's [`Rng`]), and no allocation per pick. Config builds a [`GroupSpec`]
//! per group and one [`Health`] per deployment; each worker builds a [`GroupLocal`] per
//! group; the connection loop calls [`pick`], then [`GroupLocal::started`] and
//! [`GroupLocal::finished`] for each attempt.
//!
//! The model, by who owns what:
//! - **Process-wide, per deployment** ([`Health`], one 64-byte-aligned slot per
//!   deployment in a shared board, atomics only): the circuit breaker's state
//!   ([`SharedBreaker`]: Closed / Open until a deadline / HalfOpen with bounded probes),
//!   the request and token rate per minute ([`RateWindow`], for usage-aware routing), and
//!   the active health check's verdict (`probe_down`). One core seeing a deployment fail
//!   opens its breaker for every core at once.
//! - **Per core, per deployment** ([`MemberLocal`], owned by one worker): requests in
//!   flight from this core, the peak EWMA of time to first byte ([`PeakEwma`]), and the
//!   breaker's evidence ([`BreakerCounts`]: consecutive failures, the failure ratio in a
//!   fixed window). Counting never writes shared memory; only transitions do.
//! - **Per core, per group**: the round-robin cursor.
//!
//! A pick considers the members not yet tried by this request ([`Filter::tried`], a
//! `u64` bitmask: a group holds at most [`MEMBERS_MAX`] members) that carry every
//! required tag ([`Filter::required_tags`] ⊆ [`Member::tags`], bitmasks of tag ids),
//! whose `Health` is eligible, and, for [`Strategy::UsageAware`], whose rates are under
//! their known rpm and tpm. Of those only the lowest priority tier is used, so tier 1
//! takes traffic only while no tier-0 member can; the strategy then chooses within the
//! tier, and the breaker admits (or, after losing a race with another core, excludes that
//! member and the pick repeats).
//!
//! Performance: the target is under 200 ns per pick with no allocation. Measured
//! by `bench/benches/route.rs`, which first checks that 10,000 pick/started/finished
//! cycles allocate nothing:
//! `cargo bench -p sluice-bench --bench route -- --warm-up-time 1 --measurement-time 2`.
//! Latest run (2-core dev VM, criterion medians; the full table is in the bench file):
//! every strategy picks in 9–21 ns at 2 members and 22–67 ns at 8; at 64 members the one
//! pass over the members' shared `Health` lines dominates — 162 ns round robin, ~200 ns
//! weighted random and lowest cost, ~245 ns least in-flight and least latency, 434 ns
//! usage-aware (a rate-window read and two divisions per member). A naive pick that
//! collects candidates into a `Vec` costs 20/55/242 ns and allocates twice.

use std::sync::atomic::{AtomicBool, Ordering};

mod breaker;
mod ewma;
mod pick;
mod rng;
mod window;

pub use breaker::{Admit, BreakerConfig, BreakerCounts, BreakerState, SharedBreaker};
pub use ewma::PeakEwma;
pub use pick::pick;
pub use rng::Rng;
pub use window::{RateWindow, WINDOW_MS};

/// Milliseconds since an epoch the caller chooses; every time routing sees is injected.
/// Breaker deadlines keep 48 bits of it (8,900 years), so any monotonic epoch fits.
pub type Millis = u64;

/// How a group chooses among its eligible members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// At random, in proportion to `weight`.
    WeightedRandom,
    /// In member order, per core, skipping the ineligible.
    RoundRobin,
    /// Fewest requests in flight from this core; ties by weighted random.
    LeastInFlight,
    /// Power of two choices on peak-EWMA TTFB × (in flight + 1).
    LeastLatency,
    /// Lowest `cost` (price); ties by weighted random.
    LowestCost,
    /// Lowest utilization of the provider's rpm/tpm limits; ties by weighted random.
    UsageAware,
}

impl Strategy {
    /// Every strategy, in declaration order (for config errors and benches).
    pub const ALL: [Strategy; 6] = [
        Strategy::WeightedRandom,
        Strategy::RoundRobin,
        Strategy::LeastInFlight,
        Strategy::LeastLatency,
        Strategy::LowestCost,
        Strategy::UsageAware,
    ];

    /// The config spelling: "weighted-random" (also "weighted"), "round-robin",
    /// "least-inflight", "least-latency", "lowest-cost", "usage-aware".
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s {
            "weighted-random" | "weighted" => Strategy::WeightedRandom,
            "round-robin" => Strategy::RoundRobin,
            "least-inflight" => Strategy::LeastInFlight,
            "least-latency" => Strategy::LeastLatency,
            "lowest-cost" => Strategy::LowestCost,
            "usage-aware" => Strategy::UsageAware,
            _ => return None,
        })
    }

    /// The canonical config spelling; `parse(as_str(s)) == Some(s)`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::WeightedRandom => "weighted-random",
            Strategy::RoundRobin => "round-robin",
            Strategy::LeastInFlight => "least-inflight",
            Strategy::LeastLatency => "least-latency",
            Strategy::LowestCost => "lowest-cost",
            Strategy::UsageAware => "usage-aware",
        }
    }
}

/// The most deployments one group may hold: tried-sets and candidate sets are `u64`
/// bitmasks. Config rejects larger groups; [`GroupLocal::new`] asserts it.
pub const MEMBERS_MAX: usize = 64;
const _: () = assert!(MEMBERS_MAX == u64::BITS as usize);

/// One deployment as a member of a group (immutable, from the config snapshot).
#[derive(Clone, Debug)]
pub struct Member {
    /// Share of traffic for weighted choices and ties (>= 1).
    pub weight: u32,
    /// Tier: the lowest tier with an eligible member is used.
    pub priority: u8,
    /// Bitmask of the tag ids this deployment carries.
    pub tags: u64,
    /// The provider's requests-per-minute limit, 0 = unknown.
    pub rpm: u32,
    /// The provider's tokens-per-minute limit, 0 = unknown.
    pub tpm: u32,
    /// Price for LowestCost (USD per 1M tokens, blended); `f64::INFINITY` when unknown.
    pub cost: f64,
    /// Index of this deployment's [`Health`] in the shared board.
    pub health: usize,
}

/// A model group: its strategy, its breaker settings, its members (at most
/// [`MEMBERS_MAX`]; indexes into `members` are the member ids of [`Pick`] and [`Filter`]).
#[derive(Clone, Debug)]
pub struct GroupSpec {
    /// How the pick chooses within the lowest eligible tier.
    pub strategy: Strategy,
    /// Breaker settings for this group's deployments (passed to admit and record).
    pub breaker: BreakerConfig,
    /// The deployments; a member's index is its id in picks and tried-masks.
    pub members: Vec<Member>,
}

/// Shared, process-wide state of one deployment (one per deployment in an
/// `Arc<[Health]>`, shared by every group that uses it; each group keeps its own per-core
/// [`BreakerCounts`], and drives the shared breaker with its own [`BreakerConfig`]).
/// Aligned to 64 bytes so two deployments never share a cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Health {
    /// The circuit breaker (passive health).
    pub breaker: SharedBreaker,
    /// Requests and tokens per minute, for usage-aware routing.
    pub window: RateWindow,
    /// Set by active health checks: the deployment takes no traffic while true.
    pub probe_down: AtomicBool,
}
const _: () = assert!(std::mem::size_of::<Health>() == 64);

impl Health {
    /// A healthy deployment: breaker closed, no traffic counted.
    pub const fn new() -> Health {
        Health {
            breaker: SharedBreaker::new(),
            window: RateWindow::new(),
            probe_down: AtomicBool::new(false),
        }
    }

    /// Whether pick may consider it: not marked down by a health check, and its breaker
    /// [`available`](SharedBreaker::available).
    pub fn eligible(&self, now: Millis) -> bool {
        !self.probe_down.load(Ordering::Relaxed) && self.breaker.available(now)
    }
}

/// Per-core state of one group (owned by one worker; rebuilt when the snapshot changes).
#[derive(Clone, Debug)]
pub struct GroupLocal {
    /// One per member of the spec, same order.
    pub members: Vec<MemberLocal>,
    /// Round robin: the member index the next search starts at. INVARIANT: < members.len()
    /// (or 0 for an empty group).
    cursor: usize,
}

/// Per-core state of one deployment within one group.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemberLocal {
    /// Attempts from this core that have started and not finished.
    pub in_flight: u32,
    /// Time to first byte as seen from this core.
    pub ttfb: PeakEwma,
    /// This core's breaker evidence for the deployment.
    pub counts: BreakerCounts,
}

impl GroupLocal {
    /// Fresh per-core state for `spec` (nothing in flight, nothing observed).
    pub fn new(spec: &GroupSpec) -> GroupLocal {
        assert!(
            spec.members.len() <= MEMBERS_MAX,
            "a group holds at most {MEMBERS_MAX} members"
        );
        GroupLocal {
            members: vec![MemberLocal::default(); spec.members.len()],
            cursor: 0,
        }
    }

    /// An attempt on `member` starts (after [`pick`]): in_flight += 1.
    pub fn started(&mut self, member: usize) {
        let m = &mut self.members[member];
        m.in_flight = m.in_flight.saturating_add(1);
    }

    /// An attempt on `member` ended. `probe` is the pick's; `ttfb_us` is Some when a
    /// response head arrived; `ok` says whether it counts as a success for the breaker
    /// (the caller decides: 5xx, 429, connect errors and timeouts are failures);
    /// `tokens` are the attempt's total tokens. Decrements in_flight (saturating),
    /// observes the TTFB, records into the breaker, and (usage-aware groups) adds one
    /// request and the tokens to the deployment's shared rate window. Every `Pick` with `probe: true` must reach
    /// here exactly once (see [`Admit::Probe`]).
    #[allow(clippy::too_many_arguments)] // The interface the connection loop codes against.
    pub fn finished(
        &mut self,
        spec: &GroupSpec,
        board: &[Health],
        member: usize,
        probe: bool,
        now: Millis,
        ttfb_us: Option<u64>,
        ok: bool,
        tokens: u64,
    ) {
        let m = &mut self.members[member];
        m.in_flight = m.in_flight.saturating_sub(1);
        if let Some(t) = ttfb_us {
            m.ttfb.observe(now, t);
        }
        let health = &board[spec.members[member].health];
        health
            .breaker
            .record(&spec.breaker, &mut m.counts, now, ok, probe);
        // Only usage-aware routing reads the window: other groups skip two shared
        // read-modify-writes per request (a cache line every core would bounce).
        if spec.strategy == Strategy::UsageAware {
            health.window.add(now, 1, tokens);
        }
    }
}

/// The outcome of a pick: which member, and whether the attempt is a half-open probe
/// (then `finished` must be called with `probe: true`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    /// Index into [`GroupSpec::members`].
    pub member: usize,
    /// The breaker admitted it as a half-open probe.
    pub probe: bool,
}

/// What may be picked: members not yet tried by this request (bit i = member i), carrying
/// all required tags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    /// Members this request already tried (bit i = member i); never picked again.
    pub tried: u64,
    /// Tag ids every picked member must carry ([`Member::tags`] ⊇ this).
    pub required_tags: u64,
}

#[cfg(test)]
mod tests;
