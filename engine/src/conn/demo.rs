//! The built-in demo provider: answers in-process with deterministic text (the same
//! request gets the same answer), streams in several frames, reports realistic `usage`.

use std::time::Duration;

use monoio::io::AsyncWriteRent;
use proto::http1::{write_chunk, write_header, LAST_CHUNK};
use proto::json::{self, Kind};
use proto::openai::synth::{self, ChatStream, CompletionStream, FinishReason, Spec};

use super::{response, Body, Conn, Endpoint, Next, Req};
use crate::io::write_all;

/// Words in a demo answer unless `max_tokens` asks for fewer.
const DEMO_WORDS: u32 = 48;
/// Content frames in a demo stream, and the pause between frames: enough to see
/// streaming work in a terminal.
const DEMO_CHUNKS: u32 = 8;
const DEMO_FRAME_INTERVAL: Duration = Duration::from_millis(15);
const DEMO_EMBEDDING_DIMS: u32 = 256;

/// FNV-1a: a seed that depends on every byte of the request.
fn seed_of(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Elements of a JSON array already validated by the scanner.
pub(super) fn array_len(a: &[u8]) -> u32 {
    let (mut depth, mut in_str, mut esc, mut commas, mut any) = (0i32, false, false, 0u32, false);
    for &b in a {
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_str = true;
                any |= depth == 1;
            }
            b'[' | b'{' => {
                any |= depth == 1;
                depth += 1;
            }
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => commas += 1,
            b if depth == 1 && !b.is_ascii_whitespace() => any = true,
            _ => {}
        }
    }
    if any {
        commas + 1
    } else {
        0
    }
}

pub(super) async fn respond<S: AsyncWriteRent>(
    c: &mut Conn<'_>,
    io: &mut S,
    endpoint: Endpoint,
    body_at: Body,
    model: &[u8],
    req: &mut Req,
) -> Next {
    let body = c.body(body_at);
    let mut found = [None; 3];
    // The body was validated by the caller; this scan only reads members.
    let _ = json::scan_object(
        body,
        &[b"max_tokens", b"stream_options", b"input"],
        &mut found,
    );
    let max_tokens = found[0]
        .filter(|v| v.kind == Kind::Number)
        .and_then(|v| std::str::from_utf8(v.bytes(body)).ok()?.parse::<u32>().ok());
    let words = max_tokens.map_or(DEMO_WORDS, |m| m.clamp(1, DEMO_WORDS));
    let finish = if max_tokens.is_some_and(|m| m < DEMO_WORDS) {
        FinishReason::Length
    } else {
        FinishReason::Stop
    };
    let include_usage = found[1]
        .filter(|v| v.kind == Kind::Object)
        .is_some_and(|v| {
            let mut inner = [None; 1];
            json::scan_object(v.bytes(body), &[b"include_usage"], &mut inner).is_ok()
                && inner[0].is_some_and(|u| u.bytes(v.bytes(body)) == b"true")
        });
    let inputs = match found[2] {
        Some(v) if v.kind == Kind::Array => array_len(v.bytes(body)),
        _ => 1,
    };
    let spec = Spec {
        model,
        seed: seed_of(body),
        created: crate::accesslog::now_unix_us() / 1_000_000,
        prompt_tokens: synth::prompt_tokens_estimate(body),
        completion_tokens: words,
        chunks: DEMO_CHUNKS,
    };
    let mut out = Vec::with_capacity(1024);
    match (endpoint, req.stream) {
        (Endpoint::Embeddings, _) => {
            req.stream = false;
            synth::embeddings(
                &mut out,
                model,
                inputs,
                DEMO_EMBEDDING_DIMS,
                spec.seed,
                spec.prompt_tokens,
            );
        }
        (Endpoint::Chat, false) => synth::chat_completion_with(&mut out, &spec, finish),
        (_, false) => synth::text_completion_with(&mut out, &spec, finish),
        (Endpoint::Chat, true) => {
            let frames = ChatStream::new(spec, include_usage).with_finish(finish);
            return stream(c, io, req, frames).await;
        }
        (_, true) => {
            let frames = CompletionStream::new(spec, include_usage).with_finish(finish);
            return stream(c, io, req, frames).await;
        }
    }
    c.respond_json(io, 200, &out, req).await
}

/// Both synthetic stream types yield one SSE frame per call.
pub(super) trait Frames {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool;
}

impl Frames for ChatStream<'_> {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        ChatStream::next_frame(self, out)
    }
}

impl Frames for CompletionStream<'_> {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        CompletionStream::next_frame(self, out)
    }
}

async fn stream<S: AsyncWriteRent>(
    c: &mut Conn<'_>,
    io: &mut S,
    req: &mut Req,
    mut frames: impl Frames,
) -> Next {
    let chunked = req.version == proto::http1::Version::Http11;
    if !chunked || c.w.draining() {
        req.keep_alive = false;
    }
    req.status = 200;
    let wbuf = &mut c.wbuf;
    wbuf.clear();
    response::head_start(wbuf, 200, req, &[]);
    write_header(wbuf, b"content-type", b"text/event-stream; charset=utf-8");
    write_header(wbuf, b"cache-control", b"no-cache");
    if chunked {
        write_header(wbuf, b"transfer-encoding", b"chunked");
    }
    wbuf.extend_from_slice(b"\r\n");
    let mut frame = Vec::with_capacity(512);
    let mut first = true;
    loop {
        frame.clear();
        let more = frames.next_frame(&mut frame);
        if more {
            if chunked {
                write_chunk(wbuf, &frame);
            } else {
                wbuf.extend_from_slice(&frame);
            }
        } else if chunked {
            wbuf.extend_from_slice(LAST_CHUNK);
        }
        if !first && more {
            monoio::time::sleep(DEMO_FRAME_INTERVAL).await;
        }
        first = false;
        req.bytes_out += wbuf.len() as u64;
        if write_all(io, wbuf).await.is_err() {
            req.client_aborted = true;
            return Next::Close;
        }
        wbuf.clear();
        if !more {
            return Next::Continue;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::array_len;

    #[test]
    fn counts_top_level_array_elements() {
        assert_eq!(array_len(b"[]"), 0);
        assert_eq!(array_len(b"[ ]"), 0);
        assert_eq!(array_len(b"[\"a,b\"]"), 1);
        assert_eq!(array_len(b"[\"a\", \"b\\\"]\", [1,2], {\"x\":[3,4]}]"), 4);
        assert_eq!(array_len(b"[1,2,3]"), 3);
    }
}
