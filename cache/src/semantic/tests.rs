use std::sync::Arc;

use super::*;

const DIMS: usize = 64;

/// xorshift64*: deterministic vectors without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn unit(&mut self, dims: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dims).map(|_| self.next_f32()).collect();
        normalize(&mut v);
        v
    }
}

fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A unit vector whose cosine with unit `v` is `target` (mixes in an orthogonal direction).
fn at_similarity(v: &[f32], target: f32, rng: &mut Rng) -> Vec<f32> {
    let mut o = rng.unit(v.len());
    let d = cosine(&o, v);
    o.iter_mut().zip(v).for_each(|(x, y)| *x -= d * y);
    normalize(&mut o);
    let s = (1.0 - target * target).sqrt();
    v.iter().zip(&o).map(|(a, b)| target * a + s * b).collect()
}

fn config(q: Quantization, capacity: usize) -> Config {
    Config::new(DIMS, capacity, q, 60_000)
}

const BOTH: [Quantization; 2] = [Quantization::F16, Quantization::I8];

#[test]
fn finds_the_same_vector_in_the_same_context_only() {
    for q in BOTH {
        let index = SemanticIndex::new(config(q, 100)).unwrap();
        let mut rng = Rng(7);
        let v = rng.unit(DIMS);
        index.insert(1, &v, 0xAA, 0x55, 0).unwrap();
        let hit = index.search(1, &v, 0.9, 1).expect("same context hits");
        assert_eq!((hit.entry, hit.prompt_hash), (0xAA, 0x55));
        let floor = if q == Quantization::F16 { 0.999 } else { 0.99 };
        assert!(
            hit.similarity > floor,
            "{q:?} self-similarity {}",
            hit.similarity
        );
        assert_eq!(index.search(2, &v, 0.0, 1), None, "other context must miss");
        // A context whose low or high half alone equals the stored one is still another context.
        assert_eq!(index.search(1 | (1 << 64), &v, 0.0, 1), None);
    }
}

#[test]
fn threshold_decides_between_hit_and_miss() {
    for q in BOTH {
        let index = SemanticIndex::new(config(q, 100)).unwrap();
        let mut rng = Rng(11);
        let v = rng.unit(DIMS);
        index.insert(9, &v, 1, 0, 0).unwrap();
        let near = at_similarity(&v, 0.8, &mut rng);
        assert!((cosine(&v, &near) - 0.8).abs() < 1e-3);
        let hit = index.search(9, &near, 0.7, 1).expect("0.8 >= 0.7");
        assert!(
            (hit.similarity - 0.8).abs() < 0.03,
            "{q:?} {}",
            hit.similarity
        );
        assert_eq!(index.search(9, &near, 0.9, 1), None, "0.8 < 0.9");
    }
}

#[test]
fn entries_expire_after_ttl() {
    let index = SemanticIndex::new(Config::new(DIMS, 10, Quantization::F16, 1_000)).unwrap();
    let v = Rng(3).unit(DIMS);
    index.insert(1, &v, 1, 0, 5_000).unwrap();
    assert!(index.search(1, &v, 0.9, 5_999).is_some());
    assert_eq!(
        index.search(1, &v, 0.9, 6_000),
        None,
        "expires at now + ttl"
    );
}

#[test]
fn capacity_evicts_oldest_and_never_exceeds() {
    for q in BOTH {
        let capacity = 100;
        let index = SemanticIndex::new(config(q, capacity)).unwrap();
        let mut rng = Rng(5);
        let vs: Vec<Vec<f32>> = (0..250).map(|_| rng.unit(DIMS)).collect();
        for (i, v) in vs.iter().enumerate() {
            index
                .insert(i as u128 % 7, v, i as u128, 0, i as u64)
                .unwrap();
            assert!(index.len() <= capacity);
        }
        assert_eq!(index.len(), capacity);
        for (i, v) in vs.iter().enumerate() {
            let hit = index.search(i as u128 % 7, v, 0.95, 300).map(|h| h.entry);
            if i < 150 {
                assert_eq!(hit, None, "{q:?}: entry {i} should be evicted");
            } else {
                assert_eq!(hit, Some(i as u128), "{q:?}: entry {i} should be kept");
            }
        }
    }
}

