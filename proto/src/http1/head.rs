//! Request and response heads.
//!
//! httparse does the tokenising into a stack array of `httparse::Header`s; this module
//! turns its borrowed slices into [`Span`]s in the caller's [`Headers`] array, then
//! decides body framing once, from the whole header set (RFC 9112 §6), rejecting every
//! ambiguity a front-end and a back-end could resolve differently (request smuggling).
//!
//! Strictness beyond httparse:
//! - Lines end in CRLF. httparse accepts a bare LF as a line end; a complete head that
//!   contains one is rejected (`InvalidHead` in the start line, `InvalidHeaderValue`
//!   after it: with CRLF-only framing the LF is a byte inside a field line).
//! - A response status outside 100..=599 is `InvalidHead`.
//! - More than one `Host` field in a request is `InvalidHead` (RFC 9112 §3.2: two hosts
//!   are two answers to "which origin"). A missing `Host` is accepted: the gateway
//!   writes its own upstream `Host`, and strict clients are not the only callers.
//!
//! When httparse fails it only says which token kind was bad; a cold diagnosis pass
//! (`diagnose`) re-reads the bytes to name the specific fault (obs-fold, a NUL or bare
//! CR in a value, an HTTP/2 version) so the error a client sees is exact.
//!
//! Nothing here allocates: the only memory is the stack array of `HEADER_SLOTS`
//! uninitialised `httparse::Header`s (no memset per parse).
//!
//! Performance (`cargo bench -p sluice-bench --bench http1`, table in
//! `bench/benches/http1.rs`): the OpenAI Python SDK's 598-byte request head parses in
//! about 465 ns against 378 ns for bare `httparse::Request::parse`; the checks here (spans,
//! framing, keep-alive, CRLF) cost one pass over the fields, not over the bytes.

use core::mem::MaybeUninit;

use memchr::{memchr, memchr_iter, memmem};

use super::{
    BodyFraming, Error, HeaderSpan, Headers, Limits, Method, Span, Status, Version, HEADER_SLOTS,
};

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

type RawHeaders<'b> = [MaybeUninit<httparse::Header<'b>>; HEADER_SLOTS];

/// Parse a request head from the start of `buf`.
///
/// `Partial` means the head is not complete yet and nothing is decided; call again with
/// the same bytes plus more (the parse restarts from `buf[0]`; heads are small). On
/// `Complete`, the body starts at `buf[head.head_len]`; a pipelined next request starts
/// after the body (`head_len + n` for `BodyFraming::Length(n)`, or wherever the chunked
/// decoder reports `Done`).
///
/// Leading empty lines (CRLF) before the request line are skipped (RFC 9112 §2.2) and
/// counted in `head_len`.
pub fn parse_request(
    buf: &[u8],
    headers: &mut Headers,
    limits: &Limits,
) -> Result<Status<RequestHead>, Error> {
    // Never look past the head limit: a complete head must fit in it, and a Partial
    // over it is HeadTooLarge, so the bytes beyond cannot change the outcome.
    let window = &buf[..buf.len().min(limits.head_bytes_max)];
    let slots = limits.header_count_max.min(HEADER_SLOTS);
    let mut raw: RawHeaders<'_> = [const { MaybeUninit::uninit() }; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(window, &mut raw[..slots]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            check_partial_uri(window, &req, limits)?;
            check_leading_empty_lines(window)?;
            return partial(buf, limits);
        }
        Err(e) => return Err(diagnose(window, e, Kind::Request)),
    };
    // INVARIANT: on Complete, httparse has filled method, path and version.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(Error::InvalidHead);
    };
    if target.len() > limits.uri_bytes_max {
        return Err(Error::UriTooLong);
    }
    let method_span = span_of(buf, method.as_bytes());
    let (header_count, fields) = store_headers(
        buf,
        head_len,
        method_span.start as usize,
        req.headers,
        headers,
    )?;
    if fields.host_count > 1 {
        return Err(Error::InvalidHead);
    }
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let body = request_framing(version, &fields, limits)?;
    let target_span = span_of(buf, target.as_bytes());
    let path_len = memchr(b'?', target.as_bytes()).unwrap_or(target.len());
    Ok(Status::Complete(RequestHead {
        method: method_of(method.as_bytes()),
        method_span,
        target: target_span,
        path: Span::new(
            target_span.start as usize,
            target_span.start as usize + path_len,
        ),
        version,
        header_count,
        head_len,
        body,
        keep_alive: fields.keep_alive(version),
        // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
        expect_continue: fields.expect_continue && version == Version::Http11,
    }))
}

