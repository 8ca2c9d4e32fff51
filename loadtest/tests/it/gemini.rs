//! Gemini `generateContent`, `streamGenerateContent` and `countTokens`.

use serde_json::{json, Value};

use crate::client::{chat, post, Client, Response};
use crate::{content, start_epoll, start_text};

const KEY: [(&str, &str); 1] = [("x-goog-api-key", "AIza-test")];
const GENERATE: &str = "/v1beta/models/gemini-2.0-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";

fn body() -> Value {
    json!({
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say something about gateways."}]}],
        "generationConfig": {"temperature": 0.7, "topP": 0.9, "stopSequences": ["END"]},
    })
}

fn with_tools(mut b: Value) -> Value {
    b["tools"] = json!([{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather in a city",
         "parameters": {"type": "OBJECT", "properties": {"location": {"type": "STRING"}}, "required": ["location"]}},
        {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
    ]}]);
    b
}

fn assert_error(resp: &Response, status: u16, name: &str, needle: &str) {
    let v = resp.error(status, "/error/message", needle);
    assert_eq!(
        (&v["error"]["code"], &v["error"]["status"]),
        (&json!(status), &json!(name)),
        "{v}"
    );
}

fn text_of(v: &Value) -> String {
    v["candidates"][0]["content"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap_or_default())
        .collect()
}

#[test]
fn generate_whole_and_streamed() {
    let mock = start_text(23, 5);
    let seed = [("x-goog-api-key", "AIza"), ("x-mock-seed", "77")];
    let resp = post(mock.addr, GENERATE, &seed, &body());
    assert_eq!(resp.status, 200);
    let v = resp.json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["content"]["role"], "model");
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(candidate["index"], 0);
    let text = text_of(&v);
    let openai = Client::connect(mock.addr)
        .roundtrip(&chat(&seed[1..], false))
        .json();
    assert_eq!(
        text,
        content(&openai),
        "the same words as the OpenAI endpoint"
    );
    let u = &v["usageMetadata"];
    assert_eq!(u["promptTokenCount"], 11);
    assert_eq!(u["candidatesTokenCount"], 23);
    assert_eq!(u["totalTokenCount"], 34);
    assert_eq!(v["modelVersion"], "gemini-2.0-flash");

    let resp = post(mock.addr, STREAM, &seed, &body());
    assert_eq!(resp.header("content-type"), Some("text/event-stream"));
    let raw = String::from_utf8(resp.body.clone()).unwrap();
    assert!(
        raw.starts_with("data: {") && raw.ends_with("}\r\n\r\n"),
        "CRLF-framed SSE"
    );
    let events = resp.sse_events();
    assert_eq!(events.len(), 5);
    let frames: Vec<Value> = events
        .iter()
        .map(|e| {
            assert_eq!(e.name, None);
            e.json()
        })
        .collect();
    let streamed: String = frames.iter().map(text_of).collect();
    assert_eq!(streamed, text);
    for f in &frames[..4] {
        assert!(f["candidates"][0].get("finishReason").is_none());
    }
    let last = &frames[4];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 23);
    let counts: Vec<u64> = frames
        .iter()
        .map(|f| f["usageMetadata"]["candidatesTokenCount"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative usage {counts:?}"
    );
}

#[test]
fn stream_without_alt_sse_is_a_json_array() {
    let mock = start_epoll(|c| c.chunks = 3);
    let path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
    let resp = post(mock.addr, path, &KEY, &body());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(
        resp.chunks.len(),
        4,
        "three elements and the closing bracket"
    );
    let all: Value = serde_json::from_slice(&resp.body).unwrap();
    let items = all.as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["candidates"][0]["finishReason"], "STOP");
    // Under stream-error the array still closes, its last element an error.
    let resp = post(
        mock.addr,
        path,
        &[KEY[0], ("x-mock-fault", "stream-error")],
        &body(),
    );
    let all: Value = serde_json::from_slice(&resp.body).unwrap();
    let items = all.as_array().unwrap();
    assert_eq!(items.len(), 3, "two of three elements, then the error");
    assert_eq!(items[2]["error"]["status"], "INTERNAL");
}

