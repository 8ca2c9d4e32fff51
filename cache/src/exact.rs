//! The exact cache: answers stored under their request's canonical [`Key`], shared by every
//! worker core.
//!
//! Structure: `shards` independent `Mutex<Shard>`s (a power of two), a key's shard chosen by
//! its high 64 bits. Each shard is an LRU over a slab (a doubly linked list threaded through
//! a `Vec` by index, so touching and evicting allocate nothing) plus a `HashMap` from key to
//! slot. Entries are handed out as `Arc<Entry>`, so a replay streams from the entry without
//! holding the lock.
//!
//! Why LRU and not TinyLFU: a response cache's entries cost an upstream call to refill, and
//! a fresh answer is most likely to be asked for again soon (retries, a UI re-rendering,
//! many users of one prompt template). TinyLFU resists one-hit-wonder scans better, but it
//! needs a frequency sketch shared by all cores (more cache-line traffic per request) and
//! admission makes a just-paid-for answer unreachable. The byte bound and TTL already cap
//! what a scan can do. Revisit with hit-rate data from real traffic.
//!
//! Invariants (per shard, checked by `check` in the tests):
//! - `bytes` is the sum of [`entry_bytes`] of the entries held, and never exceeds the
//!   shard's budget `bytes_max / shards`: eviction runs *before* the new entry is linked.
//! - the map and the list hold the same keys; the list runs from most to least recently used.
//! - an entry is live on `[created_ms, expires_ms)`: a `get` at `expires_ms` is a miss, and
//!   removes it.
//!
//! Statistics are plain counters inside each shard, updated under the lock the operation
//! already holds: no extra shared cache line per request. [`ExactCache::stats`] sums them.
//!
//! The map's hasher is a multiply-fold of the key with a per-cache random seed. Keys are
//! already uniform hashes, but a client can search for bodies whose keys collide in the
//! bits a table uses; without the seed it could build long probe chains. The seed affects
//! only where a key sits in memory, never a [`Key`] or the snapshot bytes.
//!
//! Performance (`cargo bench -p sluice-bench --bench cache_exact`, table in
//! `bench/benches/cache_exact.rs`): on 100,000 entries, a hit ~135 ns and a miss ~26 ns on
//! one core, an insert that evicts ~0.7 µs; `get` allocates nothing.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::canon::Key;

mod snapshot;
#[cfg(test)]
mod tests;

pub use snapshot::SnapshotError;

/// Bytes charged per entry besides its key and payload: its slab slot (48 on 64-bit
/// targets), its map bucket (32, plus a control byte and the table's 1/8 spare), the `Arc`
/// counts and the `Entry` (16 + 104, its [`Meta`] included), and a free-list index (4):
/// about 209, rounded up; the meta's strings are charged by their length on top. The
/// assertion below keeps the constant honest when a struct grows.
pub const ENTRY_OVERHEAD_BYTES: usize = 224;
/// Bytes charged per stored stream frame besides its payload: its `Box<[u8]>` pointer and
/// length.
pub const FRAME_OVERHEAD_BYTES: usize = size_of::<Box<[u8]>>();
/// Most shards a cache may have.
pub const SHARDS_MAX: usize = 4096;

/// What is stored: the answer as the client got it (status 200 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A non-streaming response body.
    Json(Box<[u8]>),
    /// A stream's SSE `data` payloads, in order, without `data: ` and the blank line, and
    /// without the final `[DONE]`.
    Stream(Box<[Box<[u8]>]>),
}

impl Stored {
    /// Payload bytes (bodies and frames, no overhead).
    pub fn payload_bytes(&self) -> usize {
        match self {
            Stored::Json(b) => b.len(),
            Stored::Stream(frames) => frames.iter().map(|f| f.len()).sum(),
        }
    }
}

/// One cached answer.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub stored: Stored,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub meta: Meta,
}

