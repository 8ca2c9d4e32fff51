//! usearch keys and the side table behind them.
//!
//! A usearch key is `tag << SEQ_BITS | seq`: `tag` is a 24-bit fold of the 128-bit context, so the
//! search predicate filters by context with a shift and a compare; `seq` counts inserts, so keys
//! are unique among live entries. The side table maps the key to the full [`Meta`] and is the
//! authority: a tag collision (1 in 2^24 contexts) is caught by comparing all 128 context bits.
//!
//! INVARIANT: live keys are unique although `seq` wraps at 2^40: live entries are always among the
//! last `capacity` inserts (FIFO eviction) and `capacity <= CAPACITY_MAX < 2^40`.
//! INVARIANT: no key equals `u64::MAX`, usearch's marker of a removed slot: `tag < 2^24 - 1`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, MutexGuard};

use super::CAPACITY_MAX;

pub(super) const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
const TAG_MODULUS: u64 = (1 << (64 - SEQ_BITS)) - 1;
const _: () = assert!((CAPACITY_MAX as u64) < SEQ_MASK);

/// The 24-bit context tag placed in the key's high bits.
pub(super) fn context_tag(context: u128) -> u64 {
    // The context is already a strong hash; fold and mix so any 24 bits are as good as any other.
    let folded = (context as u64) ^ ((context >> 64) as u64);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> SEQ_BITS) % TAG_MODULUS
}

pub(super) fn make_key(tag: u64, seq: u64) -> u64 {
    debug_assert!(tag < TAG_MODULUS);
    (tag << SEQ_BITS) | (seq & SEQ_MASK)
}

pub(super) fn key_tag(key: u64) -> u64 {
    key >> SEQ_BITS
}

/// What a vector stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Meta {
    pub context: u128,
    pub entry: u128,
    pub prompt_hash: u64,
    pub expires_ms: u64,
}

/// Keys are unique integers whose low bits count up: a multiply is hash enough, SipHash is not
/// needed (no attacker chooses them).
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Shard = HashMap<u64, Meta, BuildHasherDefault<KeyHasher>>;

/// Shards: enough that 256 threads rarely meet on one lock; keys spread by their low `seq` bits.
const SHARDS: usize = 64;

/// The side table, sharded so lookups from many cores do not meet on one lock.
pub(super) struct Table {
    shards: Box<[Mutex<Shard>]>,
}

impl Table {
    pub fn new() -> Table {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave a half-written `Meta`: inserts and removes
        // are single HashMap calls. Recover the guard instead of poisoning every later lookup.
        self.shards[(key as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: u64) -> Option<Meta> {
        self.shard(key).get(&key).copied()
    }

    pub fn insert(&self, key: u64, meta: Meta) {
        self.shard(key).insert(key, meta);
    }

    pub fn remove(&self, key: u64) -> Option<Meta> {
        self.shard(key).remove(&key)
    }

    /// Calls `f` for every entry, one shard locked at a time (cold path: purges, snapshots).
    pub fn for_each(&self, mut f: impl FnMut(u64, &Meta)) {
        for shard in self.shards.iter() {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (k, m) in shard.iter() {
                f(*k, m);
            }
        }
    }

    /// Heap bytes held: buckets plus one control byte each (hashbrown's layout).
    pub fn memory_bytes(&self) -> usize {
        let bucket = std::mem::size_of::<(u64, Meta)>() + 1;
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).capacity() * bucket)
            .sum()
    }
}
