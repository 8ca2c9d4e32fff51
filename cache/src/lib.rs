//! sluice's response caches: exact and semantic.
//!
//! A leaf crate like `proto`: no I/O, no monoio, no `engine`. It is empty until the
//! caching issue lands; the workspace member exists so the dependency graph drawn in
//! ARCHITECTURE.md is the real one from the start.
//!
//! - [`semantic`]: the semantic index ([`semantic::SemanticIndex`]), a usearch HNSW graph (cosine,
//!   f16 or i8) shared by all cores, searched only within an exact context hash, bounded by
//!   capacity with FIFO/TTL eviction, and snapshotted to bytes.

pub mod semantic;
