//! Client protocol edges: HEAD, HTTP/1.0, `Connection: close`, escaped JSON names, and
//! the client-side timeouts (head, body, keep-alive).

use std::time::{Duration, Instant};

use proto::http1::BodyFraming;

use crate::*;

both_drivers!(
    fn head_requests_get_no_body(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        let head = format!("HEAD /v1/models HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {CLIENT_KEY}\r\n\r\n");
        c.send(head.as_bytes());
        let r = c.read_head_response();
        assert!(r.status == 405 || r.status == 200, "{}", r.status);
        // Whatever the status, no body bytes follow the head: the next response on the
        // connection parses.
        let next = c.request(&get("/v1/models"));
        assert_eq!(next.status, 200, "{}", next.text());
        assert_eq!(next.json()["object"], "list");
    }
);

both_drivers!(
    fn http_1_0_clients(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = chat_body(MODEL, false);
        let req = |body: &str| {
            format!(
                "POST /v1/chat/completions HTTP/1.0\r\nauthorization: Bearer {CLIENT_KEY}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let mut c = gw.client();
        let r = c.request(req(&body).as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["model"], UPSTREAM_MODEL);
        assert!(c.read_to_close(Duration::from_secs(2)).expect("HTTP/1.0 without keep-alive closes").is_empty());

        // A stream to an HTTP/1.0 client is delimited by closing the connection.
        let mut c = gw.client();
        let r = c.request(req(&chat_body(MODEL, true)).as_bytes());
        assert_eq!(r.status, 200);
        assert_eq!(r.framing, BodyFraming::CloseDelimited);
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"), "{}", r.text());
    }
);

both_drivers!(
    fn http_1_0_keep_alive_is_answered_and_kept(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = chat_body(MODEL, false);
        let req = format!(
            "POST /v1/chat/completions HTTP/1.0\r\nconnection: keep-alive\r\nauthorization: Bearer {CLIENT_KEY}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut c = gw.client();
        for _ in 0..2 {
            let r = c.request(req.as_bytes());
            assert_eq!(r.status, 200, "{}", r.text());
            assert_eq!(r.header("connection"), Some("keep-alive"), "1.0 closes unless told otherwise");
        }
    }
);

both_drivers!(
    fn the_query_string_is_forwarded(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let req = post("/v1/chat/completions?api-version=2024-10-21&x=%20y", &chat_body(MODEL, false), "");
        let r = gw.client().request(&req);
        assert_eq!(r.status, 200, "{}", r.text());
        let head = String::from_utf8(m.recorded()[0].0.clone()).unwrap();
        assert!(head.starts_with("POST /v1/chat/completions?api-version=2024-10-21&x=%20y HTTP/1.1\r\n"), "{head}");
    }
);

both_drivers!(
    fn connection_close_from_the_client_is_honoured(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        let r = c.request(&post("/v1/chat/completions", &chat_body(MODEL, true), "connection: close\r\n"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
        assert!(c.read_to_close(Duration::from_secs(2)).expect("closed after the response").is_empty());
    }
);

both_drivers!(
    fn escaped_model_names_are_unescaped_and_mapped(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = r#"{"model":"gpt\u002de2e","messages":[{"role":"user","content":"hi"}]}"#;
        let r = gw.client().request(&post("/v1/chat/completions", body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let seen = m.recorded();
        assert_eq!(
            String::from_utf8_lossy(&seen[0].1),
            format!(r#"{{"model":"{UPSTREAM_MODEL}","messages":[{{"role":"user","content":"hi"}}]}}"#)
        );
        // An unknown name with quotes and escapes comes back in valid JSON.
        let r = gw.client().request(&post("/v1/chat/completions", r#"{"model":"a\"b\\c\n"}"#, ""));
        assert_eq!(r.status, 404);
        let e = assert_openai_error(&r.body);
        assert!(e["message"].as_str().unwrap().contains("a\"b\\c\n"), "{e}");
    }
);

both_drivers!(
    fn client_timeouts(d) {
        let m = mock(d);
        let toml = config(m.addr, "", "").replace(
            "drain_timeout_ms = 3000",
            "drain_timeout_ms = 3000\nheader_read_timeout_ms = 300\nbody_read_timeout_ms = 300\nkeepalive_timeout_ms = 300",
        );
        let gw = Gateway::start(&toml, d);

        // Half a head, then silence: 408 after the head timeout.
        let mut c = gw.client();
        c.send(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n");
        let t0 = Instant::now();
        let r = c.read_response();
        assert_eq!(r.status, 408, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "request_timeout");
        assert!(t0.elapsed() >= Duration::from_millis(250) && t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        assert!(c.read_to_close(Duration::from_secs(2)).is_ok());

        // A body that stops short: 408 after the body timeout.
        let mut c = gw.client();
        let mut partial = post("/v1/chat/completions", &chat_body(MODEL, false), "");
        partial.truncate(partial.len() - 10);
        c.send(&partial);
        let t0 = Instant::now();
        let r = c.read_response();
        assert_eq!(r.status, 408, "{}", r.text());
        assert!(t0.elapsed() >= Duration::from_millis(250) && t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());

        // An idle keep-alive connection is closed, without a response, after the
        // keep-alive timeout.
        let mut c = gw.client();
        assert_eq!(c.request(&get("/v1/models")).status, 200);
        let t0 = Instant::now();
        let rest = c.read_to_close(Duration::from_secs(2)).expect("idle connection closed");
        assert!(rest.is_empty());
        assert!(t0.elapsed() >= Duration::from_millis(250), "{:?}", t0.elapsed());
    }
);
