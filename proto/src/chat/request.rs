//! OpenAI's chat-completions request, as the hub shape for translation.
//!
//! Parse with `serde_json::from_slice::<ChatRequest>(body)`: strings borrow from the
//! body when they carry no escapes (`Cow::Borrowed`), and JSON the gateway never looks
//! inside (tool parameter schemas, `response_format` schemas, `logit_bias`, `metadata`)
//! stays raw (`&RawValue`), so a typical request parses with few allocations.
//! Members this type does not name are ignored when translating to another provider (an
//! OpenAI-kind provider gets the original body, not a re-serialization).
//!
//! The polymorphic members (`content` string or parts, `stop` string or array,
//! `tool_choice` string or object) have hand-written deserializers: serde's untagged
//! enums buffer their input, which would lose the borrows.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::TranslateError;

/// `POST /v1/chat/completions` body.
#[derive(Debug, Deserialize, Serialize)]
pub struct ChatRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub messages: Vec<Message<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Legacy name; [`ChatRequest::max_output_tokens`] reads either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `stop`: a string or an array of strings, read as a list.
    #[serde(
        default,
        borrow,
        deserialize_with = "de_stop",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop: Option<Vec<Cow<'a, str>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub user: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<&'a RawValue>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<&'a RawValue>,
}

impl ChatRequest<'_> {
    /// `max_completion_tokens`, else the legacy `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the client asked for the final usage chunk.
    pub fn wants_stream_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's newer name for system instructions to reasoning models.
    Developer,
    User,
    Assistant,
    Tool,
    /// Legacy function-result role; translators treat it like `Tool`.
    Function,
}

/// One message. A flat struct rather than an enum tagged by `role` (serde's tagged enums
/// buffer and lose borrows); which members may be present depends on `role`.
#[derive(Debug, Deserialize, Serialize)]
pub struct Message<'a> {
    pub role: Role,
    /// Absent or `null` on assistant turns that only call tools.
    #[serde(
        default,
        borrow,
        deserialize_with = "de_content",
        skip_serializing_if = "Option::is_none"
    )]
    pub content: Option<Content<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Cow<'a, str>>,
}

impl<'a> Message<'a> {
    /// A message with just a role and text.
    pub fn text(role: Role, text: impl Into<Cow<'a, str>>) -> Self {
        Message {
            role,
            content: Some(Content::Text(text.into())),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            refusal: None,
        }
    }
}

/// `content`: a plain string or an array of parts.
#[derive(Debug)]
pub enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<ContentPart<'a>>),
}

impl Content<'_> {
    /// The text of the content: the string, or the text parts joined with no separator
    /// (how OpenAI reads an array of text parts). Non-text parts are skipped.
    pub fn joined_text(&self) -> Cow<'_, str> {
        match self {
            Content::Text(t) => Cow::Borrowed(t),
            Content::Parts(parts) => {
                let mut texts = parts.iter().filter_map(|p| p.text.as_deref());
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(one), None) => Cow::Borrowed(one),
                    (Some(a), Some(b)) => {
                        let mut s = String::from(a);
                        s.push_str(b);
                        for t in texts {
                            s.push_str(t);
                        }
                        Cow::Owned(s)
                    }
                }
            }
        }
    }
}

impl Serialize for Content<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Text(t) => s.serialize_str(t),
            Content::Parts(parts) => parts.serialize(s),
        }
    }
}

/// One content part. Flat: `kind` says which of the optional members is set. Kinds the
/// gateway does not translate (`input_audio`, `file`, ...) keep their payload in `raw`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub input_audio: Option<&'a RawValue>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub file: Option<&'a RawValue>,
    /// Anthropic prompt-caching marker carried on OpenAI-shaped parts by clients that use
    /// it (LiteLLM convention); passed through to Anthropic providers.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<&'a RawValue>,
}

impl<'a> ContentPart<'a> {
    pub fn text(text: impl Into<Cow<'a, str>>) -> Self {
        ContentPart {
            kind: Cow::Borrowed("text"),
            text: Some(text.into()),
            image_url: None,
            input_audio: None,
            file: None,
            cache_control: None,
        }
    }

    pub fn image(url: impl Into<Cow<'a, str>>) -> Self {
        ContentPart {
            kind: Cow::Borrowed("image_url"),
            text: None,
            image_url: Some(ImageUrl {
                url: url.into(),
                detail: None,
            }),
            input_audio: None,
            file: None,
            cache_control: None,
        }
    }
}

