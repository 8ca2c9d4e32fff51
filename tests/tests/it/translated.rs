//! Providers that do not speak OpenAI (Anthropic, Gemini) through the real gateway and
//! the mock's native formats, and the Anthropic Messages ingress: what the provider
//! receives, and what the client gets back — streams, tool calls, usage, errors.

use std::net::SocketAddr;

use loadtest::mock::MockHandle;

use super::*;

const UPSTREAM: &str = "native-model-1";

/// One provider of `kind` at the mock, model `m` → [`UPSTREAM`].
fn native_config(kind: &str, mock: SocketAddr, extra: &str) -> String {
    format!(
        r#"
[log]
access_log = "off"

[auth]
keys = ["{CLIENT_KEY}"]

[[providers]]
name = "p"
kind = "{kind}"
base_url = "http://{mock}"
api_key = "{PROVIDER_KEY}"
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}
{extra}

[[models]]
name = "m"
provider = "p"
model = "{UPSTREAM}"
"#
    )
}

fn head_of(m: &MockHandle, i: usize) -> String {
    String::from_utf8(m.recorded()[i].0.clone()).unwrap()
}

fn body_of(m: &MockHandle, i: usize) -> serde_json::Value {
    serde_json::from_slice(&m.recorded()[i].1).unwrap()
}

const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]"#;