#[test]
fn api_key_in_header_or_query() {
    let mock = start_epoll(|_| {});
    let resp = post(mock.addr, GENERATE, &[], &body());
    assert_error(&resp, 403, "PERMISSION_DENIED", "unregistered callers");
    let resp = post(mock.addr, &format!("{GENERATE}?key="), &[], &body());
    assert_eq!(resp.status, 403, "an empty key is no key");
    let bearer = [("authorization", "Bearer AIza")];
    assert_eq!(post(mock.addr, GENERATE, &bearer, &body()).status, 403);
    assert_eq!(
        post(mock.addr, &format!("{GENERATE}?key=AIza"), &[], &body()).status,
        200
    );
    assert_eq!(
        post(mock.addr, "/v1/models/g:generateContent", &KEY, &body()).status,
        200
    );
}

#[test]
fn malformed_requests_are_refused_like_the_api() {
    let mock = start_epoll(|_| {});
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = with_tools(body());
        edit(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|b| b["max_tokens"] = json!(10)),
            "Unknown name \"max_tokens\": Cannot find field.",
        ),
        (
            with(&|b| b["generationConfig"]["max_tokens"] = json!(10)),
            "Unknown name \"max_tokens\" at 'generationConfig'",
        ),
        (
            with(&|b| b["contents"] = json!([])),
            "contents is not specified",
        ),
        (
            with(&|b| {
                b.as_object_mut()
                    .unwrap()
                    .remove("contents")
                    .map(drop)
                    .unwrap()
            }),
            "contents is not specified",
        ),
        (
            with(&|b| b["contents"][0]["role"] = json!("assistant")),
            "Please use a valid role: user, model.",
        ),
        (
            with(&|b| b["contents"][0]["parts"] = json!([])),
            "contents.parts must not be empty",
        ),
        (
            with(&|b| {
                b["contents"][0]["parts"] =
                    json!([{"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}])
            }),
            "oneof field 'data'",
        ),
        (
            with(&|b| b["contents"][0]["parts"] = json!([{"inlineData": {"data": "AA=="}}])),
            "mime_type is not specified",
        ),
        (
            with(&|b| b["contents"][0]["content"] = json!("x")),
            "Unknown name \"content\" at 'contents[0]'",
        ),
        (
            with(&|b| {
                b["tools"][0]["functionDeclarations"][0]["parameters"]["additionalProperties"] =
                    json!(false)
            }),
            "Unknown name \"additionalProperties\"",
        ),
        (
            with(&|b| b["tools"][0]["functionDeclarations"][0]["name"] = json!("bad name")),
            "name",
        ),
        (
            with(&|b| b["toolConfig"] = json!({"functionCallingConfig": {"mode": "SOMETIMES"}})),
            "mode",
        ),
        (
            with(&|b| b["generationConfig"]["maxOutputTokens"] = json!(0)),
            "maxOutputTokens",
        ),
        (
            with(&|b| b["generationConfig"]["temperature"] = json!(3)),
            "temperature",
        ),
        (
            with(&|b| {
                b["generationConfig"]["stopSequences"] = json!(["a", "b", "c", "d", "e", "f"])
            }),
            "at most 5",
        ),
        (
            with(&|b| b["generationConfig"]["responseMimeType"] = json!("text/csv")),
            "allowed mimetypes",
        ),
        (
            with(&|b| b["generationConfig"]["responseSchema"] = json!({"type": "OBJECT"})),
            "response_schema",
        ),
        (
            with(&|b| b["systemInstruction"] = json!("be terse")),
            "TYPE_OBJECT",
        ),
    ];
    for (b, needle) in cases {
        assert_error(
            &post(mock.addr, GENERATE, &KEY, &b),
            400,
            "INVALID_ARGUMENT",
            needle,
        );
    }
    // snake_case member names are the same fields.
    let snake = json!({
        "system_instruction": {"parts": [{"text": "terse"}]},
        "contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": "AA=="}}, {"text": "what is it?"}]}],
        "generation_config": {"max_output_tokens": 5, "response_mime_type": "application/json", "response_schema": {"type": "STRING"}},
    });
    let resp = post(mock.addr, GENERATE, &KEY, &snake);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(resp.json()["usageMetadata"]["candidatesTokenCount"], 5);
}

