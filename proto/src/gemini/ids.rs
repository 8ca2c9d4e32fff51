//! Tool call ids for Gemini function calls.
//!
//! Gemini's `functionCall` usually has no id (results are matched by function name and
//! order), but OpenAI clients need one to answer with `tool_call_id`. The translator
//! invents `call_<prefix>_<n>`: `prefix` comes from the caller (unique per response, for
//! example derived from the response id, so ids from different turns of a conversation
//! do not collide) and `n` counts the calls of the response from 0. When Gemini does send
//! `functionCall.id`, that id is used instead.
//!
//! Gemini 3 also attaches a `thoughtSignature` to (the first) function call of a turn and
//! answers 400 if the call comes back in the history without it. OpenAI clients keep
//! nothing but the message they were given, so the signature rides in the id:
//! `<id>-ts-<signature>`, the signature converted from standard base64 to the URL-safe
//! alphabet without padding so that the id stays within `[A-Za-z0-9_-]` (Anthropic's
//! tool id alphabet, for clients on the Anthropic ingress). [`split`] undoes it when the
//! history is translated back. Signatures are a few hundred bytes to a few KiB, so such
//! ids are long; clients echo them back unchanged.

use std::fmt::Write as _;

/// Between the id and the encoded signature. INVARIANT: a caller's prefix must not
/// contain it (debug-asserted), or [`split`] would cut the id there.
pub const SIGNATURE_SEPARATOR: &str = "-ts-";

/// Append the id of call `n` to `out`: Gemini's own id if it sent one, else
/// `call_<prefix>_<n>` (`call_<n>` for an empty prefix); then the signature, if any.
pub fn write(out: &mut String, prefix: &str, n: u32, gemini_id: Option<&str>, sig: Option<&str>) {
    debug_assert!(!prefix.contains(SIGNATURE_SEPARATOR));
    match gemini_id {
        Some(id) if !id.is_empty() => out.push_str(id),
        _ => {
            out.push_str("call_");
            if !prefix.is_empty() {
                out.push_str(prefix);
                out.push('_');
            }
            // INVARIANT: writing to a String cannot fail.
            let _ = write!(out, "{n}");
        }
    }
    if let Some(sig) = sig.filter(|s| !s.is_empty()) {
        out.push_str(SIGNATURE_SEPARATOR);
        out.extend(sig.chars().filter_map(|c| match c {
            '+' => Some('-'),
            '/' => Some('_'),
            '=' => None,
            c => Some(c),
        }));
    }
}

/// The id without its signature, and the signature back in standard base64 with
/// padding (what Gemini sent).
pub fn split(id: &str) -> (&str, Option<String>) {
    let Some((base, enc)) = id.split_once(SIGNATURE_SEPARATOR) else {
        return (id, None);
    };
    if enc.is_empty() {
        return (base, None);
    }
    let mut sig = String::with_capacity(enc.len() + 3);
    sig.extend(enc.chars().map(|c| match c {
        '-' => '+',
        '_' => '/',
        c => c,
    }));
    while sig.len() & 3 != 0 {
        sig.push('=');
    }
    (base, Some(sig))
}
