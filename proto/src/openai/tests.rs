use serde_json::Value;

use super::error::write_error;
use super::synth::*;

fn spec(seed: u64, words: u32, chunks: u32) -> Spec<'static> {
    Spec {
        model: b"gpt-4o-mini",
        seed,
        created: 1_700_000_000,
        prompt_tokens: 12,
        completion_tokens: words,
        chunks,
    }
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Split a stream into its SSE `data:` payloads, checking the framing of each.
fn frames(mut next: impl FnMut(&mut Vec<u8>) -> bool) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    while next(&mut buf) {
        assert!(
            buf.starts_with(b"data: ") && buf.ends_with(b"\n\n"),
            "frame: {:?}",
            String::from_utf8_lossy(&buf)
        );
        let payload = &buf[6..buf.len() - 2];
        assert!(!payload.contains(&b'\n'), "a frame is one line");
        frames.push(payload.to_vec());
        buf.clear();
        assert!(frames.len() < 100_000, "stream never ends");
    }
    assert!(
        !next(&mut buf) && buf.is_empty(),
        "a finished stream writes nothing"
    );
    frames
}

fn chat_text(s: &Spec) -> String {
    let mut out = Vec::new();
    chat_completion(&mut out, s);
    json(&out)["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn words_need_no_json_escaping() {
    for w in WORDS {
        assert!(
            !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()),
            "{w:?}"
        );
    }
}

#[test]
fn error_body_shape_and_escaping() {
    let mut out = Vec::new();
    write_error(
        &mut out,
        "bad \"model\"\n\\ é",
        "invalid_request_error",
        Some("model"),
        None,
    );
    let v = json(&out);
    assert_eq!(v["error"]["message"], "bad \"model\"\n\\ é");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["param"], "model");
    assert!(v["error"]["code"].is_null());
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_eq!(v["error"].as_object().unwrap().len(), 4);

    out.clear();
    write_error(
        &mut out,
        "slow down",
        "requests",
        None,
        Some("rate_limit_exceeded"),
    );
    let v = json(&out);
    assert!(v["error"]["param"].is_null());
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
}

#[test]
fn chat_completion_shape() {
    let s = spec(0xabcdef, 25, 4);
    let mut out = Vec::new();
    chat_completion(&mut out, &s);
    let v = json(&out);
    assert_eq!(v["id"], "chatcmpl-0000000000abcdef");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["created"], 1_700_000_000u64);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["system_fingerprint"].as_str().unwrap().starts_with("fp_"));
    let choice = &v["choices"][0];
    assert_eq!(v["choices"].as_array().unwrap().len(), 1);
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().unwrap();
    assert_eq!(content.split(' ').count(), 25);
    assert!(content.ends_with('.'));
    assert!(content.chars().next().unwrap().is_ascii_uppercase());
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    assert_eq!(v["usage"]["completion_tokens"], 25);
    assert_eq!(v["usage"]["total_tokens"], 37);

    out.clear();
    chat_completion_with(&mut out, &s, FinishReason::Length);
    assert_eq!(json(&out)["choices"][0]["finish_reason"], "length");
}

#[test]
fn model_names_are_escaped() {
    let s = Spec {
        model: b"we\"ird\\model",
        ..spec(1, 3, 1)
    };
    let mut out = Vec::new();
    chat_completion(&mut out, &s);
    assert_eq!(json(&out)["model"], "we\"ird\\model");
}

#[test]
fn output_is_deterministic_in_the_seed() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    chat_completion(&mut a, &spec(7, 40, 1));
    chat_completion(&mut b, &spec(7, 40, 1));
    assert_eq!(a, b);
    assert_ne!(chat_text(&spec(7, 40, 1)), chat_text(&spec(8, 40, 1)));
    // A shorter answer is not a prefix cut of a longer one mid-sentence, but its words are.
    let long = chat_text(&spec(7, 40, 1));
    let short = chat_text(&spec(7, 10, 1));
    let short_words: Vec<&str> = short.split(' ').map(|w| w.trim_end_matches('.')).collect();
    let long_words: Vec<&str> = long
        .split(' ')
        .take(10)
        .map(|w| w.trim_end_matches('.'))
        .collect();
    assert_eq!(short_words, long_words);
}

#[test]
fn zero_words_is_an_empty_answer() {
    assert_eq!(chat_text(&spec(3, 0, 1)), "");
}

