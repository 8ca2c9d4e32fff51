//! Tool calls, shared by every format: whether the mock answers with calls instead of
//! text, to which tools, and with which arguments. Each format reads its request into an
//! [`Offer`]; [`calls`] decides; the format renders the calls in its own shape.
//!
//! The rule: with `x-mock-tool-call: NAME` (or `auto`), a request that declares tools,
//! does not forbid them (`tool_choice` none / Gemini mode `NONE`) and ends with a user
//! turn that is not a tool result is answered with `x-mock-parallel-tool-calls` calls
//! (default 1). `NAME` must be declared; `auto` takes the tool the request forces, else the
//! declared tools in order (call `i` goes to tool `i mod tools`). Anything else is answered
//! with text, so an agent loop ends once it has sent its tool results back.
//!
//! Arguments are a one-member JSON object, deterministic in the tool's schema and the
//! call's index `i`: the member is the first name in the schema's `required` that is a
//! declared property, else the first property in name order; its value is the property's
//! `enum[i mod len]` if it has one, else by `type`: string `CITIES[i mod len]` (`"Paris"`
//! first), integer `i + 1`, number `i + 0.5`, boolean `i` even, array `[]`, object `{}`.
//! A schema without properties gives `{}`. So `get_weather(location: string)` is called
//! with `{"location":"Paris"}`.

use serde_json::{json, Map, Value};

use super::rng::mix;

/// A declared tool: its name and its JSON-schema parameters, when given.
pub(crate) struct Tool<'a> {
    pub name: &'a str,
    pub schema: Option<&'a Value>,
}

