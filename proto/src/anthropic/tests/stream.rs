use proptest::prelude::*;
use serde_json::{json, Value};

use super::{events, every_split, fixture, run_pieces};
use crate::anthropic::{AnthropicStream, JSON_TOOL_NAME};
use crate::chat::{ErrorKind, StreamTranslator, TranslateError, Usage};

fn make(include_usage: bool) -> impl Fn() -> AnthropicStream {
    move || {
        AnthropicStream::new(
            "chatcmpl-1",
            "claude-sonnet",
            1_700_000_000,
            include_usage,
            false,
        )
    }
}

/// The `choices[0]` of every chunk (or the whole frame for usage, errors, `[DONE]`).
fn choices(out: &[u8]) -> Vec<Value> {
    events(out)
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(name, "", "OpenAI frames have no event name");
            if let Some(c) = data.get("choices").and_then(|c| c.get(0)) {
                assert_eq!(data["id"], "chatcmpl-1");
                assert_eq!(data["object"], "chat.completion.chunk");
                assert_eq!(data["model"], "claude-sonnet");
                assert_eq!(data["created"], 1_700_000_000);
                c.clone()
            } else {
                data
            }
        })
        .collect()
}

fn delta(v: Value) -> Value {
    json!({"index": 0, "delta": v, "finish_reason": null})
}

fn finish(reason: &str) -> Value {
    json!({"index": 0, "delta": {}, "finish_reason": reason})
}

#[test]
fn text_stream_with_cache_usage() {
    let (out, r, t) = every_split(make(true), fixture!("stream_text.sse").as_bytes());
    r.unwrap();
    let usage = Usage {
        input: 25,
        output: 15,
        cache_read: 1000,
        cache_write: 10,
        reasoning: 0,
    };
    assert_eq!(t.usage(), usage);
    assert!(t.error().is_none());
    let frames = choices(&out);
    assert_eq!(
        frames[..4],
        [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "Hello"})),
            delta(json!({"content": " wörld \"quoted\"\n"})),
            finish("stop"),
        ]
    );
    assert_eq!(frames[4]["choices"], json!([]));
    assert_eq!(
        frames[4]["usage"],
        json!({"prompt_tokens": 1035, "completion_tokens": 15, "total_tokens": 1050,
               "prompt_tokens_details": {"cached_tokens": 1000},
               "completion_tokens_details": {"reasoning_tokens": 0}})
    );
    assert_eq!(frames[5], "[DONE]");
    assert_eq!(frames.len(), 6);
}

#[test]
fn usage_chunk_only_when_asked() {
    let (out, r, t) = run_pieces(make(false)(), &[fixture!("stream_text.sse").as_bytes()]);
    r.unwrap();
    let frames = choices(&out);
    assert_eq!(frames.len(), 5);
    assert_eq!(frames[3], finish("stop"));
    assert_eq!(frames[4], "[DONE]");
    assert_eq!(
        t.usage().output,
        15,
        "usage is kept for the gateway either way"
    );
}

#[test]
fn thinking_text_and_tool_calls_with_openai_indices() {
    let (out, r, t) = every_split(make(true), fixture!("stream_tools.sse").as_bytes());
    r.unwrap();
    assert_eq!((t.usage().input, t.usage().output), (472, 89));
    let frames = choices(&out);
    assert_eq!(
        frames[..8],
        [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"reasoning_content": "Need the weather."})),
            delta(json!({"content": "Checking."})),
            // Anthropic's block 2 is the first tool call: OpenAI index 0.
            delta(
                json!({"tool_calls": [{"index": 0, "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                "type": "function", "function": {"name": "get_weather", "arguments": ""}}]})
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"location\": \"San Fra"}}]})
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "ncisco, CA\"}"}}]})
            ),
            delta(json!({"tool_calls": [{"index": 1, "id": "toolu_02",
                "type": "function", "function": {"name": "get_time", "arguments": ""}}]})),
            delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})),
        ]
    );
    assert_eq!(frames[8], finish("tool_calls"));
    assert!(frames[9].get("usage").is_some());
    assert_eq!(frames[10], "[DONE]");
    assert_eq!(frames.len(), 11);
}

