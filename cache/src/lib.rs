//! sluice's response caches: exact and semantic.
//!
//! A leaf crate like `proto`: no I/O, no monoio, no `engine`. It is empty until the
//! caching issue lands; the workspace member exists so the dependency graph drawn in
//! ARCHITECTURE.md is the real one from the start.
//!
//! - [`embed`] (the [`embed::Embedder`] trait, [`embed::cosine`], the default
//!   [`embed::Lexical`] embedder: feature-hashed words and character n-grams, no
//!   allocation), [`guard`] (the precision guard: a semantic hit is refused when the two
//!   prompts differ in numbers, quoted strings, code identifiers, names or negation) and
//!   [`eval`] (hit rate, precision and recall over labelled pairs, for `sluice-loadtest
//!   cache-eval`).

pub mod embed;
pub mod eval;
pub mod guard;
