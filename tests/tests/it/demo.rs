//! The built-in demo provider answers in process, deterministically, on every endpoint.

use std::time::Duration;

use crate::*;

const DEMO: &str = r#"
[log]
access_log = "off"

[auth]
keys = ["sk-demo-e2e"]
allow_anonymous = true

[[providers]]
name = "demo"
kind = "demo"

[[models]]
name = "demo"
provider = "demo"
"#;

both_drivers!(
    fn demo_provider_answers_every_endpoint(d) {
        let gw = Gateway::start(DEMO, d);
        let mut c = gw.client();
        let chat = chat_body("demo", false);
        let a = c.request(&post_with_key("/v1/chat/completions", &chat, None, ""));
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.json()["object"], "chat.completion");
        assert_eq!(a.json()["model"], "demo");
        // The same request gets the same answer.
        let b = c.request(&post_with_key("/v1/chat/completions", &chat, Some("sk-demo-e2e"), ""));
        assert_eq!(a.json()["choices"], b.json()["choices"]);
        assert_eq!(c.request(&post_with_key("/v1/chat/completions", &chat, Some("sk-nope"), "")).status, 401);

        let s = c.request(&post_with_key("/v1/chat/completions", &chat_body("demo", true), None, ""));
        assert_eq!(s.status, 200);
        assert_eq!(s.header("transfer-encoding"), Some("chunked"));
        let events = sse_data(&s.body);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        assert!(s.chunks.len() >= 4, "{} chunks", s.chunks.len());
        let spread = s.chunks.last().unwrap().at.duration_since(s.chunks[0].at);
        assert!(spread >= Duration::from_millis(50), "the demo stream paces its frames: {spread:?}");

        let e = c.request(&post_with_key("/v1/embeddings", r#"{"model":"demo","input":["a","b","c"]}"#, None, ""));
        assert_eq!(e.status, 200);
        assert_eq!(e.json()["data"].as_array().unwrap().len(), 3);
        let t = c.request(&post_with_key("/v1/completions", r#"{"model":"demo","prompt":"hi","max_tokens":3}"#, None, ""));
        assert_eq!(t.status, 200);
        assert_eq!(t.json()["object"], "text_completion");
        assert_eq!(t.json()["choices"][0]["finish_reason"], "length");
    }
);
