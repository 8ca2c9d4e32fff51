//! A small, fast, seedable PRNG for routing decisions (wyrand).
//!
//! Routing needs cheap, decent-quality randomness, not cryptographic strength. Injecting
//! it (one `Rng` per worker, seeded by the caller) keeps every pick reproducible in tests.

/// wyrand: a 64-bit state advanced by a Weyl sequence and mixed by one 128-bit multiply.
/// Any seed, including 0, gives a full-period stream.
#[derive(Clone, Debug)]
pub struct Rng(u64);

const WY_ADD: u64 = 0xa076_1d64_78bd_642f;
const WY_XOR: u64 = 0xe703_7ed1_a0b4_28db;

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 uniformly distributed bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(WY_ADD);
        let t = u128::from(self.0).wrapping_mul(u128::from(self.0 ^ WY_XOR));
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift with rejection, so unbiased).
    /// `n` must be > 0; `below(0)` returns 0 in release builds.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "Rng::below(0)");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // The rare slow path: reject the low products that would bias the result.
            let threshold = n.wrapping_neg() % n.max(1);
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_repeat_and_differ() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Seed 0 is not degenerate.
        let mut z = Rng::new(0);
        assert_ne!(z.next_u64(), z.next_u64());
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(1);
        let mut hist = [0u32; 6];
        for _ in 0..60_000 {
            let x = r.below(6);
            assert!(x < 6);
            hist[x as usize] += 1;
        }
        for h in hist {
            assert!((9_500..10_500).contains(&h), "{hist:?}");
        }
        assert_eq!(r.below(1), 0);
        // A bound above 2^63 still stays in range.
        let big = u64::MAX - 3;
        for _ in 0..1000 {
            assert!(r.below(big) < big);
        }
    }

    #[test]
    fn unit_is_in_half_open_interval() {
        let mut r = Rng::new(3);
        let mut sum = 0.0;
        for _ in 0..100_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        let mean = sum / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }
}