#[test]
fn chat_stream_concatenates_to_the_non_streamed_text() {
    for (words, chunks) in [
        (25, 4),
        (25, 1),
        (25, 25),
        (3, 10),
        (0, 2),
        (100, 0),
        (1, 1),
    ] {
        let s = spec(99, words, chunks);
        for include_usage in [false, true] {
            let mut stream = ChatStream::new(s, include_usage);
            let frames = frames(|out| stream.next_frame(out));
            let n = chunks.max(1) as usize;
            assert_eq!(
                frames.len(),
                1 + n + 1 + include_usage as usize + 1,
                "words {words} chunks {chunks}"
            );
            assert_eq!(frames.last().unwrap(), b"[DONE]");
            let chunks_json: Vec<Value> =
                frames[..frames.len() - 1].iter().map(|f| json(f)).collect();
            for c in &chunks_json {
                assert_eq!(c["id"], "chatcmpl-0000000000000063");
                assert_eq!(c["object"], "chat.completion.chunk");
                assert_eq!(c["model"], "gpt-4o-mini");
                assert_eq!(c["created"], 1_700_000_000u64);
                assert_eq!(c.get("usage").is_some(), include_usage);
            }
            assert_eq!(chunks_json[0]["choices"][0]["delta"]["role"], "assistant");
            let text: String = chunks_json[1..=n]
                .iter()
                .map(|c| {
                    assert!(c["choices"][0]["finish_reason"].is_null());
                    c["choices"][0]["delta"]["content"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            assert_eq!(text, chat_text(&s));
            let finish = &chunks_json[n + 1];
            assert_eq!(finish["choices"][0]["finish_reason"], "stop");
            assert!(finish["choices"][0]["delta"]
                .as_object()
                .unwrap()
                .is_empty());
            if include_usage {
                let u = &chunks_json[n + 2];
                assert!(u["choices"].as_array().unwrap().is_empty());
                assert_eq!(u["usage"]["completion_tokens"], words);
                assert_eq!(u["usage"]["total_tokens"], words + 12);
                for c in &chunks_json[..=n + 1] {
                    assert!(c["usage"].is_null());
                }
            }
        }
    }
}

#[test]
fn chat_stream_reports_length() {
    let mut stream = ChatStream::new(spec(1, 5, 2), false).with_finish(FinishReason::Length);
    let frames = frames(|out| stream.next_frame(out));
    assert_eq!(json(&frames[3])["choices"][0]["finish_reason"], "length");
}

#[test]
fn text_completion_and_its_stream() {
    let s = spec(5, 17, 3);
    let mut out = Vec::new();
    text_completion(&mut out, &s);
    let v = json(&out);
    assert_eq!(v["id"], "cmpl-0000000000000005");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 17);
    let text = v["choices"][0]["text"].as_str().unwrap().to_owned();
    assert_eq!(text, chat_text(&s), "the same words as a chat answer");

    let mut stream = CompletionStream::new(s, true);
    let frames = frames(|out| stream.next_frame(out));
    assert_eq!(frames.len(), 3 + 1 + 1 + 1);
    assert_eq!(frames.last().unwrap(), b"[DONE]");
    let chunks: Vec<Value> = frames[..frames.len() - 1].iter().map(|f| json(f)).collect();
    let streamed: String = chunks[..3]
        .iter()
        .map(|c| c["choices"][0]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(streamed, text);
    for c in &chunks {
        assert_eq!(c["object"], "text_completion");
    }
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert!(chunks[4]["choices"].as_array().unwrap().is_empty());
    assert_eq!(chunks[4]["usage"]["prompt_tokens"], 12);
}

#[test]
fn embeddings_are_unit_norm_and_deterministic() {
    let mut out = Vec::new();
    embeddings(&mut out, b"text-embedding-3-small", 3, 256, 42, 9);
    let v = json(&out);
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "text-embedding-3-small");
    assert_eq!(v["usage"]["prompt_tokens"], 9);
    assert_eq!(v["usage"]["total_tokens"], 9);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    let mut vectors = Vec::new();
    for (i, e) in data.iter().enumerate() {
        assert_eq!(e["object"], "embedding");
        assert_eq!(e["index"], i);
        let vec: Vec<f64> = e["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(vec.len(), 256);
        let norm = vec.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        vectors.push(vec);
    }
    assert_ne!(vectors[0], vectors[1]);
    let mut again = Vec::new();
    embeddings(&mut again, b"text-embedding-3-small", 3, 256, 42, 9);
    assert_eq!(out, again);

    out.clear();
    embeddings(&mut out, b"m", 0, 8, 1, 1);
    assert!(json(&out)["data"].as_array().unwrap().is_empty());
    out.clear();
    embeddings(&mut out, b"m", 1, 0, 1, 1);
    assert!(json(&out)["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn models_list_shape() {
    let mut out = Vec::new();
    models_list(&mut out, &[b"gpt-4o", b"demo"], 1_600_000_000, b"sluice");
    let v = json(&out);
    assert_eq!(v["object"], "list");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["id"], "demo");
    assert_eq!(data[1]["object"], "model");
    assert_eq!(data[1]["created"], 1_600_000_000u64);
    assert_eq!(data[1]["owned_by"], "sluice");
    out.clear();
    models_list(&mut out, &[], 0, b"x");
    assert!(json(&out)["data"].as_array().unwrap().is_empty());
}

#[test]
fn prompt_token_estimate_counts_message_text_only() {
    // "Hello there" (11) + "You are helpful." (16) = 27 bytes -> 7 tokens.
    let body = br#"{"model":"gpt-4o-mini-with-a-long-name","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Hello there"}],"temperature":0.5}"#;
    assert_eq!(prompt_tokens_estimate(body), 7);
    // Content parts: only the "text" values count ("type":"text" is a name/value pair
    // whose name is not a text key).
    let parts = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"abcdefgh"}]}]}"#;
    assert_eq!(prompt_tokens_estimate(parts), 2);
    // Legacy and embeddings: prompt / input strings and arrays of strings.
    assert_eq!(
        prompt_tokens_estimate(br#"{"prompt":"abcd","model":"x"}"#),
        1
    );
    assert_eq!(
        prompt_tokens_estimate(br#"{"input":["abcd","efgh", "ij"],"model":"x"}"#),
        3
    );
    // Member names after an array inside an object are names, not values.
    assert_eq!(
        prompt_tokens_estimate(br#"{"input":["abcdabcd"],"content":"x"}"#),
        3
    );
    // Never zero, never an error.
    assert_eq!(prompt_tokens_estimate(b""), 1);
    assert_eq!(
        prompt_tokens_estimate(br#"{"messages":[{"content":"unterminated"#),
        3
    );
    assert_eq!(prompt_tokens_estimate(&[b'['; 1000]), 1);
}

#[test]
fn number_formatting() {
    let mut out = Vec::new();
    for n in [0u64, 7, 10, 12345, u64::MAX] {
        out.clear();
        push_u64(&mut out, n);
        assert_eq!(out, n.to_string().as_bytes());
    }
}
