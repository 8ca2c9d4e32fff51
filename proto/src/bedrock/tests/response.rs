use serde_json::json;

use super::fixture;
use crate::bedrock::{finish_reason, parse_response, ResponseMeta, JSON_TOOL_NAME};
use crate::chat::{FinishReason, TranslateError, Usage};

const META: ResponseMeta<'static> = ResponseMeta {
    id: "chatcmpl-b",
    model: "claude-sonnet",
    created: 1_700_000_000,
    json_tool: false,
};

#[test]
fn tools_reasoning_and_cache_usage() {
    let body = fixture!("response_tools.json");
    let (r, usage) = parse_response(body.as_bytes(), &META).unwrap();
    let want_usage = Usage {
        input: 30,
        output: 45,
        cache_read: 1000,
        cache_write: 200,
        reasoning: 0,
    };
    assert_eq!(usage, want_usage);
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "chatcmpl-b", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "claude-sonnet",
            "choices": [{"index": 0, "message": {
                "role": "assistant",
                "content": "Let me check both.",
                "reasoning_content": "The user wants weather and time.",
                "tool_calls": [
                    {"id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function", "function": {"name": "get_weather",
                        "arguments": "{\"city\": \"Paris \\\"FR\\\"\", \"days\": 3, \"opts\": {\"a\": [1, 2.50, null]}}"}},
                    {"id": "tooluse_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                ]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1230, "completion_tokens": 45, "total_tokens": 1275,
                "prompt_tokens_details": {"cached_tokens": 1000},
                "completion_tokens_details": {"reasoning_tokens": 0}}
        })
    );
    // Bedrock's totalTokens (1275) is our total: inputTokens excludes the cache tokens.
    assert_eq!(usage.total(), 1275);
}

#[test]
fn arguments_are_the_raw_input_text() {
    let body = fixture!("response_tools.json");
    let (r, _) = parse_response(body.as_bytes(), &META).unwrap();
    let calls = r.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(
        calls[0].function.arguments,
        r#"{"city": "Paris \"FR\"", "days": 3, "opts": {"a": [1, 2.50, null]}}"#
    );
}

#[test]
fn stop_reasons() {
    for (bedrock, calls, want) in [
        ("end_turn", false, FinishReason::Stop),
        ("stop_sequence", false, FinishReason::Stop),
        ("max_tokens", false, FinishReason::Length),
        ("max_tokens", true, FinishReason::Length),
        ("model_context_window_exceeded", false, FinishReason::Length),
        ("tool_use", true, FinishReason::ToolCalls),
        ("tool_use", false, FinishReason::Stop),
        ("end_turn", true, FinishReason::ToolCalls),
        ("guardrail_intervened", false, FinishReason::ContentFilter),
        ("content_filtered", true, FinishReason::ContentFilter),
        ("malformed_tool_use", false, FinishReason::Stop),
        ("something_new", false, FinishReason::Stop),
    ] {
        assert_eq!(finish_reason(bedrock, calls), want, "{bedrock} {calls}");
    }
    let body = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Once upon"}]}},
        "stopReason": "max_tokens", "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}});
    let body = body.to_string();
    let (r, u) = parse_response(body.as_bytes(), &META).unwrap();
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(r.choices[0].message.content.as_deref(), Some("Once upon"));
    assert!(r.choices[0].message.tool_calls.is_none());
    assert_eq!(
        (u.input, u.output, u.cache_read, u.cache_write),
        (5, 2, 0, 0)
    );
}

#[test]
fn guardrail_and_empty_answers() {
    let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Sorry, the model cannot answer this question."}]}},"stopReason":"guardrail_intervened","usage":{"inputTokens":9,"outputTokens":0,"totalTokens":9}}"#;
    let (r, _) = parse_response(body, &META).unwrap();
    assert_eq!(
        r.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    // No content at all: "" and stop, never a missing choice.
    let (r, u) = parse_response(
        br#"{"output":{"message":{"role":"assistant","content":[]}},"stopReason":"end_turn"}"#,
        &META,
    )
    .unwrap();
    assert_eq!(r.choices.len(), 1);
    assert_eq!(r.choices[0].message.content.as_deref(), Some(""));
    assert_eq!(u, Usage::default());
}

#[test]
fn the_forced_json_tool_becomes_content() {
    let body = format!(
        r#"{{"output":{{"message":{{"role":"assistant","content":[{{"toolUse":{{"toolUseId":"t1","name":"{JSON_TOOL_NAME}","input":{{"answer": 4.0}}}}}}]}}}},"stopReason":"tool_use","usage":{{"inputTokens":3,"outputTokens":4,"totalTokens":7}}}}"#
    );
    let meta = ResponseMeta {
        json_tool: true,
        ..META
    };
    let (r, _) = parse_response(body.as_bytes(), &meta).unwrap();
    let m = &r.choices[0].message;
    assert_eq!(m.content.as_deref(), Some(r#"{"answer": 4.0}"#));
    assert!(m.tool_calls.is_none());
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    // Without json_tool it is an ordinary call.
    let (r, _) = parse_response(body.as_bytes(), &META).unwrap();
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn malformed_bodies_are_bad_json() {
    for body in [
        &b""[..],
        b"[]",
        b"{",
        b"not json",
        br#"{"output": 3}"#,
        br#"{"output":{"message":{"content":[{"toolUse":{"name":"f"}}]}}}"#,
        br#"{"usage": {"inputTokens": -1}}"#,
    ] {
        assert!(
            matches!(parse_response(body, &META), Err(TranslateError::BadJson(_))),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}
