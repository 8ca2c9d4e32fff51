use serde_json::json;

use super::{bedrock_body, bedrock_text, fixture};
use crate::bedrock::request::tool_use_id;
use crate::bedrock::{path, JsonMode, RequestOptions, ThinkingMode, JSON_TOOL_NAME};
use crate::chat::TranslateError;

fn default_body(v: serde_json::Value) -> serde_json::Value {
    bedrock_body(&v.to_string(), &RequestOptions::default())
}

fn refused(v: serde_json::Value) -> TranslateError {
    bedrock_text(&v.to_string(), &RequestOptions::default()).unwrap_err()
}

#[test]
fn full_request_matches_the_golden_body() {
    let got = bedrock_body(
        fixture!("request_full.openai.json"),
        &RequestOptions::default(),
    );
    let want: serde_json::Value =
        serde_json::from_str(fixture!("request_full.bedrock.json")).unwrap();
    assert_eq!(got, want, "{}", serde_json::to_string_pretty(&got).unwrap());
}

#[test]
fn tool_arguments_are_copied_byte_for_byte() {
    // Numbers serde_json would reformat (1.50, 1e2, a u64 overflow), escapes, key order.
    let args =
        r#"{"z": 1.50, "a": [1e2, 18446744073709551616, {"s": "caf\u00e9 \"q\""}], "n": null}"#;
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
            ]}
        ]
    });
    let out = bedrock_text(&body.to_string(), &RequestOptions::default()).unwrap();
    let want = format!(r#"{{"toolUse":{{"toolUseId":"c1","name":"f","input":{args}}}}}"#);
    assert!(out.contains(&want), "{out}");
}

#[test]
fn malformed_tool_arguments_are_refused() {
    for args in ["{\"a\":", "[1,2]", "\"text\"", "42", "{} {}"] {
        let body = json!({
            "model": "m",
            "messages": [{"role": "assistant", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": args}}
            ]}]
        });
        assert!(
            matches!(refused(body), TranslateError::BadJson(_)),
            "{args}"
        );
    }
}

#[test]
fn path_encodes_the_model_id_as_one_segment() {
    assert_eq!(
        path("anthropic.claude-3-5-sonnet-20240620-v1:0", false),
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(
        path("us.anthropic.claude-3-7-sonnet-20250219-v1:0", true),
        "/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream"
    );
    assert_eq!(
        path(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-2-1b-instruct-v1:0",
            true
        ),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-2-1b-instruct-v1%3A0/converse-stream"
    );
    // Nothing a client sends can add a segment or a query.
    assert_eq!(
        path("a/../b?x=1#f", false),
        "/model/a%2F..%2Fb%3Fx%3D1%23f/converse"
    );
}

#[test]
fn unsupported_inputs_are_refused() {
    let with = |extra: serde_json::Value| {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    assert_eq!(
        refused(with(json!({"n": 2}))),
        TranslateError::Unsupported("n")
    );
    let img = |url: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}
        ]}]})
    };
    for url in [
        "https://example.com/cat.png",
        "data:image/tiff;base64,AAAA",
        "data:image/png,notbase64",
    ] {
        assert_eq!(
            refused(img(url)),
            TranslateError::Unsupported("image_url"),
            "{url}"
        );
    }
    let audio = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    ]}]});
    assert_eq!(
        refused(audio),
        TranslateError::Unsupported("messages[].content[].type")
    );
    let sys_img = json!({"model": "m", "messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ]}]});
    assert_eq!(
        refused(sys_img),
        TranslateError::Unsupported("messages[].content")
    );
    assert_eq!(
        refused(with(json!({"response_format": {"type": "xml"}}))),
        TranslateError::Unsupported("response_format.type")
    );
    let no_id = json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]});
    assert!(matches!(refused(no_id), TranslateError::BadJson(_)));
    // n: 1 is fine.
    assert!(bedrock_text(
        &with(json!({"n": 1})).to_string(),
        &RequestOptions::default()
    )
    .is_ok());
}

#[test]
fn image_formats() {
    for (media, format) in [
        ("image/png", "png"),
        ("image/jpeg", "jpeg"),
        ("image/JPG", "jpeg"),
        ("image/gif", "gif"),
        ("image/webp", "webp"),
    ] {
        let v = default_body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": format!("data:{media};base64,QUJD")}}
            ]}]}),
        );
        assert_eq!(
            v["messages"][0]["content"][0],
            json!({"image": {"format": format, "source": {"bytes": "QUJD"}}})
        );
    }
}

#[test]
fn tool_choice_mapping() {
    let base = |choice: serde_json::Value| {
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": choice})
    };
    let tc = |choice| default_body(base(choice))["toolConfig"].clone();
    assert_eq!(tc(json!("auto"))["toolChoice"], json!({"auto": {}}));
    assert_eq!(tc(json!("required"))["toolChoice"], json!({"any": {}}));
    assert_eq!(
        tc(json!({"type": "function", "function": {"name": "f"}}))["toolChoice"],
        json!({"tool": {"name": "f"}})
    );
    assert_eq!(
        tc(json!(null))["toolChoice"],
        json!(null),
        "absent: Bedrock's default"
    );
    assert_eq!(tc(json!(null))["tools"][0]["toolSpec"]["name"], "f");
    // none, no tool blocks in the history: no toolConfig at all.
    assert_eq!(tc(json!("none")), json!(null));
}

#[test]
fn tool_choice_none_with_tool_history_keeps_tools_without_choice() {
    let v = default_body(json!({"model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "description": "F"}}],
        "tool_choice": "none"}));
    assert_eq!(
        v["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "f", "description": "F",
            "inputSchema": {"json": {"type": "object", "properties": {}}}}}]})
    );
}

