use serde_json::json;

use super::{fixture, json};
use crate::anthropic::{write_request, RequestMeta, RequestOptions, JSON_TOOL_NAME};
use crate::chat::{ChatRequest, TranslateError};

const MODEL: &str = "claude-sonnet-4-5-20250929";

fn translate(openai: &str) -> Result<(serde_json::Value, RequestMeta), TranslateError> {
    let req: ChatRequest = serde_json::from_str(openai).unwrap();
    let mut out = Vec::new();
    let meta = write_request(&req, MODEL, &RequestOptions::default(), &mut out)?;
    Ok((serde_json::from_slice(&out).unwrap(), meta))
}

fn body(openai: &str) -> serde_json::Value {
    translate(openai).unwrap().0
}

fn err(openai: &str) -> TranslateError {
    translate(openai).unwrap_err()
}

#[test]
fn full_request_matches_the_golden_body() {
    let (got, meta) = translate(fixture!("request_full.openai.json")).unwrap();
    assert_eq!(got, json(fixture!("request_full.anthropic.json")));
    assert!(!meta.json_tool);
}

#[test]
fn tool_arguments_are_written_byte_for_byte() {
    let req: ChatRequest = serde_json::from_str(fixture!("request_full.openai.json")).unwrap();
    let mut out = Vec::new();
    write_request(&req, MODEL, &RequestOptions::default(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(r#""input":{"city": "Paris"}"#), "{text}");
}

#[test]
fn system_is_a_string_when_it_is_one_plain_part() {
    let v = body(
        r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#,
    );
    assert_eq!(v["system"], "Be brief.");
    assert_eq!(v["messages"], json!([{"role": "user", "content": "hi"}]));
    let v = body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#);
    assert!(v.get("system").is_none());
}

#[test]
fn cache_control_markers_pass_through_on_system_and_user_parts() {
    let v = body(
        r#"{"model":"m","messages":[
        {"role":"system","content":[{"type":"text","text":"Big context","cache_control":{"type":"ephemeral"}}]},
        {"role":"user","content":[{"type":"text","text":"Q","cache_control":{"type":"ephemeral","ttl":"1h"}},
          {"type":"image_url","image_url":{"url":"https://x/y.png"},"cache_control":{"type":"ephemeral"}}]}]}"#,
    );
    assert_eq!(
        v["system"],
        json!([{"type": "text", "text": "Big context", "cache_control": {"type": "ephemeral"}}])
    );
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"type": "text", "text": "Q", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
               {"type": "image", "source": {"type": "url", "url": "https://x/y.png"},
                "cache_control": {"type": "ephemeral"}}])
    );
}

#[test]
fn legacy_function_messages_are_tool_results() {
    let v = body(
        r#"{"model":"m","messages":[{"role":"function","name":"f","tool_call_id":"t1","content":"42"}]}"#,
    );
    assert_eq!(
        v["messages"],
        json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}])
    );
}

#[test]
fn same_role_turns_merge_and_tool_results_join_the_next_user_turn() {
    let v = body(
        r#"{"model":"m","messages":[
        {"role":"user","content":"a"},{"role":"user","content":"b"},
        {"role":"assistant","content":"","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"assistant","content":"more"},
        {"role":"tool","tool_call_id":"t1","content":"r"},
        {"role":"user","content":"c"}]}"#,
    );
    assert_eq!(
        v["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                {"type": "text", "text": "more"}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "r"},
                {"type": "text", "text": "c"}]}
        ])
    );
}

#[test]
fn empty_text_and_empty_messages_are_skipped() {
    let v = body(
        r#"{"model":"m","messages":[{"role":"user","content":"q"},
        {"role":"assistant","content":null},{"role":"assistant","content":[{"type":"text","text":""}]},
        {"role":"user","content":"again"}]}"#,
    );
    assert_eq!(
        v["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "text", "text": "again"}]}])
    );
}

