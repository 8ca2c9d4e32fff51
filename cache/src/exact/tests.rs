use std::sync::Barrier;

use super::*;

/// Every per-shard invariant of the module doc.
fn check(c: &ExactCache) {
    for p in c.shards.iter() {
        let s = lock(p);
        let (mut n, mut bytes, mut prev, mut i) = (0, 0, NIL, s.head);
        while i != NIL {
            let slot = &s.slots[i as usize];
            assert_eq!(slot.prev, prev, "back link");
            assert_eq!(s.map.get(&slot.key), Some(&i), "map and list agree");
            let e = s.entry(i);
            assert_eq!(slot.bytes, entry_bytes(&e.stored) + e.meta.heap_bytes());
            bytes += slot.bytes;
            n += 1;
            prev = i;
            i = slot.next;
        }
        assert_eq!(s.tail, prev);
        assert_eq!(n, s.map.len());
        assert_eq!(n + s.free.len(), s.slots.len());
        assert_eq!(bytes, s.bytes);
        assert!(s.bytes <= s.budget, "{} > {}", s.bytes, s.budget);
    }
}

fn json(n: usize) -> Stored {
    Stored::Json(vec![b'x'; n].into())
}

/// Keys that all land in shard 0 of any cache (their high bits are zero).
fn k(i: u64) -> Key {
    Key(u128::from(i))
}

fn one_shard(bytes_max: usize, ttl_ms: u64) -> ExactCache {
    ExactCache::new(Config {
        bytes_max,
        shards: 1,
        ttl_ms,
    })
}

#[test]
fn entry_bytes_counts_key_payload_and_overheads() {
    assert_eq!(entry_bytes(&json(100)), 16 + ENTRY_OVERHEAD_BYTES + 100);
    let frames = Stored::Stream(vec![b"ab".to_vec().into(), b"cde".to_vec().into()].into());
    assert_eq!(frames.payload_bytes(), 5);
    assert_eq!(
        entry_bytes(&frames),
        16 + ENTRY_OVERHEAD_BYTES + 5 + 2 * FRAME_OVERHEAD_BYTES
    );
}

#[test]
fn get_returns_what_was_inserted() {
    let c = one_shard(1 << 20, 1000);
    assert!(c.get(k(1), 0).is_none());
    assert!(c.insert(k(1), json(10), 5));
    let e = c.get(k(1), 6).unwrap();
    assert_eq!(
        *e,
        Entry {
            stored: json(10),
            created_ms: 5,
            expires_ms: 1005,
            meta: Meta::default(),
        }
    );
    let s = c.stats();
    assert_eq!((s.entries, s.hits, s.misses, s.insertions), (1, 1, 1, 1));
    assert_eq!(s.bytes as usize, entry_bytes(&json(10)));
    check(&c);
}

#[test]
fn ttl_expires_at_the_boundary() {
    let c = one_shard(1 << 20, 500);
    c.insert(k(1), json(1), 1000);
    assert!(c.get(k(1), 1499).is_some(), "live until expires_ms");
    assert!(c.get(k(1), 1500).is_none(), "expired at expires_ms");
    let s = c.stats();
    assert_eq!(
        (s.entries, s.bytes, s.expirations, s.hits, s.misses),
        (0, 0, 1, 1, 1)
    );
    // Removed, not merely hidden: a later get with an earlier clock still misses.
    assert!(c.get(k(1), 1000).is_none());
    check(&c);
}

#[test]
fn ttl_saturates() {
    let c = one_shard(1 << 20, u64::MAX);
    c.insert(k(1), json(1), 10);
    assert_eq!(c.get(k(1), u64::MAX - 1).unwrap().expires_ms, u64::MAX);
}

