//! USD budgets admitted by reservation, with reset periods and soft thresholds.
//!
//! Every level of a key's path (key, user, team, org) may carry a budget. Before a request
//! is forwarded, its worst-case cost is *reserved* on every budget of its path at once
//! ([`reserve_all`]); when it completes the reservation is *settled* to the real cost
//! ([`Budget::settle`]), and when it fails it is *released* ([`Budget::release`]).
//!
//! Each [`Budget`] keeps `committed = settled + reserved` in one `AtomicU64`, and a
//! reservation is one compare-and-swap on it that refuses to pass the limit. That single
//! word is what makes the invariant hold under any concurrency:
//!
//! > INVARIANT: settled spend plus in-flight reservations never exceed a budget's limit,
//! > as long as every settlement's actual cost is at most what it reserved.
//!
//! A settlement whose actual cost exceeds its reservation (a stream that ran longer than
//! its estimate) is still recorded — the money was spent — and may take `committed` past
//! the limit; the engine bounds that overshoot by cutting streams at their reservation.
//! While `committed` is past the limit every reservation but a zero one is refused.
//!
//! Costs are integer picodollars ([`Pusd`], 1e-12 USD), so sums are exact and two cores
//! never disagree by a rounding. Arithmetic saturates (a `u64` holds 18 million USD of
//! picodollars; a single amount is capped at [`USD_MAX`]); nothing panics on any input.
//!
//! Periods roll over lazily: the first call whose `now_unix` falls in a new period moves
//! the settled spend of the old period out of `committed` and resets the soft-threshold
//! marks; reservations still in flight stay (they settle into the new period). The roll
//! is a CAS on a word holding the period start, so exactly one core performs it. Between
//! that CAS and the subtraction another core may see the old spend still committed and be
//! refused — conservative, never over-admitting — and a settlement racing the roll counts
//! in one of the two periods, exactly once. Nobody waits for a roll (see `ROLLING`).
//! Time is injected (unix seconds); nothing here reads a clock.
//!
//! Soft thresholds (`soft_percent`, e.g. 80 and 95) are reported by [`Budget::settle`] as a
//! bitmask of those newly crossed by settled spend, each once per period: the marks live in
//! the same word as the period start, so marking and rolling cannot interleave.

use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(test)]
mod tests;

/// Picodollars (1e-12 USD): exact integer cost arithmetic.
pub type Pusd = u64;

/// Picodollars in one dollar.
pub const PUSD_PER_USD: u64 = 1_000_000_000_000;

/// The largest amount [`usd_to_pusd`] accepts (10 million USD, 1e19 pUSD, which fits a
/// `u64` with room for one more).
pub const USD_MAX: f64 = 10_000_000.0;

/// At most this many soft thresholds per budget (one bit each in a `u8`).
pub const SOFT_THRESHOLDS_MAX: usize = 8;

/// The longest custom period, in seconds (3,650 days).
pub const PERIOD_CUSTOM_SECS_MAX: u64 = 3_650 * DAY;

const HOUR: u64 = 3_600;
const DAY: u64 = 24 * HOUR;

/// USD to picodollars, rounded to the nearest. `None` for a negative amount, NaN, or
/// more than [`USD_MAX`].
pub fn usd_to_pusd(usd: f64) -> Option<Pusd> {
    if !(0.0..=USD_MAX).contains(&usd) {
        return None;
    }
    // In range: usd × 1e12 ≤ 1e19 < u64::MAX, so the cast neither saturates nor wraps.
    Some((usd * PUSD_PER_USD as f64).round() as Pusd)
}

/// Picodollars to USD (for display and metrics; exact below 2^53 pUSD, about 9,000 USD).
pub fn pusd_to_usd(p: Pusd) -> f64 {
    p as f64 / PUSD_PER_USD as f64
}

/// When a budget's spend resets. Periods are UTC and computed from unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Never resets.
    Never,
    /// At 00:00 UTC.
    Daily,
    /// Monday 00:00 UTC.
    Weekly,
    /// The 1st of the month, 00:00 UTC.
    Monthly,
    /// Every `secs` seconds, anchored at unix 0. [`Period::parse`] produces whole hours of
    /// at least one hour; `secs == 0` (only by construction) behaves as [`Period::Never`].
    Every { secs: u64 },
}

