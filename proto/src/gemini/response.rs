//! Gemini `GenerateContentResponse` → OpenAI `chat.completion`.
//!
//! | Gemini | OpenAI | notes |
//! |---|---|---|
//! | `candidates[i]` | `choices[i]` | `index` is the position in the array |
//! | `text` parts | `message.content` | joined with no separator; `null` when the candidate only calls functions |
//! | `text` parts with `thought: true` | `message.reasoning_content` | thought summaries (only sent when `includeThoughts` was set) |
//! | `functionCall{name,args,id?}` | `tool_calls[]` | id from [`super::ids`] (Gemini's own id if present, else `call_<prefix>_<n>`, `n` counting across candidates); `arguments` is the `args` JSON text exactly as received; a `thoughtSignature` rides in the id |
//! | `inlineData`, `executableCode`, `codeExecutionResult`, `fileData` parts | — | dropped: a chat message has no place for them |
//! | `thoughtSignature` on a text part | — | dropped (Gemini validates only function call signatures) |
//! | `finishReason` | `finish_reason` | see [`finish_reason`] |
//! | `promptFeedback.blockReason` with no candidates | one choice, `content: ""`, `content_filter` | |
//! | `usageMetadata` | `usage` | see the normalization rules on `usage` in this file |
//! | `modelVersion`, `responseId`, `safetyRatings`, `citationMetadata`, `groundingMetadata`, `avgLogprobs` | — | dropped; `id`, `model`, `created` come from the caller |

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::ids;
use crate::chat::response::join_text;
use crate::chat::{ChatResponse, Choice, FinishReason, ResponseMessage, ToolCall};
use crate::chat::{ToolCallFunction, TranslateError, Usage};

/// What the caller knows and Gemini does not say (or says differently).
#[derive(Clone, Copy, Debug)]
pub struct ResponseMeta<'m> {
    /// The `chatcmpl-...` id the client sees.
    pub id: &'m str,
    /// The model name the client sees (usually the one it asked for).
    pub model: &'m str,
    pub created: u64,
    /// Makes generated tool call ids unique across responses (see [`super::ids`]).
    pub call_prefix: &'m str,
}

// --- the wire shape, borrowed (shared with the stream translator) ---

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse<'a> {
    #[serde(default, borrow)]
    pub candidates: Vec<Candidate<'a>>,
    #[serde(default, borrow)]
    pub prompt_feedback: Option<PromptFeedback<'a>>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    /// An error object in a stream frame.
    #[serde(default, borrow)]
    pub error: Option<&'a RawValue>,
}

impl<'a> GenerateContentResponse<'a> {
    /// Parse one response object. Only an object: serde would also read this struct
    /// from a JSON array.
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate<'a> {
    #[serde(default, borrow)]
    pub content: Option<CandidateContent<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct CandidateContent<'a> {
    #[serde(default, borrow)]
    pub parts: Vec<Part<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub thought: bool,
    #[serde(default, borrow)]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow)]
    pub thought_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
pub(crate) struct FunctionCall<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub args: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
}

impl<'a> FunctionCall<'a> {
    /// `args` as JSON text, exactly as received; `{}` when absent or `null`.
    pub fn args_text(&self) -> &'a str {
        match self.args {
            Some(raw) if raw.get() != "null" => raw.get(),
            _ => "{}",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback<'a> {
    #[serde(default, borrow)]
    pub block_reason: Option<Cow<'a, str>>,
}

/// `usageMetadata`. Counts are absent (not 0) when zero, as proto3 JSON omits defaults.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
}

/// Gemini's usage, normalized:
/// - `promptTokenCount` includes the cached tokens (`cachedContentTokenCount`), so
///   `input = prompt + toolUsePrompt − cached` and `cache_read = cached`;
///   `toolUsePromptTokenCount` (results of built-in tools fed back to the model) is
///   prompt the model read, billed as input;
/// - `candidatesTokenCount` excludes thinking, so `output = candidates + thoughts` and
///   `reasoning = thoughts` (OpenAI's `completion_tokens` includes reasoning);
/// - Gemini reports no cache writes (explicit caches are created by a separate call).
pub(crate) fn usage(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count + u.tool_use_prompt_token_count;
    Usage {
        input: prompt.saturating_sub(u.cached_content_token_count),
        output: u.candidates_token_count + u.thoughts_token_count,
        cache_read: u.cached_content_token_count.min(prompt),
        cache_write: 0,
        reasoning: u.thoughts_token_count,
    }
}

