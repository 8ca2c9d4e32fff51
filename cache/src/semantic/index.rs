//! [`SemanticIndex`]: the context map, the global eviction FIFO and the `&self` API every worker
//! thread calls. See the parent module doc for the design and the concurrency model.

use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::partition::{Inserted, Row};
use super::table::Contexts;
use super::vector::Code;
use super::{
    Config, Hit, IndexError, Quantization, EXPIRED_SWEEP_MAX, GRAPH_THREADS_MIN, THREAD_CONTEXTS,
};

/// One admitted entry, in insertion order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Queued {
    pub context: u128,
    pub seq: u64,
    pub expires_ms: u64,
}

/// Insertion order and the live count; one mutex, taken by inserts (briefly: no vector work
/// under it), purges and snapshots.
pub(super) struct Order {
    /// Admitted entries, oldest first. Entries removed by `retain` or failed inserts are taken
    /// out, so every queued entry counts in `live`.
    pub fifo: VecDeque<Queued>,
    /// The next entry's seq.
    pub seq: u64,
    pub live: usize,
}

/// A bounded, concurrent, context-partitioned cosine index. `Send + Sync`; share it in an `Arc`.
pub struct SemanticIndex {
    pub(super) config: Config,
    /// usearch thread contexts per graph (see [`graph_threads`]).
    pub(super) threads: usize,
    pub(super) contexts: Contexts,
    pub(super) order: Mutex<Order>,
    /// Mirror of `Order::live` so `len()` takes no lock.
    pub(super) live: AtomicUsize,
    /// Every seq below this has left the FIFO by eviction (the FIFO pops in seq order). An insert
    /// whose seq was evicted while it was being added removes its own row (see `insert`).
    pub(super) evicted_below: AtomicU64,
}

thread_local! {
    /// Per-thread code scratch: encoding a query or an insert allocates only on a thread's first
    /// call.
    static CODE: RefCell<Code> = RefCell::new(Code::default());
}

/// usearch thread contexts per graph: one per core the engine may run a worker on, never fewer
/// than [`GRAPH_THREADS_MIN`] (a borrowed-out pool turns a lookup into a miss, so oversubscribed
/// callers such as tests on a 2-core machine get slack) and never more than [`THREAD_CONTEXTS`].
fn graph_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(GRAPH_THREADS_MIN, THREAD_CONTEXTS)
}

impl SemanticIndex {
    pub fn new(c: Config) -> Result<SemanticIndex, IndexError> {
        c.validate()?;
        Ok(SemanticIndex {
            config: c,
            threads: graph_threads(),
            contexts: Contexts::new(),
            order: Mutex::new(Order {
                fifo: VecDeque::new(),
                seq: 0,
                live: 0,
            }),
            live: AtomicUsize::new(0),
            evicted_below: AtomicU64::new(0),
        })
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
        let partition = self.contexts.get(context)?;
        CODE.with(|cell| {
            let mut code = cell.borrow_mut();
            code.encode(vector, self.config.quantization);
            partition.search(&mut code, &self.config, threshold, now_ms)
        })
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
        let expires_ms = now_ms.saturating_add(self.config.ttl_ms);
        let mut evicted = [None; EXPIRED_SWEEP_MAX + 1];
        let seq = self.admit(context, expires_ms, now_ms, &mut evicted);
        for q in evicted.iter().flatten() {
            self.remove_row(q.context, q.seq);
        }
        let row = Row {
            seq,
            entry,
            prompt_hash,
            expires_ms,
        };
        let added = CODE.with(|cell| {
            let mut code = cell.borrow_mut();
            code.encode(vector, self.config.quantization);
            if self.config.quantization == Quantization::F16 {
                code.fill_f16();
            }
            loop {
                let p = self
                    .contexts
                    .get_or_create(context, self.config.quantization);
                match p.insert(row, &code, &self.config, self.threads) {
                    Ok(Inserted::Yes) => return Ok(()),
                    Ok(Inserted::Dead) => continue,
                    Err(e) => return Err(e),
                }
            }
        });
        if let Err(e) = added {
            self.unadmit(seq);
            // A partition created for this insert alone would otherwise stay empty.
            self.contexts.unlink_if_empty(context);
            return Err(e);
        }
        // Evicted by another insert while we were adding (only when capacity is tiny next to
        // the number of concurrent inserters): that evictor found no row to remove, so we do.
        // Ordering: the evictor raises `evicted_below` before it takes our partition's lock, and
        // we read it after releasing that lock, so one of the two sees the row.
        if seq < self.evicted_below.load(Ordering::SeqCst) {
            self.remove_row(context, seq);
        }
        Ok(())
    }