impl Period {
    /// `"never" | "daily" | "weekly" | "monthly" | "<N>h" | "<N>d"`: a custom period is a
    /// whole number of hours, at least `1h`, at most [`PERIOD_CUSTOM_SECS_MAX`].
    /// `parse(&p.name()) == Ok(p)` for every period this returns.
    pub fn parse(s: &str) -> Result<Period, String> {
        let custom = |digits: &str, unit: u64| -> Option<Period> {
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u64 = digits.parse().ok()?;
            let secs = n.checked_mul(unit)?;
            (n >= 1 && secs <= PERIOD_CUSTOM_SECS_MAX).then_some(Period::Every { secs })
        };
        let parsed = match s {
            "never" => Some(Period::Never),
            "daily" => Some(Period::Daily),
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            _ => match (s.strip_suffix('h'), s.strip_suffix('d')) {
                (Some(n), _) => custom(n, HOUR),
                (_, Some(n)) => custom(n, DAY),
                _ => None,
            },
        };
        parsed.ok_or_else(|| {
            format!(
                "budget period {s:?}: expected \"never\", \"daily\", \"weekly\", \"monthly\", \
                 \"<N>h\" or \"<N>d\" (whole hours, from 1h to {}d)",
                PERIOD_CUSTOM_SECS_MAX / DAY
            )
        })
    }

    /// The start (unix seconds) of the period containing `unix_secs`; 0 for `Never`. A
    /// week that began before 1970 (unix 0 is a Thursday) starts at 0.
    pub fn start(&self, unix_secs: u64) -> u64 {
        let t = unix_secs;
        match *self {
            Period::Never | Period::Every { secs: 0 } => 0,
            Period::Daily => t - t % DAY,
            Period::Weekly => {
                let days = t / DAY;
                days.saturating_sub(days_since_monday(days)) * DAY
            }
            Period::Monthly => {
                let (y, m, _) = civil_from_days(t / DAY);
                days_from_civil(y, m, 1) * DAY
            }
            Period::Every { secs } => t - t % secs,
        }
    }

    /// The next period's start after `unix_secs` (`u64::MAX` for `Never`, and where it
    /// would not fit).
    pub fn end(&self, unix_secs: u64) -> u64 {
        let t = unix_secs;
        match *self {
            Period::Never | Period::Every { secs: 0 } => u64::MAX,
            Period::Daily => self.start(t).saturating_add(DAY),
            Period::Weekly => {
                let days = t / DAY;
                (days + 7 - days_since_monday(days)).saturating_mul(DAY)
            }
            Period::Monthly => {
                let (y, m, _) = civil_from_days(t / DAY);
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
            Period::Every { secs } => self.start(t).saturating_add(secs),
        }
    }

    /// The inverse of [`Period::parse`]: custom periods print in days when whole days,
    /// else in hours (a period built with seconds that are not whole hours prints as
    /// `"<N>s"`, which `parse` refuses).
    pub fn name(&self) -> String {
        match *self {
            Period::Never | Period::Every { secs: 0 } => "never".to_owned(),
            Period::Daily => "daily".to_owned(),
            Period::Weekly => "weekly".to_owned(),
            Period::Monthly => "monthly".to_owned(),
            Period::Every { secs } if secs % DAY == 0 => format!("{}d", secs / DAY),
            Period::Every { secs } if secs % HOUR == 0 => format!("{}h", secs / HOUR),
            Period::Every { secs } => format!("{secs}s"),
        }
    }
}

/// Days since the Monday on or before day `days` (day 0, 1970-01-01, was a Thursday).
fn days_since_monday(days: u64) -> u64 {
    (days + 3) % 7
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, unsigned since every date here is on or after 1970).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date on or after it (Hinnant's `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = y - u64::from(m <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One budget's configuration (compiled from config; passed on every call, so a reload
/// changes it without losing spend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetSpec {
    pub limit: Pusd,
    pub period: Period,
    /// Soft thresholds in percent of `limit`: ascending, each 1..=99, at most
    /// [`SOFT_THRESHOLDS_MAX`] (only the first 8 are ever reported).
    pub soft_percent: Box<[u8]>,
}

impl BudgetSpec {
    /// Checks `soft_percent` (config calls this before building the runtime snapshot).
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.soft_percent;
        if p.len() > SOFT_THRESHOLDS_MAX {
            return Err(format!(
                "budget soft thresholds: at most {SOFT_THRESHOLDS_MAX}, got {}",
                p.len()
            ));
        }
        if p.iter().any(|&x| !(1..=99).contains(&x)) || p.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "budget soft thresholds {p:?}: expected ascending percentages from 1 to 99"
            ));
        }
        Ok(())
    }

    /// The thresholds `settled` has reached, as a bitmask over `soft_percent`.
    #[inline]
    fn crossed(&self, settled: Pusd) -> u8 {
        let spent = u128::from(settled) * 100;
        let mut mask = 0u8;
        for (i, &pct) in self
            .soft_percent
            .iter()
            .take(SOFT_THRESHOLDS_MAX)
            .enumerate()
        {
            if spent >= u128::from(self.limit) * u128::from(pct) {
                mask |= 1 << i;
            }
        }
        mask
    }
}

