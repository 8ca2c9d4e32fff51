//! Embedders: a prompt in, a unit-length vector out, behind one trait.
//!
//! The semantic cache embeds only the last user message of a request and compares it with
//! the cached prompts of the same context by cosine similarity. Every embedder is shared
//! by all worker threads (one per core) through `&self`, so implementations are
//! `Send + Sync` and keep no per-call state in `self`.
//!
//! - [`lexical`]: the default. Feature-hashed word and character n-grams, no model files,
//!   no allocation per call, microseconds per prompt.
//! - [`model2vec`]: `static`, a model2vec directory ([`StaticModel`]: a WordPiece
//!   tokenizer and a per-token embedding table, averaged), loaded once from disk.
//! - `provider` (an embeddings endpoint) comes later and implements the same [`Embedder`]
//!   trait.
//!
//! Invariants every embedder keeps: `embed` writes exactly `dims()` values; the result is
//! L2-normalized (norm 1 within float rounding), or all zeros when the text carries no
//! feature (empty or punctuation only); the same text gives bit-identical vectors in every
//! process, so vectors stored in a snapshot stay comparable after a restart.

pub mod lexical;
pub mod model2vec;

pub use lexical::Lexical;
pub use model2vec::{LoadError, StaticModel};

/// Turns a prompt into a unit-length vector. Send + Sync: one instance shared by every core.
pub trait Embedder: Send + Sync {
    /// The name operators configure (`lexical`, ...), also printed by `cache-eval`.
    fn name(&self) -> &str;
    /// The length of every vector this embedder writes.
    fn dims(&self) -> usize;
    /// Writes exactly dims() values into `out`, L2-normalized (all zeros for empty text). Must not allocate per call
    /// for `lexical` (scratch on the stack or caller-provided).
    ///
    /// Panics when `out.len() != self.dims()`: a caller bug, not a property of the text.
    fn embed(&self, text: &str, out: &mut [f32]);
}

/// Cosine similarity of two vectors of the same length, in [-1, 1]; 0 when either is all
/// zeros (an empty prompt is similar to nothing, so it can never produce a cache hit).
///
/// Vectors from an [`Embedder`] are unit length, so this is their dot product; the norms
/// are still divided out so that vectors from elsewhere (a snapshot written with other
/// rounding, a test) compare correctly. Eight independent accumulators let the compiler
/// vectorize the loop; the summation order is fixed, so the result is deterministic.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "cosine of vectors of different lengths");
    const LANES: usize = 8;
    let mut dot = [0f32; LANES];
    let mut na = [0f32; LANES];
    let mut nb = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            dot[i] += x[i] * y[i];
            na[i] += x[i] * x[i];
            nb[i] += y[i] * y[i];
        }
    }
    let (mut d, mut sa, mut sb) = (
        dot.iter().sum::<f32>(),
        na.iter().sum::<f32>(),
        nb.iter().sum::<f32>(),
    );
    for (x, y) in ra.iter().zip(rb) {
        d += x * y;
        sa += x * x;
        sb += y * y;
    }
    if sa == 0.0 || sb == 0.0 {
        return 0.0;
    }
    (d / (sa.sqrt() * sb.sqrt())).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_of_known_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert!((cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-6);
        // 45 degrees, over a length that exercises both the 8-lane body and the tail.
        let a: Vec<f32> = (0..19)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        let b: Vec<f32> = vec![1.0; 19];
        let want = 10.0 / (10f32.sqrt() * 19f32.sqrt());
        assert!((cosine(&a, &b) - want).abs() < 1e-6);
    }

    #[test]
    fn cosine_with_a_zero_vector_is_zero() {
        assert_eq!(cosine(&[0.0; 12], &[1.0; 12]), 0.0);
        assert_eq!(cosine(&[0.0; 3], &[0.0; 3]), 0.0);
    }
}