/// Parse a response head from the start of `buf`. `head_request` says the request was
/// HEAD (its response has no body whatever its headers say).
///
/// Framing headers are validated even when the body is absent (1xx/204/304/HEAD): a
/// malformed `Content-Length` or `Transfer-Encoding` from upstream is never passed on.
/// `limits.body_bytes_max` applies only when the response has a body. A 1xx response
/// other than 101 is interim: the final response's head follows at `head_len`. A 101
/// response is `BodyFraming::None`; what follows it is not HTTP.
pub fn parse_response(
    buf: &[u8],
    headers: &mut Headers,
    limits: &Limits,
    head_request: bool,
) -> Result<Status<ResponseHead>, Error> {
    let window = &buf[..buf.len().min(limits.head_bytes_max)];
    let slots = limits.header_count_max.min(HEADER_SLOTS);
    let mut raw: RawHeaders<'_> = [const { MaybeUninit::uninit() }; HEADER_SLOTS];
    let mut resp = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let head_len =
        match config.parse_response_with_uninit_headers(&mut resp, window, &mut raw[..slots]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => {
                check_leading_empty_lines(window)?;
                return partial(buf, limits);
            }
            Err(e) => return Err(diagnose(window, e, Kind::Response)),
        };
    let (Some(minor), Some(status)) = (resp.version, resp.code) else {
        return Err(Error::InvalidHead);
    };
    if !(100..=599).contains(&status) {
        return Err(Error::InvalidHead);
    }
    let line_start = skip_empty_lines(buf);
    let (header_count, fields) = store_headers(buf, head_len, line_start, resp.headers, headers)?;
    let version = if minor == 1 {
        Version::Http11
    } else {
        Version::Http10
    };
    let bodiless = head_request || status < 200 || status == 204 || status == 304;
    let body = response_framing(version, &fields, limits, bodiless)?;
    Ok(Status::Complete(ResponseHead {
        status,
        reason: reason_span(buf, line_start),
        version,
        header_count,
        head_len,
        body,
        keep_alive: body != BodyFraming::CloseDelimited && fields.keep_alive(version),
    }))
}

#[inline]
fn partial<T>(buf: &[u8], limits: &Limits) -> Result<Status<T>, Error> {
    if buf.len() > limits.head_bytes_max {
        Err(Error::HeadTooLarge)
    } else {
        Ok(Status::Partial)
    }
}

/// The span of `part`, a subslice of `buf` handed back by httparse.
#[inline]
fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    debug_assert!(start <= buf.len() && start + part.len() <= buf.len());
    Span::new(start, start + part.len())
}

