//! [`scan_object`]: validate a whole body and locate top-level members, in one pass.

use super::string::{scan_string, Discard};
use super::JsonErrorKind::{BadNumber, Eof, NotAnObject, TooDeep, TrailingBytes, Unexpected};
use super::{JsonError, JsonErrorKind, Kind, Value, DEPTH_MAX};

/// One bit per open container (1 = array), so the scanner needs no heap and no recursion.
const STACK_WORDS: usize = DEPTH_MAX / 64;
const _: () = assert!(DEPTH_MAX == STACK_WORDS * 64 && STACK_WORDS > 0);

/// What the scanner expects next.
#[derive(Clone, Copy)]
enum State {
    /// Just after `{`: a member name or `}`.
    ObjectFirst,
    /// After `,` in an object: a member name.
    Name,
    /// Just after `[`: a value or `]`.
    ArrayFirst,
    /// A value (after `:` or `,` in an array).
    Value,
    /// After a value: `,` or the closing bracket of the innermost container.
    AfterValue,
    /// A container of this kind has just been closed.
    Closed(Kind),
}

struct Scanner<'a> {
    body: &'a [u8],
    /// INVARIANT: i <= body.len().
    i: usize,
    /// Open containers, the top-level object included.
    depth: usize,
    arrays: [u64; STACK_WORDS],
}

/// Validate `body` as one JSON object and record, for each name in `keys`, the span of
/// its value at the top level (the last occurrence wins, as in most parsers) in `found`
/// (`found[i]` for `keys[i]`; `None` when absent). `keys` are compared with the member
/// names as written (unescaped names compare by their escaped bytes).
///
/// `found` must be at least as long as `keys`. On error the contents of `found` are
/// unspecified.
pub fn scan_object(
    body: &[u8],
    keys: &[&[u8]],
    found: &mut [Option<Value>],
) -> Result<(), JsonError> {
    let found = &mut found[..keys.len()];
    found.fill(None);
    let mut s = Scanner {
        body,
        i: 0,
        depth: 0,
        arrays: [0; STACK_WORDS],
    };
    s.skip_ws();
    match s.peek() {
        Some(b'{') => s.open(false)?,
        Some(_) => return Err(s.error(NotAnObject)),
        None => return Err(s.error(Eof)),
    }
    // The current top-level member, when its name is one of `keys`: the name's span
    // (without quotes) and where its value starts.
    let mut member: Option<(usize, usize)> = None;
    let mut member_start = 0;
    let mut state = State::ObjectFirst;
    loop {
        state = match state {
            State::ObjectFirst => {
                s.skip_ws();
                if s.peek() == Some(b'}') {
                    s.i += 1;
                    State::Closed(Kind::Object)
                } else {
                    State::Name
                }
            }
            State::Name => {
                s.skip_ws();
                if s.peek() != Some(b'"') {
                    return Err(s.unexpected());
                }
                let start = s.i;
                s.i = scan_string(body, start, &mut Discard)?;
                if s.depth == 1 {
                    let name = &body[start + 1..s.i - 1];
                    member = keys.contains(&name).then_some((start + 1, s.i - 1));
                }
                s.skip_ws();
                if s.peek() != Some(b':') {
                    return Err(s.unexpected());
                }
                s.i += 1;
                State::Value
            }
            State::ArrayFirst => {
                s.skip_ws();
                if s.peek() == Some(b']') {
                    s.i += 1;
                    State::Closed(Kind::Array)
                } else {
                    State::Value
                }
            }
            State::Value => {
                s.skip_ws();
                let start = s.i;
                if s.depth == 1 {
                    member_start = start;
                }
                let kind = match s.peek() {
                    Some(b'{') => {
                        s.open(false)?;
                        state = State::ObjectFirst;
                        continue;
                    }
                    Some(b'[') => {
                        s.open(true)?;
                        state = State::ArrayFirst;
                        continue;
                    }
                    Some(b'"') => {
                        s.i = scan_string(body, start, &mut Discard)?;
                        Kind::String
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        s.number()?;
                        Kind::Number
                    }
                    Some(b't') => s.literal(b"true", Kind::Bool)?,
                    Some(b'f') => s.literal(b"false", Kind::Bool)?,
                    Some(b'n') => s.literal(b"null", Kind::Null)?,
                    _ => return Err(s.unexpected()),
                };
                if s.depth == 1 {
                    record(
                        body,
                        keys,
                        found,
                        member,
                        Value {
                            start,
                            end: s.i,
                            kind,
                        },
                    );
                }
                State::AfterValue
            }
            State::AfterValue => {
                s.skip_ws();
                let in_array = s.top_is_array();
                match (s.peek(), in_array) {
                    (Some(b','), false) => {
                        s.i += 1;
                        State::Name
                    }
                    (Some(b','), true) => {
                        s.i += 1;
                        State::Value
                    }
                    (Some(b'}'), false) => {
                        s.i += 1;
                        State::Closed(Kind::Object)
                    }
                    (Some(b']'), true) => {
                        s.i += 1;
                        State::Closed(Kind::Array)
                    }
                    _ => return Err(s.unexpected()),
                }
            }
            State::Closed(kind) => {
                s.depth -= 1;
                if s.depth == 0 {
                    break;
                }
                if s.depth == 1 {
                    record(
                        body,
                        keys,
                        found,
                        member,
                        Value {
                            start: member_start,
                            end: s.i,
                            kind,
                        },
                    );
                }
                State::AfterValue
            }
        };
    }
    s.skip_ws();
    if s.i != body.len() {
        return Err(s.error(TrailingBytes));
    }
    Ok(())
}

