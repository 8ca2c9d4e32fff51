//! The response cache end to end, against the real mock over TCP: exact hits served
//! without an upstream request, stream replay byte for byte and across forms, bypass
//! headers, tenant isolation by key and by team, the semantic cache (on, shadow, the
//! precision guard, the provider embedder's timeout), $0 hits against a budget, TTL,
//! admin purge and stats, snapshots across a restart, and many clients at once.

use std::net::SocketAddr;

use loadtest::mock::{Endpoint, Latency, MockConfig};
use serde_json::{json, Value};

use crate::*;

const ADMIN_KEY: &str = "admin-key-cache-0123456789";
const KEY_A: &str = "sk-sluice-cache-tenant-a-000001";
const KEY_B: &str = "sk-sluice-cache-tenant-b-000002";
const KEY_C: &str = "sk-sluice-cache-tenant-c-000003";

/// A gateway config: the mock, the standard models, an admin key, three virtual keys
/// (a and b in team `ml`, c in team `ops`), the static client key, and `cache` (the
/// `[cache]` tables) plus `extra`.
fn cache_config(upstream: SocketAddr, cache: &str, extra: &str) -> String {
    let base = config(upstream, "", "");
    format!(
        r#"{base}
[admin]
key = "{ADMIN_KEY}"

[[orgs]]
id = "acme"
[[teams]]
id = "ml"
org = "acme"
[[teams]]
id = "ops"
org = "acme"
[[keys]]
id = "a"
key = "{KEY_A}"
team = "ml"
[[keys]]
id = "b"
key = "{KEY_B}"
team = "ml"
[[keys]]
id = "c"
key = "{KEY_C}"
team = "ops"

{cache}
{extra}
"#
    )
}

const EXACT: &str = "[cache]\nenabled = true\n";

fn chat(c: &mut Client, key: &str, body: &str, extra: &str) -> Response {
    c.request(&post_with_key(
        "/v1/chat/completions",
        body,
        Some(key),
        extra,
    ))
}

fn question(text: &str, stream: bool) -> String {
    json!({
        "model": PLAIN_MODEL,
        "messages": [
            {"role": "system", "content": "You answer geography questions."},
            {"role": "user", "content": text},
        ],
        "max_tokens": 24,
        "temperature": 0,
        "stream": stream,
    })
    .to_string()
}

fn cache_header(r: &Response) -> &str {
    r.header("x-sluice-cache").unwrap_or("")
}

fn upstream_chats(m: &loadtest::mock::MockHandle) -> u64 {
    m.stats.requests(Endpoint::ChatCompletions)
}

fn admin(g: &Gateway, method: &str, path: &str) -> Response {
    let mut c = Client::connect(g.admin_addr);
    c.request(
        format!(
            "{method} {path} HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {ADMIN_KEY}\r\ncontent-length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
}

both_drivers!(fn an_exact_hit_is_served_without_an_upstream_request(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, EXACT, ""), d);
    let mut c = g.client();
    let body = r#"{"model":"gpt-e2e","messages":[{"role":"user","content":"Name a colour."}],"max_tokens":24,"temperature":0.5}"#;
    let first = chat(&mut c, CLIENT_KEY, body, "");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(cache_header(&first), "miss");
    assert_eq!(upstream_chats(&m), 1);
    // The same request with members reordered, spacing changed, and numbers spelled
    // differently is the same key.
    let same = r#"{ "temperature" : 5e-1, "max_tokens": 24.0,
        "messages": [ { "content": "Name a colour.", "role": "user" } ], "model": "gpt-e2e" }"#;
    let second = chat(&mut c, CLIENT_KEY, same, "");
    assert_eq!(second.status, 200);
    assert_eq!(cache_header(&second), "hit-exact");
    assert_eq!(second.body, first.body, "a hit is the stored answer");
    assert_eq!(upstream_chats(&m), 1, "no upstream request for a hit");
    // Another output-changing parameter is another key.
    let other = body.replace("\"temperature\":0.5", "\"temperature\":0.7");
    let third = chat(&mut c, CLIENT_KEY, &other, "");
    assert_eq!(cache_header(&third), "miss");
    assert_eq!(upstream_chats(&m), 2);
    assert!(g.wait_metric("sluice_cache_requests_total{result=\"hit_exact\"}", 1.0));
    assert_eq!(g.metric("sluice_cache_requests_total{result=\"miss\"}"), 2.0);
    // Answers are stored after the response went out.
    assert!(g.wait_metric("sluice_cache_stored_total", 2.0));
    assert_eq!(g.metric("sluice_cache_entries"), 2.0);
    // Embeddings are cached too (exact only).
    let e = r#"{"model":"embed-e2e","input":"cache me"}"#;
    let r1 = c.request(&post("/v1/embeddings", e, ""));
    let r2 = c.request(&post("/v1/embeddings", e, ""));
    assert_eq!((cache_header(&r1), cache_header(&r2)), ("miss", "hit-exact"));
    assert_eq!(r1.body, r2.body);
    assert_eq!(m.stats.requests(Endpoint::Embeddings), 1);
});

