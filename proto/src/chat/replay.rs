//! Replaying cached answers in the other form: a stored stream answers a non-streaming
//! request, a stored `chat.completion` answers a streaming one.
//!
//! The exact cache stores what the client got: a JSON body, or a stream's `data` payloads
//! (without `data: `, the blank line and the final `[DONE]`). A request asks for one form
//! or the other (`stream` is not part of the cache key), so:
//! - [`write_sse`] replays stored payloads byte for byte as OpenAI sent them;
//! - [`chunks_to_completion`] assembles the payloads into one `chat.completion` (every
//!   choice, content, reasoning, refusal and tool calls joined, the last finish reason, the
//!   usage chunk's usage, `id`/`created`/`model`/`system_fingerprint` from the first chunk
//!   that has them);
//! - [`completion_to_chunks`] splits a `chat.completion` into the payloads OpenAI would
//!   stream for it, through [`ChunkWriter`] (role chunk, reasoning and content in pieces,
//!   each tool call's start and argument pieces, finish chunk, usage chunk when asked).
//!
//! Round trip: payloads written by [`completion_to_chunks`] assemble back into the same
//! completion (less `system_fingerprint`, which stream chunks written here do not carry),
//! and splitting that again gives the same payloads.
//!
//! What [`completion_to_chunks`] refuses rather than approximates: more than one choice
//! (the chunk writer streams choice 0 only), a refusal (no chunk form for it yet), and an
//! unknown finish reason. The engine treats a [`ReplayError`] as a cache miss.
//!
//! Limits: at most [`CHOICES_MAX`] choices and [`TOOL_CALLS_MAX`] tool calls per choice
//! while assembling; wire indices are looked up, never used to size anything.

use std::borrow::Cow;
use std::fmt;

use super::request::{ToolCall, ToolCallFunction};
use super::response::{join_text, ChatChunk, Choice, ResponseMessage};
use super::usage::OpenAiUsage;
use super::{ChatResponse, ChunkWriter, FinishReason, Usage};
use crate::json::{scan_object, unescape_string, Kind};

#[cfg(test)]
mod tests;

/// Most choices a stream may carry (OpenAI's own maximum for `n`).
pub const CHOICES_MAX: usize = 128;
/// Most tool calls one choice may carry.
pub const TOOL_CALLS_MAX: usize = 128;

/// Why a stored answer cannot be replayed in the other form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// No chunks at all.
    Empty,
    /// Chunk `n` is not a `chat.completion.chunk` object.
    BadChunk(usize),
    /// Chunk `n` is an in-stream error: the stream did not succeed.
    ErrorChunk(usize),
    /// More than [`CHOICES_MAX`] choices, or [`TOOL_CALLS_MAX`] tool calls in one.
    TooMany,
    /// The body is not a `chat.completion`.
    BadCompletion,
    /// A completion without choices, or with more than one.
    ChoiceCount,
    /// A completion whose message is a refusal.
    Refusal,
    /// A finish reason the chunk writer cannot write (`null` or unknown).
    FinishReason,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Empty => f.write_str("stored stream has no chunks"),
            ReplayError::BadChunk(n) => {
                write!(f, "stored chunk {n} is not a chat.completion.chunk")
            }
            ReplayError::ErrorChunk(n) => write!(f, "stored chunk {n} is an error"),
            ReplayError::TooMany => f.write_str("stored stream has too many choices or tool calls"),
            ReplayError::BadCompletion => f.write_str("stored body is not a chat.completion"),
            ReplayError::ChoiceCount => f.write_str("only a one-choice completion can be streamed"),
            ReplayError::Refusal => f.write_str("a refusal cannot be streamed"),
            ReplayError::FinishReason => f.write_str("unknown or missing finish reason"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// SSE wire bytes for stored payloads: `data: {payload}\n\n` each, then `data: [DONE]\n\n`.
/// A payload containing a line break (never the case for JSON OpenAI sends) is split into
/// several `data:` lines, so stored bytes can never inject SSE fields.
pub fn write_sse(payloads: &[&[u8]], out: &mut Vec<u8>) {
    out.reserve(payloads.iter().map(|p| p.len() + 8).sum::<usize>() + crate::sse::DONE.len());
    for p in payloads {
        crate::sse::write_event(out, None, p);
    }
    out.extend_from_slice(crate::sse::DONE);
}

/// One choice being assembled.
#[derive(Default)]
struct ChoiceAcc<'a> {
    index: u32,
    content: Option<Cow<'a, str>>,
    reasoning: Option<Cow<'a, str>>,
    refusal: Option<Cow<'a, str>>,
    tools: Vec<ToolAcc<'a>>,
    finish: Option<Cow<'a, str>>,
}