/// What the request's `tool_choice` (or equivalent) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice<'a> {
    Auto,
    /// Tools must not be called.
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`, Gemini `ANY`).
    Required,
    /// This tool must be called.
    Named(&'a str),
}

/// What a request offers the model.
pub(crate) struct Offer<'a> {
    pub tools: Vec<Tool<'a>>,
    pub choice: Choice<'a>,
    /// The conversation ends with a user turn that carries no tool result.
    pub user_turn: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    /// A JSON object.
    pub arguments: Value,
}

impl Call {
    /// The arguments as the JSON text OpenAI formats carry.
    pub fn arguments_json(&self) -> String {
        self.arguments.to_string()
    }
}

/// Values for string parameters, call `i` taking `CITIES[i mod len]`.
pub(crate) const CITIES: [&str; 8] = [
    "Paris", "London", "Tokyo", "Lima", "Cairo", "Oslo", "Delhi", "Quito",
];

/// Decide the calls for a request: empty to answer with text. `ask` is the
/// `x-mock-tool-call` value, `count` the parallel calls wanted. Err: the header names a
/// tool the request does not declare (the message for a 400).
pub(crate) fn calls(ask: Option<&[u8]>, count: u32, offer: &Offer) -> Result<Vec<Call>, String> {
    let Some(ask) = ask else {
        return Ok(Vec::new());
    };
    if offer.tools.is_empty() || offer.choice == Choice::None || !offer.user_turn {
        return Ok(Vec::new());
    }
    let ask = String::from_utf8_lossy(ask);
    let picked: Vec<&Tool> = if ask.eq_ignore_ascii_case("auto") {
        match offer.choice {
            Choice::Named(name) => vec![declared(offer, name)?; count as usize],
            _ => (0..count as usize)
                .map(|i| &offer.tools[i % offer.tools.len()])
                .collect(),
        }
    } else {
        vec![declared(offer, &ask)?; count as usize]
    };
    Ok(picked
        .into_iter()
        .enumerate()
        .map(|(i, tool)| Call {
            name: tool.name.to_owned(),
            arguments: arguments(tool.schema, i),
        })
        .collect())
}

fn declared<'a>(offer: &'a Offer, name: &str) -> Result<&'a Tool<'a>, String> {
    offer.tools.iter().find(|t| t.name == name).ok_or_else(|| {
        format!("x-mock-tool-call names {name:?}, which the request does not declare as a tool")
    })
}

/// The arguments of call `i` to a tool with `schema` (see the module docs).
pub(crate) fn arguments(schema: Option<&Value>, i: usize) -> Value {
    let Some(props) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .filter(|p| !p.is_empty())
    else {
        return json!({});
    };
    let required = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .and_then(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .find(|k| props.contains_key(*k))
        });
    let Some(key) = required.or_else(|| props.keys().map(String::as_str).min()) else {
        return json!({});
    };
    let mut args = Map::new();
    args.insert(key.to_owned(), sample(&props[key], i));
    Value::Object(args)
}

fn sample(prop: &Value, i: usize) -> Value {
    if let Some(options) = prop.get("enum").and_then(Value::as_array) {
        if !options.is_empty() {
            return options[i % options.len()].clone();
        }
    }
    let kind = match prop.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        Some(v) => v.as_str(),
        None => None,
    };
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("integer") => json!(i + 1),
        Some("number") => json!(i as f64 + 0.5),
        Some("boolean") => json!(i & 1 == 0),
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!(CITIES[i % CITIES.len()]),
    }
}

/// A call id: `prefix` and 24 hex digits from the response seed and the call's index.
pub(crate) fn call_id(prefix: &str, seed: u64, i: usize) -> String {
    let a = mix(seed ^ mix((i as u64).wrapping_add(1)));
    format!("{prefix}{:016x}{:08x}", a, mix(a) >> 32)
}

/// Output tokens of a tool-call answer: a quarter of the bytes of each call's name and
/// arguments, rounded up.
pub(crate) fn tokens(calls: &[Call]) -> u32 {
    calls
        .iter()
        .map(|c| (c.name.len() + c.arguments_json().len()).div_ceil(4) as u32)
        .sum()
}

/// `s` cut into `n` pieces of about equal length, at char boundaries; no piece is empty
/// (fewer pieces when `s` is short).
pub(crate) fn fragments(s: &str, n: u32) -> Vec<&str> {
    let n = (n.max(1) as usize).min(s.len().max(1));
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..=n {
        let mut end = s.len() * k / n;
        while !s.is_char_boundary(end) {
            end += 1;
        }
        if end > start {
            pieces.push(&s[start..end]);
            start = end;
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer<'a>(schemas: &'a [(&'a str, Value)], choice: Choice<'a>) -> Offer<'a> {
        Offer {
            tools: schemas
                .iter()
                .map(|(name, schema)| Tool {
                    name,
                    schema: Some(schema),
                })
                .collect(),
            choice,
            user_turn: true,
        }
    }

    #[test]
    fn arguments_follow_the_schema() {
        let weather = json!({"type":"object","properties":{"unit":{"type":"string","enum":["c","f"]},"location":{"type":"string"}},"required":["location"]});
        assert_eq!(arguments(Some(&weather), 0), json!({"location":"Paris"}));
        assert_eq!(arguments(Some(&weather), 1), json!({"location":"London"}));
        let no_required = json!({"properties":{"b":{"type":"integer"},"a":{"enum":["x","y"]}}});
        assert_eq!(arguments(Some(&no_required), 1), json!({"a":"y"}));
        let typed =
            |t: &str, i| arguments(Some(&json!({"properties":{"k":{"type":t}}})), i)["k"].clone();
        assert_eq!(typed("integer", 2), json!(3));
        assert_eq!(typed("number", 0), json!(0.5));
        assert_eq!(typed("boolean", 1), json!(false));
        assert_eq!(typed("ARRAY", 0), json!([]));
        assert_eq!(arguments(Some(&json!({"type":"object"})), 0), json!({}));
        assert_eq!(arguments(None, 0), json!({}));
    }

    #[test]
    fn choosing_calls() {
        let tools = [
            (
                "get_weather",
                json!({"properties":{"location":{"type":"string"}}}),
            ),
            ("get_time", json!({"properties":{"zone":{"type":"string"}}})),
        ];
        let names = |calls: Vec<Call>| calls.into_iter().map(|c| c.name).collect::<Vec<_>>();
        let auto = offer(&tools, Choice::Auto);
        assert!(
            calls(None, 1, &auto).unwrap().is_empty(),
            "no header, no call"
        );
        assert_eq!(
            names(calls(Some(b"auto"), 1, &auto).unwrap()),
            ["get_weather"]
        );
        assert_eq!(
            names(calls(Some(b"auto"), 3, &auto).unwrap()),
            ["get_weather", "get_time", "get_weather"]
        );
        assert_eq!(
            names(calls(Some(b"get_time"), 2, &auto).unwrap()),
            ["get_time", "get_time"]
        );
        assert!(calls(Some(b"nope"), 1, &auto)
            .unwrap_err()
            .contains("\"nope\""));
        let forced = offer(&tools, Choice::Named("get_time"));
        assert_eq!(
            names(calls(Some(b"auto"), 1, &forced).unwrap()),
            ["get_time"]
        );
        assert!(calls(Some(b"auto"), 1, &offer(&tools, Choice::None))
            .unwrap()
            .is_empty());
        let after_tool = Offer {
            user_turn: false,
            ..offer(&tools, Choice::Auto)
        };
        assert!(calls(Some(b"auto"), 1, &after_tool).unwrap().is_empty());
        assert!(calls(Some(b"auto"), 1, &offer(&[], Choice::Auto))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn ids_tokens_and_fragments() {
        let id = call_id("call_", 7, 0);
        assert_eq!(id.len(), 5 + 24);
        assert_eq!(id, call_id("call_", 7, 0));
        assert_ne!(id, call_id("call_", 7, 1));
        let c = Call {
            name: "get_weather".into(),
            arguments: json!({"location":"Paris"}),
        };
        assert_eq!(
            tokens(&[c.clone(), c]),
            2 * (11 + 21usize).div_ceil(4) as u32
        );
        let s = r#"{"location":"Paris"}"#;
        let parts = fragments(s, 4);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts.concat(), s);
        assert_eq!(fragments("ab", 8), ["a", "b"]);
        assert_eq!(fragments("é€", 3).concat(), "é€");
        assert!(fragments("é€", 3).iter().all(|p| !p.is_empty()));
    }
}