    /// Reserves a seq and a FIFO slot for a new entry, popping evictions into `evicted` so that
    /// `live <= capacity` holds when the lock is released. The evicted rows are removed from their
    /// partitions by the caller, outside this lock.
    fn admit(
        &self,
        context: u128,
        expires_ms: u64,
        now_ms: u64,
        evicted: &mut [Option<Queued>; EXPIRED_SWEEP_MAX + 1],
    ) -> u64 {
        let mut order = self.lock_order();
        let mut n = 0;
        // INVARIANT: after the loop, live < capacity, so admitting one keeps live <= capacity.
        // At most one pop is forced by capacity (live <= capacity before this insert).
        while n < evicted.len() {
            let Some(&front) = order.fifo.front() else {
                break;
            };
            let must = order.live >= self.config.capacity;
            if !must && (n >= EXPIRED_SWEEP_MAX || now_ms < front.expires_ms) {
                break;
            }
            order.fifo.pop_front();
            order.live -= 1;
            self.evicted_below.store(front.seq + 1, Ordering::SeqCst);
            evicted[n] = Some(front);
            n += 1;
        }
        debug_assert!(order.live < self.config.capacity);
        let seq = order.seq;
        order.seq += 1;
        order.fifo.push_back(Queued {
            context,
            seq,
            expires_ms,
        });
        order.live += 1;
        self.live.store(order.live, Ordering::Relaxed);
        seq
    }

    /// Takes a failed insert's seq out of the FIFO, unless an eviction already took it.
    fn unadmit(&self, seq: u64) {
        let mut order = self.lock_order();
        // It is near the back: only inserts admitted after it lie behind it.
        if let Some(at) = order.fifo.iter().rposition(|q| q.seq == seq) {
            order.fifo.remove(at);
            order.live -= 1;
            self.live.store(order.live, Ordering::Relaxed);
        }
    }

    /// Removes one row from its partition, unlinking the partition if that emptied it.
    fn remove_row(&self, context: u128, seq: u64) {
        let Some(p) = self.contexts.get(context) else {
            return;
        };
        if p.remove_seq(&self.config, seq) {
            self.contexts.unlink_if_empty(context);
        }
    }

    /// Removes every entry for which `keep(context, entry)` is false; returns how many.
    pub fn retain(&self, keep: impl Fn(u128, u128) -> bool) -> usize {
        let mut order = self.lock_order();
        // Rows already popped by eviction but not yet removed by their inserter are not counted
        // again; the watermark cannot move while we hold the order lock.
        let evicted_below = self.evicted_below.load(Ordering::SeqCst);
        let mut doomed = HashSet::new();
        for (context, p) in self.contexts.all() {
            let (gone, empty) = p.remove_where(&self.config, |r| !keep(context, r.entry));
            doomed.extend(
                gone.iter()
                    .map(|r| r.seq)
                    .filter(|&seq| seq >= evicted_below),
            );
            if empty {
                self.contexts.unlink_if_empty(context);
            }
        }
        order.fifo.retain(|q| !doomed.contains(&q.seq));
        order.live -= doomed.len();
        self.live.store(order.live, Ordering::Relaxed);
        doomed.len()
    }

    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held: every partition's codes, rows and graph (usearch's own estimate, which counts
    /// the reservation), the context map and the FIFO. Walks every context: not for the hot path.
    pub fn memory_bytes(&self) -> usize {
        let partitions: usize = self
            .contexts
            .all()
            .iter()
            .map(|(_, p)| p.memory_bytes())
            .sum();
        let fifo = self.lock_order().fifo.capacity() * std::mem::size_of::<Queued>();
        partitions + self.contexts.memory_bytes() + fifo
    }

    pub(super) fn lock_order(&self) -> MutexGuard<'_, Order> {
        // Every critical section leaves `Order` consistent before anything that can panic.
        self.order.lock().unwrap_or_else(|e| e.into_inner())
    }
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
