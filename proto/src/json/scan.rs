//! [`scan_object`]: validate a whole body and locate top-level members, in one pass.

use super::string::{scan_string, Discard};
use super::JsonErrorKind::{
    BadNumber, DuplicateKey, Eof, NotAnObject, TooDeep, TrailingBytes, Unexpected,
};
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

struct Scanner<'a, 'k, 'f> {
    body: &'a [u8],
    /// INVARIANT: i <= body.len().
    i: usize,
    /// Open containers, the top-level object included.
    depth: usize,
    arrays: [u64; STACK_WORDS],
    keys: &'k [&'k [u8]],
    /// INVARIANT: found.len() == keys.len().
    found: &'f mut [Option<Value>],
    /// The current top-level member: bit `k` set when its (decoded) name equals
    /// `keys[k]`.
    member: u64,
    /// Where the current top-level member's value starts.
    member_start: usize,
    /// Where a watched key's second occurrence starts, if any.
    duplicate: Option<usize>,
}

/// Validate `body` as one JSON object and record, for each name in `keys`, the span of
/// its value at the top level in `found`
/// (`found[i]` for `keys[i]`; `None` when absent). `keys` are compared with the member
/// names *decoded*, as the upstream's parser will read them: `"m\u006fdel"` is `model`.
/// A watched key that occurs twice at the top level is an error
/// ([`DuplicateKey`](super::JsonErrorKind::DuplicateKey)): parsers disagree on which
/// duplicate wins, so a gateway that routes on one `model` while the provider runs the
/// other would be bypassed. Likewise, comparing escaped bytes would let a body carry a
/// second, escaped `model` that the gateway does not see and the provider obeys.
///
/// `found` must be at least as long as `keys`, and `keys` at most 64 long. On error the
/// contents of `found` are unspecified.
pub fn scan_object(
    body: &[u8],
    keys: &[&[u8]],
    found: &mut [Option<Value>],
) -> Result<(), JsonError> {
    assert!(keys.len() <= 64, "scan_object looks for at most 64 keys");
    let found = &mut found[..keys.len()];
    found.fill(None);
    let mut s = Scanner {
        body,
        i: 0,
        depth: 0,
        arrays: [0; STACK_WORDS],
        keys,
        found,
        member: 0,
        member_start: 0,
        duplicate: None,
    };
    s.skip_ws();
    match s.peek() {
        Some(b'{') => s.open(false)?,
        Some(_) => return Err(s.error(NotAnObject)),
        None => return Err(s.error(Eof)),
    }
    let mut state = State::ObjectFirst;
    loop {
        state = match state {
            State::ObjectFirst => s.object_first(),
            State::Name => s.name()?,
            State::ArrayFirst => s.array_first(),
            State::Value => s.value()?,
            State::AfterValue => s.after_value()?,
            State::Closed(kind) => match s.closed(kind) {
                Some(next) => next,
                None => break,
            },
        };
    }
    s.skip_ws();
    if s.i != body.len() {
        return Err(s.error(TrailingBytes));
    }
    match s.duplicate {
        Some(at) => Err(JsonError::new(at, DuplicateKey)),
        None => Ok(()),
    }
}

impl Scanner<'_, '_, '_> {
    fn object_first(&mut self) -> State {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            State::Closed(Kind::Object)
        } else {
            State::Name
        }
    }

    fn array_first(&mut self) -> State {
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            State::Closed(Kind::Array)
        } else {
            State::Value
        }
    }

    /// A member name and its colon.
    fn name(&mut self) -> Result<State, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.unexpected());
        }
        let start = self.i;
        self.i = scan_string(self.body, start, &mut Discard)?;
        if self.depth == 1 {
            let raw = &self.body[start + 1..self.i - 1];
            self.member = if raw.contains(&b'\\') {
                // Rare (clients do not escape plain member names): decode, then compare.
                let mut decoded = Vec::with_capacity(raw.len());
                scan_string(self.body, start, &mut decoded)?;
                self.matching(&decoded)
            } else {
                self.matching(raw)
            };
        }
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(self.unexpected());
        }
        self.i += 1;
        Ok(State::Value)
    }

    /// A whole scalar, or the opening bracket of a container.
    fn value(&mut self) -> Result<State, JsonError> {
        self.skip_ws();
        let start = self.i;
        if self.depth == 1 {
            self.member_start = start;
        }
        let kind = match self.peek() {
            Some(b'{') => {
                self.open(false)?;
                return Ok(State::ObjectFirst);
            }
            Some(b'[') => {
                self.open(true)?;
                return Ok(State::ArrayFirst);
            }
            Some(b'"') => {
                self.i = scan_string(self.body, start, &mut Discard)?;
                Kind::String
            }
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(b't') => self.literal(b"true", Kind::Bool)?,
            Some(b'f') => self.literal(b"false", Kind::Bool)?,
            Some(b'n') => self.literal(b"null", Kind::Null)?,
            _ => return Err(self.unexpected()),
        };
        if self.depth == 1 {
            self.record(kind);
        }
        Ok(State::AfterValue)
    }

    fn after_value(&mut self) -> Result<State, JsonError> {
        self.skip_ws();
        let next = match (self.peek(), self.top_is_array()) {
            (Some(b','), false) => State::Name,
            (Some(b','), true) => State::Value,
            (Some(b'}'), false) => State::Closed(Kind::Object),
            (Some(b']'), true) => State::Closed(Kind::Array),
            _ => return Err(self.unexpected()),
        };
        self.i += 1;
        Ok(next)
    }

    /// A container has just been closed; `None` when it was the top-level object.
    fn closed(&mut self, kind: Kind) -> Option<State> {
        self.depth -= 1;
        match self.depth {
            0 => None,
            1 => {
                self.record(kind);
                Some(State::AfterValue)
            }
            _ => Some(State::AfterValue),
        }
    }

    /// The current top-level member's value ends at `i`: store it for every key equal
    /// to its name.
    #[inline]
    fn record(&mut self, kind: Kind) {
        if self.member == 0 {
            return;
        }
        let value = Value {
            start: self.member_start,
            end: self.i,
            kind,
        };
        for (k, slot) in self.found.iter_mut().enumerate() {
            if self.member & (1 << k) != 0 {
                if slot.is_some() {
                    self.duplicate.get_or_insert(value.start);
                }
                *slot = Some(value);
            }
        }
    }

    /// Bit `k` set for each `keys[k]` equal to `name`.
    #[inline]
    fn matching(&self, name: &[u8]) -> u64 {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, key)| **key == name)
            .fold(0, |m, (k, _)| m | 1 << k)
    }
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
