//! `application/vnd.amazon.eventstream`: the binary framing of Bedrock's
//! `ConverseStream` and `InvokeModelWithResponseStream` response bodies.
//!
//! A message, all integers big-endian:
//!
//! ```text
//! [ total length u32 | headers length u32 | prelude CRC32 u32 ]  prelude, 12 bytes
//! [ headers ][ payload ][ message CRC32 u32 ]
//! ```
//!
//! The prelude CRC covers the first 8 bytes; the message CRC covers every byte before it
//! (prelude and prelude CRC included). Both are CRC-32/IEEE (the zlib/gzip one). The
//! payload length is what remains: `total - 12 - headers - 4`.
//!
//! A header is a name length (u8), the name, a value type (u8) and the value: 0 true and
//! 1 false (no value bytes), 2 byte (i8), 3 short (i16), 4 int (i32), 5 long (i64),
//! 6 byte array and 7 string (u16 length, then the bytes), 8 timestamp (i64 ms since the
//! epoch), 9 UUID (16 bytes).
//!
//! Checks, in the order they are made (so that the same bytes fail the same way however
//! they are chunked):
//! 1. as soon as 12 bytes of a message are at hand: the prelude CRC
//!    ([`EventStreamError::BadPreludeCrc`]), then the lengths ([`BadLength`]), then the
//!    limits ([`MessageTooLarge`], [`HeadersTooLarge`]). Nothing in the prelude is
//!    trusted before its CRC passes, so a corrupt length never sizes a buffer;
//! 2. once the whole message is at hand: the message CRC ([`BadMessageCrc`]), then each
//!    header in order ([`EmptyHeaderName`], [`BadHeaderType`], [`TruncatedHeader`]).
//!
//! An error is final: the byte stream cannot be resynchronised, so every later call
//! fails the same way until [`Decoder::reset`].
//!
//! Where this is stricter or looser than AWS's own decoders, on purpose:
//! - an empty header name is refused (every AWS name is non-empty; an empty one is
//!   garbage that passed the CRC);
//! - string values are bytes, not checked as UTF-8 (the gateway relays and compares
//!   bytes, like [`crate::sse`]);
//! - a name that appears twice is kept twice; [`Message::header`] finds the first.
//!
//! [`BadLength`]: EventStreamError::BadLength
//! [`MessageTooLarge`]: EventStreamError::MessageTooLarge
//! [`HeadersTooLarge`]: EventStreamError::HeadersTooLarge
//! [`BadMessageCrc`]: EventStreamError::BadMessageCrc
//! [`EmptyHeaderName`]: EventStreamError::EmptyHeaderName
//! [`BadHeaderType`]: EventStreamError::BadHeaderType
//! [`TruncatedHeader`]: EventStreamError::TruncatedHeader

/// A naive reference decoder for property tests and fuzzing: obviously correct, slow.
#[doc(hidden)]
pub mod reference;

#[cfg(test)]
mod tests;

/// Bytes of the prelude: total length, headers length, prelude CRC.
pub const PRELUDE_BYTES: usize = 12;
const CRC_BYTES: usize = 4;
/// The smallest message: a prelude and a message CRC, no headers, no payload.
pub const MESSAGE_BYTES_MIN: usize = PRELUDE_BYTES + CRC_BYTES;

/// Limits on what a peer may declare in a prelude.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A message's total length (prelude and CRCs included).
    pub message_bytes_max: usize,
    /// A message's headers section.
    pub headers_bytes_max: usize,
}

