//! HTTP/1.1 heads and chunked bodies, each next to a baseline.
//!
//! Run: `cargo bench -p sluice-bench --bench http1`. Before criterion starts, the binary
//! prints the input sizes and how many heap allocations one pass of each piece of code
//! makes (a counting global allocator).
//!
//! - `request_head/*`: the head the OpenAI Python SDK sends for a chat completion (its
//!   real header set, `x-stainless-*` included; RESULTS below gives its size) through
//!   `proto::http1::parse_request` (httparse, then spans, framing and the smuggling
//!   checks), next to plain `httparse::Request::parse` into a fresh 64-slot array, which
//!   is what the parse costs without our checks.
//! - `response_head/*`: an upstream streaming response head (OpenAI's headers, behind
//!   Cloudflare) through `parse_response`, next to plain `httparse::Response::parse`.
//! - `chunked/*`: a 64 KiB body in 1 KiB and in 16-byte chunks through
//!   `ChunkedDecoder::step` (zero-copy: spans only) and `decode_into` (copied into a
//!   reused Vec); the naive `reference::decode_chunked_naive` is the baseline.
//!
//! Results, release profile, on the 2-core dev VM with other builds running (load average
//! about 2), so absolute times move by 10-20% between runs. Criterion medians:
//!
//! | benchmark                        | time    | throughput | allocations |
//! |----------------------------------|---------|------------|-------------|
//! | request_head/sluice              | 465 ns  | 1.20 GiB/s | 0           |
//! | request_head/httparse            | 378 ns  | 1.47 GiB/s | 0           |
//! | response_head/sluice             | 558 ns  | 1.29 GiB/s | 0           |
//! | response_head/httparse           | 461 ns  | 1.56 GiB/s | 0           |
//! | chunked/step/1KiB_chunks         | 0.90 µs | 68 GiB/s   | 0           |
//! | chunked/decode_into/1KiB_chunks  | 2.27 µs | 27 GiB/s   | 0           |
//! | chunked/reference/1KiB_chunks    | 1.91 µs | 32 GiB/s   | 7           |
//! | chunked/step/16B_chunks          | 57.7 µs | 1.06 GiB/s | 0           |
//! | chunked/decode_into/16B_chunks   | 73.8 µs | 846 MiB/s  | 0           |
//! | chunked/reference/16B_chunks     | 40.4 µs | 1.51 GiB/s | 13          |
//!
//! The request head is 598 bytes with 17 fields, the response head 772 bytes with 21; the
//! chunked bodies are 65,989 and 90,117 wire bytes. Reading: our head parse costs httparse
//! plus about 90 ns for spans, framing, keep-alive and the CRLF check. Per 16-byte chunk the
//! state machine spends about 14 ns against the straight-line reference's 10 ns (which can
//! only run on a whole body); with realistic chunk sizes framing is noise next to the data.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use proto::http1::{
    parse_request, parse_response, reference, write_chunk, BodyFraming, ChunkEvent, ChunkedDecoder,
    Headers, Limits, Status, EMPTY_HEADERS, LAST_CHUNK,
};

#[global_allocator]
static GLOBAL: sluice_bench::Counting = sluice_bench::Counting;

use sluice_bench::allocations;

/// What `openai` 1.x for Python sends for `client.chat.completions.create(...)`.
const OPENAI_SDK_REQUEST: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\n\
Host: api.openai.com\r\n\
Accept-Encoding: gzip, deflate\r\n\
Connection: keep-alive\r\n\
Accept: application/json\r\n\
Content-Type: application/json\r\n\
User-Agent: OpenAI/Python 1.54.4\r\n\
X-Stainless-Lang: python\r\n\
X-Stainless-Package-Version: 1.54.4\r\n\
X-Stainless-OS: Linux\r\n\
X-Stainless-Arch: x64\r\n\
X-Stainless-Runtime: CPython\r\n\
X-Stainless-Runtime-Version: 3.12.7\r\n\
Authorization: Bearer sk-proj-4fJq9XbZ2mT7vK1pL8sN3wR6yU0aE5cH9gD2iO4kM7nB1xV8zQ3tY6uW0rS5eA2fG9hJ4lP7oI1\r\n\
X-Stainless-Async: false\r\n\
x-stainless-retry-count: 0\r\n\
x-stainless-read-timeout: 600\r\n\
Content-Length: 1187\r\n\
\r\n";

