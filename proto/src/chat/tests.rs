use std::borrow::Cow;

use super::*;
use crate::sse::Decoder;

const REQUEST: &str = r#"{
  "model": "gpt-4o",
  "messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [
      {"type": "text", "text": "What is in this image?"},
      {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    ]},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "user", "content": "Thanks \u00e9"}
  ],
  "stream": true,
  "stream_options": {"include_usage": true},
  "max_tokens": 100,
  "temperature": 0.2,
  "stop": "END",
  "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
  "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
  "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
  "unknown_member": [1, 2, 3]
}"#;

#[test]
fn parses_a_full_request_borrowing_where_it_can() {
    let req: ChatRequest = serde_json::from_str(REQUEST).unwrap();
    assert!(matches!(req.model, Cow::Borrowed("gpt-4o")));
    assert_eq!(req.messages.len(), 5);
    assert_eq!(req.messages[0].role, Role::System);
    match &req.messages[1].content {
        Some(Content::Parts(parts)) => {
            assert_eq!(parts[0].text.as_deref(), Some("What is in this image?"));
            let img = parts[1].image_url.as_ref().unwrap();
            assert_eq!(img.as_data(), Some(("image/png", "iVBORw0KGgo=")));
            assert_eq!(img.detail.as_deref(), Some("low"));
        }
        other => panic!("expected parts, got {other:?}"),
    }
    assert!(req.messages[2].content.is_none());
    let call = &req.messages[2].tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("call_1"));
    // An escaped string cannot borrow; it is decoded.
    match &req.messages[4].content {
        Some(Content::Text(Cow::Owned(t))) => assert_eq!(t, "Thanks é"),
        other => panic!("expected an owned decoded string, got {other:?}"),
    }
    assert!(req.is_stream() && req.wants_stream_usage());
    assert_eq!(req.max_output_tokens(), Some(100));
    assert_eq!(req.stop.as_deref(), Some(&[Cow::Borrowed("END")][..]));
    let tools = req.tools.as_ref().unwrap();
    assert_eq!(
        tools[0].function.parameters.unwrap().get(),
        r#"{"type": "object", "properties": {"city": {"type": "string"}}}"#
    );
    assert_eq!(
        req.tool_choice,
        Some(ToolChoice::Function(Cow::Borrowed("get_weather")))
    );
    let rf = req.response_format.as_ref().unwrap();
    assert_eq!(rf.kind, "json_schema");
    assert_eq!(
        rf.json_schema.as_ref().unwrap().schema.unwrap().get(),
        r#"{"type": "object"}"#
    );
}

#[test]
fn serializes_back_to_an_equivalent_request() {
    let req: ChatRequest = serde_json::from_str(REQUEST).unwrap();
    let text = serde_json::to_string(&req).unwrap();
    let again: ChatRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&again).unwrap(), text);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["stop"], serde_json::json!(["END"]));
    assert_eq!(
        v["tool_choice"],
        serde_json::json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(v["messages"][4]["content"], "Thanks é");
    assert!(v.get("unknown_member").is_none());
    assert!(v.get("n").is_none(), "absent options stay absent: {text}");
}

