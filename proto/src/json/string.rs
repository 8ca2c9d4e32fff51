//! JSON strings: one validating loop that serves both the scanner (which only checks) and
//! [`unescape_string`] (which also decodes), and the writer.

use memchr::memchr2;

use super::JsonError;
use super::JsonErrorKind::{BadString, Eof};

/// Where the decoded content of a string goes. The scanner uses [`Discard`], which
/// compiles to nothing, so checking and decoding cannot drift apart.
pub(super) trait Sink {
    /// A run of bytes copied verbatim (already validated UTF-8).
    fn bytes(&mut self, b: &[u8]);
    /// A decoded escape. `c` is a valid scalar value.
    fn char(&mut self, c: char);
}

pub(super) struct Discard;

impl Sink for Discard {
    #[inline(always)]
    fn bytes(&mut self, _: &[u8]) {}
    #[inline(always)]
    fn char(&mut self, _: char) {}
}

impl Sink for Vec<u8> {
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    #[inline]
    fn char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        self.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
}

/// Check the string whose opening quote is `body[start]` and feed its content to `sink`.
/// Returns the index one past the closing quote.
#[inline]
pub(super) fn scan_string<S: Sink>(
    body: &[u8],
    start: usize,
    sink: &mut S,
) -> Result<usize, JsonError> {
    debug_assert_eq!(body[start], b'"');
    let mut i = start + 1;
    if let Some(n) = short_ascii(body, i) {
        sink.bytes(&body[i..i + n]);
        return Ok(i + n + 1);
    }
    loop {
        // A `"` or `\` byte never occurs inside a multi-byte UTF-8 sequence, so splitting
        // the string at them leaves each run independently checkable.
        let Some(n) = memchr2(b'"', b'\\', &body[i..]) else {
            check_run(&body[i..], i)?;
            return Err(JsonError::new(body.len(), Eof));
        };
        let run = &body[i..i + n];
        check_run(run, i)?;
        sink.bytes(run);
        i += n;
        if body[i] == b'"' {
            return Ok(i + 1);
        }
        i = escape(body, i, sink)?;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW: u64 = 0x2020_2020_2020_2020;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit set in each lane of `w` that is zero. Lanes above a zero lane may be flagged
/// falsely (the borrow), lanes below it never are: the lowest flag is exact.
#[inline(always)]
fn zero_lanes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGH
}

/// High bit set in each lane below 0x20, with the same exact lowest flag.
#[inline(always)]
fn control_lanes(w: u64) -> u64 {
    w.wrapping_sub(LOW) & !w & HIGH
}

/// The fast path for the many short strings of a request (member names, roles, model
/// ids): when the string starting at `body[i]` is plain ASCII and closes within the next
/// eight bytes, its length; `None` sends it the general way (memchr2 and run checks).
#[inline(always)]
fn short_ascii(body: &[u8], i: usize) -> Option<usize> {
    let w = body.get(i..i + 8)?;
    let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    let special = zero_lanes(w ^ (ONES * u64::from(b'"')))
        | zero_lanes(w ^ (ONES * u64::from(b'\\')))
        | control_lanes(w);
    if special == 0 {
        return None;
    }
    let n = (special.trailing_zeros() / 8) as usize;
    let before = (1u64 << (8 * n)) - 1;
    (body[i + n] == b'"' && w & before & HIGH == 0).then_some(n)
}

/// A run of string content between escapes: no control characters, valid UTF-8.
#[inline]
fn check_run(run: &[u8], offset: usize) -> Result<(), JsonError> {
    let (control, non_ascii) = classify(run);
    if control {
        let p = run.iter().position(|&b| b < 0x20).unwrap_or(0);
        return Err(JsonError::new(offset + p, BadString));
    }
    if !non_ascii {
        return Ok(());
    }
    match std::str::from_utf8(run) {
        Ok(_) => Ok(()),
        Err(e) => Err(JsonError::new(offset + e.valid_up_to(), BadString)),
    }
}

/// Whether `run` has a byte below 0x20, and whether it has one at or above 0x80, eight
/// bytes at a time. In `w - 0x20..20`, a lane below 0x20 gets its high bit set and
/// borrows from the lane above; `& !w` drops lanes whose own high bit was set. A borrow
/// can only raise a false flag above a true one, so the word is flagged exactly when one
/// of its lanes is a control character.
#[inline]
fn classify(run: &[u8]) -> (bool, bool) {
    if run.len() < 8 {
        let control = run.iter().fold(false, |c, &b| c | (b < 0x20));
        let high = run.iter().fold(false, |h, &b| h | (b >= 0x80));
        return (control, high);
    }
    let word = |at: usize| {
        let w = &run[at..at + 8];
        u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
    };
    // Whole words, then the last eight bytes (overlapping is harmless: flags only OR).
    let (mut control, mut high) = (0u64, 0u64);
    let mut at = 0;
    while at + 8 <= run.len() {
        let w = word(at);
        control |= control_lanes(w);
        high |= w & HIGH;
        at += 8;
    }
    let w = word(run.len() - 8);
    control |= control_lanes(w);
    high |= w & HIGH;
    (control != 0, high != 0)
}

/// The escape whose backslash is `body[i]`; returns the index after it.
#[inline]
fn escape<S: Sink>(body: &[u8], i: usize, sink: &mut S) -> Result<usize, JsonError> {
    let Some(&c) = body.get(i + 1) else {
        return Err(JsonError::new(body.len(), Eof));
    };
    let simple = match c {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => return unicode_escape(body, i, sink),
        _ => return Err(JsonError::new(i + 1, BadString)),
    };
    sink.bytes(&[simple]);
    Ok(i + 2)
}

/// `\uXXXX` at `body[i]`, or a `\uD8xx\uDCxx` surrogate pair. Lone surrogates are errors.
fn unicode_escape<S: Sink>(body: &[u8], i: usize, sink: &mut S) -> Result<usize, JsonError> {
    let high = hex4(body, i + 2)?;
    let (code, end) = match high {
        0xD800..=0xDBFF => {
            match (body.get(i + 6), body.get(i + 7)) {
                (Some(b'\\'), Some(b'u')) => {}
                (None, _) | (Some(b'\\'), None) => return Err(JsonError::new(body.len(), Eof)),
                _ => return Err(JsonError::new(i + 6, BadString)),
            }
            let low = hex4(body, i + 8)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Err(JsonError::new(i + 6, BadString));
            }
            (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), i + 12)
        }
        0xDC00..=0xDFFF => return Err(JsonError::new(i, BadString)),

        _ => (high, i + 6),
    };
    match char::from_u32(code) {
        Some(c) => sink.char(c),
        None => {
            // Unreachable: surrogates were excluded above and a pair decodes into
            // 0x10000..=0x10FFFF.
            debug_assert!(false, "invalid scalar {code:#x}");
            return Err(JsonError::new(i, BadString));
        }
    }
    Ok(end)
}

