//! Round trips: what the client gets through the gateway is what the upstream said, byte
//! for byte, and what the upstream saw is the client's request with the model mapped,
//! the provider's credentials, and no hop-by-hop headers.

use std::time::Duration;

use loadtest::mock::MockConfig;

use crate::*;

/// Headers a client may send that must never reach the upstream.
const HOP_BY_HOP: &str = "connection: keep-alive\r\nkeep-alive: timeout=5\r\nte: trailers\r\nproxy-connection: keep-alive\r\n\
proxy-authorization: Basic c2VjcmV0\r\nx-sluice-trace: 1\r\nx-e2e-custom: kept\r\n";

both_drivers!(
    fn chat_round_trip_is_byte_identical(d) {
        let direct = recording_mock(d);
        let behind = recording_mock(d);
        let gw = Gateway::start(&config(behind.addr, "", ""), d);

        let client_body = chat_body(MODEL, false);
        let via_gw = gw.client().request(&post("/v1/chat/completions", &client_body, HOP_BY_HOP));
        assert_eq!(via_gw.status, 200, "{}", via_gw.text());

        // What the upstream saw: the client's body with only the model value replaced.
        let seen = behind.recorded();
        assert_eq!(seen.len(), 1);
        let (head, body) = &seen[0];
        let expected_body = client_body.replace(&format!("\"model\":\"{MODEL}\""), &format!("\"model\":\"{UPSTREAM_MODEL}\""));
        assert_ne!(expected_body, client_body);
        assert_eq!(String::from_utf8_lossy(body), expected_body);

        let h = SeenHead::parse(head);
        assert_eq!(h.request_line, "POST /v1/chat/completions HTTP/1.1");
        assert_eq!(h.one("host"), Some(behind.addr.to_string().as_str()));
        assert_eq!(h.all("authorization"), [format!("Bearer {PROVIDER_KEY}").as_str()]);
        assert!(h.headers.iter().all(|(_, v)| !v.contains(CLIENT_KEY)), "the client's key leaked upstream: {:?}", h.headers);
        for name in ["connection", "keep-alive", "te", "proxy-connection", "proxy-authorization", "transfer-encoding", "x-sluice-trace"] {
            assert!(h.all(name).is_empty(), "{name} was forwarded: {:?}", h.headers);
        }
        assert_eq!(h.one("x-e2e-custom"), Some("kept"));
        assert_eq!(h.one("content-type"), Some("application/json"));
        assert_eq!(h.one("content-length"), Some(expected_body.len().to_string().as_str()));

        // The same request sent straight to an identical, fresh mock.
        let straight = Client::connect(direct.addr).request(&post("/v1/chat/completions", &expected_body, ""));
        assert_eq!(straight.status, 200);
        assert_eq!(via_gw.body, straight.body, "\n{}\n{}", via_gw.text(), straight.text());
        assert_eq!(via_gw.header("content-type"), straight.header("content-type"));
        assert_eq!(via_gw.header("content-length"), Some(straight.body.len().to_string().as_str()));
        assert_eq!(via_gw.json()["model"], UPSTREAM_MODEL);
        assert!(via_gw.header("x-sluice-request-id").is_some_and(|v| v.len() == 16));
    }
);

both_drivers!(
    fn streaming_round_trip_is_identical_and_incremental(d) {
        let slow = |d| start_mock(MockConfig { chunk_interval_ms: 60, chunks: 6, ..mock_config(d) });
        let (direct, behind) = (slow(d), slow(d));
        let gw = Gateway::start(&config(behind.addr, "", ""), d);

        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(PLAIN_MODEL, true), ""));
        let sent = std::time::Instant::now();
        let r = c.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));

        let straight = Client::connect(direct.addr).request(&post("/v1/chat/completions", &chat_body(PLAIN_MODEL, true), ""));
        assert_eq!(r.body, straight.body, "\n{}\n---\n{}", r.text(), straight.text());

        let events = sse_data(&r.body);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:?}");
        for e in &events[..events.len() - 1] {
            let v: serde_json::Value = serde_json::from_str(e).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
        }
        // Six content frames 60 ms apart: the first reaches the client long before the
        // last was even produced.
        assert!(r.chunks.len() >= 6, "frames were batched: {} chunks", r.chunks.len());
        let first = r.chunks.first().unwrap().at;
        let last = r.chunks.last().unwrap().at;
        assert!(first.duration_since(sent) < Duration::from_millis(500), "first frame after {:?}", first.duration_since(sent));
        assert!(last.duration_since(first) >= Duration::from_millis(200), "all frames within {:?}", last.duration_since(first));
        assert!(String::from_utf8_lossy(&r.chunks.last().unwrap().data).contains("[DONE]"));
    }
);

