//! Vector codes (i8 and f16) and the exact-scan kernels over a context's contiguous codes.
//!
//! Both codes are cosine-ready: similarity is `dot(a, b) * inv_norm(a) * inv_norm(b)`, with each
//! stored row's inverse norm computed once from its *decoded* code, so a scan and usearch's cosine
//! on the same codes agree up to float rounding.
//!
//! The kernels are plain Rust loops written so LLVM vectorizes them (independent lanes, no float
//! reassociation needed). The workspace builds for baseline x86-64 (SSE2), so the same loops are
//! also compiled with AVX2 and chosen at run time; `is_x86_feature_detected!` caches its
//! answer in an atomic, so the check costs one load per scan, not per row.

use super::Quantization;

/// One vector's code, owned by a thread-local scratch while a call prepares it.
#[derive(Default)]
pub(super) struct Code {
    pub i8: Vec<i8>,
    /// f16 bit patterns of the unit-normalized vector.
    pub f16: Vec<i16>,
    /// The unit-normalized f32 vector (f16 scans dot the query in f32 against decoded rows).
    pub unit: Vec<f32>,
    pub inv_norm: f32,
}

impl Code {
    /// Encodes `v` (finite, not all zero: checked by the caller) for quantization `q`. For F16
    /// only the unit vector is made: a scan needs nothing else; call [`Code::fill_f16`] for the
    /// stored form.
    pub fn encode(&mut self, v: &[f32], q: Quantization) {
        self.f16.clear();
        match q {
            Quantization::I8 => {
                quantize_i8(v, &mut self.i8);
                self.inv_norm = inv_norm(self.i8.iter().map(|&x| f32::from(x)));
            }
            Quantization::F16 => {
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                self.unit.clear();
                self.unit.extend(v.iter().map(|x| x / n));
                self.inv_norm = 1.0;
            }
        }
    }

    /// The f16 code of the unit vector (and its decoded inverse norm), made once per encode.
    pub fn fill_f16(&mut self) -> &[i16] {
        if self.f16.is_empty() {
            self.f16
                .extend(self.unit.iter().map(|&x| f32_to_f16(x) as i16));
            self.inv_norm = inv_norm(self.f16.iter().map(|&h| f16_to_f32(h)));
        }
        &self.f16
    }
}

/// `1 / |v|`, or 0 for a vector that quantized to all zeros (it then matches nothing).
pub(super) fn inv_norm(v: impl Iterator<Item = f32>) -> f32 {
    let n = v.map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        1.0 / n
    } else {
        0.0
    }
}

/// Scaled so the largest |component| maps to 127, rounded. Cosine ignores the scale, so every
/// vector may use its own. We quantize ourselves rather than let usearch do it (scale by the
/// norm, truncate): ~5x more levels for a 512-dim vector. INVARIANT: codes lie in -127..=127, so
/// a product of two fits an i16 (the kernel relies on it).
pub(super) fn quantize_i8(v: &[f32], out: &mut Vec<i8>) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { 127.0 / max } else { 0.0 };
    out.clear();
    // Round half away from zero by adding a signed half and truncating: `f32::round` is a libm
    // call on baseline x86-64 (no SSE4.1), which cost more than a whole scan of small contexts.
    out.extend(v.iter().map(|x| {
        let y = (x * scale).clamp(-127.0, 127.0);
        (y + 0.5f32.copysign(y)) as i8
    }));
}

/// IEEE binary16, round to nearest even (Fabian Giesen's `float_to_half_fast3_rtne`). Inputs are
/// components of a unit vector, but the function is total: overflow becomes infinity.
pub(super) fn f32_to_f16(x: f32) -> u16 {
    const F32_INFTY: u32 = 255 << 23;
    const F16_MAX: u32 = (127 + 16) << 23;
    const DENORM_MAGIC: u32 = ((127 - 15) + (23 - 10) + 1) << 23;
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let f = bits & 0x7fff_ffff;
    let out = if f >= F16_MAX {
        if f > F32_INFTY {
            0x7e00
        } else {
            0x7c00
        }
    } else if f < (113 << 23) {
        // Subnormal or zero: let the FPU round by adding a magic number.
        let v = f32::from_bits(f) + f32::from_bits(DENORM_MAGIC);
        v.to_bits().wrapping_sub(DENORM_MAGIC)
    } else {
        let mant_odd = (f >> 13) & 1;
        // Rebias the exponent and round: +0xfff, plus one more when the kept mantissa is odd.
        let f = f
            .wrapping_add((15u32.wrapping_sub(127) << 23).wrapping_add(0xfff))
            .wrapping_add(mant_odd);
        f >> 13
    };
    sign | out as u16
}

/// Decodes a *finite* f16 (all we store): moving the bits into place and scaling by 2^112 is
/// exact for normals and subnormals alike, and branch-free, so scans vectorize it.
#[inline(always)]
pub(super) fn f16_to_f32(h: i16) -> f32 {
    const SCALE: f32 = 5.192_297e33; // 2^112
    let h = h as u16 as u32;
    let magnitude = f32::from_bits((h & 0x7fff) << 13) * SCALE;
    f32::from_bits(magnitude.to_bits() | ((h & 0x8000) << 16))
}

