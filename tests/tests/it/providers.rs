//! Provider kinds: how each one's requests look on the wire, and their answers
//! translated back to the OpenAI shape.

use super::*;

fn recorded_head(m: &loadtest::mock::MockHandle, i: usize) -> String {
    String::from_utf8(m.recorded()[i].0.clone()).unwrap()
}

fn recorded_body(m: &loadtest::mock::MockHandle, i: usize) -> serde_json::Value {
    serde_json::from_slice(&m.recorded()[i].1).unwrap()
}

/// A config with one provider table (`provider` is its body after `name`) and one
/// model `m` mapped to `upstream_model`.
fn one_provider(provider: &str, upstream_model: &str) -> String {
    format!(
        r#"
[log]
access_log = "off"

[auth]
keys = ["{CLIENT_KEY}"]

[[providers]]
name = "p"
{provider}
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}

[[models]]
name = "m"
provider = "p"
model = "{upstream_model}"
"#
    )
}

both_drivers!(
    fn azure_addresses_the_deployment_with_api_version_and_api_key(d) {
        let m = recording_mock(d);
        let toml = one_provider(
            &format!(
                "kind = \"azure-openai\"\nbase_url = \"http://{}\"\napi_key = \"{PROVIDER_KEY}\"\napi_version = \"2024-10-21\"",
                m.addr
            ),
            "my dep",
        );
        let gw = Gateway::start(&toml, d);
        for stream in [false, true] {
            let r = gw.client().request(&post("/v1/chat/completions", &chat_body("m", stream), ""));
            assert_eq!(r.status, 200, "{}", r.text());
            if stream {
                assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
            } else {
                let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                assert_eq!(v["object"], "chat.completion");
            }
        }
        let r = gw.client().request(&post("/v1/embeddings", r#"{"model":"m","input":"hi"}"#, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let heads: Vec<String> = (0..3).map(|i| recorded_head(&m, i)).collect();
        for (h, path) in heads.iter().zip(["chat/completions", "chat/completions", "embeddings"]) {
            let line = format!("POST /openai/deployments/my%20dep/{path}?api-version=2024-10-21 HTTP/1.1\r\n");
            assert!(h.starts_with(&line), "{h}");
            assert!(h.contains(&format!("api-key: {PROVIDER_KEY}\r\n")), "{h}");
            assert!(!h.to_ascii_lowercase().contains("authorization:"), "{h}");
        }
    }
);

both_drivers!(
    fn openai_compatible_drops_and_renames_configured_parameters(d) {
        let m = recording_mock(d);
        let toml = config(
            m.addr,
            "drop_params = [\"logprobs\", \"parallel_tool_calls\"]\nrename_params = { max_completion_tokens = \"max_tokens\" }",
            "",
        );
        let gw = Gateway::start(&toml, d);
        let body = format!(
            r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi \u00e9"}}],"logprobs":true,"max_completion_tokens":7,"temperature":0.5}}"#
        );
        let r = gw.client().request(&post("/v1/chat/completions", &body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let seen = recorded_body(&m, 0);
        assert_eq!(
            seen,
            serde_json::json!({
                "model": UPSTREAM_MODEL,
                "messages": [{"role": "user", "content": "hi é"}],
                "max_tokens": 7,
                "temperature": 0.5
            })
        );
        // A body that is not JSON is still refused before it goes anywhere.
        let r = gw.client().request(&post("/v1/chat/completions", "{\"model\":", ""));
        assert_eq!(r.status, 400);
        assert_openai_error(&r.body);
        assert_eq!(m.recorded().len(), 1);
    }
);

/// The data of every frame whose JSON has an empty `choices` and a `usage` object.
fn usage_frames(body: &[u8]) -> Vec<serde_json::Value> {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap())
        .filter(|v| v["choices"].as_array().is_some_and(Vec::is_empty) && v["usage"].is_object())
        .collect()
}

both_drivers!(
    fn streams_always_carry_usage_upstream_and_clients_see_what_they_asked(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        // Not asked: requested upstream, stripped on the way back.
        let r = gw.client().request(&post("/v1/chat/completions", &chat_body(MODEL, true), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(usage_frames(&r.body).is_empty(), "{}", r.text());
        let data = sse_data(&r.body);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
        assert!(data.len() > 2, "{data:?}");
        let seen = recorded_body(&m, 0);
        assert_eq!(seen["stream_options"], serde_json::json!({"include_usage": true}));
        assert_eq!(seen["model"], UPSTREAM_MODEL);
        // Asked: passed through untouched, usage chunk delivered.
        let body = format!(
            r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}],"stream":true,"stream_options":{{"include_usage":true}}}}"#
        );
        let r = gw.client().request(&post("/v1/chat/completions", &body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let u = usage_frames(&r.body);
        assert_eq!(u.len(), 1, "{}", r.text());
        assert!(u[0]["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        let raw = String::from_utf8(m.recorded()[1].1.clone()).unwrap();
        assert_eq!(raw.matches("stream_options").count(), 1, "{raw}");
        // Non-streaming requests are never touched.
        let r = gw.client().request(&post("/v1/chat/completions", &chat_body(MODEL, false), ""));
        assert_eq!(r.status, 200);
        assert!(recorded_body(&m, 2).get("stream_options").is_none());
    }
);

both_drivers!(
    fn stream_usage_can_be_turned_off_per_provider(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "stream_usage = false", ""), d);
        let r = gw.client().request(&post("/v1/chat/completions", &chat_body(MODEL, true), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(recorded_body(&m, 0).get("stream_options").is_none());
        assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
    }
);

both_drivers!(
    fn responses_api_passes_through_to_openai_shaped_providers(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let body = format!(r#"{{"model":"{MODEL}","input":"Say hi","max_output_tokens":64}}"#);
        let r = gw.client().request(&post("/v1/responses", &body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["object"], "response", "{}", r.text());
        assert!(recorded_head(&m, 0).starts_with("POST /v1/responses HTTP/1.1\r\n"));
        assert_eq!(recorded_body(&m, 0)["model"], UPSTREAM_MODEL);
        let stream = body.replace("}", r#","stream":true}"#);
        let r = gw.client().request(&post("/v1/responses", &stream, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(text.contains("event: response.created") && text.contains("event: response.completed"), "{text}");
        // Not a chat request: no usage injection.
        assert!(recorded_body(&m, 1).get("stream_options").is_none());

        let toml = one_provider(&format!("kind = \"gemini\"\nbase_url = \"http://{}\"", m.addr), "g");
        let gw = Gateway::start(&toml, d);
        let r = gw.client().request(&post("/v1/responses", r#"{"model":"m","input":"hi"}"#, ""));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "unsupported_endpoint");
    }
);
