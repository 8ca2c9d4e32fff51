//! Admission: rate limits, concurrency limits and budgets shared by every core.
//!
//! Pure: no I/O, no clock reads (time is the caller's), no locks, no allocation per call.
//! [`limit`] holds exact RPM/TPM buckets ([`limit::Rate`], one CAS'd word each) and
//! in-flight gauges ([`limit::Gauge`]); [`budget`] holds USD budgets admitted by
//! reservation ([`budget::Budget`]), with reset periods and soft thresholds.
//!
//! Performance: one whole admission (10 rate levels, a gauge, 4 budget reservations,
//! their settlements and token corrections) costs 218 ns on one core and 539 ns per core
//! with two cores on the same key, allocating nothing (issue target: under 2 µs). Table
//! and re-run command in `bench/benches/govern.rs`:
//! `cargo bench -p sluice-bench --bench govern -- --warm-up-time 1 --measurement-time 3`.

pub mod budget;
pub mod limit;
