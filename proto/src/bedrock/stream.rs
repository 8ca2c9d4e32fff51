//! Bedrock `ConverseStream` → OpenAI `chat.completion.chunk` frames.
//!
//! ConverseStream's body is `application/vnd.amazon.eventstream`: binary messages
//! (decoded and CRC-checked by [`crate::aws::eventstream::Decoder`]) whose
//! `:message-type` is `event`, `exception` or `error`, and whose JSON payload's shape is
//! named by `:event-type`:
//!
//! | event | chunk written |
//! |---|---|
//! | `messageStart{role}` | the role chunk (once; also written before the first content if `messageStart` is missing) |
//! | `contentBlockStart{contentBlockIndex, start:{toolUse:{toolUseId, name}}}` | `tool_call_start` with the next OpenAI tool index (0, 1, ... in start order) |
//! | `contentBlockDelta{contentBlockIndex, delta:{text}}` | a `content` delta |
//! | `contentBlockDelta{..., delta:{toolUse:{input}}}` | a `tool_call_args` fragment of the block's tool index, the input fragment as received |
//! | `contentBlockDelta{..., delta:{reasoningContent:{text}}}` | a `reasoning_content` delta (`signature` and `redactedContent` deltas are dropped) |
//! | `contentBlockStop` | nothing (the block's index mapping is forgotten) |
//! | `messageStop{stopReason}` | the finish chunk ([`super::finish_reason`]) |
//! | `metadata{usage, metrics}` | after `messageStop`: the usage chunk when the client asked for it, then `data: [DONE]` |
//! | other event types | nothing (forward compatible) |
//!
//! With `json_tool` (the request used [`super::JsonMode::Tool`]), the input fragments of
//! the forced [`super::JSON_TOOL_NAME`] tool are written as `content` deltas instead, and
//! it does not count as a tool call for the finish reason.
//!
//! An `exception` message (`throttlingException`, `modelStreamErrorException`,
//! `validationException`, `internalServerException`, `serviceUnavailableException`) or an
//! `error` message (`:error-code`, `:error-message`) becomes an OpenAI error frame
//! ([`ChunkWriter::error`]) and [`StreamTranslator::error`], classified by
//! [`super::error`]; everything after it is ignored and `finish` writes nothing more.
//!
//! Failures of the stream itself: an event-stream framing error (CRC mismatch, bad
//! lengths, over the limits) is [`TranslateError::BadFrame`]; a payload that is not the
//! JSON its event type promises is [`TranslateError::BadJson`]; a body that ends before
//! `messageStop` and `metadata` (or inside a message) is [`TranslateError::Truncated`].
//!
//! State: the decoder (one buffer, at most one message of [`Limits::DEFAULT`]), a few
//! counters, and the open tool blocks (at most [`OPEN_TOOL_BLOCKS_MAX`]).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::parse_error;
use super::request::JSON_TOOL_NAME;
use super::response::{finish_reason, parse_object, usage, TokenUsage};
use crate::aws::eventstream::{Decoder, Limits, Message, MessageType, Step};
use crate::chat::{ChunkWriter, FinishReason, StreamError, StreamTranslator};
use crate::chat::{TranslateError, Usage};

/// Tool blocks open at once (started, not stopped). Bedrock streams blocks one after
/// another, so one is usual; the bound only stops a misbehaving upstream from growing
/// the state.
pub const OPEN_TOOL_BLOCKS_MAX: usize = 128;

/// Translates one ConverseStream body into OpenAI chunk frames.
#[derive(Debug)]
pub struct BedrockStream {
    decoder: Decoder,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// A tool call with this OpenAI tool index.
    Call(u32),
    /// The forced JSON tool: its input is content.
    Json,
}

#[derive(Debug)]
struct State {
    writer: ChunkWriter,
    include_usage: bool,
    json_tool: bool,
    started: bool,
    /// (contentBlockIndex, block) of the tool blocks started and not yet stopped.
    blocks: Vec<(u32, Block)>,
    /// Tool calls started so far: the next tool index.
    calls: u32,
    finish: Option<FinishReason>,
    usage: Usage,
    error: Option<StreamError>,
    /// `metadata` after `messageStop` arrived: `[DONE]` is written.
    done: bool,
    /// `finish` was called.
    finished: bool,
    /// Decoded delta strings, reused.
    scratch: Vec<u8>,
}

