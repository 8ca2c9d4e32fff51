//! The Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`).

use serde_json::{json, Value};

use crate::client::{chat, post, Client, Response, SseEvent};
use crate::{content, start_epoll, start_text};

const AUTH: [(&str, &str); 2] = [
    ("x-api-key", "sk-ant-test"),
    ("anthropic-version", "2023-06-01"),
];

fn headers<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    AUTH.iter().chain(extra).copied().collect()
}

fn body(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Say something about gateways."}],
        "stream": stream,
    })
}

fn weather_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather in a city",
         "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}},
        {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}},
    ])
}

fn messages(addr: std::net::SocketAddr, extra: &[(&str, &str)], body: &Value) -> Response {
    post(addr, "/v1/messages", &headers(extra), body)
}

/// The event names, checking each event's data `type` matches its name.
fn names(events: &[SseEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let name = e.name.clone().expect("every Anthropic event is named");
            assert_eq!(e.json()["type"], name.as_str(), "{e:?}");
            name
        })
        .collect()
}

fn assert_error(resp: &Response, status: u16, kind: &str, needle: &str) {
    let v = resp.error(status, "/error/message", needle);
    assert_eq!(
        (&v["type"], &v["error"]["type"]),
        (&json!("error"), &json!(kind)),
        "{v}"
    );
    assert!(v["request_id"].as_str().unwrap().starts_with("req_"));
}

#[test]
fn message_whole_and_streamed() {
    let mock = start_text(23, 5);
    let seed = [("x-mock-seed", "77")];
    let resp = messages(mock.addr, &seed, &body(false));
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        (&v["type"], &v["role"]),
        (&json!("message"), &json!("assistant"))
    );
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["stop_sequence"].is_null());
    assert_eq!(v["content"][0]["type"], "text");
    let text = v["content"][0]["text"].as_str().unwrap().to_owned();
    assert_eq!(text.split(' ').count(), 23);
    // The same seed writes the same words as the OpenAI endpoint.
    let openai = Client::connect(mock.addr)
        .roundtrip(&chat(&seed, false))
        .json();
    assert_eq!(text, content(&openai));
    let u = &v["usage"];
    assert_eq!(
        (u["input_tokens"].as_u64(), u["output_tokens"].as_u64()),
        (Some(11), Some(23))
    );
    assert_eq!(u["cache_creation_input_tokens"], 0);
    assert_eq!(u["cache_read_input_tokens"], 0);

    let resp = messages(mock.addr, &seed, &body(true));
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let events = resp.sse_events();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names(&events), expected);
    let start = events[0].json();
    assert_eq!(start["message"]["id"], v["id"]);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["usage"]["input_tokens"], 11);
    assert_eq!(
        events[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let streamed: String = events[3..8]
        .iter()
        .map(|e| {
            let d = e.json();
            assert_eq!(d["delta"]["type"], "text_delta");
            assert_eq!(d["index"], 0);
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(streamed, text);
    let delta = events[9].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 23);
    assert_eq!(mock.stats.requests(loadtest::mock::Endpoint::Messages), 2);
}

#[test]
fn max_tokens_stops_the_message() {
    let mock = start_epoll(|c| c.completion_tokens = 50);
    let mut b = body(false);
    b["max_tokens"] = json!(7);
    let v = messages(mock.addr, &[], &b).json();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 7);
    b["stream"] = json!(true);
    let events = messages(mock.addr, &[], &b).sse_events();
    let delta = events
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"));
    assert_eq!(delta.unwrap().json()["delta"]["stop_reason"], "max_tokens");
}

#[test]
fn auth_and_version_headers_are_required() {
    let mock = start_epoll(|_| {});
    let only_version = [("anthropic-version", "2023-06-01")];
    let resp = post(mock.addr, "/v1/messages", &only_version, &body(false));
    assert_error(&resp, 401, "authentication_error", "x-api-key");
    let bearer = [
        ("authorization", "Bearer sk"),
        ("anthropic-version", "2023-06-01"),
    ];
    let resp = post(mock.addr, "/v1/messages", &bearer, &body(false));
    assert_eq!(resp.status, 401, "Authorization is not x-api-key");
    let resp = post(
        mock.addr,
        "/v1/messages",
        &[("x-api-key", "k")],
        &body(false),
    );
    assert_error(&resp, 400, "invalid_request_error", "anthropic-version");
}

#[test]
fn malformed_requests_are_refused_like_the_api() {
    let mock = start_epoll(|_| {});
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = body(false);
        edit(&mut b);
        b
    };
    let user = |text: &str| json!({"role": "user", "content": text});
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("max_tokens"))),
            "max_tokens: Field required",
        ),
        (
            with(&|b| b["max_tokens"] = json!("10")),
            "max_tokens: Input should be a valid integer",
        ),
        (with(&|b| b["max_tokens"] = json!(0)), "max_tokens"),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("model"))),
            "model: Field required",
        ),
        (with(&|b| b["messages"] = json!([])), "at least one message"),
        (
            with(&|b| b["messages"] = json!([{"role": "system", "content": "x"}])),
            "messages.0.role",
        ),
        (
            with(&|b| b["messages"] = json!([{"role": "assistant", "content": "x"}, user("y")])),
            "first message",
        ),
        (
            with(&|b| b["max_completion_tokens"] = json!(5)),
            "max_completion_tokens: Extra inputs are not permitted",
        ),
        (with(&|b| b["temperature"] = json!(1.5)), "temperature"),
        (
            with(&|b| b["system"] = json!([{"type": "image", "text": "x"}])),
            "system.0.type",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!([{"type": "text"}])),
            "messages.0.content.0.text: Field required",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!([{"type": "video"}])),
            "messages.0.content.0.type",
        ),
        (
            with(
                &|b| b["messages"][0]["content"] = json!([{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]),
            ),
            "media_type",
        ),
        (
            with(&|b| {
                b["messages"][0]["content"] =
                    json!([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}])
            }),
            "unexpected `tool_use_id`",
        ),
        (
            with(&|b| b["tools"] = json!([{"name": "f"}])),
            "tools.0.input_schema: Field required",
        ),
        (
            with(&|b| {
                b["tools"] = json!([{"name": "bad name", "input_schema": {"type": "object"}}])
            }),
            "tools.0.name",
        ),
        (
            with(&|b| {
                b["tools"] = weather_tools();
                b["tool_choice"] = json!({"type": "tool", "name": "nope"});
            }),
            "tool_choice.name",
        ),
        (
            with(&|b| b["tool_choice"] = json!({"type": "sometimes"})),
            "tool_choice.type",
        ),
        (json!([1, 2]), "Input should be a valid dictionary"),
    ];
    for (b, needle) in cases {
        assert_error(
            &messages(mock.addr, &[], &b),
            400,
            "invalid_request_error",
            needle,
        );
    }
    let resp = Client::connect(mock.addr).roundtrip(&crate::client::request(
        "POST",
        "/v1/messages",
        &headers(&[]),
        "{not json",
    ));
    assert_error(&resp, 400, "invalid_request_error", "JSON");
}