struct ToolAcc<'a> {
    index: u32,
    id: Cow<'a, str>,
    name: Cow<'a, str>,
    arguments: Option<Cow<'a, str>>,
}

/// Find `index` in `v` (few entries: a linear scan), appending a new one when absent and
/// `v` holds fewer than `max`.
fn slot<T>(
    v: &mut Vec<T>,
    index: u32,
    max: usize,
    of: impl Fn(&T) -> u32,
    new: impl FnOnce() -> T,
) -> Result<&mut T, ReplayError> {
    match v.iter().position(|t| of(t) == index) {
        Some(i) => Ok(&mut v[i]),
        None if v.len() < max => {
            v.push(new());
            Ok(v.last_mut().expect("just pushed"))
        }
        None => Err(ReplayError::TooMany),
    }
}

/// Stored chunk payloads → one `chat.completion` JSON body (see the module doc).
pub fn chunks_to_completion(chunks: &[&[u8]]) -> Result<Vec<u8>, ReplayError> {
    const WATCH: [&[u8]; 2] = [b"error", b"system_fingerprint"];
    if chunks.is_empty() {
        return Err(ReplayError::Empty);
    }
    let mut head: Option<(Cow<'_, str>, u64, Cow<'_, str>)> = None;
    let mut fingerprint: Option<String> = None;
    let mut usage: Option<OpenAiUsage> = None;
    let mut choices: Vec<ChoiceAcc<'_>> = Vec::new();
    for (n, raw) in chunks.iter().enumerate() {
        let mut found = [None; WATCH.len()];
        scan_object(raw, &WATCH, &mut found).map_err(|_| ReplayError::BadChunk(n))?;
        if found[0].is_some() {
            return Err(ReplayError::ErrorChunk(n));
        }
        let chunk =
            serde_json::from_slice::<ChatChunk<'_>>(raw).map_err(|_| ReplayError::BadChunk(n))?;
        if fingerprint.is_none() {
            if let Some(v) = found[1].filter(|v| v.kind == Kind::String) {
                let mut s = Vec::new();
                if unescape_string(v.bytes(raw), &mut s) {
                    fingerprint = String::from_utf8(s).ok();
                }
            }
        }
        if head.is_none() && !chunk.id.is_empty() {
            head = Some((chunk.id, chunk.created, chunk.model));
        }
        if chunk.usage.is_some() {
            usage = chunk.usage;
        }
        for c in chunk.choices {
            let acc = slot(
                &mut choices,
                c.index,
                CHOICES_MAX,
                |a| a.index,
                || ChoiceAcc {
                    index: c.index,
                    ..Default::default()
                },
            )?;
            let d = c.delta;
            if let Some(t) = d.content {
                join_text(&mut acc.content, t);
            }
            if let Some(t) = d.reasoning_content {
                join_text(&mut acc.reasoning, t);
            }
            if let Some(t) = d.refusal {
                join_text(&mut acc.refusal, t);
            }
            for call in d.tool_calls.into_iter().flatten() {
                let t = slot(
                    &mut acc.tools,
                    call.index,
                    TOOL_CALLS_MAX,
                    |t| t.index,
                    || ToolAcc {
                        index: call.index,
                        id: Cow::Borrowed(""),
                        name: Cow::Borrowed(""),
                        arguments: None,
                    },
                )?;
                if let Some(id) = call.id {
                    t.id = id;
                }
                if let Some(f) = call.function {
                    if let Some(name) = f.name {
                        t.name = name;
                    }
                    if let Some(a) = f.arguments {
                        join_text(&mut t.arguments, a);
                    }
                }
            }
            if c.finish_reason.is_some() {
                acc.finish = c.finish_reason;
            }
        }
    }
    let (id, created, model) = head.unwrap_or((Cow::Borrowed(""), 0, Cow::Borrowed("")));
    choices.sort_by_key(|c| c.index);
    let response = ChatResponse {
        id,
        object: Cow::Borrowed("chat.completion"),
        created,
        model,
        choices: choices.into_iter().map(ChoiceAcc::finish).collect(),
        usage,
        system_fingerprint: fingerprint.map(Cow::Owned),
    };
    Ok(serde_json::to_vec(&response).expect("a ChatResponse always serializes"))
}