/// Copy httparse's headers into the caller's array as spans and gather the framing
/// fields, in one pass. Also rejects bare LF line ends, which httparse accepts: a field
/// line starts right after the previous line's LF, so checking the two bytes before each
/// name, the last four of the head and the empty lines before the start line (at
/// `line_start`) covers every line end without scanning the head again.
#[inline]
fn store_headers(
    buf: &[u8],
    head_len: usize,
    line_start: usize,
    parsed: &[httparse::Header<'_>],
    out: &mut Headers,
) -> Result<(usize, Fields), Error> {
    let mut fields = Fields::default();
    let mut crlf = buf[..head_len].ends_with(b"\r\n\r\n");
    // INVARIANT: parsed.len() <= slots <= HEADER_SLOTS == out.len().
    for (slot, h) in out.iter_mut().zip(parsed) {
        let name = span_of(buf, h.name.as_bytes());
        // INVARIANT: a name is preceded by at least the start line and its LF.
        crlf &= buf[name.start as usize - 2..name.start as usize] == *b"\r\n";
        *slot = HeaderSpan {
            name,
            value: span_of(buf, h.value),
        };
        fields.add(h.name.as_bytes(), h.value);
    }
    if !crlf || (line_start > 0 && check_leading_empty_lines(buf).is_err()) {
        return Err(bare_lf_error(&buf[..head_len], line_start));
    }
    Ok((parsed.len(), fields))
}

fn method_of(token: &[u8]) -> Method {
    match token {
        b"GET" => Method::Get,
        b"POST" => Method::Post,
        b"HEAD" => Method::Head,
        b"PUT" => Method::Put,
        b"DELETE" => Method::Delete,
        b"PATCH" => Method::Patch,
        b"OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

/// httparse skips empty lines (CRLF or LF) before the start line; where it starts.
#[inline]
fn skip_empty_lines(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// On Partial: the empty lines httparse skipped before the start line must be CRLFs
/// (a final lone CR may be half of one). A run of bare LFs is rejected now rather than
/// buffered up to `head_bytes_max`.
#[inline]
fn check_leading_empty_lines(buf: &[u8]) -> Result<(), Error> {
    let lead = &buf[..skip_empty_lines(buf)];
    let mut pairs = lead.chunks_exact(2);
    if pairs.by_ref().any(|pair| pair != b"\r\n") || pairs.remainder() == b"\n" {
        return Err(Error::InvalidHead);
    }
    Ok(())
}

/// Which error a bare LF in a complete head is: `InvalidHead` in or before the start
/// line, `InvalidHeaderValue` after it (with CRLF-only framing it is inside a field line).
#[cold]
fn bare_lf_error(head: &[u8], line_start: usize) -> Error {
    let start_line_end = memchr(b'\n', &head[line_start..]).map_or(usize::MAX, |i| line_start + i);
    for lf in memchr_iter(b'\n', head) {
        if lf == 0 || head[lf - 1] != b'\r' {
            return if lf <= start_line_end {
                Error::InvalidHead
            } else {
                Error::InvalidHeaderValue
            };
        }
    }
    debug_assert!(false, "more LFs than CRs, yet every LF follows a CR");
    Error::InvalidHead
}

/// The reason phrase of a CRLF-checked status line starting at `line_start`: after
/// `HTTP/1.x NNN ` up to the CR. Computed here because httparse hands back a static ""
/// (not a slice of `buf`) when the phrase contains obs-text.
fn reason_span(buf: &[u8], line_start: usize) -> Span {
    // INVARIANT: the status line is `HTTP/1.x NNN` (12 bytes), then SP or CRLF.
    let after_code = line_start + 12;
    let cr = after_code + memchr(b'\r', &buf[after_code..]).unwrap_or(0);
    let start = if buf[after_code] == b' ' {
        after_code + 1
    } else {
        after_code
    };
    Span::new(start.min(cr), cr)
}

/// On Partial, reject a request-target that is already longer than the limit, so a
/// client cannot make us buffer `head_bytes_max` bytes of URI before answering 414.
fn check_partial_uri(
    window: &[u8],
    req: &httparse::Request<'_, '_>,
    limits: &Limits,
) -> Result<(), Error> {
    let uri_len = match (req.method, req.path) {
        (_, Some(path)) => path.len(),
        (Some(method), None) => {
            // The method and its SP are parsed; everything after is target so far.
            let uri_start = span_of(window, method.as_bytes()).end as usize + 1;
            window.len().saturating_sub(uri_start)
        }
        (None, None) => 0,
    };
    if uri_len > limits.uri_bytes_max {
        Err(Error::UriTooLong)
    } else {
        Ok(())
    }
}

/// What the framing-relevant fields of a head say, gathered in one pass.
#[derive(Default)]
struct Fields {
    content_length: ContentLength,
    transfer_encoding: TransferEncoding,
    connection_close: bool,
    connection_keep_alive: bool,
    expect_continue: bool,
    host_count: u32,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ContentLength {
    #[default]
    Absent,
    Value(u64),
    Conflicting,
    Invalid,
}

/// Transfer-Encoding across all its fields, as a list of codings in order.
#[derive(Default, Clone, Copy)]
struct TransferEncoding {
    present: bool,
    chunked_count: u32,
    last_is_chunked: bool,
}

impl Fields {
    #[inline]
    fn add(&mut self, name: &[u8], value: &[u8]) {
        // Match on length first: most fields are none of these.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => self.host_count += 1,
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(value) {
                    self.connection_close |= token.eq_ignore_ascii_case(b"close");
                    self.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                self.content_length = self.content_length.add_field(value);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                self.transfer_encoding.add_field(value);
            }
            _ => {}
        }
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        }
    }
}

impl ContentLength {
    /// Fold one Content-Length field (possibly a list, RFC 9110 §8.6) into the state.
    /// Invalid wins over Conflicting, which wins over a value: the result does not
    /// depend on field order.
    fn add_field(mut self, value: &[u8]) -> ContentLength {
        for element in value.split(|&b| b == b',') {
            let parsed = parse_decimal(trim_ows(element));
            self = match (self, parsed) {
                (ContentLength::Invalid, _) | (_, None) => ContentLength::Invalid,
                (ContentLength::Absent, Some(n)) => ContentLength::Value(n),
                (ContentLength::Value(a), Some(n)) if a == n => ContentLength::Value(a),
                (ContentLength::Value(_) | ContentLength::Conflicting, Some(_)) => {
                    ContentLength::Conflicting
                }
            };
        }
        self
    }
}

impl TransferEncoding {
    fn add_field(&mut self, value: &[u8]) {
        self.present = true;
        for coding in list_elements(value) {
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            self.chunked_count += u32::from(chunked);
            self.last_is_chunked = chunked;
        }
    }

    /// `chunked` exactly once, as the final coding (RFC 9112 §6.1).
    fn is_chunked(&self) -> bool {
        self.chunked_count == 1 && self.last_is_chunked
    }
}

/// 1*DIGIT as a u64; `None` for anything else (sign, spaces, hex, empty, overflow).
#[inline]
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[inline]
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Non-empty elements of a comma-separated list, trimmed (RFC 9110 §5.6.1: empty
/// elements are ignored).
#[inline]
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// Transfer-Encoding and Content-Length checks shared by requests and responses, in a
/// fixed order so the error does not depend on field order.
fn common_framing(version: Version, f: &Fields) -> Result<Option<BodyFraming>, Error> {
    if f.transfer_encoding.present {
        if f.content_length != ContentLength::Absent {
            return Err(Error::ContentLengthWithTransferEncoding);
        }
        if version == Version::Http10 {
            return Err(Error::ChunkedOnHttp10);
        }
        if !f.transfer_encoding.is_chunked() {
            return Err(Error::TransferEncodingNotChunked);
        }
        return Ok(Some(BodyFraming::Chunked));
    }
    match f.content_length {
        ContentLength::Absent => Ok(None),
        ContentLength::Value(n) => Ok(Some(BodyFraming::Length(n))),
        ContentLength::Conflicting => Err(Error::ConflictingContentLength),
        ContentLength::Invalid => Err(Error::InvalidContentLength),
    }
}

fn request_framing(version: Version, f: &Fields, limits: &Limits) -> Result<BodyFraming, Error> {
    match common_framing(version, f)? {
        None => Ok(BodyFraming::None),
        Some(BodyFraming::Length(n)) if n > limits.body_bytes_max => Err(Error::BodyTooLarge),
        Some(framing) => Ok(framing),
    }
}

fn response_framing(
    version: Version,
    f: &Fields,
    limits: &Limits,
    bodiless: bool,
) -> Result<BodyFraming, Error> {
    let framing = common_framing(version, f)?;
    if bodiless {
        return Ok(BodyFraming::None);
    }
    match framing {
        None => Ok(BodyFraming::CloseDelimited),
        Some(BodyFraming::Length(n)) if n > limits.body_bytes_max => Err(Error::BodyTooLarge),
        Some(framing) => Ok(framing),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
}

/// Name the specific fault after httparse rejected `buf` (cold: runs once per bad
/// message). httparse reports obs-fold as a bad header name, a NUL or bare CR as a bad
/// header value, and `HTTP/2.0` as a bad version; callers deserve the exact error.
#[cold]
fn diagnose(buf: &[u8], e: httparse::Error, kind: Kind) -> Error {
    match e {
        httparse::Error::TooManyHeaders => Error::TooManyHeaders,
        httparse::Error::Version
            if version_token(buf, kind).is_some_and(looks_like_http_version) =>
        {
            Error::UnsupportedVersion
        }
        httparse::Error::Version => Error::InvalidHead,
        _ => diagnose_fields(buf),
    }
}

/// The HTTP-version token of the start line (possibly cut off by the end of `buf`).
fn version_token(buf: &[u8], kind: Kind) -> Option<&[u8]> {
    let line = &buf[skip_empty_lines(buf)..];
    let line = &line[..memchr(b'\n', line).unwrap_or(line.len())];
    let token = match kind {
        // method SP target SP version
        Kind::Request => line.splitn(3, |&b| b == b' ').nth(2)?,
        // version SP status ...
        Kind::Response => line,
    };
    let end = token
        .iter()
        .position(|&b| b == b' ' || b == b'\r')
        .unwrap_or(token.len());
    Some(&token[..end])
}

/// `HTTP/` DIGIT *( DIGIT / "." ): a well-formed name for a version we do not speak.
fn looks_like_http_version(token: &[u8]) -> bool {
    match token.strip_prefix(b"HTTP/") {
        Some([first, rest @ ..]) => {
            first.is_ascii_digit() && rest.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        }
        _ => false,
    }
}

/// Walk the field lines (CRLF-split, as we frame them) and report the first fault.
fn diagnose_fields(buf: &[u8]) -> Error {
    let start = skip_empty_lines(buf);
    let Some(lf) = memchr(b'\n', &buf[start..]) else {
        return Error::InvalidHead;
    };
    if lf == 0 || buf[start + lf - 1] != b'\r' {
        return Error::InvalidHead;
    }
    let mut pos = start + lf + 1;
    loop {
        let rest = &buf[pos..];
        match rest.first() {
            None => return Error::InvalidHead,
            Some(b' ' | b'\t') => return Error::ObsoleteLineFolding,
            Some(_) => {}
        }
        let len = memmem::find(rest, b"\r\n").unwrap_or(rest.len());
        let mut line = &rest[..len];
        if line.is_empty() {
            // The end of the head: the fault was not in a field line.
            return Error::InvalidHead;
        }
        if len == rest.len() {
            // The last, incomplete line: a CR at the very end is the start of its CRLF.
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        if let Some(fault) = field_line_fault(line) {
            return fault;
        }
        pos += len + 2;
        if pos > buf.len() {
            return Error::InvalidHead;
        }
    }
}

fn field_line_fault(line: &[u8]) -> Option<Error> {
    let Some(colon) = memchr(b':', line) else {
        return Some(Error::InvalidHead);
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Some(Error::InvalidHead);
    }
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Some(Error::InvalidHeaderValue);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Some(Error::InvalidHead);
    }
    None
}

/// RFC 9110 tchar.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