#[derive(Debug, PartialEq, Deserialize, Serialize)]
pub struct ImageUrl<'a> {
    /// An `https:` URL or a `data:<media type>;base64,<data>` URL.
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'a, str>>,
}

impl ImageUrl<'_> {
    /// `(media type, base64 data)` when the URL is a base64 `data:` URL.
    pub fn as_data(&self) -> Option<(&str, &str)> {
        let rest = self.url.strip_prefix("data:")?;
        let (meta, data) = rest.split_once(',')?;
        let media = meta.strip_suffix(";base64")?;
        Some((media, data))
    }
}

/// A tool the model may call. Only `type: "function"` exists today.
#[derive(Debug, Deserialize, Serialize)]
pub struct Tool<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub function: FunctionDef<'a>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct FunctionDef<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    /// The JSON Schema of the arguments, untouched.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// A call the assistant made (in an assistant message of the history).
#[derive(Debug, Deserialize, Serialize)]
pub struct ToolCall<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(rename = "type", default = "function_kind", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub function: ToolCallFunction<'a>,
}

fn function_kind() -> Cow<'static, str> {
    Cow::Borrowed("function")
}

#[derive(Debug, Deserialize, Serialize)]
pub struct ToolCallFunction<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// The arguments as a JSON *string* (OpenAI encodes the object as text).
    #[serde(default, borrow)]
    pub arguments: Cow<'a, str>,
}

impl ToolCallFunction<'_> {
    /// The `arguments` JSON string as the object it encodes, byte for byte: providers
    /// that take the arguments as an object get this raw text, never a re-serialization
    /// (serde_json's float parsing would change numbers). Blank arguments read as `{}`;
    /// anything but a JSON object is refused.
    pub fn arguments_object(&self) -> Result<&RawValue, TranslateError> {
        const BAD: TranslateError =
            TranslateError::BadJson("tool_calls.function.arguments as a JSON object");
        let trimmed = self.arguments.trim_ascii();
        if trimmed.is_empty() {
            return serde_json::from_str("{}").map_err(|_| BAD);
        }
        if !trimmed.starts_with('{') {
            return Err(BAD);
        }
        serde_json::from_str(trimmed).map_err(|_| BAD)
    }
}

/// `tool_choice`.
#[derive(Debug, PartialEq)]
pub enum ToolChoice<'a> {
    None,
    Auto,
    /// `"required"`: call at least one tool.
    Required,
    /// `{"type":"function","function":{"name":..}}`: call this one.
    Function(Cow<'a, str>),
}

/// `response_format`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ResponseFormat<'a> {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<JsonSchemaFormat<'a>>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct JsonSchemaFormat<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

// --- hand-written deserializers for the string-or-structure members ---

fn de_content<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Content<'de>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Content<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, an array of content parts, or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Content::Text(Cow::Borrowed(v))))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Content::Text(Cow::Owned(v.to_owned()))))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Content::Text(Cow::Owned(v))))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
            while let Some(p) = seq.next_element::<ContentPart<'de>>()? {
                parts.push(p);
            }
            Ok(Some(Content::Parts(parts)))
        }
    }
    d.deserialize_option(V)
}

fn de_stop<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Cow<'de, str>>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Vec<Cow<'de, str>>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, an array of strings, or null")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(vec![Cow::Borrowed(v)]))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![Cow::Owned(v.to_owned())]))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some(s) = seq.next_element::<Cow<'de, str>>()? {
                v.push(s);
            }
            Ok(Some(v))
        }
    }
    d.deserialize_option(V)
}

impl<'de: 'a, 'a> Deserialize<'de> for ToolChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ToolChoice<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"none\", \"auto\", \"required\" or {\"type\":\"function\",...}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "none" => Ok(ToolChoice::None),
                    "auto" => Ok(ToolChoice::Auto),
                    "required" => Ok(ToolChoice::Required),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                #[derive(Deserialize)]
                struct Named<'a> {
                    #[serde(borrow)]
                    name: Cow<'a, str>,
                }
                let mut name = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "function" => name = Some(map.next_value::<Named<'de>>()?.name),
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                name.map(ToolChoice::Function)
                    .ok_or_else(|| de::Error::missing_field("function"))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for ToolChoice<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            ToolChoice::None => s.serialize_str("none"),
            ToolChoice::Auto => s.serialize_str("auto"),
            ToolChoice::Required => s.serialize_str("required"),
            ToolChoice::Function(name) => {
                #[derive(Serialize)]
                struct Named<'b> {
                    name: &'b str,
                }
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", "function")?;
                m.serialize_entry("function", &Named { name })?;
                m.end()
            }
        }
    }
}
