//! The semantic index: one vector per cached answer, searched only within its exact context.
//!
//! The engine hashes everything that changes an answer except the last user message (system
//! prompt, earlier turns, model, tools, output-changing parameters) into a 128-bit *context*,
//! embeds the last user message, and asks [`SemanticIndex::search`] for the most similar earlier
//! prompt **with the same context**. A similar question in another conversation or for another
//! model never matches: that is the first line of defence against wrong cached answers.
//!
//! # Shape
//! - [`index`]: [`SemanticIndex`], a usearch HNSW graph (cosine, f16 or i8) shared by all cores,
//!   plus a side table from usearch key to [`Hit`] metadata, the eviction order and snapshots.
//! - [`table`]: the usearch key layout (context tag | sequence) and the sharded side table.
//! - [`snapshot`]: the byte format of [`SemanticIndex::snapshot`] / [`SemanticIndex::load`].
//!
//! # What usearch 2.26 guarantees, and what we guard (read from its `index_dense.hpp`)
//! - `add` and `search`/`filtered_search` take `&self` and may run concurrently. Each call
//!   borrows one of `threads` per-call *contexts* (scratch heaps, a visited set, a cast buffer)
//!   from a mutex-guarded free list (`thread_lock_`, `any_thread()`); when all are borrowed the call
//!   fails with "Reserve capacity ahead of ...". We reserve [`THREAD_CONTEXTS`] contexts, more than
//!   the worker threads the engine runs, and report exhaustion as a miss / [`IndexError::Busy`].
//! - `reserve` (`try_reserve`) says "no update or search operations should be running": we call it
//!   once, in the constructor and in `load`, before the index is shared.
//! - `add` needs `size() < capacity()` and never shrinks; `remove` only marks the slot free (its
//!   key becomes the free key) and a later `add` reuses that slot. So removing before adding keeps
//!   the graph at `capacity` slots forever: the memory bound is the reservation.
//! - `remove` writes the member's key while searches read it without a lock, and `save_to_buffer`
//!   must not race `add`; both run under the write half of a `RwLock` whose read half every `add`
//!   and `search` takes (uncontended reads cost one atomic; writes are rare: evictions, purges,
//!   snapshots).
//! - `filtered_search` applies the predicate only when admitting a candidate to the result set:
//!   until `expansion_search` candidates pass, it keeps walking the graph. A context with fewer
//!   entries than that would make every lookup walk the whole graph (1M distance computations). The
//!   predicate therefore carries a budget ([`FILTER_BUDGET_PER_EXPANSION`] x `expansion_search`
//!   calls); past it, it admits everything so the walk converges like an unfiltered search, and we
//!   re-check the context of every returned key exactly. The cost: an in-context neighbour is
//!   found only if it lies within the budgeted neighbourhood of the query, which holds for the
//!   near-duplicates a cache serves (similarity >= threshold) unless many *other* contexts hold
//!   near-identical prompts (the same question asked in many conversations).
//! - The predicate receives only the key, so the key itself carries a 24-bit tag of the context
//!   ([`table`]): filtering costs a shift and a compare, no lock, no lookup.
//! - The Rust binding returns `Matches` as two `Vec`s: one small allocation pair per lookup that we
//!   cannot avoid without patching usearch.
//!
//! # Invariants
//! - `len() <= capacity` at every instant; usearch never holds more live vectors than the table.
//! - Eviction order is insertion order (a FIFO of keys). With one TTL for every entry and `now_ms`
//!   non-decreasing, insertion order *is* expiry order, so "expired first, then oldest" is the FIFO
//!   front; inserts also drop up to [`EXPIRED_SWEEP_MAX`] expired entries from the front.
//! - A hit is returned only when similarity >= threshold, the context matches all 128 bits, and
//!   `now_ms < expires_ms`.
//!
//! # Performance
//! `cargo bench -p sluice-bench --bench cache_index` times single lookups (p50/p99) on 512-dim
//! random unit vectors in 1000 contexts; its doc quotes the table. Measured so far (shared 2-core
//! VM): i8 at 10k entries p50 171 µs, at 100k p50 648 µs with 85% of near-duplicates found. The
//! issue's target (p99 < 30 µs at 1M) is **not** met: uniformly random 512-dim vectors have no
//! neighbourhood structure, so an HNSW walk at `ef = 64` computes thousands of distances, and the
//! context filter cuts the usable graph 1000 ways. The naive baseline in the same bench (an exact
//! scan of the context's own vectors) is faster while contexts hold few entries; see the bench
//! doc for what to try next.

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
