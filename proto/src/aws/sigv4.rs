//! AWS Signature Version 4, header-based, for `bedrock-runtime` (and any non-S3 service).
//!
//! The algorithm, as AWS specifies it:
//! 1. the canonical request: method, canonical URI, canonical query, canonical headers
//!    (lowercase `name:value` lines, sorted), the signed header names (`;`-joined), and
//!    the hex SHA-256 of the payload, joined by LF;
//! 2. the string to sign: `AWS4-HMAC-SHA256`, the `x-amz-date`, the credential scope
//!    (`YYYYMMDD/region/service/aws4_request`) and the hex SHA-256 of (1), joined by LF;
//! 3. the signing key: HMAC-SHA256 chained over date, region, service and
//!    `aws4_request`, from `"AWS4" + secret`. It depends only on the day, so
//!    [`SigningKey`] is derived once per day and reused (the engine caches it);
//! 4. the signature: hex HMAC-SHA256 of (2) under (3), sent in `authorization`.
//!
//! Rules worth knowing, each tested:
//! - **The path is encoded twice.** [`Request::path`] is the path as sent on the wire,
//!   already percent-encoded. For every service but S3 the canonical URI encodes each
//!   segment again, so `%` becomes `%25`: a Bedrock model id
//!   `anthropic.claude-3-5-sonnet-20240620-v1:0` goes on the wire as `...-v1%3A0` and
//!   into the canonical request as `...-v1%253A0`. Sign with the single-encoded form and
//!   AWS answers 403 `SignatureDoesNotMatch`. The path is not normalised (no `.`/`..`
//!   or `//` folding): the engine builds Bedrock paths from a fixed template.
//! - URI encoding keeps only `A-Z a-z 0-9 - _ . ~` (and `/` between path segments);
//!   every other byte is `%XX`, upper-case hex. A space is `%20`, never `+`.
//! - Query pairs are given decoded; each name and value is encoded, then the pairs are
//!   sorted by encoded name, then encoded value.
//! - Header names are compared and written in lower case; values are trimmed and each
//!   run of spaces and tabs becomes one space; a name given more than once is one
//!   canonical line with its values joined by `,` in the order given.
//! - `host` and `x-amz-date` are always signed; `x-amz-security-token` when there is a
//!   session token; `x-amz-content-sha256` when [`Request::content_sha256_header`] asks
//!   for it (S3 requires it; Bedrock does not).
//!
//! Nothing here allocates: the canonical request is streamed into the SHA-256, header
//! and query order is sorted in fixed arrays (hence [`HEADERS_MAX`] and
//! [`QUERY_PAIRS_MAX`]), and the `authorization` value is appended to a caller-owned
//! buffer. Only [`SigningKey::derive`] allocates (its scope string), once per day.
//!
//! The clock is the caller's: [`AmzDate::from_unix_secs`] formats a time it is given.

use ring::{digest, hmac};

#[cfg(test)]
mod tests;

/// The signing algorithm's name, first in the `authorization` value and string to sign.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Headers a [`Request`] may ask to sign besides the ones the signer adds (`host`,
/// `x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256`). Bedrock needs two or
/// three (`content-type`, `accept`).
pub const HEADERS_MAX: usize = 16;
/// Query pairs in a [`Request`]. Bedrock runtime calls have none.
pub const QUERY_PAIRS_MAX: usize = 16;
/// Headers the signer adds itself.
const FIXED_HEADERS: usize = 4;

/// Why a request could not be signed. Nothing is written on error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigV4Error {
    /// More than [`HEADERS_MAX`] headers to sign.
    TooManyHeaders,
    /// More than [`QUERY_PAIRS_MAX`] query pairs.
    TooManyQueryPairs,
    /// The method is empty or not an HTTP token.
    InvalidMethod,
    /// The path is neither empty nor starts with `/`, or holds a byte outside visible
    /// ASCII, or `?` or `#` (the query goes in [`Request::query`]).
    InvalidPath,
    /// A header name is empty or not an HTTP token.
    InvalidHeaderName,
    /// A header value (or the host, access key id or session token) holds CR, LF or NUL,
    /// or the host is empty.
    InvalidHeaderValue,
    /// A header the signer sets itself was passed in [`Request::headers`]: `host`,
    /// `x-amz-date`, `x-amz-security-token`, `x-amz-content-sha256` or `authorization`.
    ReservedHeader,
    /// The [`SigningKey`] was derived for another day than the request's date.
    KeyForAnotherDay,
    /// A region or service for [`SigningKey::derive`] is empty or holds a byte other
    /// than `a-z 0-9 -` (they go into the credential scope).
    InvalidScope,
}