#[test]
fn inserts_sweep_expired_entries_first() {
    let index = SemanticIndex::new(Config::new(DIMS, 100, Quantization::F16, 100)).unwrap();
    let mut rng = Rng(13);
    for i in 0..5 {
        index.insert(1, &rng.unit(DIMS), i, 0, 0).unwrap();
    }
    let fresh = rng.unit(DIMS);
    index.insert(1, &fresh, 99, 0, 200).unwrap();
    assert_eq!(
        index.len(),
        1,
        "the five expired entries go before capacity is reached"
    );
    assert_eq!(index.search(1, &fresh, 0.9, 201).map(|h| h.entry), Some(99));
}

#[test]
fn retain_removes_matching_entries() {
    let capacity = 50;
    let index = SemanticIndex::new(config(Quantization::I8, capacity)).unwrap();
    let mut rng = Rng(17);
    let vs: Vec<Vec<f32>> = (0..40).map(|_| rng.unit(DIMS)).collect();
    for (i, v) in vs.iter().enumerate() {
        index.insert(i as u128 % 2, v, i as u128, 0, 0).unwrap();
    }
    // Purge context 0 and every entry id divisible by 5.
    let removed = index.retain(|ctx, entry| ctx != 0 && entry % 5 != 0);
    let expected = (0..40).filter(|i| i % 2 == 0 || i % 5 == 0).count();
    assert_eq!(removed, expected);
    assert_eq!(index.len(), 40 - expected);
    for (i, v) in vs.iter().enumerate() {
        let hit = index.search(i as u128 % 2, v, 0.95, 1).map(|h| h.entry);
        let kept = i % 2 == 1 && i % 5 != 0;
        assert_eq!(hit, kept.then_some(i as u128), "entry {i}");
    }
    // Refill past capacity: the freed slots are reused and the bound holds.
    for i in 0..200u128 {
        index.insert(3, &rng.unit(DIMS), 1000 + i, 0, 1).unwrap();
        assert!(index.len() <= capacity);
    }
    assert_eq!(index.len(), capacity);
}

#[test]
fn snapshot_round_trips_and_skips_expired() {
    for q in BOTH {
        let c = Config::new(DIMS, 100, q, 1_000);
        let index = SemanticIndex::new(c).unwrap();
        let mut rng = Rng(19);
        let vs: Vec<Vec<f32>> = (0..60).map(|_| rng.unit(DIMS)).collect();
        for (i, v) in vs.iter().enumerate() {
            // Entries 0..30 written at t=0 expire at 1000; 30..60 at t=500 expire at 1500.
            let now = if i < 30 { 0 } else { 500 };
            index
                .insert(i as u128 % 4, v, i as u128, i as u64 * 3, now)
                .unwrap();
        }
        let bytes = index.snapshot().unwrap();

        let same = SemanticIndex::load(&bytes, c, 600).unwrap();
        assert_eq!(same.len(), 60);
        for (i, v) in vs.iter().enumerate() {
            let before = index.search(i as u128 % 4, v, 0.9, 600);
            assert!(before.is_some());
            assert_eq!(
                same.search(i as u128 % 4, v, 0.9, 600),
                before,
                "{q:?} entry {i}"
            );
        }

        let later = SemanticIndex::load(&bytes, c, 1_200).unwrap();
        assert_eq!(later.len(), 30, "rows expired at load time are dropped");
        assert_eq!(later.search(0, &vs[0], 0.9, 1_200), None);
        assert_eq!(
            later.search(2, &vs[30], 0.9, 1_200).map(|h| h.entry),
            Some(30)
        );

        // A smaller capacity keeps the newest; inserts after load keep within it.
        let small = SemanticIndex::load(&bytes, Config { capacity: 10, ..c }, 600).unwrap();
        assert_eq!(small.len(), 10);
        assert_eq!(
            small.search(3, &vs[59], 0.9, 600).map(|h| h.entry),
            Some(59)
        );
        assert_eq!(small.search(1, &vs[49], 0.9, 600), None);
        small.insert(1, &rng.unit(DIMS), 500, 0, 600).unwrap();
        assert_eq!(small.len(), 10);
        // New keys after load do not collide with loaded ones.
        let v = rng.unit(DIMS);
        same.insert(0, &v, 777, 0, 600).unwrap();
        assert_eq!(same.search(0, &v, 0.9, 600).map(|h| h.entry), Some(777));
    }
}

