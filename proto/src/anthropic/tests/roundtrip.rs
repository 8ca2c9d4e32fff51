//! Round trips through both translations: OpenAI → Anthropic (egress) → OpenAI (ingress),
//! and Anthropic → OpenAI → Anthropic. Messages (text, images, tool calls and results,
//! in order), tools and tool choice must survive, modulo what the formats cannot tell
//! apart: same-role turns merge (so items are compared as one sequence, not per message),
//! an assistant turn lists its text before its tool calls in OpenAI's shape, a string is
//! a single text block, and an absent `tool_choice` means `auto`.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::anthropic::types::MessagesRequest;
use crate::anthropic::{to_chat_request, write_request, RequestOptions};
use crate::chat::ChatRequest;

#[derive(Clone, Debug, PartialEq)]
enum Item {
    Text(String, String),
    Image(String, String),
    Call(String, String, Value),
    Result(String, Vec<String>),
}

/// Within each run of assistant items, texts first (OpenAI's assistant message cannot
/// interleave them with calls).
fn normalize(items: Vec<Item>) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    let mut calls = Vec::new();
    for it in items {
        match &it {
            Item::Call(..) => calls.push(it),
            Item::Text(role, _) if role == "assistant" => out.push(it),
            _ => {
                out.append(&mut calls);
                out.push(it);
            }
        }
    }
    out.append(&mut calls);
    out
}

fn texts(content: &Value) -> Vec<String> {
    match content {
        Value::String(s) if s.is_empty() => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

/// OpenAI messages as items (and the system texts apart).
fn openai_items(messages: &Value) -> (Vec<String>, Vec<Item>) {
    let mut system = Vec::new();
    let mut items = Vec::new();
    for m in messages.as_array().unwrap() {
        let role = m["role"].as_str().unwrap().to_owned();
        match role.as_str() {
            "system" | "developer" => system.extend(texts(&m["content"])),
            "tool" => items.push(Item::Result(
                m["tool_call_id"].as_str().unwrap().to_owned(),
                texts(&m["content"]),
            )),
            _ => {
                match &m["content"] {
                    Value::String(s) => items.push(Item::Text(role.clone(), s.clone())),
                    Value::Array(parts) => {
                        for p in parts {
                            items.push(match p["type"].as_str().unwrap() {
                                "text" => {
                                    Item::Text(role.clone(), p["text"].as_str().unwrap().into())
                                }
                                _ => Item::Image(
                                    role.clone(),
                                    p["image_url"]["url"].as_str().unwrap().into(),
                                ),
                            });
                        }
                    }
                    _ => {}
                }
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = c["function"]["arguments"].as_str().unwrap();
                    items.push(Item::Call(
                        c["id"].as_str().unwrap().into(),
                        c["function"]["name"].as_str().unwrap().into(),
                        serde_json::from_str(args).unwrap(),
                    ));
                }
            }
        }
    }
    (system, normalize(items))
}

fn source_url(src: &Value) -> String {
    match src["type"].as_str().unwrap() {
        "url" => src["url"].as_str().unwrap().into(),
        _ => format!(
            "data:{};base64,{}",
            src["media_type"].as_str().unwrap(),
            src["data"].as_str().unwrap()
        ),
    }
}

/// Anthropic messages as items.
fn anthropic_items(messages: &Value) -> Vec<Item> {
    let mut items = Vec::new();
    for m in messages.as_array().unwrap() {
        let role = m["role"].as_str().unwrap().to_owned();
        let blocks = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => vec![],
        };
        for b in blocks {
            items.push(match b["type"].as_str().unwrap() {
                "text" => Item::Text(role.clone(), b["text"].as_str().unwrap().into()),
                "image" => Item::Image(role.clone(), source_url(&b["source"])),
                "tool_use" => Item::Call(
                    b["id"].as_str().unwrap().into(),
                    b["name"].as_str().unwrap().into(),
                    b["input"].clone(),
                ),
                "tool_result" => Item::Result(
                    b["tool_use_id"].as_str().unwrap().into(),
                    texts(b.get("content").unwrap_or(&Value::Null)),
                ),
                other => panic!("unexpected block {other}"),
            });
        }
    }
    normalize(items)
}

// --- generators ---

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?\"\\\\é\n]{1,12}"
}

fn id() -> impl Strategy<Value = String> {
    "toolu_[a-z0-9]{1,6}"
}

fn image_url() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9+/]{4,16}".prop_map(|d| format!("data:image/png;base64,{d}")),
        "[a-z]{1,8}".prop_map(|p| format!("https://example.com/{p}.jpg")),
    ]
}

