use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::aws::eventstream::{write_message, Header, HeaderValue};
use crate::bedrock::{BedrockStream, JSON_TOOL_NAME};
use crate::chat::{ChatChunk, ErrorKind, FinishReason, StreamTranslator, TranslateError, Usage};
use crate::sse::Decoder;

/// One ConverseStream event, framed as Bedrock frames it.
pub(super) fn event(kind: &str, payload: &Value) -> Vec<u8> {
    let headers = [
        Header {
            name: b":event-type",
            value: HeaderValue::String(kind.as_bytes()),
        },
        Header {
            name: b":content-type",
            value: HeaderValue::String(b"application/json"),
        },
        Header {
            name: b":message-type",
            value: HeaderValue::String(b"event"),
        },
    ];
    let mut out = Vec::new();
    write_message(&headers, payload.to_string().as_bytes(), &mut out);
    out
}

fn exception(kind: &str, payload: &[u8]) -> Vec<u8> {
    let headers = [
        Header {
            name: b":exception-type",
            value: HeaderValue::String(kind.as_bytes()),
        },
        Header {
            name: b":content-type",
            value: HeaderValue::String(b"application/json"),
        },
        Header {
            name: b":message-type",
            value: HeaderValue::String(b"exception"),
        },
    ];
    let mut out = Vec::new();
    write_message(&headers, payload, &mut out);
    out
}

fn delta(index: u32, delta: Value) -> Vec<u8> {
    event(
        "contentBlockDelta",
        &json!({"contentBlockIndex": index, "delta": delta, "p": "abcdefghij"}),
    )
}

fn tool_start(index: u32, id: &str, name: &str) -> Vec<u8> {
    event(
        "contentBlockStart",
        &json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
    )
}

fn stop(index: u32) -> Vec<u8> {
    event("contentBlockStop", &json!({"contentBlockIndex": index}))
}

fn message_stop(reason: &str) -> Vec<u8> {
    event("messageStop", &json!({"stopReason": reason}))
}

fn metadata(usage: Value) -> Vec<u8> {
    event(
        "metadata",
        &json!({"usage": usage, "metrics": {"latencyMs": 812}}),
    )
}

/// Reasoning, text, then two tool calls whose input arrives in fragments.
pub(super) fn tools_stream() -> Vec<u8> {
    [
        event("messageStart", &json!({"role": "assistant"})),
        delta(0, json!({"reasoningContent": {"text": "Weather and "}})),
        delta(0, json!({"reasoningContent": {"text": "time."}})),
        delta(0, json!({"reasoningContent": {"signature": "EqoBCkgIAR"}})),
        stop(0),
        delta(1, json!({"text": "Checking "})),
        delta(1, json!({"text": "\u{2014} "})),
        stop(1),
        tool_start(2, "tooluse_A", "get_weather"),
        delta(2, json!({"toolUse": {"input": ""}})),
        delta(2, json!({"toolUse": {"input": "{\"city\": \"Par"}})),
        delta(
            2,
            json!({"toolUse": {"input": "is \\\"FR\\\"\", \"days\": 3, "}}),
        ),
        delta(
            2,
            json!({"toolUse": {"input": "\"opts\": {\"a\": [1, 2.50, null]}}"}}),
        ),
        stop(2),
        tool_start(3, "tooluse_B", "get_time"),
        delta(3, json!({"toolUse": {"input": "{}"}})),
        stop(3),
        message_stop("tool_use"),
        metadata(
            json!({"inputTokens": 20, "outputTokens": 40, "totalTokens": 1560,
            "cacheReadInputTokens": 1500, "cacheWriteInputTokens": 0}),
        ),
    ]
    .concat()
}

fn text_stream() -> Vec<u8> {
    [
        event("messageStart", &json!({"role": "assistant"})),
        delta(0, json!({"text": "Once upon "})),
        delta(0, json!({"text": "a time\n"})),
        stop(0),
        message_stop("max_tokens"),
        metadata(json!({"inputTokens": 8, "outputTokens": 16, "totalTokens": 24})),
    ]
    .concat()
}

fn translator(include_usage: bool, json_tool: bool) -> BedrockStream {
    BedrockStream::new(
        "chatcmpl-s",
        "claude-sonnet",
        1_700_000_001,
        include_usage,
        json_tool,
    )
}