#[test]
fn json_tool_stream_is_text() {
    let input = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_1\",\"usage\":{{\"input_tokens\":3,\"output_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"{JSON_TOOL_NAME}\",\"input\":{{}}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{\\\"t\\\":\"}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"1}}\"}}}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"tool_use\"}},\"usage\":{{\"output_tokens\":5}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let make = || AnthropicStream::new("chatcmpl-1", "claude-sonnet", 1_700_000_000, false, true);
    let (out, r, _) = every_split(make, input.as_bytes());
    r.unwrap();
    assert_eq!(
        choices(&out),
        [
            delta(json!({"role": "assistant", "content": ""})),
            delta(json!({"content": "{\"t\":"})),
            delta(json!({"content": "1}"})),
            finish("stop"),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn error_event_is_reported_and_ends_the_stream() {
    let (out, r, t) = every_split(make(true), fixture!("stream_error.sse").as_bytes());
    r.unwrap();
    let e = t.error().unwrap();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert_eq!(e.code, "overloaded_error");
    assert_eq!(e.message, "Overloaded");
    let frames = choices(&out);
    assert_eq!(frames[1], delta(json!({"content": "Hi"})));
    assert_eq!(
        frames[2],
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded_error"}})
    );
    assert_eq!(frames.len(), 3, "nothing after the error, no [DONE]");
}

#[test]
fn error_kinds_in_stream() {
    for (kind, want) in [
        ("rate_limit_error", ErrorKind::RateLimit),
        ("api_error", ErrorKind::Server),
        ("invalid_request_error", ErrorKind::InvalidRequest),
        ("mystery_error", ErrorKind::Server),
    ] {
        let input = format!(
            "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{kind}\",\"message\":\"m\"}}}}\n\n"
        );
        let (_, r, t) = run_pieces(make(false)(), &[input.as_bytes()]);
        r.unwrap();
        assert_eq!(t.error().unwrap().kind, want, "{kind}");
    }
}

#[test]
fn a_stream_without_message_stop_is_truncated() {
    let full = fixture!("stream_text.sse");
    let cut = &full[..full.find("event: message_stop").unwrap()];
    let (out, r, _) = every_split(make(true), cut.as_bytes());
    assert_eq!(r, Err(TranslateError::Truncated));
    let frames = choices(&out);
    assert_eq!(*frames.last().unwrap(), finish("stop"));
    assert!(!frames.contains(&json!("[DONE]")));
    assert_eq!(
        run_pieces(make(true)(), &[]).1,
        Err(TranslateError::Truncated)
    );
}

#[test]
fn unknown_events_and_pings_are_ignored_and_after_stop_nothing_is_read() {
    let input = "event: ping\ndata: {\"type\":\"ping\"}\n\n\
                 event: future\ndata: {\"type\":\"future_event\",\"x\":[1]}\n\n\
                 event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n\
                 data: not json at all\n\n";
    let (out, r, _) = run_pieces(make(false)(), &[input.as_bytes()]);
    r.unwrap();
    assert_eq!(
        choices(&out),
        [
            delta(json!({"role": "assistant", "content": ""})),
            finish("stop"),
            json!("[DONE]")
        ]
    );
}

#[test]
fn malformed_streams_are_errors() {
    for (input, want) in [
        ("data: {\"type\":\n\n", TranslateError::BadJson("an Anthropic stream event")),
        ("data: [1]\n\n", TranslateError::BadJson("an Anthropic stream event")),
        (
            "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
            TranslateError::BadFrame("a delta for a content block never started"),
        ),
        (
            "data: {\"type\":\"content_block_start\",\"index\":99999,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
            TranslateError::TooLarge,
        ),
        ("data: {\"type\":\"content_block_start\"}\n\n", TranslateError::BadJson("an Anthropic stream event")),
    ] {
        let (_, r, _) = run_pieces(make(true)(), &[input.as_bytes()]);
        assert_eq!(r, Err(want), "{input}");
    }
    let mut big = b"data: ".to_vec();
    big.resize(crate::anthropic::stream::EVENT_BYTES_MAX + 10, b'x');
    let (_, r, _) = run_pieces(make(true)(), &[&big]);
    assert_eq!(r, Err(TranslateError::TooLarge));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let cut = cut.min(input.len());
        let _ = run_pieces(make(true)(), &[&input[..cut], &input[cut..]]);
    }

    #[test]
    fn mutated_fixture_never_panics(pos in 0usize..4000, byte in any::<u8>()) {
        let mut input = fixture!("stream_tools.sse").as_bytes().to_vec();
        let pos = pos % input.len();
        input[pos] = byte;
        let _ = run_pieces(make(true)(), &[&input]);
    }
}
