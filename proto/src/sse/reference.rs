//! A naive SSE decoder: the whole stream at once, a byte at a time, into owned buffers.
//! It transcribes the spec's steps (and the deviations listed in [`super`]) as directly
//! as possible, so that property tests and fuzz targets can hold [`super::Decoder`] to it.

use super::{SseError, BOM};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEvent {
    pub event: Vec<u8>,
    pub data: Vec<u8>,
    pub id: Option<Vec<u8>>,
    pub retry: Option<u64>,
}

impl From<super::Event<'_>> for OwnedEvent {
    fn from(e: super::Event<'_>) -> OwnedEvent {
        OwnedEvent {
            event: e.event.to_vec(),
            data: e.data.to_vec(),
            id: e.id.map(<[u8]>::to_vec),
            retry: e.retry,
        }
    }
}

/// What decoding a whole stream yields: the events, then either what
/// [`super::Decoder::finish`] returns (whether an incomplete event was discarded) or the
/// error that stopped the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub events: Vec<OwnedEvent>,
    pub outcome: Result<bool, SseError>,
}

/// Decode `stream` as the spec describes, with the decoder's limit.
pub fn decode(stream: &[u8], event_bytes_max: usize) -> Decoded {
    let mut events = Vec::new();
    if stream.len() < BOM.len() && BOM.starts_with(stream) {
        // Too short to tell whether it is a BOM: nothing but an incomplete line.
        return Decoded {
            events,
            outcome: Ok(!stream.is_empty()),
        };
    }
    let stream = stream.strip_prefix(&BOM[..]).unwrap_or(stream);

    // Split into lines.
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < stream.len() {
        match stream[i] {
            b'\r' => {
                lines.push(std::mem::take(&mut current));
                if stream.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => lines.push(std::mem::take(&mut current)),
            b => current.push(b),
        }
        i += 1;
    }
    let incomplete = current;

    let mut data: Vec<u8> = Vec::new();
    let mut event_type: Vec<u8> = Vec::new();
    let mut last_id: Vec<u8> = Vec::new();
    let mut retry: Option<u64> = None;
    // The limit's count: field lines since the last blank line, each plus one.
    let mut count: usize = 0;
    let too_large = |events| Decoded {
        events,
        outcome: Err(SseError::EventTooLarge),
    };

    for line in lines {
        if line.is_empty() {
            count = 0;
            if !data.is_empty() {
                data.pop();
                events.push(OwnedEvent {
                    event: event_type.clone(),
                    data: data.clone(),
                    id: if last_id.is_empty() {
                        None
                    } else {
                        Some(last_id.clone())
                    },
                    retry: retry.take(),
                });
            }
            data.clear();
            event_type.clear();
            continue;
        }
        if line[0] == b':' {
            if count + line.len() > event_bytes_max {
                return too_large(events);
            }
            continue;
        }
        count += line.len() + 1;
        if count > event_bytes_max {
            return too_large(events);
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let mut value = &line[c + 1..];
                if value.first() == Some(&b' ') {
                    value = &value[1..];
                }
                (&line[..c], value)
            }
            None => (&line[..], &b""[..]),
        };
        if name == b"data" {
            data.extend_from_slice(value);
            data.push(b'\n');
        } else if name == b"event" {
            event_type = value.to_vec();
        } else if name == b"id" {
            if !value.contains(&0) {
                last_id = value.to_vec();
            }
        } else if name == b"retry" && !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
            // Digits that overflow u64 are ignored.
            if let Ok(ms) = std::str::from_utf8(value).unwrap().parse::<u64>() {
                retry = Some(ms);
            }
        }
    }
    if count + incomplete.len() > event_bytes_max {
        return too_large(events);
    }
    Decoded {
        events,
        outcome: Ok(count > 0 || !incomplete.is_empty()),
    }
}
