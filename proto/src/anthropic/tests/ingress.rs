use serde_json::json;

use super::{fixture, json};
use crate::anthropic::types::MessagesRequest;
use crate::anthropic::{to_chat_request, write_response};
use crate::chat::{ChatRequest, ChatResponse, TranslateError, Usage};

fn to_openai(anthropic: &str) -> Result<serde_json::Value, TranslateError> {
    let req: MessagesRequest = serde_json::from_str(anthropic).unwrap();
    let chat: ChatRequest = to_chat_request(req)?;
    Ok(serde_json::to_value(&chat).unwrap())
}

#[test]
fn full_request_matches_the_golden_openai_body() {
    let got = to_openai(fixture!("ingress_request.anthropic.json")).unwrap();
    assert_eq!(got, json(fixture!("ingress_request.openai.json")));
}

#[test]
fn tool_results_keep_their_place_among_user_content() {
    let got = to_openai(
        r#"{"model":"m","max_tokens":5,"messages":[
        {"role":"user","content":[
          {"type":"text","text":"before"},
          {"type":"tool_result","tool_use_id":"a","content":"ra","is_error":true},
          {"type":"tool_result","tool_use_id":"b"},
          {"type":"text","text":"after"}]}]}"#,
    )
    .unwrap();
    assert_eq!(
        got["messages"],
        json!([
            {"role": "user", "content": "before"},
            {"role": "tool", "content": "ra", "tool_call_id": "a"},
            {"role": "tool", "content": "", "tool_call_id": "b"},
            {"role": "user", "content": "after"}
        ])
    );
    assert!(got.get("stream").is_none() && got.get("stream_options").is_none());
    assert_eq!(got["max_tokens"], 5);
}

#[test]
fn tool_choice_and_system_string() {
    for (choice, want) in [
        (r#"{"type":"auto"}"#, json!("auto")),
        (r#"{"type":"any"}"#, json!("required")),
        (r#"{"type":"none"}"#, json!("none")),
        (
            r#"{"type":"tool","name":"f"}"#,
            json!({"type": "function", "function": {"name": "f"}}),
        ),
    ] {
        let got = to_openai(&format!(
            r#"{{"model":"m","max_tokens":5,"system":"Be brief.","messages":[],"tools":[{{"name":"f","input_schema":{{"type":"object"}}}}],"tool_choice":{choice}}}"#
        ))
        .unwrap();
        assert_eq!(got["tool_choice"], want, "{choice}");
        assert!(got.get("parallel_tool_calls").is_none());
        assert_eq!(
            got["messages"],
            json!([{"role": "system", "content": "Be brief."}])
        );
        assert_eq!(
            got["tools"],
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
        );
    }
}

#[test]
fn refused_and_malformed_ingress_requests() {
    for (req, want) in [
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}"#,
            TranslateError::Unsupported("document"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"tools":[{"type":"web_search_20250305","name":"web_search"}]}"#,
            TranslateError::Unsupported("tools"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}"#,
            TranslateError::Unsupported("image source"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"system":[{"type":"image","source":{"type":"url","url":"https://x"}}],"messages":[]}"#,
            TranslateError::Unsupported("system"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}"#,
            TranslateError::BadJson("messages.role user or assistant"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result"}]}]}"#,
            TranslateError::BadJson("tool_use_id on a tool_result block"),
        ),
        (
            r#"{"model":"m","max_tokens":5,"messages":[],"tool_choice":{"type":"tool"}}"#,
            TranslateError::BadJson("name on a tool tool_choice"),
        ),
    ] {
        assert_eq!(to_openai(req).unwrap_err(), want, "{req}");
    }
}

#[test]
fn chat_response_becomes_a_messages_answer() {
    let body = r#"{"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"gpt-4o",
      "choices":[{"index":0,"message":{"role":"assistant","content":"Let me check.","reasoning_content":"Hmm.",
        "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                      {"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
        "finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}}"#;
    let resp: ChatResponse = serde_json::from_str(body).unwrap();
    let mut out = Vec::new();
    let usage = write_response(&resp, &mut out).unwrap();
    assert_eq!(
        usage,
        Usage {
            input: 20,
            output: 30,
            cache_read: 100,
            cache_write: 0,
            reasoning: 0
        }
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "msg_chatcmpl-abc", "type": "message", "role": "assistant", "model": "gpt-4o",
            "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": ""},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 20, "output_tokens": 30,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100}
        })
    );
}

#[test]
fn finish_reasons_map_back_and_ids_keep_their_prefix() {
    for (finish, want) in [
        ("\"stop\"", "end_turn"),
        ("\"length\"", "max_tokens"),
        ("\"content_filter\"", "refusal"),
        ("\"function_call\"", "tool_use"),
        ("null", "end_turn"),
        ("\"weird\"", "end_turn"),
    ] {
        let body = format!(
            r#"{{"id":"msg_1","model":"m","choices":[{{"message":{{"content":"x"}},"finish_reason":{finish}}}]}}"#
        );
        let resp: ChatResponse = serde_json::from_str(&body).unwrap();
        let mut out = Vec::new();
        write_response(&resp, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["stop_reason"], want, "{finish}");
        assert_eq!(v["id"], "msg_1");
        assert_eq!(v["usage"]["input_tokens"], 0);
    }
    let resp: ChatResponse = serde_json::from_str(
        r#"{"id":"x","model":"m","choices":[{"message":{"content":null,"refusal":"I can't."},"finish_reason":"stop"}]}"#,
    )
    .unwrap();
    let mut out = Vec::new();
    write_response(&resp, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": "I can't."}]));
    assert_eq!(v["stop_reason"], "refusal");
}

#[test]
fn invalid_tool_arguments_in_a_response_are_bad_json() {
    let resp: ChatResponse = serde_json::from_str(
        r#"{"id":"x","model":"m","choices":[{"message":{"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]},"finish_reason":"tool_calls"}]}"#,
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        write_response(&resp, &mut out),
        Err(TranslateError::BadJson(_))
    ));
}
