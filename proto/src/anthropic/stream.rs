//! Anthropic's Messages SSE stream → OpenAI `chat.completion.chunk` frames (the egress).
//!
//! Anthropic's stream is `message_start`, then per content block `content_block_start`,
//! `content_block_delta`s and `content_block_stop`, then `message_delta` (with
//! `stop_reason` and cumulative usage) and `message_stop`; `ping`s may come anywhere and
//! an `error` event may replace the rest. Each `data:` is a JSON object whose `type` names
//! the event (the `event:` line repeats it; it is not read).
//!
//! | Anthropic | OpenAI chunk |
//! |---|---|
//! | `message_start` | the role chunk; its `usage` (input and cache counts) is kept |
//! | `text_delta` | `content` delta |
//! | `thinking_delta` | `reasoning_content` delta (`signature_delta`, `redacted_thinking` dropped) |
//! | `content_block_start` `tool_use` | `tool_calls[{index,id,type,function{name,arguments:""}}]`; `index` counts tool_use blocks, not Anthropic's block index (which also counts text and thinking blocks) |
//! | `input_json_delta` | `tool_calls[{index,function{arguments}}]` with the fragment |
//! | the [`JSON_TOOL_NAME`] tool with `json_tool` | its `input_json_delta`s as `content` deltas |
//! | `message_delta` | the finish chunk ([`super::finish_reason`]); `usage` overwrites what it carries (all counts are cumulative) |
//! | `message_stop` | the usage chunk when `include_usage`, then `data: [DONE]` |
//! | `ping`, unknown event types | nothing (Anthropic may add event types) |
//! | `error` | [`ChunkWriter::error`] and [`StreamTranslator::error`]; the rest is ignored and `finish` writes nothing |
//!
//! A stream that ends without `message_stop` makes `finish` return
//! [`TranslateError::Truncated`] and write nothing (the gateway reports it). State: the SSE
//! decoder (at most one event of [`EVENT_BYTES_MAX`] bytes) and one byte per content block
//! (at most [`BLOCKS_MAX`]).

use std::borrow::Cow;

use serde::Deserialize;

use super::error::classify;
use super::request::JSON_TOOL_NAME;
use super::response::finish_reason;
use super::types::{AnthropicUsage, Block, ErrorObject, MessageResponse};
use crate::chat::{ChunkWriter, FinishReason, StreamError, StreamTranslator};
use crate::chat::{TranslateError, Usage};
use crate::sse::Decoder;

/// Largest Anthropic SSE event accepted. Deltas are small; `content_block_start` of a
/// server tool result can carry a few hundred KiB.
pub const EVENT_BYTES_MAX: usize = 4 << 20;

/// Most content blocks one message may have.
pub const BLOCKS_MAX: usize = 4096;

/// Translates one Anthropic stream into OpenAI chunk frames.
#[derive(Debug)]
pub struct AnthropicStream {
    decoder: Decoder,
    state: State,
}

#[derive(Debug)]
struct State {
    writer: ChunkWriter,
    include_usage: bool,
    json_tool: bool,
    started: bool,
    /// What each Anthropic content block is, by its index.
    blocks: Vec<Kind>,
    /// tool_use blocks seen: the next OpenAI tool index.
    calls: u32,
    finished_reason: bool,
    usage: Usage,
    error: Option<StreamError>,
    stopped: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    /// A client tool call with its OpenAI index.
    Tool(u32),
    /// The `response_format` tool: its input is text.
    JsonText,
    /// Anything else (redacted thinking, server tools): its deltas are dropped.
    Other,
}

impl AnthropicStream {
    /// `id`, `model` and `created` go into every chunk; `include_usage` is the client's
    /// `stream_options.include_usage`; `json_tool` is
    /// [`RequestMeta::json_tool`](super::RequestMeta::json_tool).
    pub fn new(
        id: &str,
        model: &str,
        created: u64,
        include_usage: bool,
        json_tool: bool,
    ) -> AnthropicStream {
        AnthropicStream {
            decoder: Decoder::new(EVENT_BYTES_MAX),
            state: State {
                writer: ChunkWriter::new(id, model, created),
                include_usage,
                json_tool,
                started: false,
                blocks: Vec::new(),
                calls: 0,
                finished_reason: false,
                usage: Usage::default(),
                error: None,
                stopped: false,
            },
        }
    }
}

impl StreamTranslator for AnthropicStream {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.state.done() {
            return Ok(());
        }
        self.decoder
            .push(input)
            .map_err(|_| TranslateError::TooLarge)?;
        while let Some(ev) = self.decoder.next_event() {
            if self.state.done() {
                continue;
            }
            self.state.event(ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.decoder.finish();
        if self.state.done() {
            return Ok(());
        }
        Err(TranslateError::Truncated)
    }

    fn usage(&self) -> Usage {
        self.state.usage
    }

    fn error(&self) -> Option<&StreamError> {
        self.state.error.as_ref()
    }
}

/// One event's `data`. Flat: which members are set depends on `kind`.
///
/// `message` and `content_block` are boxed: they come once per message and once per
/// block, and inline they made `Event` several hundred bytes, which serde moves on every
/// event, the `content_block_delta`s included. Boxed, the 200-delta stream of
/// `bench/benches/translate.rs` takes about 5% less time (one allocation per block start).
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default, borrow)]
    message: Option<Box<MessageResponse<'a>>>,
    #[serde(default, borrow)]
    content_block: Option<Box<Block<'a>>>,
    #[serde(default, borrow)]
    delta: Option<EventDelta<'a>>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
    #[serde(default, borrow)]
    error: Option<ErrorObject<'a>>,
}