#[test]
fn tool_choice_and_stop_forms() {
    for (json, want) in [
        (r#""none""#, ToolChoice::None),
        (r#""auto""#, ToolChoice::Auto),
        (r#""required""#, ToolChoice::Required),
    ] {
        assert_eq!(serde_json::from_str::<ToolChoice>(json).unwrap(), want);
    }
    assert!(serde_json::from_str::<ToolChoice>(r#""sometimes""#).is_err());
    assert!(serde_json::from_str::<ToolChoice>(r#"{"type":"function"}"#).is_err());

    let req: ChatRequest =
        serde_json::from_str(r#"{"model":"m","messages":[],"stop":["a","b"]}"#).unwrap();
    assert_eq!(req.stop.unwrap(), vec!["a", "b"]);
    let req: ChatRequest =
        serde_json::from_str(r#"{"model":"m","messages":[],"stop":null}"#).unwrap();
    assert!(req.stop.is_none());
    assert!(
        serde_json::from_str::<ChatRequest>(r#"{"model":"m","messages":[],"stop":5}"#).is_err()
    );
}

#[test]
fn content_forms_and_joined_text() {
    let m: Message = serde_json::from_str(
        r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}},{"type":"text","text":"b"}]}"#,
    )
    .unwrap();
    let c = m.content.unwrap();
    assert_eq!(c.joined_text(), "ab");
    let m: Message = serde_json::from_str(r#"{"role":"user","content":"plain"}"#).unwrap();
    assert!(matches!(
        m.content.unwrap().joined_text(),
        Cow::Borrowed("plain")
    ));
    assert!(serde_json::from_str::<Message>(r#"{"role":"user","content":5}"#).is_err());
    assert!(serde_json::from_str::<Message>(r#"{"role":"wizard","content":""}"#).is_err());
    let url = ImageUrl {
        url: "https://x/y.png".into(),
        detail: None,
    };
    assert_eq!(url.as_data(), None);
}

#[test]
fn usage_normalizes_openai_cached_tokens() {
    let u: usage::OpenAiUsage = serde_json::from_str(
        r#"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
            "prompt_tokens_details":{"cached_tokens":60,"audio_tokens":0},
            "completion_tokens_details":{"reasoning_tokens":5}}"#,
    )
    .unwrap();
    let n = Usage::from_openai(&u);
    assert_eq!(
        n,
        Usage {
            input: 40,
            output: 20,
            cache_read: 60,
            cache_write: 0,
            reasoning: 5
        }
    );
    assert_eq!(n.to_openai(), u);
    let mut out = Vec::new();
    n.write_openai(&mut out);
    let back: usage::OpenAiUsage = serde_json::from_slice(&out).unwrap();
    assert_eq!(back, u);
    // Details may be null or absent.
    let u: usage::OpenAiUsage = serde_json::from_str(
        r#"{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":null}"#,
    )
    .unwrap();
    assert_eq!(Usage::from_openai(&u).input, 3);
}

/// Frames written by [`ChunkWriter`] decode as SSE and parse as [`ChatChunk`]s that an
/// OpenAI client would reassemble into the intended message.
#[test]
fn chunk_writer_frames_reassemble() {
    let w = ChunkWriter::new("chatcmpl-1", "claude \"x\"", 1_700_000_000);
    let mut out = Vec::new();
    w.role(&mut out);
    w.content(&mut out, "Hel");
    w.content(&mut out, "");
    w.content(&mut out, "lo \"quoted\"\n");
    w.reasoning(&mut out, "thinking");
    w.tool_call_start(&mut out, 0, "toolu_1", "get_weather");
    w.tool_call_args(&mut out, 0, "{\"city\":");
    w.tool_call_args(&mut out, 0, "\"Paris\"}");
    w.finish(&mut out, FinishReason::ToolCalls);
    w.usage(
        &mut out,
        &Usage {
            input: 10,
            output: 5,
            cache_read: 2,
            cache_write: 1,
            reasoning: 0,
        },
    );
    ChunkWriter::done(&mut out);

    let mut dec = Decoder::new(1 << 16);
    dec.push(&out).unwrap();
    let (mut text, mut reasoning, mut args) = (String::new(), String::new(), String::new());
    let (mut name, mut finish, mut usage, mut done, mut frames) = (None, None, None, false, 0);
    while let Some(ev) = dec.next_event() {
        frames += 1;
        if ev.data == b"[DONE]" {
            done = true;
            continue;
        }
        let chunk: ChatChunk = serde_json::from_slice(ev.data).unwrap();
        assert_eq!(chunk.id, "chatcmpl-1");
        assert_eq!(chunk.model, "claude \"x\"");
        assert_eq!(chunk.created, 1_700_000_000);
        if let Some(u) = chunk.usage {
            assert!(chunk.choices.is_empty());
            usage = Some(Usage::from_openai(&u));
        }
        for c in chunk.choices {
            text.push_str(c.delta.content.as_deref().unwrap_or(""));
            reasoning.push_str(c.delta.reasoning_content.as_deref().unwrap_or(""));
            for tc in c.delta.tool_calls.unwrap_or_default() {
                assert_eq!(tc.index, 0);
                let f = tc.function.unwrap_or_default();
                if let Some(n) = f.name {
                    assert_eq!(tc.id.as_deref(), Some("toolu_1"));
                    name = Some(n.into_owned());
                }
                args.push_str(f.arguments.as_deref().unwrap_or(""));
            }
            if let Some(f) = c.finish_reason {
                finish = FinishReason::parse(&f);
            }
        }
    }
    assert_eq!(frames, 10, "the empty content delta writes no frame");
    assert_eq!(text, "Hello \"quoted\"\n");
    assert_eq!(reasoning, "thinking");
    assert_eq!(name.as_deref(), Some("get_weather"));
    assert_eq!(args, r#"{"city":"Paris"}"#);
    assert_eq!(finish, Some(FinishReason::ToolCalls));
    let u = usage.unwrap();
    // cache_write has no OpenAI field: it is folded into prompt_tokens, so it reads
    // back as uncached input.
    assert_eq!((u.input, u.cache_read, u.output), (11, 2, 5));
    assert!(done);
}

#[test]
fn in_stream_error_frame_is_openai_shaped() {
    let mut out = Vec::new();
    ChunkWriter::error(
        &mut out,
        &StreamError {
            kind: ErrorKind::Overloaded,
            code: "overloaded_error".into(),
            message: "Overloaded".into(),
        },
    );
    let body = out.strip_prefix(b"data: ").unwrap();
    let body = body.strip_suffix(b"\n\n").unwrap();
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], "overloaded_error");
    assert_eq!(v["error"]["message"], "Overloaded");
    assert!(ErrorKind::Overloaded.retryable());
    assert!(!ErrorKind::ContextLength.retryable());
    assert_eq!(ErrorKind::Overloaded.anthropic_type(), "overloaded_error");
}