both_drivers!(
    fn completions_and_embeddings_pass_through(d) {
        let (direct, behind) = (mock(d), mock(d));
        let gw = Gateway::start(&config(behind.addr, "", ""), d);
        let completion = r#"{"model":"mock-plain","prompt":"Once upon a time","max_tokens":12}"#;
        let embed_gw = r#"{"model":"embed-e2e","input":["alpha","beta"],"dimensions":8}"#;
        let embed_up = r#"{"model":"mock-embedding","input":["alpha","beta"],"dimensions":8}"#;
        let completion_stream = r#"{"model":"mock-plain","prompt":"Once","stream":true}"#;

        // The same sequence on one connection each: the gateway reuses one upstream
        // connection, so the mock's per-connection seeds line up.
        let (mut g, mut m) = (gw.client(), Client::connect(direct.addr));
        for (path, via, up) in [
            ("/v1/completions", completion, completion),
            ("/v1/embeddings", embed_gw, embed_up),
            ("/v1/completions", completion_stream, completion_stream),
        ] {
            let a = g.request(&post(path, via, ""));
            let b = m.request(&post(path, up, ""));
            assert_eq!((a.status, b.status), (200, 200), "{path}: {}", a.text());
            assert_eq!(a.body, b.body, "{path}");
        }
        let emb = m.request(&post("/v1/embeddings", embed_up, "")).json();
        assert_eq!(emb["object"], "list");
        assert_eq!(emb["data"].as_array().unwrap().len(), 2);
        assert_eq!(behind.stats.connections_accepted.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
);

both_drivers!(
    fn models_are_listed_and_looked_up(d) {
        let gw = Gateway::start(&config(closed_port(), "", ""), d);
        let mut c = gw.client();
        let list = c.request(&get("/v1/models"));
        assert_eq!(list.status, 200);
        assert_eq!(list.header("content-type"), Some("application/json"));
        let v = list.json();
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [MODEL, PLAIN_MODEL, EMBED_MODEL], "patterns are not listed");

        let one = c.request(&get(&format!("/v1/models/{MODEL}")));
        assert_eq!(one.status, 200);
        assert_eq!(one.json()["id"], MODEL);
        assert_eq!(one.json()["object"], "model");

        for unknown in ["/v1/models/nope-model", "/v1/models/mock/llama"] {
            let r = c.request(&get(unknown));
            assert_eq!(r.status, 404, "{unknown}");
            let e = assert_openai_error(&r.body);
            assert_eq!(e["code"], "model_not_found");
            let name = unknown.trim_start_matches("/v1/models/");
            assert!(e["message"].as_str().unwrap().contains(name), "{e}");
        }
        // Without /v1 the same routes answer.
        assert_eq!(c.request(&get("/models")).status, 200);
    }
);

both_drivers!(
    fn the_upstream_runs_the_model_the_gateway_routed(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        // Two `model` members, the second spelled with an escape. JSON parsers unescape
        // member names and keep the last duplicate, so an upstream would run "gpt-4-32k"
        // while the gateway routed, authorised and accounted "mock-plain".
        let body = r#"{"model":"mock-plain","m\u006fdel":"gpt-4-32k","messages":[]}"#;
        let r = gw.client().request(&post("/v1/chat/completions", body, ""));
        // Duplicates of a member the gateway routes on are refused outright.
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("\"code\":\"invalid_json\""), "{}", r.text());
        assert!(m.recorded().is_empty(), "nothing reached the upstream");
    }
);