impl Limits {
    /// AWS's own: aws-c-event-stream and the SDKs refuse messages over 16 MiB and header
    /// sections over 128 KiB, so a service never sends more. A Bedrock chunk is a few
    /// hundred bytes of JSON; the large case is a base64 image in
    /// `InvokeModelWithResponseStream`.
    pub const DEFAULT: Limits = Limits {
        message_bytes_max: 16 * 1024 * 1024,
        headers_bytes_max: 128 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

const _: () = assert!(
    Limits::DEFAULT.headers_bytes_max + MESSAGE_BYTES_MIN <= Limits::DEFAULT.message_bytes_max
);
const _: () = assert!(Limits::DEFAULT.message_bytes_max <= u32::MAX as usize);

/// Why a stream was rejected. Each names the first check that failed (see the module
/// docs for the order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventStreamError {
    /// The prelude CRC does not match the prelude's first 8 bytes.
    BadPreludeCrc,
    /// The prelude's lengths contradict each other: a total length under 16 bytes, or a
    /// headers length that does not fit in `total - 16`.
    BadLength,
    /// The total length exceeds [`Limits::message_bytes_max`].
    MessageTooLarge,
    /// The headers length exceeds [`Limits::headers_bytes_max`].
    HeadersTooLarge,
    /// The message CRC does not match the bytes before it.
    BadMessageCrc,
    /// A header name has length 0.
    EmptyHeaderName,
    /// A header value type is not 0..=9.
    BadHeaderType,
    /// A header's name, type or value runs past the end of the headers section.
    TruncatedHeader,
}

impl EventStreamError {
    /// A short human sentence for logs and error bodies.
    pub const fn message(self) -> &'static str {
        match self {
            EventStreamError::BadPreludeCrc => "event stream prelude CRC mismatch",
            EventStreamError::BadLength => "event stream prelude lengths are inconsistent",
            EventStreamError::MessageTooLarge => "event stream message exceeds message_bytes_max",
            EventStreamError::HeadersTooLarge => "event stream headers exceed headers_bytes_max",
            EventStreamError::BadMessageCrc => "event stream message CRC mismatch",
            EventStreamError::EmptyHeaderName => "event stream header with an empty name",
            EventStreamError::BadHeaderType => "event stream header with an unknown value type",
            EventStreamError::TruncatedHeader => "event stream header runs past its section",
        }
    }
}

impl std::fmt::Display for EventStreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EventStreamError {}

/// A header value, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    /// UTF-8 by the spec; not checked here.
    String(&'a [u8]),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue<'_> {
    /// The wire type byte.
    pub const fn type_byte(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }

    /// Bytes of the value on the wire, length prefix included, type byte excluded.
    fn wire_len(&self) -> usize {
        match self {
            HeaderValue::Bool(_) => 0,
            HeaderValue::Byte(_) => 1,
            HeaderValue::Short(_) => 2,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) | HeaderValue::Timestamp(_) => 8,
            HeaderValue::Bytes(b) | HeaderValue::String(b) => 2 + b.len(),
            HeaderValue::Uuid(_) => 16,
        }
    }
}

/// One header, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'a [u8],
    pub value: HeaderValue<'a>,
}

/// `:message-type`, which says how to read the rest of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// `event`: `:event-type` names the payload's shape (for Bedrock `ConverseStream`:
    /// `messageStart`, `contentBlockDelta`, `metadata`, ...).
    Event,
    /// `exception`: a modelled error; `:exception-type` names it (e.g.
    /// `throttlingException`) and the payload is its JSON body.
    Exception,
    /// `error`: an unmodelled error, in `:error-code` and `:error-message`.
    Error,
    /// The header is missing, not a string, or another value.
    Unknown,
}

