//! Counting every OpenAI-shaped stream: usage is asked for upstream
//! (`stream_options.include_usage`) when the client did not ask for it, and the extra
//! usage chunk is taken out of the stream on the way back, so the client sees exactly
//! the stream it asked for while the gateway always learns the tokens used.
//!
//! Only requests without any `stream_options` member are rewritten (a client that sent
//! one, with or without `include_usage`, is left as it asked). Providers that reject the
//! parameter opt out with `stream_usage = false`.

use std::future::Future;
use std::pin::Pin;

use memchr::memmem;
use monoio::io::AsyncWriteRent;
use proto::chat::{ChatChunk, TranslateError, Usage};
use proto::http1::{ResponseHead, LAST_CHUNK};
use proto::sse::Splitter;

use super::forward::{StreamError, Streamer};
use super::translate::put;

/// Spliced before the request object's closing brace.
pub(super) const INCLUDE_USAGE: &[u8] = b",\"stream_options\":{\"include_usage\":true}";

/// The largest SSE event held while looking for the usage chunk.
const EVENT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Whether a raw SSE event is OpenAI's usage chunk (`"choices":[]` with a `usage`
/// object), and its usage when it is.
fn usage_chunk(event: &[u8]) -> Option<Usage> {
    if memmem::find(event, b"\"choices\":[]").is_none()
        || memmem::find(event, b"\"usage\"").is_none()
    {
        return None;
    }
    let data = event.strip_prefix(b"data:")?;
    let data = data.strip_prefix(b" ").unwrap_or(data);
    let end = data
        .iter()
        .rposition(|b| !b"\r\n".contains(b))
        .map_or(0, |i| i + 1);
    payload_usage(&data[..end])
}

/// Whether a stored stream payload (an event's `data`, as the cache keeps it) is the
/// usage chunk.
pub(super) fn usage_chunk_payload(data: &[u8]) -> bool {
    memmem::find(data, b"\"choices\":[]").is_some()
        && memmem::find(data, b"\"usage\"").is_some()
        && payload_usage(data).is_some()
}

fn payload_usage(data: &[u8]) -> Option<Usage> {
    let chunk: ChatChunk = serde_json::from_slice(data).ok()?;
    if !chunk.choices.is_empty() {
        return None;
    }
    chunk.usage.as_ref().map(Usage::from_openai)
}

/// The `usage` object of an OpenAI-shaped JSON answer (chat, completions, embeddings),
/// found without parsing the rest: the last `"usage":` in the text that is not inside a
/// string (there an unescaped quote is impossible, so a match preceded by a backslash is
/// skipped), then that one value parsed. Usage comes last in OpenAI's answers, so the
/// search runs from the end; the cost is a reverse `memmem` and a ~100-byte parse.
pub(super) fn json_usage(body: &[u8]) -> Option<Usage> {
    let finder = memmem::FinderRev::new(b"\"usage\"");
    let mut end = body.len();
    while let Some(at) = finder.rfind(&body[..end]) {
        if at > 0 && body[at - 1] == b'\\' {
            end = at;
            continue;
        }
        let rest = body[at + 7..].trim_ascii_start().strip_prefix(b":")?;
        let mut de = serde_json::Deserializer::from_slice(rest);
        let u =
            <proto::chat::usage::OpenAiUsage as serde::Deserialize>::deserialize(&mut de).ok()?;
        return Some(Usage::from_openai(&u));
    }
    None
}

/// With `include_usage`, OpenAI adds `"usage":null` to every other chunk; a client that
/// did not ask gets the chunk without it. In JSON text the byte sequence can only be a
/// member (inside a string its quotes would be escaped).
pub(super) fn without_null_usage(event: &[u8], out: &mut Vec<u8>) {
    const NULL_USAGE: &[u8] = b",\"usage\":null";
    match memmem::find(event, NULL_USAGE) {
        Some(i) => {
            out.extend_from_slice(&event[..i]);
            out.extend_from_slice(&event[i + NULL_USAGE.len()..]);
        }
        None => out.extend_from_slice(event),
    }
}

