//! Connection reuse on both sides, pipelining, chunked request bodies, 100-continue.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::*;

both_drivers!(
    fn requests_on_one_connection_reuse_one_upstream_connection(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        for i in 0..4 {
            let r = c.request(&post("/v1/chat/completions", &chat_body(MODEL, i % 2 == 1), ""));
            assert_eq!(r.status, 200, "request {i}: {}", r.text());
            assert!(r.header("connection").is_none(), "request {i} closed the connection");
        }
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 1, "{}", m.stats.summary());
        assert_eq!(m.stats.requests_total.load(Relaxed), 4);
        let text = gw.metrics();
        assert_eq!(metric(&text, "sluice_upstream_reuses_total"), Some(3.0), "{text}");
        assert_eq!(metric(&text, "sluice_upstream_connects_total"), Some(1.0));
        assert_eq!(metric(&text, "sluice_connections_total"), Some(1.0));
    }
);

both_drivers!(
    fn pipelined_requests_are_answered_in_order(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        let mut both = post("/v1/embeddings", r#"{"model":"embed-e2e","input":"one"}"#, "");
        both.extend_from_slice(&post("/v1/chat/completions", &chat_body(MODEL, false), ""));
        both.extend_from_slice(&get("/v1/models"));
        c.send(&both);
        let first = c.read_response();
        let second = c.read_response();
        let third = c.read_response();
        assert_eq!((first.status, second.status, third.status), (200, 200, 200));
        assert_eq!(first.json()["object"], "list");
        assert_eq!(first.json()["data"][0]["object"], "embedding");
        assert_eq!(second.json()["object"], "chat.completion");
        assert_eq!(third.json()["data"][0]["id"], MODEL);
        // And the connection is still good.
        assert_eq!(c.request(&get("/v1/models")).status, 200);
    }
);

both_drivers!(
    fn chunked_request_bodies_are_forwarded_with_content_length(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = chat_body(PLAIN_MODEL, false);
        let mut c = gw.client();
        c.send(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\n\
                 content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            .as_bytes(),
        );
        // Chunks of odd sizes, and each write cut mid-framing.
        let mut wire = Vec::new();
        let b = body.as_bytes();
        let mut at = 0;
        for size in [1usize, 7, 30, 3].iter().cycle() {
            if at >= b.len() {
                break;
            }
            let n = (*size).min(b.len() - at);
            wire.extend_from_slice(format!("{n:x};ext=1\r\n").as_bytes());
            wire.extend_from_slice(&b[at..at + n]);
            wire.extend_from_slice(b"\r\n");
            at += n;
        }
        wire.extend_from_slice(b"0\r\nx-trailer: t\r\n\r\n");
        for piece in wire.chunks(11) {
            c.send(piece);
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        let seen = m.recorded();
        assert_eq!(seen.len(), 1);
        assert_eq!(String::from_utf8_lossy(&seen[0].1), body);
        let h = SeenHead::parse(&seen[0].0);
        assert_eq!(h.one("content-length"), Some(body.len().to_string().as_str()));
        assert!(h.all("transfer-encoding").is_empty(), "{:?}", h.headers);
        // The connection serves the next request.
        assert_eq!(c.request(&get("/v1/models")).status, 200);
    }
);

both_drivers!(
    fn expect_100_continue_gets_continue_then_the_response(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = chat_body(PLAIN_MODEL, false);
        let mut c = gw.client();
        c.send(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\n\
                 expect: 100-continue\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let interim = c.read_response();
        assert_eq!(interim.status, 100);
        assert!(interim.body.is_empty());
        c.send(body.as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["object"], "chat.completion");
        let seen = m.recorded();
        assert_eq!(String::from_utf8_lossy(&seen[0].1), body);
        assert!(SeenHead::parse(&seen[0].0).all("expect").is_empty(), "expect is hop-by-hop here");

        // A rejected request is answered without 100 Continue, and without the body.
        let mut c = gw.client();
        c.send(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\n\
                 expect: 100-continue\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        let r = c.read_response();
        assert_eq!(r.status, 401);
    }
);

both_drivers!(
    fn upstream_connection_close_and_idle_expiry_are_respected(d) {
        let m = mock(d);
        let toml = config(m.addr, "", "").replace("first_byte_timeout_ms = 3000", "first_byte_timeout_ms = 3000, pool_idle_timeout_ms = 150");
        let gw = Gateway::start(&toml, d);
        let mut c = gw.client();
        let body = chat_body(MODEL, false);
        // `Connection: close` from the upstream: that connection is not pooled.
        for _ in 0..2 {
            let r = c.request(&post("/v1/chat/completions", &body, "x-mock-fault: close\r\n"));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("connection"), None, "the upstream's close is not the client's");
        }
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 2);
        // A pooled connection idle past pool_idle_timeout_ms is not reused.
        assert_eq!(c.request(&post("/v1/chat/completions", &body, "")).status, 200);
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 3);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(c.request(&post("/v1/chat/completions", &body, "")).status, 200);
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 4);
        assert_eq!(gw.metric("sluice_upstream_reuses_total"), 0.0);
        // Within the idle time it is.
        assert_eq!(c.request(&post("/v1/chat/completions", &body, "")).status, 200);
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 4);
        assert_eq!(gw.metric("sluice_upstream_reuses_total"), 1.0);
    }
);