both_drivers!(fn streams_replay_byte_for_byte_and_across_forms(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, EXACT, ""), d);
    let mut c = g.client();
    let q = question("Which river runs through Paris?", true);
    let first = chat(&mut c, CLIENT_KEY, &q, "");
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(cache_header(&first), "miss");
    let second = chat(&mut c, CLIENT_KEY, &q, "");
    assert_eq!(cache_header(&second), "hit-exact");
    assert_eq!(
        second.header("content-type"),
        Some("text/event-stream"),
        "a stream is replayed as a stream"
    );
    assert_eq!(
        second.text(),
        first.text(),
        "the replay is the stream the client first got, byte for byte"
    );
    assert_eq!(upstream_chats(&m), 1);
    // A client that asks for usage gets the usage chunk the gateway stored.
    let with_usage = {
        let mut v: Value = serde_json::from_str(&q).unwrap();
        v["stream_options"] = json!({"include_usage": true});
        v.to_string()
    };
    let third = chat(&mut c, CLIENT_KEY, &with_usage, "");
    assert_eq!(cache_header(&third), "hit-exact");
    let events = sse_data(&third.body);
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    // A non-streaming request is answered from the stored stream, assembled.
    let plain = chat(&mut c, CLIENT_KEY, &question("Which river runs through Paris?", false), "");
    assert_eq!(cache_header(&plain), "hit-exact");
    let v = plain.json();
    let streamed = assemble(&first.body, PLAIN_MODEL);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"].as_str().unwrap(), streamed.content);
    assert_eq!(upstream_chats(&m), 1);
    // And the other way: a stored completion answers a stream.
    let json_first = chat(&mut c, CLIENT_KEY, &question("How long is the Seine?", false), "");
    assert_eq!(cache_header(&json_first), "miss");
    let as_stream = chat(&mut c, CLIENT_KEY, &question("How long is the Seine?", true), "");
    assert_eq!(cache_header(&as_stream), "hit-exact");
    let replayed = assemble(&as_stream.body, PLAIN_MODEL);
    assert_eq!(
        replayed.content,
        json_first.json()["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(upstream_chats(&m), 2);
});

both_drivers!(fn bypass_headers_skip_the_cache(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, EXACT, ""), d);
    let mut c = g.client();
    let q = question("Where is Lyon?", false);
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q, "")), "miss");
    // off: neither served nor stored.
    let r = chat(&mut c, CLIENT_KEY, &q, "x-sluice-cache: off\r\n");
    assert_eq!((r.status, cache_header(&r)), (200, "bypass"));
    assert_eq!(upstream_chats(&m), 2);
    // no-cache: a fresh answer, which replaces the stored one.
    let fresh = chat(&mut c, CLIENT_KEY, &q, "cache-control: no-cache\r\n");
    assert_eq!(cache_header(&fresh), "bypass");
    assert_eq!(upstream_chats(&m), 3);
    let again = chat(&mut c, CLIENT_KEY, &q, "");
    assert_eq!(cache_header(&again), "hit-exact");
    assert_eq!(again.body, fresh.body, "no-cache stored its fresh answer");
    // no-store: not stored.
    let q2 = question("Where is Nice?", false);
    let r = chat(&mut c, CLIENT_KEY, &q2, "cache-control: max-age=0, no-store\r\n");
    assert_eq!(cache_header(&r), "bypass");
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q2, "")), "miss");
    assert_eq!(upstream_chats(&m), 5);
    assert_eq!(g.metric("sluice_cache_requests_total{result=\"bypass\"}"), 3.0);
});

