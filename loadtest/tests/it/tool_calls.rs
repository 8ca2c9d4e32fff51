//! OpenAI chat tool calls, the `stream-error` fault on OpenAI streams, and recording of
//! every native endpoint.

use serde_json::{json, Value};

use crate::client::post;
use crate::start_epoll;

fn body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Weather in Paris and the time in Tokyo?"}],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}},
        ],
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

const CHAT: &str = "/v1/chat/completions";

#[test]
fn chat_tool_calls_whole() {
    let mock = start_epoll(|_| {});
    let v = post(
        mock.addr,
        CHAT,
        &[("x-mock-tool-call", "get_weather")],
        &body(false),
    )
    .json();
    assert_eq!(v["object"], "chat.completion");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"],
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
}

#[test]
fn chat_tool_calls_streamed_in_fragments() {
    let mock = start_epoll(|c| c.chunks = 3);
    let ask = [
        ("x-mock-tool-call", "auto"),
        ("x-mock-parallel-tool-calls", "2"),
    ];
    let data = post(mock.addr, CHAT, &ask, &body(true)).sse_data();
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    // Per call: a header chunk and 3 argument fragments; then finish and usage.
    assert_eq!(chunks.len(), 2 * (1 + 3) + 2);
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    let header = &first["tool_calls"][0];
    assert_eq!(
        (
            header["index"].as_u64(),
            header["function"]["name"].as_str(),
            header["function"]["arguments"].as_str()
        ),
        (Some(0), Some("get_weather"), Some(""))
    );
    assert!(header["id"].as_str().unwrap().starts_with("call_"));
    let mut args = [String::new(), String::new()];
    let mut names = Vec::new();
    for c in &chunks[..8] {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert!(c["usage"].is_null());
        for t in c["choices"][0]["delta"]["tool_calls"].as_array().unwrap() {
            let i = t["index"].as_u64().unwrap() as usize;
            if let Some(name) = t["function"]["name"].as_str() {
                names.push((i, name.to_owned()));
            }
            args[i].push_str(t["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        names,
        [(0, "get_weather".to_owned()), (1, "get_time".to_owned())]
    );
    assert_eq!(args, [r#"{"location":"Paris"}"#, r#"{"zone":"London"}"#]);
    assert_eq!(chunks[8]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[9]["choices"], json!([]));
    assert!(chunks[9]["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[test]
fn chat_answers_text_when_no_call_applies() {
    let mock = start_epoll(|_| {});
    let ask = [("x-mock-tool-call", "auto")];
    let text = |b: &Value| {
        let v = post(mock.addr, CHAT, &ask, b).json();
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // After the tool's result: text, so the agent loop ends.
    let mut b = body(false);
    b["messages"] = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]);
    assert!(!text(&b).is_empty());
    let mut b = body(false);
    b["tool_choice"] = json!("none");
    text(&b);
    let mut b = body(false);
    b.as_object_mut().unwrap().remove("tools");
    text(&b);
    // A forced function wins over `auto`; parallel_tool_calls: false means one call.
    let mut b = body(false);
    b["tool_choice"] = json!({"type": "function", "function": {"name": "get_time"}});
    b["parallel_tool_calls"] = json!(false);
    let v = post(
        mock.addr,
        CHAT,
        &[ask[0], ("x-mock-parallel-tool-calls", "3")],
        &b,
    )
    .json();
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["function"]["name"], "get_time");
    // Naming an undeclared tool is the test's mistake: a 400 that says so.
    let resp = post(
        mock.addr,
        CHAT,
        &[("x-mock-tool-call", "launch")],
        &body(false),
    );
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("launch"));
}

#[test]
fn openai_streams_end_with_an_error_frame_under_stream_error() {
    let mock = start_epoll(|c| c.chunks = 4);
    let mut b = body(true);
    b.as_object_mut().unwrap().remove("tools");
    let resp = post(mock.addr, CHAT, &[("x-mock-fault", "stream-error")], &b);
    assert!(resp.complete);
    let data = resp.sse_data();
    // The role frame, two of four content frames, then the error.
    assert_eq!(data.len(), 4);
    let e: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert_eq!(e["error"]["type"], "server_error");
    let resp = post(
        mock.addr,
        CHAT,
        &[("x-mock-fault", "stream-error")],
        &body(false),
    );
    assert_eq!(resp.status, 500, "not streaming: a plain 500");
}

/// A request as sent: path, headers, body.
type Sent = (&'static str, Vec<(&'static str, &'static str)>, Value);

#[test]
fn every_native_endpoint_is_recorded() {
    let mock = start_epoll(|c| c.record = 8);
    let requests: [Sent; 5] = [
        (
            "/v1/messages",
            vec![("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")],
            json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/messages/count_tokens",
            vec![("x-api-key", "sk-ant"), ("anthropic-version", "2023-06-01")],
            json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
            vec![("x-goog-api-key", "AIza")],
            json!({"contents": [{"parts": [{"text": "hi"}]}]}),
        ),
        (
            "/openai/deployments/d1/chat/completions?api-version=2024-10-21",
            vec![("api-key", "az")],
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "/v1/responses",
            vec![("authorization", "Bearer sk")],
            json!({"model": "m", "input": "hi"}),
        ),
    ];
    for (path, headers, b) in &requests {
        assert_eq!(post(mock.addr, path, headers, b).status, 200, "{path}");
    }
    // A refused request is recorded too: tests assert what the provider was sent.
    post(mock.addr, "/v1/messages", &[], &json!({}));
    let recorded = mock.recorded();
    assert_eq!(recorded.len(), 6);
    for ((path, headers, b), (head, body)) in requests.iter().zip(&recorded) {
        let head = String::from_utf8(head.clone()).unwrap();
        assert!(
            head.starts_with(&format!("POST {path} HTTP/1.1\r\n")),
            "{head}"
        );
        for (n, v) in headers {
            assert!(head.contains(&format!("{n}: {v}\r\n")), "{head} lacks {n}");
        }
        assert_eq!(serde_json::from_slice::<Value>(body).unwrap(), *b);
    }
    assert!(recorded[5].0.starts_with(b"POST /v1/messages HTTP/1.1\r\n"));
    assert_eq!(recorded[5].1, b"{}");
}