/// A decoded message: its headers section (already validated) and payload, borrowed from
/// the input or from the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    headers: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// Split a whole message whose CRCs and headers have been checked.
    fn from_checked(message: &'a [u8], headers_len: usize) -> Message<'a> {
        let payload_end = message.len() - CRC_BYTES;
        Message {
            headers: &message[PRELUDE_BYTES..PRELUDE_BYTES + headers_len],
            payload: &message[PRELUDE_BYTES + headers_len..payload_end],
        }
    }

    /// The headers in wire order.
    pub fn headers(&self) -> Headers<'a> {
        Headers { rest: self.headers }
    }

    /// The raw headers section.
    pub fn headers_bytes(&self) -> &'a [u8] {
        self.headers
    }

    /// The value of the first header called `name` (compared byte for byte).
    pub fn header(&self, name: &[u8]) -> Option<HeaderValue<'a>> {
        self.headers().find(|h| h.name == name).map(|h| h.value)
    }

    /// The first header called `name`, if it is a string.
    pub fn string_header(&self, name: &[u8]) -> Option<&'a [u8]> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn message_type(&self) -> MessageType {
        match self.string_header(b":message-type") {
            Some(b"event") => MessageType::Event,
            Some(b"exception") => MessageType::Exception,
            Some(b"error") => MessageType::Error,
            _ => MessageType::Unknown,
        }
    }

    /// `:event-type`, on events.
    pub fn event_type(&self) -> Option<&'a [u8]> {
        self.string_header(b":event-type")
    }

    /// `:exception-type`, on exceptions.
    pub fn exception_type(&self) -> Option<&'a [u8]> {
        self.string_header(b":exception-type")
    }

    /// `:error-code`, on errors.
    pub fn error_code(&self) -> Option<&'a [u8]> {
        self.string_header(b":error-code")
    }

    /// `:error-message`, on errors.
    pub fn error_message(&self) -> Option<&'a [u8]> {
        self.string_header(b":error-message")
    }

    /// `:content-type` of the payload (Bedrock: `application/json`).
    pub fn content_type(&self) -> Option<&'a [u8]> {
        self.string_header(b":content-type")
    }
}

/// Iterator over a validated headers section.
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // INVARIANT: the section passed `check_headers`, so every header parses.
        match parse_header(self.rest) {
            Ok((header, used)) => {
                self.rest = &self.rest[used..];
                Some(header)
            }
            Err(_) => {
                debug_assert!(false, "headers were validated");
                self.rest = &[];
                None
            }
        }
    }
}

/// Parse the header at the start of `section`; returns it and its length.
fn parse_header(section: &[u8]) -> Result<(Header<'_>, usize), EventStreamError> {
    let (&name_len, rest) = section
        .split_first()
        .ok_or(EventStreamError::TruncatedHeader)?;
    let name_len = usize::from(name_len);
    if name_len == 0 {
        return Err(EventStreamError::EmptyHeaderName);
    }
    let name = rest
        .get(..name_len)
        .ok_or(EventStreamError::TruncatedHeader)?;
    let rest = &rest[name_len..];
    let (&kind, rest) = rest
        .split_first()
        .ok_or(EventStreamError::TruncatedHeader)?;
    let fixed = |n: usize| rest.get(..n).ok_or(EventStreamError::TruncatedHeader);
    let value = match kind {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(i8::from_be_bytes(array(fixed(1)?))),
        3 => HeaderValue::Short(i16::from_be_bytes(array(fixed(2)?))),
        4 => HeaderValue::Int(i32::from_be_bytes(array(fixed(4)?))),
        5 => HeaderValue::Long(i64::from_be_bytes(array(fixed(8)?))),
        6 | 7 => {
            let len = usize::from(u16::from_be_bytes(array(fixed(2)?)));
            let bytes = rest
                .get(2..2 + len)
                .ok_or(EventStreamError::TruncatedHeader)?;
            if kind == 6 {
                HeaderValue::Bytes(bytes)
            } else {
                HeaderValue::String(bytes)
            }
        }
        8 => HeaderValue::Timestamp(i64::from_be_bytes(array(fixed(8)?))),
        9 => HeaderValue::Uuid(array(fixed(16)?)),
        _ => return Err(EventStreamError::BadHeaderType),
    };
    let used = 1 + name_len + 1 + value.wire_len();
    Ok((Header { name, value }, used))
}

/// `bytes` as an array; the caller has sliced exactly `N` bytes.
#[inline]
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[inline]
fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(&bytes[at..at + 4]))
}

