//! The exact cache's per-request work: the canonical key of a chat body, and a lookup or
//! insert in a cache of 100,000 entries, next to naive baselines.
//!
//! Run: `cargo bench -p sluice-bench --bench cache_exact -- --warm-up-time 1 --measurement-time 3`.
//! Before criterion starts, the binary checks under a counting global allocator that
//! `request_key` (after its per-thread scratch has grown) and `get` allocate nothing.
//!
//! - `key/ours/{1k,8k}`: `cache::canon::request_key` on a ~1 KiB and a ~8 KiB chat body
//!   (system prompt, turns, tools, parameters).
//! - `key/naive/{1k,8k}`: what a gateway without a canonicalizer does: `serde_json::Value`
//!   (whose map is a `BTreeMap`, so members come out sorted) re-serialized and hashed with
//!   SipHash. It is *not* equivalent (numbers go through `f64`, so `1` and `1.0` still
//!   differ and big integers collide) — it is the cheap thing ours must not be much slower
//!   than.
//! - `exact/{get-hit,get-miss,insert}/{1,2}`: on an `ExactCache` (16 shards) holding
//!   100,000 entries of 256-byte bodies (room for 125,000: keys do not split evenly over
//!   shards), keys drawn from a fixed pseudo-random sequence; insert puts new keys into the
//!   cache until it is full and then every insert also evicts one (the steady state), and its
//!   time includes allocating the 256-byte body. With 2 threads both run at once, started
//!   at a barrier; the time is the slower thread's wall time over its own operations
//!   (`iter_custom`).
//! - `naive/get-hit/{1,2}`: one `Mutex<HashMap<Key, Arc<Entry>>>` (std hasher) with the
//!   same entries, no LRU, no TTL, no byte accounting.
//!
//! Results, release profile, on the 2-core dev VM *while three other builds shared it*
//! (2026-12-03; expect less noise and lower 2-thread times on an idle machine). Criterion
//! medians; bodies of 1,157 and 8,226 bytes:
//!
//! | benchmark                 | time    |
//! |---------------------------|---------|
//! | `key/ours/1k`             | 2.59 µs |
//! | `key/naive/1k`            | 7.05 µs |
//! | `key/ours/8k`             | 16.2 µs |
//! | `key/naive/8k`            | 36.4 µs |
//! | `exact/get-hit/1`         | 135 ns  |
//! | `exact/get-miss/1`        | 26 ns   |
//! | `exact/naive-get-hit/1`   | 293 ns  |
//! | `exact/get-hit/2`         | 325 ns  |
//! | `exact/get-miss/2`        | 77 ns   |
//! | `exact/naive-get-hit/2`   | 703 ns  |
//! | `exact/insert/1`          | 708 ns  |
//! | `exact/insert/2`          | 1.40 µs |
//!
//! Allocations: `request_key` 0 per call once its scratch is warm, `get` 0.
//!
//! Reading: the canonical key costs about 2 ns per body byte, under half of a
//! `serde_json::Value` round trip that is not even canonical; at 1 KiB it is a small part of
//! a proxied request. A hit on a 100k-entry cache is dominated by cache misses on the map,
//! the slot and the `Arc` count (~135 ns), half the naive map's time (one lock, SipHash).
//! The 2-thread rows were measured with the cores also busy compiling; the 16 shards make
//! contention on one lock rare, so most of that rise is the shared CPU, not the cache.
//! Insert includes allocating the body, the `Arc`, and dropping the evicted entry.

use std::collections::HashMap;
use std::hash::Hasher;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

use cache::canon::{request_key, Key};
use cache::exact::{Config, Entry, ExactCache, Stored};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sluice_bench::{allocations, slowest_of as run};

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

const ENTRIES: u64 = 100_000;
const BODY_BYTES: usize = 256;
const SHARDS: usize = 16;
/// Bytes an entry costs in the cache (key + body + overhead), so that `ENTRIES` fill it.
const ENTRY_COST: usize = 16 + BODY_BYTES + cache::exact::ENTRY_OVERHEAD_BYTES;
const TTL_MS: u64 = 3_600_000;
const NOW_MS: u64 = 1_000;

/// A chat body of about `target` bytes: a system prompt, user/assistant turns, two tools
/// and the usual parameters.
fn chat_body(target: usize) -> Vec<u8> {
    let mut messages = vec![serde_json::json!({
        "role": "system",
        "content": "You are a helpful assistant. Answer briefly and cite sources when you can."
    })];
    let mut turn = 0;
    loop {
        let body = serde_json::json!({
            "model": "gpt-4o-mini",
            "messages": messages,
            "temperature": 0.2,
            "top_p": 1.0,
            "max_tokens": 512,
            "seed": 9007199254740993u64,
            "stream": true,
            "stream_options": {"include_usage": true},
            "user": "user-1234",
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}},
                {"type": "function", "function": {"name": "search", "description": "Search the web",
                 "parameters": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer", "minimum": 1, "maximum": 10}}}}}
            ],
            "tool_choice": "auto"
        });
        let bytes = serde_json::to_vec(&body).unwrap();
        if bytes.len() >= target {
            return bytes;
        }
        turn += 1;
        let (role, content) = if turn % 2 == 1 {
            ("user", format!("Question {turn}: what is the weather like in Paris, and should I bring an umbrella \"tomorrow\"? Caf\u{e9} nearby?"))
        } else {
            ("assistant", format!("Answer {turn}: it is 14\u{b0}C with light rain expected; yes, bring an umbrella. There are several caf\u{e9}s near the Louvre."))
        };
        messages.push(serde_json::json!({"role": role, "content": content}));
    }
}

