use proptest::prelude::*;
use tiktoken_rs::{num_tokens_from_messages, ChatCompletionRequestMessage, FunctionCall};

use super::*;

fn tok(family: Family, s: &str) -> u64 {
    let mut t = Tally { family, tokens: 0 };
    t.text(s);
    t.tokens
}

fn est(shape: Shape, family: Family, body: &str) -> Estimate {
    estimate(shape, family, body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The cookbook's example conversation ("How to count tokens with tiktoken").
const COOKBOOK: &[(&str, Option<&str>, &str)] = &[
    ("system", None, "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."),
    ("system", Some("example_user"), "New synergies will help drive top-line growth."),
    ("system", Some("example_assistant"), "Things working well together will increase revenue."),
    ("system", Some("example_user"), "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."),
    ("system", Some("example_assistant"), "Let's talk later when we're less busy about how to do better."),
    ("user", None, "This late pivot means we don't have time to boil the ocean for the client deliverable."),
];

fn cookbook_body() -> String {
    let messages: Vec<serde_json::Value> = COOKBOOK
        .iter()
        .map(|(role, name, content)| {
            let mut m = serde_json::json!({ "role": role, "content": content });
            if let Some(n) = name {
                m["name"] = (*n).into();
            }
            m
        })
        .collect();
    serde_json::json!({ "model": "gpt-4o", "messages": messages, "max_tokens": 64 }).to_string()
}

#[test]
fn cookbook_example_matches_openais_published_counts() {
    // The cookbook prints 129 for gpt-4 / gpt-3.5-turbo-0613 and 124 for gpt-4o.
    let body = cookbook_body();
    assert_eq!(est(Shape::Chat, Family::Cl100k, &body).prompt, 129);
    assert_eq!(est(Shape::Chat, Family::O200k, &body).prompt, 124);
}

#[test]
fn function_calls_match_tiktoken_rs_reference() {
    // tiktoken-rs validated this conversation against the API (its issue #40): 78 tokens.
    let body = r#"{"model":"gpt-4-0613","messages":[
        {"role":"system","content":"You are a friendly chatbot.\n"},
        {"role":"assistant","content":"Hello, I am a friendly chatbot!\n"},
        {"role":"user","content":"What is the weather in New York?"},
        {"role":"assistant","content":"","function_call":{"name":"get_weather","arguments":"{\n  \"city\": \"New York\"\n}"}},
        {"role":"function","name":"get_weather","content":"{\"temperature\": 72, \"conditions\": \"partly_cloudy\"}"}
    ]}"#;
    assert_eq!(est(Shape::Chat, Family::Cl100k, body).prompt, 78);

    // Tool calls: same per-call rule as tiktoken-rs's reference implementation.
    let body = r#"{"model":"gpt-4o","messages":[
        {"role":"user","content":"Weather in Paris?"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
            "function":{"name":"get_weather","arguments":"{\"city\": \"Paris\"}"}}]}
    ]}"#;
    let reference = num_tokens_from_messages(
        "gpt-4o",
        &[
            ChatCompletionRequestMessage {
                role: "user".into(),
                content: Some("Weather in Paris?".into()),
                ..Default::default()
            },
            ChatCompletionRequestMessage {
                role: "assistant".into(),
                tool_calls: vec![FunctionCall {
                    name: "get_weather".into(),
                    arguments: r#"{"city": "Paris"}"#.into(),
                }],
                ..Default::default()
            },
        ],
    )
    .unwrap();
    assert_eq!(
        est(Shape::Chat, Family::O200k, body).prompt,
        reference as u64
    );
}

#[test]
fn text_parts_tools_and_escapes_count() {
    let f = Family::O200k;
    // An array of text parts counts each part's text; escapes are decoded first.
    let body = r#"{"messages":[{"role":"user","content":[
        {"type":"text","text":"Say \"hi\"\n"},{"type":"text","text":"twice."}]}],
        "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}"#;
    let tool = r#"{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}"#;
    let expected = TOKENS_PER_MESSAGE
        + tok(f, "user")
        + tok(f, "Say \"hi\"\n")
        + tok(f, "twice.")
        + REPLY_PRIMING
        + tok(f, tool);
    assert_eq!(est(Shape::Chat, f, body).prompt, expected);
}

