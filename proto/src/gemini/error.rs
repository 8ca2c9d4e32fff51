//! Gemini errors → [`ErrorKind`] and OpenAI's error body.
//!
//! Gemini answers failures with Google's standard error,
//! `{"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}`
//! (sometimes wrapped in a one-element array), and in a stream sends the same object as
//! a `data:` frame. The `status` decides:
//!
//! | `status` | kind |
//! |---|---|
//! | `INVALID_ARGUMENT`, `FAILED_PRECONDITION`, `OUT_OF_RANGE` | `InvalidRequest`; `ContextLength` when the message says the input token count exceeds the maximum; `Authentication` for an invalid API key (Gemini reports that as 400 `API_KEY_INVALID`) |
//! | `UNAUTHENTICATED` | `Authentication` |
//! | `PERMISSION_DENIED` | `PermissionDenied` |
//! | `NOT_FOUND` | `NotFound` |
//! | `RESOURCE_EXHAUSTED` | `RateLimit` |
//! | `UNAVAILABLE` | `Overloaded` ("The model is overloaded") |
//! | `INTERNAL`, `DEADLINE_EXCEEDED`, `UNKNOWN`, `CANCELLED`, `ABORTED` | `Server` |
//! | missing or other | from the HTTP status |
//!
//! The OpenAI body keeps Gemini's message; `code` is OpenAI's `context_length_exceeded`
//! for `ContextLength` (clients test for it) and Gemini's `status` otherwise.

use std::borrow::Cow;

use serde::Deserialize;

use crate::chat::{ErrorKind, StreamError};

/// Longest message kept from a body that is not Gemini's error JSON.
pub const RAW_MESSAGE_BYTES_MAX: usize = 512;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: ErrorObject<'a>,
}

#[derive(Deserialize)]
pub(crate) struct ErrorObject<'a> {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default, borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    details: Option<&'a serde_json::value::RawValue>,
}

impl ErrorObject<'_> {
    pub(crate) fn into_error(self, http_status: u16) -> StreamError {
        let status = if http_status == 0 {
            self.code.unwrap_or(0)
        } else {
            http_status
        };
        let details = self.details.map_or("", |d| d.get());
        let kind = classify(status, &self.status, &self.message, details);
        let code = match kind {
            ErrorKind::ContextLength => "context_length_exceeded".to_owned(),
            _ if self.status.is_empty() => format!("http_{status}"),
            _ => self.status.into_owned(),
        };
        StreamError {
            kind,
            code,
            message: self.message.into_owned(),
        }
    }
}

/// Read a Gemini error answer (`http_status` 0 when unknown, as in a stream: the
/// error's own `code` is used). Never fails: a body that is not Gemini's error JSON is
/// classified by the HTTP status and quoted (up to [`RAW_MESSAGE_BYTES_MAX`] bytes).
pub fn parse_error(http_status: u16, body: &[u8]) -> StreamError {
    // Checked by the first byte: serde would also read a struct from an array.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {
            if let Ok(e) = serde_json::from_slice::<Envelope>(body) {
                return e.error.into_error(http_status);
            }
        }
        Some(b'[') => {
            if let Ok([e]) = serde_json::from_slice::<[Envelope; 1]>(body) {
                return e.error.into_error(http_status);
            }
        }
        _ => {}
    }
    let raw = &body[..body.len().min(RAW_MESSAGE_BYTES_MAX)];
    let message = String::from_utf8_lossy(raw).trim().to_owned();
    StreamError {
        kind: by_http_status(http_status),
        code: format!("http_{http_status}"),
        message: if message.is_empty() {
            format!("Gemini answered HTTP {http_status}")
        } else {
            message
        },
    }
}

/// [`parse_error`], and write the OpenAI error body for the client into `out`.
pub fn translate_error(http_status: u16, body: &[u8], out: &mut Vec<u8>) -> StreamError {
    let e = parse_error(http_status, body);
    crate::openai::error::write_error(out, &e.message, e.kind.openai_type(), None, Some(&e.code));
    e
}

fn classify(http_status: u16, status: &str, message: &str, details: &str) -> ErrorKind {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            if is_context_length(message) {
                ErrorKind::ContextLength
            } else if details.contains("API_KEY_INVALID") || message.contains("API key not valid") {
                ErrorKind::Authentication
            } else {
                ErrorKind::InvalidRequest
            }
        }
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimit,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "INTERNAL" | "DEADLINE_EXCEEDED" | "UNKNOWN" | "CANCELLED" | "ABORTED" => ErrorKind::Server,
        _ if http_status == 400 && is_context_length(message) => ErrorKind::ContextLength,
        _ => by_http_status(http_status),
    }
}

/// "The input token count (1200293) exceeds the maximum number of tokens allowed
/// (1048576)."
fn is_context_length(message: &str) -> bool {
    message.contains("input token count") && message.contains("exceeds the maximum")
}

fn by_http_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimit,
        503 => ErrorKind::Overloaded,
        400..=499 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Server,
    }
}
