//! SSE decoding and JSON scanning, each next to a baseline.
//!
//! Run: `cargo bench -p sluice-bench --bench sse_json`. Before criterion starts, the
//! binary prints how many heap allocations one pass of each piece of code makes once
//! warm (a counting global allocator).
//!
//! - `sse_decode/*`: a 201-event OpenAI `chat.completion.chunk` stream (~195 bytes an
//!   event on the wire) through `proto::sse::Decoder`, pushed in 1 KiB and in 64-byte
//!   pieces and drained after every push; the naive `proto::sse::reference::decode` on the whole
//!   stream is the baseline.
//! - `json_scan/*`: validating a chat completion request and locating `model` and
//!   `stream` with `proto::json::scan_object`, versus building a tree with
//!   `simd_json::to_borrowed_value` (on a copy, since it parses in place: the copy is
//!   part of its cost) and with `serde_json::from_slice::<serde_json::Value>`.
//!
//! Results, release profile, on the 2-core dev VM while other builds were running (load
//! average 3 to 4), so absolute times moved by up to 40% between runs; the ratios and the
//! allocation counts are the stable part. Criterion medians:
//!
//! | benchmark                       | time     | throughput | allocations |
//! |---------------------------------|----------|------------|-------------|
//! | sse_decode/decoder/1KiB_pieces  | 12.0 µs  | 3.0 GiB/s  | 0           |
//! | sse_decode/decoder/64B_pieces   | 21.9 µs  | 1.7 GiB/s  | 0           |
//! | sse_decode/reference/whole      | 151 µs   | 247 MiB/s  | 1,420       |
//! | json_scan/scan_object/1KiB      | 1.51 µs  | 673 MiB/s  | 0           |
//! | json_scan/simd_json/1KiB        | 2.81 µs  | 362 MiB/s  | 33          |
//! | json_scan/serde_json/1KiB       | 4.11 µs  | 248 MiB/s  | 63          |
//! | json_scan/scan_object/32KiB     | 35.4 µs  | 885 MiB/s  | 0           |
//! | json_scan/simd_json/32KiB       | 75.7 µs  | 413 MiB/s  | 634         |
//! | json_scan/serde_json/32KiB      | 167 µs   | 187 MiB/s  | 1,573       |
//!
//! The SSE stream is 39,213 bytes (201 events); the request bodies 1,068 and 32,798 bytes.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use proto::json::{scan_object, write_string};
use proto::sse::{self, Decoder};

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

use sluice_bench::allocations;

const EVENT_BYTES_MAX: usize = 64 * 1024;

/// An OpenAI streaming response: a role delta, 198 content deltas, a finish, `[DONE]`.
fn openai_stream() -> Vec<u8> {
    const WORDS: &[&str] = &[
        "The", " gateway", " streams", " tokens", " as", " they", " arrive", ",", " één", " 🚀",
        "\n",
    ];
    let mut out = Vec::new();
    let mut event = |delta: &str, finish: &str| {
        let data = format!(
            "{{\"id\":\"chatcmpl-9xKq2TbD8dGJq1uXw7yZ3\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\
             \"model\":\"gpt-4o-mini\",\
             \"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}"
        );
        sse::write_event(&mut out, None, data.as_bytes());
    };
    event("{\"role\":\"assistant\",\"content\":\"\"}", "null");
    for i in 0..198 {
        let mut content = Vec::new();
        write_string(&mut content, WORDS[i % WORDS.len()].as_bytes());
        event(
            &format!("{{\"content\":{}}}", String::from_utf8(content).unwrap()),
            "null",
        );
    }
    event("{}", "\"stop\"");
    out.extend_from_slice(sse::DONE);
    out
}

fn decode(d: &mut Decoder, stream: &[u8], piece: usize) -> usize {
    let mut bytes = 0;
    for p in stream.chunks(piece) {
        d.push(p).unwrap();
        while let Some(e) = d.next_event() {
            bytes += e.data.len();
        }
    }
    assert!(!d.finish());
    bytes
}

