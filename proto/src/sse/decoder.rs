//! The incremental SSE decoder.

use std::collections::VecDeque;

use memchr::{memchr, memchr2};

use super::{Event, SseError, BOM};

/// A byte range into [`Decoder::arena`].
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

/// A dispatched event waiting for [`Decoder::next_event`].
#[derive(Clone, Copy, Debug)]
struct Queued {
    data: Span,
    event: Span,
    id: Option<Span>,
    retry: Option<u64>,
}

/// Decodes a stream of server-sent events pushed in chunks of any size.
///
/// Lines are parsed as they arrive, straight from the pushed chunk; only a line cut by
/// the chunk boundary is copied (into `line`). Field values are copied once, into an
/// arena that holds the dispatched events and then the event being assembled; events
/// borrow from it. All buffers are reused, so once they have grown to the largest event
/// decoding allocates nothing.
///
/// The limit: the bytes of the event being assembled are, since the last blank line, the
/// length of each field line plus one for its line ending (whichever form it took), plus
/// the length of the incomplete line at the end. Comment lines are discarded on sight and
/// do not add up, but one longer than the limit is still rejected. A push that takes the
/// count past `event_bytes_max` fails with [`SseError::EventTooLarge`]; events dispatched
/// before the offending line can still be taken, and every later push fails until
/// [`Decoder::finish`].
#[derive(Debug)]
pub struct Decoder {
    event_bytes_max: usize,
    /// The current line when a push ended inside it (or, while `bom_pending`, the bytes of
    /// a possible BOM). INVARIANT: holds no CR or LF.
    line: Vec<u8>,
    /// The last push ended in CR: a LF at the start of the next one ends the same line.
    skip_lf: bool,
    /// At the start of a stream, until three bytes have ruled a BOM in or out.
    bom_pending: bool,
    /// Bytes of the event being assembled, as the limit counts them (without `line`).
    /// INVARIANT: event_bytes <= event_bytes_max.
    event_bytes: usize,
    /// Data, type and id of each queued event, in queue order, followed from `data_start`
    /// by the data buffer of the event being assembled (each data line and its LF).
    arena: Vec<u8>,
    /// INVARIANT: every span in `queue` ends at or before data_start <= arena.len().
    data_start: usize,
    event_type: Vec<u8>,
    last_id: Vec<u8>,
    retry: Option<u64>,
    queue: VecDeque<Queued>,
    /// The front of `queue` has been returned by `next_event` and is dropped on the next
    /// call to `next_event` or `push`.
    front_taken: bool,
    failed: bool,
}

impl Decoder {
    pub fn new(event_bytes_max: usize) -> Decoder {
        Decoder {
            event_bytes_max,
            line: Vec::new(),
            skip_lf: false,
            bom_pending: true,
            event_bytes: 0,
            arena: Vec::new(),
            data_start: 0,
            event_type: Vec::new(),
            last_id: Vec::new(),
            retry: None,
            queue: VecDeque::new(),
            front_taken: false,
            failed: false,
        }
    }

