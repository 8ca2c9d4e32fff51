//! Routing and resilience end to end: groups of deployments on separate mock upstreams,
//! each deployment's faults injected by its provider's `x-mock-*` headers (or a closed
//! port), and the client-visible outcome: no error while a healthy deployment exists,
//! `x-sluice-deployment` / `x-sluice-attempts`, the error event after the first byte,
//! fallback groups (across provider kinds), the context-window fallback, retry-after
//! ejection, breakers, health checks, route tags, sticky splits, shadow traffic, and a
//! hedged loser's connection closed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use loadtest::mock::Endpoint as MockEndpoint;

use crate::*;

/// A provider table: openai-compatible at `addr`, with `headers` (TOML inline table
/// members) sent on every request.
fn provider(name: &str, addr: SocketAddr, headers: &str) -> String {
    format!(
        r#"
[[providers]]
name = "{name}"
kind = "openai-compatible"
base_url = "http://{addr}/v1"
api_key = "{PROVIDER_KEY}"
headers = {{ {headers} }}
timeouts = {{ connect_timeout_ms = 500, first_byte_timeout_ms = 3000 }}
"#
    )
}

/// A gateway config: the providers and model tables given, auth on, log to `log` when
/// given.
fn gateway_config(tables: &str, log: Option<&std::path::Path>) -> String {
    let log = log.map_or("off".to_string(), |p| p.display().to_string());
    format!(
        r#"
[server]
drain_timeout_ms = 2000

[log]
access_log = "{log}"

[auth]
keys = ["{CLIENT_KEY}"]
{tables}
"#
    )
}

fn chat(c: &mut Client, model: &str, stream: bool, extra: &str) -> Response {
    c.request(&post(
        "/v1/chat/completions",
        &chat_body(model, stream),
        extra,
    ))
}

