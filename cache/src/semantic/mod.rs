//! The semantic index: one vector per cached answer, searched only within its exact context.
//!
//! The engine hashes everything that changes an answer except the last user message (system
//! prompt, earlier turns, model, tools, output-changing parameters) into a 128-bit *context*,
//! embeds the last user message, and asks [`SemanticIndex::search`] for the most similar earlier
//! prompt **with the same context**. A similar question in another conversation or for another
//! model never matches: that is the first line of defence against wrong cached answers.
//!
//! # Shape: one partition per context
//! Every context owns its entries ([`partition`]). A lookup hashes the context to one of 64 shards
//! ([`table`]), clones the context's partition handle, and searches only that partition:
//! - a context with at most [`Config::scan_max`] entries (default 1024) is an **exact scan** over
//!   its contiguous i8 or f16 codes ([`vector`]: integer-accumulated i8 dot products, f16 decoded
//!   in-register, compiled for AVX2 and AVX-512 and picked at run time). Exact: a stored
//!   near-duplicate is always found.
//! - a context that grows past `scan_max` gets **its own usearch HNSW graph** (cosine, same
//!   codes), reserved for twice its size and doubled as it grows, with one usearch thread context
//!   per core (at least [`GRAPH_THREADS_MIN`], at most [`THREAD_CONTEXTS`]). It goes back to a
//!   scan when it shrinks below `scan_max / 4` (hysteresis: no flapping at the boundary).
//!
//! No context filter is needed any more: the old shared graph's filtered walk touched other
//! contexts' nodes and lost 15% of near-duplicates at 100k entries.
//!
//! - [`index`]: [`SemanticIndex`]: the context map, the global FIFO (capacity and TTL eviction),
//!   insert/search/retain.
//! - [`partition`]: one context's scan or graph and its rows (entry, prompt hash, expiry).
//! - [`table`]: the sharded context map.
//! - [`vector`]: i8/f16 codes and the scan kernels.
//! - [`snapshot`]: the byte format of [`SemanticIndex::snapshot`] / [`SemanticIndex::load`]
//!   (graphs are saved as usearch buffers, not rebuilt).
//!
//! # Concurrency
//! - Searches take a shard's read lock (to clone an `Arc`) and then the partition's read lock: a
//!   search in one context never waits for an insert in another.
//! - Inserts take the FIFO mutex briefly (a seq, evictions; no vector work under it), then the
//!   partition: a scan's write lock, or a graph's *read* lock (usearch `add` runs beside searches
//!   and other adds), so one big context still builds from every core. Growing a graph's
//!   reservation, removals and snapshots take the partition's write lock (usearch: `reserve` must
//!   run alone, `remove` writes keys that searches read unlocked, `save_to_buffer` must not race
//!   `add`). The crossing into a graph builds it under the write lock: that context's lookups
//!   wait once for `scan_max` adds (~tens of ms).
//! - usearch keys are the global insertion seqs. An exhausted thread-context pool makes a graph
//!   search a miss, and a graph insert retry under the write lock (where it cannot be exhausted).
//!
//! # Invariants
//! - `len() <= capacity` at every instant: the FIFO mutex admits an entry only after popping
//!   enough. Evicted rows leave their partitions right after, outside the mutex; an insert that
//!   was evicted while still being added removes its own row (`SemanticIndex::insert`).
//! - Eviction order is insertion order. With one TTL for every entry and `now_ms` non-decreasing,
//!   insertion order *is* expiry order, so "expired first, then oldest" is the FIFO front; inserts
//!   also drop up to [`EXPIRED_SWEEP_MAX`] expired entries from the front.
//! - A hit is returned only when similarity >= threshold, the context matches all 128 bits (it is
//!   the map key), and `now_ms < expires_ms`.
//! - Memory: scans hold exactly their rows (plus `Vec` slack); a graph reserves at most twice its
//!   peak size and at most `capacity`, and is freed when its context shrinks to `scan_max / 4`.
//!   Graphs that shrink but stay above that keep their reservation (usearch never shrinks one).
//!
//! # Performance
//! `cargo bench -p sluice-bench --bench cache_index` times single lookups (p50/p99) at 10k, 100k
//! and 1M entries, 512 dims, clustered vectors, in 1000 contexts and in one context; its doc
//! quotes the full table (2026-12-08, shared 2-core VM). In short, against the target
//! (lookup p99 < 30 µs at 1M, near-duplicates found):
//! - 1000 contexts, i8: p99 2.2 µs at 10k, 6.0 µs at 100k, 32.7 µs at 1M (p50 22 µs), 100% of
//!   near-duplicates found (exact scans; at 1M each lookup streams ~1000 rows from DRAM). f16:
//!   8.7 µs at 100k, 94 µs at 1M. The shared graph this replaced took p50 648 µs / p99 4.9 ms at
//!   100k and found 85%.
//! - One context holding everything (its own graph): i8 p50 ~220 µs, p99 337 µs at 100k and
//!   493 µs at 1M with 90.6% found: the target is **not** met for a single huge context; the bench
//!   doc has the ef/M sweep and what to try next (sign-code prefilter or IVF for big contexts).

