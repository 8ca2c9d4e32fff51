//! OpenAI `chat.completion` → Anthropic Messages response (the ingress).
//!
//! | OpenAI | Anthropic |
//! |---|---|
//! | `id` | `id`, prefixed `msg_` unless it already is |
//! | `reasoning_content` | a `thinking` block first, with an empty `signature` (there is none to give; the ingress drops thinking blocks a client sends back) |
//! | `content` (non-empty) | a `text` block |
//! | `refusal` | a `text` block, `stop_reason: refusal` |
//! | `tool_calls` | `tool_use{id,name,input}` blocks; `arguments` must be a JSON object (empty reads as `{}`), else [`TranslateError::BadJson`] (Anthropic's `input` is an object) |
//! | `finish_reason` | `stop_reason`, see [`stop_reason`]; `stop_sequence` is always `null` (OpenAI does not say which sequence matched) |
//! | `usage` | `input_tokens` (prompt minus cached), `cache_read_input_tokens` (cached), `cache_creation_input_tokens` 0, `output_tokens` |
//!
//! Only the first choice is read: the ingress never asks for `n > 1`.

use std::borrow::Cow;

use crate::anthropic::types::{AnthropicUsage, Block, MessageResponse};
use crate::chat::{ChatResponse, FinishReason, TranslateError, Usage};

/// OpenAI's `finish_reason` as Anthropic's `stop_reason`: `stop` → `end_turn`, `length` →
/// `max_tokens`, `tool_calls` → `tool_use`, `content_filter` → `refusal`; missing or
/// unknown → `end_turn`.
pub fn stop_reason(finish: Option<FinishReason>) -> &'static str {
    match finish {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop) | None => "end_turn",
    }
}

/// `id` with the `msg_` prefix Anthropic's ids have.
pub fn message_id(id: &str) -> Cow<'_, str> {
    if id.starts_with("msg_") {
        Cow::Borrowed(id)
    } else {
        Cow::Owned(format!("msg_{id}"))
    }
}

/// Write `resp` as a Messages API answer into `out`; returns the normalized usage.
pub fn write_response(resp: &ChatResponse<'_>, out: &mut Vec<u8>) -> Result<Usage, TranslateError> {
    let usage = resp
        .usage
        .as_ref()
        .map(Usage::from_openai)
        .unwrap_or_default();
    let mut content = Vec::new();
    let mut finish = None;
    if let Some(choice) = resp.choices.first() {
        let m = &choice.message;
        finish = choice
            .finish_reason
            .as_deref()
            .and_then(FinishReason::parse);
        if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            content.push(Block {
                kind: Cow::Borrowed("thinking"),
                thinking: Some(Cow::Borrowed(r)),
                signature: Some(Cow::Borrowed("")),
                ..Block::default()
            });
        }
        if let Some(t) = m.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(Block::text(t, None));
        }
        if let Some(r) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
            content.push(Block::text(r, None));
            finish = Some(FinishReason::ContentFilter);
        }
        for call in m.tool_calls.iter().flatten() {
            content.push(Block {
                kind: Cow::Borrowed("tool_use"),
                id: Some(Cow::Borrowed(&call.id)),
                name: Some(Cow::Borrowed(&call.function.name)),
                input: Some(call.function.arguments_object()?),
                ..Block::default()
            });
        }
    }
    let body = MessageResponse {
        id: message_id(&resp.id),
        kind: Cow::Borrowed("message"),
        role: Cow::Borrowed("assistant"),
        model: Cow::Borrowed(&resp.model),
        content,
        stop_reason: Some(Cow::Borrowed(stop_reason(finish))),
        stop_sequence: None,
        usage: AnthropicUsage::from_usage(&usage),
    };
    serde_json::to_writer(out, &body).map_err(|_| TranslateError::BadJson("a response"))?;
    Ok(usage)
}