/// A top-level member's value is complete: store it for every key equal to its name.
#[inline]
fn record(
    body: &[u8],
    keys: &[&[u8]],
    found: &mut [Option<Value>],
    member: Option<(usize, usize)>,
    value: Value,
) {
    let Some((start, end)) = member else { return };
    let name = &body[start..end];
    for (key, slot) in keys.iter().zip(found.iter_mut()) {
        if *key == name {
            *slot = Some(value);
        }
    }
}

impl Scanner<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.body.get(self.i).copied()
    }

    #[inline]
    fn error(&self, kind: JsonErrorKind) -> JsonError {
        JsonError::new(self.i, kind)
    }

    /// The byte at `i` does not fit; running out of input is its own error.
    #[inline]
    fn unexpected(&self) -> JsonError {
        self.error(if self.i >= self.body.len() {
            Eof
        } else {
            Unexpected
        })
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.body.get(self.i) {
            self.i += 1;
        }
    }

    /// Enter the container whose bracket is at `i`.
    #[inline]
    fn open(&mut self, array: bool) -> Result<(), JsonError> {
        if self.depth == DEPTH_MAX {
            return Err(self.error(TooDeep));
        }
        let (word, bit) = (self.depth / 64, self.depth % 64);
        self.arrays[word] = self.arrays[word] & !(1 << bit) | u64::from(array) << bit;
        self.depth += 1;
        self.i += 1;
        Ok(())
    }

    #[inline]
    fn top_is_array(&self) -> bool {
        debug_assert!(self.depth > 0);
        let d = self.depth - 1;
        self.arrays[d / 64] >> (d % 64) & 1 == 1
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Result<Kind, JsonError> {
        let rest = &self.body[self.i..];
        if rest.starts_with(word) {
            self.i += word.len();
            return Ok(kind);
        }
        let same = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
        self.i += same;
        Err(self.unexpected())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        let b = self.body;
        let mut i = self.i;
        if b[i] == b'-' {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if let Some(b'0'..=b'9') = b.get(i) {
                    return Err(JsonError::new(i, BadNumber));
                }
            }
            Some(b'1'..=b'9') => i = digits(b, i + 1),
            Some(_) => return Err(JsonError::new(i, BadNumber)),
            None => return Err(JsonError::new(i, Eof)),
        }
        if b.get(i) == Some(&b'.') {
            i = required_digits(b, i + 1)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            i = required_digits(b, i)?;
        }
        self.i = i;
        Ok(())
    }
}

#[inline]
fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// At least one digit at `b[i]`.
#[inline]
fn required_digits(b: &[u8], i: usize) -> Result<usize, JsonError> {
    match b.get(i) {
        Some(b'0'..=b'9') => Ok(digits(b, i + 1)),
        Some(_) => Err(JsonError::new(i, BadNumber)),
        None => Err(JsonError::new(i, Eof)),
    }
}