#[test]
fn images_count_a_fixed_allowance_and_their_bytes_are_not_tokenized() {
    let small = r#"{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},
        {"type":"image_url","image_url":{"url":"https://x.test/a.png","detail":"high"}}]}]}"#;
    let data = "QUJD".repeat(50_000);
    let big = small.replace(
        "https://x.test/a.png",
        &format!("data:image/png;base64,{data}"),
    );
    let f = Family::O200k;
    let expected = TOKENS_PER_MESSAGE
        + tok(f, "user")
        + tok(f, "What is this?")
        + IMAGE_TOKENS
        + REPLY_PRIMING;
    assert_eq!(est(Shape::Chat, f, small).prompt, expected);
    assert_eq!(est(Shape::Chat, f, &big).prompt, expected);
    // Anthropic image blocks and Responses input_image parts: the same allowance.
    let anthropic = format!(
        r#"{{"max_tokens":10,"messages":[{{"role":"user","content":[{{"type":"image",
        "source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}}]}}]}}"#
    );
    assert_eq!(
        est(Shape::Messages, f, &anthropic).prompt,
        TOKENS_PER_MESSAGE + tok(f, "user") + IMAGE_TOKENS + REPLY_PRIMING
    );
    let responses = r#"{"input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x.test/a.png"}]}]}"#;
    assert_eq!(
        est(Shape::Responses, f, responses).prompt,
        TOKENS_PER_MESSAGE + tok(f, "user") + IMAGE_TOKENS + REPLY_PRIMING
    );
}