/// `out[r] = dot(q, row r)` for every `q.len()`-sized row of `codes`.
pub(super) fn dots_i8(q: &[i8], codes: &[i8], out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU supports AVX-512 BW (checked above); the body is safe Rust.
            unsafe { dots_i8_avx512(q, codes, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above); the body is safe Rust.
            unsafe { dots_i8_avx2(q, codes, out) };
            return;
        }
    }
    dots_i8_any(q, codes, out);
}

/// `out[r] = dot(q, decoded row r)`; `q` is f32, rows are f16.
pub(super) fn dots_f16(q: &[f32], codes: &[i16], out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512 F (checked above); the body is safe Rust.
            unsafe { dots_f16_avx512(q, codes, out) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked above); the body is safe Rust.
            unsafe { dots_f16_avx2(q, codes, out) };
            return;
        }
    }
    dots_f16_any(q, codes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn dots_i8_avx512(q: &[i8], codes: &[i8], out: &mut Vec<f32>) {
    dots_i8_any(q, codes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dots_f16_avx512(q: &[f32], codes: &[i16], out: &mut Vec<f32>) {
    dots_f16_any(q, codes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_i8_avx2(q: &[i8], codes: &[i8], out: &mut Vec<f32>) {
    dots_i8_any(q, codes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_f16_avx2(q: &[f32], codes: &[i16], out: &mut Vec<f32>) {
    dots_f16_any(q, codes, out);
}

#[inline(always)]
fn dots_i8_any(q: &[i8], codes: &[i8], out: &mut Vec<f32>) {
    out.clear();
    if q.is_empty() {
        return;
    }
    // A loop, not `map`: a closure is its own function and would not inherit the caller's
    // target features, so the kernel inlined into it would compile for baseline x86-64.
    for row in codes.chunks_exact(q.len()) {
        out.push(dot_i8(q, row) as f32);
    }
}

#[inline(always)]
fn dots_f16_any(q: &[f32], codes: &[i16], out: &mut Vec<f32>) {
    out.clear();
    if q.is_empty() {
        return;
    }
    for row in codes.chunks_exact(q.len()) {
        out.push(dot_f16(q, row));
    }
}

/// Products of i16-widened codes fit i16 (see `quantize_i8`); pairs of them summed into i32 is
/// the `pmaddwd` pattern LLVM recognizes.
#[inline(always)]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const LANES: usize = 32;
    let mut acc = [0i32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += i32::from(i16::from(x[l]) * i16::from(y[l]));
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (&x, &y) in ar.iter().zip(br) {
        sum += i32::from(x) * i32::from(y);
    }
    sum
}

/// Sixteen independent f32 accumulators: vectorizes without reassociating a float sum.
#[inline(always)]
fn dot_f16(q: &[f32], row: &[i16]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0f32; LANES];
    let (qc, rc) = (q.chunks_exact(LANES), row.chunks_exact(LANES));
    let (qr, rr) = (qc.remainder(), rc.remainder());
    for (x, h) in qc.zip(rc) {
        // Multiply then add, not `mul_add`: without FMA in the target that is a libm call.
        for l in 0..LANES {
            acc[l] += x[l] * f16_to_f32(h[l]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (&x, &h) in qr.iter().zip(rr) {
        sum += x * f16_to_f32(h);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_and_rounds_to_nearest() {
        for x in [
            0.0f32, -0.0, 1.0, -1.0, 0.5, 1e-5, -3e-7, 6.1e-5, 0.333_333, 65504.0,
        ] {
            let back = f16_to_f32(f32_to_f16(x) as i16);
            assert!((back - x).abs() <= x.abs() / 1024.0 + 6e-8, "{x} -> {back}");
        }
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(1e9), 0x7c00, "overflow is infinity");
        // 1 + 2^-11 is halfway between 1 and the next f16: ties go to the even mantissa (1.0).
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02);
    }

    #[test]
    fn kernels_match_a_naive_dot() {
        let dims = 77; // not a multiple of any lane count
        let q8: Vec<i8> = (0..dims).map(|i| ((i * 37) % 255) as i8).collect();
        let q8: Vec<i8> = q8.iter().map(|&x| x.max(-127)).collect();
        let codes8: Vec<i8> = (0..dims * 3)
            .map(|i| (((i * 91) % 255) as i8).max(-127))
            .collect();
        let mut out = Vec::new();
        dots_i8(&q8, &codes8, &mut out);
        for (r, got) in out.iter().enumerate() {
            let want: i32 = q8
                .iter()
                .zip(&codes8[r * dims..(r + 1) * dims])
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
            assert_eq!(*got, want as f32, "row {r}");
        }
        let qf: Vec<f32> = (0..dims).map(|i| (i as f32 * 0.1).sin()).collect();
        let codes16: Vec<i16> = (0..dims * 3)
            .map(|i| f32_to_f16((i as f32 * 0.37).cos()) as i16)
            .collect();
        dots_f16(&qf, &codes16, &mut out);
        assert_eq!(out.len(), 3);
        for (r, got) in out.iter().enumerate() {
            let want: f32 = qf
                .iter()
                .zip(&codes16[r * dims..(r + 1) * dims])
                .map(|(&a, &h)| a * f16_to_f32(h))
                .sum();
            assert!((got - want).abs() < 1e-4, "row {r}: {got} vs {want}");
        }
    }
}
