//! The semantic cache's per-lookup CPU before the index: the `lexical` embedder and the
//! precision guard.
//!
//! Run: `cargo bench -p sluice-bench --bench cache_embed -- --warm-up-time 1 --measurement-time 3`.
//! Before criterion starts, the binary counts allocations (the `Counting` global
//! allocator) and fails if one `Lexical::embed` allocates: the embedder runs on every
//! semantic lookup, on every core. It prints the guard's count too (zero for prompts with
//! fewer than `BAG_INLINE` features of each kind).
//!
//! - `lexical/20w`, `lexical/100w`: embed a 20-word and a 100-word prompt, 512 dims
//!   (the target: under 5 µs for 100 words).
//! - `guard/near-miss`: `guard::check` on "capital of France" vs "capital of Germany"
//!   style prompts that pass every rule up to names; `guard/pass-100w` on a 100-word
//!   prompt against a paraphrase of itself (every rule runs to the end).
//! - `cosine/512`: the similarity of two 512-dim vectors, for scale.

use std::hint::black_box;

use cache::embed::{cosine, Embedder, Lexical};
use cache::guard;
use criterion::{criterion_group, criterion_main, Criterion};
use sluice_bench::allocations;

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

const PROMPT_20W: &str = "How do I configure the connection pool size and timeout for a Postgres \
    database in a small web service?";

const PROMPT_100W: &str = "Our team is planning a small offsite for twelve people next month. We \
    need a venue within an hour of the city, with a meeting room, decent food and a few outdoor \
    activities. The budget is around four hundred dollars per person for two nights. Could you \
    suggest three kinds of places we should look at, explain the trade-offs of each, and list the \
    questions we should ask the venues before we sign anything? Please keep the answer short and \
    practical, and mention anything that usually goes wrong with group bookings like ours so that \
    we can plan around it early.";

const NEAR_A: &str = "What is the capital of France, and how many people live there?";
const NEAR_B: &str = "What is the capital of Germany, and how many people live there?";

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

fn check_allocations() {
    let e = Lexical::default();
    let mut out = vec![0.0f32; e.dims()];
    for (name, p) in [("20w", PROMPT_20W), ("100w", PROMPT_100W)] {
        e.embed(p, &mut out);
        let n = allocations(|| e.embed(black_box(p), &mut out));
        println!(
            "lexical/{name} ({} words): {n} allocations per embed",
            words(p)
        );
        assert_eq!(n, 0, "Lexical::embed must not allocate");
    }
    let paraphrase = PROMPT_100W.replace("Could you", "Can you");
    let n = allocations(|| {
        black_box(guard::check(black_box(NEAR_A), black_box(NEAR_B)).ok());
    });
    println!(
        "guard/near-miss: {n} allocations per check (refused: {:?})",
        guard::check(NEAR_A, NEAR_B)
    );
    let n = allocations(|| {
        black_box(guard::check(black_box(PROMPT_100W), black_box(&paraphrase)).ok());
    });
    println!(
        "guard/pass-100w: {n} allocations per check ({:?})",
        guard::check(PROMPT_100W, &paraphrase)
    );
}

fn bench(c: &mut Criterion) {
    check_allocations();
    let e = Lexical::default();
    let mut out = vec![0.0f32; e.dims()];
    let mut g = c.benchmark_group("lexical");
    g.bench_function("20w", |b| {
        b.iter(|| e.embed(black_box(PROMPT_20W), black_box(&mut out)))
    });
    g.bench_function("100w", |b| {
        b.iter(|| e.embed(black_box(PROMPT_100W), black_box(&mut out)))
    });
    g.finish();

    let paraphrase = PROMPT_100W.replace("Could you", "Can you");
    let mut g = c.benchmark_group("guard");
    g.bench_function("near-miss", |b| {
        b.iter(|| guard::check(black_box(NEAR_A), black_box(NEAR_B)))
    });
    g.bench_function("pass-100w", |b| {
        b.iter(|| guard::check(black_box(PROMPT_100W), black_box(&paraphrase)))
    });
    g.finish();

    let (mut va, mut vb) = (vec![0.0f32; 512], vec![0.0f32; 512]);
    e.embed(NEAR_A, &mut va);
    e.embed(NEAR_B, &mut vb);
    c.bench_function("cosine/512", |b| {
        b.iter(|| cosine(black_box(&va), black_box(&vb)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
