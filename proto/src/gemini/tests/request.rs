use serde_json::json;

use super::{fixture, gemini_body, gemini_text};
use crate::chat::{ChatRequest, TranslateError};
use crate::gemini::{path, write_request, RequestOptions, SchemaMode, ThinkingMode};

fn translate(openai: &str) -> Result<Vec<u8>, TranslateError> {
    let req: ChatRequest = serde_json::from_str(openai).unwrap();
    let mut out = Vec::new();
    write_request(&req, &RequestOptions::default(), &mut out).map(|()| out)
}

#[test]
fn full_request_matches_the_golden_body() {
    let got = gemini_body(
        fixture!("request_full.openai.json"),
        &RequestOptions::default(),
    );
    let want: serde_json::Value =
        serde_json::from_str(fixture!("request_full.gemini.json")).unwrap();
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
    })
    .to_string();
    let out = gemini_text(&body, &RequestOptions::default());
    let want = format!(r#"{{"functionCall":{{"name":"f","args":{args}}}}}"#);
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
        })
        .to_string();
        assert!(
            matches!(translate(&body), Err(TranslateError::BadJson(_))),
            "{args}"
        );
    }
    // Empty or blank arguments mean "no arguments".
    let body = json!({
        "model": "m",
        "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "  "}}
        ]}]
    })
    .to_string();
    let v = gemini_body(&body, &RequestOptions::default());
    assert_eq!(
        v["contents"][0]["parts"][0]["functionCall"]["args"],
        json!({})
    );
}

#[test]
fn function_response_names_come_from_the_tool_call_ids() {
    // Ids repeat across turns (call_0 in each): the latest call with the id wins.
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": "first", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_0", "content": "[1, 2]"},
            {"role": "assistant", "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": "second", "arguments": "{}"}},
                {"id": "call_1-ts-Zm9v-_8", "type": "function", "function": {"name": "third", "arguments": "{\"x\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1-ts-Zm9v-_8", "content": [{"type": "text", "text": "{\"ok\":"}, {"type": "text", "text": " true}"}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "not json {"},
            {"role": "function", "name": "legacy", "content": "done"}
        ]
    })
    .to_string();
    let v = gemini_body(&body, &RequestOptions::default());
    let c = &v["contents"];
    assert_eq!(c.as_array().unwrap().len(), 5, "{c}");
    assert_eq!(
        c[2]["parts"][0]["functionResponse"],
        json!({"name": "first", "response": {"content": "[1, 2]"}})
    );
    // Both calls of the parallel step, then their results in one user turn.
    assert_eq!(c[3]["role"], "model");
    assert_eq!(c[3]["parts"][0]["functionCall"]["name"], "second");
    assert!(c[3]["parts"][0].get("thoughtSignature").is_none());
    assert_eq!(c[3]["parts"][1]["thoughtSignature"], "Zm9v+/8=");
    let results = c[4]["parts"].as_array().unwrap();
    assert_eq!(c[4]["role"], "user");
    assert_eq!(
        results[0]["functionResponse"],
        json!({"name": "third", "response": {"ok": true}})
    );
    assert_eq!(
        results[1]["functionResponse"],
        json!({"name": "second", "response": {"content": "not json {"}})
    );
    assert_eq!(
        results[2]["functionResponse"],
        json!({"name": "legacy", "response": {"content": "done"}})
    );
}

#[test]
fn an_unknown_tool_call_id_is_refused() {
    let body = r#"{"model":"m","messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}"#;
    assert_eq!(
        translate(body),
        Err(TranslateError::Unsupported("tool_call_id"))
    );
}

#[test]
fn signature_placeholder_goes_on_the_first_unsigned_call_only() {
    let body = json!({
        "model": "m",
        "messages": [{"role": "assistant", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "b", "arguments": "{}"}}
        ]}]
    })
    .to_string();
    let opts = RequestOptions {
        signature_placeholder: true,
        ..RequestOptions::default()
    };
    let v = gemini_body(&body, &opts);
    let parts = &v["contents"][0]["parts"];
    assert_eq!(
        parts[0]["thoughtSignature"],
        crate::gemini::request::SIGNATURE_PLACEHOLDER
    );
    assert!(parts[1].get("thoughtSignature").is_none());
}

#[test]
fn turns_of_one_role_merge_and_system_messages_collect() {
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": ""},
            {"role": "system", "content": "late system"},
            {"role": "user", "content": [{"type": "text", "text": "b"}]},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": "c"},
            {"role": "assistant", "content": [{"type": "text", "text": "d"}]}
        ]
    })
    .to_string();
    let v = gemini_body(&body, &RequestOptions::default());
    assert_eq!(
        v["contents"],
        json!([
            {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
            {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]}
        ])
    );
    assert_eq!(
        v["systemInstruction"],
        json!({"parts": [{"text": "late system"}]})
    );
    assert!(v.get("generationConfig").is_none());
    assert!(v.get("tools").is_none());
}

