//! Gemini → OpenAI → Gemini: what the model produced comes back to it unchanged.

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::chat::{ChatRequest, StreamTranslator};
use crate::gemini::{parse_response, write_request, GeminiStream, RequestOptions, ResponseMeta};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        "[^\u{0}]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_\"\\\\é]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    proptest::collection::btree_map("[a-zA-Z_ \"]{1,8}", json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

/// The `args` of each function call in a Gemini response, as raw text.
fn raw_args(response: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct R<'a> {
        #[serde(borrow)]
        candidates: [C<'a>; 1],
    }
    #[derive(serde::Deserialize)]
    struct C<'a> {
        #[serde(borrow)]
        content: Parts<'a>,
    }
    #[derive(serde::Deserialize)]
    struct Parts<'a> {
        #[serde(borrow)]
        parts: Vec<P<'a>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P<'a> {
        #[serde(borrow)]
        function_call: F<'a>,
    }
    #[derive(serde::Deserialize)]
    struct F<'a> {
        #[serde(borrow)]
        args: &'a RawValue,
    }
    let r: R = serde_json::from_str(response).unwrap();
    let [c] = r.candidates;
    c.content
        .parts
        .iter()
        .map(|p| p.function_call.args.get().to_owned())
        .collect()
}

/// The args, byte for byte, and the names of the calls sent back to Gemini.
fn check_resent(sent: &str, names: usize, args: &[String]) {
    for a in args {
        assert!(
            sent.contains(&format!(r#""args":{a}"#)),
            "{a} not in {sent}"
        );
    }
    let v: Value = serde_json::from_str(sent).unwrap();
    let parts = v["contents"][1]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), names);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["functionCall"]["name"], format!("f{i}"));
    }
}

/// Send an assistant message back to Gemini in the history, as an OpenAI client would.
fn resend(message: Value) -> String {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "go"}, message]});
    let body = body.to_string();
    let req: ChatRequest = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    write_request(&req, &RequestOptions::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

proptest! {
    #[test]
    fn function_call_args_survive_both_ways(
        args in proptest::collection::vec(object(), 1..4),
        pretty in any::<bool>(),
    ) {
        let parts: Vec<Value> = args
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"functionCall": {"name": format!("f{i}"), "args": a}}))
            .collect();
        let resp = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]});
        let text = if pretty {
            serde_json::to_string_pretty(&resp).unwrap()
        } else {
            resp.to_string()
        };
        let meta = ResponseMeta { id: "c", model: "m", created: 0, call_prefix: "x" };
        let (r, _) = parse_response(text.as_bytes(), &meta).unwrap();
        let message = serde_json::to_value(&r.choices[0].message).unwrap();
        let raw = raw_args(&text);
        check_resent(&resend(message), parts.len(), &raw);

        // The same calls streamed in one frame.
        let mut t = GeminiStream::new("c", "m", 0, "x", false);
        let mut out = Vec::new();
        t.feed(format!("data: {}\n\n", resp).as_bytes(), &mut out).unwrap();
        t.finish(&mut out).unwrap();
        let mut calls: Vec<(String, String, String)> = Vec::new();
        for line in out.split(|&b| b == b'\n') {
            let Some(data) = line.strip_prefix(b"data: ") else { continue };
            if data == b"[DONE]" { continue; }
            let v: Value = serde_json::from_slice(data).unwrap();
            for tc in v["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"].as_u64().unwrap() as usize;
                if i == calls.len() {
                    calls.push((tc["id"].as_str().unwrap().into(), tc["function"]["name"].as_str().unwrap().into(), String::new()));
                }
                calls[i].2.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
            }
        }
        let message = json!({"role": "assistant", "tool_calls": calls.iter().map(|(id, name, args)| json!({
            "id": id, "type": "function", "function": {"name": name, "arguments": args}
        })).collect::<Vec<_>>()});
        let raw = raw_args(&resp.to_string());
        check_resent(&resend(message), parts.len(), &raw);
    }

    #[test]
    fn random_bytes_never_panic_the_parsers(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let meta = ResponseMeta { id: "c", model: "m", created: 0, call_prefix: "x" };
        let _ = parse_response(&body, &meta);
        let e = crate::gemini::parse_error(500, &body);
        prop_assert!(!e.message.is_empty());
        let mut out = Vec::new();
        let _ = crate::gemini::write_embeddings_request(&body, "e", &mut out);
        let _ = crate::gemini::write_embeddings_response(&body, "e", crate::gemini::EncodingFormat::Base64, &mut out);
    }
}
