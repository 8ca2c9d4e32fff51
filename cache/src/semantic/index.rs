//! [`SemanticIndex`]: the usearch graph, the side table and the eviction FIFO behind one `&self`
//! API that every worker thread calls. See the parent module doc for the concurrency model.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::table::{context_tag, key_tag, make_key, Meta, Table};
use super::{
    Config, Hit, IndexError, Quantization, EXPANSION_ADD, EXPIRED_SWEEP_MAX,
    FILTER_BUDGET_PER_EXPANSION, SEARCH_RESULTS_MAX, THREAD_CONTEXTS,
};

/// Insertion order and the live count; one mutex, taken by inserts, purges and snapshots only.
pub(super) struct Order {
    /// Keys in insertion order. May hold keys already removed by `retain` (skipped when popped;
    /// `retain` compacts it), so its length stays within `capacity` plus one purge's worth.
    pub fifo: VecDeque<u64>,
    pub seq: u64,
    /// Entries in the side table.
    pub live: usize,
}

/// A bounded, concurrent, context-partitioned cosine index. `Send + Sync`; share it in an `Arc`.
pub struct SemanticIndex {
    pub(super) config: Config,
    /// Read: `add`, `search`. Write: `remove`, `save_to_buffer` (see the module doc).
    pub(super) graph: RwLock<Index>,
    pub(super) table: Table,
    pub(super) order: Mutex<Order>,
    /// Mirror of `Order::live` so `len()` takes no lock.
    pub(super) live: AtomicUsize,
}

thread_local! {
    /// Per-thread i8 scratch so quantizing a query allocates only on a thread's first call.
    static I8_SCRATCH: RefCell<Vec<i8>> = const { RefCell::new(Vec::new()) };
}

impl SemanticIndex {
    pub fn new(c: Config) -> Result<SemanticIndex, IndexError> {
        c.validate()?;
        let graph = new_graph(&c)?;
        graph
            .reserve_capacity_and_threads(c.capacity, THREAD_CONTEXTS)
            .map_err(IndexError::usearch)?;
        Ok(Self::from_parts(c, graph))
    }