impl std::fmt::Display for SigV4Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigV4Error::TooManyHeaders => "too many headers to sign",
            SigV4Error::TooManyQueryPairs => "too many query pairs to sign",
            SigV4Error::InvalidMethod => "invalid method",
            SigV4Error::InvalidPath => "invalid path",
            SigV4Error::InvalidHeaderName => "invalid header name",
            SigV4Error::InvalidHeaderValue => "invalid header value",
            SigV4Error::ReservedHeader => "header is set by the signer",
            SigV4Error::KeyForAnotherDay => "signing key derived for another day",
            SigV4Error::InvalidScope => "invalid region or service",
        })
    }
}

impl std::error::Error for SigV4Error {}

// ---- time ----

/// A UTC time as SigV4 writes it, `YYYYMMDDTHHMMSSZ`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmzDate {
    /// INVARIANT: ASCII, in the format above.
    text: [u8; 16],
}

impl AmzDate {
    /// The last second the format can hold: 9999-12-31T23:59:59Z.
    pub const UNIX_SECS_MAX: u64 = 253_402_300_799;

    /// Format `secs` since the Unix epoch; `None` past [`AmzDate::UNIX_SECS_MAX`].
    pub fn from_unix_secs(secs: u64) -> Option<AmzDate> {
        if secs > Self::UNIX_SECS_MAX {
            return None;
        }
        let (year, month, day) = civil_from_days(secs / 86_400);
        let in_day = secs % 86_400;
        let mut text = *b"00000000T000000Z";
        put_digits(&mut text[0..4], u64::from(year));
        put_digits(&mut text[4..6], u64::from(month));
        put_digits(&mut text[6..8], u64::from(day));
        put_digits(&mut text[9..11], in_day / 3600);
        put_digits(&mut text[11..13], in_day / 60 % 60);
        put_digits(&mut text[13..15], in_day % 60);
        Some(AmzDate { text })
    }

    /// `YYYYMMDDTHHMMSSZ`, the `x-amz-date` value.
    pub fn as_str(&self) -> &str {
        ascii(&self.text)
    }

    /// `YYYYMMDD`, the credential scope's date.
    pub fn date(&self) -> &str {
        ascii(&self.text[..8])
    }
}

impl std::fmt::Debug for AmzDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Year, month (1..=12) and day (1..=31) of `days` since 1970-01-01, proleptic Gregorian.
///
/// Howard Hinnant's `civil_from_days`: shift the year to start on 1 March, so the leap
/// day is the last day of the year, then split days into 400-year eras (146,097 days
/// each), years of the era, and a day of the year whose month follows from the 153-day
/// five-month cycle (31+30+31+30+31).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from 1 March
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

/// Write `n` as `out.len()` decimal digits, zero-padded. INVARIANT: `n` fits.
fn put_digits(out: &mut [u8], mut n: u64) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    debug_assert_eq!(n, 0);
}

// ---- keys ----

/// The derived key for one day, region and service, with its credential scope.
///
/// Deriving costs four HMACs and an allocation; the engine keeps one per provider and
/// derives again when [`SigningKey::is_for`] says the day has changed.
pub struct SigningKey {
    #[cfg_attr(not(test), allow(dead_code))]
    bytes: [u8; 32],
    key: hmac::Key,
    /// `YYYYMMDD/region/service/aws4_request`.
    scope: Box<str>,
}