/// An upstream streaming response head: OpenAI's headers, as relayed by Cloudflare.
const UPSTREAM_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\n\
Date: Tue, 18 Jun 2024 09:12:44 GMT\r\n\
Content-Type: text/event-stream; charset=utf-8\r\n\
Transfer-Encoding: chunked\r\n\
Connection: keep-alive\r\n\
access-control-expose-headers: X-Request-ID\r\n\
openai-organization: user-abc123def456\r\n\
openai-processing-ms: 215\r\n\
openai-version: 2020-10-01\r\n\
x-ratelimit-limit-requests: 10000\r\n\
x-ratelimit-limit-tokens: 30000000\r\n\
x-ratelimit-remaining-requests: 9999\r\n\
x-ratelimit-remaining-tokens: 29999975\r\n\
x-ratelimit-reset-requests: 6ms\r\n\
x-ratelimit-reset-tokens: 0s\r\n\
x-request-id: req_7d1f0a6b3c2e4f5a8b9c0d1e2f3a4b5c\r\n\
strict-transport-security: max-age=31536000; includeSubDomains; preload\r\n\
CF-Cache-Status: DYNAMIC\r\n\
X-Content-Type-Options: nosniff\r\n\
Server: cloudflare\r\n\
CF-RAY: 8958f3b7c9e2a1d4-AMS\r\n\
alt-svc: h3=\":443\"; ma=86400\r\n\
\r\n";

/// The header array lives with the connection and is reused across requests.
fn ours_request(buf: &[u8], headers: &mut Headers) -> usize {
    match parse_request(buf, headers, &Limits::DEFAULT) {
        Ok(Status::Complete(head)) => head.head_len + head.header_count,
        other => panic!("{other:?}"),
    }
}

fn httparse_request(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n + req.headers.len(),
        other => panic!("{other:?}"),
    }
}

fn ours_response(buf: &[u8], headers: &mut Headers) -> usize {
    match parse_response(buf, headers, &Limits::DEFAULT, false) {
        Ok(Status::Complete(head)) => head.head_len + head.header_count,
        other => panic!("{other:?}"),
    }
}

fn httparse_response(buf: &[u8]) -> usize {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n + resp.headers.len(),
        other => panic!("{other:?}"),
    }
}

fn bench_heads(c: &mut Criterion) {
    let mut headers = EMPTY_HEADERS;
    let Ok(Status::Complete(head)) =
        parse_request(OPENAI_SDK_REQUEST, &mut headers, &Limits::DEFAULT)
    else {
        panic!("the request head does not parse");
    };
    assert_eq!(head.body, BodyFraming::Length(1187));
    println!(
        "request_head: {} bytes, {} fields",
        OPENAI_SDK_REQUEST.len(),
        head.header_count
    );
    let Ok(Status::Complete(head)) =
        parse_response(UPSTREAM_RESPONSE, &mut headers, &Limits::DEFAULT, false)
    else {
        panic!("the response head does not parse");
    };
    assert_eq!(head.body, BodyFraming::Chunked);
    println!(
        "response_head: {} bytes, {} fields",
        UPSTREAM_RESPONSE.len(),
        head.header_count
    );
    for (name, n) in [
        (
            "request_head/sluice",
            allocations(|| _ = black_box(ours_request(OPENAI_SDK_REQUEST, &mut headers))),
        ),
        (
            "request_head/httparse",
            allocations(|| _ = black_box(httparse_request(OPENAI_SDK_REQUEST))),
        ),
        (
            "response_head/sluice",
            allocations(|| _ = black_box(ours_response(UPSTREAM_RESPONSE, &mut headers))),
        ),
        (
            "response_head/httparse",
            allocations(|| _ = black_box(httparse_response(UPSTREAM_RESPONSE))),
        ),
    ] {
        println!("{name}: {n} allocations per parse");
    }

    let mut g = c.benchmark_group("request_head");
    g.throughput(Throughput::Bytes(OPENAI_SDK_REQUEST.len() as u64));
    g.bench_function("sluice", |b| {
        b.iter(|| ours_request(black_box(OPENAI_SDK_REQUEST), &mut headers))
    });
    g.bench_function("httparse", |b| {
        b.iter(|| httparse_request(black_box(OPENAI_SDK_REQUEST)))
    });
    g.finish();

    let mut g = c.benchmark_group("response_head");
    g.throughput(Throughput::Bytes(UPSTREAM_RESPONSE.len() as u64));
    g.bench_function("sluice", |b| {
        b.iter(|| ours_response(black_box(UPSTREAM_RESPONSE), &mut headers))
    });
    g.bench_function("httparse", |b| {
        b.iter(|| httparse_response(black_box(UPSTREAM_RESPONSE)))
    });
    g.finish();
}

