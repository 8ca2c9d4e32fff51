//! Peak-sensitive EWMA of time to first byte (Finagle's PeakEWMA), per core.
//!
//! A latency spike is believed at once and forgotten slowly: a sample above the current
//! value replaces it, a sample below pulls the value toward it with a weight that grows
//! with the time since the last sample. A deployment that turns slow is avoided after one
//! request; one that recovers wins traffic back over a few `DECAY_MS`.

use super::Millis;

/// The TTFB estimate of one deployment on one core.
#[derive(Clone, Copy, Debug, Default)]
pub struct PeakEwma {
    /// The estimate in microseconds; 0 until the first sample.
    value_us: f64,
    /// When the last sample was taken.
    stamp: Millis,
}

impl PeakEwma {
    /// The decay time constant: after `DECAY_MS` without a sample, a lower sample moves
    /// the value 63% of the way to it.
    pub const DECAY_MS: f64 = 10_000.0;

    /// A new sample. Above the current value it replaces it (the peak); below, the value
    /// decays toward it with weight `exp(-(now - stamp) / DECAY_MS)` on the old value.
    /// A `now` behind the stamp (another core's clock read) counts as no time passed.
    pub fn observe(&mut self, now: Millis, sample_us: u64) {
        let sample = sample_us as f64;
        if sample >= self.value_us {
            self.value_us = sample;
        } else {
            let elapsed = now.saturating_sub(self.stamp) as f64;
            let w = (-elapsed / Self::DECAY_MS).exp();
            self.value_us = self.value_us * w + sample * (1.0 - w);
        }
        self.stamp = self.stamp.max(now);
    }

    /// The current estimate in microseconds (0 when never observed).
    pub fn value_us(&self) -> f64 {
        self.value_us
    }

    /// The power-of-two-choices cost: value × (in_flight + 1), so a fast deployment that
    /// is already busy can lose to a slower idle one. An unobserved deployment costs 0,
    /// so it is tried first and gets an estimate.
    pub fn cost(&self, in_flight: u32) -> f64 {
        self.value_us * (f64::from(in_flight) + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn unobserved_costs_nothing() {
        let e = PeakEwma::default();
        assert_eq!(e.value_us(), 0.0);
        assert_eq!(e.cost(5), 0.0);
    }

    #[test]
    fn spike_is_taken_at_once_and_decays_after() {
        let mut e = PeakEwma::default();
        e.observe(1_000, 5_000);
        assert_eq!(e.value_us(), 5_000.0);
        // A spike replaces the value immediately, however recent the last sample.
        e.observe(1_000, 80_000);
        assert_eq!(e.value_us(), 80_000.0);
        // One DECAY_MS later a fast sample moves it 1 - 1/e of the way down.
        e.observe(11_000, 5_000);
        let w = (-1.0f64).exp();
        let expect = 80_000.0 * w + 5_000.0 * (1.0 - w);
        assert!(close(e.value_us(), expect), "{} vs {expect}", e.value_us());
        // Half a DECAY_MS later, further down by weight exp(-0.5).
        e.observe(16_000, 5_000);
        let w = (-0.5f64).exp();
        let expect = expect * w + 5_000.0 * (1.0 - w);
        assert!(close(e.value_us(), expect), "{} vs {expect}", e.value_us());
        // A sample at the same instant does not move it (no time has passed).
        e.observe(16_000, 1_000);
        assert!(close(e.value_us(), expect));
        // Long after, it has converged on the fast samples.
        e.observe(200_000, 5_000);
        assert!((e.value_us() - 5_000.0).abs() < 1.0);
    }

    #[test]
    fn clock_behind_the_stamp_is_no_time_passed() {
        let mut e = PeakEwma::default();
        e.observe(10_000, 9_000);
        e.observe(5_000, 1_000);
        assert_eq!(e.value_us(), 9_000.0);
    }

    #[test]
    fn cost_scales_with_in_flight() {
        let mut e = PeakEwma::default();
        e.observe(0, 2_000);
        assert_eq!(e.cost(0), 2_000.0);
        assert_eq!(e.cost(3), 8_000.0);
    }
}