/// Check a prelude; returns (total length, headers length).
fn check_prelude(prelude: &[u8], limits: &Limits) -> Result<(usize, usize), EventStreamError> {
    debug_assert_eq!(prelude.len(), PRELUDE_BYTES);
    if crc32fast::hash(&prelude[..8]) != be_u32(prelude, 8) {
        return Err(EventStreamError::BadPreludeCrc);
    }
    let total = be_u32(prelude, 0) as usize;
    let headers_len = be_u32(prelude, 4) as usize;
    if total < MESSAGE_BYTES_MIN || headers_len > total - MESSAGE_BYTES_MIN {
        return Err(EventStreamError::BadLength);
    }
    if total > limits.message_bytes_max {
        return Err(EventStreamError::MessageTooLarge);
    }
    if headers_len > limits.headers_bytes_max {
        return Err(EventStreamError::HeadersTooLarge);
    }
    Ok((total, headers_len))
}

/// Check a whole message whose prelude passed: the message CRC, then every header.
fn check_message(message: &[u8], headers_len: usize) -> Result<(), EventStreamError> {
    let crc_at = message.len() - CRC_BYTES;
    if crc32fast::hash(&message[..crc_at]) != be_u32(message, crc_at) {
        return Err(EventStreamError::BadMessageCrc);
    }
    let mut section = &message[PRELUDE_BYTES..PRELUDE_BYTES + headers_len];
    while !section.is_empty() {
        let (_, used) = parse_header(section)?;
        section = &section[used..];
    }
    Ok(())
}

/// What one call to [`Decoder::decode`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A whole, checked message.
    Complete(Message<'a>),
    /// The input ended inside a message; all of it was taken. Call again with more.
    Partial,
}