both_drivers!(fn tenants_never_see_each_others_answers(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, EXACT, ""), d);
    let mut c = g.client();
    let q = question("Where is Bordeaux?", false);
    assert_eq!(cache_header(&chat(&mut c, KEY_A, &q, "")), "miss");
    assert_eq!(cache_header(&chat(&mut c, KEY_B, &q, "")), "miss", "key b is another tenant");
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q, "")), "miss");
    assert_eq!(cache_header(&chat(&mut c, KEY_A, &q, "")), "hit-exact");
    assert_eq!(upstream_chats(&m), 3);
    drop(c);
    drop(g);
    // Scoped by team: keys a and b share, c (another team) does not.
    let g = Gateway::start(&cache_config(m.addr, "[cache]\nenabled = true\nscope = \"team\"\n", ""), d);
    let mut c = g.client();
    let q = question("Where is Toulouse?", false);
    assert_eq!(cache_header(&chat(&mut c, KEY_A, &q, "")), "miss");
    assert_eq!(cache_header(&chat(&mut c, KEY_B, &q, "")), "hit-exact");
    assert_eq!(cache_header(&chat(&mut c, KEY_C, &q, "")), "miss");
    assert_eq!(upstream_chats(&m), 5);
});

const SEMANTIC_ON: &str = r#"
[cache]
enabled = true
[cache.semantic]
mode = "on"
threshold = 0.7
"#;

both_drivers!(fn semantic_hits_paraphrases_and_the_guard_refuses_near_misses(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, SEMANTIC_ON, ""), d);
    let mut c = g.client();
    let first = chat(&mut c, CLIENT_KEY, &question("What is the capital of France?", false), "");
    assert_eq!(cache_header(&first), "miss");
    let para = chat(&mut c, CLIENT_KEY, &question("what is the capital of France", false), "");
    assert_eq!(cache_header(&para), "hit-semantic", "{:?}", para.headers);
    let sim: f32 = para.header("x-sluice-cache-similarity").unwrap().parse().unwrap();
    assert!((0.7..=1.0).contains(&sim), "{sim}");
    assert_eq!(para.body, first.body);
    assert_eq!(upstream_chats(&m), 1);
    // Near misses: another entity, a negation, a number.
    for (stored, asked) in [
        ("What is the capital of France?", "What is the capital of Germany?"),
        ("Please reset my password", "Please do not reset my password"),
        ("Book a table for 2 people", "Book a table for 4 people"),
    ] {
        let before = upstream_chats(&m);
        chat(&mut c, CLIENT_KEY, &question(stored, false), "");
        let r = chat(&mut c, CLIENT_KEY, &question(asked, false), "");
        assert_eq!(cache_header(&r), "miss", "{asked:?} must not be answered by {stored:?}");
        assert!(upstream_chats(&m) > before);
    }
    assert!(g.metric("sluice_cache_guard_refused_total") >= 1.0);
    // The same question in another context (system prompt) never matches.
    let other_context = json!({
        "model": PLAIN_MODEL,
        "messages": [
            {"role": "system", "content": "You answer history questions."},
            {"role": "user", "content": "what is the capital of France"},
        ],
        "max_tokens": 24, "temperature": 0,
    })
    .to_string();
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &other_context, "")), "miss");
    // Not eligible: a temperature above the maximum is looked up exactly only.
    let g2 = Gateway::start(
        &cache_config(m.addr, &format!("{SEMANTIC_ON}temperature_max = 0.2\n"), ""),
        d,
    );
    let mut c2 = g2.client();
    chat(&mut c2, CLIENT_KEY, &question("What is the capital of Spain?", false), "");
    let hot = question("what is the capital of Spain", false).replace("\"temperature\":0", "\"temperature\":0.9");
    assert_eq!(cache_header(&chat(&mut c2, CLIENT_KEY, &hot, "")), "miss");
    assert_eq!(g.metric("sluice_cache_requests_total{result=\"hit_semantic\"}"), 1.0);
});

both_drivers!(fn shadow_mode_counts_would_be_hits_and_serves_none(d) {
    let m = mock(d);
    let shadow = SEMANTIC_ON.replace("\"on\"", "\"shadow\"");
    let g = Gateway::start(&cache_config(m.addr, &shadow, ""), d);
    let mut c = g.client();
    chat(&mut c, CLIENT_KEY, &question("What is the capital of Italy?", false), "");
    let r = chat(&mut c, CLIENT_KEY, &question("what is the capital of Italy", false), "");
    assert_eq!(cache_header(&r), "miss", "shadow mode serves nothing");
    assert!(r.header("x-sluice-cache-similarity").is_none());
    assert_eq!(upstream_chats(&m), 2);
    assert!(g.wait_metric("sluice_cache_shadow_hits_total", 1.0));
    // Exact hits are still served.
    let r = chat(&mut c, CLIENT_KEY, &question("What is the capital of Italy?", false), "");
    assert_eq!(cache_header(&r), "hit-exact");
});

