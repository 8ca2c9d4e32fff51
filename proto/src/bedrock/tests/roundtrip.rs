//! Bedrock → OpenAI → Bedrock: the tool calls the model produced come back to it
//! unchanged, byte for byte, through the response and the stream translations.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::stream::{event, reassemble};
use crate::bedrock::{parse_response, write_request, BedrockStream, RequestOptions, ResponseMeta};
use crate::chat::{ChatRequest, StreamTranslator};

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

/// A tool input as JSON text, with spacing serde_json would not produce and numbers it
/// would rewrite (`2.50`, `1e2`).
fn input_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::btree_map("[a-zA-Z_ \"]{1,8}", json_value(), 0..5),
        any::<bool>(),
    )
        .prop_map(|(m, pretty)| {
            let v = Value::Object(m.into_iter().collect());
            let mut s = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                v.to_string()
            };
            // Splice in numbers serde_json would normalize.
            s.insert_str(1, r#" "n": [2.50, 1e2, -0.0, 18446744073709551616],"#);
            if s.ends_with(",}") {
                s.replace_range(s.len() - 2.., "}");
            }
            s
        })
}

/// The `input` of each `toolUse` in a request body written by `write_request`, as text.
fn resent_inputs(body: &str) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct B<'a> {
        #[serde(borrow)]
        messages: Vec<M<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct M<'a> {
        #[serde(borrow)]
        content: Vec<C<'a>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct C<'a> {
        #[serde(default, borrow)]
        tool_use: Option<T<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct T<'a> {
        #[serde(borrow)]
        input: &'a serde_json::value::RawValue,
    }
    let b: B = serde_json::from_str(body).unwrap();
    b.messages
        .iter()
        .flat_map(|m| m.content.iter())
        .filter_map(|c| c.tool_use.as_ref().map(|t| t.input.get().to_owned()))
        .collect()
}

fn resend(message: Value) -> String {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "go"}, message]});
    let body = body.to_string();
    let req: ChatRequest = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    write_request(&req, &RequestOptions::default(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn make_valid(s: &str) -> String {
    // Guard the splice above: fall back to the text without it if it broke the JSON.
    if serde_json::from_str::<&serde_json::value::RawValue>(s).is_ok() {
        s.to_owned()
    } else {
        s.replacen(r#" "n": [2.50, 1e2, -0.0, 18446744073709551616],"#, "", 1)
    }
}

proptest! {
    #[test]
    fn tool_inputs_survive_response_stream_and_request(
        inputs in proptest::collection::vec(input_text(), 1..4),
        cuts in proptest::collection::vec(1usize..7, 1..4),
    ) {
        let inputs: Vec<String> = inputs.iter().map(|s| make_valid(s)).collect();
        // Non-streaming: the raw input JSON in a Converse response.
        let blocks: Vec<String> = inputs
            .iter()
            .enumerate()
            .map(|(i, a)| format!(r#"{{"toolUse":{{"toolUseId":"t{i}","name":"f{i}","input":{a}}}}}"#))
            .collect();
        let body = format!(
            r#"{{"output":{{"message":{{"role":"assistant","content":[{}]}}}},"stopReason":"tool_use","usage":{{"inputTokens":1,"outputTokens":2,"totalTokens":3}}}}"#,
            blocks.join(",")
        );
        let meta = ResponseMeta { id: "c", model: "m", created: 0, json_tool: false };
        let (r, _) = parse_response(body.as_bytes(), &meta).unwrap();
        let message = serde_json::to_value(&r.choices[0].message).unwrap();
        prop_assert_eq!(&resent_inputs(&resend(message)), &inputs);

        // Streaming: the same inputs cut into fragments at char boundaries.
        let mut wire = event("messageStart", &json!({"role": "assistant"}));
        for (i, a) in inputs.iter().enumerate() {
            wire.extend(event("contentBlockStart", &json!({"contentBlockIndex": i,
                "start": {"toolUse": {"toolUseId": format!("t{i}"), "name": format!("f{i}")}}})));
            let chars: Vec<char> = a.chars().collect();
            let mut at = 0;
            let mut k = 0;
            while at < chars.len() {
                let n = cuts[k % cuts.len()].min(chars.len() - at);
                let piece: String = chars[at..at + n].iter().collect();
                wire.extend(event("contentBlockDelta", &json!({"contentBlockIndex": i,
                    "delta": {"toolUse": {"input": piece}}})));
                at += n;
                k += 1;
            }
            wire.extend(event("contentBlockStop", &json!({"contentBlockIndex": i})));
        }
        wire.extend(event("messageStop", &json!({"stopReason": "tool_use"})));
        wire.extend(event("metadata", &json!({"usage": {"inputTokens": 1, "outputTokens": 2}})));
        let mut t = BedrockStream::new("chatcmpl-s", "claude-sonnet", 1_700_000_001, false, false);
        let mut out = Vec::new();
        t.feed(&wire, &mut out).unwrap();
        t.finish(&mut out).unwrap();
        let got = reassemble(&out);
        let message = json!({"role": "assistant", "tool_calls": got.calls.values().map(|(id, name, args)| json!({
            "id": id, "type": "function", "function": {"name": name, "arguments": args}
        })).collect::<Vec<_>>()});
        prop_assert_eq!(&resent_inputs(&resend(message)), &inputs);
    }

    #[test]
    fn random_bytes_never_panic_the_parsers(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let meta = ResponseMeta { id: "c", model: "m", created: 0, json_tool: true };
        let _ = parse_response(&body, &meta);
    }
}
