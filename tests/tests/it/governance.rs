//! Virtual keys, limits and budgets end to end: keys declared in the config and made
//! through the admin API, the org → team → user → key path, RPM/TPM accuracy with
//! requests racing on two workers, a budget that admits exactly N of 500 concurrent
//! requests, revocation and rotation through the admin API, and keys and spend kept
//! across a restart in a real SQLite data directory.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::*;

const ADMIN_KEY: &str = "admin-key-e2e-0123456789";
/// A config-declared virtual key's secret.
const VKEY: &str = "sk-sluice-config-declared-key-0001";

/// Providers and models for governance tests: one openai-compatible mock; `priced` has
/// output at $10,000 per million tokens (1 cent a token) and free input, so a request's
/// cost is its completion tokens in cents, whatever its prompt estimate.
fn gov_config(upstream: SocketAddr, tables: &str, data: Option<&std::path::Path>) -> String {
    let data = data.map_or(String::new(), |d| {
        format!("[data]\ndir = \"{}\"\n", d.display())
    });
    format!(
        r#"
[server]
drain_timeout_ms = 3000

[log]
access_log = "off"

[admin]
key = "{ADMIN_KEY}"

{data}

[[providers]]
name = "mock"
kind = "openai-compatible"
base_url = "http://{upstream}/v1"
api_key = "{PROVIDER_KEY}"
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}

[[models]]
name = "priced"
deployments = [{{ provider = "mock", model = "mock-model", input_price_per_mtok = 0.0, output_price_per_mtok = 10000.0 }}]

[[models]]
name = "unpriced"
provider = "mock"
model = "some-local-model"

{tables}
"#
    )
}

fn ask(c: &mut Client, key: &str, model: &str, max_tokens: u32) -> Response {
    let body = format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"Count to three."}}],"max_tokens":{max_tokens}}}"#
    );
    c.request(&post_with_key("/v1/chat/completions", &body, Some(key), ""))
}