both_drivers!(fn a_slow_embedder_skips_the_lookup_not_the_request(d) {
    let m = mock(d);
    let slow = start_mock(MockConfig {
        latency: Latency::Fixed { ms: 400 },
        ..mock_config(d)
    });
    let extra = format!(
        r#"
[[providers]]
name = "slow-embed"
kind = "openai-compatible"
base_url = "http://{}/v1"
api_key = "x"

[[models]]
name = "embedder"
provider = "slow-embed"
model = "mock-embedding"
"#,
        slow.addr
    );
    let sem = r#"
[cache]
enabled = true
[cache.semantic]
mode = "on"
embedder = "provider"
model = "embedder"
timeout_ms = 50
"#;
    let g = Gateway::start(&cache_config(m.addr, sem, &extra), d);
    let mut c = g.client();
    let r = chat(&mut c, CLIENT_KEY, &question("Where is Lille?", false), "");
    assert_eq!((r.status, cache_header(&r)), (200, "miss"));
    assert!(g.wait_metric("sluice_cache_embed_failed_total", 1.0));
    // The exact cache still works.
    let r = chat(&mut c, CLIENT_KEY, &question("Where is Lille?", false), "");
    assert_eq!(cache_header(&r), "hit-exact");
});

/// A real embeddings server (a stand-in for a self-hosted TEI): `POST /v1/embeddings`
/// answered in OpenAI's format with the lexical embedder's vector of `input`; counts the
/// requests it answered.
fn embedding_server(dims: usize) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use ::cache::embed::Embedder;
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        let e = ::cache::embed::Lexical::new(dims);
        for mut s in l.incoming().map_while(Result::ok) {
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            // One request per connection is enough for the gateway's pool to cope with;
            // keep-alive is honoured by reading requests until the peer closes.
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match s.read(&mut tmp) {
                        Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                        _ => break,
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while buf.len() < end + 4 + len {
                    match s.read(&mut tmp) {
                        Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                        _ => return,
                    }
                }
                let req: Value = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
                buf.drain(..end + 4 + len);
                let mut v = vec![0f32; dims];
                e.embed(req["input"].as_str().unwrap(), &mut v);
                let body = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": v}],
                    "model": req["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}})
                .to_string();
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        }
    });
    (addr, served)
}

both_drivers!(fn the_provider_embedder_finds_paraphrases(d) {
    let m = mock(d);
    let (tei, served) = embedding_server(256);
    let extra = format!(
        r#"
[[providers]]
name = "tei"
kind = "openai-compatible"
base_url = "http://{tei}/v1"

[[models]]
name = "embedder"
provider = "tei"
model = "lexical-256"
"#
    );
    let sem = r#"
[cache]
enabled = true
[cache.semantic]
mode = "on"
threshold = 0.7
embedder = "provider"
model = "embedder"
dims = 256
timeout_ms = 2000
"#;
    let g = Gateway::start(&cache_config(m.addr, sem, &extra), d);
    let mut c = g.client();
    chat(&mut c, CLIENT_KEY, &question("What is the capital of Peru?", false), "");
    let r = chat(&mut c, CLIENT_KEY, &question("what is the capital of Peru", false), "");
    assert_eq!(cache_header(&r), "hit-semantic", "{:?}", r.headers);
    let r = chat(&mut c, CLIENT_KEY, &question("What is the capital of Chile?", false), "");
    assert_eq!(cache_header(&r), "miss");
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 3);
    assert_eq!(g.metric("sluice_cache_embed_failed_total"), 0.0);
    assert_eq!(upstream_chats(&m), 2);
});

