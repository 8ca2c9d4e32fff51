//! The response cache on the request path: look up before admission, serve a hit without
//! going upstream, capture a miss's answer on its way to the client and store it when the
//! request ends well.
//!
//! ```text
//! bypass? (x-sluice-cache: off, Cache-Control no-store / no-cache)
//!   -> exact key (route, tenant scope, canonical body) -> exact hit?
//!   -> semantic: eligible? -> context hash + embed the last user message
//!      -> index search in that context -> the entry -> precision guard
//!      -> on: serve it | shadow: count and log it, serve nothing
//!   -> miss: capture the answer; on a clean 200, store it (and its vector)
//! ```
//!
//! Cached: `/v1/chat/completions` (exact and semantic) and `/v1/embeddings` (exact).
//! A stream is stored as its `data` payloads and replayed as SSE; a stored stream answers
//! a non-streaming request (assembled) and a stored completion answers a streaming one
//! (split). A hit costs $0, takes a request from RPM, and takes its tokens from TPM only
//! with `hits_count_tpm`.

use std::sync::Arc;

use cache::canon::{self, Key};
use cache::exact::{Entry, Meta, Stored};
use monoio::io::AsyncWriteRent;
use proto::http1::{find_header, write_header, RequestHead};
use proto::json::{self, Kind};
use xxhash_rust::xxh3::xxh3_64;

use super::{response, stream_usage, Body, Conn, Endpoint, Next, Req};
use crate::caching::{self, Embed};
use crate::config::{CacheScope, SemanticMode};
use crate::govern::spec::Kind as Level;
use crate::log;

pub(crate) use crate::accesslog::CacheStatus;

/// A cacheable request's answer, captured as the client gets it (de-framed body bytes:
/// a JSON body or SSE text), with what storing it needs.
pub(crate) struct Capture {
    key: Key,
    meta: Meta,
    /// The context hash and vector, for the semantic index.
    semantic: Option<(u128, Vec<f32>)>,
    bytes: Vec<u8>,
    max: usize,
    overflow: bool,
}

impl Capture {
    /// Append answer bytes; past the limit the answer is dropped (not cached).
    pub fn push(&mut self, data: &[u8]) {
        if self.overflow {
            return;
        }
        if self.bytes.len() + data.len() > self.max {
            self.overflow = true;
            self.bytes = Vec::new();
        } else {
            self.bytes.extend_from_slice(data);
        }
    }
}

/// A hit: the entry, the similarity for a semantic one, and the entry converted to the
/// form the client asked for when it is stored in the other one.
pub(super) struct Hit {
    entry: Arc<Entry>,
    similarity: Option<f32>,
    converted: Converted,
    /// The client asked for the usage chunk of a stream.
    include_usage: bool,
}

/// A stored answer in the other form, made once when the lookup checks it can be.
enum Converted {
    /// Stored as asked.
    No,
    /// A stored stream assembled into one `chat.completion`.
    Json(Vec<u8>),
    /// A stored completion split into chunk payloads.
    Chunks(Vec<Vec<u8>>),
}

impl Hit {
    /// Tokens the answer used when it was made (for `hits_count_tpm`).
    pub fn tokens(&self) -> u64 {
        self.entry.meta.tokens
    }
}

/// Text a semantic lookup embeds at most (the rest of a longer message is cut at a
/// character boundary): embedding cost stays bounded.
const EMBED_TEXT_BYTES_MAX: usize = 16 * 1024;