#[test]
fn function_calls_whole_and_streamed() {
    let mock = start_epoll(|_| {});
    let ask = [KEY[0], ("x-mock-tool-call", "auto")];
    let v = post(mock.addr, GENERATE, &ask, &with_tools(body())).json();
    let candidate = &v["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}])
    );
    let parallel = [
        KEY[0],
        ("x-mock-tool-call", "get_time"),
        ("x-mock-parallel-tool-calls", "2"),
    ];
    let events = post(mock.addr, STREAM, &parallel, &with_tools(body())).sse_events();
    assert_eq!(events.len(), 1, "function calls arrive whole in one chunk");
    let parts = events[0].json()["candidates"][0]["content"]["parts"].clone();
    assert_eq!(
        parts,
        json!([
            {"functionCall": {"name": "get_time", "args": {"zone": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"zone": "London"}}},
        ])
    );
    // The function's response goes back: text, so the loop ends.
    let mut b = with_tools(body());
    b["contents"] = json!([
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 18}}}]},
    ]);
    let v = post(mock.addr, GENERATE, &ask, &b).json();
    assert!(!text_of(&v).is_empty());
    // Mode NONE forbids calls; ANY with one allowed name forces that function.
    let mut b = with_tools(body());
    b["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    assert!(!text_of(&post(mock.addr, GENERATE, &ask, &b).json()).is_empty());
    b["toolConfig"] =
        json!({"function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_time"]}});
    let v = post(mock.addr, GENERATE, &ask, &b).json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_time"
    );
    let resp = post(
        mock.addr,
        GENERATE,
        &[KEY[0], ("x-mock-tool-call", "nope")],
        &with_tools(body()),
    );
    assert_error(&resp, 400, "INVALID_ARGUMENT", "nope");
}

#[test]
fn faults_and_count_tokens() {
    let mock = start_epoll(|c| c.chunks = 4);
    for (status, name) in [("429", "RESOURCE_EXHAUSTED"), ("503", "UNAVAILABLE")] {
        let resp = post(
            mock.addr,
            GENERATE,
            &[KEY[0], ("x-mock-status", status)],
            &body(),
        );
        assert_error(&resp, status.parse().unwrap(), name, "sluice mock");
    }
    let resp = post(
        mock.addr,
        STREAM,
        &[KEY[0], ("x-mock-fault", "stream-error")],
        &body(),
    );
    let events = resp.sse_events();
    assert!(resp.complete);
    assert_eq!(events.len(), 3, "two of four chunks, then the error");
    assert_eq!(events[2].json()["error"]["code"], 500);

    let count = "/v1beta/models/gemini-2.0-flash:countTokens";
    let resp = post(
        mock.addr,
        count,
        &KEY,
        &json!({"contents": body()["contents"]}),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["totalTokens"], 8);
    let resp = post(
        mock.addr,
        count,
        &KEY,
        &json!({"contents": [{"role": "bot", "parts": [{"text": "x"}]}]}),
    );
    assert_error(&resp, 400, "INVALID_ARGUMENT", "valid role");
    let resp = post(
        mock.addr,
        count,
        &KEY,
        &json!({"generateContentRequest": body()}),
    );
    assert_eq!(resp.status, 200);
}