#[test]
fn corrupt_or_mismatched_snapshots_are_errors() {
    let c = config(Quantization::F16, 100);
    let index = SemanticIndex::new(c).unwrap();
    let mut rng = Rng(23);
    for i in 0..20 {
        index.insert(1, &rng.unit(DIMS), i, 0, 0).unwrap();
    }
    let bytes = index.snapshot().unwrap();
    for at in [0, 5, 13, 20, bytes.len() / 2, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x40;
        let err = SemanticIndex::load(&bad, c, 0).err();
        assert!(
            matches!(err, Some(IndexError::Snapshot(_))),
            "flip at {at}: {err:?}"
        );
    }
    for len in [0, 10, 40, bytes.len() - 1] {
        let err = SemanticIndex::load(&bytes[..len], c, 0).err();
        assert!(
            matches!(err, Some(IndexError::Snapshot(_))),
            "cut at {len}: {err:?}"
        );
    }
    let other_dims = Config {
        dims: DIMS * 2,
        ..c
    };
    assert!(matches!(
        SemanticIndex::load(&bytes, other_dims, 0),
        Err(IndexError::Snapshot(_))
    ));
    let other_q = Config {
        quantization: Quantization::I8,
        ..c
    };
    assert!(matches!(
        SemanticIndex::load(&bytes, other_q, 0),
        Err(IndexError::Snapshot(_))
    ));
}

#[test]
fn bad_vectors_and_configs_are_rejected() {
    let index = SemanticIndex::new(config(Quantization::I8, 10)).unwrap();
    assert!(matches!(
        index.insert(1, &[1.0; DIMS - 1], 1, 0, 0),
        Err(IndexError::Dimensions {
            expected: DIMS,
            got: 63
        })
    ));
    assert!(matches!(
        index.insert(1, &[0.0; DIMS], 1, 0, 0),
        Err(IndexError::InvalidVector)
    ));
    let mut nan = [0.5; DIMS];
    nan[3] = f32::NAN;
    assert!(matches!(
        index.insert(1, &nan, 1, 0, 0),
        Err(IndexError::InvalidVector)
    ));
    assert_eq!(index.search(1, &[0.0; DIMS], 0.0, 0), None);
    assert!(index.is_empty());
    for bad in [
        Config {
            dims: 0,
            ..config(Quantization::F16, 10)
        },
        Config {
            capacity: 0,
            ..config(Quantization::F16, 10)
        },
        Config {
            connectivity: 1,
            ..config(Quantization::F16, 10)
        },
        Config {
            expansion_search: 0,
            ..config(Quantization::F16, 10)
        },
    ] {
        assert!(matches!(
            SemanticIndex::new(bad),
            Err(IndexError::Config(_))
        ));
    }
}

#[test]
fn a_small_context_is_found_among_many_and_misses_terminate() {
    // 3000 entries in 300 other contexts and one entry in context 42: the filter budget must not
    // hide it, and a query matching nothing must come back (bounded walk) as a miss.
    let index = SemanticIndex::new(config(Quantization::F16, 4000)).unwrap();
    let mut rng = Rng(29);
    for i in 0..3000u128 {
        index
            .insert(1000 + i % 300, &rng.unit(DIMS), i, 0, 0)
            .unwrap();
    }
    let v = rng.unit(DIMS);
    index.insert(42, &v, 4242, 0, 0).unwrap();
    let near = at_similarity(&v, 0.95, &mut rng);
    assert_eq!(index.search(42, &near, 0.9, 1).map(|h| h.entry), Some(4242));
    assert_eq!(index.search(42, &rng.unit(DIMS), 0.9, 1), None);
    assert_eq!(index.search(43, &v, 0.0, 1), None, "empty context");
}