/// A refused reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    pub limit: Pusd,
    pub settled: Pusd,
    pub reserved: Pusd,
    /// When the period ends and spend resets (unix seconds; `u64::MAX` for never).
    pub period_end: u64,
}

/// A budget's state, for the admin API and response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetView {
    pub limit: Pusd,
    pub settled: Pusd,
    pub reserved: Pusd,
    pub period_start: u64,
    pub period_end: u64,
}

/// The period word: `start << PERIOD_SHIFT | ROLLING | RESTORED | reported-threshold bits`.
const PERIOD_SHIFT: u32 = 10;
/// Set by the core rolling the period from its CAS until the old spend is out of
/// `settled` and `committed`. Nobody waits on it: a roll seen in progress is not started
/// again, and a settlement that overlaps a roll reports no thresholds (its `settled` sum
/// may mix the two periods; the next settlement reports whatever it crossed).
const ROLLING: u64 = 1 << 9;
/// Set by [`Budget::restore`]: the first settlement marks the thresholds the restored spend
/// had already crossed as reported without reporting them (they were, before the restart).
const RESTORED: u64 = 1 << 8;
const REPORTED: u64 = 0xff;
/// Period starts are kept in 54 bits (500 million years of unix seconds); later ones clamp.
const START_MAX: u64 = u64::MAX >> PERIOD_SHIFT;

/// One budget's state, shared by all cores, aligned to a cache line. `committed = settled
/// + reserved` is the word reservations CAS against.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Budget {
    /// Settled spend of the current period plus reservations in flight.
    /// INVARIANT: `committed >= settled` at every instant (a settlement adds to `committed`
    /// before `settled`; a roll takes from `settled` before `committed`).
    committed: AtomicU64,
    /// Settled spend of the current period.
    settled: AtomicU64,
    /// See [`PERIOD_SHIFT`].
    period: AtomicU64,
}

impl Budget {
    /// Nothing spent, nothing reserved, period start 0 (the first call rolls it forward).
    pub const fn new() -> Budget {
        Budget {
            committed: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            period: AtomicU64::new(0),
        }
    }

    /// At start: what the ledger says was settled in the period starting at
    /// `period_start`. If that period is over, the first call rolls it away. Thresholds the
    /// restored spend had crossed are not reported again.
    pub fn restore(&self, period_start: u64, settled: Pusd) {
        let old = self.settled.swap(settled, Ordering::AcqRel);
        add_sat(&self.committed, settled);
        sub_sat(&self.committed, old);
        self.period.store(
            (period_start.min(START_MAX) << PERIOD_SHIFT) | RESTORED,
            Ordering::Release,
        );
    }

