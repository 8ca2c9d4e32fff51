//! Bedrock `Converse` response → OpenAI `chat.completion`.
//!
//! | Bedrock | OpenAI | notes |
//! |---|---|---|
//! | `output.message.content[]` `text` blocks | `message.content` | joined with no separator; `null` when the message only calls tools |
//! | `toolUse{toolUseId, name, input}` | `tool_calls[]` | `id` is the `toolUseId`; `arguments` is the `input` JSON text exactly as received (`{}` when absent or `null`) |
//! | `toolUse` named [`super::JSON_TOOL_NAME`] (with [`ResponseMeta::json_tool`]) | `message.content` | the forced tool of [`super::JsonMode::Tool`]: its input is the JSON answer |
//! | `reasoningContent.reasoningText.text` | `message.reasoning_content` | the `signature` and `redactedContent` are dropped (no OpenAI field carries them) |
//! | `image`, `document`, `citationsContent`, other blocks | — | dropped |
//! | `stopReason` | `finish_reason` | see [`finish_reason`] |
//! | `usage` | `usage` | `inputTokens` is the uncached input; see the normalization on `usage` in this file |
//! | `metrics`, `trace`, `additionalModelResponseFields`, `performanceConfig` | — | dropped; `id`, `model`, `created` come from the caller |

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::request::JSON_TOOL_NAME;
use crate::chat::response::{join_text, Answer};
use crate::chat::{ChatResponse, FinishReason, ToolCall};
use crate::chat::{ToolCallFunction, TranslateError, Usage};

/// What the caller knows and Bedrock does not say.
#[derive(Clone, Copy, Debug)]
pub struct ResponseMeta<'m> {
    /// The `chatcmpl-...` id the client sees.
    pub id: &'m str,
    /// The model name the client sees.
    pub model: &'m str,
    pub created: u64,
    /// The request asked for JSON through [`super::JsonMode::Tool`]: the forced tool's
    /// input is the answer's text.
    pub json_tool: bool,
}

// --- the wire shape, borrowed ---

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse<'a> {
    #[serde(default, borrow)]
    output: Option<Output<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<TokenUsage>,
}

#[derive(Deserialize)]
struct Output<'a> {
    #[serde(default, borrow)]
    message: Option<OutputMessage<'a>>,
}

#[derive(Deserialize)]
struct OutputMessage<'a> {
    #[serde(default, borrow)]
    content: Vec<OutputBlock<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutputBlock<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_use: Option<ToolUseBlock<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<ReasoningBlock<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseBlock<'a> {
    #[serde(borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReasoningBlock<'a> {
    #[serde(default, borrow)]
    reasoning_text: Option<ReasoningText<'a>>,
}

#[derive(Deserialize)]
struct ReasoningText<'a> {
    #[serde(default, borrow)]
    text: Cow<'a, str>,
}

/// `TokenUsage` (non-streaming `usage`, and the stream's `metadata.usage`).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
    #[serde(default)]
    pub cache_write_input_tokens: u64,
}

/// Bedrock's usage, normalized. Bedrock's prompt-caching guide says `inputTokens` is
/// only the input that was neither read from nor written to the cache (total input =
/// `inputTokens + cacheReadInputTokens + cacheWriteInputTokens`, as Anthropic counts),
/// so it maps straight onto [`Usage`]; `totalTokens` is not read (it is derivable).
/// Bedrock does not split reasoning out of `outputTokens`, so `reasoning` is 0.
pub(crate) fn usage(u: &TokenUsage) -> Usage {
    Usage {
        input: u.input_tokens,
        output: u.output_tokens,
        cache_read: u.cache_read_input_tokens,
        cache_write: u.cache_write_input_tokens,
        reasoning: 0,
    }
}

/// Bedrock's `stopReason` in OpenAI's vocabulary:
/// - `max_tokens`, `model_context_window_exceeded` → `length`;
/// - `guardrail_intervened`, `content_filtered` → `content_filter`;
/// - `tool_use` → `tool_calls` when the message called a tool, else `stop` (the forced
///   JSON tool, turned into text, leaves no call);
/// - anything else (`end_turn`, `stop_sequence`, `malformed_model_output`,
///   `malformed_tool_use`, unknown) → `tool_calls` when the message called a tool, else
///   `stop`.
pub fn finish_reason(stop_reason: &str, has_calls: bool) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Parse a JSON object; `None` for anything else (serde would also read a struct from
/// an array).
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Option<T> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// `input` as JSON text, exactly as received; `{}` when absent or `null`.
pub(crate) fn input_text(input: Option<&RawValue>) -> &str {
    match input {
        Some(raw) if raw.get() != "null" => raw.get(),
        _ => "{}",
    }
}

/// Read a `Converse` answer. Strings borrow from `body` where the JSON allows.
pub fn parse_response<'a>(
    body: &'a [u8],
    meta: &ResponseMeta<'_>,
) -> Result<(ChatResponse<'a>, Usage), TranslateError> {
    let resp: ConverseResponse =
        parse_object(body).ok_or(TranslateError::BadJson("a Bedrock Converse response"))?;
    let usage = resp.usage.as_ref().map(usage).unwrap_or_default();
    let blocks = resp
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    let mut text: Option<Cow<'a, str>> = None;
    let mut reasoning: Option<Cow<'a, str>> = None;
    let mut tool_calls = Vec::new();
    for b in blocks {
        if let Some(t) = b.tool_use {
            let input = input_text(t.input);
            if meta.json_tool && t.name == JSON_TOOL_NAME {
                join_text(&mut text, Cow::Borrowed(input));
                continue;
            }
            tool_calls.push(ToolCall {
                id: t.tool_use_id,
                kind: Cow::Borrowed("function"),
                function: ToolCallFunction {
                    name: t.name,
                    arguments: Cow::Borrowed(input),
                },
            });
        } else if let Some(t) = b.text {
            join_text(&mut text, t);
        } else if let Some(r) = b.reasoning_content.and_then(|r| r.reasoning_text) {
            join_text(&mut reasoning, r.text);
        }
    }
    let has_calls = !tool_calls.is_empty();
    let finish = finish_reason(resp.stop_reason.as_deref().unwrap_or("end_turn"), has_calls);
    let answer = Answer {
        text,
        reasoning,
        tool_calls,
        finish,
    };
    let response = ChatResponse::single(meta.id, meta.model, meta.created, answer, &usage);
    Ok((response, usage))
}
