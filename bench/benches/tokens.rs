//! Prompt-token estimation and cost: `engine::govern::tokens::estimate` per family on a
//! ~100-word and a ~1 KiB chat body, and `engine::govern::price::cost`.
//!
//! Run: `cargo bench -p sluice-bench --bench tokens -- --warm-up-time 1 --measurement-time 3`.
//! Before criterion starts, the binary loads the BPE tables (`warm`) and prints how many
//! allocations one `estimate` makes per family and body (tiktoken-rs allocates a token
//! vector per string it encodes; the parse allocates one `Vec` per JSON array).
//!
//! - `estimate/<family>/<body>`: parse + count, `Family::{O200k, Cl100k, Estimate}`;
//!   bodies `100w`, `1kib`, and `80kib-run` (the tokenizer's worst case, see below).
//! - `synth/<body>`: the baseline, `proto::openai::synth::prompt_tokens_estimate` (the
//!   bytes/4 scan the mock upstream reports), i.e. what a count costs without parsing or
//!   a tokenizer.
//! - `cost`: one usage record priced with a built-in price.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use engine::config::ProviderKind;
use engine::govern::price::{builtin, cost};
use engine::govern::tokens::{estimate, warm, Family, Shape};
use proto::chat::Usage;
use sluice_bench::allocations;

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

const FAMILIES: [(Family, &str); 3] = [
    (Family::O200k, "o200k"),
    (Family::Cl100k, "cl100k"),
    (Family::Estimate, "estimate"),
];

/// About 100 words of English in a system + user conversation.
fn body_100_words() -> Vec<u8> {
    let user = "Our team is planning a small offsite for twelve people next month. We \
        need a venue within an hour of the city, with a meeting room, decent food and a \
        few outdoor activities. The budget is around four hundred dollars per person for \
        two nights. Could you suggest three kinds of places we should look at, explain the \
        trade-offs of each, and list the questions we should ask the venues before we \
        sign anything? Please keep the answer short and practical.";
    serde_json::json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": user}
        ],
        "max_tokens": 512
    })
    .to_string()
    .into_bytes()
}

/// The tokenizer's bad case: 64 KiB of text with no space or punctuation (one regex
/// piece, which tiktoken-rs merges with its heap-based path) followed by 16 KiB of
/// spaces (the `\s+(?!\S)` look-ahead).
fn body_64kib_run() -> Vec<u8> {
    let text = "ab".repeat(32 * 1024) + &" ".repeat(16 * 1024) + "end";
    serde_json::json!({"messages": [{"role": "user", "content": text}]})
        .to_string()
        .into_bytes()
}

/// About 1 KiB: a short multi-turn conversation with a tool definition.
fn body_1kib() -> Vec<u8> {
    let body = serde_json::json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a travel assistant. Answer briefly and use the tools when you need live data."},
            {"role": "user", "content": "I am flying from Lisbon to Berlin on Friday morning. What will the weather be like when I land, and should I pack an umbrella?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_forecast", "arguments": "{\"city\":\"Berlin\",\"day\":\"friday\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"morning\":\"light rain, 9C\",\"afternoon\":\"cloudy, 12C\"}"},
            {"role": "assistant", "content": "Expect light rain and about 9C when you land, clearing to clouds later. Yes, pack an umbrella."},
            {"role": "user", "content": "Thanks. And Saturday?"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_forecast",
            "description": "Weather forecast for a city and day",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                "day": {"type": "string"}}, "required": ["city", "day"]}}}],
        "max_completion_tokens": 300
    })
    .to_string();
    body.into_bytes()
}

fn report_allocations(bodies: &[(&str, Vec<u8>)]) {
    for (name, body) in bodies {
        for (family, fname) in FAMILIES {
            let n = allocations(|| {
                black_box(estimate(Shape::Chat, family, black_box(body)).unwrap());
            });
            println!(
                "estimate/{fname}/{name}: {} body bytes, {n} allocations",
                body.len()
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    warm();
    let bodies = [
        ("100w", body_100_words()),
        ("1kib", body_1kib()),
        ("80kib-run", body_64kib_run()),
    ];
    report_allocations(&bodies);

    let mut g = c.benchmark_group("estimate");
    for (name, body) in &bodies {
        for (family, fname) in FAMILIES {
            g.bench_with_input(BenchmarkId::new(fname, name), body, |b, body| {
                b.iter(|| estimate(Shape::Chat, family, black_box(body)).unwrap())
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("synth");
    for (name, body) in &bodies {
        g.bench_with_input(BenchmarkId::from_parameter(name), body, |b, body| {
            b.iter(|| proto::openai::synth::prompt_tokens_estimate(black_box(body)))
        });
    }
    g.finish();

    let price = builtin(ProviderKind::Anthropic, "claude-sonnet-4-5-20250929").unwrap();
    let usage = Usage {
        input: 1_200,
        output: 800,
        cache_read: 30_000,
        cache_write: 2_000,
        reasoning: 300,
    };
    c.bench_function("cost", |b| {
        b.iter(|| cost(black_box(&price), black_box(&usage)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