both_drivers!(fn hits_cost_nothing_and_count_what_they_saved(d) {
    let m = mock(d);
    let extra = r#"
[[models]]
name = "priced"
deployments = [{ provider = "mock", model = "mock-model", input_price_per_mtok = 0.0, output_price_per_mtok = 10000.0 }]
"#;
    let budgeted = r#"[[keys]]
id = "spender"
key = "sk-sluice-cache-spender-0000004"
budget = { usd = 1.0, period = "daily" }
"#;
    let g = Gateway::start(&cache_config(m.addr, EXACT, &format!("{extra}\n{budgeted}")), d);
    let mut c = g.client();
    let body = r#"{"model":"priced","messages":[{"role":"user","content":"Count."}],"max_tokens":10}"#;
    let key = "sk-sluice-cache-spender-0000004";
    let first = chat(&mut c, key, body, "");
    assert_eq!((first.status, cache_header(&first)), (200, "miss"), "{}", first.text());
    assert!(g.wait_metric("sluice_spend_usd_total", 0.1));
    for _ in 0..5 {
        let r = chat(&mut c, key, body, "");
        assert_eq!((r.status, cache_header(&r)), (200, "hit-exact"));
    }
    // Six answers, one paid: $0.10 spent, $0.50 saved.
    assert!((g.metric("sluice_spend_usd_total") - 0.1).abs() < 1e-9);
    assert!((g.metric("sluice_cache_saved_usd_total") - 0.5).abs() < 1e-9);
    let b = admin(&g, "GET", "/admin/budgets").json();
    let spent = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "spender")
        .map(|x| x["spent_usd"].as_f64().unwrap())
        .unwrap();
    assert!((spent - 0.1).abs() < 1e-9, "{b}");
});

both_drivers!(fn entries_expire_after_their_ttl(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, "[cache]\nenabled = true\nttl_seconds = 1\n", ""), d);
    let mut c = g.client();
    let q = question("Where is Brest?", false);
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q, "")), "miss");
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q, "")), "hit-exact");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &q, "")), "miss");
});

both_drivers!(fn admin_purges_by_tenant_model_or_all_and_reports_stats(d) {
    let m = mock(d);
    let g = Gateway::start(&cache_config(m.addr, SEMANTIC_ON, ""), d);
    let mut c = g.client();
    for key in [KEY_A, KEY_B, KEY_C] {
        let r = chat(&mut c, key, &question("Where is Dijon?", false), "");
        assert_eq!((r.status, cache_header(&r)), (200, "miss"), "{}", r.text());
    }
    let mapped = question("Where is Dijon?", false).replace(PLAIN_MODEL, MODEL);
    chat(&mut c, KEY_A, &mapped, "");
    // Answers are stored after their response went out.
    assert!(wait_until(WAIT, || admin(&g, "GET", "/admin/cache").json()["exact"]["entries"] == 4));
    let s = admin(&g, "GET", "/admin/cache").json();
    assert_eq!(s["exact"]["entries"], 4, "{s}");
    assert_eq!(s["semantic"]["entries"], 4, "{s}");
    assert_eq!(s["semantic"]["mode"], "on");
    // A model.
    let r = admin(&g, "DELETE", &format!("/admin/cache?model={MODEL}")).json();
    assert_eq!(r["purged"], 1, "{r}");
    // A team: its keys' answers.
    let r = admin(&g, "DELETE", "/admin/cache?team=ml").json();
    assert_eq!(r["purged"], 2, "{r}");
    assert_eq!(cache_header(&chat(&mut c, KEY_A, &question("Where is Dijon?", false), "")), "miss");
    assert_eq!(cache_header(&chat(&mut c, KEY_C, &question("Where is Dijon?", false), "")), "hit-exact");
    // Everything.
    let r = admin(&g, "DELETE", "/admin/cache").json();
    assert_eq!(r["purged"], 2, "{r}");
    let s = admin(&g, "GET", "/admin/cache").json();
    assert_eq!((s["exact"]["entries"].clone(), s["semantic"]["entries"].clone()), (json!(0), json!(0)));
    let bad = admin(&g, "DELETE", "/admin/cache?tenant=x");
    assert_eq!(bad.status, 400);
    assert_openai_error(&bad.body);
});

