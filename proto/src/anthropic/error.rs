//! Errors in both directions.
//!
//! **Egress** ([`parse_error`], [`translate_error`]): Anthropic answers failures with
//! `{"type":"error","error":{"type":..,"message":..},"request_id":..}`, and sends the same
//! `error` object in a stream's `error` event. The error `type` decides the kind:
//!
//! | Anthropic `type` | HTTP | kind |
//! |---|---|---|
//! | `invalid_request_error` | 400 | `InvalidRequest`; `ContextLength` when the message is "prompt is too long: N tokens > M maximum" or "input length and `max_tokens` exceed context limit: …" |
//! | `authentication_error` | 401 | `Authentication` |
//! | `billing_error` | 402 | `RateLimit` (quota exhausted: another deployment may serve it) |
//! | `permission_error` | 403 | `PermissionDenied` |
//! | `not_found_error` | 404 | `NotFound` |
//! | `request_too_large` | 413 | `InvalidRequest` |
//! | `rate_limit_error` | 429 | `RateLimit` |
//! | `api_error`, `timeout_error` | 500, 504 | `Server` |
//! | `overloaded_error` | 529 | `Overloaded` (so is any 529) |
//! | missing or other | | from the HTTP status |
//!
//! The OpenAI body keeps Anthropic's message; its `code` is OpenAI's
//! `context_length_exceeded` for `ContextLength` (clients test for it) and Anthropic's
//! error `type` otherwise.
//!
//! **Ingress** ([`parse_openai_error`], [`translate_openai_error`], [`write_error`]): an
//! OpenAI-shaped error (from whichever provider served an Anthropic client) becomes
//! Anthropic's shape with [`ErrorKind::anthropic_type`] as its `type`.

use std::borrow::Cow;

use serde::Deserialize;

use super::types::ErrorObject;
use crate::chat::{ErrorKind, StreamError};
use crate::json::write_string;

/// Longest message kept from a body that is not the expected error JSON.
pub const RAW_MESSAGE_BYTES_MAX: usize = 512;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: ErrorObject<'a>,
}

/// Read an Anthropic error answer. Never fails: a body that is not Anthropic's error JSON
/// is classified by the HTTP status and quoted (up to [`RAW_MESSAGE_BYTES_MAX`] bytes).
pub fn parse_error(http_status: u16, body: &[u8]) -> StreamError {
    if let Some(e) = envelope(body) {
        let kind = classify(http_status, &e.kind, &e.message);
        let code = match kind {
            ErrorKind::ContextLength => "context_length_exceeded".to_owned(),
            _ if e.kind.is_empty() => format!("http_{http_status}"),
            _ => e.kind.into_owned(),
        };
        return StreamError {
            kind,
            code,
            message: e.message.into_owned(),
        };
    }
    raw_error(http_status, body, "Anthropic")
}

/// [`parse_error`], and write the OpenAI error body for the client into `out`.
pub fn translate_error(http_status: u16, body: &[u8], out: &mut Vec<u8>) -> StreamError {
    let e = parse_error(http_status, body);
    crate::openai::error::write_error(out, &e.message, e.kind.openai_type(), None, Some(&e.code));
    e
}

fn envelope(body: &[u8]) -> Option<ErrorObject<'_>> {
    // serde would also read a struct from an array; only an object is an error body.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    serde_json::from_slice::<Envelope>(body)
        .ok()
        .map(|e| e.error)
}

fn raw_error(http_status: u16, body: &[u8], who: &str) -> StreamError {
    let mut end = body.len().min(RAW_MESSAGE_BYTES_MAX);
    // Cut at a character boundary when the cut fell inside one.
    while end > 0 && end < body.len() && std::str::from_utf8(&body[..end]).is_err() {
        end -= 1;
    }
    let message = String::from_utf8_lossy(&body[..end]).trim().to_owned();
    StreamError {
        kind: by_http_status(http_status),
        code: format!("http_{http_status}"),
        message: if message.is_empty() {
            format!("{who} answered HTTP {http_status}")
        } else {
            message
        },
    }
}

