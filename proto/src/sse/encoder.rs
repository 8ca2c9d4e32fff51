//! The SSE encoder: appends events and comments to a caller-owned buffer.

use memchr::memchr2;

/// OpenAI's end-of-stream event, for convenience.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Append an event: an optional `event:` line, one `data:` line per line of `data`, and
/// the blank line that dispatches it.
///
/// `data` is split at LF, CRLF and lone CR (a decoder would split there anyway, so none
/// can be written raw without letting data inject fields): it decodes back with each line
/// break as LF. Empty `data` still makes an event, with empty data.
pub fn write_event(out: &mut Vec<u8>, event: Option<&[u8]>, data: &[u8]) {
    write_event_full(out, event, None, None, data);
}

/// [`write_event`] with `id:` and `retry:` lines.
///
/// `event` and `id` must not contain CR or LF (checked in debug builds; in release builds
/// the value is cut at the first line break so it can never start a new field). An `id`
/// containing NUL is ignored by decoders.
pub fn write_event_full(
    out: &mut Vec<u8>,
    event: Option<&[u8]>,
    id: Option<&[u8]>,
    retry: Option<u64>,
    data: &[u8],
) {
    out.reserve(data.len() + 16);
    if let Some(event) = event {
        field(out, b"event: ", event);
    }
    if let Some(id) = id {
        field(out, b"id: ", id);
    }
    if let Some(ms) = retry {
        out.extend_from_slice(b"retry: ");
        write_u64(out, ms);
        out.push(b'\n');
    }
    for_each_line(data, |line| {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    });
    out.push(b'\n');
}

/// Append a comment: one `: ` line per line of `text`. No blank line follows, so a
/// comment can sit between the fields of an event; decoders ignore it.
pub fn write_comment(out: &mut Vec<u8>, text: &[u8]) {
    for_each_line(text, |line| {
        out.extend_from_slice(b": ");
        out.extend_from_slice(line);
        out.push(b'\n');
    });
}

/// One line of a field value, cut at the first line break.
fn field(out: &mut Vec<u8>, prefix: &[u8], value: &[u8]) {
    let end = memchr2(b'\r', b'\n', value);
    debug_assert!(end.is_none(), "SSE field value contains a line break");
    out.extend_from_slice(prefix);
    out.extend_from_slice(&value[..end.unwrap_or(value.len())]);
    out.push(b'\n');
}

/// Call `f` with each line of `text` (split at LF, CRLF or CR); at least once.
#[inline]
fn for_each_line(mut text: &[u8], mut f: impl FnMut(&[u8])) {
    loop {
        let Some(n) = memchr2(b'\r', b'\n', text) else {
            f(text);
            return;
        };
        f(&text[..n]);
        let ending = if text[n] == b'\r' && text.get(n + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        text = &text[n + ending..];
    }
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}
