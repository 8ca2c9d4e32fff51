//! Writing heads: status lines and header fields appended to a caller's buffer, with no
//! allocation beyond the buffer's own growth.

/// Append `HTTP/1.1 {status} {reason}\r\n`.
///
/// The SP after the code is written even when [`reason_phrase`] has no phrase for it
/// (`HTTP/1.1 599 \r\n`): RFC 9112 §4 makes that SP mandatory and the phrase optional.
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    debug_assert!(
        (100..=999).contains(&status),
        "status codes are three digits"
    );
    let reason = reason_phrase(status);
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut n = status;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.reserve(9 + (digits.len() - at) + 1 + reason.len() + 2);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&digits[at..]);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Append `{name}: {value}\r\n`.
///
/// The caller guarantees `name` is a token and `value` holds no CR, LF or NUL (values
/// copied from a parsed head already satisfy this); debug builds check it, since a CRLF
/// in a value would inject a header.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    debug_assert!(
        !name.is_empty() && name.iter().all(|&b| super::head::is_tchar(b)),
        "header name is not a token"
    );
    debug_assert!(
        !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
        "header value would inject a line"
    );
    out.reserve(name.len() + 2 + value.len() + 2);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The canonical reason phrase for a status ("OK", "Bad Request", ...; "" when unknown).
///
/// Phrases follow RFC 9110 §15 (so 413 is "Content Too Large", 422 "Unprocessable
/// Content"). 499 is nginx's "Client Closed Request": never sent, but logged when the
/// client leaves before the response.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        499 => "Client Closed Request",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
