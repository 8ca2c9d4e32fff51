use proptest::prelude::*;
use serde_json::{json, Value};

use super::{events, every_split, fixture, run_pieces};
use crate::anthropic::MessagesStream;
use crate::chat::{ErrorKind, StreamTranslator, TranslateError, Usage};

fn make() -> MessagesStream {
    MessagesStream::new("chatcmpl-9x", "gpt-4o")
}

/// Check each event's name against its `type` and return the data.
fn anthropic_events(out: &[u8]) -> Vec<Value> {
    events(out)
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(data["type"], name.as_str(), "event name matches its type");
            data
        })
        .collect()
}

fn message_start() -> Value {
    json!({"type": "message_start", "message": {"id": "msg_chatcmpl-9x", "type": "message",
        "role": "assistant", "model": "gpt-4o", "content": [], "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}})
}

fn start(index: u32, block: Value) -> Value {
    json!({"type": "content_block_start", "index": index, "content_block": block})
}

fn delta(index: u32, delta: Value) -> Value {
    json!({"type": "content_block_delta", "index": index, "delta": delta})
}

fn stop(index: u32) -> Value {
    json!({"type": "content_block_stop", "index": index})
}

fn message_delta(reason: &str, input: u64, output: u64, cache_read: u64) -> Value {
    json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null},
        "usage": {"input_tokens": input, "output_tokens": output,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": cache_read}})
}

#[test]
fn reasoning_text_and_two_tool_calls_with_usage_after_finish() {
    let (out, r, t) = every_split(make, fixture!("ingress_stream.openai.sse").as_bytes());
    r.unwrap();
    assert_eq!(
        t.usage(),
        Usage {
            input: 20,
            output: 30,
            cache_read: 100,
            cache_write: 0,
            reasoning: 0
        }
    );
    assert_eq!(
        anthropic_events(&out),
        [
            message_start(),
            start(
                0,
                json!({"type": "thinking", "thinking": "", "signature": ""})
            ),
            delta(0, json!({"type": "thinking_delta", "thinking": "Think."})),
            stop(0),
            start(1, json!({"type": "text", "text": ""})),
            delta(1, json!({"type": "text_delta", "text": "Let me "})),
            delta(1, json!({"type": "text_delta", "text": "look \"it\" up."})),
            stop(1),
            start(
                2,
                json!({"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}})
            ),
            delta(
                2,
                json!({"type": "input_json_delta", "partial_json": "{\"city\":"})
            ),
            delta(
                2,
                json!({"type": "input_json_delta", "partial_json": "\"Paris\"}"})
            ),
            stop(2),
            start(
                3,
                json!({"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}})
            ),
            delta(3, json!({"type": "input_json_delta", "partial_json": "{}"})),
            stop(3),
            message_delta("tool_use", 20, 30, 100),
            json!({"type": "message_stop"}),
        ]
    );
}

fn chunk(choice: &str, usage: Option<&str>) -> String {
    let usage = usage.map(|u| format!(",\"usage\":{u}")).unwrap_or_default();
    format!("data: {{\"id\":\"c\",\"choices\":[{choice}]{usage}}}\n\n")
}

const USAGE: &str = r#"{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}"#;

#[test]
fn usage_in_the_finish_chunk_or_missing() {
    // Usage in the same chunk as the finish reason: message_delta right away.
    let input = chunk(
        r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}"#,
        Some(USAGE),
    );
    let (out, r, _) = run_pieces(make(), &[input.as_bytes()]);
    r.unwrap();
    let ev = anthropic_events(&out);
    assert_eq!(ev[ev.len() - 2], message_delta("end_turn", 7, 2, 0));
    assert_eq!(ev.len(), 6);

    // Usage on every chunk (vLLM's continuous usage): wait for the one after the finish.
    let input = chunk(
        r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":null}"#,
        Some(USAGE),
    ) + &chunk(r#"{"index":0,"delta":{},"finish_reason":"length"}"#, None)
        + &chunk(
            "",
            Some(r#"{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}"#),
        )
        + "data: [DONE]\n\n";
    let (out, r, _) = every_split(make, input.as_bytes());
    r.unwrap();
    let ev = anthropic_events(&out);
    assert_eq!(ev[ev.len() - 2], message_delta("max_tokens", 7, 3, 0));

    // No usage at all: message_delta at [DONE] with zeros.
    let input = chunk(
        r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}"#,
        None,
    ) + "data: [DONE]\n\n";
    let (out, r, _) = run_pieces(make(), &[input.as_bytes()]);
    r.unwrap();
    let ev = anthropic_events(&out);
    assert_eq!(ev[ev.len() - 2], message_delta("end_turn", 0, 0, 0));

    // No [DONE] but a finish reason: `finish` closes the message.
    let input = chunk(
        r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":"content_filter"}"#,
        None,
    );
    let (out, r, _) = run_pieces(make(), &[input.as_bytes()]);
    r.unwrap();
    let ev = anthropic_events(&out);
    assert_eq!(ev[ev.len() - 2], message_delta("refusal", 0, 0, 0));
    assert_eq!(ev[ev.len() - 1], json!({"type": "message_stop"}));
}

#[test]
fn error_frame_becomes_an_error_event() {
    let input = chunk(r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":null}"#, None)
        + "data: {\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\",\"code\":\"rate_limit_exceeded\"}}\n\n"
        + &chunk(r#"{"index":0,"delta":{"content":"ignored"},"finish_reason":"stop"}"#, None);
    let (out, r, t) = every_split(make, input.as_bytes());
    r.unwrap();
    assert_eq!(t.error().unwrap().kind, ErrorKind::RateLimit);
    let ev = anthropic_events(&out);
    assert_eq!(
        *ev.last().unwrap(),
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}})
    );
    assert_eq!(ev.len(), 4, "message_start, block start, delta, error");
}

#[test]
fn truncated_and_malformed_streams() {
    let input = chunk(
        r#"{"index":0,"delta":{"content":"Hi"},"finish_reason":null}"#,
        None,
    );
    let (_, r, _) = every_split(make, input.as_bytes());
    assert_eq!(r, Err(TranslateError::Truncated));
    assert_eq!(run_pieces(make(), &[]).1, Err(TranslateError::Truncated));

    let back = chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g"}}]}}"#,
        None,
    ) + &chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f"}}]}}"#,
        None,
    );
    let (_, r, _) = run_pieces(make(), &[back.as_bytes()]);
    assert!(matches!(r, Err(TranslateError::BadFrame(_))));

    for bad in [
        "data: {\"choices\":5}\n\n",
        "data: nope\n\n",
        "data: [1]\n\n",
    ] {
        let (_, r, _) = run_pieces(make(), &[bad.as_bytes()]);
        assert!(matches!(r, Err(TranslateError::BadJson(_))), "{bad}");
    }
}

#[test]
fn tool_call_without_id_gets_one() {
    let input = chunk(
        r#"{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}"#,
        None,
    ) + "data: [DONE]\n\n";
    let (out, r, _) = run_pieces(make(), &[input.as_bytes()]);
    r.unwrap();
    let ev = anthropic_events(&out);
    assert_eq!(ev[1]["content_block"]["id"], "toolu_chatcmpl-9x_0");
    assert_eq!(ev[ev.len() - 2]["delta"]["stop_reason"], "tool_use");
}

proptest! {
    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let cut = cut.min(input.len());
        let _ = run_pieces(make(), &[&input[..cut], &input[cut..]]);
    }

    #[test]
    fn mutated_fixture_never_panics(pos in 0usize..4000, byte in any::<u8>()) {
        let mut input = fixture!("ingress_stream.openai.sse").as_bytes().to_vec();
        let pos = pos % input.len();
        input[pos] = byte;
        let _ = run_pieces(make(), &[&input]);
    }
}