/// The history an agent sends back after a tool call.
fn tool_round(tool_use_id: &str, result_first: bool) -> Value {
    let result = json!({"type": "tool_result", "tool_use_id": tool_use_id, "content": "18C"});
    let text = json!({"type": "text", "text": "and?"});
    let content = if result_first {
        json!([result, text])
    } else {
        json!([text, result])
    };
    json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}}]},
        {"role": "user", "content": content},
    ])
}

#[test]
fn tool_history_rules() {
    let mock = start_epoll(|_| {});
    let mut b = body(false);
    b["tools"] = weather_tools();
    b["messages"] = tool_round("toolu_1", true);
    assert_eq!(messages(mock.addr, &[], &b).status, 200);
    b["messages"] = tool_round("toolu_1", false);
    assert_error(
        &messages(mock.addr, &[], &b),
        400,
        "invalid_request_error",
        "must come first",
    );
    b["messages"] = tool_round("toolu_2", true);
    assert_error(
        &messages(mock.addr, &[], &b),
        400,
        "invalid_request_error",
        "toolu_2",
    );
    // A tool use left unanswered by the next user turn.
    b["messages"][2] = json!({"role": "user", "content": "never mind"});
    assert_error(
        &messages(mock.addr, &[], &b),
        400,
        "invalid_request_error",
        "without `tool_result`",
    );
    // Consecutive user turns are accepted (the API combines them).
    b["messages"] = json!([
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
    ]);
    assert_eq!(messages(mock.addr, &[], &b).status, 200);
}

