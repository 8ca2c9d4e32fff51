//! HTTP/1.1, sans-I/O.
//!
//! Heads are parsed by httparse into a stack array and kept as [`Span`]s into the
//! caller's buffer, stored in a caller-owned `[HeaderSpan; HEADER_SLOTS]`: parsing a head
//! allocates nothing. Framing is decided once per message ([`BodyFraming`]), with the
//! ambiguities that enable request smuggling rejected outright (see [`Error`]).

mod chunked;
mod error;
mod head;
mod limits;
mod write;

#[cfg(test)]
mod tests;

/// Naive reference decoders for property tests and fuzzing: obviously correct, slow.
#[doc(hidden)]
pub mod reference;

pub use chunked::{write_chunk, ChunkEvent, ChunkedDecoder, LAST_CHUNK};
pub use error::Error;
pub use head::{parse_request, parse_response, RequestHead, ResponseHead};
pub use limits::{Limits, HEADER_SLOTS};
pub use write::{reason_phrase, write_header, write_status_line};

/// A byte range into the buffer a head was parsed from. `u32` keeps [`HeaderSpan`] at
/// 16 bytes; heads are bounded far below 4 GiB by [`Limits::head_bytes_max`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[inline]
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end && end <= u32::MAX as usize);
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes this span covers in `buf` (the buffer the head was parsed from).
    #[inline]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One header line: name and value spans (value trimmed of surrounding whitespace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaderSpan {
    pub name: Span,
    pub value: Span,
}

/// Caller-owned storage for parsed headers. Reused across requests on a connection.
pub type Headers = [HeaderSpan; HEADER_SLOTS];

/// An empty header array, for initialising [`Headers`].
pub const EMPTY_HEADERS: Headers = [HeaderSpan {
    name: Span { start: 0, end: 0 },
    value: Span { start: 0, end: 0 },
}; HEADER_SLOTS];

/// Outcome of a decoder given the bytes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    /// Any other token; the raw bytes are at [`RequestHead::method`]'s span.
    Other,
}

/// How the body of a message is delimited, decided once from its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (requests without Content-Length/Transfer-Encoding; 1xx/204/304 and
    /// responses to HEAD).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked` as the final coding.
    Chunked,
    /// Responses only: the body runs until the peer closes the connection.
    CloseDelimited,
}

/// Case-insensitive ASCII header lookup over parsed spans: the first header named `name`.
#[inline]
pub fn find_header<'a>(buf: &'a [u8], headers: &[HeaderSpan], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.of(buf))
}