fn chat(stream: bool, tools: bool, extra: &str) -> String {
    let tools = if tools {
        format!(r#","tools":{TOOLS}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"model":"m","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"Weather in Paris?"}}],"max_tokens":1000,"stream":{stream}{tools}{extra}}}"#
    )
}

/// What a provider kind's requests look like on the wire.
struct Native {
    kind: &'static str,
    path: &'static str,
    stream_path: &'static str,
    auth: String,
}

fn natives() -> [Native; 2] {
    [
        Native {
            kind: "anthropic",
            path: "/v1/messages",
            stream_path: "/v1/messages",
            auth: format!("x-api-key: {PROVIDER_KEY}"),
        },
        Native {
            kind: "gemini",
            path: "/v1beta/models/native-model-1:generateContent",
            stream_path: "/v1beta/models/native-model-1:streamGenerateContent?alt=sse",
            auth: format!("x-goog-api-key: {PROVIDER_KEY}"),
        },
    ]
}

both_drivers!(
    fn chat_and_streams_are_translated_for_each_native_provider(d) {
        for n in natives() {
            let m = recording_mock(d);
            let gw = Gateway::start(&native_config(n.kind, m.addr, ""), d);
            let seed = "x-mock-seed: 11\r\n";
            let r = gw.client().request(&post("/v1/chat/completions", &chat(false, false, ""), seed));
            assert_eq!(r.status, 200, "{}: {}", n.kind, r.text());
            let v = r.json();
            assert_eq!(v["object"], "chat.completion", "{v}");
            assert_eq!(v["model"], "m");
            assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
            let text = v["choices"][0]["message"]["content"].as_str().unwrap().to_string();
            assert!(!text.is_empty(), "{v}");
            assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
            assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0, "{v}");
            let h = head_of(&m, 0);
            assert!(h.starts_with(&format!("POST {} HTTP/1.1\r\n", n.path)), "{h}");
            assert!(h.contains(&format!("{}\r\n", n.auth)), "{h}");
            assert!(!h.to_ascii_lowercase().contains("authorization:"), "{h}");

            // The same answer streamed: same text, role first, [DONE] last, no usage
            // chunk unless asked.
            let r = gw.client().request(&post("/v1/chat/completions", &chat(true, false, ""), seed));
            assert_eq!(r.status, 200, "{}: {}", n.kind, r.text());
            assert_eq!(r.header("content-type"), Some("text/event-stream"));
            let a = assemble(&r.body, "m");
            assert_eq!(a.role.as_deref(), Some("assistant"));
            assert_eq!(a.content, text, "{}", n.kind);
            assert_eq!(a.finish.as_deref(), Some("stop"));
            assert!(a.usage.is_none() && a.done && a.errors.is_empty(), "{a:?}");
            assert!(head_of(&m, 1).starts_with(&format!("POST {} HTTP/1.1\r\n", n.stream_path)));

            let r = gw.client().request(&post(
                "/v1/chat/completions",
                &chat(true, false, r#","stream_options":{"include_usage":true}"#),
                seed,
            ));
            let a = assemble(&r.body, "m");
            let u = a.usage.expect("usage chunk when asked");
            assert_eq!(
                u["total_tokens"].as_u64().unwrap(),
                u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
            );
        }
    }
);

both_drivers!(
    fn tool_calls_survive_translation_streamed_and_not(d) {
        for n in natives() {
            let m = recording_mock(d);
            let gw = Gateway::start(&native_config(n.kind, m.addr, ""), d);
            let hdr = "x-mock-tool-call: auto\r\nx-mock-parallel-tool-calls: 2\r\n";
            let r = gw.client().request(&post("/v1/chat/completions", &chat(false, true, ""), hdr));
            assert_eq!(r.status, 200, "{}: {}", n.kind, r.text());
            let v = r.json();
            assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{}: {v}", n.kind);
            let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
            assert_eq!(calls.len(), 2, "{v}");
            let args: Vec<serde_json::Value> = calls
                .iter()
                .map(|c| {
                    assert_eq!(c["function"]["name"], "get_weather");
                    assert!(!c["id"].as_str().unwrap().is_empty());
                    serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap()
                })
                .collect();
            assert_eq!(args[0], serde_json::json!({"location": "Paris"}), "{}", n.kind);
            assert_ne!(args[0], args[1], "parallel calls differ");
            // The provider got the tool declared in its own shape.
            let sent = body_of(&m, 0).to_string();
            assert!(sent.contains("get_weather") && sent.contains("location"), "{sent}");

            let r = gw.client().request(&post("/v1/chat/completions", &chat(true, true, ""), hdr));
            assert_eq!(r.status, 200, "{}: {}", n.kind, r.text());
            let a = assemble(&r.body, "m");
            assert_eq!(a.finish.as_deref(), Some("tool_calls"), "{a:?}");
            assert_eq!(a.calls.len(), 2, "{a:?}");
            let streamed: Vec<serde_json::Value> =
                a.calls.values().map(|c| serde_json::from_str(&c.2).unwrap()).collect();
            assert_eq!(streamed, args, "{}: streamed arguments reassemble to the same calls", n.kind);
            assert!(a.calls.values().all(|c| c.1 == "get_weather" && !c.0.is_empty()));

            // The tool result goes back in the provider's shape, and the answer is text.
            let id = calls[0]["id"].as_str().unwrap();
            let follow_up = format!(
                r#"{{"model":"m","messages":[{{"role":"user","content":"Weather in Paris?"}},{{"role":"assistant","content":null,"tool_calls":[{{"id":"{id}","type":"function","function":{{"name":"get_weather","arguments":"{{\"location\":\"Paris\"}}"}}}}]}},{{"role":"tool","tool_call_id":"{id}","content":"sunny"}}],"tools":{TOOLS}}}"#
            );
            let r = gw.client().request(&post("/v1/chat/completions", &follow_up, hdr));
            assert_eq!(r.status, 200, "{}: {}", n.kind, r.text());
            assert_eq!(r.json()["choices"][0]["finish_reason"], "stop", "{}", r.text());
        }
    }
);

both_drivers!(
    fn provider_errors_keep_their_status_in_openai_shape(d) {
        for n in natives() {
            let m = mock(d);
            let gw = Gateway::start(&native_config(n.kind, m.addr, ""), d);
            let r = gw.client().request(&post(
                "/v1/chat/completions",
                &chat(false, false, ""),
                "x-mock-fault: 429\r\nx-mock-retry-after: 7\r\n",
            ));
            assert_eq!(r.status, 429, "{}: {}", n.kind, r.text());
            assert_eq!(r.header("retry-after"), Some("7"), "{}", n.kind);
            let e = assert_openai_error(&r.body);
            assert_eq!(e["type"], "rate_limit_error", "{}: {e}", n.kind);

            let r = gw.client().request(&post("/v1/chat/completions", &chat(false, false, ""), "x-mock-status: 400\r\n"));
            assert_eq!(r.status, 400, "{}", r.text());
            assert_openai_error(&r.body);

            // An error inside a 200 stream: a well-formed error event, then the end.
            let r = gw.client().request(&post("/v1/chat/completions", &chat(true, false, ""), "x-mock-fault: stream-error\r\n"));
            assert_eq!(r.status, 200, "{}", r.text());
            let a = assemble(&r.body, "m");
            assert_eq!(a.errors.len(), 1, "{}: {}", n.kind, r.text());
            assert!(a.errors[0]["error"]["message"].is_string(), "{:?}", a.errors);
        }
    }
);

both_drivers!(
    fn requests_a_provider_cannot_express_are_refused_before_sending(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&native_config("anthropic", m.addr, ""), d);
        let r = gw.client().request(&post("/v1/chat/completions", &chat(false, false, r#","n":3"#), ""));
        assert_eq!(r.status, 400, "{}", r.text());
        let e = assert_openai_error(&r.body);
        assert_eq!(e["code"], "unsupported_parameter");
        // The detail names the parameter, after the generic message.
        let msg = e["message"].as_str().unwrap();
        let detail = msg.split_once(": ").map(|(_, d)| d).unwrap_or("");
        assert!(detail.contains('n'), "{e}");
        let r = gw.client().request(&post("/v1/chat/completions", r#"{"model":"m","messages":"hi"}"#, ""));
        assert_eq!(r.status, 400, "{}", r.text());
        let e = assert_openai_error(&r.body);
        assert_eq!(e["code"], "invalid_request");
        assert!(e["message"].as_str().unwrap().contains("expected a sequence"), "the parser's detail: {e}");
        let r = gw.client().request(&post("/v1/embeddings", r#"{"model":"m","input":"hi"}"#, ""));
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(assert_openai_error(&r.body)["code"], "unsupported_endpoint");
        assert!(m.recorded().is_empty(), "nothing reached the provider");
    }
);

// --- the Anthropic Messages ingress ---

fn messages(stream: bool) -> String {
    format!(
        r#"{{"model":"m","max_tokens":1000,"system":"Be brief.","messages":[{{"role":"user","content":"Weather in Paris?"}}],"stream":{stream}}}"#
    )
}

fn anthropic_post(path: &str, body: &str, extra: &str) -> Vec<u8> {
    post_with_key(
        path,
        body,
        None,
        &format!("x-api-key: {CLIENT_KEY}\r\nanthropic-version: 2023-06-01\r\n{extra}"),
    )
}

/// `(event, data)` pairs of an SSE body.
fn sse_events(body: &[u8]) -> Vec<(String, serde_json::Value)> {
    std::str::from_utf8(body)
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = String::new();
            for l in e.lines() {
                if let Some(v) = l.strip_prefix("event:") {
                    name = v.trim().into();
                } else if let Some(v) = l.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            (
                name,
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}")),
            )
        })
        .collect()
}

both_drivers!(
    fn anthropic_clients_reach_every_provider_kind(d) {
        for kind in ["openai-compatible", "anthropic", "gemini"] {
            let m = recording_mock(d);
            let base = if kind == "openai-compatible" { "/v1" } else { "" };
            let toml = native_config(kind, m.addr, "").replace(
                &format!("base_url = \"http://{}\"", m.addr),
                &format!("base_url = \"http://{}{base}\"", m.addr),
            );
            let gw = Gateway::start(&toml, d);
            let r = gw.client().request(&anthropic_post("/v1/messages", &messages(false), ""));
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
            let v = r.json();
            assert_eq!(v["type"], "message", "{kind}: {v}");
            assert_eq!(v["role"], "assistant");
            assert_eq!(v["stop_reason"], "end_turn", "{kind}: {v}");
            assert!(v["content"][0]["text"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
            assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{kind}: {v}");
            assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0, "{kind}: {v}");
            let h = head_of(&m, 0);
            let want = match kind {
                "openai-compatible" => "POST /v1/chat/completions ",
                "anthropic" => "POST /v1/messages ",
                _ => "POST /v1beta/models/native-model-1:generateContent ",
            };
            assert!(h.starts_with(want), "{kind}: {h}");

            let r = gw.client().request(&anthropic_post("/v1/messages", &messages(true), ""));
            assert_eq!(r.status, 200, "{kind}: {}", r.text());
            let events = sse_events(&r.body);
            let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).filter(|n| *n != "ping").collect();
            assert_eq!(names.first(), Some(&"message_start"), "{kind}: {names:?}");
            assert_eq!(names.last(), Some(&"message_stop"), "{kind}: {names:?}");
            assert!(names.contains(&"content_block_delta") && names.contains(&"message_delta"), "{kind}: {names:?}");
            let text: String = events
                .iter()
                .filter(|(n, _)| n == "content_block_delta")
                .map(|(_, v)| v["delta"]["text"].as_str().unwrap_or("").to_string())
                .collect();
            assert!(!text.is_empty(), "{kind}");
            let delta = &events.iter().find(|(n, _)| n == "message_delta").unwrap().1;
            assert_eq!(delta["delta"]["stop_reason"], "end_turn", "{kind}: {delta}");
            assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{kind}: {delta}");
        }
    }
);

both_drivers!(
    fn anthropic_ingress_speaks_anthropic_errors_and_counts_tokens(d) {
        let m = recording_mock(d);
        let toml = native_config("openai-compatible", m.addr, "").replace(
            &format!("base_url = \"http://{}\"", m.addr),
            &format!("base_url = \"http://{}/v1\"", m.addr),
        );
        let gw = Gateway::start(&toml, d);
        let anthropic_error = |r: &Response, status: u16, kind: &str| {
            assert_eq!(r.status, status, "{}", r.text());
            let v = r.json();
            assert_eq!(v["type"], "error", "{v}");
            assert_eq!(v["error"]["type"], kind, "{v}");
            assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        };
        let r = gw.client().request(&anthropic_post("/v1/messages", &messages(false).replace("\"m\"", "\"nope\""), ""));
        anthropic_error(&r, 404, "not_found_error");
        let r = gw.client().request(&post_with_key("/v1/messages", &messages(false), None, ""));
        anthropic_error(&r, 401, "authentication_error");
        let r = gw.client().request(&post_with_key("/v1/messages", &messages(false), None, "x-api-key: wrong\r\n"));
        anthropic_error(&r, 401, "authentication_error");
        let r = gw.client().request(&anthropic_post("/v1/messages", r#"{"model":"m","messages":[]}"#, ""));
        anthropic_error(&r, 400, "invalid_request_error");
        // The provider's own error, translated to Anthropic's shape with its status.
        let r = gw.client().request(&anthropic_post("/v1/messages", &messages(false), "x-mock-fault: 429\r\n"));
        anthropic_error(&r, 429, "rate_limit_error");
        // count_tokens: estimated for a provider that is not Anthropic.
        let r = gw.client().request(&anthropic_post("/v1/messages/count_tokens", &messages(false), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.json()["input_tokens"].as_u64().unwrap() > 0);
    }
);

both_drivers!(
    fn anthropic_to_anthropic_goes_straight_through(d) {
        let m = recording_mock(d);
        let gw = Gateway::start(&native_config("anthropic", m.addr, ""), d);
        let body = messages(false);
        let r = gw.client().request(&anthropic_post("/v1/messages", &body, "anthropic-beta: prompt-caching-2024-07-31\r\n"));
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = body_of(&m, 0);
        let mut want: serde_json::Value = serde_json::from_str(&body).unwrap();
        want["model"] = UPSTREAM.into();
        assert_eq!(sent, want, "only the model is rewritten");
        let h = head_of(&m, 0);
        assert!(h.contains("anthropic-beta: prompt-caching-2024-07-31\r\n"), "{h}");
        assert!(h.contains(&format!("x-api-key: {PROVIDER_KEY}\r\n")), "{h}");
        let r = gw.client().request(&anthropic_post("/v1/messages/count_tokens", &body, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(head_of(&m, 1).starts_with("POST /v1/messages/count_tokens "), "{}", head_of(&m, 1));
    }
);