#[test]
fn tool_use_whole_and_streamed() {
    let mock = start_epoll(|c| c.chunks = 4);
    let mut b = body(false);
    b["tools"] = weather_tools();
    let ask = [("x-mock-tool-call", "auto"), ("x-mock-seed", "5")];
    let v = messages(mock.addr, &ask, &b).json();
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(v["content"].as_array().unwrap().len(), 1);
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"location": "Paris"}));
    let id = block["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("toolu_"));
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);

    b["stream"] = json!(true);
    let events = messages(mock.addr, &ask, &b).sse_events();
    let n = names(&events);
    assert_eq!(&n[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(
        &n[n.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let started = events[1].json()["content_block"].clone();
    assert_eq!(
        started,
        json!({"type": "tool_use", "id": id, "name": "get_weather", "input": {}})
    );
    let fragments: Vec<String> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json()["delta"].clone();
            assert_eq!(d["type"], "input_json_delta");
            d["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(fragments.len(), 4, "split over the plan's chunks");
    let input: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(input, json!({"location": "Paris"}));
    assert_eq!(
        events[events.len() - 2].json()["delta"]["stop_reason"],
        "tool_use"
    );

    // The tool result goes back: the answer is text, so the agent loop ends.
    b["stream"] = json!(false);
    b["messages"] = tool_round(&id, true);
    b["messages"][1]["content"][0]["id"] = json!(id);
    let v = messages(mock.addr, &ask, &b).json();
    assert_eq!(
        (&v["stop_reason"], &v["content"][0]["type"]),
        (&json!("end_turn"), &json!("text"))
    );
}

#[test]
fn parallel_and_forced_tool_use() {
    let mock = start_epoll(|_| {});
    let mut b = body(true);
    b["tools"] = weather_tools();
    let ask = [
        ("x-mock-tool-call", "auto"),
        ("x-mock-parallel-tool-calls", "3"),
    ];
    let events = messages(mock.addr, &ask, &b).sse_events();
    let starts: Vec<Value> = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_start"))
        .map(|e| e.json())
        .collect();
    let blocks: Vec<(u64, &str)> = starts
        .iter()
        .map(|s| {
            (
                s["index"].as_u64().unwrap(),
                s["content_block"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        blocks,
        [(0, "get_weather"), (1, "get_time"), (2, "get_weather")]
    );
    let ids: std::collections::HashSet<&str> = starts
        .iter()
        .map(|s| s["content_block"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "distinct ids");

    b["stream"] = json!(false);
    b["tool_choice"] =
        json!({"type": "tool", "name": "get_time", "disable_parallel_tool_use": true});
    let v = messages(mock.addr, &ask, &b).json();
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 1, "parallel use disabled");
    assert_eq!(content[0]["name"], "get_time");
    assert_eq!(content[0]["input"], json!({"zone": "Paris"}));
    b["tool_choice"] = json!({"type": "none"});
    assert_eq!(
        messages(mock.addr, &ask, &b).json()["content"][0]["type"],
        "text"
    );
    b.as_object_mut().unwrap().remove("tool_choice");
    let resp = messages(mock.addr, &[("x-mock-tool-call", "launch")], &b);
    assert_error(&resp, 400, "invalid_request_error", "launch");
}

#[test]
fn stream_error_fault_sends_an_error_event() {
    let mock = start_epoll(|c| c.chunks = 6);
    let resp = messages(mock.addr, &[("x-mock-fault", "stream-error")], &body(true));
    assert_eq!(resp.status, 200);
    assert!(resp.complete, "the body ends cleanly after the error event");
    let events = resp.sse_events();
    let n = names(&events);
    assert_eq!(
        n.iter().filter(|n| *n == "content_block_delta").count(),
        3,
        "half the deltas"
    );
    assert_eq!(n.last().unwrap(), "error");
    assert!(!n.contains(&"message_stop".to_owned()));
    let e = events.last().unwrap().json();
    assert_eq!(e["error"]["type"], "overloaded_error");
    // Not streaming: a 500 in the API's error shape.
    let resp = messages(mock.addr, &[("x-mock-fault", "stream-error")], &body(false));
    assert_error(&resp, 500, "api_error", "sluice mock");
}

#[test]
fn injected_statuses_use_the_api_error_shape() {
    let mock = start_epoll(|_| {});
    let resp = messages(mock.addr, &[("x-mock-status", "529")], &body(false));
    assert_error(&resp, 529, "overloaded_error", "sluice mock");
    let resp = messages(
        mock.addr,
        &[("x-mock-fault", "429"), ("x-mock-retry-after", "3")],
        &body(true),
    );
    assert_error(&resp, 429, "rate_limit_error", "sluice mock");
    assert_eq!(resp.header("retry-after"), Some("3"));
    // A malformed request is refused before an injected fault applies.
    let mut b = body(false);
    b["messages"] = json!([]);
    let resp = messages(mock.addr, &[("x-mock-status", "529")], &b);
    assert_error(&resp, 400, "invalid_request_error", "messages");
}

#[test]
fn count_tokens() {
    let mock = start_epoll(|_| {});
    let mut b = body(false);
    b.as_object_mut().unwrap().remove("max_tokens");
    b.as_object_mut().unwrap().remove("stream");
    let resp = post(mock.addr, "/v1/messages/count_tokens", &headers(&[]), &b);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"input_tokens": 11}));
    b["messages"] = json!([]);
    let resp = post(mock.addr, "/v1/messages/count_tokens", &headers(&[]), &b);
    assert_error(&resp, 400, "invalid_request_error", "messages");
    assert_eq!(
        mock.stats.requests(loadtest::mock::Endpoint::CountTokens),
        2
    );
}

#[test]
fn streams_are_deterministic_under_a_seed() {
    let mock = start_epoll(|_| {});
    let mut b = body(true);
    b["tools"] = weather_tools();
    let run = |seed: &str, tool: bool| {
        let mut h = vec![("x-mock-seed", seed)];
        if tool {
            h.push(("x-mock-tool-call", "auto"));
        }
        messages(mock.addr, &h, &b).body
    };
    assert_eq!(run("4", false), run("4", false));
    assert_eq!(run("4", true), run("4", true));
    assert_ne!(run("4", false), run("5", false));
}