impl<S: AsyncWriteRent> Streamer<'_, S> {
    /// Relay an SSE body event by event, dropping the usage chunk (and keeping its
    /// usage). The client framing is chunked (close-delimited for HTTP/1.0).
    /// Ok(reusable).
    pub(super) async fn relay_without_usage(
        &mut self,
        resp: &ResponseHead,
        client_chunked: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, StreamError> {
        // The head is in `wbuf`: send it before the first event.
        self.flush().await?;
        let mut splitter = Splitter::new(EVENT_BYTES_MAX);
        let mut usage = None;
        // What one read produced, framed as one chunk for the client (reused).
        let mut frame = Vec::with_capacity(1024);
        // The cache keeps the stream as the upstream sent it, usage included: a later
        // client that asks for usage gets it from the replay.
        let mut capture = self.req.capture.take();
        let mut sink = |data: &[u8], wbuf: &mut Vec<u8>| {
            if let Some(c) = capture.as_deref_mut() {
                c.push(data);
            }
            frame.clear();
            let r = splitter.push(data, |ev| match usage_chunk(ev) {
                Some(u) => usage = Some(u),
                None => without_null_usage(ev, &mut frame),
            });
            put(wbuf, &frame, client_chunked);
            r.map_err(|_| TranslateError::TooLarge)
        };
        let pumped = self
            .pump(resp, u64::MAX, true, closed.as_mut(), &mut sink)
            .await;
        self.req.capture = capture;
        let reusable = pumped?;
        // Bytes after the last blank line (an unterminated event) are relayed as they
        // came, as a plain relay would have.
        put(self.wbuf, splitter.pending_bytes(), client_chunked);
        if client_chunked {
            self.wbuf.extend_from_slice(LAST_CHUNK);
        }
        self.req.usage = usage;
        self.flush().await?;
        Ok(reusable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_usage_chunk() {
        let usage = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}\n\n";
        assert_eq!(
            usage_chunk(usage),
            Some(Usage {
                input: 9,
                output: 3,
                ..Usage::default()
            })
        );
        let crlf = [&usage[..usage.len() - 2], b"\r\n\r\n"].concat();
        assert!(usage_chunk(&crlf).is_some());
        let content = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\\"choices\\\":[] \\\"usage\\\"\"}}]}\n\n";
        assert_eq!(usage_chunk(content), None);
        let null_usage = b"data: {\"choices\":[{\"index\":0,\"delta\":{}}],\"usage\":null}\n\n";
        assert_eq!(usage_chunk(null_usage), None);
        assert_eq!(usage_chunk(b"data: [DONE]\n\n"), None);
        let body = br#"{"id":"x","choices":[{"message":{"content":"say \"usage\": {}"}}],"usage": {"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#;
        assert_eq!(
            json_usage(body),
            Some(Usage {
                input: 5,
                output: 2,
                ..Usage::default()
            })
        );
        assert_eq!(
            json_usage(br#"{"a":"\"usage\":{\"prompt_tokens\":1}"}"#),
            None
        );
        assert_eq!(json_usage(br#"{"usage":null}"#), None);
        // The Responses API's names for the same counts.
        let responses = br#"{"object":"response","usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":4},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}}"#;
        assert_eq!(
            json_usage(responses),
            Some(Usage {
                input: 7,
                output: 6,
                cache_read: 4,
                reasoning: 2,
                ..Usage::default()
            })
        );
        let mut out = Vec::new();
        without_null_usage(null_usage, &mut out);
        assert_eq!(out, b"data: {\"choices\":[{\"index\":0,\"delta\":{}}]}\n\n");
        out.clear();
        without_null_usage(content, &mut out);
        assert_eq!(out, content);
    }
}
