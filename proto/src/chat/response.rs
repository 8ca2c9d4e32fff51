//! OpenAI's chat-completions responses: the whole object and the stream chunk.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::request::ToolCall;
use super::translate::FinishReason;
use super::usage::OpenAiUsage;
use super::Usage;

/// A non-streaming `chat.completion`. Translators build it (with owned strings) from a
/// provider's answer; the Anthropic ingress parses it (borrowing) from an OpenAI-shaped
/// provider's answer.
#[derive(Debug, Deserialize, Serialize)]
pub struct ChatResponse<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(default = "completion_object", borrow)]
    pub object: Cow<'a, str>,
    #[serde(default)]
    pub created: u64,
    #[serde(borrow)]
    pub model: Cow<'a, str>,
    #[serde(borrow)]
    pub choices: Vec<Choice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<OpenAiUsage>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<Cow<'a, str>>,
}

fn completion_object() -> Cow<'static, str> {
    Cow::Borrowed("chat.completion")
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Choice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(borrow)]
    pub message: ResponseMessage<'a>,
    /// `stop`, `length`, `tool_calls`, `content_filter` (see
    /// [`super::FinishReason::parse`]); `null` while unknown.
    #[serde(borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The assistant's message in a response.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ResponseMessage<'a> {
    #[serde(default = "assistant_role", borrow)]
    pub role: Cow<'a, str>,
    /// Text; `null` when the answer is only tool calls. Serialized as `null`, not
    /// omitted, as OpenAI does.
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Cow<'a, str>>,
    /// Reasoning text some OpenAI-compatible servers (DeepSeek, vLLM) return.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

fn assistant_role() -> Cow<'static, str> {
    Cow::Borrowed("assistant")
}

/// One `chat.completion.chunk` (the `data:` of one stream frame), for parsing an
/// OpenAI-shaped stream. Borrowed from the frame.
#[derive(Debug, Deserialize)]
pub struct ChatChunk<'a> {
    #[serde(default, borrow)]
    pub id: Cow<'a, str>,
    #[serde(default)]
    pub created: u64,
    #[serde(default, borrow)]
    pub model: Cow<'a, str>,
    #[serde(default, borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    /// Present (non-null) on the final usage chunk when `include_usage` was asked for.
    #[serde(default)]
    pub usage: Option<OpenAiUsage>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkChoice<'a> {
    #[serde(default)]
    pub index: u32,
    #[serde(default, borrow)]
    pub delta: Delta<'a>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, borrow)]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
}

/// A fragment of a streamed tool call: the first fragment for an `index` carries `id`
/// and `function.name`, later ones only pieces of `function.arguments`.
#[derive(Debug, Deserialize)]
pub struct ToolCallDelta<'a> {
    pub index: u32,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

/// Append `piece` to `acc`, borrowing while there is only one piece (the usual case: one
/// text block), so a translated answer copies its text only when it must join parts.
pub fn join_text<'a>(acc: &mut Option<Cow<'a, str>>, piece: Cow<'a, str>) {
    match acc {
        None => *acc = Some(piece),
        Some(s) => s.to_mut().push_str(&piece),
    }
}

/// The parts of a one-choice answer, as every provider translator gathers them.
pub struct Answer<'a> {
    pub text: Option<Cow<'a, str>>,
    pub reasoning: Option<Cow<'a, str>>,
    pub tool_calls: Vec<ToolCall<'a>>,
    pub finish: FinishReason,
}

impl<'a> ChatResponse<'a> {
    /// A `chat.completion` with one choice. Content is `null` only when the answer is
    /// tool calls alone (as OpenAI writes it), else at least `""`.
    pub fn single(id: &str, model: &str, created: u64, a: Answer<'a>, usage: &Usage) -> Self {
        let has_calls = !a.tool_calls.is_empty();
        let content = match a.text {
            None if has_calls => None,
            None => Some(Cow::Borrowed("")),
            t => t,
        };
        ChatResponse {
            id: Cow::Owned(id.to_owned()),
            object: Cow::Borrowed("chat.completion"),
            created,
            model: Cow::Owned(model.to_owned()),
            choices: vec![Choice {
                index: 0,
                message: ResponseMessage {
                    role: Cow::Borrowed("assistant"),
                    content,
                    tool_calls: has_calls.then_some(a.tool_calls),
                    refusal: None,
                    reasoning_content: a.reasoning,
                },
                finish_reason: Some(Cow::Borrowed(a.finish.as_str())),
            }],
            usage: Some(usage.to_openai()),
            system_fingerprint: None,
        }
    }
}
