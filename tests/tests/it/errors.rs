//! Errors: the client's (bad JSON, keys, models, routes, methods) and the upstream's
//! (refused, reset, silent, error statuses, dying mid-stream), each with the right status
//! and an OpenAI-shaped body.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::*;

/// Extra providers: one at a closed port, one with a 300 ms first-byte timeout.
fn upstream_error_config(mock: SocketAddr) -> String {
    let extra = format!(
        r#"
[[providers]]
name = "refused"
kind = "openai-compatible"
base_url = "http://{refused}/v1"
timeouts = {{ connect_timeout_ms = 1000 }}

[[providers]]
name = "impatient"
kind = "openai-compatible"
base_url = "http://{mock}/v1"
timeouts = {{ first_byte_timeout_ms = 300 }}

[[models]]
name = "refused-model"
provider = "refused"

[[models]]
name = "impatient-model"
provider = "impatient"
"#,
        refused = closed_port()
    );
    config(mock, "", &extra)
}

/// Expect `status` and an OpenAI error with `code`; returns the error object.
fn expect_error(r: &Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let e = assert_openai_error(&r.body);
    assert_eq!(e["code"], code, "{e}");
    e
}

both_drivers!(
    fn client_errors(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let chat = "/v1/chat/completions";
        let mut c = gw.client();

        let e = expect_error(&c.request(&post(chat, r#"{"model": "gpt-e2e", "messages": ["#, "")), 400, "invalid_json");
        assert_eq!(e["type"], "invalid_request_error");
        expect_error(&c.request(&post(chat, "[1,2]", "")), 400, "invalid_json");
        let e = expect_error(&c.request(&post(chat, r#"{"messages":[]}"#, "")), 400, "missing_model");
        assert_eq!(e["param"], "model");
        expect_error(&c.request(&post(chat, r#"{"model":42}"#, "")), 400, "missing_model");

        let e = expect_error(&c.request(&post(chat, r#"{"model":"no-such-model"}"#, "")), 404, "model_not_found");
        assert!(e["message"].as_str().unwrap().contains("no-such-model"), "{e}");
        assert_eq!(e["param"], "model");
        expect_error(&c.request(&get("/v1/unknown/thing")), 404, "unknown_url");

        let r = c.request(&get(chat));
        expect_error(&r, 405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("POST"));
        let r = c.request(&post("/v1/models", "{}", ""));
        expect_error(&r, 405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("GET"));

        let body = chat_body(MODEL, false);
        let e = expect_error(&c.request(&post_with_key(chat, &body, Some("sk-wrong"), "")), 401, "invalid_api_key");
        assert_eq!(e["type"], "authentication_error");
        expect_error(&c.request(&post_with_key(chat, &body, None, "")), 401, "missing_api_key");
        let basic = post_with_key(chat, &body, None, "authorization: Basic dXNlcjpwYXNz\r\n");
        expect_error(&c.request(&basic), 401, "invalid_api_key");

        // Every error above left the connection usable, and nothing reached the upstream.
        assert_eq!(c.request(&post(chat, &body, "")).status, 200);
        assert_eq!(m.stats.requests_total.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
);

both_drivers!(
    fn anonymous_access_still_checks_presented_keys(d) {
        let m = mock(d);
        let toml = config(m.addr, "", "").replace("[auth]\n", "[auth]\nallow_anonymous = true\n");
        let gw = Gateway::start(&toml, d);
        let body = chat_body(MODEL, false);
        let mut c = gw.client();
        assert_eq!(c.request(&post_with_key("/v1/chat/completions", &body, None, "")).status, 200);
        expect_error(&c.request(&post_with_key("/v1/chat/completions", &body, Some("sk-bad"), "")), 401, "invalid_api_key");
    }
);

both_drivers!(
    fn upstream_failures_before_the_head(d) {
        let m = mock(d);
        let gw = Gateway::start(&upstream_error_config(m.addr), d);
        let chat = "/v1/chat/completions";

        let r = gw.client().request(&post(chat, &chat_body("refused-model", false), ""));
        let e = expect_error(&r, 502, "upstream_unreachable");
        assert_eq!(e["type"], "upstream_error");

        let r = gw.client().request(&post(chat, &chat_body(MODEL, false), "x-mock-fault: reset\r\n"));
        expect_error(&r, 502, "upstream_connection_closed");

        let mut c = gw.client();
        c.send(&post(chat, &chat_body("impatient-model", false), "x-mock-fault: stall\r\n"));
        let t0 = Instant::now();
        let r = c.read_response();
        let waited = t0.elapsed();
        expect_error(&r, 504, "upstream_timeout");
        assert!(waited >= Duration::from_millis(280) && waited < Duration::from_millis(2000), "504 after {waited:?}");

        let text = gw.metrics();
        assert_eq!(metric(&text, r#"sluice_upstream_errors_total{kind="connect"}"#), Some(1.0), "{text}");
        assert_eq!(metric(&text, r#"sluice_upstream_errors_total{kind="reset"}"#), Some(1.0));
        assert_eq!(metric(&text, r#"sluice_upstream_errors_total{kind="first_byte_timeout"}"#), Some(1.0));
        // The gateway still serves.
        assert_eq!(gw.client().request(&post(chat, &chat_body(MODEL, false), "")).status, 200);
    }
);

both_drivers!(
    fn upstream_error_statuses_pass_through(d) {
        let (m, direct) = (mock(d), mock(d));
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let chat = "/v1/chat/completions";
        let body = chat_body(PLAIN_MODEL, false);
        let mut c = gw.client();
        let mut straight = Client::connect(direct.addr);
        for headers in ["x-mock-fault: 429\r\nx-mock-retry-after: 7\r\n", "x-mock-status: 503\r\n", "x-mock-status: 400\r\n"] {
            let a = c.request(&post(chat, &body, headers));
            let b = straight.request(&post(chat, &body, headers));
            assert!(b.status >= 400);
            assert_eq!(a.status, b.status, "{headers}");
            assert_eq!(a.body, b.body, "{headers}");
            assert_eq!(a.header("retry-after"), b.header("retry-after"));
            assert_openai_error(&a.body);
        }
        assert_eq!(straight.request(&post(chat, &body, "x-mock-fault: 429\r\nx-mock-retry-after: 7\r\n")).header("retry-after"), Some("7"));
        for status in [429, 503, 400] {
            let series = format!(r#"sluice_requests_total{{route="chat_completions",model="mock-plain",status="{status}"}}"#);
            assert!(gw.wait_metric(&series, 1.0), "{series}\n{}", gw.metrics());
        }
    }
);

both_drivers!(
    fn upstream_dying_mid_stream_ends_the_stream_with_an_error_event(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        let r = c.request(&post("/v1/chat/completions", &chat_body(MODEL, true), "x-mock-fault: die-mid-stream\r\nx-mock-chunks: 6\r\n"));
        // The head was already out: 200, then a well-formed chunked body (the client's
        // decoder saw the terminating chunk) whose last event is an error.
        assert_eq!(r.status, 200);
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        let events = sse_data(&r.body);
        assert!(events.len() >= 2, "{events:?}");
        let (last, before) = events.split_last().unwrap();
        for e in before {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
        }
        assert!(!events.iter().any(|e| e == "[DONE]"), "a broken stream must not claim to be done");
        let err = assert_openai_error(last.as_bytes());
        assert_eq!(err["type"], "upstream_error");
        assert!(r.text().ends_with("\n\n"));
        // The client connection survives the upstream's death.
        assert_eq!(c.request(&get("/v1/models")).status, 200);

        // A Content-Length body cut short cannot carry an error: the client connection is
        // closed before the promised length.
        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-fault: die-mid-stream\r\n"));
        match c.try_read_response(WAIT) {
            Err(client::ReadError::Closed(_)) => {}
            other => panic!("expected a truncated response and a closed connection, got {other:?}"),
        }
    }
);