/// What the engine records about an answer besides the answer: who may see it, for which
/// model, the prompt a semantic hit is checked against, and what the answer cost, so that
/// the admin API can purge by tenant or model and every hit can count the money it saved.
/// The cache itself never reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The tenant scope the key was made with (empty: one tenant).
    pub scope: Box<str>,
    /// The model the client asked for.
    pub model: Box<str>,
    /// The last user message's text, when the request was eligible for the semantic
    /// cache (the precision guard compares a new prompt with it); else empty.
    pub prompt: Box<str>,
    /// What the original answer cost, picodollars (0 when unknown).
    pub cost_pusd: u64,
    /// Tokens the original answer used (prompt and output), 0 when unknown.
    pub tokens: u64,
}

impl Meta {
    /// Bytes charged against the bound for the strings.
    pub fn heap_bytes(&self) -> usize {
        self.scope.len() + self.model.len() + self.prompt.len()
    }
}

/// What an entry costs against the byte bound: key, payload, and the fixed overheads.
pub fn entry_bytes(stored: &Stored) -> usize {
    let frames = match stored {
        Stored::Json(_) => 0,
        Stored::Stream(f) => f.len(),
    };
    size_of::<Key>() + ENTRY_OVERHEAD_BYTES + stored.payload_bytes() + frames * FRAME_OVERHEAD_BYTES
}

/// Sizing and lifetime. `shards` must be a power of two in `1..=SHARDS_MAX`; each shard
/// holds at most `bytes_max / shards` bytes, so an entry larger than that is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    pub bytes_max: usize,
    pub shards: usize,
    pub ttl_ms: u64,
}

/// Counters since the cache was built or loaded (`entries` and `bytes` are current).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
    pub hits: u64,
    /// Lookups that found nothing, or found an expired entry.
    pub misses: u64,
    pub insertions: u64,
    /// Entries dropped to make room.
    pub evictions: u64,
    /// Entries dropped because their TTL had passed (on `get`, or when eviction met them).
    pub expirations: u64,
    /// Entries dropped by `remove`, `retain`, `clear`, or replaced by a newer `insert`.
    pub removals: u64,
    /// Inserts refused because the entry is larger than a shard's budget.
    pub refused: u64,
}

/// The exact cache, shared by all cores. See the module doc.
pub struct ExactCache {
    shards: Box<[Padded]>,
    /// `shards.len() - 1`.
    mask: usize,
    ttl_ms: u64,
}

/// One shard on its own cache lines, so two cores locking neighbouring shards do not
/// contend on one line.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

const NIL: u32 = u32::MAX;

const _: () = assert!(
    size_of::<Slot>()
        + (size_of::<(Key, u32)>() + 1) * 9 / 8
        + 2 * size_of::<usize>()
        + size_of::<Entry>()
        + size_of::<u32>()
        <= ENTRY_OVERHEAD_BYTES
);

struct Slot {
    key: Key,
    /// `None` while the slot is on the free list.
    entry: Option<Arc<Entry>>,
    bytes: usize,
    /// Towards the most recently used end.
    prev: u32,
    /// Towards the least recently used end.
    next: u32,
}

struct Shard {
    map: HashMap<Key, u32, Seeded>,
    slots: Vec<Slot>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Most recently used.
    head: u32,
    /// Least recently used: the next to be evicted.
    tail: u32,
    bytes: usize,
    budget: usize,
    stats: Stats,
}