#[test]
fn lru_order_decides_eviction() {
    let each = entry_bytes(&json(100));
    let c = one_shard(3 * each, 1_000_000);
    for i in 1..=3 {
        assert!(c.insert(k(i), json(100), 0));
    }
    // 1 becomes the most recently used; 2 is now the least.
    assert!(c.get(k(1), 1).is_some());
    assert!(c.insert(k(4), json(100), 2));
    assert!(c.get(k(2), 3).is_none());
    for i in [1, 3, 4] {
        assert!(c.get(k(i), 3).is_some(), "{i}");
    }
    // Touched in the order 1, 3, 4: 1 is now the least recently used.
    assert!(c.insert(k(5), json(100), 4));
    assert!(c.get(k(1), 5).is_none());
    let s = c.stats();
    assert_eq!((s.entries, s.evictions), (3, 2));
    assert_eq!(s.bytes as usize, 3 * each);
    check(&c);
}

#[test]
fn eviction_frees_enough_for_a_large_entry() {
    let small = entry_bytes(&json(10));
    let c = one_shard(10 * small, 1_000_000);
    for i in 0..10 {
        assert!(c.insert(k(i), json(10), 0));
    }
    // Needs the room of about four small entries.
    assert!(c.insert(k(100), json(3 * small), 1));
    let s = c.stats();
    assert_eq!(s.evictions, 4);
    assert_eq!(s.entries, 7);
    for i in 0..4 {
        assert!(c.get(k(i), 2).is_none());
    }
    check(&c);
}

#[test]
fn eviction_of_an_expired_entry_counts_as_expiration() {
    let each = entry_bytes(&json(10));
    let c = one_shard(2 * each, 100);
    c.insert(k(1), json(10), 0);
    c.insert(k(2), json(10), 150);
    c.insert(k(3), json(10), 160);
    let s = c.stats();
    assert_eq!((s.expirations, s.evictions), (1, 0));
}

#[test]
// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#[allow(clippy::manual_is_multiple_of)]
fn the_byte_bound_is_never_exceeded() {
    let c = ExactCache::new(Config {
        bytes_max: 64 << 10,
        shards: 4,
        ttl_ms: 1_000_000,
    });
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..5_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = Key(u128::from(x) << 64 | u128::from(i));
        let stored = if x % 3 == 0 {
            Stored::Stream(vec![vec![b'y'; (x % 300) as usize].into(); (x % 7) as usize].into())
        } else {
            json((x % 4000) as usize)
        };
        assert!(c.insert(key, stored, i));
        assert!(c.stats().bytes <= 64 << 10);
        if i % 256 == 0 {
            check(&c);
        }
    }
    check(&c);
    let s = c.stats();
    assert_eq!(s.insertions, 5_000);
    assert_eq!(
        s.entries,
        s.insertions - s.evictions - s.expirations - s.removals
    );
    assert!(
        s.bytes > (64 << 10) * 3 / 4,
        "the cache is used: {}",
        s.bytes
    );
}

#[test]
fn oversized_entries_are_refused() {
    let c = ExactCache::new(Config {
        bytes_max: 4096,
        shards: 2,
        ttl_ms: 10,
    });
    let budget = 4096 / 2;
    let fits = budget - entry_bytes(&json(0));
    assert!(c.insert(k(1), json(fits), 0));
    assert!(!c.insert(k(2), json(fits + 1), 0));
    // Refusal leaves the cache as it was.
    assert!(c.get(k(1), 1).is_some());
    let s = c.stats();
    assert_eq!((s.entries, s.refused, s.evictions), (1, 1, 0));
    assert_eq!(s.bytes as usize, budget);
    check(&c);
}

#[test]
fn insert_replaces_an_entry() {
    let c = one_shard(1 << 20, 100);
    c.insert(k(1), json(10), 0);
    c.insert(k(1), json(500), 50);
    let e = c.get(k(1), 60).unwrap();
    assert_eq!(
        (e.stored.payload_bytes(), e.created_ms, e.expires_ms),
        (500, 50, 150)
    );
    let s = c.stats();
    assert_eq!((s.entries, s.removals, s.insertions), (1, 1, 2));
    assert_eq!(s.bytes as usize, entry_bytes(&json(500)));
    check(&c);
}