#[test]
fn the_same_prompt_in_many_contexts_resolves_to_each_own() {
    // The hard case for a filtered HNSW walk: 50 identical vectors that differ only by context.
    let index = SemanticIndex::new(config(Quantization::I8, 2000)).unwrap();
    let mut rng = Rng(31);
    for i in 0..1000u128 {
        index.insert(10_000 + i, &rng.unit(DIMS), i, 0, 0).unwrap();
    }
    let v = rng.unit(DIMS);
    for ctx in 0..50u128 {
        index.insert(ctx, &v, 100 + ctx, 0, 0).unwrap();
    }
    for ctx in 0..50u128 {
        assert_eq!(
            index.search(ctx, &v, 0.95, 1).map(|h| h.entry),
            Some(100 + ctx),
            "ctx {ctx}"
        );
    }
}

#[test]
fn memory_stays_bounded_past_capacity() {
    let capacity = 2000;
    let index = SemanticIndex::new(config(Quantization::I8, capacity)).unwrap();
    let mut rng = Rng(37);
    for i in 0..capacity as u128 {
        index.insert(i % 100, &rng.unit(DIMS), i, 0, 0).unwrap();
    }
    let full = index.memory_bytes();
    for i in 0..(3 * capacity) as u128 {
        index.insert(i % 100, &rng.unit(DIMS), i, 0, 1).unwrap();
    }
    let after = index.memory_bytes();
    assert_eq!(index.len(), capacity);
    assert!(
        after <= full + full / 10,
        "memory grew from {full} to {after}"
    );
}

#[test]
fn threads_insert_and_search_at_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1500;
    let capacity = 2000;
    let index = Arc::new(SemanticIndex::new(config(Quantization::I8, capacity)).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                let mut rng = Rng(100 + t as u64);
                let mut found = 0;
                for i in 0..PER_THREAD {
                    let ctx = (t * 10 + i % 10) as u128;
                    let v = rng.unit(DIMS);
                    let entry = (t * PER_THREAD + i) as u128;
                    index.insert(ctx, &v, entry, 0, i as u64).unwrap();
                    assert!(index.len() <= capacity);
                    // Just inserted: the newest entry, so no concurrent eviction can have taken it.
                    if index.search(ctx, &v, 0.95, i as u64).map(|h| h.entry) == Some(entry) {
                        found += 1;
                    }
                    // A second thread's context is never this thread's answer.
                    if let Some(h) = index.search(ctx, &rng.unit(DIMS), 0.0, i as u64) {
                        assert_eq!(h.entry as usize / PER_THREAD, t, "cross-thread hit");
                    }
                }
                found
            })
        })
        .collect();
    let found: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(index.len() <= capacity);
    assert_eq!(index.len(), capacity);
    // HNSW is approximate, and a graph being linked by three other threads can hide a
    // fresh node from one search: nearly all, not all (a run saw 5,997 of 6,000).
    assert!(
        found * 100 >= THREADS * PER_THREAD * 99,
        "fresh inserts found by their writer: {found} of {}",
        THREADS * PER_THREAD
    );
}

/// A small `scan_max` so tests cross the scan -> graph boundary with few entries.
fn small_scan(q: Quantization, capacity: usize, scan_max: usize) -> Config {
    Config {
        scan_max,
        ..config(q, capacity)
    }
}

/// How many contexts hold a graph / a scan (white-box: tests must know which kind they hit).
fn kinds(index: &SemanticIndex) -> (usize, usize) {
    let mut graphs = 0;
    let mut scans = 0;
    for (_, p) in index.contexts.all() {
        match &*p.read() {
            partition::Store::Graph(_) => graphs += 1,
            partition::Store::Scan(_) => scans += 1,
            partition::Store::Dead => {}
        }
    }
    (graphs, scans)
}