impl ExactCache {
    /// Panics when `c.shards` is not a power of two in `1..=SHARDS_MAX` (a configuration
    /// error the engine's config validation reports first).
    pub fn new(c: Config) -> ExactCache {
        assert!(
            c.shards.is_power_of_two() && c.shards <= SHARDS_MAX,
            "exact cache shards must be a power of two up to {SHARDS_MAX}, not {}",
            c.shards
        );
        let seed = Seeded::random();
        let budget = c.bytes_max / c.shards;
        let shards = (0..c.shards)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    map: HashMap::with_hasher(seed),
                    slots: Vec::new(),
                    free: Vec::new(),
                    head: NIL,
                    tail: NIL,
                    bytes: 0,
                    budget,
                    stats: Stats::default(),
                }))
            })
            .collect();
        ExactCache {
            shards,
            mask: c.shards - 1,
            ttl_ms: c.ttl_ms,
        }
    }

    fn shard(&self, k: Key) -> MutexGuard<'_, Shard> {
        lock(&self.shards[(k.0 >> 64) as usize & self.mask])
    }

    /// The live entry for `k`, marked most recently used. An entry whose `expires_ms` is at
    /// or before `now_ms` is removed and is a miss.
    pub fn get(&self, k: Key, now_ms: u64) -> Option<Arc<Entry>> {
        let mut s = self.shard(k);
        let Some(&i) = s.map.get(&k) else {
            s.stats.misses += 1;
            return None;
        };
        if now_ms >= s.entry(i).expires_ms {
            s.unlink(i);
            s.stats.expirations += 1;
            s.stats.misses += 1;
            return None;
        }
        let entry = s.entry(i).clone();
        s.touch(i);
        s.stats.hits += 1;
        Some(entry)
    }

    /// Store `stored` under `k`, live until `now_ms + ttl_ms`, replacing any entry for `k`
    /// and evicting the least recently used until it fits. An entry larger than a shard's
    /// budget is refused (`false`).
    pub fn insert(&self, k: Key, stored: Stored, now_ms: u64) -> bool {
        self.insert_with(k, stored, Meta::default(), now_ms)
    }

    /// [`insert`](Self::insert) with the engine's [`Meta`].
    pub fn insert_with(&self, k: Key, stored: Stored, meta: Meta, now_ms: u64) -> bool {
        let expires_ms = now_ms.saturating_add(self.ttl_ms);
        self.put(
            k,
            Entry {
                stored,
                created_ms: now_ms,
                expires_ms,
                meta,
            },
            now_ms,
        )
    }

    /// Insert an entry with its own times (load keeps the snapshot's).
    fn put(&self, k: Key, entry: Entry, now_ms: u64) -> bool {
        let bytes = entry_bytes(&entry.stored) + entry.meta.heap_bytes();
        // Allocate before locking: the critical section only links.
        let entry = Arc::new(entry);
        let mut s = self.shard(k);
        if bytes > s.budget {
            s.stats.refused += 1;
            return false;
        }
        if let Some(&i) = s.map.get(&k) {
            s.unlink(i);
            s.stats.removals += 1;
        }
        while s.bytes + bytes > s.budget {
            // INVARIANT: bytes <= budget, so a non-empty list remains while over budget.
            let t = s.tail;
            debug_assert_ne!(t, NIL);
            if now_ms >= s.entry(t).expires_ms {
                s.stats.expirations += 1;
            } else {
                s.stats.evictions += 1;
            }
            s.unlink(t);
        }
        s.link_front(k, entry, bytes);
        s.stats.insertions += 1;
        true
    }

    /// Drop the entry for `k`; whether there was one.
    pub fn remove(&self, k: Key) -> bool {
        let mut s = self.shard(k);
        let Some(&i) = s.map.get(&k) else {
            return false;
        };
        s.unlink(i);
        s.stats.removals += 1;
        true
    }

    /// Drop every entry (counters other than `entries` and `bytes` are kept).
    pub fn clear(&self) {
        for p in &self.shards {
            let mut s = lock(p);
            s.stats.removals += s.map.len() as u64;
            s.map.clear();
            s.slots.clear();
            s.free.clear();
            s.head = NIL;
            s.tail = NIL;
            s.bytes = 0;
        }
    }

    /// Keep only the entries for which `keep` is true (purge by tenant or model through the
    /// engine's side index of keys). `keep` runs under a shard's lock: it must not call into
    /// this cache.
    pub fn retain(&self, keep: impl Fn(Key, &Entry) -> bool) {
        for p in &self.shards {
            let mut s = lock(p);
            let mut i = s.head;
            while i != NIL {
                let next = s.slots[i as usize].next;
                if !keep(s.slots[i as usize].key, s.entry(i)) {
                    s.unlink(i);
                    s.stats.removals += 1;
                }
                i = next;
            }
        }
    }

    /// Entries and bytes now, and the counters summed over shards.
    pub fn stats(&self) -> Stats {
        let mut t = Stats::default();
        for p in &self.shards {
            let s = lock(p);
            let c = s.stats;
            t.entries += s.map.len() as u64;
            t.bytes += s.bytes as u64;
            t.hits += c.hits;
            t.misses += c.misses;
            t.insertions += c.insertions;
            t.evictions += c.evictions;
            t.expirations += c.expirations;
            t.removals += c.removals;
            t.refused += c.refused;
        }
        t
    }

    /// Every entry of each shard, least recently used first (so a load that inserts them in
    /// order rebuilds the recency order). The lock is held only to clone the `Arc`s.
    fn entries(&self) -> Vec<(Key, Arc<Entry>)> {
        let mut all = Vec::new();
        for p in &self.shards {
            let s = lock(p);
            all.reserve(s.map.len());
            let mut i = s.tail;
            while i != NIL {
                let slot = &s.slots[i as usize];
                all.push((slot.key, s.entry(i).clone()));
                i = slot.prev;
            }
        }
        all
    }

    /// Forget counters (after a load: what was inserted then is not traffic).
    fn reset_counters(&self) {
        for p in &self.shards {
            lock(p).stats = Stats::default();
        }
    }
}

