use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::sse::Decoder;

/// A stream in the exact shape OpenAI's API sends for `gpt-4o-mini` with
/// `stream_options.include_usage` (field order, `refusal` and `logprobs` nulls, `usage:
/// null` on every chunk, `service_tier`, the usage chunk with empty `choices`), and the
/// `[DONE]` terminator.
const CAPTURED: &[u8] = b"data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}

data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}

data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" \\u00e0 \\\"vous\\\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}

data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" !\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}

data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}

data: {\"id\":\"chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq\",\"object\":\"chat.completion.chunk\",\"created\":1746629142,\"model\":\"gpt-4o-mini-2024-07-18\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_0392822090\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}

data: [DONE]

";

/// The `data` payloads of a stream, as the cache stores them: decoded by the SSE decoder,
/// `[DONE]` left out.
fn payloads(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut dec = Decoder::new(1 << 20);
    dec.push(stream).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = dec.next_event() {
        if ev.data != b"[DONE]" {
            out.push(ev.data.to_vec());
        }
    }
    out
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

fn value(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap()
}

#[test]
fn write_sse_replays_a_captured_stream_byte_for_byte() {
    let stored = payloads(CAPTURED);
    assert_eq!(stored.len(), 6);
    let mut out = Vec::new();
    write_sse(&refs(&stored), &mut out);
    assert_eq!(out, CAPTURED);
}

#[test]
fn write_sse_replays_the_ingress_fixture_byte_for_byte() {
    let captured = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/anthropic/ingress_stream.openai.sse"
    ))
    .unwrap();
    let mut out = Vec::new();
    write_sse(&refs(&payloads(&captured)), &mut out);
    assert_eq!(out, captured);
}

#[test]
fn write_sse_cannot_be_injected_by_a_payload() {
    let mut out = Vec::new();
    write_sse(&[b"a\nevent: x", b""], &mut out);
    assert_eq!(
        out,
        b"data: a\ndata: event: x\n\ndata: \n\ndata: [DONE]\n\n"
    );
}

#[test]
fn captured_stream_assembles_into_a_completion() {
    let body = chunks_to_completion(&refs(&payloads(CAPTURED))).unwrap();
    assert_eq!(
        value(&body),
        json!({
            "id": "chatcmpl-BUpxK1HQ1c6vT3uBsEw3Wf7mO8aZq",
            "object": "chat.completion",
            "created": 1746629142,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Bonjour à \"vous\" !"},
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0}
            },
            "system_fingerprint": "fp_0392822090"
        })
    );
}

