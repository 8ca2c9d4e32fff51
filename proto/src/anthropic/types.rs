//! The Anthropic Messages API wire shapes, borrowed from the body where the JSON allows.
//!
//! One set of types serves both directions: the egress writes a [`MessagesRequest`] it
//! built from a [`ChatRequest`](crate::chat::ChatRequest) and reads a [`MessageResponse`];
//! the ingress reads a [`MessagesRequest`] from an Anthropic SDK client and writes a
//! [`MessageResponse`].
//!
//! Content blocks are one flat struct ([`Block`]) rather than an enum tagged by `type`:
//! serde's internally tagged enums buffer their input and lose the borrows. Which members
//! are set depends on `kind`. The string-or-blocks members (`content`, `system`,
//! `tool_result.content`) are [`Blocks`], with a hand-written deserializer for the same
//! reason.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// `POST /v1/messages` body.
#[derive(Debug, Deserialize, Serialize)]
pub struct MessagesRequest<'a> {
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    pub max_tokens: u64,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub system: Option<Blocks<'a>>,
    #[serde(borrow)]
    pub messages: Vec<MessageParam<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<Cow<'a, str>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u64>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolDef<'a>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoiceParam<'a>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Extended thinking configuration; read (and dropped) by the ingress, never written.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<&'a RawValue>,
}

/// One turn: `role` is `user` or `assistant`.
#[derive(Debug, Deserialize, Serialize)]
pub struct MessageParam<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub content: Blocks<'a>,
}

/// A string, or an array of content blocks.
#[derive(Debug)]
pub enum Blocks<'a> {
    Text(Cow<'a, str>),
    Blocks(Vec<Block<'a>>),
}

/// One content block. `kind` (`type`) is `text`, `image`, `document`, `tool_use`,
/// `tool_result`, `thinking`, `redacted_thinking`, or a server tool's block; the other
/// members are set as that kind has them.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Block<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    /// `image` and `document`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source<'a>>,
    /// `tool_use`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    /// `tool_use`: the arguments as a JSON object, kept as text.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub input: Option<&'a RawValue>,
    /// `tool_result`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub content: Option<Blocks<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// `thinking`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Cow<'a, str>>,
    /// `redacted_thinking`.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub data: Option<Cow<'a, str>>,
    /// Prompt-caching marker (`{"type":"ephemeral"}`), passed through untouched.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<&'a RawValue>,
}

impl<'a> Block<'a> {
    pub fn text(text: impl Into<Cow<'a, str>>, cache_control: Option<&'a RawValue>) -> Self {
        Block {
            kind: Cow::Borrowed("text"),
            text: Some(text.into()),
            cache_control,
            ..Block::default()
        }
    }
}

/// The `source` of an `image` or `document` block.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Source<'a> {
    /// `base64`, `url`, `text` or `file`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub data: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub url: Option<Cow<'a, str>>,
}

/// A tool definition. Client tools have no `type` (or `custom`) and an `input_schema`;
/// Anthropic's server tools (`web_search_20250305`, `bash_20250124`, ...) have a `type`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ToolDef<'a> {
    #[serde(
        rename = "type",
        default,
        borrow,
        skip_serializing_if = "Option::is_none"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub description: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<&'a RawValue>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<&'a RawValue>,
}

/// `tool_choice`: `type` is `auto`, `any`, `tool` (with `name`) or `none`.
#[derive(Debug, Deserialize, Serialize)]
pub struct ToolChoiceParam<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Metadata<'a> {
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Cow<'a, str>>,
}

/// A non-streaming answer (`type: "message"`), and the `message` of `message_start`.
#[derive(Debug, Deserialize, Serialize)]
pub struct MessageResponse<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(rename = "type", default = "message_kind", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default = "assistant_role", borrow)]
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Vec<Block<'a>>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`, `refusal`,
    /// `model_context_window_exceeded`; `null` in `message_start`.
    #[serde(default, borrow)]
    pub stop_reason: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub stop_sequence: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: AnthropicUsage,
}

fn message_kind() -> Cow<'static, str> {
    Cow::Borrowed("message")
}

fn assistant_role() -> Cow<'static, str> {
    Cow::Borrowed("assistant")
}

/// Anthropic's `usage`. `input_tokens` counts only the tokens neither read from nor
/// written to the cache, which is exactly [`Usage::input`](crate::chat::Usage).
/// In `message_delta` every member is cumulative and all but `output_tokens` may be
/// absent or `null`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Overwrite `u` with every count this record has.
    pub fn apply(&self, u: &mut crate::chat::Usage) {
        let set = |field: &mut u64, v: Option<u64>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut u.input, self.input_tokens);
        set(&mut u.output, self.output_tokens);
        set(&mut u.cache_write, self.cache_creation_input_tokens);
        set(&mut u.cache_read, self.cache_read_input_tokens);
    }

    pub fn from_usage(u: &crate::chat::Usage) -> AnthropicUsage {
        AnthropicUsage {
            input_tokens: Some(u.input),
            output_tokens: Some(u.output),
            cache_creation_input_tokens: Some(u.cache_write),
            cache_read_input_tokens: Some(u.cache_read),
        }
    }
}

/// `{"type":"error","error":{"type":..,"message":..}}`'s inner object.
#[derive(Debug, Deserialize)]
pub struct ErrorObject<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub message: Cow<'a, str>,
}

impl Serialize for Blocks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Blocks::Text(t) => s.serialize_str(t),
            Blocks::Blocks(b) => b.serialize(s),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Blocks<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Blocks<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Blocks::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Blocks::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Blocks::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(64));
                while let Some(b) = seq.next_element::<Block<'de>>()? {
                    blocks.push(b);
                }
                Ok(Blocks::Blocks(blocks))
            }
        }
        d.deserialize_any(V)
    }
}