impl Conn<'_> {
    /// Look the request up. Sets `req.cache`, and `req.capture` when the answer is to be
    /// stored. `name`: the model as the client named it.
    pub(super) async fn cache_lookup(
        &mut self,
        head: &RequestHead,
        endpoint: Endpoint,
        body_at: Body,
        name: &[u8],
        include_usage: bool,
        req: &mut Req,
    ) -> Option<Hit> {
        let w = self.w;
        let c = w.shared.cache.as_ref()?;
        let route: &[u8] = match endpoint {
            Endpoint::Chat => b"chat",
            Endpoint::Embeddings => b"embeddings",
            _ => return None,
        };
        let headers = &self.headers[..head.header_count];
        let shard = w.shard();
        let off = find_header(&self.rbuf, headers, b"x-sluice-cache")
            .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"off"));
        let cc = find_header(&self.rbuf, headers, b"cache-control").unwrap_or(b"");
        let has = |d: &[u8]| {
            cc.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(d))
        };
        let (no_store, no_cache) = (has(b"no-store"), has(b"no-cache"));
        if off || no_store {
            req.cache = CacheStatus::Bypass;
            shard.inc(&shard.cache_bypassed);
            return None;
        }
        let scope = scope_of(c.cfg.scope, req);
        let body = self.body(body_at);
        let Ok(key) = canon::request_key(route, scope.as_bytes(), body) else {
            req.cache = CacheStatus::Bypass;
            shard.inc(&shard.cache_bypassed);
            return None;
        };
        let now = caching::now_ms();
        let stream = req.stream;
        if !no_cache {
            if let Some(e) = c.exact.get(key, now) {
                if let Some(converted) = servable(&e, stream, include_usage) {
                    req.cache = CacheStatus::HitExact;
                    return Some(Hit {
                        entry: e,
                        similarity: None,
                        converted,
                        include_usage,
                    });
                }
            }
        }
        let mut meta = Meta {
            scope: scope.as_str().into(),
            model: String::from_utf8_lossy(name).into(),
            ..Meta::default()
        };
        let mut semantic = None;
        if let (Some(s), Endpoint::Chat) = (&c.semantic, endpoint) {
            if let Some((ctx, text)) = eligible(&s.cfg, body)
                .then(|| {
                    canon::split_last_user(route, scope.as_bytes(), body)
                        .ok()
                        .flatten()
                })
                .flatten()
            {
                let text = cut(&text, EMBED_TEXT_BYTES_MAX);
                let mut v = vec![0f32; s.embedder.dims()];
                let embedded = match &s.embedder {
                    Embed::Local(e) => {
                        e.embed(text, &mut v);
                        true
                    }
                    Embed::Provider {
                        model, timeout_ms, ..
                    } => super::embed_remote::embed(w, model, text, *timeout_ms, &mut v).await,
                };
                if !embedded {
                    shard.inc(&shard.cache_embed_failed);
                } else {
                    let found = if no_cache {
                        None
                    } else {
                        s.index.search(ctx.0, &v, s.cfg.threshold, now)
                    };
                    if let Some(h) = found {
                        let candidate = c.exact.get(Key(h.entry), now);
                        let verdict = candidate.as_ref().map(|e| {
                            if s.cfg.guard {
                                cache::guard::check(&e.meta.prompt, text)
                            } else {
                                Ok(())
                            }
                        });
                        // A candidate that cannot take the form asked for is no hit.
                        let converted = match (&candidate, &verdict) {
                            (Some(e), Some(Ok(()))) => servable(e, stream, include_usage),
                            _ => None,
                        };
                        match (candidate, verdict, converted) {
                            (Some(e), _, Some(converted)) => {
                                if s.cfg.mode == SemanticMode::On {
                                    req.cache = CacheStatus::HitSemantic;
                                    return Some(Hit {
                                        entry: e,
                                        similarity: Some(h.similarity),
                                        converted,
                                        include_usage,
                                    });
                                }
                                shard.inc(&shard.cache_shadow_hits);
                                log::info(
                                    "cache shadow hit",
                                    &[
                                        ("request_id", &format!("{:016x}", req.id)),
                                        ("similarity", &format!("{:.4}", h.similarity)),
                                        (
                                            "prompt_hash",
                                            &format!("{:016x}", xxh3_64(text.as_bytes())),
                                        ),
                                        ("cached_prompt_hash", &format!("{:016x}", h.prompt_hash)),
                                        ("scope", &meta.scope),
                                        ("model", &meta.model),
                                    ],
                                );
                            }
                            (Some(_), Some(Err(why)), _) => {
                                shard.inc(&shard.cache_guard_refused);
                                if s.cfg.mode == SemanticMode::Shadow {
                                    log::info(
                                        "cache shadow hit refused by the guard",
                                        &[
                                            ("request_id", &format!("{:016x}", req.id)),
                                            ("similarity", &format!("{:.4}", h.similarity)),
                                            ("reason", &format!("{why:?}")),
                                        ],
                                    );
                                }
                            }
                            _ => {}
                        }
                    }
                    meta.prompt = text.into();
                    semantic = Some((ctx.0, v));
                }
            }
        }
        req.cache = if no_cache {
            shard.inc(&shard.cache_bypassed);
            CacheStatus::Bypass
        } else {
            shard.inc(&shard.cache_misses);
            CacheStatus::Miss
        };
        req.capture = Some(Box::new(Capture {
            key,
            meta,
            semantic,
            bytes: Vec::new(),
            max: c.capture_max(),
            overflow: false,
        }));
        None
    }

    /// Answer from the cache, in the form the client asked for.
    pub(super) async fn serve_hit<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        hit: &Hit,
        req: &mut Req,
    ) -> Next {
        let w = self.w;
        let shard = w.shard();
        shard.inc(if req.cache == CacheStatus::HitSemantic {
            &shard.cache_hits_semantic
        } else {
            &shard.cache_hits_exact
        });
        shard.add(&shard.cache_saved_pusd, hit.entry.meta.cost_pusd);
        req.similarity = hit.similarity;
        let mut sse = Vec::with_capacity(hit.entry.stored.payload_bytes() + 256);
        match (&hit.entry.stored, &hit.converted) {
            (_, Converted::Json(b)) => return self.respond_json(io, 200, b, req).await,
            (Stored::Json(b), Converted::No) => return self.respond_json(io, 200, b, req).await,
            (_, Converted::Chunks(chunks)) => {
                let refs: Vec<&[u8]> = chunks.iter().map(|f| &f[..]).collect();
                proto::chat::replay::write_sse(&refs, &mut sse);
            }
            (Stored::Stream(frames), _) => {
                let mut kept: Vec<Vec<u8>> = Vec::new();
                let mut refs: Vec<&[u8]> = Vec::with_capacity(frames.len());
                if hit.include_usage {
                    refs.extend(frames.iter().map(|f| &f[..]));
                } else {
                    // The stored stream may carry the usage the gateway asked for; this
                    // client did not ask, so it gets the stream without it.
                    for f in frames.iter() {
                        if stream_usage::usage_chunk_payload(f) {
                            continue;
                        }
                        let mut out = Vec::with_capacity(f.len());
                        stream_usage::without_null_usage(f, &mut out);
                        kept.push(out);
                    }
                    refs.extend(kept.iter().map(|f| &f[..]));
                }
                proto::chat::replay::write_sse(&refs, &mut sse);
            }
        }
        self.wbuf.clear();
        req.keep_alive &= !w.draining();
        response::head_start(&mut self.wbuf, 200, req, &w.snap.deployment_labels);
        write_header(&mut self.wbuf, b"content-type", b"text/event-stream");
        write_header(&mut self.wbuf, b"cache-control", b"no-cache");
        self.wbuf.extend_from_slice(b"content-length: ");
        super::write_u64(&mut self.wbuf, sse.len() as u64);
        self.wbuf.extend_from_slice(b"\r\n\r\n");
        self.wbuf.extend_from_slice(&sse);
        req.status = 200;
        self.send(io, req).await
    }
}