#[test]
fn tool_call_stream_assembles() {
    let captured = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/anthropic/ingress_stream.openai.sse"
    ))
    .unwrap();
    let c = value(&chunks_to_completion(&refs(&payloads(&captured))).unwrap());
    let m = &c["choices"][0]["message"];
    assert_eq!(m["content"], "Let me look \"it\" up.");
    assert_eq!(m["reasoning_content"], "Think.");
    assert_eq!(
        m["tool_calls"],
        json!([
            {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ])
    );
    assert_eq!(c["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(c["usage"]["prompt_tokens"], 120);
}

#[test]
fn tool_calls_alone_have_null_content() {
    let w = ChunkWriter::new("c", "m", 1);
    let mut f = Frames {
        buf: Vec::new(),
        out: Vec::new(),
    };
    f.take(|b| w.role(b));
    f.take(|b| w.tool_call_start(b, 0, "id0", "f"));
    f.take(|b| w.tool_call_args(b, 0, "{}"));
    f.take(|b| w.finish(b, FinishReason::ToolCalls));
    let c = value(&chunks_to_completion(&refs(&f.out)).unwrap());
    assert_eq!(c["choices"][0]["message"]["content"], Value::Null);
    // Without usage chunk there is no usage.
    assert!(c.get("usage").is_none());
}

#[test]
fn interleaved_choices_assemble_in_index_order() {
    let chunk = |i: u32, content: &str, finish: Option<&str>| {
        serde_json::to_vec(&json!({
            "id": "x", "object": "chat.completion.chunk", "created": 5, "model": "m",
            "choices": [{"index": i, "delta": {"content": content}, "finish_reason": finish}]
        }))
        .unwrap()
    };
    let stored = [
        chunk(1, "B", None),
        chunk(0, "A", None),
        chunk(1, "b", Some("length")),
        chunk(0, "a", Some("stop")),
    ];
    let c = value(&chunks_to_completion(&refs(&stored)).unwrap());
    assert_eq!(c["choices"][0]["message"]["content"], "Aa");
    assert_eq!(c["choices"][0]["finish_reason"], "stop");
    assert_eq!(c["choices"][1]["index"], 1);
    assert_eq!(c["choices"][1]["message"]["content"], "Bb");
    assert_eq!(c["choices"][1]["finish_reason"], "length");
}

#[test]
fn chunks_errors() {
    assert_eq!(chunks_to_completion(&[]), Err(ReplayError::Empty));
    let ok: &[u8] = br#"{"id":"x","choices":[]}"#;
    assert_eq!(
        chunks_to_completion(&[ok, b"{"]),
        Err(ReplayError::BadChunk(1))
    );
    assert_eq!(
        chunks_to_completion(&[ok, b"[DONE]"]),
        Err(ReplayError::BadChunk(1))
    );
    assert_eq!(
        chunks_to_completion(&[br#"{"choices":7}"#]),
        Err(ReplayError::BadChunk(0))
    );
    assert_eq!(
        chunks_to_completion(&[
            ok,
            br#"{"error":{"message":"overloaded","type":"server_error"}}"#
        ]),
        Err(ReplayError::ErrorChunk(1))
    );
    let many: Vec<Vec<u8>> = (0..=CHOICES_MAX as u32)
        .map(|i| {
            format!(r#"{{"id":"x","choices":[{{"index":{i},"delta":{{"content":"a"}}}}]}}"#)
                .into_bytes()
        })
        .collect();
    assert_eq!(
        chunks_to_completion(&refs(&many)),
        Err(ReplayError::TooMany)
    );
    assert!(chunks_to_completion(&refs(&many[..CHOICES_MAX])).is_ok());
    // A huge wire index sizes nothing.
    let far: &[u8] = br#"{"id":"x","choices":[{"index":4000000000,"delta":{"tool_calls":[{"index":4000000000,"id":"c","function":{"name":"f","arguments":"{}"}}]}}]}"#;
    assert_eq!(
        value(&chunks_to_completion(&[far]).unwrap())["choices"][0]["index"],
        4_000_000_000u64
    );
}

fn completion(
    content: Option<&str>,
    reasoning: Option<&str>,
    calls: &[(&str, &str, &str)],
    usage: bool,
) -> Vec<u8> {
    let mut message = json!({"role": "assistant", "content": content});
    if let Some(r) = reasoning {
        message["reasoning_content"] = json!(r);
    }
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
            .collect();
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    let mut c = json!({
        "id": "chatcmpl-7", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}]
    });
    if usage {
        c["usage"] = json!({
            "prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 4}
        });
    }
    serde_json::to_vec(&c).unwrap()
}

#[test]
fn completion_streams_as_openai_does() {
    let body = completion(Some("Hello, wörld"), None, &[], true);
    let chunks = completion_to_chunks(&body, 5, true).unwrap();
    let mut want = Vec::new();
    let w = ChunkWriter::new("chatcmpl-7", "gpt-4o", 1700000000);
    w.role(&mut want);
    w.content(&mut want, "Hello");
    w.content(&mut want, ", wör");
    w.content(&mut want, "ld");
    w.finish(&mut want, FinishReason::Stop);
    w.usage(
        &mut want,
        &Usage {
            input: 20,
            output: 9,
            cache_read: 10,
            cache_write: 0,
            reasoning: 4,
        },
    );
    ChunkWriter::done(&mut want);
    let mut out = Vec::new();
    write_sse(&refs(&chunks), &mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        String::from_utf8(want).unwrap()
    );
    // Without include_usage, no usage chunk.
    assert_eq!(
        completion_to_chunks(&body, 5, false).unwrap().len(),
        chunks.len() - 1
    );
    // Asked for, but the completion has none: nothing is invented.
    let bare = completion(Some("x"), None, &[], false);
    assert_eq!(completion_to_chunks(&bare, 5, true).unwrap().len(), 3);
}

#[test]
fn completion_errors() {
    assert_eq!(
        completion_to_chunks(b"{", 4, true),
        Err(ReplayError::BadCompletion)
    );
    let mut c = value(&completion(Some("x"), None, &[], false));
    c["choices"][0]["finish_reason"] = json!("weird");
    assert_eq!(
        completion_to_chunks(&serde_json::to_vec(&c).unwrap(), 4, true),
        Err(ReplayError::FinishReason)
    );
    c["choices"][0]["finish_reason"] = Value::Null;
    assert_eq!(
        completion_to_chunks(&serde_json::to_vec(&c).unwrap(), 4, true),
        Err(ReplayError::FinishReason)
    );
    c["choices"][0]["finish_reason"] = json!("stop");
    c["choices"][0]["message"]["refusal"] = json!("no");
    assert_eq!(
        completion_to_chunks(&serde_json::to_vec(&c).unwrap(), 4, true),
        Err(ReplayError::Refusal)
    );
    let two = c["choices"][0].clone();
    c["choices"] = json!([two.clone(), two]);
    assert_eq!(
        completion_to_chunks(&serde_json::to_vec(&c).unwrap(), 4, true),
        Err(ReplayError::ChoiceCount)
    );
    c["choices"] = json!([]);
    assert_eq!(
        completion_to_chunks(&serde_json::to_vec(&c).unwrap(), 4, true),
        Err(ReplayError::ChoiceCount)
    );
}

#[test]
fn pieces_cut_at_characters() {
    assert_eq!(pieces("héllo", 2).collect::<Vec<_>>(), ["hé", "ll", "o"]);
    assert_eq!(pieces("ab", 5).collect::<Vec<_>>(), ["ab"]);
    assert_eq!(pieces("", 3).count(), 0);
    assert_eq!(pieces("😀😀", 1).collect::<Vec<_>>(), ["😀", "😀"]);
}

/// completion → chunks → completion → chunks: the completions are equal as JSON and the
/// chunk lists are equal byte for byte.
fn round_trip(body: &[u8], piece: usize) {
    let chunks = completion_to_chunks(body, piece, true).unwrap();
    let back = chunks_to_completion(&refs(&chunks)).unwrap();
    let (mut want, got) = (value(body), value(&back));
    // A completion parsed and re-serialized states `object` and `usage` in full.
    if want.get("usage").is_none() {
        want.as_object_mut().unwrap().remove("usage");
    }
    assert_eq!(got, want);
    assert_eq!(completion_to_chunks(&back, piece, true).unwrap(), chunks);
}

#[test]
fn round_trips() {
    round_trip(
        &completion(Some("Paris is the capital."), None, &[], true),
        4,
    );
    round_trip(
        &completion(
            Some("Let me check."),
            Some("Think first."),
            &[("call_1", "get_weather", r#"{"city":"Paris"}"#)],
            true,
        ),
        3,
    );
    round_trip(
        &completion(
            None,
            None,
            &[("a", "f", "{}"), ("b", "g", r#"{"q":"\"x\""}"#)],
            false,
        ),
        1,
    );
    round_trip(&completion(Some(""), None, &[], true), 2);
}

proptest! {
    #[test]
    fn round_trips_any_text(
        content in proptest::option::of(".{0,40}"),
        reasoning in proptest::option::of(".{1,20}"),
        calls in proptest::collection::vec(("[a-z0-9_]{1,8}", "[a-z_]{1,8}", ".{0,30}"), 0..3),
        usage in any::<bool>(),
        piece in 1usize..12,
    ) {
        let calls: Vec<(&str, &str, &str)> = calls.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
        // `null` content without tool calls reads back as "" (as OpenAI writes it).
        let content = match content.as_deref() {
            None if calls.is_empty() => Some(""),
            // Empty content next to tool calls reads back as null.
            Some("") if !calls.is_empty() => None,
            c => c,
        };
        round_trip(&completion(content, reasoning.as_deref(), &calls, usage), piece);
    }
}