/// The kind of an Anthropic error; `http_status` 0 when unknown (in a stream).
pub(crate) fn classify(http_status: u16, kind: &str, message: &str) -> ErrorKind {
    if http_status == 529 {
        return ErrorKind::Overloaded;
    }
    match kind {
        "invalid_request_error" if is_context_length(message) => ErrorKind::ContextLength,
        "invalid_request_error" | "request_too_large" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "billing_error" | "rate_limit_error" => ErrorKind::RateLimit,
        "permission_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "api_error" | "timeout_error" => ErrorKind::Server,
        "overloaded_error" => ErrorKind::Overloaded,
        _ if http_status == 0 => ErrorKind::Server,
        _ => by_http_status(http_status),
    }
}

/// "prompt is too long: 208656 tokens > 200000 maximum", and "input length and
/// `max_tokens` exceed context limit: 197626 + 8192 > 200000, decrease input length or
/// `max_tokens` and try again".
fn is_context_length(message: &str) -> bool {
    message.starts_with("prompt is too long") || message.contains("exceed context limit")
}

fn by_http_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Authentication,
        402 | 429 => ErrorKind::RateLimit,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        503 | 529 => ErrorKind::Overloaded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Server,
    }
}

// --- ingress ---

#[derive(Deserialize)]
struct OpenAiEnvelope<'a> {
    #[serde(borrow)]
    error: OpenAiErrorObject<'a>,
}

/// OpenAI's `error` object (`code` may be a string, a number or `null`).
#[derive(Deserialize)]
pub(crate) struct OpenAiErrorObject<'a> {
    #[serde(default, borrow)]
    pub message: Cow<'a, str>,
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<&'a serde_json::value::RawValue>,
}

impl OpenAiErrorObject<'_> {
    pub(crate) fn into_error(self, http_status: u16) -> StreamError {
        let code = self.code.map(|c| c.get().trim_matches('"')).unwrap_or("");
        let kind = self.kind.as_deref().unwrap_or("");
        let ek = classify_openai(http_status, kind, code);
        StreamError {
            kind: ek,
            code: if code.is_empty() || code == "null" {
                kind.to_owned()
            } else {
                code.to_owned()
            },
            message: self.message.into_owned(),
        }
    }
}

/// Read an OpenAI-shaped error answer (`http_status` 0 in a stream). Never fails, like
/// [`parse_error`].
pub fn parse_openai_error(http_status: u16, body: &[u8]) -> StreamError {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        if let Ok(e) = serde_json::from_slice::<OpenAiEnvelope>(body) {
            return e.error.into_error(http_status);
        }
    }
    raw_error(http_status, body, "the provider")
}

/// [`parse_openai_error`], and write Anthropic's error body for the client into `out`.
pub fn translate_openai_error(http_status: u16, body: &[u8], out: &mut Vec<u8>) -> StreamError {
    let e = parse_openai_error(http_status, body);
    write_error(out, e.kind, &e.message);
    e
}

/// Append `{"type":"error","error":{"type":..,"message":..}}`, Anthropic's error body
/// (and the `data` of its stream `error` event).
pub fn write_error(out: &mut Vec<u8>, kind: ErrorKind, message: &str) {
    out.extend_from_slice(b"{\"type\":\"error\",\"error\":{\"type\":\"");
    out.extend_from_slice(kind.anthropic_type().as_bytes());
    out.extend_from_slice(b"\",\"message\":");
    write_string(out, message.as_bytes());
    out.extend_from_slice(b"}}");
}

fn classify_openai(http_status: u16, kind: &str, code: &str) -> ErrorKind {
    match (kind, code) {
        (_, "context_length_exceeded") => ErrorKind::ContextLength,
        (_, "content_filter" | "content_policy_violation") => ErrorKind::ContentFilter,
        (_, "insufficient_quota" | "rate_limit_exceeded") | ("rate_limit_error", _) => {
            ErrorKind::RateLimit
        }
        ("authentication_error", _) | (_, "invalid_api_key") => ErrorKind::Authentication,
        ("permission_error", _) => ErrorKind::PermissionDenied,
        ("not_found_error", _) | (_, "model_not_found") => ErrorKind::NotFound,
        ("invalid_request_error", _) if http_status < 500 => match http_status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimit,
            _ => ErrorKind::InvalidRequest,
        },
        _ if http_status == 0 => ErrorKind::Server,
        _ => by_http_status(http_status),
    }
}