/// Store a finished miss's answer: only a complete 200 that the client got whole, from an
/// answer the gateway did not cap (a budget's output cap is not the client's request).
pub(super) fn store(w: &crate::server::worker::Worker, req: &mut Req) {
    let Some(cap) = req.capture.take() else {
        return;
    };
    let Some(c) = w.shared.cache.as_ref() else {
        return;
    };
    if req.status != 200
        || req.error.is_some()
        || req.client_aborted
        || cap.overflow
        || req.output_capped
    {
        return;
    }
    let Capture {
        key,
        mut meta,
        semantic,
        bytes,
        ..
    } = *cap;
    let Some(stored) = stored_form(&bytes) else {
        return;
    };
    meta.cost_pusd = req.cost.unwrap_or(0);
    meta.tokens = req.usage.map_or(0, |u| u.prompt_total() + u.output);
    let prompt_hash = xxh3_64(meta.prompt.as_bytes());
    let now = caching::now_ms();
    if !c.exact.insert_with(key, stored, meta, now) {
        return;
    }
    let shard = w.shard();
    shard.inc(&shard.cache_stored);
    if let (Some(s), Some((ctx, v))) = (&c.semantic, semantic) {
        if let Err(e) = s.index.insert(ctx, &v, key.0, prompt_hash, now) {
            log::warn("semantic cache insert failed", &[("error", &e.to_string())]);
        }
    }
}

