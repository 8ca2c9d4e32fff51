use std::borrow::Cow;

use serde_json::json;

use super::fixture;
use crate::anthropic::{finish_reason, parse_response, ResponseMeta, JSON_TOOL_NAME};
use crate::chat::{FinishReason, TranslateError, Usage};

const META: ResponseMeta<'static> = ResponseMeta {
    id: "chatcmpl-1",
    model: "claude-sonnet",
    created: 1_700_000_000,
    json_tool: false,
};

#[test]
fn tools_thinking_text_and_cache_usage() {
    let body = fixture!("response_tools.json").as_bytes();
    let (resp, usage) = parse_response(body, &META).unwrap();
    assert_eq!(
        usage,
        Usage {
            input: 472,
            output: 91,
            cache_read: 2048,
            cache_write: 100,
            reasoning: 0
        }
    );
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(v["id"], "chatcmpl-1");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["created"], 1_700_000_000);
    assert_eq!(v["model"], "claude-sonnet");
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert_eq!(c["message"]["role"], "assistant");
    assert_eq!(c["message"]["content"], "I'll check both.");
    assert_eq!(
        c["message"]["reasoning_content"],
        "The user wants the weather."
    );
    let calls = c["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: serde_json::Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(
        args,
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );
    assert_eq!(calls[1]["function"]["arguments"], "{}");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 2620, "completion_tokens": 91, "total_tokens": 2711,
               "prompt_tokens_details": {"cached_tokens": 2048},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );
}

#[test]
fn arguments_borrow_from_the_body() {
    let body = fixture!("response_tools.json").as_bytes();
    let (resp, _) = parse_response(body, &META).unwrap();
    let calls = resp.choices[0].message.tool_calls.as_ref().unwrap();
    assert!(matches!(calls[0].function.arguments, Cow::Borrowed(_)));
}

#[test]
fn plain_text_answer() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":2}}"#;
    let (resp, usage) = parse_response(body, &META).unwrap();
    let m = &resp.choices[0].message;
    assert_eq!(m.content.as_deref(), Some("Hi!"));
    assert!(m.tool_calls.is_none() && m.reasoning_content.is_none());
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!((usage.input, usage.output, usage.cache_read), (5, 2, 0));
    // No content at all: an empty string, as OpenAI sends.
    let body = br#"{"id":"msg_1","content":[],"stop_reason":"max_tokens","usage":{"input_tokens":5,"output_tokens":0}}"#;
    let (resp, _) = parse_response(body, &META).unwrap();
    assert_eq!(resp.choices[0].message.content.as_deref(), Some(""));
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("length"));
}

#[test]
fn json_tool_input_becomes_text() {
    let body = format!(
        r#"{{"id":"msg_1","content":[{{"type":"tool_use","id":"toolu_1","name":"{JSON_TOOL_NAME}","input":{{"t": 21.5}}}}],"stop_reason":"tool_use","usage":{{"input_tokens":5,"output_tokens":9}}}}"#
    );
    let meta = ResponseMeta {
        json_tool: true,
        ..META
    };
    let (resp, _) = parse_response(body.as_bytes(), &meta).unwrap();
    let m = &resp.choices[0].message;
    assert_eq!(m.content.as_deref(), Some(r#"{"t": 21.5}"#));
    assert!(m.tool_calls.is_none());
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("stop"));
    // Without the flag it is an ordinary tool call.
    let (resp, _) = parse_response(body.as_bytes(), &META).unwrap();
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn stop_reasons() {
    for (anthropic, calls, want) in [
        ("end_turn", false, FinishReason::Stop),
        ("stop_sequence", false, FinishReason::Stop),
        ("pause_turn", false, FinishReason::Stop),
        ("max_tokens", false, FinishReason::Length),
        ("model_context_window_exceeded", false, FinishReason::Length),
        ("tool_use", true, FinishReason::ToolCalls),
        ("tool_use", false, FinishReason::Stop),
        ("refusal", false, FinishReason::ContentFilter),
        ("something_new", false, FinishReason::Stop),
    ] {
        assert_eq!(finish_reason(anthropic, calls), want, "{anthropic}");
    }
    let body = br#"{"id":"msg_1","content":[{"type":"text","text":"no"}],"stop_reason":"refusal","usage":{}}"#;
    let (resp, _) = parse_response(body, &META).unwrap();
    assert_eq!(
        resp.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
}

#[test]
fn server_tool_and_redacted_blocks_are_dropped() {
    let body = br#"{"id":"msg_1","content":[{"type":"redacted_thinking","data":"xyz"},{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]},{"type":"text","text":"Found it."}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let (resp, _) = parse_response(body, &META).unwrap();
    let m = &resp.choices[0].message;
    assert_eq!(m.content.as_deref(), Some("Found it."));
    assert!(m.tool_calls.is_none() && m.reasoning_content.is_none());
}

#[test]
fn malformed_bodies_are_bad_json() {
    for body in [
        &b""[..],
        b"[]",
        b"[\"msg_1\"]",
        b"{",
        b"{\"content\":[]}",
        b"{\"id\":\"m\",\"content\":{}}",
        b"null",
    ] {
        assert!(
            matches!(parse_response(body, &META), Err(TranslateError::BadJson(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
