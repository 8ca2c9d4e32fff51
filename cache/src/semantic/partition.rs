//! One context's entries: an exact scan over contiguous codes while the context is small, its
//! own usearch HNSW graph once it grows past `Config::scan_max`.
//!
//! Locking: a [`Partition`] is one `RwLock`. Searches take the read half. A scan context's insert
//! and every removal take the write half. A graph context's insert takes the *read* half (usearch
//! `add` is safe beside other `add`s and searches; the row map has its own `RwLock`), so one big
//! context still builds from every core; only growing the graph's reservation, removals (usearch
//! `remove` writes a key that searches read unlocked) and snapshots take the write half.
//!
//! usearch keys are the entries' global sequence numbers (unique, never `u64::MAX`, usearch's
//! free-slot marker: 2^64 inserts do not happen).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::table::SeqHasher;
use super::vector::{dots_f16, dots_i8, f16_to_f32, inv_norm, Code};
use super::{Config, Hit, IndexError, Quantization, EXPANSION_ADD, SEARCH_RESULTS_MAX};

/// What an entry stands for, besides its vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Row {
    /// Global insertion number: the usearch key, and the FIFO order.
    pub seq: u64,
    pub entry: u128,
    pub prompt_hash: u64,
    pub expires_ms: u64,
}

pub(super) type RowMap = HashMap<u64, Row, BuildHasherDefault<SeqHasher>>;

/// Contiguous codes of a small context, row `r` at `r * dims`.
pub(super) enum Codes {
    I8(Vec<i8>),
    F16(Vec<i16>),
}

pub(super) struct Scan {
    pub codes: Codes,
    /// `inv_norms[r]` belongs to `rows[r]` and to code row `r`.
    pub inv_norms: Vec<f32>,
    pub rows: Vec<Row>,
}

pub(super) struct Graph {
    pub index: Index,
    /// seq -> row, for every vector in `index`.
    pub rows: RwLock<RowMap>,
}

pub(super) enum Store {
    Scan(Scan),
    Graph(Graph),
    /// Emptied and unlinked from the context map; an inserter holding it must look again.
    Dead,
}

pub(super) struct Partition {
    store: RwLock<Store>,
}

/// The result of an insert attempt.
pub(super) enum Inserted {
    Yes,
    /// The partition was unlinked meanwhile; insert into the map's current one.
    Dead,
}

impl Partition {
    pub fn new(q: Quantization) -> Partition {
        Partition {
            store: RwLock::new(Store::Scan(Scan::new(q))),
        }
    }