/// The entry in the form asked for, when it can answer it: a stored stream must assemble
/// into a completion, a stored completion must split into chunks (one choice, no refusal).
fn servable(e: &Entry, stream: bool, include_usage: bool) -> Option<Converted> {
    match (&e.stored, stream) {
        (Stored::Json(_), false) | (Stored::Stream(_), true) => Some(Converted::No),
        (Stored::Stream(frames), false) => {
            let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            proto::chat::replay::chunks_to_completion(&refs)
                .ok()
                .map(Converted::Json)
        }
        (Stored::Json(b), true) => proto::chat::replay::completion_to_chunks(b, 32, include_usage)
            .ok()
            .map(Converted::Chunks),
    }
}

/// The stored form of a captured answer: a JSON object, or an SSE stream's `data`
/// payloads (without `[DONE]`). `None` for what cannot be replayed faithfully: named
/// events, an error inside the stream, an unterminated event, or nothing at all.
fn stored_form(bytes: &[u8]) -> Option<Stored> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    if bytes[start] == b'{' {
        return Some(Stored::Json(bytes.into()));
    }
    let mut frames: Vec<Box<[u8]>> = Vec::new();
    let mut done = false;
    let mut rest = bytes;
    while !rest.is_empty() {
        let (event, next) = match memchr::memmem::find(rest, b"\n\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None if rest.iter().all(u8::is_ascii_whitespace) => break,
            None => return None,
        };
        rest = next;
        let mut data: Vec<u8> = Vec::new();
        let mut lines = 0;
        for line in event.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(d) = line.strip_prefix(b"data:") {
                if lines > 0 {
                    data.push(b'\n');
                }
                data.extend_from_slice(d.strip_prefix(b" ").unwrap_or(d));
                lines += 1;
            } else if line.is_empty() || line.starts_with(b":") {
                // A comment (keep-alive) carries nothing to replay.
            } else {
                return None;
            }
        }
        if lines == 0 {
            continue;
        }
        if data == b"[DONE]" {
            done = true;
            continue;
        }
        if data.starts_with(b"{\"error\"") {
            return None;
        }
        frames.push(data.into());
    }
    (done && !frames.is_empty()).then(|| Stored::Stream(frames.into()))
}

/// The tenant part of the key: `k:`, `t:` or `o:` and the id; empty for one shared cache
/// (`global`, or a request without a virtual key).
fn scope_of(scope: CacheScope, req: &Req) -> String {
    let Some(g) = &req.gov else {
        return String::new();
    };
    let level = match scope {
        CacheScope::Global => return String::new(),
        CacheScope::Key => None,
        CacheScope::Team => Some(Level::Team),
        CacheScope::Org => Some(Level::Org),
    };
    match level.and_then(|l| g.ancestor(l)) {
        Some((l, id)) => format!("{}:{id}", if l == Level::Team { 't' } else { 'o' }),
        None => format!("k:{}", g.key_id()),
    }
}

