use serde_json::{json, Value};

use super::fixture;
use crate::chat::{ChatRequest, ChatResponse, FinishReason, TranslateError, Usage};
use crate::gemini::response::finish_reason;
use crate::gemini::{ids, parse_response, write_request, RequestOptions, ResponseMeta};

const META: ResponseMeta = ResponseMeta {
    id: "chatcmpl-9",
    model: "gemini-2.5-flash",
    created: 1_700_000_000,
    call_prefix: "p",
};

fn parse(body: &str) -> (Value, Usage) {
    let (r, u) = parse_response(body.as_bytes(), &META).unwrap();
    (serde_json::to_value(&r).unwrap(), u)
}

#[test]
fn parallel_calls_thoughts_and_usage() {
    let body = fixture!("response_tools.json");
    let (r, usage) = parse_response(body.as_bytes(), &META).unwrap();
    assert_eq!(
        usage,
        Usage {
            input: 200,
            output: 140,
            cache_read: 1000,
            cache_write: 0,
            reasoning: 100
        }
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["id"], "chatcmpl-9");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["created"], 1_700_000_000u64);
    assert_eq!(v["model"], "gemini-2.5-flash");
    let c = &v["choices"][0];
    assert_eq!(c["finish_reason"], "tool_calls");
    assert_eq!(c["message"]["content"], "Checking both.");
    assert_eq!(c["message"]["reasoning_content"], "Which tools? Both.");
    let calls = c["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "call_p_0-ts-CiQBcs-_AbC");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[1]["id"], "call_p_1");
    assert_eq!(
        calls[1]["function"],
        json!({"name": "get_time", "arguments": "{}"})
    );
    // The arguments are Gemini's `args` text exactly, formatting and escapes included.
    let start = body.find("\"args\": ").unwrap() + 8;
    let raw = serde_json::Deserializer::from_str(&body[start..])
        .into_iter::<&serde_json::value::RawValue>()
        .next()
        .unwrap()
        .unwrap();
    let args = calls[0]["function"]["arguments"].as_str().unwrap();
    assert_eq!(args, raw.get());
    assert!(
        args.contains('\n') && args.contains("0.10") && args.contains(r#"caf\u00e9 \"quoted\""#)
    );
    assert_eq!(
        ids::split(calls[0]["id"].as_str().unwrap()),
        ("call_p_0", Some("CiQBcs+/AbC=".to_owned()))
    );
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 1200, "completion_tokens": 140, "total_tokens": 1340,
               "prompt_tokens_details": {"cached_tokens": 1000},
               "completion_tokens_details": {"reasoning_tokens": 100}})
    );
}

/// Gemini's function calls, answered by an OpenAI client that echoes the assistant
/// message back, reach Gemini again with the same `args` and signature.
#[test]
fn calls_round_trip_through_an_openai_client() {
    let body = fixture!("response_tools.json");
    let (r, _) = parse_response(body.as_bytes(), &META).unwrap();
    let msg = serde_json::to_value(&r.choices[0].message).unwrap();
    let ids: Vec<String> = msg["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let history = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "weather?"},
            msg,
            {"role": "tool", "tool_call_id": ids[1], "content": "12:00"},
            {"role": "tool", "tool_call_id": ids[0], "content": "sunny"}
        ]
    })
    .to_string();
    let req: ChatRequest = serde_json::from_str(&history).unwrap();
    let mut out = Vec::new();
    write_request(&req, &RequestOptions::default(), &mut out).unwrap();
    let sent: Value = serde_json::from_slice(&out).unwrap();
    let original: Value = serde_json::from_str(body).unwrap();
    let orig_parts = &original["candidates"][0]["content"]["parts"];
    let model = &sent["contents"][1];
    assert_eq!(model["role"], "model");
    assert_eq!(model["parts"][0]["text"], "Checking both.");
    assert_eq!(model["parts"][1], orig_parts[3], "call, args and signature");
    assert_eq!(model["parts"][2], orig_parts[4]);
    let results = &sent["contents"][2]["parts"];
    assert_eq!(results[0]["functionResponse"]["name"], "get_time");
    assert_eq!(results[1]["functionResponse"]["name"], "get_weather");
}