impl SigningKey {
    /// Derive the key from the secret access key for `date`'s day.
    pub fn derive(
        secret_access_key: &str,
        date: &AmzDate,
        region: &str,
        service: &str,
    ) -> Result<SigningKey, SigV4Error> {
        let scope_part = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !scope_part(region) || !scope_part(service) {
            return Err(SigV4Error::InvalidScope);
        }
        let mut seed = Vec::with_capacity(4 + secret_access_key.len());
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret_access_key.as_bytes());
        let mut k = hmac_sha256(&seed, date.date().as_bytes());
        for part in [region, service, "aws4_request"] {
            k = hmac_sha256(&k, part.as_bytes());
        }
        Ok(SigningKey {
            bytes: k,
            key: hmac::Key::new(hmac::HMAC_SHA256, &k),
            scope: format!("{}/{region}/{service}/aws4_request", date.date()).into(),
        })
    }

    /// Whether this key signs requests dated `date` (same UTC day).
    pub fn is_for(&self, date: &AmzDate) -> bool {
        self.scope.as_bytes()[..8] == *date.date().as_bytes()
    }

    /// The credential scope, `YYYYMMDD/region/service/aws4_request`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    #[cfg(test)]
    fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl std::fmt::Debug for SigningKey {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

// ---- requests ----

/// What is signed. All borrowed; nothing is copied.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The `host` header value (with `:port` if the request carries one).
    pub host: &'a str,
    /// The path as sent on the wire, already percent-encoded; empty means `/`.
    pub path: &'a str,
    /// Query pairs, decoded (the signer encodes them).
    pub query: &'a [(&'a str, &'a str)],
    /// Other headers to sign, as they will be sent (`content-type`, `accept`).
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
    /// Also sign and send `x-amz-content-sha256` (the payload's hex SHA-256).
    pub content_sha256_header: bool,
}

/// What [`sign`] produced besides the `authorization` value: the other headers to add.
///
/// Send `authorization`, `x-amz-date: `[`Signed::x_amz_date`], `x-amz-security-token`
/// (the session token, when there is one) and, if asked for,
/// `x-amz-content-sha256: `[`Signed::payload_sha256`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signed {
    date: AmzDate,
    payload_sha256: [u8; 64],
    signature: [u8; 64],
}

impl Signed {
    pub fn x_amz_date(&self) -> &str {
        self.date.as_str()
    }

    /// The payload's hex SHA-256, the `x-amz-content-sha256` value.
    pub fn payload_sha256(&self) -> &str {
        ascii(&self.payload_sha256)
    }

    /// The hex signature (also at the end of the `authorization` value).
    pub fn signature(&self) -> &str {
        ascii(&self.signature)
    }
}

/// Sign `request` at `date`, and append the `authorization` header value to
/// `authorization`.
///
/// `key` must have been derived for `date`'s day ([`SigningKey::is_for`]); its scope
/// names the region and service. `session_token` is the temporary credentials' token,
/// which is signed as `x-amz-security-token` and must be sent as that header.
pub fn sign(
    request: &Request<'_>,
    date: &AmzDate,
    access_key_id: &str,
    session_token: Option<&str>,
    key: &SigningKey,
    authorization: &mut Vec<u8>,
) -> Result<Signed, SigV4Error> {
    if !key.is_for(date) {
        return Err(SigV4Error::KeyForAnotherDay);
    }
    if !is_header_value(access_key_id) {
        return Err(SigV4Error::InvalidHeaderValue);
    }
    let payload_sha256 = hex(digest::digest(&digest::SHA256, request.payload).as_ref());
    let canonical = Canonical::new(request, date, session_token, &payload_sha256)?;
    let mut hash = digest::Context::new(&digest::SHA256);
    canonical.write(&mut hash);
    let canonical_sha256 = hex(hash.finish().as_ref());

    let mut mac = hmac::Context::with_key(&key.key);
    for part in [
        ALGORITHM.as_bytes(),
        b"\n",
        date.as_str().as_bytes(),
        b"\n",
        key.scope.as_bytes(),
        b"\n",
        &canonical_sha256,
    ] {
        mac.update(part);
    }
    let signature = hex(mac.sign().as_ref());

    authorization.reserve(ALGORITHM.len() + 160 + access_key_id.len() + key.scope.len());
    authorization.extend_from_slice(ALGORITHM.as_bytes());
    authorization.extend_from_slice(b" Credential=");
    authorization.extend_from_slice(access_key_id.as_bytes());
    authorization.push(b'/');
    authorization.extend_from_slice(key.scope.as_bytes());
    authorization.extend_from_slice(b", SignedHeaders=");
    canonical.write_signed_headers(authorization);
    authorization.extend_from_slice(b", Signature=");
    authorization.extend_from_slice(&signature);
    Ok(Signed {
        date: *date,
        payload_sha256,
        signature,
    })
}

