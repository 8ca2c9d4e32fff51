//! Naive reference implementations: obviously correct, slow, allocating. They restate the
//! grammar the fast codec implements in the plainest code possible (split on CRLF, owned
//! strings, straight-line parsing of a whole buffer) so that property tests and fuzz
//! targets can compare the two on every input and every split of it.
//!
//! They are not used on any serving path.

use super::{BodyFraming, ChunkedDecoder, Error, HeaderSpan, Limits, RequestHead, Version};

/// A request head, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NaiveRequest {
    pub method: Vec<u8>,
    pub target: Vec<u8>,
    pub path: Vec<u8>,
    pub version: Version,
    /// (name, value) with the value trimmed of SP/HTAB, in order.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub head_len: usize,
    pub body: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

impl NaiveRequest {
    /// The fast parser's result in the reference's shape, for comparison.
    pub fn from_parsed(buf: &[u8], head: &RequestHead, headers: &[HeaderSpan]) -> NaiveRequest {
        NaiveRequest {
            method: head.method_span.of(buf).to_vec(),
            target: head.target.of(buf).to_vec(),
            path: head.path.of(buf).to_vec(),
            version: head.version,
            headers: headers[..head.header_count]
                .iter()
                .map(|h| (h.name.of(buf).to_vec(), h.value.of(buf).to_vec()))
                .collect(),
            head_len: head.head_len,
            body: head.body,
            keep_alive: head.keep_alive,
            expect_continue: head.expect_continue,
        }
    }
}

/// Parse a complete request head; `Ok(None)` when `buf` holds no `\r\n\r\n` yet.
///
/// Agrees with [`parse_request`](super::parse_request) on valid heads and on framing
/// errors of complete heads. (The fast parser may reject some invalid prefixes earlier,
/// e.g. an over-long URI before the head is complete.)
pub fn parse_request_naive(buf: &[u8], limits: &Limits) -> Result<Option<NaiveRequest>, Error> {
    let mut start = 0;
    while buf[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let Some(blank) = find(&buf[start..], b"\r\n\r\n") else {
        return if buf.len() > limits.head_bytes_max {
            Err(Error::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    let head_len = start + blank + 4;
    if head_len > limits.head_bytes_max {
        return Err(Error::HeadTooLarge);
    }
    let head = &buf[start..start + blank];
    let mut lines = split(head, b"\r\n").into_iter();
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(&request_line)?;
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            return Err(Error::ObsoleteLineFolding);
        }
        headers.push(parse_field_line(&line)?);
    }
    if headers.len() > limits.header_count_max {
        return Err(Error::TooManyHeaders);
    }
    if target.len() > limits.uri_bytes_max {
        return Err(Error::UriTooLong);
    }
    if values(&headers, "host").len() > 1 {
        return Err(Error::InvalidHead);
    }
    let body = framing(&headers, version, limits)?;
    let connection: Vec<String> = values(&headers, "connection")
        .iter()
        .flat_map(|v| list(v))
        .map(|t| t.to_ascii_lowercase())
        .collect();
    let keep_alive = !connection.iter().any(|t| t == "close")
        && (version == Version::Http11 || connection.iter().any(|t| t == "keep-alive"));
    let expect_continue = version == Version::Http11
        && values(&headers, "expect")
            .iter()
            .any(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let path = target
        .split(|&b| b == b'?')
        .next()
        .unwrap_or_default()
        .to_vec();
    Ok(Some(NaiveRequest {
        method,
        target,
        path,
        version,
        headers,
        head_len,
        body,
        keep_alive,
        expect_continue,
    }))
}

fn parse_request_line(line: &[u8]) -> Result<(Vec<u8>, Vec<u8>, Version), Error> {
    let parts = split(line, b" ");
    let [method, target, version] = parts.as_slice() else {
        return Err(Error::InvalidHead);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(Error::InvalidHead);
    }
    if target.is_empty()
        || !target.iter().all(|&b| b > b' ' && b != 0x7f)
        || std::str::from_utf8(target).is_err()
    {
        return Err(Error::InvalidHead);
    }
    let version = match version.as_slice() {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/")
            && v.len() > 5
            && v[5..].iter().all(|b| b.is_ascii_digit() || *b == b'.') =>
        {
            return Err(Error::UnsupportedVersion);
        }
        _ => return Err(Error::InvalidHead),
    };
    Ok((method.clone(), target.clone(), version))
}

fn parse_field_line(line: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(Error::InvalidHead);
    };
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(Error::InvalidHead);
    }
    let value = trim(&line[colon + 1..]);
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(Error::InvalidHeaderValue);
    }
    if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(Error::InvalidHead);
    }
    Ok((name.to_vec(), value.to_vec()))
}

