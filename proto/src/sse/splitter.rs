//! Splitting an event stream into raw events without decoding them.

use memchr::memchr2;

use super::SseError;

/// Finds event boundaries (a blank line, with any of the spec's line endings) in a
/// stream pushed in pieces, and hands each event's raw bytes — its lines and the blank
/// line that ends it — to a callback, unchanged. For relaying a stream while looking at
/// (or dropping) individual events: the bytes the client gets are the upstream's own.
///
/// An event wholly inside one push is passed straight from the input; only an event cut
/// by a push boundary is copied, into a buffer bounded by `event_bytes_max` (an event
/// longer than that fails with [`SseError::EventTooLarge`]).
///
/// INVARIANT: `pending` holds the start of one unfinished event, and `scanned` bytes of
/// it are known to contain no blank line; `last_cr` says whether it ends with a CR whose
/// LF (if any) has not arrived yet.
#[derive(Debug)]
pub struct Splitter {
    pending: Vec<u8>,
    event_bytes_max: usize,
}

impl Splitter {
    pub fn new(event_bytes_max: usize) -> Splitter {
        Splitter {
            pending: Vec::new(),
            event_bytes_max,
        }
    }

    /// Bytes of an unfinished event held back (non-zero at the end of a stream means the
    /// stream was cut inside an event).
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The held bytes of the unfinished event, as they came.
    pub fn pending_bytes(&self) -> &[u8] {
        &self.pending
    }

    /// Feed `input`; `f` is called once per complete event, in order.
    pub fn push(&mut self, input: &[u8], mut f: impl FnMut(&[u8])) -> Result<(), SseError> {
        let mut input = input;
        if !self.pending.is_empty() {
            // Complete the held event first: scan it joined with the new bytes. Rescanning
            // from its start keeps the logic simple; events are small and this path runs
            // only for events cut by a read boundary.
            let old = self.pending.len();
            self.pending.extend_from_slice(input);
            match event_end(&self.pending, false) {
                Some(end) => {
                    f(&self.pending[..end]);
                    input = &input[end - old..];
                    self.pending.clear();
                }
                None => {
                    if self.pending.len() > self.event_bytes_max {
                        self.pending.clear();
                        return Err(SseError::EventTooLarge);
                    }
                    return Ok(());
                }
            }
        }
        let mut at = 0;
        while let Some(end) = event_end(&input[at..], false) {
            f(&input[at..at + end]);
            at += end;
        }
        let rest = &input[at..];
        if rest.len() > self.event_bytes_max {
            return Err(SseError::EventTooLarge);
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// The stream ended: an event whose blank line is a final lone CR is complete;
    /// anything else held is an unterminated event, which the spec discards. Returns the
    /// bytes dropped.
    pub fn finish(&mut self, mut f: impl FnMut(&[u8])) -> usize {
        if let Some(end) = event_end(&self.pending, true) {
            f(&self.pending[..end]);
            self.pending.drain(..end);
        }
        let dropped = self.pending.len();
        self.pending.clear();
        dropped
    }
}

/// The length of the first complete event in `b` (through its blank line), if any. A CR
/// at the very end is a line ending only when `at_eof` (else a LF may follow).
pub(super) fn event_end(b: &[u8], at_eof: bool) -> Option<usize> {
    let mut line_start = 0;
    let mut i = 0;
    while let Some(k) = memchr2(b'\r', b'\n', &b[i..]) {
        let eol = i + k;
        let next = if b[eol] == b'\r' {
            match b.get(eol + 1) {
                Some(b'\n') => eol + 2,
                Some(_) => eol + 1,
                None if at_eof => eol + 1,
                None => return None,
            }
        } else {
            eol + 1
        };
        if eol == line_start {
            return Some(next);
        }
        line_start = next;
        i = next;
    }
    None
}