/// Append the canonical request to `out`: what [`sign`] hashes, for tests and for
/// diagnosing a `SignatureDoesNotMatch` (AWS's error body quotes the canonical request
/// it computed).
pub fn canonical_request(
    request: &Request<'_>,
    date: &AmzDate,
    session_token: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<(), SigV4Error> {
    let payload_sha256 = hex(digest::digest(&digest::SHA256, request.payload).as_ref());
    Canonical::new(request, date, session_token, &payload_sha256)?.write(out);
    Ok(())
}

/// Where the canonical request goes: a hash, or a buffer.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for digest::Context {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A validated request with its headers and query pairs in canonical order.
struct Canonical<'r> {
    request: &'r Request<'r>,
    /// INVARIANT: `headers[..header_count]` is sorted by lower-cased name, stably.
    headers: [(&'r str, &'r str); HEADERS_MAX + FIXED_HEADERS],
    header_count: usize,
    /// Indexes into `request.query`, sorted by encoded name, then encoded value.
    query: [usize; QUERY_PAIRS_MAX],
    payload_sha256: &'r [u8; 64],
}

impl<'r> Canonical<'r> {
    fn new(
        request: &'r Request<'r>,
        date: &'r AmzDate,
        session_token: Option<&'r str>,
        payload_sha256: &'r [u8; 64],
    ) -> Result<Canonical<'r>, SigV4Error> {
        validate(request, session_token)?;
        let mut headers = [("", ""); HEADERS_MAX + FIXED_HEADERS];
        let mut n = 0;
        for &h in request.headers {
            headers[n] = h;
            n += 1;
        }
        let fixed = [
            Some(("host", request.host)),
            Some(("x-amz-date", date.as_str())),
            session_token.map(|t| ("x-amz-security-token", t)),
            request
                .content_sha256_header
                .then(|| ("x-amz-content-sha256", ascii(payload_sha256))),
        ];
        for h in fixed.into_iter().flatten() {
            headers[n] = h;
            n += 1;
        }
        insertion_sort(&mut headers[..n], |a, b| cmp_lower(a.0, b.0));

        let mut query = [0; QUERY_PAIRS_MAX];
        for (i, q) in query.iter_mut().enumerate().take(request.query.len()) {
            *q = i;
        }
        let pairs = request.query;
        insertion_sort(&mut query[..pairs.len()], |&a, &b| {
            encoded(pairs[a].0)
                .cmp(encoded(pairs[b].0))
                .then_with(|| encoded(pairs[a].1).cmp(encoded(pairs[b].1)))
        });
        Ok(Canonical {
            request,
            headers,
            header_count: n,
            query,
            payload_sha256,
        })
    }

    fn write<S: Sink>(&self, s: &mut S) {
        let r = self.request;
        s.put(r.method.as_bytes());
        s.put(b"\n");
        if r.path.is_empty() {
            s.put(b"/");
        } else {
            put_encoded(s, r.path.as_bytes(), true);
        }
        s.put(b"\n");
        for (k, &i) in self.query[..r.query.len()].iter().enumerate() {
            if k > 0 {
                s.put(b"&");
            }
            put_encoded(s, r.query[i].0.as_bytes(), false);
            s.put(b"=");
            put_encoded(s, r.query[i].1.as_bytes(), false);
        }
        s.put(b"\n");
        self.for_each_name(|first, same| {
            put_lower(s, self.headers[first].0);
            let mut sep = &b":"[..];
            for &(_, value) in &self.headers[first..first + same] {
                s.put(sep);
                put_trimmed(s, value);
                sep = b",";
            }
            s.put(b"\n");
        });
        s.put(b"\n");
        self.write_signed_headers(s);
        s.put(b"\n");
        s.put(self.payload_sha256);
    }

    /// The distinct header names, lower case, joined by `;`.
    fn write_signed_headers<S: Sink>(&self, s: &mut S) {
        let mut sep = &b""[..];
        self.for_each_name(|first, _| {
            s.put(sep);
            put_lower(s, self.headers[first].0);
            sep = b";";
        });
    }

    /// Call `f(first, count)` for each run of headers with the same name.
    fn for_each_name(&self, mut f: impl FnMut(usize, usize)) {
        let headers = &self.headers[..self.header_count];
        let mut first = 0;
        while first < headers.len() {
            let name = headers[first].0;
            let same = headers[first..]
                .iter()
                .take_while(|h| h.0.eq_ignore_ascii_case(name))
                .count();
            f(first, same);
            first += same;
        }
    }
}

