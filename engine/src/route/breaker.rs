//! The circuit breaker: process-wide state, per-core counting.
//!
//! One [`SharedBreaker`] per deployment is shared by every worker through atomics, so a
//! deployment one core has seen fail is avoided by all cores at once. The evidence that
//! trips it — consecutive failures and the failure ratio in a fixed window — is counted
//! per core in [`BreakerCounts`], owned by one worker: counting never writes shared
//! memory, and the shared word is written only on transitions and probe accounting.
//!
//! States: `Closed` (all traffic) → `Open` until a deadline (no traffic) → `HalfOpen` (at
//! most `half_open_probes` requests in flight, each a probe) → `Closed` on a probe's
//! success, or `Open` again on its failure.
//!
//! Each time the breaker closes, a generation number in the shared word advances; a core's
//! counts from an earlier generation are discarded on its next record, so evidence from
//! before an outage never trips the breaker again after recovery.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::Millis;

/// How a deployment's breaker trips and recovers. Built by config; the same for every core.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Open after this many consecutive failures seen by one core (0 = off).
    pub consecutive_failures: u32,
    /// Open when failed/total in one core's current window is at least this (0.0 = off)...
    pub failure_ratio: f64,
    /// ...and that window holds at least this many requests.
    pub min_requests: u32,
    /// Length of the fixed window the ratio is computed over (per core).
    pub window_ms: u64,
    /// How long Open lasts before a probe may be sent (HalfOpen).
    pub cooldown_ms: u64,
    /// Probe requests allowed in flight at once in HalfOpen (values below 1 count as 1).
    pub half_open_probes: u32,
}

impl Default for BreakerConfig {
    /// 5 consecutive failures, or ≥ 50% failed of ≥ 20 requests in 10 s; open for 30 s;
    /// one probe at a time.
    fn default() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 5,
            failure_ratio: 0.5,
            min_requests: 20,
            window_ms: 10_000,
            cooldown_ms: 30_000,
            half_open_probes: 1,
        }
    }
}

/// The shared state as reported by [`SharedBreaker::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// All requests pass.
    Closed,
    /// No request passes until the deadline; the first admit after it moves to HalfOpen.
    Open,
    /// Only probes pass, at most `half_open_probes` at once.
    HalfOpen,
}

/// The answer of [`SharedBreaker::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Closed: send it.
    Yes,
    /// Send it as a probe. INVARIANT: every `Probe` is followed by exactly one
    /// [`SharedBreaker::record`] with `probe: true` (a timeout or cancellation records a
    /// failure), or the probe slot leaks and the breaker can stay half-open for good.
    Probe,
    /// Do not send it (open, or every probe slot taken).
    No,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const TAG_MASK: u64 = 0b11;
const GEN_SHIFT: u32 = 2;
const GEN_BITS: u32 = 14;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const UNTIL_SHIFT: u32 = GEN_SHIFT + GEN_BITS;
/// Open deadlines are clamped to 48 bits of milliseconds (8,900 years past the epoch).
const UNTIL_MAX: Millis = (1 << (64 - UNTIL_SHIFT)) - 1;
// The tags fit below the generation, and deadlines keep 48 bits.
const _: () = assert!(HALF_OPEN <= TAG_MASK && TAG_MASK < 1 << GEN_SHIFT && UNTIL_SHIFT == 16);

/// Attempts of `admit` before it gives up under contention (each failed attempt means
/// another core just changed the state).
const ADMIT_TRIES: u32 = 4;

/// The packed shared word: `until << 16 | generation << 2 | tag`.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Word(u64);

impl Word {
    fn new(tag: u64, generation: u16, until: Millis) -> Word {
        let until = until.min(UNTIL_MAX);
        Word(until << UNTIL_SHIFT | (u64::from(generation) & GEN_MASK) << GEN_SHIFT | tag)
    }
    fn tag(self) -> u64 {
        self.0 & TAG_MASK
    }
    fn generation(self) -> u16 {
        ((self.0 >> GEN_SHIFT) & GEN_MASK) as u16
    }
    fn until(self) -> Millis {
        self.0 >> UNTIL_SHIFT
    }
    fn next_generation(self) -> u16 {
        ((u64::from(self.generation()) + 1) & GEN_MASK) as u16
    }
}

