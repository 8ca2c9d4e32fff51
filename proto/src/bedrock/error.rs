//! Bedrock errors → [`ErrorKind`] and OpenAI's error body.
//!
//! Bedrock Runtime (AWS's `restJson1` protocol) answers a failure with an HTTP status, an
//! `x-amzn-errortype` header naming the exception (`ValidationException:http://...`, the
//! part after `:` is a namespace URL) and a body `{"message": "..."}` (sometimes
//! `"Message"`, sometimes with a `__type` member such as
//! `com.amazon.coral.validate#ValidationException`). ConverseStream reports failures
//! after the response head as `exception` messages whose `:exception-type` is the member
//! name (`throttlingException`) and whose payload is the same `{"message"}` body. The
//! exception name decides, compared without regard to the case of its first letter:
//!
//! | exception | HTTP | kind |
//! |---|---|---|
//! | `ValidationException` | 400 | `InvalidRequest`; `ContextLength` when the message says the input is too long (see [`is_context_length`]) |
//! | `ServiceQuotaExceededException` | 400 | `RateLimit` (AWS: "resubmit your request later") |
//! | `ConflictException` | 400 | `InvalidRequest` |
//! | `UnrecognizedClientException`, `InvalidSignatureException`, `IncompleteSignature[Exception]`, `MissingAuthenticationToken[Exception]`, `InvalidClientTokenId`, `ExpiredTokenException` | 400/403 | `Authentication` (the gateway's AWS credentials; the JSON front end names the exceptions with the `Exception` suffix in `x-amzn-errortype`, the Query protocol's codes without it) |
//! | `AccessDeniedException` | 403 | `PermissionDenied` |
//! | `ResourceNotFoundException` | 404 | `NotFound` |
//! | `ModelTimeoutException` | 408 | `Server` |
//! | `ModelErrorException` | 424 | `Server` |
//! | `ThrottlingException` | 429 | `RateLimit` |
//! | `ModelNotReadyException` | 429 | `Overloaded` |
//! | `InternalServerException`, `InternalFailure` | 500 | `Server` |
//! | `ServiceUnavailableException` | 503 | `Overloaded` |
//! | `ModelStreamErrorException` | in stream | `Server` |
//! | missing or other | | from the HTTP status (0, in a stream: `Server`) |
//!
//! The OpenAI body keeps Bedrock's message; `code` is `context_length_exceeded` for
//! `ContextLength` (clients test for it), else the exception name with its first letter
//! upper-cased (`ThrottlingException` from both the header and the stream), else
//! `http_<status>`.

use std::borrow::Cow;

use serde::Deserialize;

use crate::chat::{ErrorKind, StreamError};

/// Longest message kept from a body that is not Bedrock's error JSON.
pub const RAW_MESSAGE_BYTES_MAX: usize = 512;

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(default, borrow, alias = "Message")]
    message: Option<Cow<'a, str>>,
    #[serde(default, borrow, rename = "__type")]
    kind: Option<Cow<'a, str>>,
}

/// The exception name out of an `x-amzn-errortype` value or a `__type` member: the part
/// after the last `#` and before the first `:`.
fn exception_name(raw: &str) -> &str {
    let s = raw.rsplit('#').next().unwrap_or(raw);
    s.split(':').next().unwrap_or(s).trim()
}

