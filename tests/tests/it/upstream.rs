//! Upstream behaviour the mock does not script (close-delimited bodies, interim
//! responses, stale pooled connections, garbage), upstream timeouts after the head, and
//! bodies large enough to take the gateway's multi-write paths.

use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::*;

const BODY: &str = r#"{"id":"chatcmpl-raw","object":"chat.completion","model":"raw","choices":[]}"#;

both_drivers!(
    fn close_delimited_upstream_body_is_rechunked_and_hop_headers_dropped(d) {
        let up = RawUpstream::start(|_, mut s| {
            let mut buf = Vec::new();
            if read_request(&mut s, &mut buf).is_some() {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\nkeep-alive: timeout=1\r\n\
                            x-upstream: yes\r\n\r\n";
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&BODY.as_bytes()[..20]);
                std::thread::sleep(Duration::from_millis(20));
                let _ = s.write_all(&BODY.as_bytes()[20..]);
            }
        });
        let gw = Gateway::start(&config(up.addr, "", ""), d);
        let mut c = gw.client();
        for i in 0..2 {
            let r = c.request(&post("/v1/chat/completions", &chat_body(PLAIN_MODEL, false), ""));
            assert_eq!(r.status, 200, "request {i}");
            assert_eq!(r.text(), BODY);
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            assert_eq!(r.header("x-upstream"), Some("yes"));
            assert_eq!(r.header("keep-alive"), None);
            assert_eq!(r.header("connection"), None, "the client connection outlives the upstream's");
        }
        assert_eq!(up.accepted.load(Relaxed), 2, "a close-delimited connection is never pooled");
    }
);

both_drivers!(
    fn interim_upstream_responses_are_not_relayed(d) {
        let up = RawUpstream::start(|_, mut s| {
            let mut buf = Vec::new();
            let mut n = 0;
            while read_request(&mut s, &mut buf).is_some() {
                let mut interim = b"HTTP/1.1 103 Early Hints\r\nlink: </x.css>; rel=preload\r\n\r\n".to_vec();
                if n % 2 == 0 {
                    // Interim and final heads in one segment ...
                    interim.extend_from_slice(&json_response(BODY, ""));
                    let _ = s.write_all(&interim);
                } else {
                    // ... and apart.
                    let _ = s.write_all(&interim);
                    std::thread::sleep(Duration::from_millis(20));
                    let _ = s.write_all(&json_response(BODY, ""));
                }
                n += 1;
            }
        });
        let gw = Gateway::start(&config(up.addr, "", ""), d);
        let mut c = gw.client();
        for _ in 0..2 {
            let r = c.request(&post("/v1/chat/completions", &chat_body(PLAIN_MODEL, false), ""));
            assert_eq!(r.status, 200);
            assert_eq!(r.text(), BODY);
            assert_eq!(r.header("link"), None);
        }
        assert_eq!(up.accepted.load(Relaxed), 1);
    }
);