    pub fn from_store(store: Store) -> Partition {
        Partition {
            store: RwLock::new(store),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Store> {
        // Every mutation below either completes or leaves the store as it was (a failed usearch
        // call changes nothing we rely on), so a panicking holder does not poison the data.
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn search(&self, q: &mut Code, c: &Config, threshold: f32, now_ms: u64) -> Option<Hit> {
        match &*self.read() {
            Store::Scan(s) => s.search(q, threshold, now_ms),
            Store::Graph(g) => g.search(q, c.quantization, threshold, now_ms),
            Store::Dead => None,
        }
    }

    pub fn insert(
        &self,
        row: Row,
        code: &Code,
        c: &Config,
        threads: usize,
    ) -> Result<Inserted, IndexError> {
        {
            let store = self.read();
            match &*store {
                Store::Graph(g) => {
                    if g.try_add(row, code, c.quantization)? {
                        return Ok(Inserted::Yes);
                    }
                    // Full: grow under the write half below.
                }
                Store::Dead => return Ok(Inserted::Dead),
                Store::Scan(_) => {}
            }
        }
        let mut store = self.write();
        match &mut *store {
            Store::Dead => Ok(Inserted::Dead),
            Store::Graph(g) => {
                g.add_exclusive(row, code, c, threads)?;
                Ok(Inserted::Yes)
            }
            Store::Scan(s) => {
                s.push(row, code);
                if s.rows.len() > c.scan_max {
                    // A failed build keeps the scan: slower, still exact; the next insert retries.
                    if let Ok(g) = Graph::build(s, c, threads) {
                        *store = Store::Graph(g);
                    }
                }
                Ok(Inserted::Yes)
            }
        }
    }

    /// Removes the rows whose seq `doomed` accepts; returns (removed rows, partition now empty).
    /// A graph context that shrinks below a quarter of `scan_max` goes back to a scan, which
    /// frees its graph (the hysteresis keeps a context at the boundary from flapping).
    pub fn remove_where(
        &self,
        c: &Config,
        mut doomed: impl FnMut(&Row) -> bool,
    ) -> (Vec<Row>, bool) {
        let mut store = self.write();
        let removed = match &mut *store {
            Store::Dead => return (Vec::new(), false),
            Store::Scan(s) => s.remove_where(&mut doomed),
            Store::Graph(g) => {
                let rows = g.rows.get_mut().unwrap_or_else(|e| e.into_inner());
                let gone: Vec<Row> = rows.values().filter(|r| doomed(r)).copied().collect();
                for r in &gone {
                    rows.remove(&r.seq);
                    // A failed remove leaves a vector without a row: searches skip it.
                    let _ = g.index.remove(r.seq);
                }
                gone
            }
        };
        (removed, settle(&mut store, c))
    }

    /// Removes the row `seq` (an eviction); returns whether the partition is now empty. A graph
    /// finds it by key: evicting from a big context must not walk all its rows.
    pub fn remove_seq(&self, c: &Config, seq: u64) -> bool {
        let mut store = self.write();
        match &mut *store {
            Store::Dead => return false,
            Store::Scan(s) => {
                s.remove_where(&mut |r: &Row| r.seq == seq);
            }
            Store::Graph(g) => {
                let rows = g.rows.get_mut().unwrap_or_else(|e| e.into_inner());
                if rows.remove(&seq).is_some() {
                    let _ = g.index.remove(seq);
                }
            }
        }
        settle(&mut store, c)
    }

    /// Marks an empty partition dead (the caller then unlinks it); false if it is not empty.
    pub fn kill_if_empty(&self) -> bool {
        let mut store = self.write();
        let empty = match &*store {
            Store::Scan(s) => s.rows.is_empty(),
            Store::Graph(g) => g.rows.read().unwrap_or_else(|e| e.into_inner()).is_empty(),
            Store::Dead => true,
        };
        if empty {
            *store = Store::Dead;
        }
        empty
    }

    pub fn memory_bytes(&self) -> usize {
        match &*self.read() {
            Store::Scan(s) => s.memory_bytes(),
            Store::Graph(g) => {
                let rows = g.rows.read().unwrap_or_else(|e| e.into_inner());
                g.index.memory_usage() + rows.capacity() * (std::mem::size_of::<(u64, Row)>() + 1)
            }
            Store::Dead => 0,
        }
    }
}

/// After removals: a graph below a quarter of `scan_max` goes back to a scan (freeing the graph;
/// a failed read-out keeps the graph). Returns whether the partition is empty.
fn settle(store: &mut Store, c: &Config) -> bool {
    if let Store::Graph(g) = &*store {
        let len = g.rows.read().unwrap_or_else(|e| e.into_inner()).len();
        if len < c.scan_max / 4 {
            if let Ok(s) = g.to_scan(c.quantization) {
                *store = Store::Scan(s);
            }
        }
    }
    match &*store {
        Store::Scan(s) => s.rows.is_empty(),
        Store::Graph(g) => g.rows.read().unwrap_or_else(|e| e.into_inner()).is_empty(),
        Store::Dead => false,
    }
}

impl Scan {
    pub fn new(q: Quantization) -> Scan {
        Scan {
            codes: match q {
                Quantization::I8 => Codes::I8(Vec::new()),
                Quantization::F16 => Codes::F16(Vec::new()),
            },
            inv_norms: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row, code: &Code) {
        match &mut self.codes {
            Codes::I8(v) => v.extend_from_slice(&code.i8),
            Codes::F16(v) => v.extend_from_slice(&code.f16),
        }
        self.inv_norms.push(code.inv_norm);
        self.rows.push(row);
    }

    fn search(&self, q: &Code, threshold: f32, now_ms: u64) -> Option<Hit> {
        if self.rows.is_empty() {
            return None;
        }
        DOTS.with(|cell| {
            let mut dots = cell.borrow_mut();
            let q_inv = match &self.codes {
                Codes::I8(codes) => {
                    dots_i8(&q.i8, codes, &mut dots);
                    q.inv_norm
                }
                // The query stays f32 (unit length); only rows are decoded.
                Codes::F16(codes) => {
                    dots_f16(&q.unit, codes, &mut dots);
                    1.0
                }
            };
            debug_assert_eq!(dots.len(), self.rows.len());
            let mut best: Option<(usize, f32)> = None;
            for (r, (&dot, &inv)) in dots.iter().zip(&self.inv_norms).enumerate() {
                let similarity = dot * inv * q_inv;
                if similarity >= threshold
                    && best.is_none_or(|(_, s)| similarity > s)
                    && now_ms < self.rows[r].expires_ms
                {
                    best = Some((r, similarity));
                }
            }
            best.map(|(r, similarity)| Hit {
                entry: self.rows[r].entry,
                similarity,
                prompt_hash: self.rows[r].prompt_hash,
            })
        })
    }

    fn remove_where(&mut self, doomed: &mut impl FnMut(&Row) -> bool) -> Vec<Row> {
        let mut gone = Vec::new();
        let mut r = 0;
        while r < self.rows.len() {
            if doomed(&self.rows[r]) {
                gone.push(self.swap_remove(r));
            } else {
                r += 1;
            }
        }
        gone
    }

    fn swap_remove(&mut self, r: usize) -> Row {
        let dims = self.dims();
        let last = self.rows.len() - 1;
        match &mut self.codes {
            Codes::I8(v) => swap_remove_row(v, r, last, dims),
            Codes::F16(v) => swap_remove_row(v, r, last, dims),
        }
        self.inv_norms.swap_remove(r);
        self.rows.swap_remove(r)
    }

    fn dims(&self) -> usize {
        let codes = match &self.codes {
            Codes::I8(v) => v.len(),
            Codes::F16(v) => v.len(),
        };
        codes / self.rows.len().max(1)
    }

    pub fn code_row(&self, r: usize, dims: usize, out: &mut Code) {
        match &self.codes {
            Codes::I8(v) => {
                out.i8.clear();
                out.i8.extend_from_slice(&v[r * dims..(r + 1) * dims]);
            }
            Codes::F16(v) => {
                out.f16.clear();
                out.f16.extend_from_slice(&v[r * dims..(r + 1) * dims]);
            }
        }
        out.inv_norm = self.inv_norms[r];
    }

    fn memory_bytes(&self) -> usize {
        let codes = match &self.codes {
            Codes::I8(v) => v.capacity(),
            Codes::F16(v) => v.capacity() * 2,
        };
        codes + self.inv_norms.capacity() * 4 + self.rows.capacity() * std::mem::size_of::<Row>()
    }
}

fn swap_remove_row<T: Copy>(v: &mut Vec<T>, r: usize, last: usize, dims: usize) {
    if r != last {
        v.copy_within(last * dims..(last + 1) * dims, r * dims);
    }
    v.truncate(last * dims);
}

impl Graph {
    pub fn empty(c: &Config, members: usize, threads: usize) -> Result<Graph, IndexError> {
        let index = new_index(c)?;
        index
            .reserve_capacity_and_threads(members, threads)
            .map_err(IndexError::usearch)?;
        Ok(Graph {
            index,
            rows: RwLock::new(RowMap::default()),
        })
    }

    /// A graph holding every row of `s` (a context crossing `scan_max`), reserved for twice as
    /// many. Runs under the partition's write lock: the context's lookups wait for it once.
    fn build(s: &Scan, c: &Config, threads: usize) -> Result<Graph, IndexError> {
        let g = Graph::empty(
            c,
            (2 * s.rows.len()).min(c.capacity.max(s.rows.len())),
            threads,
        )?;
        let dims = c.dims;
        let mut code = Code::default();
        for (r, row) in s.rows.iter().enumerate() {
            s.code_row(r, dims, &mut code);
            add(&g.index, row.seq, &code, c.quantization).map_err(IndexError::usearch)?;
        }
        let rows = g.rows.write();
        let mut rows = rows.unwrap_or_else(|e| e.into_inner());
        rows.extend(s.rows.iter().map(|r| (r.seq, *r)));
        drop(rows);
        Ok(g)
    }

    /// Back to a scan: vectors are read out of usearch (they are our own codes, stored as is).
    fn to_scan(&self, q: Quantization) -> Result<Scan, IndexError> {
        let dims = self.index.dimensions();
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        let mut s = Scan::new(q);
        let mut code = Code::default();
        let mut ordered: Vec<Row> = rows.values().copied().collect();
        ordered.sort_unstable_by_key(|r| r.seq);
        for row in ordered {
            match q {
                Quantization::I8 => {
                    code.i8.resize(dims, 0);
                    self.index
                        .get(row.seq, &mut code.i8)
                        .map_err(IndexError::usearch)?;
                    code.inv_norm = inv_norm(code.i8.iter().map(|&x| f32::from(x)));
                }
                Quantization::F16 => {
                    code.f16.resize(dims, 0);
                    let out = usearch::f16::from_mut_i16s(&mut code.f16);
                    self.index.get(row.seq, out).map_err(IndexError::usearch)?;
                    code.inv_norm = inv_norm(code.f16.iter().map(|&h| f16_to_f32(h)));
                }
            }
            s.push(row, &code);
        }
        Ok(s)
    }

    /// Adds under the partition's read lock. `Ok(false)`: the reservation is full (or, rarely,
    /// every usearch thread context is borrowed); the caller retries with the write lock.
    fn try_add(&self, row: Row, code: &Code, q: Quantization) -> Result<bool, IndexError> {
        match add(&self.index, row.seq, code, q) {
            Ok(()) => {
                let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
                rows.insert(row.seq, row);
                Ok(true)
            }
            Err(e) if e.to_string().contains("Reserve capacity") => Ok(false),
            Err(e) => Err(IndexError::usearch(e)),
        }
    }

    /// Adds with the partition's write lock held: nothing else runs in usearch, so growing the
    /// reservation is allowed. It doubles, capped by the index-wide capacity.
    fn add_exclusive(
        &mut self,
        row: Row,
        code: &Code,
        c: &Config,
        threads: usize,
    ) -> Result<(), IndexError> {
        let (size, capacity) = (self.index.size(), self.index.capacity());
        if size >= capacity {
            let members = (2 * capacity).min(c.capacity).max(size + 1);
            self.index
                .reserve_capacity_and_threads(members, threads)
                .map_err(IndexError::usearch)?;
        }
        add(&self.index, row.seq, code, c.quantization).map_err(IndexError::usearch)?;
        self.rows
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.seq, row);
        Ok(())
    }

    fn search(
        &self,
        q: &mut Code,
        quant: Quantization,
        threshold: f32,
        now_ms: u64,
    ) -> Option<Hit> {
        let matches = match quant {
            Quantization::I8 => self.index.search(&q.i8, SEARCH_RESULTS_MAX),
            Quantization::F16 => self
                .index
                .search(usearch::f16::from_i16s(q.fill_f16()), SEARCH_RESULTS_MAX),
        }
        .ok()?;
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        // Results come sorted by distance: the first live one is the best.
        for (key, distance) in matches.keys.iter().zip(matches.distances.iter()) {
            let similarity = 1.0 - distance;
            if similarity < threshold {
                break;
            }
            let Some(row) = rows.get(key) else {
                continue;
            };
            if now_ms < row.expires_ms {
                return Some(Hit {
                    entry: row.entry,
                    similarity,
                    prompt_hash: row.prompt_hash,
                });
            }
        }
        None
    }
}

thread_local! {
    /// Per-thread similarity scratch for scans: allocates only on a thread's first scans.
    static DOTS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// usearch's error is a `cxx::Exception`; we only read its text (cold path).
fn add(
    index: &Index,
    key: u64,
    code: &Code,
    q: Quantization,
) -> Result<(), impl std::fmt::Display> {
    debug_assert_ne!(key, u64::MAX, "usearch's free-slot key");
    match q {
        Quantization::I8 => index.add(key, &code.i8),
        Quantization::F16 => index.add(key, usearch::f16::from_i16s(&code.f16)),
    }
}

pub(super) fn new_index(c: &Config) -> Result<Index, IndexError> {
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
