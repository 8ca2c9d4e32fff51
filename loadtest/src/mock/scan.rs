//! Cheap, allocation-free reads of the few request-body members the mock acts on.
//!
//! These look for `"name"` followed by `:` anywhere in the body, skipping occurrences
//! inside strings that were written escaped (`\"stream\"`). That is wrong for a body that
//! nests a member of the same name before the top-level one, which OpenAI request bodies
//! do not; a mock may take the shortcut, the gateway does not (it uses `proto::json`).

/// The bytes after `"name"`, whitespace and `:`, and whitespace: where the value starts.
pub(crate) fn member<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(at) = find(&body[from..], name).map(|i| i + from) {
        from = at + 1;
        let quoted = at > 0 && body[at - 1] == b'"' && (at < 2 || body[at - 2] != b'\\');
        let end = at + name.len();
        if !quoted || body.get(end) != Some(&b'"') {
            continue;
        }
        let rest = skip_ws(&body[end + 1..]);
        if let Some(rest) = rest.strip_prefix(b":") {
            return Some(skip_ws(rest));
        }
    }
    None
}

/// Whether member `name` is the literal `true`.
pub(crate) fn is_true(body: &[u8], name: &[u8]) -> bool {
    member(body, name).is_some_and(|v| v.starts_with(b"true"))
}

/// Member `name` as a non-negative integer.
pub(crate) fn uint(body: &[u8], name: &[u8]) -> Option<u64> {
    member(body, name).and_then(parse_uint)
}

/// Member `name` as a string literal, quotes included and still escaped.
pub(crate) fn string<'a>(body: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let v = member(body, name)?;
    if v.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 2,
            b'"' => return Some(&v[..=i]),
            _ => i += 1,
        }
    }
    None
}

/// How many embedding inputs the `input` member holds: one for a string or an array of
/// token ids, else the number of elements of the array (strings or token arrays).
pub(crate) fn embedding_inputs(body: &[u8]) -> u32 {
    let Some(v) = member(body, b"input") else {
        return 1;
    };
    let Some(inner) = v.strip_prefix(b"[") else {
        return 1;
    };
    match skip_ws(inner).first() {
        Some(b']') | None => return 0,
        Some(b) if b.is_ascii_digit() || *b == b'-' => return 1,
        _ => {}
    }
    // Count top-level commas of the array, respecting strings and nesting.
    let (mut depth, mut count, mut i) = (0u32, 1u32, 0);
    while i < inner.len() {
        match inner[i] {
            b'"' => {
                i += 1;
                while i < inner.len() && inner[i] != b'"' {
                    i += if inner[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => depth += 1,
            b']' | b'}' if depth == 0 => return count,
            b']' | b'}' => depth -= 1,
            b',' if depth == 0 => count = count.saturating_add(1),
            _ => {}
        }
        i += 1;
    }
    count
}

/// A decimal integer at the start of `v` (saturating), or None when there is none.
pub(crate) fn parse_uint(v: &[u8]) -> Option<u64> {
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    Some(v[..digits].iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add((d - b'0') as u64)
    }))
}

fn skip_ws(v: &[u8]) -> &[u8] {
    let n = v
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &v[n..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    let first = needle[0];
    let last_start = haystack.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match haystack[i..=last_start].iter().position(|&b| b == first) {
            Some(p) => i += p,
            None => return None,
        }
        if &haystack[i..i + needle.len()] == needle {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members() {
        let body = br#"{"model" : "gpt-4o", "stream":true, "stream_options": {"include_usage": true}, "max_tokens": 12}"#;
        assert!(is_true(body, b"stream"));
        assert!(is_true(body, b"include_usage"));
        assert_eq!(string(body, b"model"), Some(&b"\"gpt-4o\""[..]));
        assert_eq!(uint(body, b"max_tokens"), Some(12));
        assert_eq!(uint(body, b"n"), None);
        assert!(!is_true(br#"{"stream": false}"#, b"stream"));
        assert!(!is_true(br#"{"stream_options":{"x":1}}"#, b"stream"));
        // A quoted mention inside a message is escaped and skipped.
        let body = br#"{"messages":[{"content":"say \"stream\": true"}],"stream":false}"#;
        assert!(!is_true(body, b"stream"));
        assert_eq!(
            string(br#"{"model":"a\"b"}"#, b"model"),
            Some(&br#""a\"b""#[..])
        );
        assert_eq!(string(br#"{"model":"unterminated"#, b"model"), None);
        assert_eq!(string(br#"{"model":12}"#, b"model"), None);
        assert_eq!(parse_uint(b"99999999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn embedding_input_counts() {
        assert_eq!(embedding_inputs(br#"{"input":"hello"}"#), 1);
        assert_eq!(embedding_inputs(br#"{"input":["a","b,c","d]"]}"#), 3);
        assert_eq!(embedding_inputs(br#"{"input":[1,2,3]}"#), 1);
        assert_eq!(embedding_inputs(br#"{"input":[[1,2],[3]]}"#), 2);
        assert_eq!(embedding_inputs(br#"{"input":[ ]}"#), 0);
        assert_eq!(embedding_inputs(br#"{"model":"x"}"#), 1);
    }
}