/// Feed `input` in the given pieces, then finish.
fn run_with(
    mut t: BedrockStream,
    input: &[u8],
    pieces: &[usize],
) -> (Vec<u8>, Result<(), TranslateError>, BedrockStream) {
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

fn run(
    input: &[u8],
    pieces: &[usize],
    include_usage: bool,
) -> (Vec<u8>, Result<(), TranslateError>, BedrockStream) {
    run_with(translator(include_usage, false), input, pieces)
}

/// Every split in two, and 1-byte pieces, give the same output and result as one piece.
fn same_at_every_split(input: &[u8], include_usage: bool, json_tool: bool) -> Vec<u8> {
    let go = |pieces: &[usize]| run_with(translator(include_usage, json_tool), input, pieces);
    let (whole, r, _) = go(&[]);
    for i in 0..=input.len() {
        let (out, r2, _) = go(&[i]);
        assert_eq!(r2, r, "split at {i}");
        assert_eq!(out, whole, "split at {i}");
    }
    let ones = vec![1; input.len()];
    let (out, r2, _) = go(&ones);
    assert_eq!(r2, r, "1-byte pieces");
    assert_eq!(out, whole, "1-byte pieces");
    whole
}

#[derive(Debug, Default)]
pub(super) struct Reassembled {
    pub roles: usize,
    pub text: String,
    pub reasoning: String,
    /// index → (id, name, args)
    pub calls: BTreeMap<u32, (String, String, String)>,
    pub finish: Option<FinishReason>,
    pub finishes: usize,
    pub usage: Option<Usage>,
    pub done: bool,
    pub errors: Vec<Value>,
}

pub(super) fn reassemble(out: &[u8]) -> Reassembled {
    let mut dec = Decoder::new(1 << 20);
    dec.push(out).unwrap();
    let mut r = Reassembled::default();
    while let Some(ev) = dec.next_event() {
        assert!(!r.done, "nothing after [DONE]");
        if ev.data == b"[DONE]" {
            r.done = true;
            continue;
        }
        let v: Value = serde_json::from_slice(ev.data).unwrap();
        if v.get("error").is_some() {
            r.errors.push(v);
            continue;
        }
        let chunk: ChatChunk = serde_json::from_slice(ev.data).unwrap();
        assert_eq!(chunk.id, "chatcmpl-s");
        assert_eq!(chunk.model, "claude-sonnet");
        assert_eq!(chunk.created, 1_700_000_001);
        if let Some(u) = chunk.usage {
            assert!(r.finish.is_some(), "usage comes after the finish chunk");
            r.usage = Some(Usage::from_openai(&u));
        }
        for c in chunk.choices {
            assert!(r.finish.is_none(), "nothing after the finish chunk");
            if c.delta.role.is_some() {
                assert_eq!(r.roles, 0, "one role chunk, first");
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
                } else {
                    assert!(!e.0.is_empty(), "arguments after the start");
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
fn parallel_calls_with_fragments_reasoning_and_cache_usage_at_every_split() {
    let input = tools_stream();
    let out = same_at_every_split(&input, true, false);
    let r = reassemble(&out);
    assert_eq!(r.roles, 1);
    assert_eq!(r.reasoning, "Weather and time.");
    assert_eq!(r.text, "Checking \u{2014} ");
    assert_eq!(r.calls.len(), 2);
    assert_eq!(
        r.calls[&0],
        (
            "tooluse_A".into(),
            "get_weather".into(),
            r#"{"city": "Paris \"FR\"", "days": 3, "opts": {"a": [1, 2.50, null]}}"#.into()
        ),
        "arguments exactly as the fragments concatenate"
    );
    assert_eq!(
        r.calls[&1],
        ("tooluse_B".into(), "get_time".into(), "{}".into())
    );
    assert_eq!((r.finish, r.finishes), (Some(FinishReason::ToolCalls), 1));
    let want = Usage {
        input: 20,
        output: 40,
        cache_read: 1500,
        cache_write: 0,
        reasoning: 0,
    };
    assert_eq!(r.usage, Some(want));
    assert!(r.done);
    let (_, res, t) = run(&input, &[], true);
    assert_eq!(res, Ok(()));
    assert_eq!(t.usage(), want);
    assert!(t.error().is_none());
}

#[test]
fn text_stream_with_length_finish_and_no_usage_chunk() {
    let input = text_stream();
    let out = same_at_every_split(&input, false, false);
    let r = reassemble(&out);
    assert_eq!(r.text, "Once upon a time\n");
    assert!(r.calls.is_empty());
    assert_eq!(r.finish, Some(FinishReason::Length));
    assert_eq!(r.usage, None, "the client did not ask for usage");
    assert!(r.done);
    let (_, _, t) = run(&input, &[], false);
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
fn interleaved_tool_blocks_keep_their_indexes() {
    let input = [
        event("messageStart", &json!({"role": "assistant"})),
        tool_start(0, "a", "f"),
        tool_start(1, "b", "g"),
        delta(1, json!({"toolUse": {"input": "{\"y\":"}})),
        delta(0, json!({"toolUse": {"input": "{\"x\":"}})),
        delta(0, json!({"toolUse": {"input": "1}"}})),
        delta(1, json!({"toolUse": {"input": "2}"}})),
        stop(0),
        stop(1),
        message_stop("tool_use"),
        metadata(json!({"inputTokens": 1, "outputTokens": 2})),
    ]
    .concat();
    let (out, r, _) = run(&input, &[], false);
    assert_eq!(r, Ok(()));
    let got = reassemble(&out);
    assert_eq!(got.calls[&0], ("a".into(), "f".into(), "{\"x\":1}".into()));
    assert_eq!(got.calls[&1], ("b".into(), "g".into(), "{\"y\":2}".into()));
}

#[test]
fn exceptions_mid_stream_at_every_split() {
    let cases: [(&str, ErrorKind, &str); 6] = [
        (
            "throttlingException",
            ErrorKind::RateLimit,
            "ThrottlingException",
        ),
        (
            "modelStreamErrorException",
            ErrorKind::Server,
            "ModelStreamErrorException",
        ),
        (
            "validationException",
            ErrorKind::InvalidRequest,
            "ValidationException",
        ),
        (
            "internalServerException",
            ErrorKind::Server,
            "InternalServerException",
        ),
        (
            "serviceUnavailableException",
            ErrorKind::Overloaded,
            "ServiceUnavailableException",
        ),
        (
            "somethingNewException",
            ErrorKind::Server,
            "SomethingNewException",
        ),
    ];
    for (i, (kind, want_kind, want_code)) in cases.into_iter().enumerate() {
        let payload =
            json!({"message": format!("went wrong \"{kind}\""), "originalStatusCode": 500});
        let input = [
            event("messageStart", &json!({"role": "assistant"})),
            delta(0, json!({"text": "Hello"})),
            exception(kind, payload.to_string().as_bytes()),
            delta(0, json!({"text": " late"})),
            message_stop("end_turn"),
            metadata(json!({"inputTokens": 1, "outputTokens": 2})),
        ]
        .concat();
        let out = if i == 0 {
            same_at_every_split(&input, true, false)
        } else {
            run(&input, &[], true).0
        };
        let r = reassemble(&out);
        assert_eq!(r.text, "Hello", "nothing after the exception");
        assert_eq!(r.finish, None);
        assert!(!r.done);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0]["error"]["code"], want_code);
        assert_eq!(r.errors[0]["error"]["type"], want_kind.openai_type());
        let (_, res, t) = run(&input, &[], true);
        assert_eq!(
            res,
            Ok(()),
            "an in-stream error is not a translation failure"
        );
        let e = t.error().unwrap();
        assert_eq!(e.kind, want_kind, "{kind}");
        assert_eq!(e.message, format!("went wrong \"{kind}\""));
    }
}

#[test]
fn a_context_overflow_exception_and_an_unmodelled_error() {
    let input = [
        event("messageStart", &json!({"role": "assistant"})),
        exception(
            "validationException",
            br#"{"message":"Input is too long for requested model."}"#,
        ),
    ]
    .concat();
    let (out, _, t) = run(&input, &[], false);
    assert_eq!(t.error().unwrap().kind, ErrorKind::ContextLength);
    assert_eq!(
        reassemble(&out).errors[0]["error"]["code"],
        "context_length_exceeded"
    );
    // A payload that is not JSON still yields an error with its text.
    let (_, r, t) = run(&exception("throttlingException", b"slow down"), &[], false);
    assert_eq!(r, Ok(()));
    assert_eq!(t.error().unwrap().message, "slow down");
    // :message-type error with :error-code / :error-message.
    let headers = [
        Header {
            name: b":message-type",
            value: HeaderValue::String(b"error"),
        },
        Header {
            name: b":error-code",
            value: HeaderValue::String(b"InternalFailure"),
        },
        Header {
            name: b":error-message",
            value: HeaderValue::String(b"boom"),
        },
    ];
    let mut input = Vec::new();
    write_message(&headers, b"", &mut input);
    let (out, r, t) = run(&input, &[], false);
    assert_eq!(r, Ok(()));
    let e = t.error().unwrap();
    assert_eq!(
        (e.kind, e.code.as_str(), e.message.as_str()),
        (ErrorKind::Server, "InternalFailure", "boom")
    );
    assert_eq!(reassemble(&out).errors.len(), 1);
}

#[test]
fn truncated_streams() {
    let input = tools_stream();
    let md = metadata(
        json!({"inputTokens": 20, "outputTokens": 40, "totalTokens": 1560,
        "cacheReadInputTokens": 1500, "cacheWriteInputTokens": 0}),
    );
    let before_metadata = input.len() - md.len();
    // After messageStop, before metadata: the finish chunk went out, but no [DONE].
    let (out, r, _) = run(&input[..before_metadata], &[], true);
    assert_eq!(r, Err(TranslateError::Truncated));
    let got = reassemble(&out);
    assert_eq!(got.finish, Some(FinishReason::ToolCalls));
    assert!(!got.done);
    // Every cut inside the stream is truncated, never a panic or another error.
    for cut in 0..input.len() {
        let (_, r, _) = run(&input[..cut], &[], true);
        assert_eq!(r, Err(TranslateError::Truncated), "cut at {cut}");
    }
    // metadata before messageStop does not end the stream.
    let odd = [
        event("messageStart", &json!({"role": "assistant"})),
        metadata(json!({"inputTokens": 1})),
    ]
    .concat();
    assert_eq!(run(&odd, &[], true).1, Err(TranslateError::Truncated));
}

#[test]
fn crc_corruption_is_bad_frame_at_every_split() {
    let input = text_stream();
    let first = event("messageStart", &json!({"role": "assistant"})).len();
    for at in [0, 5, 9, first - 1, first + 20] {
        let mut bad = input.clone();
        bad[at] ^= 0x40;
        let (whole, r, _) = run(&bad, &[], false);
        assert!(
            matches!(r, Err(TranslateError::BadFrame(_))),
            "flip at {at}: {r:?}"
        );
        for i in 0..=bad.len() {
            let (out, r2, _) = run(&bad, &[i], false);
            assert_eq!(r2, r, "flip at {at}, split at {i}");
            assert_eq!(out, whole, "flip at {at}, split at {i}");
        }
    }
    // The corrupt message is the second: the first one's role chunk is already out.
    let mut bad = input.clone();
    bad[first + 20] ^= 1;
    let (out, r, _) = run(&bad, &[], false);
    assert_eq!(
        r,
        Err(TranslateError::BadFrame(
            "event stream message CRC mismatch"
        ))
    );
    assert_eq!(reassemble(&out).roles, 1);
}

#[test]
fn malformed_events() {
    let bad_json = |kind: &str, payload: &[u8]| {
        let headers = [
            Header {
                name: b":event-type",
                value: HeaderValue::String(kind.as_bytes()),
            },
            Header {
                name: b":message-type",
                value: HeaderValue::String(b"event"),
            },
        ];
        let mut out = Vec::new();
        write_message(&headers, payload, &mut out);
        run(&out, &[], false).1
    };
    for kind in [
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ] {
        assert!(
            matches!(bad_json(kind, b"{nope"), Err(TranslateError::BadJson(_))),
            "{kind}"
        );
        assert!(
            matches!(bad_json(kind, b"[]"), Err(TranslateError::BadJson(_))),
            "{kind}"
        );
    }
    assert!(matches!(
        bad_json("messageStop", b"{}"),
        Err(TranslateError::BadJson(_))
    ));
    // Unknown event types are skipped (then the stream is merely truncated).
    assert_eq!(
        bad_json("somethingNew", b"{nope"),
        Err(TranslateError::Truncated)
    );
    // A toolUse delta for a block that never started.
    let input = [
        event("messageStart", &json!({"role": "assistant"})),
        delta(4, json!({"toolUse": {"input": "{}"}})),
    ]
    .concat();
    assert!(matches!(
        run(&input, &[], false).1,
        Err(TranslateError::BadJson(_))
    ));
    // Delta members of the wrong type.
    for d in [
        json!({"text": 5}),
        json!({"reasoningContent": {"text": []}}),
        json!({"toolUse": {}}),
        json!({"toolUse": {"input": {"a": 1}}}),
    ] {
        let input = [
            event("messageStart", &json!({"role": "assistant"})),
            tool_start(0, "t", "f"),
            delta(0, d.clone()),
        ]
        .concat();
        assert!(
            matches!(run(&input, &[], false).1, Err(TranslateError::BadJson(_))),
            "{d}"
        );
    }
    // No :message-type, no :event-type.
    let mut m = Vec::new();
    write_message(&[], b"{}", &mut m);
    assert!(matches!(
        run(&m, &[], false).1,
        Err(TranslateError::BadFrame(_))
    ));
    let mut m = Vec::new();
    write_message(
        &[Header {
            name: b":message-type",
            value: HeaderValue::String(b"event"),
        }],
        b"{}",
        &mut m,
    );
    assert!(matches!(
        run(&m, &[], false).1,
        Err(TranslateError::BadFrame(_))
    ));
}

#[test]
fn too_many_open_tool_blocks() {
    let mut input = event("messageStart", &json!({"role": "assistant"}));
    for i in 0..=crate::bedrock::stream::OPEN_TOOL_BLOCKS_MAX as u32 {
        input.extend(tool_start(i, "t", "f"));
    }
    assert_eq!(run(&input, &[], false).1, Err(TranslateError::TooLarge));
}

#[test]
fn the_forced_json_tool_streams_as_content() {
    let input = [
        event("messageStart", &json!({"role": "assistant"})),
        tool_start(0, "t1", JSON_TOOL_NAME),
        delta(0, json!({"toolUse": {"input": "{\"answer\": "}})),
        delta(0, json!({"toolUse": {"input": "4.0}"}})),
        stop(0),
        message_stop("tool_use"),
        metadata(json!({"inputTokens": 3, "outputTokens": 4})),
    ]
    .concat();
    let out = same_at_every_split(&input, false, true);
    let r = reassemble(&out);
    assert_eq!(r.text, r#"{"answer": 4.0}"#);
    assert!(r.calls.is_empty());
    assert_eq!(r.finish, Some(FinishReason::Stop));
    assert!(r.done);
}

#[test]
fn finish_twice_writes_once_and_later_input_is_ignored() {
    let mut t = translator(true, false);
    let mut out = Vec::new();
    t.feed(&text_stream(), &mut out).unwrap();
    t.finish(&mut out).unwrap();
    let len = out.len();
    t.finish(&mut out).unwrap();
    t.feed(&delta(0, json!({"text": "late"})), &mut out)
        .unwrap();
    t.feed(b"garbage", &mut out).unwrap();
    assert_eq!(out.len(), len);
}

proptest! {
    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), cut in 0usize..512) {
        let cut = cut.min(input.len());
        let (_, r, _) = run(&input, &[cut], true);
        prop_assert!(r.is_err());
    }

    #[test]
    fn random_payloads_never_panic(
        kinds in proptest::collection::vec(0usize..7, 1..8),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 8),
    ) {
        const KINDS: [&str; 7] = ["messageStart", "contentBlockStart", "contentBlockDelta",
            "contentBlockStop", "messageStop", "metadata", "x"];
        let mut input = Vec::new();
        for (k, p) in kinds.iter().zip(&payloads) {
            let headers = [
                Header { name: b":event-type", value: HeaderValue::String(KINDS[*k].as_bytes()) },
                Header { name: b":message-type", value: HeaderValue::String(b"event") },
            ];
            write_message(&headers, p, &mut input);
        }
        let _ = run(&input, &[input.len() / 3], true);
    }

    #[test]
    fn random_text_deltas_concatenate(texts in proptest::collection::vec("[^\u{0}]{0,12}", 0..6), reason in "[a-z_]{0,16}") {
        let mut input = event("messageStart", &json!({"role": "assistant"}));
        for t in &texts {
            input.extend(delta(0, json!({"text": t})));
        }
        input.extend(message_stop(&reason));
        input.extend(metadata(json!({"inputTokens": 1, "outputTokens": 1})));
        let (out, r, _) = run(&input, &[input.len() / 2], false);
        prop_assert_eq!(r, Ok(()));
        let got = reassemble(&out);
        prop_assert_eq!(got.text, texts.concat());
        prop_assert!(got.done);
        prop_assert_eq!(got.finishes, 1);
    }
}
