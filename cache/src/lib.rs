//! sluice's response caches: exact and semantic.
//!
//! A leaf crate like `proto`: no I/O, no monoio, no `engine`. It is empty until the
//! caching issue lands; the workspace member exists so the dependency graph drawn in
//! ARCHITECTURE.md is the real one from the start.

pub mod embed;
pub mod eval;
pub mod guard;