    /// Reserves `amount` if `committed + amount <= limit` (so a zero amount fits unless the
    /// budget is already overspent; a zero limit admits only zero amounts).
    #[inline]
    pub fn reserve(
        &self,
        spec: &BudgetSpec,
        amount: Pusd,
        now_unix: u64,
    ) -> Result<(), BudgetExceeded> {
        self.roll(spec.period, now_unix);
        self.committed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                c.checked_add(amount).filter(|&next| next <= spec.limit)
            })
            .map(|_| ())
            .map_err(|committed| {
                let settled = self.settled.load(Ordering::Acquire);
                BudgetExceeded {
                    limit: spec.limit,
                    settled,
                    reserved: committed.saturating_sub(settled),
                    period_end: spec.period.end(now_unix),
                }
            })
    }

    /// Settles a reservation of `reserved` to the real cost `actual`, which may exceed it
    /// (then `committed` may pass the limit; see the module doc). Returns the soft
    /// thresholds newly crossed in this period, as a bitmask over `spec.soft_percent`;
    /// each is reported once per period, by exactly one settlement.
    #[inline]
    pub fn settle(&self, spec: &BudgetSpec, reserved: Pusd, actual: Pusd, now_unix: u64) -> u8 {
        self.roll(spec.period, now_unix);
        let seen = self.period.load(Ordering::Acquire);
        // INVARIANT upkeep: committed first, then settled.
        if actual >= reserved {
            add_sat(&self.committed, actual - reserved);
        } else {
            sub_sat(&self.committed, reserved - actual);
        }
        let before = add_sat(&self.settled, actual);
        self.report(spec, seen, before, before.saturating_add(actual))
    }

    /// Releases a reservation whose request failed (nothing was spent).
    #[inline]
    pub fn release(&self, reserved: Pusd) {
        sub_sat(&self.committed, reserved);
    }

    /// The budget at `now_unix` (rolling the period first, like every call).
    pub fn view(&self, spec: &BudgetSpec, now_unix: u64) -> BudgetView {
        self.roll(spec.period, now_unix);
        let settled = self.settled.load(Ordering::Acquire);
        let committed = self.committed.load(Ordering::Acquire);
        BudgetView {
            limit: spec.limit,
            settled,
            reserved: committed.saturating_sub(settled),
            period_start: spec.period.start(now_unix),
            period_end: spec.period.end(now_unix),
        }
    }

    /// Moves to the period containing `now_unix` if it starts after the current one. Only
    /// the core whose CAS moves the start subtracts the old spend; a roll already in
    /// progress is left to its core (this call proceeds in the state it finds).
    #[inline]
    fn roll(&self, period: Period, now_unix: u64) {
        let start = period.start(now_unix).min(START_MAX);
        let mut word = self.period.load(Ordering::Acquire);
        while start > word >> PERIOD_SHIFT && word & ROLLING == 0 {
            match self.period.compare_exchange_weak(
                word,
                (start << PERIOD_SHIFT) | ROLLING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // INVARIANT upkeep: settled first, then committed.
                    let old = self.settled.swap(0, Ordering::AcqRel);
                    sub_sat(&self.committed, old);
                    self.period.fetch_and(!ROLLING, Ordering::AcqRel);
                    return;
                }
                Err(now_word) => word = now_word,
            }
        }
    }

    /// Marks the thresholds `after` crossed and returns those no one reported before.
    /// `seen` is the period word read before `settled` was added to: if a roll started
    /// before or since, `before`/`after` may mix two periods and nothing is reported.
    #[inline]
    fn report(&self, spec: &BudgetSpec, seen: u64, before: Pusd, after: Pusd) -> u8 {
        const PERIOD_BITS: u64 = !(REPORTED | RESTORED);
        if seen & ROLLING != 0 {
            return 0;
        }
        let crossed = u64::from(spec.crossed(after));
        let mut word = self.period.load(Ordering::Acquire);
        loop {
            if word & PERIOD_BITS != seen & PERIOD_BITS {
                return 0;
            }
            let restored = word & RESTORED != 0;
            if !restored && crossed & !word & REPORTED == 0 {
                return 0;
            }
            let silent = if restored {
                u64::from(spec.crossed(before))
            } else {
                0
            };
            let next = (word | crossed) & !RESTORED;
            match self
                .period
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                // Only bits 0..8 can be set in `crossed`.
                Ok(_) => return (crossed & !word & !silent & REPORTED) as u8,
                Err(now_word) => word = now_word,
            }
        }
    }
}

/// Reserves `amount` on every budget, all or nothing: on the first refusal the ones
/// already reserved are released and the refused item's index is returned. Allocates
/// nothing. As with rates, a concurrent request may be refused by a reservation that is
/// about to be rolled back — never admitted beyond a limit.
pub fn reserve_all(
    items: &[(&Budget, &BudgetSpec)],
    amount: Pusd,
    now_unix: u64,
) -> Result<(), (usize, BudgetExceeded)> {
    for (i, &(budget, spec)) in items.iter().enumerate() {
        if let Err(e) = budget.reserve(spec, amount, now_unix) {
            for &(budget, _) in &items[..i] {
                budget.release(amount);
            }
            return Err((i, e));
        }
    }
    Ok(())
}

/// Adds `n`, stopping at `u64::MAX`; returns the previous value.
#[inline]
fn add_sat(a: &AtomicU64, n: u64) -> u64 {
    if n == 0 {
        return a.load(Ordering::Acquire);
    }
    match a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        Some(v.saturating_add(n))
    }) {
        Ok(prev) | Err(prev) => prev,
    }
}

/// Subtracts `n`, stopping at 0.
#[inline]
fn sub_sat(a: &AtomicU64, n: u64) {
    if n != 0 {
        let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
            Some(v.saturating_sub(n))
        });
    }
}