/// The naive key: parse to a `serde_json::Value`, re-serialize, SipHash with fixed keys.
fn naive_key(body: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let bytes = serde_json::to_vec(&v).unwrap();
    let mut h = std::hash::DefaultHasher::new();
    h.write(&bytes);
    h.finish()
}

/// The `i`-th key of a fixed pseudo-random sequence (splitmix64), spread over every shard.
fn key(i: u64) -> Key {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    Key(u128::from(z) << 64 | u128::from(i))
}

fn body() -> Stored {
    Stored::Json(vec![b'x'; BODY_BYTES].into())
}

fn full_cache() -> ExactCache {
    let c = ExactCache::new(Config {
        // Keys do not split evenly over shards: 25% headroom so that no shard evicts
        // while it is filled.
        bytes_max: ENTRIES as usize * ENTRY_COST * 5 / 4,
        shards: SHARDS,
        ttl_ms: TTL_MS,
    });
    for i in 0..ENTRIES {
        assert!(c.insert(key(i), body(), NOW_MS));
    }
    c
}

type Naive = Mutex<HashMap<Key, Arc<Entry>>>;

fn naive_map() -> Naive {
    let mut m = HashMap::new();
    for i in 0..ENTRIES {
        let e = Entry {
            stored: body(),
            created_ms: NOW_MS,
            expires_ms: NOW_MS + TTL_MS,
            meta: Default::default(),
        };
        m.insert(key(i), Arc::new(e));
    }
    Mutex::new(m)
}

fn check_allocations(small: &[u8], large: &[u8], c: &ExactCache) {
    // Warm the per-thread scratch buffers to the largest body first.
    request_key(b"chat", b"team", large).unwrap();
    let n = allocations(|| {
        for _ in 0..1_000 {
            black_box(request_key(b"chat", b"team", small).unwrap());
            black_box(request_key(b"chat", b"team", large).unwrap());
        }
    });
    assert_eq!(n, 0, "request_key allocated {n} times in 2,000 calls");
    let n = allocations(|| {
        for i in 0..10_000 {
            black_box(c.get(key(i % ENTRIES), NOW_MS));
            black_box(c.get(key(ENTRIES + i), NOW_MS));
        }
    });
    assert_eq!(n, 0, "get allocated {n} times in 20,000 calls");
    println!("cache_exact: request_key and get allocate nothing");
}

fn bench(cr: &mut Criterion) {
    let small = chat_body(1024);
    let large = chat_body(8192);
    println!(
        "cache_exact: bodies of {} and {} bytes",
        small.len(),
        large.len()
    );
    let c = full_cache();
    check_allocations(&small, &large, &c);

    let mut g = cr.benchmark_group("key");
    for (name, body) in [("1k", &small), ("8k", &large)] {
        g.bench_with_input(BenchmarkId::new("ours", name), body, |b, body| {
            b.iter(|| request_key(b"chat", b"team", black_box(body)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("naive", name), body, |b, body| {
            b.iter(|| naive_key(black_box(body)))
        });
    }
    g.finish();

    let naive = naive_map();
    let mut g = cr.benchmark_group("exact");
    for threads in [1u64, 2] {
        g.bench_function(BenchmarkId::new("get-hit", threads), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, &|t, i| {
                    let k = key((i * 7 + t * 50_000) % ENTRIES);
                    assert!(black_box(c.get(k, NOW_MS)).is_some());
                })
            })
        });
        g.bench_function(BenchmarkId::new("get-miss", threads), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, &|t, i| {
                    let k = key(u64::MAX / 2 + i + t * (1 << 40));
                    assert!(black_box(c.get(k, NOW_MS)).is_none());
                })
            })
        });
        g.bench_function(BenchmarkId::new("naive-get-hit", threads), |b| {
            b.iter_custom(|iters| {
                run(threads, iters, &|t, i| {
                    let k = key((i * 7 + t * 50_000) % ENTRIES);
                    assert!(black_box(naive.lock().unwrap().get(&k).cloned()).is_some());
                })
            })
        });
    }
    // After every lookup: inserts evict the entries the lookups expect. Keys never repeat
    // across samples or thread counts.
    let next = std::sync::atomic::AtomicU64::new(ENTRIES);
    for threads in [1u64, 2] {
        // New keys each call: the cache stays full, so each insert evicts one entry.
        g.bench_function(BenchmarkId::new("insert", threads), |b| {
            b.iter_custom(|iters| {
                let base = next.fetch_add(threads * iters, std::sync::atomic::Ordering::Relaxed);
                run(threads, iters, &|t, i| {
                    assert!(c.insert(key(base + t * iters + i), body(), NOW_MS));
                })
            })
        });
    }
    g.finish();
    let s = c.stats();
    assert!(s.entries > ENTRIES * 9 / 10 && s.evictions > 0, "{s:?}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