fn admin(g: &Gateway, method: &str, path: &str, body: Option<Value>) -> Response {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut c = Client::connect(g.admin_addr);
    c.request(
        format!(
            "{method} {path} HTTP/1.1\r\nhost: admin\r\nauthorization: Bearer {ADMIN_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

fn code(r: &Response) -> String {
    r.json()["error"]["code"].as_str().unwrap_or("").to_string()
}

/// Send `total` requests from `threads` connections at once; the responses' statuses
/// and error codes.
fn burst(
    addr: SocketAddr,
    key: &str,
    model: &str,
    max_tokens: u32,
    threads: usize,
    total: usize,
) -> Vec<(u16, String)> {
    let next = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let next = next.clone();
            let key = key.to_string();
            let model = model.to_string();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                let mut c = Client::connect(addr);
                while next.fetch_add(1, Relaxed) < total as u64 {
                    let r = ask(&mut c, &key, &model, max_tokens);
                    out.push((r.status, code(&r)));
                }
                out
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

/// A real HTTP server for the budget webhook: each POST's JSON body, in order.
fn webhook_sink() -> (SocketAddr, std::sync::mpsc::Receiver<Value>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut s in l.incoming().map_while(Result::ok) {
            let mut buf = Vec::new();
            let mut tmp = [0u8; 1024];
            let body = loop {
                let n = s.read(&mut tmp).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&tmp[..n]);
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            let _ = s.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
            if let Some(b) = body {
                let _ = tx.send(serde_json::from_slice(&b).unwrap());
            }
        }
    });
    (addr, rx)
}

/// A budget's view once no request holds a reservation on it (a request settles right
/// after its last byte is written, so a client can read its answer a moment before).
fn budget_of(g: &Gateway, scope: &str, id: &str) -> Value {
    let mut b = Value::Null;
    wait_until(WAIT, || {
        b = budget_now(g, scope, id);
        b["reserved_usd"].as_f64() == Some(0.0)
    });
    b
}

fn budget_now(g: &Gateway, scope: &str, id: &str) -> Value {
    let r = admin(g, "GET", "/admin/budgets", None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"] == scope && b["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no budget for {scope} {id}: {}", r.text()))
}

both_drivers!(fn budget_admits_exactly_n_of_500_concurrent_requests(d) {
    let m = mock(d);
    // 10 completion tokens at a cent each: $0.10 a request; $2.00 admits exactly 20.
    let tables = format!(
        r#"
[[orgs]]
id = "acme"
[[teams]]
id = "ml"
org = "acme"
[[users]]
id = "alice"
team = "ml"
[[keys]]
id = "ci"
key = "{VKEY}"
user = "alice"
budget = {{ usd = 2.0, period = "monthly" }}
"#
    );
    let g = Gateway::start_workers(&gov_config(m.addr, &tables, None), d, 2);
    let results = burst(g.addr, VKEY, "priced", 10, 50, 500);
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = results.iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(ok, 20, "exactly N succeed");
    assert_eq!(refused.len(), 480);
    assert!(
        refused.iter().all(|(s, c)| *s == 429 && c == "budget_exceeded"),
        "every refusal is the budget's: {:?}",
        &refused[..5]
    );
    let b = budget_of(&g, "key", "ci");
    assert!((b["spent_usd"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{b}");
    assert_eq!(b["reserved_usd"].as_f64().unwrap(), 0.0, "{b}");
    assert_eq!(b["limit_usd"].as_f64().unwrap(), 2.0);
    // Nothing is left: the next request is refused, and says why.
    let r = ask(&mut g.client(), VKEY, "priced", 10);
    assert_eq!(r.status, 429);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("key ci") && msg.contains("budget"), "{msg}");
});

both_drivers!(fn budget_with_room_never_refuses_and_settles_to_the_real_cost(d) {
    let m = mock(d);
    let (hook, events) = webhook_sink();
    // max_tokens 10 and the mock answers 10 tokens: each request reserves and then
    // settles $0.10.
    let tables = format!(
        r#"
[[keys]]
id = "roomy"
key = "{VKEY}"
budget = {{ usd = 100.0, period = "daily", soft = [1, 2] }}

[governance]
budget_webhook = "http://{hook}/budget"
"#
    );
    let g = Gateway::start_workers(&gov_config(m.addr, &tables, None), d, 2);
    let results = burst(g.addr, VKEY, "priced", 10, 16, 200);
    assert!(results.iter().all(|(s, _)| *s == 200), "no false refusal: {:?}", results.iter().find(|(s, _)| *s != 200));
    let b = budget_of(&g, "key", "roomy");
    assert!((b["spent_usd"].as_f64().unwrap() - 20.0).abs() < 1e-9, "200 × $0.10: {b}");
    // Soft thresholds at 1% and 2% fired once each: a metric ...
    let text = g.metrics();
    for p in ["1", "2"] {
        let series = format!("sluice_budget_threshold_crossed_total{{scope=\"key\",id=\"roomy\",percent=\"{p}\"}}");
        assert_eq!(metric(&text, &series), Some(1.0), "{series}\n{text}");
    }
    assert_eq!(metric(&text, "sluice_spend_usd_total"), Some(20.0), "{text}");
    // ... and a POST to the webhook.
    let mut got: Vec<Value> = (0..2)
        .map(|_| events.recv_timeout(WAIT).expect("a webhook event"))
        .collect();
    got.sort_by_key(|e| e["percent"].as_u64());
    assert_eq!(got[0]["event"], "budget.threshold");
    assert_eq!((got[0]["scope"].as_str(), got[0]["id"].as_str()), (Some("key"), Some("roomy")));
    assert_eq!((got[0]["percent"].as_u64(), got[1]["percent"].as_u64()), (Some(1), Some(2)));
    assert!(events.recv_timeout(Duration::from_millis(200)).is_err(), "once per period");
    // A stream settles to its real usage too (the gateway asks for it upstream).
    let body = r#"{"model":"priced","stream":true,"messages":[{"role":"user","content":"hi"}],"max_tokens":10}"#;
    let r = g.client().request(&post_with_key("/v1/chat/completions", body, Some(VKEY), ""));
    assert_eq!(r.status, 200);
    assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
    let b = budget_of(&g, "key", "roomy");
    assert!((b["spent_usd"].as_f64().unwrap() - 20.1).abs() < 1e-9, "{b}");
    // Counting tokens is free: it does not touch the budget.
    let body = r#"{"model":"priced","messages":[{"role":"user","content":"hi"}]}"#;
    let r = g.client().request(&post_with_key("/v1/messages/count_tokens", body, Some(VKEY), ""));
    assert_eq!(r.status, 200, "{}", r.text());
    let b = budget_of(&g, "key", "roomy");
    assert!((b["spent_usd"].as_f64().unwrap() - 20.1).abs() < 1e-9, "{b}");
    // A model without a known price is refused for a budgeted key, never charged $0.
    let r = ask(&mut g.client(), VKEY, "unpriced", 10);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(code(&r), "price_unknown");
});

both_drivers!(fn rpm_holds_within_one_request_across_two_workers(d) {
    let m = mock(d);
    let tables = format!(
        r#"
[[keys]]
id = "rpm"
key = "{VKEY}"
rpm = 40
"#
    );
    let g = Gateway::start_workers(&gov_config(m.addr, &tables, None), d, 2);
    let t0 = Instant::now();
    let results = burst(g.addr, VKEY, "unpriced", 5, 16, 200);
    let elapsed = t0.elapsed().as_secs_f64();
    let ok = results.iter().filter(|(s, _)| *s == 200).count() as f64;
    // A token bucket of 40 refilled at 40 a minute: 40 plus what refilled meanwhile.
    let refill = (elapsed * 40.0 / 60.0).ceil();
    assert!(ok >= 40.0 && ok <= 40.0 + refill, "{ok} admitted in {elapsed:.2}s");
    let refused = results.iter().filter(|(s, _)| *s == 429).count();
    assert_eq!(refused + ok as usize, 200);
    // The refusal carries OpenAI's headers.
    let r = ask(&mut g.client(), VKEY, "unpriced", 5);
    assert_eq!(r.status, 429);
    assert_eq!(code(&r), "rate_limit_exceeded");
    assert_eq!(r.header("x-ratelimit-limit-requests"), Some("40"));
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "one request refills in 1.5 s: {retry}");
    assert!(r.header("x-ratelimit-reset-requests").is_some());
});

both_drivers!(fn tpm_holds_within_one_request_and_is_corrected_to_usage(d) {
    let m = mock(d);
    let tables = format!(
        r#"
[[keys]]
id = "tpm"
key = "{VKEY}"
tpm = 2000
"#
    );
    let g = Gateway::start_workers(&gov_config(m.addr, &tables, None), d, 2);
    let mut c = g.client();
    let first = ask(&mut c, VKEY, "unpriced", 20);
    assert_eq!(first.status, 200, "{}", first.text());
    let used = first.json()["usage"]["total_tokens"].as_u64().unwrap();
    let remaining: u64 = first.header("x-ratelimit-remaining-tokens").unwrap().parse().unwrap();
    assert_eq!(first.header("x-ratelimit-limit-tokens"), Some("2000"));
    assert!(remaining < 2000);
    let t0 = Instant::now();
    let results = burst(g.addr, VKEY, "unpriced", 20, 8, 400);
    // The burst's refusals leave room only for less than a request's reservation; keep
    // going one at a time until refused, so the bucket is as full as it can be used.
    let mut ok = 1 + results.iter().filter(|(s, _)| *s == 200).count() as u64;
    loop {
        let r = ask(&mut c, VKEY, "unpriced", 20);
        if r.status != 200 {
            assert_eq!(code(&r), "rate_limit_exceeded");
            break;
        }
        ok += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64() + 0.5;
    let consumed = ok * used;
    let refill = (elapsed * 2000.0 / 60.0).ceil() as u64;
    // Never above the limit (plus refill), and short of it by less than one request's
    // reservation (its prompt estimate plus max_tokens).
    assert!(consumed <= 2000 + refill, "{ok} requests × {used} tokens in {elapsed:.1}s");
    assert!(consumed + 2 * used + 40 > 2000, "{ok} requests × {used} tokens: refused too early");
});

both_drivers!(fn admin_api_makes_keys_that_work_and_revocation_is_immediate(d) {
    let m = mock(d);
    let g = Gateway::start_workers(&gov_config(m.addr, "", None), d, 2);
    // Without the admin key: 401.
    let mut c = Client::connect(g.admin_addr);
    let r = c.request(b"GET /admin/keys HTTP/1.1\r\nhost: a\r\n\r\n");
    assert_eq!(r.status, 401);
    for (path, body) in [
        ("/admin/orgs", json!({"id": "acme", "budget": {"usd": 50, "period": "monthly"}})),
        ("/admin/teams", json!({"id": "ml", "org": "acme", "rpm": 1000})),
        ("/admin/users", json!({"id": "bob", "team": "ml"})),
    ] {
        let r = admin(&g, "POST", path, Some(body));
        assert_eq!(r.status, 201, "{path}: {}", r.text());
    }
    // A team of an org that does not exist: a clear 400.
    let r = admin(&g, "POST", "/admin/teams", Some(json!({"id": "x", "org": "nope"})));
    assert_eq!(r.status, 400);
    assert!(r.text().contains("does not exist"), "{}", r.text());
    let r = admin(&g, "POST", "/admin/keys", Some(json!({"user": "bob", "models": ["priced"]})));
    assert_eq!(r.status, 201, "{}", r.text());
    let key = r.json()["key"].as_str().unwrap().to_string();
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-sluice-") && key.len() == 53, "{key}");
    // Listed without its secret.
    let list = admin(&g, "GET", "/admin/keys?org=acme", None);
    assert!(!list.text().contains(&key[12..]) && list.text().contains(&id), "{}", list.text());
    let mut c = g.client();
    assert_eq!(ask(&mut c, &key, "priced", 5).status, 200);
    // Models outside the key's list: 403.
    let r = ask(&mut c, &key, "unpriced", 5);
    assert_eq!((r.status, code(&r).as_str()), (403, "model_not_allowed"));
    // Rotation: the old secret keeps working through its grace, the new one at once.
    let r = admin(&g, "POST", &format!("/admin/keys/{id}/rotate"), Some(json!({"grace_seconds": 60})));
    assert_eq!(r.status, 200, "{}", r.text());
    let new_key = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(ask(&mut c, &key, "priced", 5).status, 200);
    assert_eq!(ask(&mut c, &new_key, "priced", 5).status, 200);
    // Revocation: every core refuses within a second (both workers are asked, on fresh
    // connections that the kernel spreads over them).
    let r = admin(&g, "DELETE", &format!("/admin/keys/{id}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let t0 = Instant::now();
    let mut refused = 0;
    while refused < 8 {
        let r = ask(&mut g.client(), &new_key, "priced", 5);
        if r.status == 401 {
            refused += 1;
        } else {
            refused = 0;
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "revocation took over a second");
    }
    assert_eq!(ask(&mut g.client(), &key, "priced", 5).status, 401, "the rotated-out secret goes too");
    // Deleting a team that still has a user is refused.
    let r = admin(&g, "DELETE", "/admin/teams/ml", None);
    assert_eq!(r.status, 409, "{}", r.text());
});

#[test]
fn restart_keeps_keys_and_spend() {
    let d = Drv::Epoll;
    let m = mock(d);
    let dir = TempDir::new("gov-restart");
    let cfg = gov_config(m.addr, "", Some(dir.path()));
    let (key, id) = {
        let g = Gateway::start_workers(&cfg, d, 2);
        let r = admin(
            &g,
            "POST",
            "/admin/keys",
            Some(json!({"id": "k1", "budget": {"usd": 10, "period": "monthly"}})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let key = r.json()["key"].as_str().unwrap().to_string();
        let mut c = g.client();
        for _ in 0..7 {
            assert_eq!(ask(&mut c, &key, "priced", 10).status, 200);
        }
        g.stop().unwrap();
        (key, "k1".to_string())
    };
    let g = Gateway::start_workers(&cfg, d, 2);
    // The key survived, and so did its spend: the budget starts from it.
    let b = budget_of(&g, "key", &id);
    assert!((b["spent_usd"].as_f64().unwrap() - 0.7).abs() < 1e-9, "{b}");
    assert_eq!(ask(&mut g.client(), &key, "priced", 10).status, 200);
    std::thread::sleep(Duration::from_millis(400));
    let r = admin(&g, "GET", "/admin/spend?group_by=key,model", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 1, "{}", r.text());
    assert_eq!(rows[0]["key"], "k1");
    assert_eq!(rows[0]["model"], "priced");
    assert_eq!(rows[0]["requests"], 8);
    assert_eq!(rows[0]["output_tokens"], 80);
    assert!(
        (rows[0]["cost_usd"].as_f64().unwrap() - 0.8).abs() < 1e-9,
        "{}",
        r.text()
    );
    let csv = admin(&g, "GET", "/admin/spend?group_by=key&format=csv", None);
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("key,"), "{text}");
    assert!(lines.next().unwrap().starts_with("k1,8,"), "{text}");
}

both_drivers!(
    fn per_model_end_user_and_concurrency_limits_and_key_metadata(d) {
        let m = recording_mock(d);
        let tables = format!(
            r#"
[[models]]
name = "tagged"
deployments = [{{ provider = "mock", model = "eu-model", tags = {{ region = "eu" }} }}]

[[models]]
name = "capped"
deployments = [{{ provider = "mock", model = "m2", input_price_per_mtok = 1.0, output_price_per_mtok = 1.0 }}]

[[keys]]
id = "app"
key = "{VKEY}"
models = ["priced", "capped"]
routes = ["chat"]
model_limits = {{ capped = {{ rpm = 2 }} }}
end_user = {{ from = "user", rpm = 1 }}
budget = {{ usd = 50.0 }}

[[keys]]
id = "eu-only"
key = "sk-sluice-eu-only-key-0000000002"
tags = {{ region = "eu" }}

[[keys]]
id = "expired"
key = "sk-sluice-expired-key-00000000003"
expires_at = 1000

[[keys]]
id = "lister"
key = "sk-sluice-listing-key-00000000004"
models = ["priced", "capped"]
"#
        );
        let g = Gateway::start(&gov_config(m.addr, &tables, None), d);
        let mut c = g.client();
        // Per-model limit: 2 a minute for `capped`, while `priced` is unaffected.
        for _ in 0..2 {
            assert_eq!(ask(&mut c, VKEY, "capped", 5).status, 200);
        }
        let r = ask(&mut c, VKEY, "capped", 5);
        assert_eq!((r.status, code(&r).as_str()), (429, "rate_limit_exceeded"));
        assert!(r.text().contains("model limit"), "{}", r.text());
        assert_eq!(ask(&mut c, VKEY, "priced", 5).status, 200);
        // End users: one request a minute each, told apart by the `user` member.
        let with_user = |c: &mut Client, user: &str| {
            let body = format!(
                r#"{{"model":"priced","user":"{user}","messages":[{{"role":"user","content":"hi"}}],"max_tokens":5}}"#
            );
            c.request(&post_with_key("/v1/chat/completions", &body, Some(VKEY), ""))
        };
        assert_eq!(with_user(&mut c, "u1").status, 200);
        let r = with_user(&mut c, "u1");
        assert_eq!((r.status, code(&r).as_str()), (429, "rate_limit_exceeded"));
        assert!(r.text().contains("end user"), "{}", r.text());
        assert_eq!(with_user(&mut c, "u2").status, 200);
        // The model list shows only the key's models.
        let r = c.request(
            format!("GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {VKEY}\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 403, "the key's routes do not include models: {}", r.text());
        // Routes outside the key's list: 403 before the body is read.
        let r = c.request(&post_with_key(
            "/v1/embeddings",
            r#"{"model":"priced","input":"x"}"#,
            Some(VKEY),
            "",
        ));
        assert_eq!((r.status, code(&r).as_str()), (403, "route_not_allowed"));
        // A budgeted request without max_tokens goes upstream with the reservation's
        // output allowance as its cap, so the provider ends it within the budget.
        let body = r#"{"model":"priced","messages":[{"role":"user","content":"hi"}]}"#;
        let r = c.request(&post_with_key("/v1/chat/completions", body, Some(VKEY), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let (_, sent) = m.recorded().pop().unwrap();
        let sent: Value = serde_json::from_slice(&sent).unwrap();
        assert_eq!(sent["max_tokens"], 4096, "{sent}");
        // Key metadata tags constrain routing: the eu-only key reaches only eu
        // deployments.
        let eu = "sk-sluice-eu-only-key-0000000002";
        let r = ask(&mut c, eu, "tagged", 5);
        assert_eq!(r.status, 200, "{}", r.text());
        let r = ask(&mut c, eu, "unpriced", 5);
        assert_eq!((r.status, code(&r).as_str()), (400, "no_matching_deployment"));
        // A key without a model list sees every model; the app key, limited, only its own.
        let list = |key: &str| -> Vec<String> {
            let r = g.client().request(
                format!("GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\r\n").as_bytes(),
            );
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
        };
        assert!(list(eu).len() >= 4);
        let limited = "sk-sluice-listing-key-00000000004";
        assert_eq!(list(limited), ["priced", "capped"]);
        let r = g.client().request(
            format!("GET /v1/models/unpriced HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {limited}\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, 404);
        // An expired key: 401 with its own code.
        let r = ask(&mut c, "sk-sluice-expired-key-00000000003", "priced", 5);
        assert_eq!((r.status, code(&r).as_str()), (401, "expired_api_key"));
        // Anthropic SDKs send the virtual key as x-api-key.
        let r = c.request(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-api-key: {eu}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                r#"{"model":"tagged","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#.len(),
                r#"{"model":"tagged","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
);

both_drivers!(
    fn concurrency_limit_refuses_the_request_over_the_limit(d) {
        let m = mock(d);
        let tables = format!(
            r#"
[[orgs]]
id = "acme"
max_concurrency = 2
[[keys]]
id = "c"
key = "{VKEY}"
org = "acme"

[auth]
keys = ["sk-sluice-static-like-the-demo"]
"#
        );
        let g = Gateway::start(&gov_config(m.addr, &tables, None), d);
        // Two slow requests hold both slots; the third is refused at once.
        let slow = |addr| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let body = r#"{"model":"unpriced","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#;
                c.request(&post_with_key(
                    "/v1/chat/completions",
                    body,
                    Some(VKEY),
                    "x-mock-latency-ms: 800\r\n",
                ))
                .status
            })
        };
        let (a, b) = (slow(g.addr), slow(g.addr));
        std::thread::sleep(Duration::from_millis(300));
        let r = ask(&mut g.client(), VKEY, "unpriced", 5);
        assert_eq!((r.status, code(&r).as_str()), (429, "rate_limit_exceeded"));
        assert!(r.text().contains("org acme"), "{}", r.text());
        assert_eq!((a.join().unwrap(), b.join().unwrap()), (200, 200));
        // Both slots are free again.
        assert_eq!(ask(&mut g.client(), VKEY, "unpriced", 5).status, 200);
        // A static [auth] key with the virtual keys' prefix (the demo's is one) still
        // works, ungoverned: no x-ratelimit headers.
        let r = ask(&mut g.client(), "sk-sluice-static-like-the-demo", "unpriced", 5);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-requests"), None);
        let r = ask(&mut g.client(), "sk-sluice-unknown", "unpriced", 5);
        assert_eq!((r.status, code(&r).as_str()), (401, "invalid_api_key"));
    }
);