/// A poisoned shard is still consistent: nothing in this module panics between the first
/// and last write of an update (every index is checked before the first write), so the
/// guard is taken back rather than failing every later request on this shard.
fn lock(p: &Padded) -> MutexGuard<'_, Shard> {
    p.0.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shard {
    fn entry(&self, i: u32) -> &Arc<Entry> {
        // INVARIANT: indices reachable from the map or the list are occupied slots.
        self.slots[i as usize]
            .entry
            .as_ref()
            .expect("occupied slot")
    }

    /// Remove slot `i` from the list and the map, freeing it.
    fn unlink(&mut self, i: u32) {
        let (prev, next, key, bytes) = {
            let s = &mut self.slots[i as usize];
            s.entry = None;
            (s.prev, s.next, s.key, s.bytes)
        };
        self.detach(prev, next);
        self.map.remove(&key);
        self.bytes -= bytes;
        self.free.push(i);
    }

    fn detach(&mut self, prev: u32, next: u32) {
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    /// Move slot `i` to the most recently used end.
    fn touch(&mut self, i: u32) {
        if self.head == i {
            return;
        }
        let (prev, next) = (self.slots[i as usize].prev, self.slots[i as usize].next);
        self.detach(prev, next);
        self.push_front(i);
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let s = &mut self.slots[i as usize];
            s.prev = NIL;
            s.next = old;
        }
        match old {
            NIL => self.tail = i,
            h => self.slots[h as usize].prev = i,
        }
        self.head = i;
    }

    fn link_front(&mut self, key: Key, entry: Arc<Entry>, bytes: usize) {
        let slot = Slot {
            key,
            entry: Some(entry),
            bytes,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                // A shard holds at most budget / (ENTRY_OVERHEAD_BYTES + 16) entries; with
                // u32 indices that is over 500 GiB per shard.
                let i = u32::try_from(self.slots.len()).expect("shard slot index fits u32");
                self.slots.push(slot);
                i
            }
        };
        self.push_front(i);
        self.map.insert(key, i);
        self.bytes += bytes;
    }
}

/// The map's hasher: a keyed multiply-fold of the 128-bit key (see the module doc).
#[derive(Clone, Copy)]
struct Seeded {
    lo: u64,
    hi: u64,
}

impl Seeded {
    fn random() -> Seeded {
        let r = std::collections::hash_map::RandomState::new();
        Seeded {
            lo: r.hash_one(0x736c_7569_6365_u64) | 1,
            hi: r.hash_one(0x0065_7861_6374_u64) | 1,
        }
    }
}

impl BuildHasher for Seeded {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher { seed: *self, h: 0 }
    }
}

struct FoldHasher {
    seed: Seeded,
    h: u64,
}

impl FoldHasher {
    #[inline]
    fn fold(&mut self, v: u128) {
        let a = (v as u64) ^ self.seed.lo ^ self.h;
        let b = ((v >> 64) as u64) ^ self.seed.hi;
        let p = u128::from(a) * u128::from(b);
        self.h = (p as u64) ^ ((p >> 64) as u64);
    }
}

impl Hasher for FoldHasher {
    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.fold(v);
    }

    /// `Key` hashes through `write_u128`; this general path exists for the trait only.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16) {
            let mut b = [0u8; 16];
            b[..chunk.len()].copy_from_slice(chunk);
            self.fold(u128::from_le_bytes(b));
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.h
    }
}
