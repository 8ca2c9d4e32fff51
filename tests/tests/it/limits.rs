//! Limits on what a client sends: every rejection has the right status, an OpenAI-shaped
//! body, and closes the connection (the byte stream can no longer be trusted).

use std::time::Duration;

use crate::*;

const LIMITS: &str = "
[limits]
body_bytes_max = 1024
header_bytes_max = 2048
header_count_max = 16
uri_bytes_max = 256
";

/// Send `bytes` on a fresh connection; expect `status` with `code`, `connection: close`,
/// and then the connection closed.
fn rejected(gw: &Gateway, bytes: &[u8], status: u16, code: &str) {
    let mut c = gw.client();
    c.send(bytes);
    let r = c.read_response();
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "{code}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let e = assert_openai_error(&r.body);
    assert_eq!(e["code"], code, "{e}");
    assert_eq!(e["type"], "invalid_request_error");
    let rest = c
        .read_to_close(Duration::from_secs(2))
        .expect("the connection is closed after the rejection");
    assert!(
        rest.is_empty(),
        "bytes after the rejection: {}",
        String::from_utf8_lossy(&rest)
    );
}

both_drivers!(
    fn limits_reject_with_openai_errors(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", LIMITS), d);
        let k = CLIENT_KEY;

        // Body over body_bytes_max, by Content-Length (the body is sent too).
        let big = format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(2000));
        rejected(&gw, &post("/v1/chat/completions", &big, ""), 413, "request_too_large");

        // ... and by chunked body: the sizes add up past the limit.
        let mut chunked = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {k}\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for _ in 0..3 {
            chunked.extend_from_slice(format!("200\r\n{}\r\n", "y".repeat(0x200)).as_bytes());
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        rejected(&gw, &chunked, 413, "request_too_large");

        // Head over header_bytes_max.
        let head = format!("GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {k}\r\nx-big: {}\r\n\r\n", "z".repeat(3000));
        rejected(&gw, head.as_bytes(), 431, "headers_too_large");

        // More headers than header_count_max, in a small head.
        let mut many = format!("GET /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {k}\r\n");
        for i in 0..20 {
            many.push_str(&format!("x-h{i}: {i}\r\n"));
        }
        many.push_str("\r\n");
        assert!(many.len() < 2048);
        rejected(&gw, many.as_bytes(), 431, "headers_too_large");

        // URI over uri_bytes_max.
        let uri = format!("GET /v1/models?{} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {k}\r\n\r\n", "q".repeat(300));
        rejected(&gw, uri.as_bytes(), 414, "uri_too_long");

        // Content-Length with Transfer-Encoding: the smuggling shape.
        let body = chat_body(MODEL, false);
        let clte = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {k}\r\ncontent-length: {}\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len(),
            body.len()
        );
        rejected(&gw, clte.as_bytes(), 400, "bad_request");

        // Under the limits everything still works, and nothing reached the upstream before.
        assert_eq!(m.stats.requests_total.load(std::sync::atomic::Ordering::Relaxed), 0);
        let ok = gw.client().request(&post("/v1/chat/completions", &chat_body(MODEL, false), ""));
        assert_eq!(ok.status, 200, "{}", ok.text());
        let text = gw.metrics();
        assert_eq!(metric_sum(&text, "sluice_requests_total", r#"status="413""#), 2.0, "{text}");
        assert_eq!(metric_sum(&text, "sluice_requests_total", r#"status="431""#), 2.0, "{text}");
        assert_eq!(metric_sum(&text, "sluice_requests_total", r#"status="414""#), 1.0, "{text}");
    }
);
