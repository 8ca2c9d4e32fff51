//! sluice's response caches: exact and semantic.
//!
//! A leaf crate like `proto`: no I/O (no files, sockets or clock reads: time is passed
//! in), no monoio, no `engine`; it depends on `proto` and pure crates (and usearch's C++
//! HNSW). The engine wires these pieces into the request path (the caching issue).
//! One exception to "no files": [`embed::StaticModel::load`] reads a model directory once, at startup.
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
//! - [`semantic`]: the semantic index ([`semantic::SemanticIndex`]), shared by all cores and
//!   partitioned by exact context hash: a small context is an exact SIMD scan of its i8/f16
//!   vectors, a big one (past `Config::scan_max`) its own usearch HNSW graph (cosine); bounded
//!   by capacity with FIFO/TTL eviction, and snapshotted to bytes.

pub mod canon;
pub mod embed;
pub mod eval;
pub mod exact;
pub mod guard;
pub mod semantic;