fn bench_sse(c: &mut Criterion) {
    let stream = openai_stream();
    let events = sse::reference::decode(&stream, EVENT_BYTES_MAX)
        .events
        .len();
    println!("sse_decode: {events} events, {} bytes", stream.len());
    let mut d = Decoder::new(EVENT_BYTES_MAX);
    for (name, piece) in [("1KiB_pieces", 1024), ("64B_pieces", 64)] {
        decode(&mut d, &stream, piece);
        let n = allocations(|| {
            black_box(decode(&mut d, &stream, piece));
        });
        println!("sse_decode/decoder/{name}: {n} allocations per stream once warm");
    }
    let n = allocations(|| {
        black_box(sse::reference::decode(&stream, EVENT_BYTES_MAX));
    });
    println!("sse_decode/reference/whole: {n} allocations per stream");

    let mut g = c.benchmark_group("sse_decode");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    for (name, piece) in [("1KiB_pieces", 1024), ("64B_pieces", 64)] {
        g.bench_function(BenchmarkId::new("decoder", name), |b| {
            b.iter(|| decode(&mut d, black_box(&stream), piece))
        });
    }
    g.bench_function(BenchmarkId::new("reference", "whole"), |b| {
        b.iter(|| sse::reference::decode(black_box(&stream), EVENT_BYTES_MAX))
    });
    g.finish();
}

/// A chat completion request of about `target` bytes: a system prompt, then user and
/// assistant turns with escapes and non-ASCII text, then the sampling parameters.
fn chat_request(target: usize) -> Vec<u8> {
    const TURNS: &[&str] = &[
        "Summarise the following paragraph in two sentences.",
        "Sure! Here is a summary:\n\n1. The \"gateway\" forwards requests.\n2. It counts tokens — quickly.",
        "Now translate it to French, please: «le routeur» et l'été.",
        "Voici la traduction : la passerelle transmet les requêtes.\tElle compte les jetons.",
    ];
    let mut body =
        b"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":".to_vec();
    write_string(&mut body, b"You are a helpful assistant. Answer concisely.");
    body.push(b'}');
    let mut i = 0;
    while body.len() + 120 < target {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        body.extend_from_slice(format!(",{{\"role\":\"{role}\",\"content\":").as_bytes());
        write_string(&mut body, TURNS[i % TURNS.len()].as_bytes());
        body.push(b'}');
        i += 1;
    }
    body.extend_from_slice(
        b"],\"temperature\":0.7,\"top_p\":1,\"max_tokens\":512,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"user\":null}",
    );
    body
}

fn scan(body: &[u8]) -> bool {
    let mut found = [None; 2];
    scan_object(body, &[b"model", b"stream"], &mut found).unwrap();
    found[0].is_some() && found[1].is_some()
}

fn simd_json(body: &[u8]) -> bool {
    let mut copy = body.to_vec();
    let value = simd_json::to_borrowed_value(&mut copy).unwrap();
    matches!(value, simd_json::BorrowedValue::Object(_))
}

fn serde_json(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .unwrap()
        .is_object()
}

fn bench_json(c: &mut Criterion) {
    let mut g = c.benchmark_group("json_scan");
    for (name, target) in [("1KiB", 1024), ("32KiB", 32 * 1024)] {
        let body = chat_request(target);
        for (lib, f) in [
            ("scan_object", scan as fn(&[u8]) -> bool),
            ("simd_json", simd_json),
            ("serde_json", serde_json),
        ] {
            assert!(f(&body), "{lib} on {name}");
            let n = allocations(|| {
                black_box(f(&body));
            });
            println!(
                "json_scan/{lib}/{name} ({} bytes): {n} allocations",
                body.len()
            );
        }
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(BenchmarkId::new("scan_object", name), |b| {
            b.iter(|| scan(black_box(&body)))
        });
        g.bench_function(BenchmarkId::new("simd_json", name), |b| {
            b.iter(|| simd_json(black_box(&body)))
        });
        g.bench_function(BenchmarkId::new("serde_json", name), |b| {
            b.iter(|| serde_json(black_box(&body)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_sse, bench_json);
criterion_main!(benches);
