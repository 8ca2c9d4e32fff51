//! The OpenAI Responses API (`/v1/responses`).

use loadtest::mock::Endpoint;
use serde_json::{json, Value};

use crate::client::{chat, post, Client, Response, SseEvent};
use crate::{content, start_epoll, start_text};

const AUTH: [(&str, &str); 1] = [("authorization", "Bearer sk-test")];

fn body(stream: bool) -> Value {
    json!({
        "model": "gpt-4.1",
        "instructions": "You are terse.",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say something about gateways."}]}],
        "stream": stream,
    })
}

fn with_tools(mut b: Value) -> Value {
    b["tools"] = json!([
        {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
        {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
    ]);
    b
}

fn responses(addr: std::net::SocketAddr, extra: &[(&str, &str)], body: &Value) -> Response {
    let headers: Vec<_> = AUTH.iter().chain(extra).copied().collect();
    post(addr, "/v1/responses", &headers, body)
}

/// Event names, checking `type` and consecutive `sequence_number`s.
fn names(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let name = e.name.clone().expect("typed events");
            let d = e.json();
            assert_eq!(d["type"], name.as_str());
            assert_eq!(d["sequence_number"], i, "{name}");
            name
        })
        .collect()
}

fn assert_openai_error(resp: &Response, status: u16, code: Option<&str>, needle: &str) {
    let v = resp.error(status, "/error/message", needle);
    assert_eq!(v["error"]["code"].as_str(), code, "{v}");
}

#[test]
fn response_whole_and_streamed() {
    let mock = start_text(23, 5);
    let seed = [("x-mock-seed", "77")];
    let v = responses(mock.addr, &seed, &body(false)).json();
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(
        (v["object"].as_str(), v["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert_eq!(v["model"], "gpt-4.1");
    assert_eq!(v["instructions"], "You are terse.");
    assert_eq!(v["created_at"], 1_700_000_000);
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    let item = &output[0];
    assert_eq!(
        (
            item["type"].as_str(),
            item["role"].as_str(),
            item["status"].as_str()
        ),
        (Some("message"), Some("assistant"), Some("completed"))
    );
    assert_eq!(item["content"][0]["type"], "output_text");
    let text = item["content"][0]["text"].as_str().unwrap().to_owned();
    let openai = Client::connect(mock.addr)
        .roundtrip(&chat(&seed, false))
        .json();
    assert_eq!(text, content(&openai));
    let u = &v["usage"];
    assert_eq!(
        (
            u["input_tokens"].as_u64(),
            u["output_tokens"].as_u64(),
            u["total_tokens"].as_u64()
        ),
        (Some(11), Some(23), Some(34))
    );

    let events = responses(mock.addr, &seed, &body(true)).sse_events();
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(["response.output_text.delta"; 5]);
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names(&events), expected);
    let created = events[0].json()["response"].clone();
    assert_eq!(
        (created["status"].as_str(), created["output"].clone()),
        (Some("in_progress"), json!([]))
    );
    let streamed: String = events[4..9]
        .iter()
        .map(|e| {
            let d = e.json();
            assert_eq!(d["item_id"], item["id"]);
            d["delta"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(events[9].json()["text"], text.as_str());
    assert_eq!(
        events.last().unwrap().json()["response"],
        v,
        "the final object is the whole answer"
    );
    assert_eq!(mock.stats.requests(Endpoint::Responses), 2);
}

#[test]
fn max_output_tokens_makes_an_incomplete_response() {
    let mock = start_epoll(|c| c.completion_tokens = 40);
    let mut b = body(false);
    b["max_output_tokens"] = json!(16);
    let v = responses(mock.addr, &[], &b).json();
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(v["usage"]["output_tokens"], 16);
    b["stream"] = json!(true);
    let events = responses(mock.addr, &[], &b).sse_events();
    assert_eq!(names(&events).last().unwrap(), "response.incomplete");
    // A plain string input is one user message.
    let v = responses(mock.addr, &[], &json!({"model": "m", "input": "hello"})).json();
    assert_eq!(v["status"], "completed");
}

#[test]
fn auth_and_malformed_requests() {
    let mock = start_epoll(|_| {});
    let resp = post(mock.addr, "/v1/responses", &[], &body(false));
    assert_openai_error(&resp, 401, None, "API key");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = body(false);
        edit(&mut b);
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&|b| b["messages"] = json!([])),
            "unknown_parameter",
            "messages",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("model"))),
            "missing_required_parameter",
            "model",
        ),
        (
            with(&|b| b["max_output_tokens"] = json!(5)),
            "invalid_value",
            "at least 16",
        ),
        (
            with(&|b| b["temperature"] = json!(2.5)),
            "invalid_value",
            "temperature",
        ),
        (
            with(&|b| b["input"][0]["role"] = json!("tool")),
            "invalid_value",
            "input[0].role",
        ),
        (
            with(&|b| b["input"][0]["content"][0]["type"] = json!("text")),
            "invalid_value",
            "input[0].content[0].type",
        ),
        (
            with(&|b| {
                b["input"] =
                    json!([{"type": "function_call_output", "call_id": "call_9", "output": "18C"}])
            }),
            "invalid_value",
            "No tool call found for function call output with call_id call_9",
        ),
        (
            with(&|b| b["tools"] = json!([{"type": "function"}])),
            "missing_required_parameter",
            "tools[0].name",
        ),
        (
            with(&|b| b["tools"] = json!([{"type": "magic"}])),
            "invalid_value",
            "tools[0].type",
        ),
        (
            with(&|b| b["tool_choice"] = json!("sometimes")),
            "invalid_value",
            "tool_choice",
        ),
    ];
    for (b, code, needle) in cases {
        assert_openai_error(&responses(mock.addr, &[], &b), 400, Some(code), needle);
    }
    // With previous_response_id the call may be in the stored conversation.
    let b = with(&|b| {
        b["previous_response_id"] = json!("resp_1");
        b["input"] =
            json!([{"type": "function_call_output", "call_id": "call_9", "output": "18C"}]);
    });
    assert_eq!(responses(mock.addr, &[], &b).status, 200);
}

