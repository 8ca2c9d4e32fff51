//! Admission: rate limits, concurrency limits and budgets shared by every core.
//!
//! Pure: no I/O, no clock reads (time is the caller's), no locks, no allocation per call.
//! [`limit`] holds exact RPM/TPM buckets ([`limit::Rate`], one CAS'd word each) and
//! in-flight gauges ([`limit::Gauge`]); [`budget`] holds USD budgets admitted by
//! reservation ([`budget::Budget`]), with reset periods and soft thresholds.

pub mod budget;
pub mod limit;