impl<'a> ChoiceAcc<'a> {
    fn finish(mut self) -> Choice<'a> {
        self.tools.sort_by_key(|t| t.index);
        let calls: Vec<ToolCall<'a>> = self
            .tools
            .into_iter()
            .map(|t| ToolCall {
                id: t.id,
                kind: Cow::Borrowed("function"),
                function: ToolCallFunction {
                    name: t.name,
                    arguments: t.arguments.unwrap_or_default(),
                },
            })
            .collect();
        // As OpenAI writes it: `null` content only when the answer is tool calls alone.
        let content = match self.content {
            Some(c) if c.is_empty() && !calls.is_empty() => None,
            None if calls.is_empty() => Some(Cow::Borrowed("")),
            c => c,
        };
        Choice {
            index: self.index,
            message: ResponseMessage {
                role: Cow::Borrowed("assistant"),
                content,
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: self.refusal,
                reasoning_content: self.reasoning,
            },
            finish_reason: self.finish,
        }
    }
}

/// A `chat.completion` body → the chunk payloads OpenAI would stream for it (see the module
/// doc). Text is cut every `piece_chars` characters (at least 1), never inside a character.
pub fn completion_to_chunks(
    body: &[u8],
    piece_chars: usize,
    include_usage: bool,
) -> Result<Vec<Vec<u8>>, ReplayError> {
    let response =
        serde_json::from_slice::<ChatResponse<'_>>(body).map_err(|_| ReplayError::BadCompletion)?;
    let [choice] = &response.choices[..] else {
        return Err(ReplayError::ChoiceCount);
    };
    let m = &choice.message;
    if m.refusal.is_some() {
        return Err(ReplayError::Refusal);
    }
    let finish = choice
        .finish_reason
        .as_deref()
        .and_then(FinishReason::parse)
        .ok_or(ReplayError::FinishReason)?;
    let piece_chars = piece_chars.max(1);
    let w = ChunkWriter::new(&response.id, &response.model, response.created);
    let mut frames = Frames {
        buf: Vec::new(),
        out: Vec::new(),
    };
    frames.take(|b| w.role(b));
    for piece in pieces(m.reasoning_content.as_deref().unwrap_or(""), piece_chars) {
        frames.take(|b| w.reasoning(b, piece));
    }
    for piece in pieces(m.content.as_deref().unwrap_or(""), piece_chars) {
        frames.take(|b| w.content(b, piece));
    }
    for (i, call) in m.tool_calls.iter().flatten().enumerate() {
        let i = i as u32;
        frames.take(|b| w.tool_call_start(b, i, &call.id, &call.function.name));
        for piece in pieces(&call.function.arguments, piece_chars) {
            frames.take(|b| w.tool_call_args(b, i, piece));
        }
    }
    frames.take(|b| w.finish(b, finish));
    if let (true, Some(u)) = (include_usage, &response.usage) {
        frames.take(|b| w.usage(b, &Usage::from_openai(u)));
    }
    Ok(frames.out)
}

/// Collects the payloads of frames a [`ChunkWriter`] writes.
struct Frames {
    buf: Vec<u8>,
    out: Vec<Vec<u8>>,
}

impl Frames {
    /// Run one writer call and keep its frame's payload (between `data: ` and the blank
    /// line). Calls that write nothing (empty text) add nothing.
    fn take(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        self.buf.clear();
        write(&mut self.buf);
        if let Some(p) = self
            .buf
            .strip_prefix(b"data: ")
            .and_then(|p| p.strip_suffix(b"\n\n"))
        {
            self.out.push(p.to_vec());
        }
    }
}

/// `s` in pieces of at most `n` characters; nothing for an empty `s`.
fn pieces(s: &str, n: usize) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let cut = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}