#[test]
fn an_entry_handed_out_outlives_its_removal() {
    let c = one_shard(1 << 20, 100);
    c.insert(k(1), json(10), 0);
    let e = c.get(k(1), 1).unwrap();
    assert!(c.remove(k(1)));
    assert!(!c.remove(k(1)));
    assert_eq!(e.stored, json(10));
    assert_eq!(c.stats().entries, 0);
}

#[test]
#[allow(clippy::manual_is_multiple_of)]
fn clear_and_retain() {
    let c = ExactCache::new(Config {
        bytes_max: 1 << 20,
        shards: 4,
        ttl_ms: 100,
    });
    let key = |i: u64| Key(u128::from(i) << 64 | u128::from(i));
    for i in 0..100 {
        c.insert(key(i), json(i as usize), 0);
    }
    c.retain(|k, e| k.0 as u64 % 2 == 0 && e.stored.payload_bytes() < 50);
    for i in 0..100 {
        assert_eq!(c.get(key(i), 1).is_some(), i % 2 == 0 && i < 50, "{i}");
    }
    assert_eq!(c.stats().entries, 25);
    assert_eq!(c.stats().removals, 75);
    check(&c);
    c.clear();
    let s = c.stats();
    assert_eq!((s.entries, s.bytes, s.removals), (0, 0, 100));
    assert!(c.get(key(0), 1).is_none());
    // Usable after a clear.
    assert!(c.insert(key(1), json(1), 2));
    check(&c);
}

#[test]
#[should_panic(expected = "power of two")]
fn shards_must_be_a_power_of_two() {
    ExactCache::new(Config {
        bytes_max: 1 << 20,
        shards: 3,
        ttl_ms: 1,
    });
}

#[test]
fn concurrent_get_and_insert() {
    const THREADS: u64 = 4;
    const OPS: u64 = 20_000;
    let bytes_max = 256 << 10;
    let c = ExactCache::new(Config {
        bytes_max,
        shards: 8,
        ttl_ms: 5_000,
    });
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (c, barrier) = (&c, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ t;
                for i in 0..OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // 2,000 distinct keys spread over every shard; every thread shares them.
                    let id = x % 2_000;
                    let key =
                        Key(u128::from(id.wrapping_mul(0x9e37_79b9_7f4a_7c15)) << 64
                            | u128::from(id));
                    let now = i;
                    match c.get(key, now) {
                        Some(e) => assert_eq!(e.stored.payload_bytes(), (id % 512) as usize),
                        None => {
                            c.insert(key, json((id % 512) as usize), now);
                        }
                    }
                    if i % 1_000 == 0 {
                        assert!(c.stats().bytes as usize <= bytes_max);
                    }
                }
            });
        }
    });
    check(&c);
    let s = c.stats();
    assert_eq!(s.hits + s.misses, THREADS * OPS);
    assert!(s.hits > 0 && s.evictions > 0, "{s:?}");
    assert_eq!(
        s.entries,
        s.insertions - s.evictions - s.expirations - s.removals
    );
    assert!(s.bytes as usize <= bytes_max);
}

// ---- snapshot ----

fn stream(frames: &[&str]) -> Stored {
    Stored::Stream(
        frames
            .iter()
            .map(|f| f.as_bytes().to_vec().into_boxed_slice())
            .collect(),
    )
}

