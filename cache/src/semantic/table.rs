//! The sharded map from a 128-bit context to its [`Partition`].
//!
//! A lookup takes its shard's read lock only long enough to clone the partition's `Arc`, then
//! searches under the partition's own lock: a search in one context never waits for an insert in
//! another. Shard write locks are taken to create a context or unlink an emptied one.
//!
//! INVARIANT: a partition is unlinked only after it was marked `Dead` under its own write lock, and
//! an inserter that finds it dead looks it up again, so no insert lands in an unlinked partition.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::partition::Partition;
use super::Quantization;

/// Enough that 256 cores creating contexts rarely meet on one lock.
const SHARDS: usize = 64;

/// Contexts are already strong hashes and seqs count up: a multiply is hash enough, SipHash is not
/// needed (no attacker chooses them; a context is a hash of the caller's request).
#[derive(Default)]
pub(super) struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64 ^ (n >> 64) as u64);
    }
}

type Shard = HashMap<u128, Arc<Partition>, BuildHasherDefault<SeqHasher>>;

pub(super) struct Contexts {
    shards: Box<[RwLock<Shard>]>,
}

impl Contexts {
    pub fn new() -> Contexts {
        Contexts {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, context: u128) -> &RwLock<Shard> {
        // The high bits: the map's own hash uses the low ones.
        &self.shards[((context >> 64) as u64 % SHARDS as u64) as usize]
    }

    // A shard's map is changed by single HashMap calls, which a panic cannot leave half done:
    // recover the guard instead of poisoning every later lookup.
    fn read(&self, context: u128) -> RwLockReadGuard<'_, Shard> {
        self.shard(context)
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, context: u128) -> RwLockWriteGuard<'_, Shard> {
        self.shard(context)
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, context: u128) -> Option<Arc<Partition>> {
        self.read(context).get(&context).cloned()
    }

    pub fn get_or_create(&self, context: u128, q: Quantization) -> Arc<Partition> {
        if let Some(p) = self.get(context) {
            return p;
        }
        Arc::clone(
            self.write(context)
                .entry(context)
                .or_insert_with(|| Arc::new(Partition::new(q))),
        )
    }

    /// Links a partition built elsewhere (snapshot load, before the index is shared).
    pub fn put(&self, context: u128, p: Partition) {
        self.write(context).insert(context, Arc::new(p));
    }

    /// Unlinks `context` if its partition is (still) empty.
    pub fn unlink_if_empty(&self, context: u128) {
        let mut shard = self.write(context);
        if let Some(p) = shard.get(&context) {
            if p.kill_if_empty() {
                shard.remove(&context);
            }
        }
    }

    /// Every (context, partition), one shard read-locked at a time (cold path).
    pub fn all(&self) -> Vec<(u128, Arc<Partition>)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            out.extend(shard.iter().map(|(c, p)| (*c, Arc::clone(p))));
        }
        out
    }

    /// The maps' own heap bytes (not the partitions').
    pub fn memory_bytes(&self) -> usize {
        let bucket = std::mem::size_of::<(u128, Arc<Partition>)>() + 1;
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).capacity() * bucket)
            .sum()
    }
}
