//! The normalized usage record.

use serde::{Deserialize, Serialize};

/// Tokens one response used, normalized across providers so that cost is
/// `input·p_in + cache_read·p_cache_read + cache_write·p_cache_write + output·p_out`.
///
/// - `input`: prompt tokens neither read from nor written to a prompt cache (Anthropic's
///   `input_tokens`; OpenAI's `prompt_tokens - cached_tokens`).
/// - `cache_read`: prompt tokens served from the provider's cache.
/// - `cache_write`: prompt tokens written to the provider's cache (Anthropic's
///   `cache_creation_input_tokens`; 0 where the provider does not report it).
/// - `output`: generated tokens, reasoning included (as OpenAI's `completion_tokens`).
/// - `reasoning`: the part of `output` spent on reasoning, for reporting only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl Usage {
    /// All prompt tokens, as OpenAI reports `prompt_tokens`.
    pub fn prompt_total(&self) -> u64 {
        self.input + self.cache_read + self.cache_write
    }

    /// Everything, as OpenAI reports `total_tokens`.
    pub fn total(&self) -> u64 {
        self.prompt_total() + self.output
    }

    /// From OpenAI's `usage` object.
    pub fn from_openai(u: &OpenAiUsage) -> Usage {
        let cached = u.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
        Usage {
            input: u.prompt_tokens.saturating_sub(cached),
            output: u.completion_tokens,
            cache_read: cached,
            cache_write: 0,
            reasoning: u
                .completion_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
        }
    }

    /// To OpenAI's `usage` object.
    pub fn to_openai(&self) -> OpenAiUsage {
        OpenAiUsage {
            prompt_tokens: self.prompt_total(),
            completion_tokens: self.output,
            total_tokens: self.total(),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: self.cache_read,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: self.reasoning,
            }),
        }
    }

    /// Append OpenAI's `usage` object as JSON.
    pub fn write_openai(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        // INVARIANT: writing to a Vec cannot fail.
        let _ = write!(
            out,
            "{{\"prompt_tokens\":{},\"completion_tokens\":{},\"total_tokens\":{},\
             \"prompt_tokens_details\":{{\"cached_tokens\":{}}},\
             \"completion_tokens_details\":{{\"reasoning_tokens\":{}}}}}",
            self.prompt_total(),
            self.output,
            self.total(),
            self.cache_read,
            self.reasoning
        );
    }
}

/// OpenAI's `usage` object. It also reads the Responses API's names for the same
/// counts (`input_tokens`, `output_tokens`, `input_tokens_details`,
/// `output_tokens_details`), so a Responses answer is never costed as zero tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAiUsage {
    #[serde(default, alias = "input_tokens")]
    pub prompt_tokens: u64,
    #[serde(default, alias = "output_tokens")]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(
        default,
        alias = "input_tokens_details",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(
        default,
        alias = "output_tokens_details",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}