#[test]
fn finish_reasons() {
    for (gemini, calls, want) in [
        ("STOP", false, FinishReason::Stop),
        ("STOP", true, FinishReason::ToolCalls),
        ("MAX_TOKENS", false, FinishReason::Length),
        ("MAX_TOKENS", true, FinishReason::Length),
        ("SAFETY", false, FinishReason::ContentFilter),
        ("RECITATION", false, FinishReason::ContentFilter),
        ("BLOCKLIST", false, FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", false, FinishReason::ContentFilter),
        ("SPII", true, FinishReason::ContentFilter),
        ("IMAGE_SAFETY", false, FinishReason::ContentFilter),
        ("LANGUAGE", false, FinishReason::ContentFilter),
        ("MALFORMED_FUNCTION_CALL", false, FinishReason::Stop),
        ("OTHER", false, FinishReason::Stop),
        ("SOMETHING_NEW", true, FinishReason::ToolCalls),
    ] {
        assert_eq!(finish_reason(gemini, calls), want, "{gemini} {calls}");
    }
    let (v, _) = parse(
        r#"{"candidates":[{"content":{"parts":[{"text":"I can't"}],"role":"model"},
            "finishReason":"SAFETY","safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}]}"#,
    );
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(v["choices"][0]["message"]["content"], "I can't");
    // A candidate stopped by safety may come without content at all.
    let (v, _) = parse(r#"{"candidates":[{"finishReason":"SAFETY","index":0}]}"#);
    assert_eq!(v["choices"][0]["message"]["content"], "");
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
}

#[test]
fn a_blocked_prompt_is_an_empty_filtered_choice() {
    let (v, u) = parse(
        r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT","safetyRatings":[]},
            "usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.5-flash"}"#,
    );
    assert_eq!(
        v["choices"],
        json!([{"index": 0, "message": {"role": "assistant", "content": ""},
                "finish_reason": "content_filter"}])
    );
    assert_eq!(u.input, 7);
    let (v, _) = parse("{}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[test]
fn several_candidates_become_several_choices() {
    let (v, u) = parse(
        r#"{"candidates":[
            {"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}}}],"role":"model"},"finishReason":"STOP"},
            {"content":{"parts":[{"text":"plain"}],"role":"model"},"finishReason":"STOP","index":1},
            {"content":{"parts":[{"functionCall":{"name":"b","id":"gem-7"}}],"role":"model"},"finishReason":"MAX_TOKENS","index":2}
        ],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":30,"totalTokenCount":40}}"#,
    );
    let ch = v["choices"].as_array().unwrap();
    assert_eq!(ch.len(), 3);
    assert_eq!(ch[0]["index"], 0);
    assert_eq!(ch[0]["message"]["content"], Value::Null);
    assert_eq!(ch[0]["message"]["tool_calls"][0]["id"], "call_p_0");
    assert_eq!(ch[0]["finish_reason"], "tool_calls");
    assert_eq!(ch[1]["index"], 1);
    assert_eq!(ch[1]["message"]["content"], "plain");
    assert!(ch[1]["message"].get("tool_calls").is_none());
    assert_eq!(ch[1]["finish_reason"], "stop");
    // Gemini's own id is kept; missing args read as {}.
    assert_eq!(
        ch[2]["message"]["tool_calls"][0],
        json!({"id": "gem-7", "type": "function", "function": {"name": "b", "arguments": "{}"}})
    );
    assert_eq!(ch[2]["finish_reason"], "length");
    assert_eq!((u.input, u.output, u.cache_read), (10, 30, 0));
}

#[test]
fn usage_counts_tool_use_prompt_and_clamps_cache() {
    let (_, u) = parse(
        r#"{"candidates":[],"usageMetadata":{"promptTokenCount":100,"toolUsePromptTokenCount":20,
            "cachedContentTokenCount":50,"candidatesTokenCount":5,"thoughtsTokenCount":7,"totalTokenCount":132}}"#,
    );
    assert_eq!(
        u,
        Usage {
            input: 70,
            output: 12,
            cache_read: 50,
            cache_write: 0,
            reasoning: 7
        }
    );
    assert_eq!(u.total(), 132);
    // An inconsistent report (cache larger than the prompt) never underflows.
    let (_, u) = parse(r#"{"usageMetadata":{"promptTokenCount":3,"cachedContentTokenCount":9}}"#);
    assert_eq!((u.input, u.cache_read), (0, 3));
}

#[test]
fn malformed_responses_are_bad_json() {
    for body in [
        "",
        "[]",
        "{\"candidates\":5}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{}}]}}]}",
        "not json",
    ] {
        assert!(
            matches!(
                parse_response(body.as_bytes(), &META),
                Err(TranslateError::BadJson(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn the_response_is_a_valid_openai_completion() {
    let body = fixture!("response_tools.json");
    let (r, _) = parse_response(body.as_bytes(), &META).unwrap();
    let text = serde_json::to_string(&r).unwrap();
    let back: ChatResponse = serde_json::from_str(&text).unwrap();
    assert_eq!(back.choices.len(), 1);
    assert_eq!(
        back.choices[0].message.tool_calls.as_ref().unwrap().len(),
        2
    );
}
