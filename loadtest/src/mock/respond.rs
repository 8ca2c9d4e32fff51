//! Response heads and bodies, written into the connection's reused buffers. Pure.

use proto::http1::{write_header, write_status_line};
use proto::openai::error::write_error;

/// `HTTP/1.1 {status}` with a JSON body of `len` bytes to follow; `error_type` is
/// Bedrock's `x-amzn-errortype`.
pub(crate) fn json_head(
    out: &mut Vec<u8>,
    status: u16,
    len: usize,
    close: bool,
    retry_after_s: Option<u64>,
    error_type: Option<&[u8]>,
) {
    write_status_line(out, status);
    write_header(out, b"content-type", b"application/json");
    let mut digits = [0u8; 20];
    write_header(out, b"content-length", decimal(&mut digits, len as u64));
    if let Some(s) = retry_after_s {
        write_header(out, b"retry-after", decimal(&mut digits, s));
    }
    if let Some(t) = error_type {
        write_header(out, b"x-amzn-errortype", t);
    }
    if close {
        write_header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The head of a stream (SSE, or Gemini's streamed JSON array): chunked on HTTP/1.1, close-delimited for HTTP/1.0 clients
/// (which cannot read chunked bodies).
pub(crate) fn sse_head(out: &mut Vec<u8>, content_type: &[u8], close: bool, chunked: bool) {
    write_status_line(out, 200);
    write_header(out, b"content-type", content_type);
    write_header(out, b"cache-control", b"no-cache");
    if chunked {
        write_header(out, b"transfer-encoding", b"chunked");
    }
    if close {
        write_header(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
}

/// The OpenAI error body a real upstream would send with `status`.
pub(crate) fn error_body(out: &mut Vec<u8>, status: u16) {
    let (message, kind, code) = match status {
        401 => (
            "Incorrect API key provided (injected by sluice mock).",
            "invalid_request_error",
            Some("invalid_api_key"),
        ),
        403 => (
            "You are not allowed to access this resource (injected by sluice mock).",
            "invalid_request_error",
            None,
        ),
        404 => (
            "Unknown request URL. Please check the URL for typos (sluice mock).",
            "invalid_request_error",
            Some("unknown_url"),
        ),
        429 => (
            "Rate limit reached for requests (injected by sluice mock).",
            "requests",
            Some("rate_limit_exceeded"),
        ),
        500 => (
            "The server had an error while processing your request (injected by sluice mock).",
            "server_error",
            None,
        ),
        503 => (
            "The engine is currently overloaded, please try again later (injected by sluice mock).",
            "server_error",
            None,
        ),
        s if s >= 500 => (
            "Upstream failure (injected by sluice mock).",
            "server_error",
            None,
        ),
        _ => (
            "Invalid request (injected by sluice mock).",
            "invalid_request_error",
            None,
        ),
    };
    write_error(out, message, kind, None, code);
}

/// The body for a request the codec rejected.
pub(crate) fn codec_error_body(out: &mut Vec<u8>, e: proto::http1::Error) {
    write_error(out, e.message(), "invalid_request_error", None, None);
}

/// `n` in decimal, in `buf`.
pub(crate) fn decimal(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        let mut buf = [0u8; 20];
        assert_eq!(decimal(&mut buf, 0), b"0");
        assert_eq!(decimal(&mut buf, 1234), b"1234");
        assert_eq!(decimal(&mut buf, u64::MAX), u64::MAX.to_string().as_bytes());
    }
}