/// RFC 9112 §6: Transfer-Encoding, then Content-Length, then nothing.
fn framing(
    headers: &[(Vec<u8>, Vec<u8>)],
    version: Version,
    limits: &Limits,
) -> Result<BodyFraming, Error> {
    let te_fields = values(headers, "transfer-encoding");
    let cl_fields = values(headers, "content-length");
    if !te_fields.is_empty() {
        if !cl_fields.is_empty() {
            return Err(Error::ContentLengthWithTransferEncoding);
        }
        if version == Version::Http10 {
            return Err(Error::ChunkedOnHttp10);
        }
        let codings: Vec<String> = te_fields
            .iter()
            .flat_map(|v| list(v))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let chunked_count = codings.iter().filter(|c| *c == "chunked").count();
        if chunked_count == 1 && codings.last().map(String::as_str) == Some("chunked") {
            return Ok(BodyFraming::Chunked);
        }
        return Err(Error::TransferEncodingNotChunked);
    }
    if cl_fields.is_empty() {
        return Ok(BodyFraming::None);
    }
    // Every comma-separated element of every field, untrimmed of nothing but SP/HTAB.
    let elements: Vec<&[u8]> = cl_fields
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .collect();
    let mut lengths = Vec::new();
    for element in elements {
        let text = std::str::from_utf8(element).map_err(|_| Error::InvalidContentLength)?;
        // u64::from_str accepts a leading '+', which Content-Length does not.
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidContentLength);
        }
        lengths.push(
            text.parse::<u64>()
                .map_err(|_| Error::InvalidContentLength)?,
        );
    }
    if lengths.iter().any(|&n| n != lengths[0]) {
        return Err(Error::ConflictingContentLength);
    }
    if lengths[0] > limits.body_bytes_max {
        return Err(Error::BodyTooLarge);
    }
    Ok(BodyFraming::Length(lengths[0]))
}

/// Values of every field named `name` (case-insensitive), in order.
fn values<'a>(headers: &'a [(Vec<u8>, Vec<u8>)], name: &str) -> Vec<&'a [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.as_slice())
        .collect()
}

/// Non-empty, trimmed elements of a comma-separated list, as strings.
fn list(value: &[u8]) -> Vec<String> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect()
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &s[start..end]
}

fn split(s: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = find(rest, sep) {
        parts.push(rest[..i].to_vec());
        rest = &rest[i + sep.len()..];
    }
    parts.push(rest.to_vec());
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decode a whole chunked body from the start of `input` with the default framing
/// limits: `Ok(Some((payload, bytes consumed)))` once complete, `Ok(None)` if `input`
/// ends first.
pub fn decode_chunked_naive(
    input: &[u8],
    body_bytes_max: u64,
) -> Result<Option<(Vec<u8>, usize)>, Error> {
    decode_chunked_naive_with(
        input,
        body_bytes_max,
        ChunkedDecoder::SIZE_LINE_BYTES_MAX,
        ChunkedDecoder::TRAILER_BYTES_MAX,
    )
}

/// Bytes of `input` read one at a time; `None` ends the parse as incomplete.
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }
}

/// `?` for "the input ended": return `Ok(None)`.
macro_rules! more {
    ($e:expr) => {
        match $e {
            Some(b) => b,
            None => return Ok(None),
        }
    };
}