#[test]
fn max_tokens_comes_from_the_request_or_the_default() {
    let req: ChatRequest =
        serde_json::from_str(r#"{"model":"m","messages":[{"role":"user","content":"q"}]}"#)
            .unwrap();
    let mut out = Vec::new();
    let opts = RequestOptions {
        max_tokens_default: 777,
    };
    write_request(&req, MODEL, &opts, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["max_tokens"], 777);
    assert_eq!(v["model"], MODEL);
    assert!(v.get("stream").is_none());
    let v = body(r#"{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"q"}]}"#);
    assert_eq!(v["max_tokens"], 9);
    let v = body(r#"{"model":"m","max_tokens":9,"max_completion_tokens":8,"messages":[]}"#);
    assert_eq!(v["max_tokens"], 8);
}

#[test]
fn temperature_is_clamped_to_anthropic_range_and_negative_is_refused() {
    for (t, want) in [(0.0, 0.0), (0.7, 0.7), (1.0, 1.0), (2.0, 1.0)] {
        let v = body(&format!(
            r#"{{"model":"m","temperature":{t},"messages":[]}}"#
        ));
        assert_eq!(v["temperature"], want, "temperature {t}");
    }
    assert_eq!(
        err(r#"{"model":"m","temperature":-0.1,"messages":[]}"#),
        TranslateError::Unsupported("temperature")
    );
}

#[test]
fn refused_parameters() {
    for (req, param) in [
        (r#"{"model":"m","n":2,"messages":[]}"#, "n"),
        (r#"{"model":"m","logprobs":true,"messages":[]}"#, "logprobs"),
        (
            r#"{"model":"m","top_logprobs":3,"messages":[]}"#,
            "logprobs",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}"#,
            "input_audio",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}"#,
            "image_url",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}"#,
            "file",
        ),
        (
            r#"{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
            "system message content",
        ),
        (
            r#"{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"response_format":{"type":"json_object"}}"#,
            "response_format",
        ),
    ] {
        assert_eq!(err(req), TranslateError::Unsupported(param), "{req}");
    }
    // n = 1 is fine.
    body(r#"{"model":"m","n":1,"messages":[]}"#);
}

#[test]
fn malformed_tool_calls_and_results_are_bad_json() {
    for args in [r#"{\"a\":"#, "[1,2]", "\\\"text\\\"", "null"] {
        let req = format!(
            r#"{{"model":"m","messages":[{{"role":"assistant","tool_calls":[{{"id":"t","type":"function","function":{{"name":"f","arguments":"{args}"}}}}]}}]}}"#
        );
        assert!(matches!(err(&req), TranslateError::BadJson(_)), "{args}");
    }
    assert!(matches!(
        err(r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#),
        TranslateError::BadJson(_)
    ));
}

#[test]
fn file_data_becomes_a_document() {
    let v = body(
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}}]}]}"#,
    );
    assert_eq!(
        v["messages"][0]["content"],
        json!([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}])
    );
    // An escaped URL is decoded and still understood.
    let v = body(
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_data":"data:application\/pdf;base64,JVBERi0="}}]}]}"#,
    );
    assert_eq!(
        v["messages"][0]["content"][0]["source"]["media_type"],
        "application/pdf"
    );
}

#[test]
fn tool_choice_forms() {
    let tools =
        r#""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]"#;
    for (extra, want) in [
        (r#""tool_choice":"auto""#, json!({"type": "auto"})),
        (r#""tool_choice":"required""#, json!({"type": "any"})),
        (r#""tool_choice":"none""#, json!({"type": "none"})),
        (
            r#""tool_choice":{"type":"function","function":{"name":"f"}}"#,
            json!({"type": "tool", "name": "f"}),
        ),
        (
            r#""parallel_tool_calls":false"#,
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (
            r#""tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false"#,
            json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}),
        ),
        (
            r#""tool_choice":"none","parallel_tool_calls":false"#,
            json!({"type": "none"}),
        ),
    ] {
        let v = body(&format!(r#"{{"model":"m","messages":[],{tools},{extra}}}"#));
        assert_eq!(v["tool_choice"], want, "{extra}");
        assert_eq!(
            v["tools"],
            json!([{"name": "f", "input_schema": {"type": "object"}}])
        );
    }
    let v = body(r#"{"model":"m","messages":[],"tool_choice":"auto","parallel_tool_calls":true}"#);
    assert!(v.get("tool_choice").is_none(), "no tools, no tool_choice");
    let v = body(&format!(
        r#"{{"model":"m","messages":[],{tools},"parallel_tool_calls":true}}"#
    ));
    assert!(v.get("tool_choice").is_none());
}

#[test]
fn response_format_becomes_a_forced_tool() {
    let (v, meta) = translate(
        r#"{"model":"m","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"w","description":"Weather","schema":{"type":"object","properties":{"t":{"type":"number"}}}}}}"#,
    )
    .unwrap();
    assert!(meta.json_tool);
    assert_eq!(
        v["tools"],
        json!([{"name": JSON_TOOL_NAME, "description": "Weather",
                "input_schema": {"type": "object", "properties": {"t": {"type": "number"}}}}])
    );
    assert_eq!(
        v["tool_choice"],
        json!({"type": "tool", "name": JSON_TOOL_NAME})
    );

    let (v, meta) =
        translate(r#"{"model":"m","messages":[],"response_format":{"type":"json_object"}}"#)
            .unwrap();
    assert!(meta.json_tool);
    assert_eq!(v["tools"][0]["input_schema"], json!({"type": "object"}));

    let (v, meta) =
        translate(r#"{"model":"m","messages":[],"response_format":{"type":"text"}}"#).unwrap();
    assert!(!meta.json_tool);
    assert!(v.get("tools").is_none());
}

#[test]
fn dropped_parameters_do_not_appear() {
    let v = body(
        r#"{"model":"m","messages":[],"seed":1,"frequency_penalty":1,"presence_penalty":1,"logit_bias":{"1":2},"reasoning_effort":"high","metadata":{"a":"b"},"stream":false,"stop":[]}"#,
    );
    assert_eq!(
        v,
        json!({"model": MODEL, "max_tokens": 4096, "messages": []})
    );
}