fn args() -> impl Strategy<Value = Value> {
    proptest::collection::btree_map(
        "[a-z]{1,5}",
        prop_oneof![
            any::<i32>().prop_map(Value::from),
            text().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(json!({"nested": [1, "two", null]})),
        ],
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn tool_names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z_]{1,8}", 0..3).prop_map(|s| s.into_iter().collect())
}

fn openai_message() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        image_url().prop_map(|u| json!({"type": "image_url", "image_url": {"url": u}})),
    ];
    let call = (id(), "[a-z]{1,6}", args()).prop_map(|(id, name, a)| {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": a.to_string()}})
    });
    prop_oneof![
        text().prop_map(|t| json!({"role": "user", "content": t})),
        proptest::collection::vec(part, 1..4).prop_map(|p| json!({"role": "user", "content": p})),
        (
            proptest::option::of(text()),
            proptest::collection::vec(call, 0..3)
        )
            .prop_filter("some content", |(t, c)| t.is_some() || !c.is_empty())
            .prop_map(|(t, c)| {
                let mut m = json!({"role": "assistant", "content": t});
                if !c.is_empty() {
                    m["tool_calls"] = Value::Array(c);
                }
                m
            }),
        (id(), text())
            .prop_map(|(id, t)| json!({"role": "tool", "tool_call_id": id, "content": t})),
    ]
}

fn openai_request() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(text(), 0..3),
        proptest::collection::vec(openai_message(), 0..8),
        tool_names(),
        0u8..5,
        any::<bool>(),
        // Hundredths: serde_json's default float parsing is not exact to the last bit.
        proptest::option::of((0u32..=100).prop_map(|t| f64::from(t) / 100.0)),
    )
        .prop_map(|(system, msgs, names, choice, no_parallel, temperature)| {
            let mut messages: Vec<Value> = system
                .into_iter()
                .map(|s| json!({"role": "system", "content": s}))
                .collect();
            messages.extend(msgs);
            let mut req = json!({"model": "m", "messages": messages, "max_tokens": 100});
            if let Some(t) = temperature {
                req["temperature"] = json!(t);
            }
            if !names.is_empty() {
                req["tools"] = Value::Array(
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            let mut f = json!({"name": n, "description": format!("tool {i}")});
                            if i % 2 == 0 {
                                f["parameters"] = json!({"type": "object", "properties": {"x": {"type": "string"}}});
                            }
                            json!({"type": "function", "function": f})
                        })
                        .collect(),
                );
                match choice {
                    1 => req["tool_choice"] = json!("auto"),
                    2 => req["tool_choice"] = json!("required"),
                    3 => req["tool_choice"] = json!("none"),
                    4 => req["tool_choice"] = json!({"type": "function", "function": {"name": names[0]}}),
                    _ => {}
                }
                if no_parallel {
                    req["parallel_tool_calls"] = json!(false);
                }
            }
            req
        })
}

/// Tools with a missing schema read as the empty object schema the egress writes.
fn openai_tools(req: &Value) -> Value {
    let empty = json!({"type": "object", "properties": {}});
    let tools: Vec<Value> = req["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let f = &t["function"];
            json!([
                f["name"],
                f["description"],
                f.get("parameters").cloned().unwrap_or(empty.clone())
            ])
        })
        .collect();
    let has_tools = !tools.is_empty();
    let choice = match &req["tool_choice"] {
        Value::Null if has_tools => json!("auto"),
        c => c.clone(),
    };
    let parallel = if choice == json!("none") {
        Value::Null
    } else {
        req["parallel_tool_calls"].clone()
    };
    json!([tools, choice, parallel])
}

fn anthropic_block(role: &'static str) -> BoxedStrategy<Value> {
    let text_block = text().prop_map(|t| json!({"type": "text", "text": t}));
    if role == "assistant" {
        return prop_oneof![
            text_block,
            (id(), "[a-z]{1,6}", args()).prop_map(
                |(id, n, a)| json!({"type": "tool_use", "id": id, "name": n, "input": a})
            ),
        ]
        .boxed();
    }
    prop_oneof![
        text_block,
        "[A-Za-z0-9+/]{4,16}".prop_map(|d| json!({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": d}})),
        "[a-z]{1,8}".prop_map(|p| json!({"type": "image", "source": {"type": "url", "url": format!("https://example.com/{p}.png")}})),
        (id(), proptest::option::of(text())).prop_map(|(id, t)| match t {
            Some(t) => json!({"type": "tool_result", "tool_use_id": id, "content": t}),
            None => json!({"type": "tool_result", "tool_use_id": id}),
        }),
        (id(), text(), text()).prop_map(|(id, a, b)| json!({"type": "tool_result", "tool_use_id": id,
            "content": [{"type": "text", "text": a}, {"type": "text", "text": b}]})),
    ]
    .boxed()
}

fn anthropic_turn() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|t| json!({"role": "user", "content": t})),
        proptest::collection::vec(anthropic_block("user"), 1..4)
            .prop_map(|b| json!({"role": "user", "content": b})),
        proptest::collection::vec(anthropic_block("assistant"), 1..4)
            .prop_map(|b| json!({"role": "assistant", "content": b})),
    ]
}