/// Four hex digits at `body[at..]`.
#[inline]
fn hex4(body: &[u8], at: usize) -> Result<u32, JsonError> {
    let mut v = 0u32;
    for k in at..at + 4 {
        let d = match body.get(k) {
            None => return Err(JsonError::new(body.len(), Eof)),
            Some(&b @ b'0'..=b'9') => b - b'0',
            Some(&b @ b'a'..=b'f') => b - b'a' + 10,
            Some(&b @ b'A'..=b'F') => b - b'A' + 10,
            Some(_) => return Err(JsonError::new(k, BadString)),
        };
        v = v << 4 | u32::from(d);
    }
    Ok(v)
}

/// Decode a JSON string value (span including quotes) into `out`. Returns false on an
/// invalid string.
///
/// The decoded bytes are appended to `out`; on failure `out` is left as it was. Validity
/// is the scanner's: the same escapes, no control characters, valid UTF-8, no lone
/// surrogates, and nothing after the closing quote.
pub fn unescape_string(raw: &[u8], out: &mut Vec<u8>) -> bool {
    if raw.first() != Some(&b'"') {
        return false;
    }
    let mark = out.len();
    match scan_string(raw, 0, out) {
        Ok(end) if end == raw.len() => true,
        _ => {
            out.truncate(mark);
            false
        }
    }
}

/// For each byte, 0 when it is copied as-is, otherwise the letter of its escape (`u` for
/// `\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Append `s` as a JSON string literal (quotes included) to `out`.
///
/// `"` and `\` are escaped, control characters become `\n \r \t \b \f` or `\u00XX`, and
/// every other byte (including bytes >= 0x80) is copied as-is: the result is valid JSON
/// when `s` is valid UTF-8.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut copied = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[copied..i]);
        if esc == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        copied = i + 1;
    }
    out.extend_from_slice(&s[copied..]);
    out.push(b'"');
}