/// Whether a chat request may be looked up semantically: temperature at most the
/// configured maximum (absent means the provider's default, 1), one choice, no tools
/// unless allowed, and a conversation no longer than allowed.
fn eligible(cfg: &crate::config::SemanticConfig, body: &[u8]) -> bool {
    let mut found = [None; 5];
    if json::scan_object(
        body,
        &[b"temperature", b"n", b"tools", b"messages", b"functions"],
        &mut found,
    )
    .is_err()
    {
        return false;
    }
    let number = |i: usize| {
        found[i]
            .filter(|v| v.kind == Kind::Number)
            .and_then(|v| std::str::from_utf8(v.bytes(body)).ok()?.parse::<f64>().ok())
    };
    let temperature = match found[0] {
        None => 1.0,
        Some(v) if v.kind == Kind::Null => 1.0,
        Some(_) => match number(0) {
            Some(t) => t,
            None => return false,
        },
    };
    if temperature > cfg.temperature_max {
        return false;
    }
    if found[1].is_some_and(|v| v.kind != Kind::Null) && number(1) != Some(1.0) {
        return false;
    }
    let has = |i: usize| found[i].is_some_and(|v| v.kind != Kind::Null && v.bytes(body) != b"[]");
    if !cfg.tools && (has(2) || has(4)) {
        return false;
    }
    found[3].is_some_and(|v| {
        v.kind == Kind::Array && super::demo::array_len(v.bytes(body)) as usize <= cfg.messages_max
    })
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether the request's `stream_options` asks for the usage chunk.
pub(super) fn asks_usage(body: &[u8], stream_options: Option<json::Value>) -> bool {
    let Some(v) = stream_options.filter(|v| v.kind == Kind::Object) else {
        return false;
    };
    let obj = v.bytes(body);
    let mut found = [None; 1];
    json::scan_object(obj, &[b"include_usage"], &mut found).is_ok()
        && found[0].is_some_and(|u| u.bytes(obj) == b"true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms() {
        assert_eq!(
            stored_form(br#" {"id":1}"#),
            Some(Stored::Json(br#" {"id":1}"#.to_vec().into()))
        );
        let sse = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        assert_eq!(
            stored_form(sse),
            Some(Stored::Stream(
                vec![
                    br#"{"a":1}"#.to_vec().into_boxed_slice(),
                    br#"{"b":2}"#.to_vec().into_boxed_slice()
                ]
                .into()
            ))
        );
        // Not replayable: no [DONE] (cut short), a named event, an error event, a tail.
        assert_eq!(stored_form(b"data: {\"a\":1}\n\n"), None);
        assert_eq!(stored_form(b"event: x\ndata: {}\n\ndata: [DONE]\n\n"), None);
        assert_eq!(
            stored_form(b"data: {\"error\":{}}\n\ndata: [DONE]\n\n"),
            None
        );
        assert_eq!(stored_form(b"data: {\"a\":1}\n\ndata: [DO"), None);
        assert_eq!(stored_form(b""), None);
    }

    #[test]
    fn usage_asked() {
        let body = br#"{"stream_options":{"include_usage":true}}"#;
        let mut f = [None; 1];
        json::scan_object(body, &[b"stream_options"], &mut f).unwrap();
        assert!(asks_usage(body, f[0]));
        let body = br#"{"stream_options":{"include_usage":false}}"#;
        json::scan_object(body, &[b"stream_options"], &mut f).unwrap();
        assert!(!asks_usage(body, f[0]));
        assert!(!asks_usage(body, None));
    }

    #[test]
    fn semantic_eligibility() {
        let cfg = crate::config::SemanticConfig {
            mode: SemanticMode::On,
            threshold: 0.8,
            guard: true,
            embedder: crate::config::EmbedderSpec::Lexical { dims: 64 },
            capacity: 10,
            quantization: cache::semantic::Quantization::I8,
            temperature_max: 0.5,
            messages_max: 2,
            tools: false,
        };
        let ok = |body: &str| eligible(&cfg, body.as_bytes());
        let m1 = r#""messages":[{"role":"user","content":"hi"}]"#;
        assert!(ok(&format!("{{{m1},\"temperature\":0.2}}")));
        assert!(ok(&format!(
            "{{{m1},\"temperature\":0.5,\"n\":1,\"tools\":[]}}"
        )));
        // Absent temperature is the provider's default (1): above 0.5.
        assert!(!ok(&format!("{{{m1}}}")));
        assert!(!ok(&format!("{{{m1},\"temperature\":0.7}}")));
        assert!(!ok(&format!("{{{m1},\"temperature\":\"low\"}}")));
        assert!(!ok(&format!("{{{m1},\"temperature\":0,\"n\":2}}")));
        assert!(!ok(&format!(
            "{{{m1},\"temperature\":0,\"tools\":[{{\"type\":\"function\"}}]}}"
        )));
        assert!(!ok(&format!(
            "{{{m1},\"temperature\":0,\"functions\":[{{}}]}}"
        )));
        let three = r#""messages":[{"role":"system","content":"s"},{"role":"user","content":"a"},{"role":"user","content":"b"}]"#;
        assert!(
            !ok(&format!("{{{three},\"temperature\":0}}")),
            "longer than messages_max"
        );
        assert!(!ok(r#"{"temperature":0}"#), "no messages");
        let tools_ok = crate::config::SemanticConfig {
            tools: true,
            ..cfg.clone()
        };
        assert!(eligible(
            &tools_ok,
            format!("{{{m1},\"temperature\":0,\"tools\":[{{}}]}}").as_bytes()
        ));
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("hi", 10), "hi");
    }
}