both_drivers!(
    fn pipelined_after_chunked_bodies_and_early_errors(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = chat_body(PLAIN_MODEL, false);
        let mut c = gw.client();

        // A chunked body arriving in pieces, the last piece carrying the next request.
        let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\ntransfer-encoding: chunked\r\n\r\n");
        let (a, b) = body.as_bytes().split_at(body.len() / 3);
        c.send(head.as_bytes());
        c.send(format!("{:x}\r\n", a.len()).as_bytes());
        std::thread::sleep(Duration::from_millis(5));
        c.send(a);
        std::thread::sleep(Duration::from_millis(5));
        let mut last = format!("\r\n{:x}\r\n", b.len()).into_bytes();
        last.extend_from_slice(b);
        last.extend_from_slice(b"\r\n0\r\n\r\n");
        last.extend_from_slice(&get("/v1/models"));
        c.send(&last);
        let r1 = c.read_response();
        let r2 = c.read_response();
        assert_eq!(r1.status, 200, "{}", r1.text());
        assert_eq!(r1.json()["object"], "chat.completion");
        assert_eq!(r2.status, 200, "{}", r2.text());
        assert_eq!(r2.json()["object"], "list");
        assert_eq!(String::from_utf8_lossy(&m.recorded()[0].1), body);

        // Requests rejected before their body is read, each followed by a good one, all
        // in one write: each rejected body is skipped, not read as the next request.
        let mut batch = post_with_key("/v1/chat/completions", &body, Some("sk-wrong"), "");
        batch.extend_from_slice(&post("/v1/chat/completions", &body, ""));
        batch.extend_from_slice(&post("/v1/nowhere", &body, ""));
        batch.extend_from_slice(&post("/v1/embeddings", r#"{"model":"embed-e2e","input":"x"}"#, ""));
        c.send(&batch);
        let statuses: Vec<u16> = (0..4).map(|_| c.read_response().status).collect();
        assert_eq!(statuses, [401, 200, 404, 200]);

        // Expect: 100-continue with a chunked body.
        c.send(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\n\
                 expect: 100-continue\r\ntransfer-encoding: chunked\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(c.read_response().status, 100);
        c.send(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes());
        assert_eq!(c.read_response().status, 200);

        // A head dribbled in three-byte pieces.
        let req = post("/v1/chat/completions", &body, "");
        for piece in req.chunks(3) {
            c.send(piece);
        }
        assert_eq!(c.read_response().status, 200);
        assert_eq!(m.stats.requests_total.load(Relaxed), 5);
    }
);