#[test]
fn attachments_count_at_least_the_image_allowance_and_grow_with_inline_data() {
    let f = Family::O200k;
    let file = |data: &str| {
        format!(
            r#"{{"messages":[{{"role":"user","content":[{{"type":"file","file":{{"file_data":"{data}"}}}}]}}]}}"#
        )
    };
    let base = TOKENS_PER_MESSAGE + tok(f, "user") + REPLY_PRIMING;
    assert_eq!(
        est(Shape::Chat, f, &file("AAAA")).prompt,
        base + IMAGE_TOKENS
    );
    let big = "A".repeat(40_000);
    let raw_len = format!(r#"{{"file_data":"{big}"}}"#).len() as u64;
    assert_eq!(
        est(Shape::Chat, f, &file(&big)).prompt,
        base + raw_len.div_ceil(ATTACHMENT_BYTES_PER_TOKEN)
    );
}

#[test]
fn completions_prompt_forms() {
    let f = Family::Cl100k;
    let s = "Once upon a time";
    let one = format!(r#"{{"prompt":"{s}","max_tokens":7}}"#);
    assert_eq!(
        est(Shape::Completions, f, &one),
        Estimate {
            prompt: tok(f, s),
            max_output: Some(7)
        }
    );
    let many = format!(r#"{{"prompt":["{s}","{s}"],"suffix":"The end."}}"#);
    assert_eq!(
        est(Shape::Completions, f, &many),
        Estimate {
            prompt: 2 * tok(f, s) + tok(f, "The end."),
            max_output: None
        }
    );
    // Token ids: one tokenized prompt, or several.
    assert_eq!(
        est(Shape::Completions, f, r#"{"prompt":[1,2,3]}"#).prompt,
        3
    );
    assert_eq!(
        est(Shape::Completions, f, r#"{"prompt":[[1,2,3],[4,5]]}"#).prompt,
        5
    );
}

#[test]
fn embeddings_inputs_and_no_output() {
    let f = Family::Cl100k;
    let body =
        r#"{"model":"text-embedding-3-small","input":["The food was delicious","and the waiter"]}"#;
    assert_eq!(
        est(Shape::Embeddings, f, body),
        Estimate {
            prompt: tok(f, "The food was delicious") + tok(f, "and the waiter"),
            max_output: Some(0)
        }
    );
    assert_eq!(
        est(Shape::Embeddings, f, r#"{"input":[[10,20],[30]]}"#).prompt,
        3
    );
    assert_eq!(
        est(Shape::Embeddings, f, r#"{"input":"hello"}"#).prompt,
        tok(f, "hello")
    );
}

#[test]
fn anthropic_messages_system_blocks_tool_use_and_results() {
    let f = Family::O200k;
    let body = r#"{"model":"claude-sonnet-4-5","max_tokens":1024,
        "system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
        "tools":[{"name":"get_weather","input_schema":{"type":"object"}}],
        "messages":[
          {"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"Use the tool.","signature":"sig"},
             {"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"Sunny"}]}]}
        ]}"#;
    let expected = TOKENS_PER_MESSAGE
        + tok(f, "Be brief.")
        + TOKENS_PER_MESSAGE
        + tok(f, "user")
        + tok(f, "Weather in Paris?")
        + TOKENS_PER_MESSAGE
        + tok(f, "assistant")
        + tok(f, "Use the tool.")
        + tok(f, "get_weather")
        + tok(f, r#"{"city":"Paris"}"#)
        + TOOL_CALL_OVERHEAD
        + TOKENS_PER_MESSAGE
        + tok(f, "user")
        + tok(f, "Sunny")
        + REPLY_PRIMING
        + tok(
            f,
            r#"{"name":"get_weather","input_schema":{"type":"object"}}"#,
        );
    assert_eq!(
        est(Shape::Messages, f, body),
        Estimate {
            prompt: expected,
            max_output: Some(1024)
        }
    );
    // A plain-string system prompt counts the same as one text block.
    let plain = body.replace(
        r#"[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}]"#,
        r#""Be brief.""#,
    );
    assert_eq!(est(Shape::Messages, f, &plain).prompt, expected);
}

#[test]
fn responses_string_items_and_instructions() {
    let f = Family::O200k;
    let body = r#"{"model":"gpt-5","instructions":"Be brief.","input":"Hello there","max_output_tokens":500}"#;
    assert_eq!(
        est(Shape::Responses, f, body),
        Estimate {
            prompt: TOKENS_PER_MESSAGE
                + tok(f, "Be brief.")
                + TOKENS_PER_MESSAGE
                + tok(f, "user")
                + tok(f, "Hello there")
                + REPLY_PRIMING,
            max_output: Some(500)
        }
    );
    let items = r#"{"input":[
        {"role":"user","content":[{"type":"input_text","text":"Weather?"}]},
        {"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{}"},
        {"type":"function_call_output","call_id":"c1","output":"Sunny"}]}"#;
    let expected = TOKENS_PER_MESSAGE
        + tok(f, "user")
        + tok(f, "Weather?")
        + TOKENS_PER_MESSAGE
        + tok(f, "get_weather")
        + tok(f, "{}")
        + TOOL_CALL_OVERHEAD
        + TOKENS_PER_MESSAGE
        + tok(f, "Sunny")
        + REPLY_PRIMING;
    assert_eq!(est(Shape::Responses, f, items).prompt, expected);
}

#[test]
fn max_output_extraction() {
    let chat = |extra: &str| {
        est(
            Shape::Chat,
            Family::Estimate,
            &format!(r#"{{"messages":[]{extra}}}"#),
        )
        .max_output
    };
    assert_eq!(chat(""), None);
    assert_eq!(chat(r#","max_tokens":100"#), Some(100));
    assert_eq!(chat(r#","max_completion_tokens":200"#), Some(200));
    // The newer name wins when both are set, as OpenAI reads them.
    assert_eq!(
        chat(r#","max_tokens":100,"max_completion_tokens":200"#),
        Some(200)
    );
    assert_eq!(chat(r#","max_tokens":null"#), None);
    assert_eq!(
        est(
            Shape::Messages,
            Family::Estimate,
            r#"{"messages":[],"max_tokens":5}"#
        )
        .max_output,
        Some(5)
    );
    assert_eq!(
        est(Shape::Responses, Family::Estimate, r#"{"input":"x"}"#).max_output,
        None
    );
}

#[test]
fn malformed_bodies_are_errors_naming_the_problem() {
    let cases: &[(Shape, &str, &str)] = &[
        (Shape::Chat, "not json", "chat completions body"),
        (Shape::Chat, "[]", "a chat completions request object"),
        (Shape::Chat, r#"{"model":"x"}"#, "missing field `messages`"),
        (Shape::Chat, r#"{"messages":{}}"#, "invalid type"),
        (
            Shape::Chat,
            r#"{"messages":[{"role":"user","content":5}]}"#,
            "a string or an array",
        ),
        (
            Shape::Chat,
            r#"{"messages":[],"max_tokens":-1}"#,
            "invalid value",
        ),
        (Shape::Chat, r#"{"messages":[]"#, "EOF"),
        (
            Shape::Completions,
            r#"{"prompt":{"a":1}}"#,
            "a string or an array",
        ),
        (
            Shape::Completions,
            r#"{"prompt":[true]}"#,
            "a string, a token id",
        ),
        (
            Shape::Embeddings,
            r#"{"model":"m"}"#,
            "missing field `input`",
        ),
        (Shape::Embeddings, r#"{"input":[["a"]]}"#, "embeddings body"),
        (
            Shape::Messages,
            r#"{"system":"s"}"#,
            "missing field `messages`",
        ),
        (
            Shape::Messages,
            r#"{"messages":[5]}"#,
            "a message, content part or item object",
        ),
        (Shape::Responses, r#"{"input":7}"#, "responses body"),
    ];
    for &(shape, body, needle) in cases {
        let err = estimate(shape, Family::O200k, body.as_bytes()).unwrap_err();
        assert!(
            err.contains(needle),
            "{shape:?} {body}: {err:?} lacks {needle:?}"
        );
    }
}

#[test]
fn families() {
    use ProviderKind::*;
    for (kind, model, want) in [
        (OpenAi, "gpt-4o", Family::O200k),
        (OpenAi, "gpt-4o-2024-08-06", Family::O200k),
        (OpenAi, "chatgpt-4o-latest", Family::O200k),
        (OpenAi, "gpt-4.1-mini", Family::O200k),
        (OpenAi, "gpt-4.5-preview", Family::O200k),
        (OpenAi, "gpt-5-nano", Family::O200k),
        (OpenAi, "o1", Family::O200k),
        (OpenAi, "o3-mini", Family::O200k),
        (OpenAi, "o4-mini-2025-04-16", Family::O200k),
        (OpenAi, "omni-moderation-latest", Family::O200k),
        (OpenAi, "ft:gpt-4o-mini:org::id", Family::O200k),
        (OpenAi, "gpt-4", Family::Cl100k),
        (OpenAi, "gpt-4-turbo", Family::Cl100k),
        (AzureOpenAi, "gpt-35-turbo", Family::Cl100k),
        (OpenAi, "gpt-3.5-turbo-0125", Family::Cl100k),
        (OpenAi, "text-embedding-3-small", Family::Cl100k),
        (OpenAi, "text-embedding-ada-002", Family::Cl100k),
        (OpenAiCompatible, "openai/gpt-4o", Family::O200k),
        (OpenAiCompatible, "gpt-oss-120b", Family::O200k),
        (OpenAiCompatible, "mistral-large-latest", Family::Estimate),
        (AzureOpenAi, "my-deployment", Family::Estimate),
        (OpenAi, "davinci", Family::Estimate),
        (Anthropic, "claude-sonnet-4-5", Family::Estimate),
        (Bedrock, "gpt-4o", Family::Estimate),
        (Gemini, "gemini-2.5-pro", Family::Estimate),
        (Demo, "gpt-4o", Family::Estimate),
    ] {
        assert_eq!(family(kind, model), want, "{kind:?} {model}");
    }
}

#[test]
fn estimate_family_over_counts_english() {
    let english = "The quarterly report shows that revenue grew by twelve percent, driven \
        mostly by new customers in the enterprise segment, while costs stayed flat. The \
        board asked the team to prepare a forecast for next year and to explain which \
        risks could slow the growth, including hiring, supply chain delays and pricing.";
    let body = serde_json::json!({
        "messages": [{"role": "system", "content": "You are a careful analyst."},
                     {"role": "user", "content": english}]
    })
    .to_string();
    let rough = est(Shape::Chat, Family::Estimate, &body).prompt;
    for f in [Family::O200k, Family::Cl100k] {
        let exact = est(Shape::Chat, f, &body).prompt;
        assert!(
            rough > exact + exact / 5,
            "{f:?}: estimate {rough} vs {exact}"
        );
    }
}

#[test]
fn warm_loads_both_tables() {
    warm();
    // Loaded: counting no longer builds a table (and gives the known count).
    assert_eq!(tok(Family::Cl100k, "hello world"), 2);
    assert_eq!(tok(Family::O200k, "hello world"), 2);
}

/// A JSON string literal for arbitrary text (escapes included).
fn lit(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The estimate never falls below the mock upstream's byte rule, for every shape.
    #[test]
    fn estimate_is_at_least_the_synth_estimate(
        texts in proptest::collection::vec(any::<String>(), 0..4),
        shape_ix in 0usize..5,
    ) {
        let parts: Vec<String> = texts.iter().map(|t| lit(t)).collect();
        let joined = parts.join(",");
        let first = parts.first().cloned().unwrap_or_else(|| lit(""));
        let (shape, body) = match shape_ix {
            0 => (Shape::Chat, format!(
                r#"{{"messages":[{}]}}"#,
                parts.iter().map(|p| format!(r#"{{"role":"user","content":{p}}}"#))
                    .collect::<Vec<_>>().join(","))),
            1 => (Shape::Completions, format!(r#"{{"prompt":[{joined}]}}"#)),
            2 => (Shape::Embeddings, format!(r#"{{"input":[{joined}]}}"#)),
            3 => (Shape::Messages, format!(
                r#"{{"system":{first},"messages":[{{"role":"user","content":[{}]}}]}}"#,
                parts.iter().map(|p| format!(r#"{{"type":"text","text":{p}}}"#))
                    .collect::<Vec<_>>().join(","))),
            _ => (Shape::Responses, format!(r#"{{"instructions":{first},"input":{first}}}"#)),
        };
        let e = estimate(shape, Family::Estimate, body.as_bytes()).unwrap();
        let synth = u64::from(proto::openai::synth::prompt_tokens_estimate(body.as_bytes()));
        prop_assert!(e.prompt >= synth, "{} < {} for {}", e.prompt, synth, body);
    }

    /// Arbitrary bytes never panic: a count or an error.
    #[test]
    fn arbitrary_bytes_do_not_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        for shape in [Shape::Chat, Shape::Completions, Shape::Embeddings, Shape::Messages, Shape::Responses] {
            if let Err(e) = estimate(shape, Family::Estimate, &body) {
                prop_assert!(e.contains("body"));
            }
        }
    }
}