mod index;
mod partition;
mod snapshot;
mod table;
mod vector;

#[cfg(test)]
mod tests;

pub use index::SemanticIndex;

/// The most usearch per-call thread contexts a graph reserves: the engine never runs more
/// workers than this.
pub const THREAD_CONTEXTS: usize = 256;
/// The fewest usearch thread contexts a graph reserves, even on a machine with fewer cores.
pub const GRAPH_THREADS_MIN: usize = 8;
/// Candidates returned by a graph per lookup and checked against its rows (expiry).
pub const SEARCH_RESULTS_MAX: usize = 4;
/// Expired entries dropped from the FIFO front by one insert, beyond what capacity requires.
pub const EXPIRED_SWEEP_MAX: usize = 8;
/// usearch's `expansion_add` (its default): graph quality at insert time.
pub const EXPANSION_ADD: usize = 128;
/// Upper bounds checked by [`Config::validate`]: beyond them a config is a typo.
pub const DIMS_MAX: usize = 8192;
pub const CAPACITY_MAX: usize = 1 << 32;
pub const SCAN_MAX_MAX: usize = 1 << 16;

/// How vectors are stored. Queries and inserts are `f32`; the index converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantization {
    /// IEEE half floats: 2 bytes per dimension, near-lossless for unit vectors.
    F16,
    /// One byte per dimension. We quantize ourselves (scale by the largest component, round), not
    /// usearch (scale by the norm, truncate), which keeps ~5x more levels for a 512-dim vector.
    /// Similarity is the cosine of the quantized vectors.
    I8,
}

/// Index configuration. `capacity` bounds entries, and so memory (see `memory_bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub dims: usize,
    pub capacity: usize,
    pub quantization: Quantization,
    pub ttl_ms: u64,
    /// HNSW `M`: edges per node.
    pub connectivity: usize,
    /// HNSW `ef` at search time.
    pub expansion_search: usize,
    /// Entries a context holds before it moves from an exact scan to its own HNSW graph.
    pub scan_max: usize,
}

impl Config {
    pub const CONNECTIVITY_DEFAULT: usize = 16;
    pub const EXPANSION_SEARCH_DEFAULT: usize = 64;
    /// A 512-dim i8 scan streams ~20 ns a row from DRAM (bench `cache_index`, 1000 contexts at
    /// 1M: ~1000 rows, p50 22 µs), so 1024 rows stay near the 30 µs lookup target and are exact;
    /// a graph at 10k entries already costs ~60 µs, so the crossover is not lower.
    pub const SCAN_MAX_DEFAULT: usize = 1024;

    /// A config with the default graph parameters.
    pub fn new(dims: usize, capacity: usize, quantization: Quantization, ttl_ms: u64) -> Config {
        Config {
            dims,
            capacity,
            quantization,
            ttl_ms,
            connectivity: Self::CONNECTIVITY_DEFAULT,
            expansion_search: Self::EXPANSION_SEARCH_DEFAULT,
            scan_max: Self::SCAN_MAX_DEFAULT,
        }
    }

    fn validate(&self) -> Result<(), IndexError> {
        if self.dims == 0 || self.dims > DIMS_MAX {
            return Err(IndexError::Config("dims must be in 1..=DIMS_MAX"));
        }
        if self.capacity == 0 || self.capacity > CAPACITY_MAX {
            return Err(IndexError::Config("capacity must be in 1..=CAPACITY_MAX"));
        }
        if self.connectivity < 2 || self.connectivity > 256 {
            return Err(IndexError::Config("connectivity must be in 2..=256"));
        }
        if self.expansion_search == 0 || self.expansion_search > 4096 {
            return Err(IndexError::Config("expansion_search must be in 1..=4096"));
        }
        if self.scan_max == 0 || self.scan_max > SCAN_MAX_MAX {
            return Err(IndexError::Config("scan_max must be in 1..=SCAN_MAX_MAX"));
        }
        Ok(())
    }
}

/// The best same-context match of a lookup.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The exact-store key of the cached answer.
    pub entry: u128,
    /// Cosine similarity, `1 - distance`, after quantization.
    pub similarity: f32,
    /// Hash of the prompt that was embedded when the answer was stored (for shadow-mode logs).
    pub prompt_hash: u64,
}

/// Failures of the index. Construction, insert and snapshot paths only: lookups return `Option`.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("invalid semantic index config: {0}")]
    Config(&'static str),
    #[error("vector has {got} dimensions, the index {expected}")]
    Dimensions { expected: usize, got: usize },
    #[error("vector is zero or not finite")]
    InvalidVector,
    /// Not returned by the partitioned index (an exhausted graph retries under its write lock);
    /// kept so callers matching on it still compile.
    #[error("all usearch thread contexts of a graph are in use")]
    Busy,
    #[error("usearch: {0}")]
    Usearch(String),
    #[error("corrupt or incompatible snapshot: {0}")]
    Snapshot(&'static str),
}

impl IndexError {
    /// usearch reports C++ exceptions; their text is all we get (cold path).
    fn usearch(e: impl std::fmt::Display) -> IndexError {
        IndexError::Usearch(e.to_string())
    }
}