#[test]
fn a_context_crossing_into_a_graph_keeps_finding_its_entries() {
    for q in BOTH {
        let index = SemanticIndex::new(small_scan(q, 1000, 32)).unwrap();
        let mut rng = Rng(41);
        let vs: Vec<Vec<f32>> = (0..300).map(|_| rng.unit(DIMS)).collect();
        for (i, v) in vs.iter().enumerate() {
            index.insert(5, v, i as u128, i as u64, 0).unwrap();
            if i == 31 {
                assert_eq!(kinds(&index), (0, 1), "{q:?}: 32 entries still scan");
            }
            if i == 32 {
                assert_eq!(kinds(&index), (1, 0), "{q:?}: the 33rd builds the graph");
            }
            // Every entry so far, at every size, including right after the switch.
            if i == 32 || i == 299 {
                for (j, w) in vs[..=i].iter().enumerate() {
                    let near = at_similarity(w, 0.95, &mut rng);
                    let hit = index.search(5, &near, 0.9, 1).expect("found");
                    assert_eq!((hit.entry, hit.prompt_hash), (j as u128, j as u64));
                }
            }
        }
        assert_eq!(index.search(6, &vs[0], 0.0, 1), None, "other context");
        // Shrinking far below scan_max goes back to a scan that still finds the rest.
        let removed = index.retain(|_, e| e >= 295);
        assert_eq!(removed, 295);
        assert_eq!(kinds(&index), (0, 1), "{q:?}: 5 entries scan again");
        for (j, w) in vs.iter().enumerate() {
            let hit = index.search(5, w, 0.95, 1).map(|h| h.entry);
            assert_eq!(hit, (j >= 295).then_some(j as u128), "{q:?} entry {j}");
        }
    }
}

#[test]
fn eviction_across_contexts_keeps_len_within_capacity() {
    let capacity = 200;
    let index = SemanticIndex::new(small_scan(Quantization::I8, capacity, 16)).unwrap();
    let mut rng = Rng(43);
    let mut vs = Vec::new();
    // Context 0 grows into a graph, then many small contexts push its entries out.
    for i in 0..1000u128 {
        let ctx = if i < 150 { 0 } else { 1 + i % 37 };
        let v = rng.unit(DIMS);
        index.insert(ctx, &v, i, 0, i as u64).unwrap();
        vs.push((ctx, v));
        assert!(index.len() <= capacity, "len {} at {i}", index.len());
    }
    assert_eq!(index.len(), capacity);
    let stored: usize = index
        .contexts
        .all()
        .iter()
        .map(|(_, p)| match &*p.read() {
            partition::Store::Scan(s) => s.rows.len(),
            partition::Store::Graph(g) => g.rows.read().unwrap().len(),
            partition::Store::Dead => 0,
        })
        .sum();
    assert_eq!(stored, capacity, "rows in partitions match len()");
    assert!(
        index.contexts.get(0).is_none(),
        "context 0 was emptied and unlinked"
    );
    for (i, (ctx, v)) in vs.iter().enumerate() {
        let hit = index.search(*ctx, v, 0.95, 2000).map(|h| h.entry);
        assert_eq!(hit, (i >= 800).then_some(i as u128), "entry {i}");
    }
}

#[test]
fn threads_insert_and_search_across_contexts_and_kinds() {
    // Four threads, each with two small contexts of its own (~94 live entries each: scans) and a
    // share of one big context (~750: a graph) that
    // crosses into a graph while they run; capacity forces evictions throughout.
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1000;
    let capacity = 1500;
    let index = Arc::new(SemanticIndex::new(small_scan(Quantization::F16, capacity, 200)).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let index = Arc::clone(&index);
            std::thread::spawn(move || {
                let mut rng = Rng(200 + t as u64);
                let mut found = 0;
                for i in 0..PER_THREAD {
                    let ctx = if i % 2 == 0 {
                        999
                    } else {
                        (t * 2 + i % 4 / 2) as u128
                    };
                    let v = rng.unit(DIMS);
                    let entry = (t * PER_THREAD + i) as u128;
                    index.insert(ctx, &v, entry, 0, i as u64).unwrap();
                    assert!(index.len() <= capacity);
                    if index.search(ctx, &v, 0.95, i as u64).map(|h| h.entry) == Some(entry) {
                        found += 1;
                    }
                    if ctx != 999 {
                        if let Some(h) = index.search(ctx, &rng.unit(DIMS), 0.0, i as u64) {
                            assert_eq!(h.entry as usize / PER_THREAD, t, "cross-thread hit");
                        }
                    }
                }
                found
            })
        })
        .collect();
    let found: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(index.len(), capacity);
    assert_eq!(
        kinds(&index),
        (1, 8),
        "the shared context became a graph, the rest scan"
    );
    // Scans are exact; the shared graph is approximate while three threads link into it.
    assert!(
        found * 100 >= THREADS * PER_THREAD * 99,
        "fresh inserts found by their writer: {found} of {}",
        THREADS * PER_THREAD
    );
}