#[test]
fn tool_history_without_tools_declares_the_called_tools() {
    let v = default_body(json!({"model": "m",
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            {"id": "c3", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"},
        {"role": "tool", "tool_call_id": "c2", "content": "2"},
        {"role": "tool", "tool_call_id": "c3", "content": "3"},
        {"role": "user", "content": "Summarize."}
    ]}));
    let names: Vec<_> = v["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["toolSpec"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["f", "g"]);
    assert_eq!(
        v["toolConfig"].get("toolChoice"),
        None,
        "a placeholder is never forced"
    );
    // The three results and the user text share one user turn.
    assert_eq!(v["messages"].as_array().unwrap().len(), 3);
    assert_eq!(v["messages"][2]["content"].as_array().unwrap().len(), 4);
}

#[test]
fn tool_results_as_json_when_asked() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "{\"t\": 1.50}"},
        {"role": "tool", "tool_call_id": "c1", "content": "plain"},
        {"role": "tool", "tool_call_id": "c1", "content": ""},
        {"role": "tool", "tool_call_id": "c1", "content": "{broken"}
    ]})
    .to_string();
    let opts = RequestOptions {
        tool_result_json: true,
        ..RequestOptions::default()
    };
    let text = bedrock_text(&body, &opts).unwrap();
    assert!(
        text.contains(r#"{"toolResult":{"toolUseId":"c1","content":[{"json":{"t": 1.50}}]}}"#),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let results = v["messages"][2]["content"].as_array().unwrap();
    assert_eq!(
        results[1]["toolResult"]["content"],
        json!([{"text": "plain"}])
    );
    assert_eq!(results[2]["toolResult"]["content"], json!([]));
    assert_eq!(
        results[3]["toolResult"]["content"],
        json!([{"text": "{broken"}])
    );
    // Default: text.
    let v = bedrock_body(&body, &RequestOptions::default());
    assert_eq!(
        v["messages"][2]["content"][0]["toolResult"]["content"],
        json!([{"text": "{\"t\": 1.50}"}])
    );
}

#[test]
fn foreign_tool_ids_are_rewritten_consistently() {
    assert_eq!(tool_use_id("call_abc-123"), "call_abc-123");
    assert_eq!(tool_use_id("call.1:x"), "call_1_x");
    let long = format!("call_s_0-ts-{}", "Zm9v+/".repeat(30));
    let got = tool_use_id(&long);
    assert_eq!(got.len(), 64);
    assert!(got
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
    // Two long ids with one prefix do not collide.
    let other = format!("{long}x");
    assert_ne!(tool_use_id(&other), got);
    assert!(!tool_use_id("").is_empty());
    // Used the same way in toolUse and toolResult.
    let v = default_body(json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": long, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": long, "content": "ok"}
    ]}));
    assert_eq!(v["messages"][1]["content"][0]["toolUse"]["toolUseId"], *got);
    assert_eq!(
        v["messages"][2]["content"][0]["toolResult"]["toolUseId"],
        *got
    );
}

#[test]
fn json_response_format_as_a_forced_tool() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "number"}}, "required": ["answer"]});
    let v = default_body(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "A", "description": "The answer", "schema": schema}}}),
    );
    assert_eq!(
        v["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": JSON_TOOL_NAME, "description": "The answer",
            "inputSchema": {"json": schema}}}],
            "toolChoice": {"tool": {"name": JSON_TOOL_NAME}}})
    );
    assert_eq!(v.get("outputConfig"), None);
    let v = default_body(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_object"}}),
    );
    assert_eq!(
        v["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        json!({"type": "object"})
    );
    // With the client's own tools it cannot be forced.
    let with_tools = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"}});
    assert_eq!(
        refused(with_tools),
        TranslateError::Unsupported("response_format")
    );
    // "text" is nothing.
    let v = default_body(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "text"}}),
    );
    assert_eq!(v.get("toolConfig"), None);
}

#[test]
fn json_response_format_native() {
    let opts = RequestOptions {
        json_mode: JsonMode::Native,
        ..RequestOptions::default()
    };
    // Raw text: the schema goes as a string, byte for byte (`1.50` stays).
    let body = r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": {"type":"object","x":1.50}}}}"#;
    let v = bedrock_body(body, &opts);
    assert_eq!(
        v["outputConfig"],
        json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {
            "schema": "{\"type\":\"object\",\"x\":1.50}", "name": "A"}}}})
    );
    assert_eq!(
        v["toolConfig"]["tools"][0]["toolSpec"]["name"], "f",
        "client tools stay"
    );
}

#[test]
fn reasoning_effort() {
    let body = |effort: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort})
            .to_string()
    };
    let opts = RequestOptions {
        thinking: ThinkingMode::AnthropicBudget,
        ..RequestOptions::default()
    };
    let v = bedrock_body(&body("medium"), &opts);
    assert_eq!(
        v["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 8192}})
    );
    assert_eq!(
        bedrock_body(&body("none"), &opts).get("additionalModelRequestFields"),
        None
    );
    assert_eq!(
        bedrock_text(&body("extreme"), &opts),
        Err(TranslateError::Unsupported("reasoning_effort"))
    );
    // Dropped by default.
    let v = bedrock_body(&body("high"), &RequestOptions::default());
    assert_eq!(v.get("additionalModelRequestFields"), None);
}

#[test]
fn minimal_request_and_skipped_empties() {
    let v = default_body(json!({"model": "m", "messages": [
        {"role": "system", "content": ""},
        {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "no"}]},
        {"role": "assistant", "content": null}
    ]}));
    assert_eq!(
        v,
        json!({"messages": [
            {"role": "user", "content": [{"text": "hi"}]},
            {"role": "assistant", "content": [{"text": "no"}]}
        ]})
    );
}