fn sample() -> ExactCache {
    let c = ExactCache::new(Config {
        bytes_max: 1 << 20,
        shards: 4,
        ttl_ms: 1_000,
    });
    c.insert(Key(1), Stored::Json(br#"{"id":"a"}"#.to_vec().into()), 100);
    c.insert(
        Key(2 << 64 | 2),
        stream(&[r#"{"x":1}"#, "", r#"{"y":"é"}"#]),
        200,
    );
    c.insert(Key(3 << 64 | 3), stream(&[]), 300);
    c.insert_with(
        Key(u128::MAX),
        json(0),
        Meta {
            scope: "k:alpha".into(),
            model: "gpt-4o".into(),
            prompt: "Quelle est la capitale de la France ?".into(),
            cost_pusd: 12_345,
            tokens: 77,
        },
        400,
    );
    c
}

#[test]
fn snapshot_round_trip() {
    let c = sample();
    let bytes = c.snapshot();
    let d = ExactCache::load(
        &bytes,
        Config {
            bytes_max: 1 << 20,
            shards: 2,
            ttl_ms: 7,
        },
        500,
    )
    .unwrap();
    for key in [Key(1), Key(2 << 64 | 2), Key(3 << 64 | 3), Key(u128::MAX)] {
        let (a, b) = (c.get(key, 500).unwrap(), d.get(key, 500).unwrap());
        assert_eq!(a, b, "{key:?}");
    }
    // The snapshot's times are kept, not the new config's TTL.
    assert_eq!(d.get(Key(1), 501).unwrap().expires_ms, 1100);
    let s = d.stats();
    assert_eq!((s.entries, s.insertions), (4, 0), "counters start at zero");
    assert_eq!(s.bytes, c.stats().bytes);
    check(&d);
    // A loaded cache snapshots to the same bytes when nothing was touched.
    let d = ExactCache::load(
        &bytes,
        Config {
            bytes_max: 1 << 20,
            shards: 4,
            ttl_ms: 7,
        },
        0,
    )
    .unwrap();
    assert_eq!(d.snapshot(), bytes);
}

#[test]
fn snapshot_of_an_empty_cache() {
    let c = one_shard(1000, 1);
    let d = ExactCache::load(
        &c.snapshot(),
        Config {
            bytes_max: 1000,
            shards: 1,
            ttl_ms: 1,
        },
        0,
    )
    .unwrap();
    assert_eq!(d.stats(), Stats::default());
}

#[test]
fn load_skips_expired_entries() {
    let c = sample();
    // Expiry times are 1100, 1200, 1300, 1400.
    let d = ExactCache::load(
        &c.snapshot(),
        Config {
            bytes_max: 1 << 20,
            shards: 4,
            ttl_ms: 1,
        },
        1200,
    )
    .unwrap();
    assert!(d.get(Key(1), 1200).is_none());
    assert!(d.get(Key(2 << 64 | 2), 1200).is_none());
    assert_eq!(d.stats().entries, 2, "{:?}", d.stats());
    assert!(d.get(Key(3 << 64 | 3), 1200).is_some());
    assert!(d.get(Key(u128::MAX), 1200).is_some());
}

#[test]
fn load_keeps_recency_order() {
    let each = entry_bytes(&json(10));
    let c = one_shard(4 * each, 1_000);
    for i in 1..=4 {
        c.insert(k(i), json(10), 0);
    }
    c.get(k(1), 1);
    // Recency, oldest first: 2, 3, 4, 1. A cache of half the size keeps the two newest.
    let d = ExactCache::load(
        &c.snapshot(),
        Config {
            bytes_max: 2 * each,
            shards: 1,
            ttl_ms: 1,
        },
        2,
    )
    .unwrap();
    let live: Vec<u64> = (1..=4).filter(|&i| d.get(k(i), 2).is_some()).collect();
    assert_eq!(live, [1, 4]);
}

#[test]
fn damaged_snapshots_are_refused() {
    let bytes = sample().snapshot();
    let cfg = Config {
        bytes_max: 1 << 20,
        shards: 1,
        ttl_ms: 1,
    };
    let load = |b: &[u8]| ExactCache::load(b, cfg, 0).err();
    // Every single-byte flip is caught, and none panics.
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x20;
        assert!(load(&b).is_some(), "flip at {i} loaded");
    }
    // Every truncation too.
    for n in 0..bytes.len() {
        assert!(load(&bytes[..n]).is_some(), "truncated at {n} loaded");
    }
    assert_eq!(load(&bytes[..10]), Some(SnapshotError::TooShort));
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(load(&b), Some(SnapshotError::BadMagic));
    let mut b = bytes.clone();
    b[8] = 1;
    assert_eq!(
        load(&b),
        Some(SnapshotError::Version(1)),
        "version 1 had no meta"
    );
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert_eq!(load(&b), Some(SnapshotError::Checksum));
}

/// Bytes with a valid checksum but a broken body: the structural checks alone.
fn resealed(mut body: Vec<u8>) -> Vec<u8> {
    let sum = xxhash_rust::xxh3::xxh3_64(&body);
    body.extend_from_slice(&sum.to_le_bytes());
    body
}

#[test]
fn structurally_broken_snapshots_are_refused() {
    let cfg = Config {
        bytes_max: 1 << 20,
        shards: 1,
        ttl_ms: 1,
    };
    let header = |count: u64| {
        let mut b = b"SLUICEXC".to_vec();
        b.extend_from_slice(&2u32.to_le_bytes());
        b.extend_from_slice(&count.to_le_bytes());
        b
    };
    let entry_head = |b: &mut Vec<u8>, kind: u8| {
        b.extend_from_slice(&7u128.to_le_bytes());
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.push(kind);
    };
    // More entries announced than present.
    assert_eq!(
        ExactCache::load(&resealed(header(1)), cfg, 0).err(),
        Some(SnapshotError::Truncated)
    );
    // A length beyond the end must not allocate it.
    let mut b = header(1);
    entry_head(&mut b, KIND_JSON_TEST);
    b.extend_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        ExactCache::load(&resealed(b), cfg, 0).err(),
        Some(SnapshotError::Truncated)
    );
    let mut b = header(1);
    entry_head(&mut b, KIND_STREAM_TEST);
    b.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert_eq!(
        ExactCache::load(&resealed(b), cfg, 0).err(),
        Some(SnapshotError::Truncated)
    );
    let mut b = header(1);
    entry_head(&mut b, 9);
    assert_eq!(
        ExactCache::load(&resealed(b), cfg, 0).err(),
        Some(SnapshotError::BadKind(9))
    );
    let mut b = header(0);
    b.push(0);
    assert_eq!(
        ExactCache::load(&resealed(b), cfg, 0).err(),
        Some(SnapshotError::TrailingBytes)
    );
    // And a well-formed one built by hand loads.
    let mut b = header(1);
    entry_head(&mut b, KIND_JSON_TEST);
    b.extend_from_slice(&2u64.to_le_bytes());
    b.extend_from_slice(b"{}");
    let mut sealed = b.clone();
    for text in ["k:a", "gpt", "hi"] {
        sealed.extend_from_slice(&(text.len() as u64).to_le_bytes());
        sealed.extend_from_slice(text.as_bytes());
    }
    sealed.extend_from_slice(&5u64.to_le_bytes());
    sealed.extend_from_slice(&6u64.to_le_bytes());
    let c = ExactCache::load(&resealed(sealed), cfg, 0).unwrap();
    let e = c.get(Key(7), 1).unwrap();
    assert_eq!(e.stored, Stored::Json(b"{}".to_vec().into()));
    assert_eq!(
        (
            &*e.meta.scope,
            &*e.meta.model,
            &*e.meta.prompt,
            e.meta.cost_pusd,
            e.meta.tokens
        ),
        ("k:a", "gpt", "hi", 5, 6)
    );
    // A meta string that is not UTF-8.
    let mut bad = b.clone();
    bad.extend_from_slice(&1u64.to_le_bytes());
    bad.push(0xff);
    assert_eq!(
        ExactCache::load(&resealed(bad), cfg, 0).err(),
        Some(SnapshotError::BadText)
    );
    // The meta missing entirely.
    assert_eq!(
        ExactCache::load(&resealed(b), cfg, 0).err(),
        Some(SnapshotError::Truncated)
    );
}

const KIND_JSON_TEST: u8 = 0;
const KIND_STREAM_TEST: u8 = 1;