both_drivers!(fn the_cache_survives_a_restart_through_its_snapshot(d) {
    let m = mock(d);
    let dir = TempDir::new("cache-snap");
    let data = format!("[data]\ndir = \"{}\"\n", dir.path().display());
    let cfg = cache_config(m.addr, SEMANTIC_ON, &data);
    let g = Gateway::start(&cfg, d);
    let mut c = g.client();
    let stream_q = question("Name a city on the Loire.", true);
    let first = chat(&mut c, CLIENT_KEY, &stream_q, "");
    chat(&mut c, CLIENT_KEY, &question("What is the capital of Austria?", false), "");
    drop(c);
    g.stop().unwrap();
    assert!(dir.path().join("cache/exact.bin").exists());
    assert!(dir.path().join("cache/semantic.bin").exists());
    let before = upstream_chats(&m);
    let g = Gateway::start(&cfg, d);
    let mut c = g.client();
    let r = chat(&mut c, CLIENT_KEY, &stream_q, "");
    assert_eq!(cache_header(&r), "hit-exact");
    assert_eq!(r.text(), first.text());
    let r = chat(&mut c, CLIENT_KEY, &question("what is the capital of Austria", false), "");
    assert_eq!(cache_header(&r), "hit-semantic");
    assert_eq!(upstream_chats(&m), before);
    // A damaged snapshot is skipped: the gateway starts with an empty cache.
    drop(c);
    g.stop().unwrap();
    std::fs::write(dir.path().join("cache/exact.bin"), b"not a snapshot").unwrap();
    let g = Gateway::start(&cfg, d);
    let mut c = g.client();
    assert_eq!(cache_header(&chat(&mut c, CLIENT_KEY, &stream_q, "")), "miss");
});

both_drivers!(fn many_clients_on_two_workers_share_one_cache(d) {
    let m = mock(d);
    let g = Gateway::start_workers(&cache_config(m.addr, SEMANTIC_ON, ""), d, 2);
    let addr = g.addr;
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut hits = 0;
                for i in 0..40 {
                    let q = question(&format!("Tell me about city number {}.", (i * 7 + t) % 20), i % 3 == 0);
                    let r = chat(&mut c, CLIENT_KEY, &q, "");
                    assert_eq!(r.status, 200, "{}", r.text());
                    if i % 3 != 0 {
                        let v = r.json();
                        assert!(v["choices"][0]["message"]["content"].is_string(), "{v}");
                    } else {
                        assert!(assemble(&r.body, PLAIN_MODEL).finish.is_some());
                    }
                    hits += u32::from(cache_header(&r).starts_with("hit"));
                }
                hits
            })
        })
        .collect();
    let hits: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    // 20 distinct prompts among 320 requests: at least 300 - (racing misses) are hits.
    let upstream = upstream_chats(&m);
    assert_eq!(u64::from(hits) + upstream, 320);
    assert!((20..100).contains(&upstream), "{upstream} upstream requests");
});

both_drivers!(fn translated_providers_answers_are_cached_in_openai_form(d) {
    // Anthropic and Gemini answers reach the client translated to OpenAI's shape; that
    // form is what is stored and replayed.
    let m = mock(d);
    for kind in ["anthropic", "gemini"] {
        let extra = format!(
            r#"
[[providers]]
name = "native"
kind = "{kind}"
base_url = "http://{}"
api_key = "{PROVIDER_KEY}"

[[models]]
name = "native-model"
provider = "native"
model = "claude-or-gemini"
"#,
            m.addr
        );
        let g = Gateway::start(&cache_config(m.addr, EXACT, &extra), d);
        let mut c = g.client();
        let q = |stream: bool| question("Where is Rennes?", stream).replace(PLAIN_MODEL, "native-model");
        let before = m.stats.requests_total.load(std::sync::atomic::Ordering::Relaxed);
        let first = chat(&mut c, CLIENT_KEY, &q(true), "");
        assert_eq!((first.status, cache_header(&first)), (200, "miss"), "{kind}: {}", first.text());
        let again = chat(&mut c, CLIENT_KEY, &q(true), "");
        assert_eq!(cache_header(&again), "hit-exact", "{kind}");
        assert_eq!(again.text(), first.text(), "{kind}: replayed byte for byte");
        let plain = chat(&mut c, CLIENT_KEY, &q(false), "");
        assert_eq!(cache_header(&plain), "hit-exact", "{kind}");
        assert_eq!(
            plain.json()["choices"][0]["message"]["content"].as_str().unwrap(),
            assemble(&first.body, "native-model").content,
            "{kind}"
        );
        assert_eq!(
            m.stats.requests_total.load(std::sync::atomic::Ordering::Relaxed) - before,
            1,
            "{kind}: one upstream request"
        );
    }
});