impl BedrockStream {
    /// `id`, `model` and `created` go into every chunk; `include_usage` is the client's
    /// `stream_options.include_usage`; `json_tool` says the request was written with
    /// [`super::JsonMode::Tool`] for a JSON `response_format`.
    pub fn new(
        id: &str,
        model: &str,
        created: u64,
        include_usage: bool,
        json_tool: bool,
    ) -> BedrockStream {
        BedrockStream {
            decoder: Decoder::new(Limits::DEFAULT),
            state: State {
                writer: ChunkWriter::new(id, model, created),
                include_usage,
                json_tool,
                started: false,
                blocks: Vec::new(),
                calls: 0,
                finish: None,
                usage: Usage::default(),
                error: None,
                done: false,
                finished: false,
                scratch: Vec::new(),
            },
        }
    }
}

impl StreamTranslator for BedrockStream {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let mut at = 0;
        while !self.state.stopped() {
            let (used, step) = self
                .decoder
                .decode(&input[at..])
                .map_err(|e| TranslateError::BadFrame(e.message()))?;
            at += used;
            match step {
                Step::Complete(m) => self.state.message(&m, out)?,
                Step::Partial => break,
            }
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let s = &mut self.state;
        if s.finished || s.error.is_some() {
            return Ok(());
        }
        s.finished = true;
        if !s.done {
            return Err(TranslateError::Truncated);
        }
        Ok(())
    }

    fn usage(&self) -> Usage {
        self.state.usage
    }

    fn error(&self) -> Option<&StreamError> {
        self.state.error.as_ref()
    }
}

// --- event payloads, borrowed ---

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart<'a> {
    #[serde(default)]
    content_block_index: u32,
    #[serde(default, borrow)]
    start: Option<Start<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start<'a> {
    #[serde(default, borrow)]
    tool_use: Option<ToolUseStart<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolUseStart<'a> {
    #[serde(borrow)]
    tool_use_id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockDelta<'a> {
    #[serde(default)]
    content_block_index: u32,
    #[serde(borrow)]
    delta: Delta<'a>,
}

/// The strings of a delta stay raw JSON (`"..."`, escapes and all) and are decoded by
/// [`unescape`] into a reused buffer: tool input fragments are JSON text inside a JSON
/// string, always escaped, and serde would allocate a `String` for each.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delta<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_use: Option<ToolUseDelta<'a>>,
    #[serde(default, borrow)]
    reasoning_content: Option<ReasoningDelta<'a>>,
}

#[derive(Deserialize)]
struct ToolUseDelta<'a> {
    #[serde(borrow)]
    input: &'a RawValue,
}

#[derive(Deserialize)]
struct ReasoningDelta<'a> {
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
}

/// The JSON string `raw` decoded: borrowed when it has no escapes, else decoded into
/// `scratch` (cleared first). Anything but a string is [`TranslateError::BadJson`].
fn unescape<'s>(
    raw: &'s RawValue,
    scratch: &'s mut Vec<u8>,
    what: &'static str,
) -> Result<&'s str, TranslateError> {
    let text = raw.get();
    // serde_json has validated the value: a string starts and ends with a quote.
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        if !inner.contains('\\') {
            return Ok(inner);
        }
    }
    scratch.clear();
    if !crate::json::unescape_string(text.as_bytes(), scratch) {
        return Err(TranslateError::BadJson(what));
    }
    std::str::from_utf8(scratch).map_err(|_| TranslateError::BadJson(what))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStop {
    #[serde(default)]
    content_block_index: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop<'a> {
    #[serde(borrow)]
    stop_reason: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    usage: Option<TokenUsage>,
}

fn payload<'a, T: Deserialize<'a>>(
    m: &Message<'a>,
    what: &'static str,
) -> Result<T, TranslateError> {
    parse_object(m.payload).ok_or(TranslateError::BadJson(what))
}

impl State {
    /// Nothing more is read: the stream ended properly, failed, or was finished.
    fn stopped(&self) -> bool {
        self.done || self.error.is_some() || self.finished
    }