/// Process-wide breaker state of one deployment. Only atomics, so `Sync`; a read is one
/// load (two more in HalfOpen), and writes happen only on transitions and probe
/// accounting, never per request while Closed.
#[derive(Debug, Default)]
pub struct SharedBreaker {
    /// [`Word`]: state tag, closed generation, open deadline.
    word: AtomicU64,
    /// Admitted probes not yet recorded. Exact, never reset: a probe that outlives its
    /// half-open episode still holds its slot until recorded, which only errs on the side
    /// of fewer concurrent probes.
    probes: AtomicU32,
    /// `half_open_probes` as of the last Open → HalfOpen transition; read by `available`
    /// only, which has no config (`admit` uses the config it is given).
    probe_limit: AtomicU32,
}

impl SharedBreaker {
    /// A closed breaker.
    pub const fn new() -> SharedBreaker {
        SharedBreaker {
            word: AtomicU64::new(CLOSED),
            probes: AtomicU32::new(0),
            probe_limit: AtomicU32::new(1),
        }
    }

    fn load(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    /// Whether a request may be sent now, without taking anything: Closed, or Open whose
    /// cooldown has passed, or HalfOpen with a free probe slot. A hint for filtering
    /// candidates; [`admit`](Self::admit) decides (another core may take the last slot
    /// in between).
    pub fn available(&self, now: Millis) -> bool {
        let w = self.load();
        match w.tag() {
            CLOSED => true,
            OPEN => now >= w.until(),
            _ => self.probes.load(Ordering::Relaxed) < self.probe_limit.load(Ordering::Relaxed),
        }
    }

    /// Admission for the chosen deployment: Closed → `Yes`; Open past its cooldown →
    /// HalfOpen (one CAS winner; the losers see HalfOpen) and a probe slot → `Probe`;
    /// HalfOpen with a free slot → `Probe`; otherwise `No`. See [`Admit::Probe`] for the
    /// obligation a probe carries.
    pub fn admit(&self, cfg: &BreakerConfig, now: Millis) -> Admit {
        let limit = cfg.half_open_probes.max(1);
        let mut w = self.load();
        for _ in 0..ADMIT_TRIES {
            match w.tag() {
                CLOSED => return Admit::Yes,
                OPEN => {
                    if now < w.until() {
                        return Admit::No;
                    }
                    let half = Word::new(HALF_OPEN, w.generation(), 0);
                    match self.cas(w, half) {
                        Ok(()) => {
                            self.probe_limit.store(limit, Ordering::Relaxed);
                            w = half;
                        }
                        Err(cur) => w = cur,
                    }
                }
                _ => {
                    let took = self
                        .probes
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
                            (p < limit).then_some(p + 1)
                        });
                    if took.is_err() {
                        return Admit::No;
                    }
                    let after = self.load();
                    if after == w {
                        return Admit::Probe;
                    }
                    // The state moved while the slot was taken: give it back, decide again.
                    self.release_probe();
                    w = after;
                }
            }
        }
        Admit::No
    }

    /// The outcome of a request `admit` let through (`probe`: it answered `Probe`).
    /// Counts it in this core's `counts`, then: HalfOpen + probe success → Closed (a new
    /// generation; counts reset); HalfOpen + probe failure → Open until now + cooldown;
    /// Closed + this core's counts trip → Open until now + cooldown. Releases the probe
    /// slot. A late outcome from an earlier state changes nothing shared: when two cores
    /// race a transition, the first CAS wins and the other's outcome is only counted.
    pub fn record(
        &self,
        cfg: &BreakerConfig,
        counts: &mut BreakerCounts,
        now: Millis,
        ok: bool,
        probe: bool,
    ) {
        let w = self.load();
        counts.sync(w.generation());
        let tripped = counts.count(cfg, now, ok);
        match w.tag() {
            HALF_OPEN if probe => {
                if ok {
                    let generation = w.next_generation();
                    if self.cas(w, Word::new(CLOSED, generation, 0)).is_ok() {
                        *counts = BreakerCounts::fresh(generation);
                    }
                } else {
                    let until = now.saturating_add(cfg.cooldown_ms);
                    let _ = self.cas(w, Word::new(OPEN, w.generation(), until));
                }
            }
            CLOSED if tripped => {
                let until = now.saturating_add(cfg.cooldown_ms);
                let _ = self.cas(w, Word::new(OPEN, w.generation(), until));
                // The evidence is spent on this outage, whichever core opened it.
                *counts = BreakerCounts::fresh(w.generation());
            }
            _ => {}
        }
        if probe {
            self.release_probe();
        }
    }

    /// Open at once until `now + for_ms` (active health checks, `retry-after` ejection).
    /// Never shortens an existing open; from HalfOpen it reopens (probes in flight still
    /// record, and release their slots, but change nothing).
    pub fn trip(&self, now: Millis, for_ms: u64) {
        let until = now.saturating_add(for_ms).min(UNTIL_MAX);
        let _ = self
            .word
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let w = Word(cur);
                if w.tag() == OPEN && w.until() >= until {
                    None
                } else {
                    Some(Word::new(OPEN, w.generation(), until).0)
                }
            });
    }

    /// The stored state. An Open breaker whose cooldown has passed still reports `Open`
    /// (it becomes HalfOpen only when an `admit` takes the first probe), so the answer
    /// does not depend on `now`; [`available`](Self::available) is the time-aware question.
    pub fn state(&self, _now: Millis) -> BreakerState {
        match self.load().tag() {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// The Open deadline, when Open (for metrics and logs).
    pub fn open_until(&self) -> Option<Millis> {
        let w = self.load();
        (w.tag() == OPEN).then_some(w.until())
    }

    /// Probes admitted and not yet recorded (for metrics, and to check none leak).
    pub fn probes_in_flight(&self) -> u32 {
        self.probes.load(Ordering::Acquire)
    }

    fn cas(&self, from: Word, to: Word) -> Result<(), Word> {
        self.word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(Word)
    }

    fn release_probe(&self) {
        let released = self
            .probes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_sub(1));
        debug_assert!(released.is_ok(), "probe released that was never admitted");
    }
}