fn attempts(r: &Response) -> u32 {
    r.header("x-sluice-attempts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn deployment(r: &Response) -> &str {
    r.header("x-sluice-deployment").unwrap_or("")
}

both_drivers!(
    fn a_refusing_deployment_never_reaches_the_client(d) {
        let (b, c) = (mock(d), mock(d));
        let tables = format!(
            "{}{}{}{}",
            provider("a", closed_port(), ""),
            provider("b", b.addr, ""),
            provider("c", c.addr, ""),
            r#"
[[models]]
name = "g"
strategy = "round-robin"
breaker = { consecutive_failures = 3, cooldown_ms = 60000 }
deployments = [
  { provider = "a", model = "m" },
  { provider = "b", model = "m" },
  { provider = "c", model = "m" },
]
"#
        );
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        let mut retried = 0;
        for i in 0..24 {
            let r = chat(&mut cl, "g", i % 2 == 1, "");
            assert_eq!(r.status, 200, "request {i}: {}", r.text());
            assert!(!deployment(&r).contains("/a/"), "{}", deployment(&r));
            if attempts(&r) > 1 {
                retried += 1;
                assert_eq!(attempts(&r), 2, "a refused, the next deployment answered");
            }
            if i % 2 == 1 {
                assert!(r.text().contains("data: [DONE]"), "a whole stream: {}", r.text());
            }
        }
        assert!(retried >= 1, "round robin reached the refusing deployment");
        assert!(retried <= 3 * 2, "the breaker (3 failures per worker) took it out: {retried}");
        let served = b.stats.requests(MockEndpoint::ChatCompletions) + c.stats.requests(MockEndpoint::ChatCompletions);
        assert_eq!(served, 24, "every request was answered once");
        let m = gw.metrics();
        assert!(metric(&m, "sluice_deployment_attempts_total{deployment=\"g/a/m\",outcome=\"connect\"}").unwrap_or(0.0) >= 1.0, "{m}");
        assert_eq!(metric(&m, "sluice_deployment_breaker_state{deployment=\"g/a/m\"}"), Some(1.0), "{m}");
        assert_eq!(metric(&m, "sluice_deployment_breaker_state{deployment=\"g/b/m\"}"), Some(0.0));
    }
);

both_drivers!(
    fn server_errors_and_resets_fail_over_transparently(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = format!(
            "{}{}{}",
            provider("a", a.addr, r#""x-mock-status" = "500""#),
            provider("r", a.addr, r#""x-mock-fault" = "reset""#),
            provider("b", b.addr, ""),
        ) + r#"
[[models]]
name = "g"
retry = { attempts = 3, backoff_base_ms = 1 }
breaker = { consecutive_failures = 0, failure_ratio = 0.0 }
deployments = [
  { provider = "a", model = "m", priority = 0 },
  { provider = "r", model = "m", priority = 1 },
  { provider = "b", model = "m", priority = 2 },
]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        for stream in [false, true] {
            let r = chat(&mut cl, "g", stream, "");
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(attempts(&r), 3, "500, then reset, then an answer");
            assert_eq!(deployment(&r), "g/b/m");
        }
        assert_eq!(b.stats.requests(MockEndpoint::ChatCompletions), 2);
    }
);

both_drivers!(
    fn the_last_attempts_error_answer_reaches_the_client_as_it_came(d) {
        let a = mock(d);
        let tables = provider("a", a.addr, r#""x-mock-status" = "503""#)
            + &provider("a2", a.addr, r#""x-mock-status" = "502""#)
            + r#"
[[models]]
name = "g"
retry = { attempts = 2, backoff_base_ms = 1 }
breaker = { consecutive_failures = 0, failure_ratio = 0.0 }
deployments = [{ provider = "a", model = "m", priority = 0 }, { provider = "a2", model = "m", priority = 1 }]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let r = chat(&mut gw.client(), "g", false, "");
        assert_eq!(r.status, 502, "the second (last) attempt's status: {}", r.text());
        assert_openai_error(&r.body);
        assert_eq!(attempts(&r), 2);
        assert_eq!(deployment(&r), "g/a2/m");
    }
);

both_drivers!(
    fn retry_after_ejects_the_deployment_for_that_long(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = provider("a", a.addr, r#""x-mock-fault" = "429", "x-mock-retry-after" = "30""#)
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
deployments = [{ provider = "a", model = "m", priority = 0 }, { provider = "b", model = "m", priority = 1 }]
"#;
        let gw = Gateway::start_workers(&gateway_config(&tables, None), d, 2);
        let first = chat(&mut gw.client(), "g", false, "");
        assert_eq!(first.status, 200, "{}", first.text());
        assert_eq!(attempts(&first), 2);
        for i in 0..10 {
            // New connections: the kernel spreads them over both workers; the ejection
            // is process-wide.
            let r = chat(&mut gw.client(), "g", i % 2 == 0, "");
            assert_eq!(r.status, 200);
            assert_eq!(attempts(&r), 1, "request {i}: a is ejected for its retry-after");
            assert_eq!(deployment(&r), "g/b/m");
        }
        assert_eq!(a.stats.requests(MockEndpoint::ChatCompletions), 1);
        let m = gw.metrics();
        assert_eq!(metric(&m, "sluice_deployment_attempts_total{deployment=\"g/a/m\",outcome=\"rate_limited\"}"), Some(1.0), "{m}");
    }
);

both_drivers!(
    fn a_lone_deployment_gets_its_retry_after_honoured_then_retried(d) {
        let a = mock(d);
        // The first request sees a 429 with retry-after 1 s (x-mock-error-rate keeps it
        // to some requests); with attempts = 2 the gateway waits and retries the same
        // deployment.
        let tables = provider("a", a.addr, r#""x-mock-fault" = "429", "x-mock-retry-after" = "1""#)
            + r#"
[[models]]
name = "g"
provider = "a"
model = "m"
retry = { attempts = 2, backoff_base_ms = 1, retry_after_max_ms = 2000 }
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let t0 = Instant::now();
        let r = chat(&mut gw.client(), "g", false, "");
        // Both attempts were 429: the second answer is relayed as it came, retry-after
        // included, after the wait.
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(attempts(&r), 2);
        assert!(t0.elapsed() >= Duration::from_millis(950), "waited for retry-after: {:?}", t0.elapsed());
        assert_eq!(a.stats.requests(MockEndpoint::ChatCompletions), 2);
    }
);

both_drivers!(
    fn a_stall_before_the_first_byte_fails_over_at_the_first_byte_timeout(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = provider("a", a.addr, r#""x-mock-fault" = "stall""#)
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
timeouts = { first_byte_timeout_ms = 300 }
deployments = [{ provider = "a", model = "m", priority = 0 }, { provider = "b", model = "m", priority = 1 }]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let t0 = Instant::now();
        let r = chat(&mut gw.client(), "g", true, "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.text().contains("data: [DONE]"));
        assert_eq!(attempts(&r), 2);
        assert_eq!(deployment(&r), "g/b/m");
        assert!(t0.elapsed() >= Duration::from_millis(290), "{:?}", t0.elapsed());
        assert!(wait_until(WAIT, || a.stats.connections_open.load(Relaxed) == 0), "the stalled connection was closed");
    }
);

both_drivers!(
    fn a_stream_that_dies_after_its_first_byte_ends_with_an_error_event(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = provider("a", a.addr, r#""x-mock-fault" = "die-mid-stream""#)
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
deployments = [{ provider = "a", model = "m", priority = 0 }, { provider = "b", model = "m", priority = 1 }]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let r = chat(&mut gw.client(), "g", true, "");
        assert_eq!(r.status, 200);
        assert_eq!(attempts(&r), 1, "no retry after the first byte reached the client");
        let text = r.text();
        assert!(text.contains("\"content\""), "frames before the failure were relayed: {text}");
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        let e: serde_json::Value = serde_json::from_str(last.strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(e["error"]["code"], "upstream_connection_closed", "{text}");
        assert!(!text.contains("[DONE]"));
        assert_eq!(b.stats.requests(MockEndpoint::ChatCompletions), 0);
    }
);

both_drivers!(
    fn a_hedge_wins_and_the_losers_connection_is_closed(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = provider("a", a.addr, r#""x-mock-fault" = "stall""#)
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
hedge = { delay = 100 }
deployments = [{ provider = "a", model = "m", priority = 0 }, { provider = "b", model = "m", priority = 1 }]
"#;
        let dir = TempDir::new("hedge-log");
        let log = dir.path().join("access.log");
        let gw = Gateway::start(&gateway_config(&tables, Some(&log)), d);
        for stream in [false, true] {
            let t0 = Instant::now();
            let r = chat(&mut gw.client(), "g", stream, "");
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(deployment(&r), "g/b/m");
            assert_eq!(attempts(&r), 2, "the first attempt and its hedge");
            assert!(t0.elapsed() >= Duration::from_millis(95), "{:?}", t0.elapsed());
            assert!(t0.elapsed() < Duration::from_millis(2500), "the stall was not waited out: {:?}", t0.elapsed());
        }
        assert!(
            wait_until(WAIT, || a.stats.connections_open.load(Relaxed) == 0),
            "the loser's connections were closed: {} open",
            a.stats.connections_open.load(Relaxed)
        );
        assert_eq!(a.stats.connections_accepted.load(Relaxed), 2);
        assert_eq!(gw.metric("sluice_hedges_total"), 2.0);
        gw.stop().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let at = line["attempts"].as_array().unwrap();
        assert_eq!(at.len(), 2, "{line}");
        assert_eq!(at[0]["deployment"], "g/a/m");
        assert_eq!(at[0]["cancelled"], true, "{line}");
        assert_eq!(at[1]["hedge"], true);
        assert_eq!(at[1]["status"], 200);
        assert_eq!(line["deployment"], "g/b/m");
        assert_eq!(line["provider"], "b");
    }
);

both_drivers!(
    fn a_failing_group_falls_back_to_another_provider_kind(d) {
        let m = mock(d);
        let tables = provider("oai", m.addr, r#""x-mock-status" = "500""#)
            + &format!(
                r#"
[[providers]]
name = "claude"
kind = "anthropic"
base_url = "http://{}"
api_key = "{PROVIDER_KEY}"

[[models]]
name = "gpt"
provider = "oai"
model = "gpt-4o"
fallbacks = ["sonnet"]

[[models]]
name = "sonnet"
provider = "claude"
model = "claude-sonnet-4-5"
"#,
                m.addr
            );
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        let r = chat(&mut cl, "gpt", false, "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(deployment(&r), "sonnet/claude/claude-sonnet-4-5");
        assert_eq!(attempts(&r), 2);
        let v = r.json();
        assert_eq!(v["object"], "chat.completion", "translated back to OpenAI's shape: {v}");
        assert!(v["choices"][0]["message"]["content"].as_str().is_some_and(|s| !s.is_empty()));
        let r = chat(&mut cl, "gpt", true, "");
        assert_eq!(r.status, 200);
        let s = assemble(&r.body, "gpt");
        assert!(s.done && s.errors.is_empty());
        assert!(!s.content.is_empty(), "a streamed answer from the fallback: {}", r.text());
        assert_eq!(m.stats.requests(MockEndpoint::Messages), 2);
        assert_eq!(gw.metric("sluice_fallbacks_total"), 2.0);
    }
);

both_drivers!(
    fn a_prompt_too_long_moves_to_the_context_window_fallback(d) {
        let m = mock(d);
        let small = RawUpstream::start(|_, mut s| {
            let mut buf = Vec::new();
            while read_request(&mut s, &mut buf).is_some() {
                let body = r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
                let head = format!("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = std::io::Write::write_all(&mut s, head.as_bytes());
                let _ = std::io::Write::write_all(&mut s, body.as_bytes());
            }
        });
        let tables = provider("small", small.addr, "")
            + &provider("big", m.addr, "")
            + r#"
[[models]]
name = "g"
provider = "small"
model = "m-8k"
context_window_fallback = "g-long"

[[models]]
name = "g-long"
provider = "big"
model = "m-128k"

[[models]]
name = "g-no-fallback"
provider = "small"
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        let r = chat(&mut cl, "g", false, "");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(deployment(&r), "g-long/big/m-128k");
        assert_eq!(attempts(&r), 2);
        let r = chat(&mut cl, "g-no-fallback", false, "");
        assert_eq!(r.status, 400, "without a fallback the provider's answer comes through");
        assert_eq!(assert_openai_error(&r.body)["code"], "context_length_exceeded");
    }
);

both_drivers!(
    fn route_tags_keep_requests_on_matching_deployments(d) {
        let (eu, us) = (mock(d), mock(d));
        let tables = provider("eu", eu.addr, "")
            + &provider("us", us.addr, "")
            + r#"
[[models]]
name = "g"
strategy = "round-robin"
deployments = [
  { provider = "eu", model = "m", tags = { region = "eu", classification = "confidential" } },
  { provider = "us", model = "m", tags = { region = "us" } },
]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        for _ in 0..6 {
            let r = chat(&mut cl, "g", false, "x-sluice-route-tags: region=eu, classification=confidential\r\n");
            assert_eq!(r.status, 200);
            assert_eq!(deployment(&r), "g/eu/m");
        }
        assert_eq!(us.stats.requests(MockEndpoint::ChatCompletions), 0);
        let r = chat(&mut cl, "g", false, "x-sluice-route-tags: region=us, classification=confidential\r\n");
        assert_eq!(r.status, 400, "tags that exist, but on no single deployment: {}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "no_matching_deployment");
        let r = chat(&mut cl, "g", false, "x-sluice-route-tags: region=mars\r\n");
        assert_eq!(r.status, 400);
        assert_eq!(assert_openai_error(&r.body)["code"], "no_matching_deployment");
    }
);

both_drivers!(
    fn all_deployments_down_is_a_503_once_the_breakers_open(d) {
        let tables = provider("a", closed_port(), "")
            + &provider("b", closed_port(), "")
            + r#"
[[models]]
name = "g"
retry = { attempts = 2, backoff_base_ms = 1 }
breaker = { consecutive_failures = 1, cooldown_ms = 60000 }
deployments = [{ provider = "a", model = "m" }, { provider = "b", model = "m" }]
"#;
        let gw = Gateway::start_workers(&gateway_config(&tables, None), d, 1);
        let mut cl = gw.client();
        let r = chat(&mut cl, "g", false, "");
        assert_eq!(r.status, 502, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "upstream_unreachable");
        assert_eq!(attempts(&r), 2);
        let r = chat(&mut cl, "g", false, "");
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "no_healthy_deployment");
        assert_eq!(attempts(&r), 0, "nothing was tried");
    }
);

both_drivers!(
    fn active_health_checks_take_a_dead_deployment_out(d) {
        let b = mock(d);
        let tables = provider("a", closed_port(), "")
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
strategy = "round-robin"
breaker = { consecutive_failures = 0, failure_ratio = 0.0 }
health_check = { path = "/models", interval_ms = 100, timeout_ms = 200 }
deployments = [{ provider = "a", model = "m" }, { provider = "b", model = "m" }]
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        assert!(wait_until(WAIT, || b.stats.requests(MockEndpoint::Models) >= 2), "b is probed");
        std::thread::sleep(Duration::from_millis(150));
        let mut cl = gw.client();
        for i in 0..8 {
            let r = chat(&mut cl, "g", false, "");
            assert_eq!(r.status, 200);
            assert_eq!(attempts(&r), 1, "request {i}: a is known down without trying it");
            assert_eq!(deployment(&r), "g/b/m");
        }
    }
);

both_drivers!(
    fn split_is_sticky_per_user(d) {
        let (a, b) = (mock(d), mock(d));
        let tables = provider("a", a.addr, "")
            + &provider("b", b.addr, "")
            + r#"
[[models]]
name = "g"
provider = "a"
model = "m"
split = [{ to = "g-next", percent = 50 }]
sticky = "user"

[[models]]
name = "g-next"
provider = "b"
model = "m"
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        let mut seen = std::collections::BTreeSet::new();
        for u in 0..16 {
            let header = format!("x-sluice-user: user-{u}\r\n");
            let first = deployment(&chat(&mut cl, "g", false, &header)).to_string();
            for _ in 0..2 {
                assert_eq!(deployment(&chat(&mut cl, "g", false, &header)), first, "user-{u} stays put");
            }
            seen.insert(first);
        }
        assert_eq!(seen.len(), 2, "16 users land on both sides of a 50% split: {seen:?}");
    }
);

both_drivers!(
    fn shadow_traffic_mirrors_and_discards(d) {
        let (a, cand) = (mock(d), mock(d));
        let tables = provider("a", a.addr, "")
            + &provider("cand", cand.addr, "")
            + r#"
[[models]]
name = "g"
provider = "a"
model = "m"
shadow = { to = "g-candidate", percent = 100 }

[[models]]
name = "g-candidate"
provider = "cand"
model = "m2"
"#;
        let gw = Gateway::start(&gateway_config(&tables, None), d);
        let mut cl = gw.client();
        for stream in [false, true, false, true] {
            let r = chat(&mut cl, "g", stream, "");
            assert_eq!(r.status, 200);
            assert_eq!(deployment(&r), "g/a/m", "the client's answer is the primary's");
        }
        assert!(wait_until(WAIT, || gw.metric("sluice_shadow_ok_total") == 4.0), "{}", gw.metrics());
        assert_eq!(cand.stats.requests(MockEndpoint::ChatCompletions), 4);
        assert_eq!(a.stats.requests(MockEndpoint::ChatCompletions), 4);
    }
);
