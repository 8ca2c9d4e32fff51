//! The OpenAI error body.

use crate::json::write_string;

/// Append `{"error":{"message":..,"type":..,"param":..|null,"code":..|null}}` to `out`,
/// the body OpenAI's API answers every failure with. Strings are JSON-escaped.
///
/// `kind` is OpenAI's `type` (`invalid_request_error`, `authentication_error`,
/// `rate_limit_error`, `server_error`, ...); `code` is its machine-readable code
/// (`model_not_found`, `rate_limit_exceeded`, ...).
pub fn write_error(
    out: &mut Vec<u8>,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) {
    out.extend_from_slice(b"{\"error\":{\"message\":");
    write_string(out, message.as_bytes());
    out.extend_from_slice(b",\"type\":");
    write_string(out, kind.as_bytes());
    out.extend_from_slice(b",\"param\":");
    write_opt(out, param);
    out.extend_from_slice(b",\"code\":");
    write_opt(out, code);
    out.extend_from_slice(b"}}");
}

fn write_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s.as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
}