/// One core's evidence about one deployment (owned by one worker, never shared).
#[derive(Clone, Copy, Debug, Default)]
pub struct BreakerCounts {
    /// Failures since the last success.
    consecutive: u32,
    /// Start of the current fixed ratio window.
    window_start: Millis,
    /// Successes and failures in the current window.
    ok: u32,
    failed: u32,
    /// The breaker's closed generation these counts belong to.
    generation: u16,
}

impl BreakerCounts {
    fn fresh(generation: u16) -> BreakerCounts {
        BreakerCounts {
            generation,
            ..BreakerCounts::default()
        }
    }

    /// Failures since the last success (this core, this generation).
    pub fn consecutive(&self) -> u32 {
        self.consecutive
    }

    /// (successes, failures) in the current window.
    pub fn window(&self) -> (u32, u32) {
        (self.ok, self.failed)
    }

    /// Discards counts from an earlier closed generation.
    fn sync(&mut self, generation: u16) {
        if self.generation != generation {
            *self = BreakerCounts::fresh(generation);
        }
    }

    /// Counts one outcome; true when the counts now call for opening.
    fn count(&mut self, cfg: &BreakerConfig, now: Millis, ok: bool) -> bool {
        // A clock behind the window start (another core's timestamp) starts a new window.
        if now < self.window_start || now - self.window_start >= cfg.window_ms {
            self.window_start = now;
            self.ok = 0;
            self.failed = 0;
        }
        if ok {
            self.consecutive = 0;
            self.ok = self.ok.saturating_add(1);
            return false;
        }
        self.consecutive = self.consecutive.saturating_add(1);
        self.failed = self.failed.saturating_add(1);
        let by_streak =
            cfg.consecutive_failures > 0 && self.consecutive >= cfg.consecutive_failures;
        let total = self.ok.saturating_add(self.failed);
        let by_ratio = cfg.failure_ratio > 0.0
            && total >= cfg.min_requests
            && f64::from(self.failed) >= cfg.failure_ratio * f64::from(total);
        by_streak || by_ratio
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::route::Rng;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            failure_ratio: 0.0,
            min_requests: 0,
            window_ms: 10_000,
            cooldown_ms: 1_000,
            half_open_probes: 1,
        }
    }

    /// Fails `n` requests admitted while closed.
    fn fail(b: &SharedBreaker, c: &BreakerConfig, counts: &mut BreakerCounts, now: Millis, n: u32) {
        for _ in 0..n {
            assert_eq!(b.admit(c, now), Admit::Yes);
            b.record(c, counts, now, false, false);
        }
    }

    #[test]
    fn consecutive_failures_open_and_cooldown_rejects() {
        let (b, c) = (SharedBreaker::new(), cfg());
        let mut counts = BreakerCounts::default();
        fail(&b, &c, &mut counts, 100, 2);
        assert_eq!(b.state(100), BreakerState::Closed);
        assert_eq!(counts.consecutive(), 2);
        fail(&b, &c, &mut counts, 100, 1);
        assert_eq!(b.state(100), BreakerState::Open);
        assert_eq!(b.open_until(), Some(1_100));
        assert!(!b.available(100));
        assert!(!b.available(1_099));
        assert_eq!(b.admit(&c, 1_099), Admit::No);
        assert_eq!(b.state(1_099), BreakerState::Open);
        // Past the cooldown: available, but still Open until someone admits.
        assert!(b.available(1_100));
        assert_eq!(b.state(1_100), BreakerState::Open);
    }

    #[test]
    fn a_success_resets_the_streak() {
        let (b, c) = (SharedBreaker::new(), cfg());
        let mut counts = BreakerCounts::default();
        fail(&b, &c, &mut counts, 0, 2);
        b.record(&c, &mut counts, 0, true, false);
        assert_eq!(counts.consecutive(), 0);
        fail(&b, &c, &mut counts, 0, 2);
        assert_eq!(b.state(0), BreakerState::Closed);
        fail(&b, &c, &mut counts, 0, 1);
        assert_eq!(b.state(0), BreakerState::Open);
    }

    #[test]
    fn half_open_allows_only_the_configured_probes() {
        let c = BreakerConfig {
            half_open_probes: 2,
            ..cfg()
        };
        let b = SharedBreaker::new();
        b.trip(0, 1_000);
        assert_eq!(b.admit(&c, 1_000), Admit::Probe);
        assert_eq!(b.state(1_000), BreakerState::HalfOpen);
        assert!(b.available(1_000));
        assert_eq!(b.admit(&c, 1_000), Admit::Probe);
        assert!(!b.available(1_000));
        assert_eq!(b.admit(&c, 1_000), Admit::No);
        assert_eq!(b.probes_in_flight(), 2);
        // One probe fails: open again with a new cooldown from the failure's time.
        let mut counts = BreakerCounts::default();
        b.record(&c, &mut counts, 1_500, false, true);
        assert_eq!(b.state(1_500), BreakerState::Open);
        assert_eq!(b.open_until(), Some(2_500));
        assert_eq!(b.admit(&c, 2_499), Admit::No);
        // The other probe, still in flight, holds its slot into the next half-open.
        assert_eq!(b.probes_in_flight(), 1);
        assert_eq!(b.admit(&c, 2_500), Admit::Probe);
        assert_eq!(b.admit(&c, 2_500), Admit::No);
        // The late probe's success closes it; the new probe's outcome changes nothing.
        b.record(&c, &mut counts, 2_600, true, true);
        assert_eq!(b.state(2_600), BreakerState::Closed);
        b.record(&c, &mut counts, 2_700, false, true);
        assert_eq!(b.state(2_700), BreakerState::Closed);
        assert_eq!(b.probes_in_flight(), 0);
        assert_eq!(b.admit(&c, 2_700), Admit::Yes);
    }

    #[test]
    fn probe_success_closes_and_resets_counts() {
        let (b, c) = (SharedBreaker::new(), cfg());
        let mut counts = BreakerCounts::default();
        fail(&b, &c, &mut counts, 0, 3);
        assert_eq!(b.admit(&c, 1_000), Admit::Probe);
        b.record(&c, &mut counts, 1_000, true, true);
        assert_eq!(b.state(1_000), BreakerState::Closed);
        assert_eq!(b.probes_in_flight(), 0);
        assert_eq!(counts.consecutive(), 0);
        assert_eq!(counts.window(), (0, 0));
        // A fresh streak is needed to open again.
        fail(&b, &c, &mut counts, 1_000, 2);
        assert_eq!(b.state(1_000), BreakerState::Closed);
    }

    #[test]
    fn another_cores_stale_counts_do_not_reopen_after_recovery() {
        let (b, c) = (SharedBreaker::new(), cfg());
        let (mut a, mut other) = (BreakerCounts::default(), BreakerCounts::default());
        fail(&b, &c, &mut other, 0, 2);
        fail(&b, &c, &mut a, 0, 3);
        assert_eq!(b.state(0), BreakerState::Open);
        assert_eq!(b.admit(&c, 1_000), Admit::Probe);
        b.record(&c, &mut a, 1_000, true, true);
        // `other` had 2 failures before the outage; one more after it is 1, not 3.
        fail(&b, &c, &mut other, 1_000, 1);
        assert_eq!(b.state(1_000), BreakerState::Closed);
        assert_eq!(other.consecutive(), 1);
    }

    #[test]
    fn failure_ratio_needs_min_requests_in_the_window() {
        let c = BreakerConfig {
            consecutive_failures: 0,
            failure_ratio: 0.5,
            min_requests: 10,
            window_ms: 1_000,
            ..cfg()
        };
        let b = SharedBreaker::new();
        let mut counts = BreakerCounts::default();
        // 4 ok + 4 failed: 50%, but only 8 requests.
        for i in 0..8 {
            b.record(&c, &mut counts, 10, i % 2 == 0, false);
        }
        assert_eq!(counts.window(), (4, 4));
        assert_eq!(b.state(10), BreakerState::Closed);
        // The window ends: the counts start over, so 2 more do not reach 10 either.
        b.record(&c, &mut counts, 1_010, false, false);
        b.record(&c, &mut counts, 1_010, true, false);
        assert_eq!(counts.window(), (1, 1));
        for _ in 0..7 {
            b.record(&c, &mut counts, 1_500, true, false);
        }
        assert_eq!(b.state(1_500), BreakerState::Closed);
        // 8 ok + 1 failed; one failure makes 10 requests at 20%: still closed.
        b.record(&c, &mut counts, 1_500, false, false);
        assert_eq!(counts.window(), (8, 2));
        assert_eq!(b.state(1_500), BreakerState::Closed);
        // Failures up to 8 ok / 8 failed = 50% of 16: open.
        for _ in 0..5 {
            b.record(&c, &mut counts, 1_600, false, false);
        }
        assert_eq!(b.state(1_600), BreakerState::Closed);
        b.record(&c, &mut counts, 1_600, false, false);
        assert_eq!(b.state(1_600), BreakerState::Open);
        assert_eq!(b.open_until(), Some(2_600));
    }

    #[test]
    fn zero_thresholds_never_trip_from_counts() {
        let c = BreakerConfig {
            consecutive_failures: 0,
            failure_ratio: 0.0,
            ..cfg()
        };
        let b = SharedBreaker::new();
        let mut counts = BreakerCounts::default();
        fail(&b, &c, &mut counts, 0, 1_000);
        assert_eq!(b.state(0), BreakerState::Closed);
    }

    #[test]
    fn trip_opens_and_never_shortens() {
        let b = SharedBreaker::new();
        b.trip(100, 5_000);
        assert_eq!(b.state(100), BreakerState::Open);
        assert_eq!(b.open_until(), Some(5_100));
        b.trip(200, 1_000);
        assert_eq!(b.open_until(), Some(5_100));
        b.trip(300, 10_000);
        assert_eq!(b.open_until(), Some(10_300));
        // From half-open it reopens.
        let c = cfg();
        assert_eq!(b.admit(&c, 10_300), Admit::Probe);
        b.trip(10_400, 50);
        assert_eq!(b.state(10_400), BreakerState::Open);
        assert_eq!(b.open_until(), Some(10_450));
        // The probe's late success changes nothing, but frees its slot.
        b.record(&c, &mut BreakerCounts::default(), 10_420, true, true);
        assert_eq!(b.state(10_420), BreakerState::Open);
        assert_eq!(b.probes_in_flight(), 0);
    }

    #[test]
    fn one_core_opening_is_seen_by_another_at_once() {
        let (b, c) = (SharedBreaker::new(), cfg());
        let (mut core0, mut core1) = (BreakerCounts::default(), BreakerCounts::default());
        // Two failures on each core: neither core's streak reaches 3.
        fail(&b, &c, &mut core0, 0, 2);
        fail(&b, &c, &mut core1, 0, 2);
        assert!(b.available(0));
        fail(&b, &c, &mut core0, 0, 1);
        assert!(!b.available(1));
        assert_eq!(b.admit(&c, 1), Admit::No);
        // Core 1's late outcome from before the open changes nothing shared.
        b.record(&c, &mut core1, 2, true, false);
        assert_eq!(b.open_until(), Some(1_000));
    }

    /// Two threads hammer one breaker with a seeded pattern of failures, each keeping up
    /// to 4 admitted requests outstanding: concurrent probes never exceed the limit, and
    /// every slot comes back.
    #[test]
    fn concurrent_probes_stay_bounded_and_never_leak() {
        let c = BreakerConfig {
            consecutive_failures: 2,
            cooldown_ms: 3,
            half_open_probes: 2,
            ..cfg()
        };
        let b = SharedBreaker::new();
        let held = AtomicU32::new(0);
        let held_max = AtomicU32::new(0);
        let probes_total = AtomicU32::new(0);
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for seed in [1u64, 2] {
                let (b, held, held_max, probes_total) = (&b, &held, &held_max, &probes_total);
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(seed);
                    let mut counts = BreakerCounts::default();
                    let mut outstanding = [false; 4];
                    let mut len = 0;
                    for now in 0..200_000u64 {
                        let finish = |rng: &mut Rng, counts: &mut BreakerCounts, probe: bool| {
                            if probe {
                                held.fetch_sub(1, Ordering::SeqCst);
                            }
                            b.record(&c, counts, now, rng.below(10) >= 4, probe);
                        };
                        match b.admit(&c, now) {
                            Admit::No => {}
                            admitted => {
                                let probe = admitted == Admit::Probe;
                                if probe {
                                    let h = held.fetch_add(1, Ordering::SeqCst) + 1;
                                    held_max.fetch_max(h, Ordering::SeqCst);
                                    probes_total.fetch_add(1, Ordering::Relaxed);
                                }
                                if len == outstanding.len() {
                                    finish(&mut rng, &mut counts, outstanding[0]);
                                    outstanding.rotate_left(1);
                                    len -= 1;
                                }
                                outstanding[len] = probe;
                                len += 1;
                            }
                        }
                        if len > 0 && rng.below(3) == 0 {
                            finish(&mut rng, &mut counts, outstanding[0]);
                            outstanding.rotate_left(1);
                            len -= 1;
                        }
                    }
                    for &probe in &outstanding[..len] {
                        if probe {
                            held.fetch_sub(1, Ordering::SeqCst);
                        }
                        b.record(&c, &mut counts, 200_000, true, probe);
                    }
                });
            }
        });
        let max = held_max.load(Ordering::SeqCst);
        assert!(max <= 2, "{max} probes held at once");
        // The pattern really went through half-open with concurrent probes.
        assert_eq!(max, 2);
        assert!(probes_total.load(Ordering::Relaxed) > 100);
        assert_eq!(b.probes_in_flight(), 0);
        assert_eq!(held.load(Ordering::SeqCst), 0);
        // Half-open again: both slots are free.
        b.trip(300_000, 10);
        assert_eq!(b.admit(&c, 300_010), Admit::Probe);
        assert_eq!(b.admit(&c, 300_010), Admit::Probe);
        assert_eq!(b.admit(&c, 300_010), Admit::No);
    }
}