    fn message(&mut self, m: &Message<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        match m.message_type() {
            MessageType::Event => self.event(m, out),
            MessageType::Exception => {
                self.fail(parse_error(0, m.exception_type(), m.payload), out);
                Ok(())
            }
            MessageType::Error => {
                let message = m
                    .error_message()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "Bedrock reported a stream error".to_owned());
                let code = m
                    .error_code()
                    .and_then(|c| std::str::from_utf8(c).ok())
                    .filter(|c| c.is_ascii())
                    .unwrap_or("");
                self.fail(super::error::classify(0, code, message), out);
                Ok(())
            }
            MessageType::Unknown => Err(TranslateError::BadFrame(
                "an event stream message without a known :message-type",
            )),
        }
    }

    fn fail(&mut self, err: StreamError, out: &mut Vec<u8>) {
        ChunkWriter::error(out, &err);
        self.error = Some(err);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.writer.role(out);
            self.started = true;
        }
    }

    fn event(&mut self, m: &Message<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let Some(kind) = m.event_type() else {
            return Err(TranslateError::BadFrame(
                "an event stream event without :event-type",
            ));
        };
        match kind {
            b"messageStart" => self.start(out),
            b"contentBlockStart" => {
                let e: BlockStart = payload(m, "a contentBlockStart payload")?;
                if let Some(t) = e.start.and_then(|s| s.tool_use) {
                    self.block_start(e.content_block_index, &t, out)?;
                }
            }
            b"contentBlockDelta" => {
                let e: BlockDelta = payload(m, "a contentBlockDelta payload")?;
                self.block_delta(e, out)?;
            }
            b"contentBlockStop" => {
                let e: BlockStop = payload(m, "a contentBlockStop payload")?;
                self.blocks.retain(|&(i, _)| i != e.content_block_index);
            }
            b"messageStop" => {
                let e: MessageStop = payload(m, "a messageStop payload")?;
                if self.finish.is_none() {
                    self.start(out);
                    let reason = finish_reason(&e.stop_reason, self.calls > 0);
                    self.writer.finish(out, reason);
                    self.finish = Some(reason);
                }
            }
            b"metadata" => {
                let e: Metadata = payload(m, "a metadata payload")?;
                if let Some(u) = &e.usage {
                    self.usage = usage(u);
                }
                if self.finish.is_some() {
                    if self.include_usage {
                        self.writer.usage(out, &self.usage);
                    }
                    ChunkWriter::done(out);
                    self.done = true;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn block_start(
        &mut self,
        index: u32,
        t: &ToolUseStart<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if self.finish.is_some() {
            return Ok(());
        }
        self.blocks.retain(|&(i, _)| i != index);
        if self.blocks.len() >= OPEN_TOOL_BLOCKS_MAX {
            return Err(TranslateError::TooLarge);
        }
        self.start(out);
        let block = if self.json_tool && t.name == JSON_TOOL_NAME {
            Block::Json
        } else {
            let n = self.calls;
            self.writer.tool_call_start(out, n, &t.tool_use_id, &t.name);
            self.calls += 1;
            Block::Call(n)
        };
        self.blocks.push((index, block));
        Ok(())
    }

    fn block_delta(&mut self, e: BlockDelta<'_>, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.finish.is_some() {
            return Ok(());
        }
        let d = e.delta;
        if let Some(raw) = d.text {
            self.start(out);
            let t = unescape(raw, &mut self.scratch, "a text delta (a string)")?;
            self.writer.content(out, t);
        }
        if let Some(tu) = &d.tool_use {
            let block = self
                .blocks
                .iter()
                .find(|&&(i, _)| i == e.content_block_index)
                .map(|&(_, b)| b)
                .ok_or(TranslateError::BadJson(
                    "a contentBlockStart before toolUse deltas",
                ))?;
            let input = unescape(
                tu.input,
                &mut self.scratch,
                "a toolUse.input delta (a string)",
            )?;
            match block {
                Block::Call(n) => self.writer.tool_call_args(out, n, input),
                Block::Json => self.writer.content(out, input),
            }
        }
        if let Some(raw) = d.reasoning_content.as_ref().and_then(|r| r.text) {
            self.start(out);
            let t = unescape(
                raw,
                &mut self.scratch,
                "a reasoningContent.text delta (a string)",
            )?;
            self.writer.reasoning(out, t);
        }
        Ok(())
    }
}
