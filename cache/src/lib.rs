//! sluice's response caches: exact and semantic.
//!
//! A leaf crate like `proto`: no I/O, no monoio, no `engine`. It is empty until the
//! caching issue lands; the workspace member exists so the dependency graph drawn in
//! ARCHITECTURE.md is the real one from the start.
//!
//! - [`canon`]: canonical request keys ([`canon::Key`], [`canon::request_key`],
//!   [`canon::split_last_user`]): deterministic across processes, insensitive to member
//!   order, whitespace, number spelling and string escapes. [`exact`]: the exact cache
//!   ([`exact::ExactCache`]), sharded LRU bounded in bytes, TTL, snapshot and load.
//! - [`embed`] (the [`embed::Embedder`] trait, [`embed::cosine`], the default
//!   [`embed::Lexical`] embedder: feature-hashed words and character n-grams, no
//!   allocation), [`guard`] (the precision guard: a semantic hit is refused when the two
//!   prompts differ in numbers, quoted strings, code identifiers, names or negation) and
//!   [`eval`] (hit rate, precision and recall over labelled pairs, for `sluice-loadtest
//!   cache-eval`).

pub mod canon;
pub mod embed;
pub mod eval;
pub mod exact;
pub mod guard;
