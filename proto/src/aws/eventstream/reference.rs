//! A naive event-stream decoder: the whole stream at once, into owned values, with its
//! own bitwise CRC-32 (not `crc32fast`), transcribing the format and the check order of
//! [`crate::aws::eventstream`] as directly as possible, so that property tests and fuzz targets can hold
//! [`crate::aws::eventstream::Decoder`] to it.

use super::{EventStreamError, HeaderValue, Limits, Message};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(Vec<u8>),
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl OwnedValue {
    /// Borrow as the encoder's value type.
    pub fn as_value(&self) -> HeaderValue<'_> {
        match self {
            OwnedValue::Bool(v) => HeaderValue::Bool(*v),
            OwnedValue::Byte(v) => HeaderValue::Byte(*v),
            OwnedValue::Short(v) => HeaderValue::Short(*v),
            OwnedValue::Int(v) => HeaderValue::Int(*v),
            OwnedValue::Long(v) => HeaderValue::Long(*v),
            OwnedValue::Bytes(v) => HeaderValue::Bytes(v),
            OwnedValue::String(v) => HeaderValue::String(v),
            OwnedValue::Timestamp(v) => HeaderValue::Timestamp(*v),
            OwnedValue::Uuid(v) => HeaderValue::Uuid(*v),
        }
    }
}

impl From<HeaderValue<'_>> for OwnedValue {
    fn from(v: HeaderValue<'_>) -> OwnedValue {
        match v {
            HeaderValue::Bool(v) => OwnedValue::Bool(v),
            HeaderValue::Byte(v) => OwnedValue::Byte(v),
            HeaderValue::Short(v) => OwnedValue::Short(v),
            HeaderValue::Int(v) => OwnedValue::Int(v),
            HeaderValue::Long(v) => OwnedValue::Long(v),
            HeaderValue::Bytes(v) => OwnedValue::Bytes(v.to_vec()),
            HeaderValue::String(v) => OwnedValue::String(v.to_vec()),
            HeaderValue::Timestamp(v) => OwnedValue::Timestamp(v),
            HeaderValue::Uuid(v) => OwnedValue::Uuid(v),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMessage {
    pub headers: Vec<(Vec<u8>, OwnedValue)>,
    pub payload: Vec<u8>,
}

impl From<Message<'_>> for OwnedMessage {
    fn from(m: Message<'_>) -> OwnedMessage {
        OwnedMessage {
            headers: m
                .headers()
                .map(|h| (h.name.to_vec(), OwnedValue::from(h.value)))
                .collect(),
            payload: m.payload.to_vec(),
        }
    }
}

/// What decoding a whole stream yields: the messages, then either the number of bytes of
/// an incomplete message at the end (what [`super::Decoder::pending`] reports) or the
/// error that stopped the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub messages: Vec<OwnedMessage>,
    pub outcome: Result<usize, EventStreamError>,
}

/// CRC-32/IEEE, one bit at a time (reflected, polynomial 0xEDB88320).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decode `stream` as the format describes, with the decoder's limits.
pub fn decode(stream: &[u8], limits: Limits) -> Decoded {
    let mut messages = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &stream[pos..];
        if rest.len() < 12 {
            return Decoded {
                messages,
                outcome: Ok(rest.len()),
            };
        }
        let total = u32_at(rest, 0) as usize;
        let headers_len = u32_at(rest, 4) as usize;
        let fail = |messages, e| Decoded {
            messages,
            outcome: Err(e),
        };
        if crc32(&rest[..8]) != u32_at(rest, 8) {
            return fail(messages, EventStreamError::BadPreludeCrc);
        }
        if total < 16 || headers_len + 16 > total {
            return fail(messages, EventStreamError::BadLength);
        }
        if total > limits.message_bytes_max {
            return fail(messages, EventStreamError::MessageTooLarge);
        }
        if headers_len > limits.headers_bytes_max {
            return fail(messages, EventStreamError::HeadersTooLarge);
        }
        if rest.len() < total {
            return Decoded {
                messages,
                outcome: Ok(rest.len()),
            };
        }
        if crc32(&rest[..total - 4]) != u32_at(rest, total - 4) {
            return fail(messages, EventStreamError::BadMessageCrc);
        }
        match parse_headers(&rest[12..12 + headers_len]) {
            Ok(headers) => messages.push(OwnedMessage {
                headers,
                payload: rest[12 + headers_len..total - 4].to_vec(),
            }),
            Err(e) => return fail(messages, e),
        }
        pos += total;
    }
}

type OwnedHeaders = Vec<(Vec<u8>, OwnedValue)>;

fn parse_headers(section: &[u8]) -> Result<OwnedHeaders, EventStreamError> {
    let mut headers = Vec::new();
    let mut i = 0;
    let take = |i: &mut usize, n: usize| -> Result<Vec<u8>, EventStreamError> {
        if *i + n > section.len() {
            return Err(EventStreamError::TruncatedHeader);
        }
        let v = section[*i..*i + n].to_vec();
        *i += n;
        Ok(v)
    };
    while i < section.len() {
        let name_len = take(&mut i, 1)?[0] as usize;
        if name_len == 0 {
            return Err(EventStreamError::EmptyHeaderName);
        }
        let name = take(&mut i, name_len)?;
        let kind = take(&mut i, 1)?[0];
        let int = |v: Vec<u8>| v.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let value = match kind {
            0 => OwnedValue::Bool(true),
            1 => OwnedValue::Bool(false),
            2 => OwnedValue::Byte(int(take(&mut i, 1)?) as u8 as i8),
            3 => OwnedValue::Short(int(take(&mut i, 2)?) as u16 as i16),
            4 => OwnedValue::Int(int(take(&mut i, 4)?) as u32 as i32),
            5 => OwnedValue::Long(int(take(&mut i, 8)?) as i64),
            6 => {
                let n = int(take(&mut i, 2)?) as usize;
                OwnedValue::Bytes(take(&mut i, n)?)
            }
            7 => {
                let n = int(take(&mut i, 2)?) as usize;
                OwnedValue::String(take(&mut i, n)?)
            }
            8 => OwnedValue::Timestamp(int(take(&mut i, 8)?) as i64),
            9 => {
                let v = take(&mut i, 16)?;
                let mut u = [0; 16];
                u.copy_from_slice(&v);
                OwnedValue::Uuid(u)
            }
            _ => return Err(EventStreamError::BadHeaderType),
        };
        headers.push((name, value));
    }
    Ok(headers)
}
