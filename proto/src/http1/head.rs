//! Request and response heads. IMPLEMENTATION PENDING (helper H1).

use super::{BodyFraming, Error, Headers, Limits, Method, Span, Status, Version};

/// A parsed request head. All spans point into the buffer given to [`parse_request`];
/// headers are `headers[..header_count]` of the caller's array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub method_span: Span,
    /// The whole request-target (path and query).
    pub target: Span,
    /// The path part of the target, without `?query`.
    pub path: Span,
    pub version: Version,
    pub header_count: usize,
    /// Bytes of the head, including the final empty line: the body starts here.
    pub head_len: usize,
    pub body: BodyFraming,
    /// Whether the connection may carry another request after this one
    /// (HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// A parsed response head. All spans point into the buffer given to [`parse_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Span,
    pub version: Version,
    pub header_count: usize,
    pub head_len: usize,
    pub body: BodyFraming,
    /// Whether the connection may be reused after this response's body.
    pub keep_alive: bool,
}

/// Parse a request head from the start of `buf`.
pub fn parse_request(
    buf: &[u8],
    headers: &mut Headers,
    limits: &Limits,
) -> Result<Status<RequestHead>, Error> {
    let _ = (buf, headers, limits);
    Err(Error::InvalidHead)
}

/// Parse a response head from the start of `buf`. `head_request` says the request was
/// HEAD (its response has no body whatever its headers say).
pub fn parse_response(
    buf: &[u8],
    headers: &mut Headers,
    limits: &Limits,
    head_request: bool,
) -> Result<Status<ResponseHead>, Error> {
    let _ = (buf, headers, limits, head_request);
    Err(Error::InvalidHead)
}

#[allow(dead_code)]
fn _unused(_: BodyFraming, _: Method, _: Span, _: Version) {}