/// `content_block_delta.delta` (`type` + one payload) or `message_delta.delta`.
#[derive(Deserialize)]
struct EventDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

impl State {
    fn done(&self) -> bool {
        self.stopped || self.error.is_some()
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.writer.role(out);
        }
    }

    fn event(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        const BAD: TranslateError = TranslateError::BadJson("an Anthropic stream event");
        if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(BAD);
        }
        let ev: Event = serde_json::from_slice(data).map_err(|_| BAD)?;
        match &*ev.kind {
            "message_start" => {
                if let Some(m) = &ev.message {
                    m.usage.apply(&mut self.usage);
                }
                self.start(out);
            }
            "content_block_start" => {
                let block = ev.content_block.ok_or(BAD)?;
                self.block_start(ev.index.ok_or(BAD)?, *block, out)?;
            }
            "content_block_delta" => {
                let kind = self.block(ev.index.ok_or(BAD)?)?;
                self.block_delta(kind, ev.delta.ok_or(BAD)?, out);
            }
            "content_block_stop" => {
                self.block(ev.index.ok_or(BAD)?)?;
            }
            "message_delta" => {
                if let Some(u) = &ev.usage {
                    u.apply(&mut self.usage);
                }
                let reason = ev.delta.and_then(|d| d.stop_reason);
                if let Some(r) = reason {
                    self.finish(out, finish_reason(&r, self.calls > 0));
                }
            }
            "message_stop" => {
                self.finish(out, FinishReason::Stop);
                if self.include_usage {
                    self.writer.usage(out, &self.usage);
                }
                ChunkWriter::done(out);
                self.stopped = true;
            }
            "error" => {
                let e = ev.error.unwrap_or(ErrorObject {
                    kind: Cow::Borrowed("api_error"),
                    message: Cow::Borrowed(""),
                });
                let err = StreamError {
                    kind: classify(0, &e.kind, &e.message),
                    code: e.kind.into_owned(),
                    message: e.message.into_owned(),
                };
                ChunkWriter::error(out, &err);
                self.error = Some(err);
            }
            _ => {} // ping, and event types added later
        }
        Ok(())
    }

    fn block_delta(&mut self, kind: Kind, delta: EventDelta<'_>, out: &mut Vec<u8>) {
        self.start(out);
        match (&*delta.kind, kind) {
            ("text_delta", Kind::Text) => {
                self.writer
                    .content(out, delta.text.as_deref().unwrap_or(""));
            }
            ("thinking_delta", Kind::Thinking) => {
                self.writer
                    .reasoning(out, delta.thinking.as_deref().unwrap_or(""));
            }
            ("input_json_delta", Kind::Tool(i)) => {
                let fragment = delta.partial_json.as_deref().unwrap_or("");
                self.writer.tool_call_args(out, i, fragment);
            }
            ("input_json_delta", Kind::JsonText) => {
                self.writer
                    .content(out, delta.partial_json.as_deref().unwrap_or(""));
            }
            // signature_delta, citations_delta, deltas of dropped blocks.
            _ => {}
        }
    }

    /// The finish chunk, once (a `message_stop` without `message_delta` finishes `stop`).
    fn finish(&mut self, out: &mut Vec<u8>, reason: FinishReason) {
        if !self.finished_reason {
            self.finished_reason = true;
            self.start(out);
            self.writer.finish(out, reason);
        }
    }

    fn block(&self, index: usize) -> Result<Kind, TranslateError> {
        self.blocks
            .get(index)
            .copied()
            .ok_or(TranslateError::BadFrame(
                "a delta for a content block never started",
            ))
    }

    fn block_start(
        &mut self,
        index: usize,
        block: Block<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        if index >= BLOCKS_MAX {
            return Err(TranslateError::TooLarge);
        }
        self.start(out);
        let kind = match &*block.kind {
            "text" => {
                // A start block may carry initial text (Anthropic sends "").
                self.writer
                    .content(out, block.text.as_deref().unwrap_or(""));
                Kind::Text
            }
            "thinking" => {
                self.writer
                    .reasoning(out, block.thinking.as_deref().unwrap_or(""));
                Kind::Thinking
            }
            "tool_use" => {
                let name = block.name.as_deref().unwrap_or("");
                if self.json_tool && name == JSON_TOOL_NAME {
                    Kind::JsonText
                } else {
                    let i = self.calls;
                    self.calls += 1;
                    self.writer
                        .tool_call_start(out, i, block.id.as_deref().unwrap_or(""), name);
                    // The start block's `input` is `{}` and the arguments follow as
                    // input_json_delta; a non-empty input here is the whole arguments.
                    if let Some(input) = block.input.map(|r| r.get().trim_ascii()) {
                        if input != "{}" {
                            self.writer.tool_call_args(out, i, input);
                        }
                    }
                    Kind::Tool(i)
                }
            }
            _ => Kind::Other,
        };
        if index >= self.blocks.len() {
            self.blocks.resize(index + 1, Kind::Other);
        }
        self.blocks[index] = kind;
        Ok(())
    }
}