/// A small model2vec directory (tokenizer.json in Hugging Face's WordPiece format,
/// model.safetensors written by hand) whose vocabulary covers `words`; rows are fixed
/// pseudo-random vectors of 64 dims.
fn write_static_model(dir: &std::path::Path, words: &[&str]) {
    let mut vocab: Vec<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "?", ".", ","]
        .map(String::from)
        .to_vec();
    for w in words {
        if !vocab.iter().any(|v| v == w) {
            vocab.push((*w).to_owned());
        }
    }
    let ids: serde_json::Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let tokenizer = json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": null, "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}
    });
    const DIMS: usize = 64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut data = Vec::new();
    for _ in 0..vocab.len() * DIMS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        data.extend_from_slice(&v.to_le_bytes());
    }
    let mut header = format!(
        "{{\"embeddings\":{{\"dtype\":\"F32\",\"shape\":[{},{DIMS}],\"data_offsets\":[0,{}]}}}}",
        vocab.len(),
        data.len()
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(dir.join("model.safetensors"), file).unwrap();
}

both_drivers!(fn the_static_embedder_loads_a_model2vec_directory(d) {
    let m = mock(d);
    let dir = TempDir::new("m2v");
    write_static_model(
        dir.path(),
        &["what", "is", "the", "capital", "of", "france", "germany", "please", "tell", "me"],
    );
    let sem = format!(
        "[cache]\nenabled = true\n[cache.semantic]\nmode = \"on\"\nthreshold = 0.8\nembedder = \"static\"\nmodel_dir = \"{}\"\n",
        dir.path().display()
    );
    let g = Gateway::start(&cache_config(m.addr, &sem, ""), d);
    let mut c = g.client();
    chat(&mut c, CLIENT_KEY, &question("What is the capital of France?", false), "");
    let r = chat(&mut c, CLIENT_KEY, &question("what is the capital of France", false), "");
    assert_eq!(cache_header(&r), "hit-semantic", "{:?}", r.headers);
    let r = chat(&mut c, CLIENT_KEY, &question("What is the capital of Germany?", false), "");
    assert_eq!(cache_header(&r), "miss");
    assert_eq!(upstream_chats(&m), 2);
    let s = admin(&g, "GET", "/admin/cache").json();
    assert!(s["semantic"]["embedder"].as_str().unwrap().starts_with("static:"), "{s}");
});

#[test]
fn cache_config_errors_name_the_field() {
    let m: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let ov = engine::config::Overrides::default();
    for (cache, field, says) in [
        ("[cache]\nscope = \"tenant\"\n", "cache.scope", "`key`, `team`, `org` or `global`"),
        ("[cache]\nenabled = true\nmemory_mb = 0\n", "cache.memory_mb", "must be from 1"),
        ("[cache.semantic]\nmode = \"on\"\n", "cache.semantic.mode", "needs the exact cache"),
        (
            "[cache]\nenabled = true\n[cache.semantic]\nmode = \"on\"\nthreshold = 0.2\n",
            "cache.semantic.threshold",
            "from 0.5 to 1.0",
        ),
        (
            "[cache]\nenabled = true\n[cache.semantic]\nmode = \"on\"\nembedder = \"static\"\n",
            "cache.semantic.model_dir",
            "model2vec",
        ),
        (
            "[cache]\nenabled = true\n[cache.semantic]\nmode = \"on\"\nembedder = \"provider\"\nmodel = \"nope\"\n",
            "cache.semantic.model",
            "no model \"nope\"",
        ),
    ] {
        let err = engine::config::from_str("t.toml", &cache_config(m, cache, ""), &ov)
            .err()
            .unwrap_or_else(|| panic!("accepted: {cache}"));
        assert_eq!(err.field, field, "{err}");
        assert!(err.message.contains(says), "{err}");
        assert!(err.line.is_some(), "{err}");
    }
    // A model directory that does not hold a model: the gateway does not start, and
    // says why.
    let dir = TempDir::new("m2v-empty");
    let cfg = cache_config(
        m,
        &format!(
            "[cache]\nenabled = true\n[cache.semantic]\nmode = \"on\"\nembedder = \"static\"\nmodel_dir = \"{}\"\n",
            dir.path().display()
        ),
        "",
    );
    let ov = engine::config::Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    let snap = engine::config::from_str("t.toml", &cfg, &ov).unwrap();
    let err = engine::start(snap)
        .err()
        .expect("started without a model")
        .to_string();
    assert!(
        err.contains("cache.semantic.model_dir") && err.contains("tokenizer.json"),
        "{err}"
    );
}