/// Decodes a stream of event-stream messages pushed in chunks of any size.
///
/// A message that lies whole inside the input is returned borrowed from the input, with
/// no copy. Only a message cut by a chunk boundary is copied, into an internal buffer
/// that grows to at most that message's total length, so never past
/// [`Limits::message_bytes_max`], and is reused: once it has grown to the largest cut
/// message, decoding allocates nothing.
///
/// ```
/// use proto::aws::eventstream::{write_message, Decoder, Header, HeaderValue, Step};
///
/// let mut wire = Vec::new();
/// let headers = [Header { name: b":event-type", value: HeaderValue::String(b"chunk") }];
/// write_message(&headers, b"{}", &mut wire);
/// let mut decoder = Decoder::default();
/// let mut seen = 0;
/// for chunk in wire.chunks(5) {
///     let mut at = 0;
///     loop {
///         let (used, step) = decoder.decode(&chunk[at..]).unwrap();
///         at += used;
///         match step {
///             Step::Complete(m) => { assert_eq!(m.event_type(), Some(&b"chunk"[..])); seen += 1 }
///             Step::Partial => break,
///         }
///     }
/// }
/// assert_eq!((seen, decoder.pending()), (1, 0));
/// ```
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// The start of a message cut by a chunk boundary.
    /// INVARIANT: once `total` is known, buf.len() <= total <= limits.message_bytes_max;
    /// before, buf.len() < PRELUDE_BYTES.
    buf: Vec<u8>,
    /// The held message's total length, 0 until its prelude has been checked.
    total: usize,
    headers_len: usize,
    /// `buf` holds the message returned last; it is dropped on the next call.
    taken: bool,
    failed: Option<EventStreamError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(Limits::DEFAULT)
    }
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            buf: Vec::new(),
            total: 0,
            headers_len: 0,
            taken: false,
            failed: None,
        }
    }

    /// Decode from `input`: returns how many bytes were taken and what they made.
    ///
    /// `Complete` takes the bytes up to the end of that message (call again with the
    /// rest; several messages may sit in one input). `Partial` takes all of `input`.
    /// Errors are final until [`Decoder::reset`]; messages returned before are valid.
    pub fn decode<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Step<'a>), EventStreamError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.taken {
            self.buf.clear();
            self.total = 0;
            self.taken = false;
        }
        if self.buf.is_empty() {
            self.decode_direct(input)
        } else {
            self.decode_buffered(input)
        }
    }

    /// Nothing is held: decode straight from `input` when the message is whole there.
    fn decode_direct<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Step<'a>), EventStreamError> {
        if input.len() >= PRELUDE_BYTES {
            let (total, headers_len) =
                self.fail_on(check_prelude(&input[..PRELUDE_BYTES], &self.limits))?;
            if let Some(message) = input.get(..total) {
                self.fail_on(check_message(message, headers_len))?;
                return Ok((
                    total,
                    Step::Complete(Message::from_checked(message, headers_len)),
                ));
            }
            self.total = total;
            self.headers_len = headers_len;
        }
        self.buf.extend_from_slice(input);
        Ok((input.len(), Step::Partial))
    }

    /// The start of a message is held: complete its prelude, then the message.
    fn decode_buffered<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Step<'a>), EventStreamError> {
        let mut used = 0;
        if self.total == 0 {
            debug_assert!(self.buf.len() < PRELUDE_BYTES);
            used = (PRELUDE_BYTES - self.buf.len()).min(input.len());
            self.buf.extend_from_slice(&input[..used]);
            if self.buf.len() < PRELUDE_BYTES {
                return Ok((used, Step::Partial));
            }
            let prelude: [u8; PRELUDE_BYTES] = array(&self.buf);
            let (total, headers_len) = self.fail_on(check_prelude(&prelude, &self.limits))?;
            self.total = total;
            self.headers_len = headers_len;
        }
        let more = (self.total - self.buf.len()).min(input.len() - used);
        self.buf.extend_from_slice(&input[used..used + more]);
        used += more;
        if self.buf.len() < self.total {
            return Ok((used, Step::Partial));
        }
        let checked = check_message(&self.buf, self.headers_len);
        self.fail_on(checked)?;
        self.taken = true;
        let message = Message::from_checked(&self.buf, self.headers_len);
        Ok((used, Step::Complete(message)))
    }

    /// Record an error so that it is final.
    #[inline]
    fn fail_on<T>(&mut self, result: Result<T, EventStreamError>) -> Result<T, EventStreamError> {
        if let Err(e) = result {
            self.failed = Some(e);
        }
        result
    }

    /// Bytes of an incomplete message held. Non-zero at the end of a stream means the
    /// stream was cut inside a message.
    pub fn pending(&self) -> usize {
        if self.taken {
            0
        } else {
            self.buf.len()
        }
    }

    /// Forget any held bytes and any error, for a new stream; keeps the buffer.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.total = 0;
        self.headers_len = 0;
        self.taken = false;
        self.failed = None;
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Append one message to `out`.
///
/// # Panics
/// If a header name is empty or longer than 255 bytes, a byte array or string value is
/// longer than 65,535 bytes, or the message would exceed `u32::MAX` bytes. Callers
/// build headers from constants; these are bugs, not input.
pub fn write_message(headers: &[Header<'_>], payload: &[u8], out: &mut Vec<u8>) {
    let headers_len: usize = headers
        .iter()
        .map(|h| 2 + h.name.len() + h.value.wire_len())
        .sum();
    let total = MESSAGE_BYTES_MIN + headers_len + payload.len();
    assert!(
        u32::try_from(total).is_ok(),
        "event stream message too large"
    );
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    for h in headers {
        write_header(h, out);
    }
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
    debug_assert_eq!(out.len() - start, total);
}

fn write_header(h: &Header<'_>, out: &mut Vec<u8>) {
    let name_len = u8::try_from(h.name.len()).expect("header name longer than 255 bytes");
    assert!(name_len > 0, "empty event stream header name");
    out.push(name_len);
    out.extend_from_slice(h.name);
    out.push(h.value.type_byte());
    match h.value {
        HeaderValue::Bool(_) => {}
        HeaderValue::Byte(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Short(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Int(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Long(v) | HeaderValue::Timestamp(v) => out.extend_from_slice(&v.to_be_bytes()),
        HeaderValue::Bytes(b) | HeaderValue::String(b) => {
            let len = u16::try_from(b.len()).expect("header value longer than 65535 bytes");
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(b);
        }
        HeaderValue::Uuid(u) => out.extend_from_slice(&u),
    }
}