#[test]
fn snapshot_round_trips_both_kinds_of_context() {
    for q in BOTH {
        let c = small_scan(q, 500, 20);
        let index = SemanticIndex::new(c).unwrap();
        let mut rng = Rng(47);
        // Context 1: 100 entries (graph); contexts 2..=6: 10 each (scans).
        let mut vs = Vec::new();
        for i in 0..150u128 {
            let ctx = if i < 100 { 1 } else { 2 + i % 5 };
            let v = rng.unit(DIMS);
            index.insert(ctx, &v, i, i as u64 + 7, 0).unwrap();
            vs.push((ctx, v));
        }
        assert_eq!(kinds(&index), (1, 5));
        let bytes = index.snapshot().unwrap();
        let same = SemanticIndex::load(&bytes, c, 1).unwrap();
        assert_eq!(same.len(), 150);
        assert_eq!(kinds(&same), (1, 5), "{q:?}: kinds survive the round trip");
        for (i, (ctx, v)) in vs.iter().enumerate() {
            let before = index.search(*ctx, v, 0.9, 1);
            assert_eq!(before.map(|h| h.entry), Some(i as u128));
            assert_eq!(same.search(*ctx, v, 0.9, 1), before, "{q:?} entry {i}");
        }
        // New inserts after load continue the FIFO: the oldest loaded entries go first.
        for i in 0..400u128 {
            same.insert(9, &rng.unit(DIMS), 1000 + i, 0, 1).unwrap();
        }
        assert_eq!(same.len(), 500);
        assert_eq!(same.search(1, &vs[49].1, 0.9, 1), None, "evicted");
        assert_eq!(same.search(1, &vs[50].1, 0.9, 1).map(|h| h.entry), Some(50));
        // A smaller capacity on load trims the oldest across both kinds.
        let small = SemanticIndex::load(&bytes, Config { capacity: 60, ..c }, 1).unwrap();
        assert_eq!(small.len(), 60);
        for (i, (ctx, v)) in vs.iter().enumerate() {
            let hit = small.search(*ctx, v, 0.9, 1).map(|h| h.entry);
            assert_eq!(hit, (i >= 90).then_some(i as u128), "{q:?} entry {i}");
        }
    }
}

#[test]
fn retain_across_both_kinds_of_context() {
    let index = SemanticIndex::new(small_scan(Quantization::I8, 1000, 16)).unwrap();
    let mut rng = Rng(53);
    let mut vs = Vec::new();
    // Contexts 0 and 1 become graphs (100 entries each), 2..=9 stay scans (10 each).
    for i in 0..280u128 {
        let ctx = if i < 200 { i % 2 } else { 2 + i % 8 };
        let v = rng.unit(DIMS);
        index.insert(ctx, &v, i, 0, 0).unwrap();
        vs.push((ctx, v));
    }
    assert_eq!(kinds(&index), (2, 8));
    // Purge context 1 and context 3 whole, and every third entry elsewhere.
    let keep = |ctx: u128, e: u128| ctx != 1 && ctx != 3 && !e.is_multiple_of(3);
    let removed = index.retain(keep);
    let kept = vs
        .iter()
        .enumerate()
        .filter(|(i, (ctx, _))| keep(*ctx, *i as u128))
        .count();
    assert_eq!(removed, 280 - kept);
    assert_eq!(index.len(), kept);
    assert!(index.contexts.get(1).is_none() && index.contexts.get(3).is_none());
    for (i, (ctx, v)) in vs.iter().enumerate() {
        let hit = index.search(*ctx, v, 0.95, 1).map(|h| h.entry);
        assert_eq!(hit, keep(*ctx, i as u128).then_some(i as u128), "entry {i}");
    }
}

#[test]
fn usearch_distances_use_simd_where_the_cpu_has_it() {
    // The graph's speed rests on usearch's NumKong kernels (its default `numkong` feature, which
    // compiles every x86 backend and picks one at run time). A build that lost them falls back
    // to serial loops, several times slower: catch that here rather than in a benchmark.
    for q in BOTH {
        let index = partition::new_index(&config(q, 10)).unwrap();
        let isa = index.hardware_acceleration();
        println!("usearch {q:?} cosine kernel: {isa}");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert_ne!(isa, "serial", "{q:?}");
        }
    }
}
