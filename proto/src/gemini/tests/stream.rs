use std::collections::BTreeMap;

use proptest::prelude::*;

use super::fixture;
use crate::chat::{ChatChunk, ErrorKind, FinishReason, StreamTranslator, TranslateError, Usage};
use crate::gemini::GeminiStream;
use crate::sse::Decoder;

fn translator(include_usage: bool) -> GeminiStream {
    GeminiStream::new(
        "chatcmpl-s",
        "gemini-2.5-flash",
        1_700_000_001,
        "s",
        include_usage,
    )
}

/// Feed `input` in the given pieces, then finish.
fn run(
    input: &[u8],
    pieces: &[usize],
    include_usage: bool,
) -> (Vec<u8>, Result<(), TranslateError>, GeminiStream) {
    let mut t = translator(include_usage);
    let mut out = Vec::new();
    let mut at = 0;
    for &len in pieces {
        let end = (at + len).min(input.len());
        if let Err(e) = t.feed(&input[at..end], &mut out) {
            return (out, Err(e), t);
        }
        at = end;
    }
    if let Err(e) = t.feed(&input[at..], &mut out) {
        return (out, Err(e), t);
    }
    let r = t.finish(&mut out);
    (out, r, t)
}

/// Every split in two, and 1-byte pieces, give the same output as one piece.
fn same_at_every_split(input: &[u8], include_usage: bool) -> Vec<u8> {
    let (whole, r, _) = run(input, &[], include_usage);
    for i in 0..=input.len() {
        let (out, r2, _) = run(input, &[i], include_usage);
        assert_eq!(r2, r, "split at {i}");
        assert_eq!(out, whole, "split at {i}");
    }
    let ones = vec![1; input.len()];
    let (out, r2, _) = run(input, &ones, include_usage);
    assert_eq!(r2, r);
    assert_eq!(out, whole, "1-byte pieces");
    whole
}

#[derive(Debug, Default)]
struct Reassembled {
    roles: usize,
    text: String,
    reasoning: String,
    /// index → (id, name, args)
    calls: BTreeMap<u32, (String, String, String)>,
    finish: Option<FinishReason>,
    finishes: usize,
    usage: Option<Usage>,
    done: bool,
    errors: Vec<serde_json::Value>,
}

fn reassemble(out: &[u8]) -> Reassembled {
    let mut dec = Decoder::new(1 << 20);
    dec.push(out).unwrap();
    let mut r = Reassembled::default();
    while let Some(ev) = dec.next_event() {
        assert!(!r.done, "nothing after [DONE]");
        if ev.data == b"[DONE]" {
            r.done = true;
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(ev.data).unwrap();
        if v.get("error").is_some() {
            r.errors.push(v);
            continue;
        }
        let chunk: ChatChunk = serde_json::from_slice(ev.data).unwrap();
        assert_eq!(chunk.id, "chatcmpl-s");
        assert_eq!(chunk.model, "gemini-2.5-flash");
        assert_eq!(chunk.created, 1_700_000_001);
        if let Some(u) = chunk.usage {
            assert!(r.finish.is_some(), "usage comes after the finish chunk");
            r.usage = Some(Usage::from_openai(&u));
        }
        for c in chunk.choices {
            assert!(r.finish.is_none(), "nothing after the finish chunk");
            if c.delta.role.is_some() {
                r.roles += 1;
            }
            r.text.push_str(c.delta.content.as_deref().unwrap_or(""));
            r.reasoning
                .push_str(c.delta.reasoning_content.as_deref().unwrap_or(""));
            for tc in c.delta.tool_calls.unwrap_or_default() {
                let f = tc.function.unwrap_or_default();
                let e = r.calls.entry(tc.index).or_default();
                if let Some(id) = tc.id {
                    assert!(e.0.is_empty(), "one start per call");
                    e.0 = id.into_owned();
                    e.1 = f.name.unwrap_or_default().into_owned();
                }
                e.2.push_str(f.arguments.as_deref().unwrap_or(""));
            }
            if let Some(f) = c.finish_reason {
                r.finish = FinishReason::parse(&f);
                r.finishes += 1;
            }
        }
    }
    r
}

#[test]
fn parallel_calls_reasoning_and_usage_at_every_split() {
    let input = fixture!("stream_tools.sse").as_bytes();
    let out = same_at_every_split(input, true);
    let r = reassemble(&out);
    assert_eq!(r.roles, 1);
    assert_eq!(r.reasoning, "Planning");
    assert_eq!(r.text, "Sure \u{2014} ");
    assert_eq!(r.calls.len(), 2);
    let (id, name, args) = &r.calls[&0];
    assert_eq!(id, "call_s_0-ts-Zm9v-_8");
    assert_eq!(name, "get_weather");
    assert_eq!(
        args, r#"{"city": "Paris \"FR\"","days": 3,"opts": {"a": [1, 2.50, null]}}"#,
        "args exactly as Gemini sent them"
    );
    assert_eq!(
        r.calls[&1],
        ("call_s_1".into(), "get_time".into(), "{}".into())
    );
    assert_eq!((r.finish, r.finishes), (Some(FinishReason::ToolCalls), 1));
    let want = Usage {
        input: 20,
        output: 40,
        cache_read: 30,
        cache_write: 0,
        reasoning: 20,
    };
    assert_eq!(r.usage, Some(want));
    assert!(r.done);
    let (_, _, t) = run(input, &[], true);
    assert_eq!(t.usage(), want);
    assert!(t.error().is_none());
}

#[test]
fn text_stream_with_length_finish_and_no_usage_chunk() {
    let input = fixture!("stream_text.sse").as_bytes();
    let out = same_at_every_split(input, false);
    let r = reassemble(&out);
    assert_eq!(r.text, "Once upon a time\n");
    assert!(r.calls.is_empty());
    assert_eq!(r.finish, Some(FinishReason::Length));
    assert_eq!(r.usage, None, "the client did not ask for usage");
    assert!(r.done);
    let (_, _, t) = run(input, &[], false);
    // The translator still accounts usage for the gateway.
    assert_eq!(
        t.usage(),
        Usage {
            input: 8,
            output: 16,
            ..Usage::default()
        }
    );
}

#[test]
fn an_error_frame_ends_the_stream_at_every_split() {
    let input = fixture!("stream_error.sse").as_bytes();
    let out = same_at_every_split(input, true);
    let r = reassemble(&out);
    assert_eq!(r.text, "Hello", "nothing after the error");
    assert_eq!(r.finish, None);
    assert!(!r.done);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0]["error"]["type"], "server_error");
    assert_eq!(r.errors[0]["error"]["code"], "UNAVAILABLE");
    let (_, res, t) = run(input, &[], true);
    assert_eq!(res, Ok(()));
    let e = t.error().unwrap();
    assert_eq!(e.kind, ErrorKind::Overloaded);
    assert_eq!(
        e.message,
        "The model is overloaded. Please try again later."
    );
}