    /// Append bytes from the stream (any chunk boundary). Errors with
    /// [`SseError::EventTooLarge`] if the bytes of the event being assembled (not yet
    /// dispatched) would exceed `event_bytes_max`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseError> {
        if self.failed {
            return Err(SseError::EventTooLarge);
        }
        self.reclaim();
        let mut chunk = chunk;
        if self.bom_pending {
            chunk = self.skip_bom(chunk);
            if self.bom_pending {
                return Ok(());
            }
        }
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        let result = self.parse(chunk);
        self.failed = result.is_err();
        result
    }

    /// The next complete event, if one is buffered. Borrowed from the decoder.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        if self.front_taken {
            self.queue.pop_front();
            self.front_taken = false;
        }
        let Some(&q) = self.queue.front() else {
            self.reclaim();
            return None;
        };
        self.front_taken = true;
        let arena = &self.arena;
        Some(Event {
            event: &arena[q.event.start..q.event.end],
            data: &arena[q.data.start..q.data.end],
            id: q.id.map(|s| &arena[s.start..s.end]),
            retry: q.retry,
        })
    }

    /// End of stream: per the spec an unterminated final event is discarded; returns
    /// whether bytes were discarded (a field line not followed by a blank line, or an
    /// incomplete line). Events already dispatched can still be taken; the decoder is
    /// then ready for a new stream.
    pub fn finish(&mut self) -> bool {
        let discarded = self.event_bytes > 0 || !self.line.is_empty();
        self.line.clear();
        self.skip_lf = false;
        self.bom_pending = true;
        self.event_bytes = 0;
        self.arena.truncate(self.data_start);
        self.event_type.clear();
        self.last_id.clear();
        self.retry = None;
        self.failed = false;
        discarded
    }

    /// Drop the event handed out last, and move live bytes to the front of the arena once
    /// the dead prefix is at least half of it (amortised O(1) per byte).
    fn reclaim(&mut self) {
        if self.front_taken {
            self.queue.pop_front();
            self.front_taken = false;
        }
        let live = self.queue.front().map_or(self.data_start, |q| q.data.start);
        if live == 0 || live < self.arena.len() - live {
            return;
        }
        self.arena.copy_within(live.., 0);
        self.arena.truncate(self.arena.len() - live);
        self.data_start -= live;
        for q in self.queue.iter_mut() {
            for s in [&mut q.data, &mut q.event].into_iter().chain(q.id.as_mut()) {
                s.start -= live;
                s.end -= live;
            }
        }
    }

    /// Consume what may be a BOM at the start of the stream; returns the rest of `chunk`.
    fn skip_bom<'c>(&mut self, mut chunk: &'c [u8]) -> &'c [u8] {
        while let Some((&b, rest)) = chunk.split_first() {
            if b != BOM[self.line.len()] {
                // Not a BOM: the bytes matched so far are the start of the first line.
                self.bom_pending = false;
                return chunk;
            }
            self.line.push(b);
            chunk = rest;
            if self.line.len() == BOM.len() {
                self.line.clear();
                self.bom_pending = false;
                return chunk;
            }
        }
        chunk
    }

    fn parse(&mut self, mut rest: &[u8]) -> Result<(), SseError> {
        if !self.line.is_empty() {
            let Some(n) = memchr2(b'\r', b'\n', rest) else {
                return self.hold(rest);
            };
            self.admit(self.line.len() + n, self.line[0] == b':')?;
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(&rest[..n]);
            self.apply(&line);
            line.clear();
            self.line = line;
            rest = &rest[self.line_end(rest, n)..];
        }
        loop {
            let Some(n) = memchr2(b'\r', b'\n', rest) else {
                return self.hold(rest);
            };
            let line = &rest[..n];
            match line.first() {
                None => self.dispatch(),
                Some(&first) => {
                    self.admit(n, first == b':')?;
                    self.apply(line);
                }
            }
            rest = &rest[self.line_end(rest, n)..];
        }
    }

    /// The length of the line ending at `rest[n]`, counting from the start of `rest`.
    #[inline]
    fn line_end(&mut self, rest: &[u8], n: usize) -> usize {
        if rest[n] == b'\n' {
            return n + 1;
        }
        match rest.get(n + 1) {
            Some(b'\n') => n + 2,
            Some(_) => n + 1,
            None => {
                self.skip_lf = true;
                n + 1
            }
        }
    }

    /// Keep an incomplete line for the next push.
    fn hold(&mut self, partial: &[u8]) -> Result<(), SseError> {
        if partial.is_empty() {
            return Ok(());
        }
        let held = self
            .event_bytes
            .saturating_add(self.line.len())
            .saturating_add(partial.len());
        if held > self.event_bytes_max {
            return Err(SseError::EventTooLarge);
        }
        self.line.extend_from_slice(partial);
        Ok(())
    }

    /// Count a complete, non-blank line of `len` bytes against the limit.
    #[inline]
    fn admit(&mut self, len: usize, comment: bool) -> Result<(), SseError> {
        let with_line = self.event_bytes.saturating_add(len);
        if comment {
            return if with_line > self.event_bytes_max {
                Err(SseError::EventTooLarge)
            } else {
                Ok(())
            };
        }
        let total = with_line.saturating_add(1);
        if total > self.event_bytes_max {
            return Err(SseError::EventTooLarge);
        }
        self.event_bytes = total;
        Ok(())
    }

    /// Interpret a complete, non-blank line that has passed [`Decoder::admit`].
    #[inline]
    fn apply(&mut self, line: &[u8]) {
        debug_assert!(!line.is_empty());
        if line[0] == b':' {
            return;
        }
        let (name, value) = match memchr(b':', line) {
            Some(c) => {
                let value = &line[c + 1..];
                (&line[..c], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.arena.extend_from_slice(value);
                self.arena.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            b"id" if memchr(0, value).is_none() => {
                self.last_id.clear();
                self.last_id.extend_from_slice(value);
            }
            b"retry" => {
                if let Some(ms) = parse_retry(value) {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
    }

    /// A blank line: queue the event if it has data, and start the next one.
    fn dispatch(&mut self) {
        self.event_bytes = 0;
        if self.arena.len() > self.data_start {
            // The data buffer's final LF stays in the arena, outside the span.
            let data = Span {
                start: self.data_start,
                end: self.arena.len() - 1,
            };
            let event = append(&mut self.arena, &self.event_type);
            let id = (!self.last_id.is_empty()).then(|| append(&mut self.arena, &self.last_id));
            self.queue.push_back(Queued {
                data,
                event,
                id,
                retry: self.retry.take(),
            });
            self.data_start = self.arena.len();
        }
        self.event_type.clear();
    }

    #[cfg(test)]
    pub(super) fn capacities(&self) -> [usize; 5] {
        [
            self.line.capacity(),
            self.arena.capacity(),
            self.event_type.capacity(),
            self.last_id.capacity(),
            self.queue.capacity(),
        ]
    }
}

fn append(arena: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = arena.len();
    arena.extend_from_slice(bytes);
    Span {
        start,
        end: arena.len(),
    }
}

/// A `retry` value: one or more ASCII digits that fit in a `u64`.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
