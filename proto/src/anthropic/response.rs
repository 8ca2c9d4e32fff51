//! Anthropic Messages response → OpenAI `chat.completion` (the egress).
//!
//! | Anthropic | OpenAI |
//! |---|---|
//! | `text` blocks | `content`, joined with no separator (`null` when the answer is only tool calls) |
//! | `tool_use{id,name,input}` | `tool_calls[{id,type:function,function{name,arguments}}]`, `arguments` the `input` JSON text as received |
//! | the [`JSON_TOOL_NAME`] tool when [`ResponseMeta::json_tool`] | its `input` text becomes `content`, finish reason `stop` |
//! | `thinking` blocks | `reasoning_content` (joined); signatures are dropped |
//! | `redacted_thinking`, server tool blocks (`server_tool_use`, `web_search_tool_result`, ...) | dropped |
//! | `stop_reason` | `finish_reason`, see [`finish_reason`] |
//! | `usage` | [`Usage`]: `input_tokens`→`input`, `cache_creation_input_tokens`→`cache_write`, `cache_read_input_tokens`→`cache_read`, `output_tokens`→`output`; OpenAI's `usage` from it (`prompt_tokens` is all three input counts) |

use std::borrow::Cow;

use super::request::JSON_TOOL_NAME;
use super::types::MessageResponse;
use crate::chat::response::{join_text, Answer};
use crate::chat::{ChatResponse, FinishReason, ToolCall, ToolCallFunction, TranslateError, Usage};

/// What the caller knows about the response it is translating.
#[derive(Clone, Copy, Debug)]
pub struct ResponseMeta<'m> {
    /// The `id` written (the caller's; Anthropic's own `msg_…` id is an option).
    pub id: &'m str,
    /// The client-facing model name.
    pub model: &'m str,
    pub created: u64,
    /// From [`RequestMeta::json_tool`](super::RequestMeta::json_tool).
    pub json_tool: bool,
}

/// Anthropic's `stop_reason` in OpenAI's vocabulary:
/// - `end_turn`, `stop_sequence`, `pause_turn` (a server tool paused the turn; the text so
///   far is complete) → `stop`;
/// - `max_tokens`, `model_context_window_exceeded` → `length`;
/// - `tool_use` → `tool_calls` when the answer has tool calls (`stop` when the only tool
///   called was the JSON tool);
/// - `refusal` → `content_filter`;
/// - unknown → `stop`.
pub fn finish_reason(stop_reason: &str, has_calls: bool) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" if has_calls => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Read a Messages API answer. Strings borrow from `body` where the JSON allows.
pub fn parse_response<'a>(
    body: &'a [u8],
    meta: &ResponseMeta<'_>,
) -> Result<(ChatResponse<'a>, Usage), TranslateError> {
    const BAD: TranslateError = TranslateError::BadJson("an Anthropic Messages response");
    // serde would also read a struct from an array; only an object is an answer.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(BAD);
    }
    let resp: MessageResponse<'a> = serde_json::from_slice(body).map_err(|_| BAD)?;
    let mut usage = Usage::default();
    resp.usage.apply(&mut usage);

    let mut text: Option<Cow<'a, str>> = None;
    let mut reasoning: Option<Cow<'a, str>> = None;
    let mut calls = Vec::new();
    for b in resp.content {
        match &*b.kind {
            "text" => join_text(&mut text, b.text.unwrap_or_default()),
            "thinking" => join_text(&mut reasoning, b.thinking.unwrap_or_default()),
            "tool_use" => {
                let input = b.input.map_or("{}", |r| r.get());
                let name = b.name.unwrap_or_default();
                if meta.json_tool && name == JSON_TOOL_NAME {
                    join_text(&mut text, Cow::Borrowed(input));
                    continue;
                }
                calls.push(ToolCall {
                    id: b.id.unwrap_or_default(),
                    kind: Cow::Borrowed("function"),
                    function: ToolCallFunction {
                        name,
                        arguments: Cow::Borrowed(input),
                    },
                });
            }
            _ => {}
        }
    }
    let has_calls = !calls.is_empty();
    let finish = finish_reason(resp.stop_reason.as_deref().unwrap_or("end_turn"), has_calls);
    let answer = Answer {
        text,
        reasoning,
        tool_calls: calls,
        finish,
    };
    let response = ChatResponse::single(meta.id, meta.model, meta.created, answer, &usage);
    Ok((response, usage))
}