fn anthropic_request() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(prop_oneof![
            text().prop_map(Value::from),
            proptest::collection::vec((text(), any::<bool>()), 1..3).prop_map(|v| {
                Value::Array(
                    v.into_iter()
                        .map(|(t, cache)| {
                            let mut b = json!({"type": "text", "text": t});
                            if cache {
                                b["cache_control"] = json!({"type": "ephemeral"});
                            }
                            b
                        })
                        .collect(),
                )
            }),
        ]),
        proptest::collection::vec(anthropic_turn(), 0..8),
        tool_names(),
        0u8..5,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(system, messages, names, choice, disable, stream)| {
            let mut req = json!({"model": "m", "max_tokens": 321, "messages": messages,
                "stop_sequences": ["END"], "temperature": 0.5, "metadata": {"user_id": "u"}});
            if stream {
                req["stream"] = json!(true);
            }
            if let Some(s) = system {
                req["system"] = s;
            }
            if !names.is_empty() {
                req["tools"] = Value::Array(
                    names
                        .iter()
                        .map(|n| json!({"name": n, "description": "d", "input_schema": {"type": "object"}}))
                        .collect(),
                );
                let mut c = match choice {
                    1 => json!({"type": "auto"}),
                    2 => json!({"type": "any"}),
                    3 => json!({"type": "none"}),
                    4 => json!({"type": "tool", "name": names[0]}),
                    _ => return req,
                };
                if disable && choice != 3 {
                    c["disable_parallel_tool_use"] = json!(true);
                }
                req["tool_choice"] = c;
            }
            req
        })
}

/// System texts and whether each carries a cache marker.
fn anthropic_system(system: &Value) -> Vec<(String, bool)> {
    match system {
        Value::String(s) => vec![(s.clone(), false)],
        Value::Array(b) => b
            .iter()
            .map(|b| {
                (
                    b["text"].as_str().unwrap().into(),
                    b.get("cache_control").is_some(),
                )
            })
            .collect(),
        _ => vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn openai_to_anthropic_to_openai(req in openai_request()) {
        let text = req.to_string();
        let chat: ChatRequest = serde_json::from_str(&text).unwrap();
        let mut body = Vec::new();
        write_request(&chat, "claude", &RequestOptions::default(), &mut body).unwrap();
        let anthropic: MessagesRequest = serde_json::from_slice(&body).unwrap();
        let back = serde_json::to_value(to_chat_request(anthropic).unwrap()).unwrap();

        prop_assert_eq!(openai_items(&req["messages"]), openai_items(&back["messages"]));
        prop_assert_eq!(openai_tools(&req), openai_tools(&back));
        prop_assert_eq!(&back["max_tokens"], &req["max_tokens"]);
        prop_assert_eq!(&back["temperature"], &req["temperature"]);
    }

    #[test]
    fn anthropic_to_openai_to_anthropic(req in anthropic_request()) {
        let text = req.to_string();
        let anthropic: MessagesRequest = serde_json::from_str(&text).unwrap();
        let chat = to_chat_request(anthropic).unwrap();
        let mut body = Vec::new();
        write_request(&chat, "m", &RequestOptions { max_tokens_default: 1 }, &mut body).unwrap();
        let back: Value = serde_json::from_slice(&body).unwrap();

        prop_assert_eq!(anthropic_items(&req["messages"]), anthropic_items(&back["messages"]));
        prop_assert_eq!(anthropic_system(&req["system"]), anthropic_system(&back["system"]));
        prop_assert_eq!(&back["tools"], &req["tools"]);
        let choice = match &req["tool_choice"] {
            Value::Null => Value::Null,
            c => c.clone(),
        };
        prop_assert_eq!(&back["tool_choice"], &choice);
        for field in ["max_tokens", "stop_sequences", "temperature", "metadata", "stream", "model"] {
            prop_assert_eq!(&back[field], &req[field], "{}", field);
        }
    }
}