#[test]
fn images_audio_and_files() {
    let body = json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://x.test/a/b.PNG#frag"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/photo"}},
            {"type": "image_url", "image_url": {"url": "gs://bucket/doc.pdf"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}
        ]}]
    })
    .to_string();
    let v = gemini_body(&body, &RequestOptions::default());
    assert_eq!(
        v["contents"][0]["parts"],
        json!([
            {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/a/b.PNG#frag"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/photo"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/doc.pdf"}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
        ])
    );
    for (part, err) in [
        (
            json!({"type": "file", "file": {"file_id": "file-1"}}),
            "file.file_id",
        ),
        (
            json!({"type": "image_url", "image_url": {"url": "data:text/plain,hello"}}),
            "image_url",
        ),
        (
            json!({"type": "input_audio", "input_audio": {"data": "x", "format": "flac"}}),
            "input_audio.format",
        ),
        (
            json!({"type": "video_url", "video_url": {}}),
            "messages[].content[].type",
        ),
    ] {
        let body =
            json!({"model": "m", "messages": [{"role": "user", "content": [part]}]}).to_string();
        assert_eq!(translate(&body), Err(TranslateError::Unsupported(err)));
    }
    let body = json!({"model": "m", "messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    ]}]})
    .to_string();
    assert!(matches!(
        translate(&body),
        Err(TranslateError::Unsupported(_))
    ));
}

#[test]
fn tool_choice_modes() {
    for (choice, want) in [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "f"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]}),
        ),
    ] {
        let body = json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": choice
        })
        .to_string();
        let v = gemini_body(&body, &RequestOptions::default());
        assert_eq!(v["toolConfig"]["functionCallingConfig"], want);
        assert_eq!(
            v["tools"],
            json!([{"functionDeclarations": [{"name": "f"}]}])
        );
    }
    let body = json!({
        "model": "m", "messages": [],
        "tools": [{"type": "web_search", "function": {"name": "f"}}]
    })
    .to_string();
    assert_eq!(
        translate(&body),
        Err(TranslateError::Unsupported("tools[].type"))
    );
}

#[test]
fn json_schema_modes() {
    let schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"a": {"type": "string", "format": "uuid"}}, "required": ["a"]});
    let body = json!({
        "model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": true, "schema": schema}}
    })
    .to_string();
    let narrowed =
        json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["a"]});
    let v = gemini_body(&body, &RequestOptions::default());
    assert_eq!(
        v["tools"][0]["functionDeclarations"][0]["parameters"],
        narrowed
    );
    assert_eq!(v["generationConfig"]["responseSchema"], narrowed);
    assert_eq!(
        v["generationConfig"]["responseMimeType"],
        "application/json"
    );

    let opts = RequestOptions {
        schema: SchemaMode::JsonSchema,
        ..RequestOptions::default()
    };
    let v = gemini_body(&body, &opts);
    let decl = &v["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["parametersJsonSchema"], schema);
    assert!(decl.get("parameters").is_none());
    assert_eq!(v["generationConfig"]["responseJsonSchema"], schema);
    assert!(v["generationConfig"].get("responseSchema").is_none());

    let body =
        json!({"model": "m", "messages": [], "response_format": {"type": "grammar"}}).to_string();
    assert_eq!(
        translate(&body),
        Err(TranslateError::Unsupported("response_format.type"))
    );
}

#[test]
fn reasoning_effort_budgets_and_levels() {
    for (effort, budget, level, include) in [
        ("none", 0, "minimal", None),
        ("minimal", 512, "minimal", Some(true)),
        ("low", 1024, "low", Some(true)),
        ("medium", 8192, "medium", Some(true)),
        ("high", 24576, "high", Some(true)),
    ] {
        let body = json!({"model": "m", "messages": [], "reasoning_effort": effort}).to_string();
        let v = gemini_body(&body, &RequestOptions::default());
        let t = &v["generationConfig"]["thinkingConfig"];
        assert_eq!(t["thinkingBudget"], budget);
        assert_eq!(t.get("includeThoughts").and_then(|b| b.as_bool()), include);
        let opts = RequestOptions {
            thinking: ThinkingMode::Level,
            ..RequestOptions::default()
        };
        let v = gemini_body(&body, &opts);
        let t = &v["generationConfig"]["thinkingConfig"];
        assert_eq!(t["thinkingLevel"], level);
        assert!(t.get("thinkingBudget").is_none());
    }
    let body = json!({"model": "m", "messages": [], "reasoning_effort": "max"}).to_string();
    assert_eq!(
        translate(&body),
        Err(TranslateError::Unsupported("reasoning_effort"))
    );
}

#[test]
fn candidates_seed_and_stop() {
    let body = r#"{"model":"m","messages":[],"n":2,"seed":4294967297,"stop":"X","max_tokens":9}"#;
    let v = gemini_body(body, &RequestOptions::default());
    assert_eq!(
        v["generationConfig"],
        json!({"maxOutputTokens": 9, "stopSequences": ["X"], "candidateCount": 2, "seed": 1})
    );
    let body = r#"{"model":"m","messages":[],"n":1}"#;
    assert!(gemini_body(body, &RequestOptions::default())
        .get("generationConfig")
        .is_none());
    let body = r#"{"model":"m","messages":[],"n":2,"stream":true}"#;
    assert_eq!(translate(body), Err(TranslateError::Unsupported("n")));
}

#[test]
fn paths() {
    assert_eq!(
        path("gemini-2.5-flash", false),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        path("models/gemini-2.5-pro", true),
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        path("x/../y?key=1 z", false),
        "/v1beta/models/x%2F..%2Fy%3Fkey%3D1%20z:generateContent"
    );
    assert_eq!(
        crate::gemini::embed_path("text-embedding-004"),
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
}