#[test]
fn function_calls_whole_and_streamed() {
    let mock = start_epoll(|c| c.chunks = 3);
    let ask = [
        ("x-mock-tool-call", "auto"),
        ("x-mock-parallel-tool-calls", "2"),
    ];
    let v = responses(mock.addr, &ask, &with_tools(body(false))).json();
    let output = v["output"].as_array().unwrap();
    let calls: Vec<(&str, &str, &str)> = output
        .iter()
        .map(|o| {
            assert_eq!(o["type"], "function_call");
            assert!(o["id"].as_str().unwrap().starts_with("fc_"));
            assert!(o["call_id"].as_str().unwrap().starts_with("call_"));
            (
                o["name"].as_str().unwrap(),
                o["arguments"].as_str().unwrap(),
                o["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("get_weather", r#"{"location":"Paris"}"#, "completed"),
            ("get_time", r#"{"zone":"London"}"#, "completed")
        ]
    );

    let events = responses(mock.addr, &ask, &with_tools(body(true))).sse_events();
    let n = names(&events);
    let per_call = [
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ];
    let mut expected = vec!["response.created", "response.in_progress"];
    expected.extend(per_call);
    expected.extend(per_call);
    expected.push("response.completed");
    assert_eq!(n, expected);
    let added = events[2].json()["item"].clone();
    assert_eq!(
        (added["arguments"].as_str(), added["status"].as_str()),
        (Some(""), Some("in_progress"))
    );
    let args: String = events[3..6]
        .iter()
        .map(|e| e.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(args, r#"{"location":"Paris"}"#);
    assert_eq!(events[6].json()["arguments"], args.as_str());

    // The call's output goes back: text.
    let mut b = with_tools(body(false));
    let call_id = output[0]["call_id"].clone();
    b["input"] = json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call_id, "name": "get_weather", "arguments": "{\"location\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": call_id, "output": "18C"},
    ]);
    let v = responses(mock.addr, &ask, &b).json();
    assert_eq!(v["output"][0]["type"], "message");
    let mut b = with_tools(body(false));
    b["parallel_tool_calls"] = json!(false);
    b["tool_choice"] = json!({"type": "function", "name": "get_time"});
    let v = responses(mock.addr, &ask, &b).json();
    assert_eq!(v["output"].as_array().unwrap().len(), 1);
    assert_eq!(v["output"][0]["name"], "get_time");
}

#[test]
fn stream_error_event() {
    let mock = start_epoll(|c| c.chunks = 4);
    let resp = responses(mock.addr, &[("x-mock-fault", "stream-error")], &body(true));
    assert!(resp.complete);
    let events = resp.sse_events();
    let n = names(&events);
    assert_eq!(n.last().unwrap(), "error");
    assert!(!n.contains(&"response.completed".to_owned()));
    assert_eq!(events.last().unwrap().json()["code"], "server_error");
    let resp = responses(mock.addr, &[("x-mock-status", "500")], &body(true));
    assert_openai_error(&resp, 500, None, "sluice mock");
}
