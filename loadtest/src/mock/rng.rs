//! A small seeded generator (SplitMix64) and the latency distributions drawn from it.
//! In-tree so the mock's randomness is reproducible and costs no dependency.

use super::{Latency, DELAY_MS_MAX};

/// SplitMix64 (Steele, Lea, Flood 2014). Not for cryptography; for reproducible draws.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether an event of probability `p` happens on this draw. Always draws once, so
    /// the sequence does not depend on `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mix, used to derive independent seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Latency {
    /// One sample in milliseconds, clamped to `0..=DELAY_MS_MAX`. Draws exactly twice
    /// whatever the distribution, so later draws do not depend on it.
    pub(crate) fn sample_ms(&self, rng: &mut Rng) -> u64 {
        let (u1, u2) = (rng.next_f64(), rng.next_f64());
        let ms = match *self {
            Latency::Fixed { ms } => ms as f64,
            Latency::Uniform { min_ms, max_ms } => {
                let (lo, hi) = (min_ms.min(max_ms), min_ms.max(max_ms));
                lo as f64 + (u1 * (hi - lo + 1) as f64).floor()
            }
            Latency::Normal { mean_ms, stddev_ms } => {
                // Box-Muller; 1 - u1 is in (0, 1], so the logarithm is finite.
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                mean_ms + stddev_ms * z
            }
        };
        if ms.is_nan() || ms <= 0.0 {
            0
        } else {
            (ms.round() as u64).min(DELAY_MS_MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_spread() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut r = Rng::new(1);
        let hits = (0..10_000).filter(|_| r.chance(0.3)).count();
        assert!((2_700..3_300).contains(&hits), "{hits}");
    }

    #[test]
    fn latency_distributions() {
        let mut r = Rng::new(3);
        assert_eq!(Latency::Fixed { ms: 12 }.sample_ms(&mut r), 12);
        let uni = Latency::Uniform {
            min_ms: 10,
            max_ms: 20,
        };
        let samples: Vec<u64> = (0..2_000).map(|_| uni.sample_ms(&mut r)).collect();
        assert!(samples.iter().all(|s| (10..=20).contains(s)));
        assert!(samples.contains(&10) && samples.contains(&20));
        let normal = Latency::Normal {
            mean_ms: 100.0,
            stddev_ms: 10.0,
        };
        let samples: Vec<u64> = (0..10_000).map(|_| normal.sample_ms(&mut r)).collect();
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        let var = samples
            .iter()
            .map(|&s| (s as f64 - mean).powi(2))
            .sum::<f64>()
            / samples.len() as f64;
        assert!((mean - 100.0).abs() < 1.0, "mean {mean}");
        assert!((var.sqrt() - 10.0).abs() < 1.0, "stddev {}", var.sqrt());
        let clamped = Latency::Normal {
            mean_ms: -50.0,
            stddev_ms: 1.0,
        };
        assert_eq!(clamped.sample_ms(&mut r), 0);
        assert_eq!(
            Latency::Fixed { ms: u64::MAX }.sample_ms(&mut r),
            DELAY_MS_MAX
        );
    }
}