/// The kind of a Bedrock exception by name (`ThrottlingException` or the stream's
/// `throttlingException`); `None` for a name not in the table above. `message` decides
/// between `InvalidRequest` and `ContextLength` for validation errors.
pub fn exception_kind(name: &str, message: &str) -> Option<ErrorKind> {
    let is = |want: &str| {
        name.len() == want.len()
            && name.as_bytes()[..1].eq_ignore_ascii_case(&want.as_bytes()[..1])
            && name.as_bytes()[1..] == want.as_bytes()[1..]
    };
    Some(if is("ValidationException") {
        if is_context_length(message) {
            ErrorKind::ContextLength
        } else {
            ErrorKind::InvalidRequest
        }
    } else if is("ThrottlingException") || is("ServiceQuotaExceededException") {
        ErrorKind::RateLimit
    } else if is("ServiceUnavailableException") || is("ModelNotReadyException") {
        ErrorKind::Overloaded
    } else if is("InternalServerException")
        || is("InternalFailure")
        || is("ModelErrorException")
        || is("ModelTimeoutException")
        || is("ModelStreamErrorException")
    {
        ErrorKind::Server
    } else if is("AccessDeniedException") {
        ErrorKind::PermissionDenied
    } else if is("ResourceNotFoundException") {
        ErrorKind::NotFound
    } else if is("UnrecognizedClientException")
        || is("InvalidSignatureException")
        || is("IncompleteSignature")
        || is("IncompleteSignatureException")
        || is("MissingAuthenticationToken")
        || is("MissingAuthenticationTokenException")
        || is("InvalidClientTokenId")
        || is("ExpiredTokenException")
    {
        ErrorKind::Authentication
    } else if is("ConflictException") {
        ErrorKind::InvalidRequest
    } else {
        return None;
    })
}

/// Bedrock's context-overflow messages: "Input is too long for requested model.",
/// Claude's "prompt is too long: 201234 tokens > 200000 maximum", "Too many input
/// tokens", and "input length and `max_tokens` exceed context limit".
pub fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too long")
        || m.contains("too many input tokens")
        || m.contains("context limit")
        || m.contains("context window")
        || m.contains("context length")
}

fn by_http_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimit,
        503 => ErrorKind::Overloaded,
        400..=499 if status != 408 => ErrorKind::InvalidRequest,
        _ => ErrorKind::Server,
    }
}

/// Build the error from what is known. `name` is the exception name (empty if unknown).
pub(crate) fn classify(http_status: u16, name: &str, message: String) -> StreamError {
    let kind = exception_kind(name, &message).unwrap_or_else(|| match http_status {
        400 if is_context_length(&message) => ErrorKind::ContextLength,
        _ => by_http_status(http_status),
    });
    let code = if kind == ErrorKind::ContextLength {
        "context_length_exceeded".to_owned()
    } else if !name.is_empty() {
        let mut c = name.to_owned();
        if let Some(first) = c.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        c
    } else {
        format!("http_{http_status}")
    };
    StreamError {
        kind,
        code,
        message,
    }
}

/// Read a Bedrock error answer: `http_status`, the `x-amzn-errortype` header value if
/// there was one, and the body. Never fails: a body that is not Bedrock's error JSON is
/// quoted (up to [`RAW_MESSAGE_BYTES_MAX`] bytes).
pub fn parse_error(http_status: u16, error_type: Option<&[u8]>, body: &[u8]) -> StreamError {
    let parsed: Option<ErrorBody> = super::response::parse_object(body);
    let header_name = error_type
        .and_then(|t| std::str::from_utf8(t).ok())
        .map(exception_name)
        .filter(|n| !n.is_empty() && n.is_ascii());
    let body_name = parsed
        .as_ref()
        .and_then(|p| p.kind.as_deref())
        .map(exception_name)
        .filter(|n| !n.is_empty() && n.is_ascii());
    let name = header_name.or(body_name).unwrap_or("").to_owned();
    let message = match parsed.and_then(|p| p.message) {
        Some(m) => m.into_owned(),
        None => {
            let raw = &body[..body.len().min(RAW_MESSAGE_BYTES_MAX)];
            let m = String::from_utf8_lossy(raw).trim().to_owned();
            if m.is_empty() {
                format!("Bedrock answered HTTP {http_status}")
            } else {
                m
            }
        }
    };
    classify(http_status, &name, message)
}

/// [`parse_error`], and write the OpenAI error body for the client into `out`.
pub fn translate_error(
    http_status: u16,
    error_type: Option<&[u8]>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> StreamError {
    let e = parse_error(http_status, error_type, body);
    crate::openai::error::write_error(out, &e.message, e.kind.openai_type(), None, Some(&e.code));
    e
}
