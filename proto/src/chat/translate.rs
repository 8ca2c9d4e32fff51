//! What every translator shares: the streaming trait, errors, finish reasons.

use super::Usage;

/// A stream translator: provider stream bytes in, client-facing stream bytes out.
///
/// `feed` takes the upstream body as it arrives (transfer coding already removed, any
/// chunk boundary) and appends whatever complete client frames it can to `out`; it keeps
/// at most the partial frame it has not seen the end of. `finish` is called once when the
/// upstream body ended; it appends the closing frames (`data: [DONE]` for OpenAI clients,
/// `message_stop` for Anthropic ones) if the upstream did not already end the stream
/// properly, and reports a stream that ended early as [`TranslateError::Truncated`].
///
/// An error the provider reports *inside* the stream (an Anthropic `error` event, a
/// Bedrock exception message) is not a translation failure: the translator writes a
/// well-formed error event for the client, remembers it for [`StreamTranslator::error`]
/// (the gateway classifies it for routing), and ignores anything after it.
pub trait StreamTranslator {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError>;
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError>;
    /// Usage seen so far (final once the stream is finished).
    fn usage(&self) -> Usage;
    /// The in-stream provider error, if one arrived.
    fn error(&self) -> Option<&StreamError>;
}

/// Why a translation failed. Small and `Copy`: the gateway maps it to a 502 (upstream sent
/// something we cannot read) or a 400 (the client's request cannot be expressed for this
/// provider).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslateError {
    /// The body is not JSON of the expected shape. `&'static str` names what was expected.
    BadJson(&'static str),
    /// The request uses something the target API cannot express (for example `n > 1` for
    /// Anthropic). The string is the parameter, for the error's `param`.
    Unsupported(&'static str),
    /// The stream framing is broken (SSE line too long, event-stream CRC mismatch, ...).
    BadFrame(&'static str),
    /// A limit was hit (frame or buffered state larger than allowed).
    TooLarge,
    /// The upstream stream ended before its terminal event.
    Truncated,
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TranslateError::BadJson(what) => write!(f, "malformed JSON: expected {what}"),
            TranslateError::Unsupported(param) => {
                write!(f, "`{param}` is not supported by this provider")
            }
            TranslateError::BadFrame(what) => write!(f, "malformed stream: {what}"),
            TranslateError::TooLarge => f.write_str("stream frame larger than the limit"),
            TranslateError::Truncated => f.write_str("stream ended before its final event"),
        }
    }
}

impl std::error::Error for TranslateError {}

/// How a provider classified an error, mapped onto the gateway's retry decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400-class: the request is wrong; retrying elsewhere will not help.
    InvalidRequest,
    /// The prompt is longer than the model's context window (context-window fallback).
    ContextLength,
    Authentication,
    PermissionDenied,
    NotFound,
    /// 429: rate limited or quota exhausted.
    RateLimit,
    /// Provider overloaded (Anthropic 529, Bedrock throttling/unavailable).
    Overloaded,
    /// 5xx or an unknown in-stream error.
    Server,
    /// Content filtered by the provider's safety system.
    ContentFilter,
}

impl ErrorKind {
    /// Whether another attempt (same or other deployment) may succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit | ErrorKind::Overloaded | ErrorKind::Server
        )
    }

    /// The HTTP status a client sees for it when the gateway answers with it.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RateLimit => 429,
            ErrorKind::Overloaded => 503,
            ErrorKind::Server => 502,
        }
    }

    /// OpenAI's error `type` for it.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded | ErrorKind::Server => "server_error",
        }
    }

    /// Anthropic's error `type` for it.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContextLength | ErrorKind::ContentFilter => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Server => "api_error",
        }
    }
}

/// An error a provider reported, in or out of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError {
    pub kind: ErrorKind,
    /// The provider's own code or type (`overloaded_error`, `ThrottlingException`, ...).
    pub code: String,
    pub message: String,
}

/// Why generation stopped, in OpenAI's vocabulary (`finish_reason`). Providers' own
/// reasons map onto it; the Anthropic ingress maps it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

impl FinishReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }

    /// OpenAI's string; `function_call` (the legacy name) reads as `ToolCalls`; anything
    /// unknown is `None`.
    pub fn parse(s: &str) -> Option<FinishReason> {
        Some(match s {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "content_filter" => FinishReason::ContentFilter,
            _ => return None,
        })
    }
}