fn validate(request: &Request<'_>, session_token: Option<&str>) -> Result<(), SigV4Error> {
    if request.headers.len() > HEADERS_MAX {
        return Err(SigV4Error::TooManyHeaders);
    }
    if request.query.len() > QUERY_PAIRS_MAX {
        return Err(SigV4Error::TooManyQueryPairs);
    }
    if !is_token(request.method) {
        return Err(SigV4Error::InvalidMethod);
    }
    let path = request.path.as_bytes();
    let path_ok = path.is_empty()
        || (path[0] == b'/'
            && path
                .iter()
                .all(|&b| b.is_ascii_graphic() && b != b'?' && b != b'#'));
    if !path_ok {
        return Err(SigV4Error::InvalidPath);
    }
    if request.host.is_empty()
        || !is_header_value(request.host)
        || !session_token.is_none_or(is_header_value)
    {
        return Err(SigV4Error::InvalidHeaderValue);
    }
    for &(name, value) in request.headers {
        if !is_token(name) {
            return Err(SigV4Error::InvalidHeaderName);
        }
        const RESERVED: [&str; 5] = [
            "host",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-content-sha256",
            "authorization",
        ];
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            return Err(SigV4Error::ReservedHeader);
        }
        if !is_header_value(value) {
            return Err(SigV4Error::InvalidHeaderValue);
        }
    }
    Ok(())
}

/// An HTTP token (RFC 9110 §5.6.2): one or more tchars.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// No byte that would end or corrupt a header line.
fn is_header_value(s: &str) -> bool {
    !s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0))
}

/// A stable sort for at most a few dozen elements, in place, without allocating.
fn insertion_sort<T: Copy>(items: &mut [T], mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && cmp(&items[j - 1], &items[j]).is_gt() {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

fn cmp_lower(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.bytes().map(|b| b.to_ascii_lowercase());
    a.cmp(b.bytes().map(|b| b.to_ascii_lowercase()))
}

#[inline]
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// The URI encoding of `s`, a byte at a time (for sorting without a buffer).
fn encoded(s: &str) -> impl Iterator<Item = u8> + '_ {
    s.bytes().flat_map(|b| {
        let (bytes, len) = if is_unreserved(b) {
            ([b, 0, 0], 1)
        } else {
            (
                [
                    b'%',
                    HEX_UPPER[usize::from(b >> 4)],
                    HEX_UPPER[usize::from(b & 15)],
                ],
                3,
            )
        };
        bytes.into_iter().take(len)
    })
}

/// URI-encode `bytes` into `s` (keeping `/` when `keep_slash`), through a stack buffer.
fn put_encoded<S: Sink>(s: &mut S, bytes: &[u8], keep_slash: bool) {
    let mut buf = [0u8; 192];
    let mut n = 0;
    for &b in bytes {
        if n + 3 > buf.len() {
            s.put(&buf[..n]);
            n = 0;
        }
        if is_unreserved(b) || (keep_slash && b == b'/') {
            buf[n] = b;
            n += 1;
        } else {
            buf[n] = b'%';
            buf[n + 1] = HEX_UPPER[usize::from(b >> 4)];
            buf[n + 2] = HEX_UPPER[usize::from(b & 15)];
            n += 3;
        }
    }
    s.put(&buf[..n]);
}

/// `name` in lower case, through a stack buffer.
fn put_lower<S: Sink>(s: &mut S, name: &str) {
    let mut buf = [0u8; 64];
    for chunk in name.as_bytes().chunks(buf.len()) {
        let out = &mut buf[..chunk.len()];
        out.copy_from_slice(chunk);
        out.make_ascii_lowercase();
        s.put(out);
    }
}

/// `value` trimmed, each run of spaces and tabs written as one space.
fn put_trimmed<S: Sink>(s: &mut S, value: &str) {
    let mut sep = &b""[..];
    for word in value
        .as_bytes()
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty())
    {
        s.put(sep);
        s.put(word);
        sep = b" ";
    }
}

fn hex(bytes: &[u8]) -> [u8; 64] {
    debug_assert_eq!(bytes.len(), 32);
    let mut out = [0; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_LOWER[usize::from(b >> 4)];
        pair[1] = HEX_LOWER[usize::from(b & 15)];
    }
    out
}

/// The ASCII text this module formats (dates, hex) as `&str`.
fn ascii(bytes: &[u8]) -> &str {
    // INVARIANT: only ever called on bytes this module wrote from ASCII tables.
    std::str::from_utf8(bytes).expect("ASCII")
}