/// Gemini's `finishReason` in OpenAI's vocabulary:
/// - `MAX_TOKENS` → `length`;
/// - `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII`, `LANGUAGE`,
///   `IMAGE_SAFETY`, `IMAGE_PROHIBITED_CONTENT`, `IMAGE_RECITATION` → `content_filter`;
/// - anything else (`STOP`, `OTHER`, `MALFORMED_FUNCTION_CALL`, `UNEXPECTED_TOOL_CALL`,
///   `TOO_MANY_TOOL_CALLS`, unknown) → `tool_calls` when the candidate called functions
///   (Gemini says `STOP` there; OpenAI clients loop on `tool_calls`), else `stop`.
pub fn finish_reason(gemini: &str, has_calls: bool) -> FinishReason {
    match gemini {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "LANGUAGE"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ if has_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Read a `generateContent` answer. Strings borrow from `body` where the JSON allows.
pub fn parse_response<'a>(
    body: &'a [u8],
    meta: &ResponseMeta<'_>,
) -> Result<(ChatResponse<'a>, Usage), TranslateError> {
    let resp = GenerateContentResponse::parse(body)
        .ok_or(TranslateError::BadJson("a Gemini GenerateContentResponse"))?;
    let usage = resp.usage_metadata.as_ref().map(usage).unwrap_or_default();
    let mut calls = 0u32;
    let mut choices = Vec::with_capacity(resp.candidates.len().max(1));
    for (i, c) in resp.candidates.into_iter().enumerate() {
        choices.push(choice(i as u32, c, meta.call_prefix, &mut calls));
    }
    if choices.is_empty() {
        // No candidate: the prompt was blocked (promptFeedback.blockReason), or Gemini
        // produced nothing. Either way the client gets one empty choice.
        let blocked = resp
            .prompt_feedback
            .is_some_and(|f| f.block_reason.is_some());
        choices.push(Choice {
            index: 0,
            message: ResponseMessage {
                role: Cow::Borrowed("assistant"),
                content: Some(Cow::Borrowed("")),
                ..ResponseMessage::default()
            },
            finish_reason: Some(Cow::Borrowed(if blocked {
                FinishReason::ContentFilter.as_str()
            } else {
                FinishReason::Stop.as_str()
            })),
        });
    }
    let response = ChatResponse {
        id: Cow::Owned(meta.id.to_owned()),
        object: Cow::Borrowed("chat.completion"),
        created: meta.created,
        model: Cow::Owned(meta.model.to_owned()),
        choices,
        usage: Some(usage.to_openai()),
        system_fingerprint: None,
    };
    Ok((response, usage))
}

fn choice<'a>(index: u32, c: Candidate<'a>, prefix: &str, calls: &mut u32) -> Choice<'a> {
    let mut text: Option<Cow<'a, str>> = None;
    let mut reasoning: Option<Cow<'a, str>> = None;
    let mut tool_calls = Vec::new();
    for p in c.content.map(|c| c.parts).unwrap_or_default() {
        if let Some(f) = p.function_call {
            let mut id = String::new();
            ids::write(
                &mut id,
                prefix,
                *calls,
                f.id.as_deref(),
                p.thought_signature.as_deref(),
            );
            *calls += 1;
            tool_calls.push(ToolCall {
                id: Cow::Owned(id),
                kind: Cow::Borrowed("function"),
                function: ToolCallFunction {
                    arguments: Cow::Borrowed(f.args_text()),
                    name: f.name,
                },
            });
        } else if let Some(t) = p.text {
            join_text(if p.thought { &mut reasoning } else { &mut text }, t);
        }
    }
    let has_calls = !tool_calls.is_empty();
    let finish = finish_reason(c.finish_reason.as_deref().unwrap_or("STOP"), has_calls);
    let content = match text {
        None if has_calls => None,
        None => Some(Cow::Borrowed("")),
        t => t,
    };
    Choice {
        index,
        message: ResponseMessage {
            role: Cow::Borrowed("assistant"),
            content,
            tool_calls: has_calls.then_some(tool_calls),
            refusal: None,
            reasoning_content: reasoning,
        },
        finish_reason: Some(Cow::Borrowed(finish.as_str())),
    }
}