    pub(super) fn from_parts(c: Config, graph: Index) -> SemanticIndex {
        SemanticIndex {
            config: c,
            graph: RwLock::new(graph),
            table: Table::new(),
            order: Mutex::new(Order {
                fifo: VecDeque::new(),
                seq: 0,
                live: 0,
            }),
            live: AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The most similar same-context entry with `similarity >= threshold` that has not expired.
    /// A wrong-sized, zero or non-finite query, or exhausted usearch contexts, is a miss.
    pub fn search(
        &self,
        context: u128,
        vector: &[f32],
        threshold: f32,
        now_ms: u64,
    ) -> Option<Hit> {
        if vector.len() != self.config.dims || !valid(vector) {
            debug_assert_eq!(vector.len(), self.config.dims, "query of the wrong size");
            return None;
        }
        let tag = context_tag(context);
        let budget = Cell::new(FILTER_BUDGET_PER_EXPANSION * self.config.expansion_search);
        // Past the budget admit everything so the walk converges; results are re-checked below.
        let filter = |key: u64| {
            let left = budget.get();
            if left == 0 {
                return true;
            }
            budget.set(left - 1);
            key_tag(key) == tag
        };
        let matches = {
            let graph = self.read_graph();
            match self.config.quantization {
                Quantization::F16 => graph.filtered_search(vector, SEARCH_RESULTS_MAX, filter),
                Quantization::I8 => with_i8(vector, |q| {
                    graph.filtered_search(q, SEARCH_RESULTS_MAX, filter)
                }),
            }
        }
        .ok()?;
        // Results come sorted by distance: the first one that passes every check is the best.
        for (&key, &distance) in matches.keys.iter().zip(matches.distances.iter()) {
            let similarity = 1.0 - distance;
            if similarity < threshold {
                break;
            }
            if key_tag(key) != tag {
                continue;
            }
            let Some(meta) = self.table.get(key) else {
                continue;
            };
            if meta.context == context && now_ms < meta.expires_ms {
                return Some(Hit {
                    entry: meta.entry,
                    similarity,
                    prompt_hash: meta.prompt_hash,
                });
            }
        }
        None
    }

    /// Adds one vector. At capacity, evicts first the expired, then the oldest (insertion order,
    /// which is expiry order under one TTL); never holds more than `capacity` entries.
    pub fn insert(
        &self,
        context: u128,
        vector: &[f32],
        entry: u128,
        prompt_hash: u64,
        now_ms: u64,
    ) -> Result<(), IndexError> {
        if vector.len() != self.config.dims {
            return Err(IndexError::Dimensions {
                expected: self.config.dims,
                got: vector.len(),
            });
        }
        if !valid(vector) {
            return Err(IndexError::InvalidVector);
        }
        let meta = Meta {
            context,
            entry,
            prompt_hash,
            expires_ms: now_ms.saturating_add(self.config.ttl_ms),
        };
        let key = self.admit(meta, now_ms);
        let added = {
            let graph = self.read_graph();
            match self.config.quantization {
                Quantization::F16 => graph.add(key, vector),
                Quantization::I8 => with_i8(vector, |q| graph.add(key, q)),
            }
        };
        if let Err(e) = added {
            // Undo the admission; the FIFO keeps the dead key until it is popped or compacted.
            if self.table.remove(key).is_some() {
                let mut order = self.lock_order();
                order.live -= 1;
                self.live.store(order.live, Ordering::Relaxed);
            }
            let text = e.to_string();
            return Err(if text.contains("Reserve capacity") {
                IndexError::Busy
            } else {
                IndexError::Usearch(text)
            });
        }
        Ok(())
    }

    /// Reserves a key and a table row for a new entry, evicting to stay within capacity. The
    /// evicted vectors leave usearch before this returns, so the caller's `add` finds a free slot.
    fn admit(&self, meta: Meta, now_ms: u64) -> u64 {
        let mut order = self.lock_order();
        let mut evicted = [0u64; EXPIRED_SWEEP_MAX + 1];
        let mut n = 0;
        // INVARIANT: after the loop, live < capacity, so admitting one keeps live <= capacity.
        while order.live >= self.config.capacity || n < EXPIRED_SWEEP_MAX {
            let Some(&front) = order.fifo.front() else {
                break;
            };
            let Some(old) = self.table.get(front) else {
                order.fifo.pop_front(); // removed by `retain` or a failed add
                continue;
            };
            let must = order.live >= self.config.capacity;
            if !must && now_ms < old.expires_ms {
                break;
            }
            order.fifo.pop_front();
            self.table.remove(front);
            order.live -= 1;
            evicted[n] = front;
            n += 1;
            if n == evicted.len() {
                break;
            }
        }
        if n > 0 {
            let graph = self.write_graph();
            for &k in &evicted[..n] {
                // A failed remove leaves a vector whose key the table no longer knows: searches
                // skip it; only its slot is lost until the next snapshot/load cycle.
                let _ = graph.remove(k);
            }
        }
        let key = make_key(context_tag(meta.context), order.seq);
        order.seq = order.seq.wrapping_add(1);
        order.fifo.push_back(key);
        order.live += 1;
        self.table.insert(key, meta);
        self.live.store(order.live, Ordering::Relaxed);
        key
    }

    /// Removes every entry for which `keep(context, entry)` is false; returns how many.
    pub fn retain(&self, keep: impl Fn(u128, u128) -> bool) -> usize {
        let mut order = self.lock_order();
        let mut doomed = Vec::new();
        self.table.for_each(|k, m| {
            if !keep(m.context, m.entry) {
                doomed.push(k);
            }
        });
        {
            let graph = self.write_graph();
            for &k in &doomed {
                let _ = graph.remove(k);
            }
        }
        for &k in &doomed {
            self.table.remove(k);
        }
        order.live -= doomed.len();
        let table = &self.table;
        order.fifo.retain(|&k| table.get(k).is_some());
        self.live.store(order.live, Ordering::Relaxed);
        doomed.len()
    }

    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held: usearch's own estimate (graph + vectors, reserved up front for `capacity`),
    /// the side table and the FIFO.
    pub fn memory_bytes(&self) -> usize {
        let graph = self.read_graph().memory_usage();
        let fifo = self.lock_order().fifo.capacity() * std::mem::size_of::<u64>();
        graph + self.table.memory_bytes() + fifo
    }

    pub(super) fn read_graph(&self) -> RwLockReadGuard<'_, Index> {
        // The guarded value is usearch's handle, which a panicking holder cannot half-update.
        self.graph.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write_graph(&self) -> RwLockWriteGuard<'_, Index> {
        self.graph.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn lock_order(&self) -> MutexGuard<'_, Order> {
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) fn new_graph(c: &Config) -> Result<Index, IndexError> {
    let options = IndexOptions {
        dimensions: c.dims,
        metric: MetricKind::Cos,
        quantization: match c.quantization {
            Quantization::F16 => ScalarKind::F16,
            Quantization::I8 => ScalarKind::I8,
        },
        connectivity: c.connectivity,
        expansion_add: EXPANSION_ADD,
        expansion_search: c.expansion_search,
        multi: false,
    };
    Index::new(&options).map_err(IndexError::usearch)
}

/// Finite and not all zero: cosine is undefined otherwise.
fn valid(v: &[f32]) -> bool {
    let mut any = false;
    for &x in v {
        if !x.is_finite() {
            return false;
        }
        any |= x != 0.0;
    }
    any
}

/// Runs `f` on `v` quantized to i8: scaled so the largest |component| maps to 127, rounded.
/// Cosine ignores the scale, so every vector may use its own.
fn with_i8<R>(v: &[f32], f: impl FnOnce(&[i8]) -> R) -> R {
    I8_SCRATCH.with(|cell| {
        let mut q = cell.borrow_mut();
        quantize_i8(v, &mut q);
        f(&q)
    })
}

pub(super) fn quantize_i8(v: &[f32], out: &mut Vec<i8>) {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { 127.0 / max } else { 0.0 };
    out.clear();
    out.extend(
        v.iter()
            .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8),
    );
}