#[test]
fn a_stream_without_finish_reason_is_truncated() {
    let input = fixture!("stream_tools.sse");
    let cut = input.rfind("data:").unwrap();
    let (out, r, _) = run(&input.as_bytes()[..cut], &[], true);
    assert_eq!(r, Err(TranslateError::Truncated));
    let got = reassemble(&out);
    assert_eq!(got.text, "Sure \u{2014} ");
    assert!(!got.done);
    // Cut inside the last frame: the partial frame is discarded, still truncated.
    let (_, r, _) = run(&input.as_bytes()[..input.len() - 10], &[], true);
    assert_eq!(r, Err(TranslateError::Truncated));
    // Nothing at all.
    assert_eq!(run(b"", &[], true).1, Err(TranslateError::Truncated));
}

#[test]
fn a_blocked_prompt_finishes_with_content_filter() {
    let input = b"data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"},\"usageMetadata\": {\"promptTokenCount\": 4,\"totalTokenCount\": 4}}\n\n";
    let (out, r, _) = run(input, &[], true);
    assert_eq!(r, Ok(()));
    let got = reassemble(&out);
    assert_eq!(got.text, "");
    assert_eq!(got.finish, Some(FinishReason::ContentFilter));
    assert_eq!(got.usage.unwrap().input, 4);
    assert!(got.done);
}

#[test]
fn safety_stop_mid_stream() {
    let input = concat!(
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Step one\"}],\"role\":\"model\"}}]}\n\n",
        "data: {\"candidates\":[{\"finishReason\":\"RECITATION\"}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":2}}\n\n",
        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"late\"}]}}],\"usageMetadata\":{\"promptTokenCount\":3,\"candidatesTokenCount\":5}}\n\n",
    );
    let (out, r, t) = run(input.as_bytes(), &[], true);
    assert_eq!(r, Ok(()));
    let got = reassemble(&out);
    assert_eq!(got.text, "Step one", "parts after the finish are dropped");
    assert_eq!(got.finish, Some(FinishReason::ContentFilter));
    // ... but a later usage report still counts.
    assert_eq!(t.usage().output, 5);
}

#[test]
fn malformed_and_oversized_frames() {
    let (_, r, _) = run(b"data: {not json}\n\n", &[], true);
    assert!(matches!(r, Err(TranslateError::BadJson(_))));
    let (_, r, _) = run(b"data: {\"candidates\": 3}\n\n", &[], true);
    assert!(matches!(r, Err(TranslateError::BadJson(_))));
    let (_, r, _) = run(b"data: {\"error\": 5}\n\n", &[], true);
    assert!(matches!(r, Err(TranslateError::BadJson(_))));
    let mut big = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"".to_vec();
    big.resize(big.len() + crate::gemini::stream::EVENT_BYTES_MAX, b'a');
    let (_, r, _) = run(&big, &[], true);
    assert_eq!(r, Err(TranslateError::TooLarge));
    // Comments, other fields and a stray [DONE] are tolerated.
    let input = b": keep-alive\nevent: message\ndata: [DONE]\n\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},\"finishReason\":\"STOP\"}]}\n\n";
    let (out, r, _) = run(input, &[], false);
    assert_eq!(r, Ok(()));
    assert_eq!(reassemble(&out).text, "x");
}

#[test]
fn finish_twice_writes_once() {
    let mut t = translator(true);
    let mut out = Vec::new();
    t.feed(fixture!("stream_text.sse").as_bytes(), &mut out)
        .unwrap();
    t.finish(&mut out).unwrap();
    let len = out.len();
    t.finish(&mut out).unwrap();
    t.feed(b"data: {}\n\n", &mut out).unwrap();
    assert_eq!(out.len(), len);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let cut = cut.min(input.len());
        let _ = run(&input, &[cut], true);
    }

    #[test]
    fn random_frames_never_panic(texts in proptest::collection::vec("[^\u{0}]{0,12}", 0..6), reason in "[A-Z_]{0,12}") {
        let mut input = String::new();
        for t in &texts {
            let frame = serde_json::json!({"candidates": [{"content": {"parts": [{"text": t}]}}]});
            input.push_str(&format!("data: {frame}\n\n"));
        }
        let frame = serde_json::json!({"candidates": [{"finishReason": reason}]});
        input.push_str(&format!("data: {frame}\n\n"));
        let (out, r, _) = run(input.as_bytes(), &[input.len() / 2], false);
        prop_assert_eq!(r, Ok(()));
        let got = reassemble(&out);
        prop_assert_eq!(got.text, texts.concat());
        prop_assert!(got.done);
    }
}