const BODY_BYTES: usize = 64 * 1024;

/// A 64 KiB payload framed in chunks of `chunk` bytes, then the last chunk.
fn chunked_body(chunk: usize) -> Vec<u8> {
    const PATTERN: &[u8] = b"data: {\"delta\":\"token\"}\n\n";
    let payload: Vec<u8> = (0..BODY_BYTES)
        .map(|i| PATTERN[i % PATTERN.len()])
        .collect();
    let mut out = Vec::new();
    for piece in payload.chunks(chunk) {
        write_chunk(&mut out, piece);
    }
    out.extend_from_slice(LAST_CHUNK);
    out
}

/// Zero-copy decode: walk the spans, as the gateway does when relaying.
fn step_all(body: &[u8]) -> usize {
    let mut decoder = ChunkedDecoder::new(u64::MAX);
    let mut at = 0;
    let mut payload = 0;
    loop {
        let (used, event) = decoder.step(&body[at..]).unwrap();
        at += used;
        match event {
            ChunkEvent::Data { start, end } => payload += end - start,
            ChunkEvent::Done => return payload,
            ChunkEvent::Partial => panic!("incomplete body"),
        }
    }
}

fn decode_into(body: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let (_, done) = ChunkedDecoder::new(u64::MAX)
        .decode_into(body, out)
        .unwrap();
    assert!(done);
    out.len()
}

fn bench_chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked");
    g.throughput(Throughput::Bytes(BODY_BYTES as u64));
    let mut out = Vec::with_capacity(BODY_BYTES);
    for (name, chunk) in [("1KiB_chunks", 1024), ("16B_chunks", 16)] {
        let body = chunked_body(chunk);
        assert_eq!(step_all(&body), BODY_BYTES);
        let n = allocations(|| _ = black_box(step_all(&body)));
        println!(
            "chunked/step/{name}: {} wire bytes, {n} allocations per body",
            body.len()
        );
        let n = allocations(|| _ = black_box(reference::decode_chunked_naive(&body, u64::MAX)));
        println!("chunked/reference/{name}: {n} allocations per body");
        let n = allocations(|| _ = black_box(decode_into(&body, &mut out)));
        println!("chunked/decode_into/{name}: {n} allocations per body (Vec reused)");
        g.bench_function(BenchmarkId::new("step", name), |b| {
            b.iter(|| step_all(black_box(&body)))
        });
        g.bench_function(BenchmarkId::new("decode_into", name), |b| {
            b.iter(|| decode_into(black_box(&body), &mut out))
        });
        g.bench_function(BenchmarkId::new("reference", name), |b| {
            b.iter(|| reference::decode_chunked_naive(black_box(&body), u64::MAX).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench_heads, bench_chunked);
criterion_main!(benches);