both_drivers!(
    fn a_stale_pooled_connection_is_retried_on_a_fresh_one(d) {
        // Connection 0 answers once and closes while idle in the gateway's pool.
        let up = RawUpstream::start(|i, mut s| {
            let mut buf = Vec::new();
            while read_request(&mut s, &mut buf).is_some() {
                let _ = s.write_all(&json_response(&format!(r#"{{"conn":{i}}}"#), ""));
                if i == 0 {
                    return;
                }
            }
        });
        let gw = Gateway::start(&config(up.addr, "", ""), d);
        let mut c = gw.client();
        let body = chat_body(PLAIN_MODEL, false);
        assert_eq!(c.request(&post("/v1/chat/completions", &body, "")).json()["conn"], 0);
        std::thread::sleep(Duration::from_millis(100));
        let r = c.request(&post("/v1/chat/completions", &body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["conn"], 1);
        let text = gw.metrics();
        assert_eq!(metric(&text, "sluice_upstream_reuses_total"), Some(1.0), "{text}");
        assert_eq!(metric(&text, "sluice_upstream_connects_total"), Some(2.0));
        assert_eq!(metric_sum(&text, "sluice_upstream_errors_total", "kind="), 0.0);
    }
);

both_drivers!(
    fn an_invalid_upstream_response_is_a_502(d) {
        let up = RawUpstream::start(|_, mut s| {
            let mut buf = Vec::new();
            if read_request(&mut s, &mut buf).is_some() {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n");
            }
        });
        let gw = Gateway::start(&config(up.addr, "", ""), d);
        let r = gw.client().request(&post("/v1/chat/completions", &chat_body(PLAIN_MODEL, false), ""));
        assert_eq!(r.status, 502, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "upstream_bad_response");
    }
);

/// Stream until the error event; returns the response and how long it took.
fn stream_until_error(gw: &Gateway, headers: &str) -> (Response, Duration) {
    let mut c = gw.client();
    c.send(&post(
        "/v1/chat/completions",
        &chat_body(MODEL, true),
        headers,
    ));
    let t0 = Instant::now();
    let r = c.read_response();
    (r, t0.elapsed())
}

both_drivers!(
    fn upstream_idle_and_total_timeouts_end_a_stream_with_an_error_event(d) {
        let m = mock(d);
        let toml = config(m.addr, "", "").replace("first_byte_timeout_ms = 3000", "first_byte_timeout_ms = 3000, idle_timeout_ms = 300");
        let gw = Gateway::start(&toml, d);
        let (r, took) = stream_until_error(&gw, "x-mock-chunk-interval-ms: 3000\r\n");
        assert_eq!(r.status, 200);
        let events = sse_data(&r.body);
        assert!(events.len() >= 2, "{events:?}");
        assert_eq!(assert_openai_error(events.last().unwrap().as_bytes())["code"], "upstream_timeout");
        assert!(took >= Duration::from_millis(280) && took < Duration::from_millis(1500), "{took:?}");
        let established = || tcp_states(m.addr.port()).iter().filter(|s| *s == "01").count();
        assert!(wait_until(Duration::from_secs(1), || established() == 0), "the idle upstream connection was closed");
        drop(gw);

        let toml = config(m.addr, "", "").replace("first_byte_timeout_ms = 3000", "first_byte_timeout_ms = 3000, total_timeout_ms = 500");
        let gw = Gateway::start(&toml, d);
        let (r, took) = stream_until_error(&gw, "x-mock-chunk-interval-ms: 100\r\nx-mock-chunks: 30\r\n");
        let events = sse_data(&r.body);
        assert!(events.len() >= 3, "frames flowed before the deadline: {events:?}");
        assert_eq!(assert_openai_error(events.last().unwrap().as_bytes())["code"], "upstream_timeout");
        assert!(took >= Duration::from_millis(450) && took < Duration::from_millis(1500), "{took:?}");
    }
);

both_drivers!(
    fn large_bodies_cross_intact(d) {
        let m = start_mock(loadtest::mock::MockConfig { record: 4, ..mock_config(d) });
        let direct = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let big = format!(
            r#"{{"model":"{PLAIN_MODEL}","messages":[{{"role":"user","content":"{}"}}],"max_tokens":5}}"#,
            "lorem ipsum ".repeat(25_000)
        );
        assert!(big.len() > 256 * 1024);
        let mut c = gw.client();
        // Content-Length, sent whole: the body goes upstream in its own write.
        assert_eq!(c.request(&post("/v1/chat/completions", &big, "")).status, 200);
        // Chunked, 8 KiB chunks.
        let mut wire =
            format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\ntransfer-encoding: chunked\r\n\r\n")
                .into_bytes();
        for part in big.as_bytes().chunks(8192) {
            wire.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            wire.extend_from_slice(part);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(c.request(&wire).status, 200);
        let seen = m.recorded();
        assert_eq!(seen.len(), 2);
        for (head, body) in &seen {
            assert!(body == big.as_bytes(), "a {} byte body arrived as {} bytes", big.len(), body.len());
            assert_eq!(SeenHead::parse(head).one("content-length"), Some(big.len().to_string().as_str()));
        }

        // A large Content-Length response, relayed read by read.
        let emb = r#"{"model":"mock-embedding","input":["a","b","c","d","e","f","g","h","i","j","k","l"],"dimensions":4096}"#;
        let via = c.request(&post("/v1/embeddings", &emb.replace("mock-embedding", EMBED_MODEL), "x-mock-seed: 5\r\n"));
        let straight = Client::connect(direct.addr).request(&post("/v1/embeddings", emb, "x-mock-seed: 5\r\n"));
        assert!(via.body.len() > 256 * 1024, "{}", via.body.len());
        assert!(via.body == straight.body, "{} vs {} bytes", via.body.len(), straight.body.len());
    }
);