/// [`decode_chunked_naive`] with explicit limits, as [`ChunkedDecoder::with_limits`].
/// The grammar, in the order its checks apply:
///
/// ```text
/// chunk      = 1*HEXDIG [ ";" ext ] CRLF data CRLF      ; size line <= line max bytes
/// last-chunk = 1*"0"    [ ";" ext ] CRLF
/// trailers   = *( tchar-name ":" value CRLF ) CRLF     ; <= trailer max bytes in all
/// ```
pub fn decode_chunked_naive_with(
    input: &[u8],
    body_bytes_max: u64,
    size_line_bytes_max: usize,
    trailer_bytes_max: usize,
) -> Result<Option<(Vec<u8>, usize)>, Error> {
    let mut c = Cursor { input, pos: 0 };
    let mut payload = Vec::new();
    let mut declared: u64 = 0;
    loop {
        let size = more!(size_line(
            &mut c,
            size_line_bytes_max,
            body_bytes_max,
            &mut declared
        )?);
        if size == 0 {
            break;
        }
        // The data: `size` bytes, then exactly CRLF.
        if ((input.len() - c.pos) as u64) < size {
            return Ok(None);
        }
        payload.extend_from_slice(&input[c.pos..c.pos + size as usize]);
        c.pos += size as usize;
        for expected in [b'\r', b'\n'] {
            if more!(c.peek()) != expected {
                return Err(Error::InvalidChunkFraming);
            }
            c.pos += 1;
        }
    }
    more!(trailer_section(&mut c, trailer_bytes_max)?);
    Ok(Some((payload, c.pos)))
}

/// One size line, CRLF included; returns the size.
fn size_line(
    c: &mut Cursor<'_>,
    line_max: usize,
    body_max: u64,
    declared: &mut u64,
) -> Result<Option<u64>, Error> {
    let line_start = c.pos;
    let mut size: u64 = 0;
    let mut digits = 0;
    loop {
        let b = more!(c.peek());
        let Some(digit) = (b as char).to_digit(16) else {
            break;
        };
        if c.pos - line_start == line_max {
            return Err(Error::InvalidChunkSize);
        }
        size = size.checked_mul(16).ok_or(Error::ChunkSizeOverflow)? + u64::from(digit);
        digits += 1;
        c.pos += 1;
    }
    if digits == 0 {
        return Err(Error::InvalidChunkSize);
    }
    let terminator = more!(c.peek());
    if terminator == b';' && c.pos - line_start == line_max {
        return Err(Error::InvalidChunkSize);
    }
    if terminator != b';' && terminator != b'\r' {
        return Err(Error::InvalidChunkSize);
    }
    // u128: the sum of two u64 cannot overflow it.
    if u128::from(*declared) + u128::from(size) > u128::from(body_max) {
        return Err(Error::BodyTooLarge);
    }
    *declared += size;
    if terminator == b';' {
        c.pos += 1;
        loop {
            let b = more!(c.peek());
            if b == b'\r' {
                break;
            }
            if b == b'\n' || b == 0 || c.pos - line_start == line_max {
                return Err(Error::InvalidChunkSize);
            }
            c.pos += 1;
        }
    }
    c.pos += 1; // the CR
    if more!(c.peek()) != b'\n' {
        return Err(Error::InvalidChunkSize);
    }
    c.pos += 1;
    Ok(Some(size))
}

/// The trailer section after the last chunk, final CRLF included.
fn trailer_section(c: &mut Cursor<'_>, trailer_max: usize) -> Result<Option<()>, Error> {
    let start = c.pos;
    // Every byte of the section is taken through here, which enforces the limit.
    let next = |c: &mut Cursor<'_>| -> Result<Option<u8>, Error> {
        let Some(b) = c.peek() else { return Ok(None) };
        if c.pos - start == trailer_max {
            return Err(Error::InvalidChunkFraming);
        }
        c.pos += 1;
        Ok(Some(b))
    };
    loop {
        let first = more!(next(c)?);
        if first == b'\r' {
            // The empty line that ends the body.
            return match more!(next(c)?) {
                b'\n' => Ok(Some(())),
                _ => Err(Error::InvalidChunkFraming),
            };
        }
        if first == b' ' || first == b'\t' {
            return Err(Error::ObsoleteLineFolding);
        }
        if !is_tchar(first) {
            return Err(Error::InvalidChunkFraming);
        }
        loop {
            match more!(next(c)?) {
                b':' => break,
                b if is_tchar(b) => {}
                _ => return Err(Error::InvalidChunkFraming),
            }
        }
        loop {
            match more!(next(c)?) {
                b'\r' => break,
                b'\n' | 0 => return Err(Error::InvalidChunkFraming),
                _ => {}
            }
        }
        if more!(next(c)?) != b'\n' {
            return Err(Error::InvalidChunkFraming);
        }
    }
}
