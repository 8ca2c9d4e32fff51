//! OpenAI `chat.completion.chunk` frames → Anthropic's Messages SSE events (the ingress).
//!
//! | OpenAI | Anthropic events |
//! |---|---|
//! | the first frame | `message_start` (`content: []`, usage placeholder `{"input_tokens":0,"output_tokens":0}`: OpenAI reports usage only at the end) |
//! | `content` / `refusal` deltas | `text_delta`s in a `text` block (opened by `content_block_start`) |
//! | `reasoning_content` deltas | `thinking_delta`s in a `thinking` block |
//! | `tool_calls` fragment with a new `index` | `content_block_start` `tool_use{id,name,input:{}}`; its `arguments` pieces as `input_json_delta`s |
//! | a block of another kind starting, or `finish_reason` | `content_block_stop` of the open block (each block is closed before the next opens, as Anthropic does) |
//! | `finish_reason` + usage | `message_delta{stop_reason, usage}` (see [`super::stop_reason`]) and `message_stop` |
//! | `data: {"error":{…}}` | `event: error` with Anthropic's error shape; the rest is ignored |
//!
//! Usage may come after the `finish_reason` chunk (OpenAI's `include_usage` chunk, which
//! the ingress always asks for), in the same chunk, or — with some servers — on every
//! chunk. So `message_delta` is written at the first usage-bearing chunk at or after the
//! finish, else at `data: [DONE]`, else by `finish` once a finish reason was seen; its
//! usage carries every count (`input_tokens`, cache reads) since `message_start` could
//! not. A tool call fragment for an index before the open one (OpenAI streams calls one
//! after another) cannot be expressed — Anthropic blocks do not reopen — and is
//! [`TranslateError::BadFrame`]. A stream that ends with no finish reason is
//! [`TranslateError::Truncated`] and `finish` writes nothing more.
//!
//! State is a few counters plus the SSE decoder, which holds at most one frame of
//! [`EVENT_BYTES_MAX`] bytes.

use std::io::Write as _;

use serde::Deserialize;

use super::response::{message_id, stop_reason};
use crate::anthropic::error::{write_error, OpenAiErrorObject};
use crate::chat::{ChatChunk, FinishReason, StreamError, StreamTranslator};
use crate::chat::{TranslateError, Usage};
use crate::json::write_string;
use crate::sse::Decoder;

/// Largest OpenAI SSE frame accepted.
pub const EVENT_BYTES_MAX: usize = 4 << 20;

/// Translates one OpenAI chunk stream into Anthropic's event stream.
#[derive(Debug)]
pub struct MessagesStream {
    decoder: Decoder,
    state: State,
}

#[derive(Debug)]
struct State {
    /// `msg_…`.
    id: String,
    model: String,
    started: bool,
    open: Open,
    /// Anthropic's index of the next block.
    next_block: u32,
    /// The highest OpenAI tool call index opened.
    last_tool: Option<u32>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    stopped: bool,
    error: Option<StreamError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    None,
    Text,
    Thinking,
    Tool(u32),
}

impl MessagesStream {
    /// `id` (prefixed `msg_` unless it is) and `model` go into `message_start`.
    pub fn new(id: &str, model: &str) -> MessagesStream {
        MessagesStream {
            decoder: Decoder::new(EVENT_BYTES_MAX),
            state: State {
                id: message_id(id).into_owned(),
                model: model.to_owned(),
                started: false,
                open: Open::None,
                next_block: 0,
                last_tool: None,
                finish: None,
                usage: None,
                stopped: false,
                error: None,
            },
        }
    }
}

impl StreamTranslator for MessagesStream {
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
            self.state.frame(ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.decoder.finish();
        if self.state.done() {
            return Ok(());
        }
        if self.state.finish.is_none() {
            return Err(TranslateError::Truncated);
        }
        self.state.stop(out);
        Ok(())
    }

    fn usage(&self) -> Usage {
        self.state.usage.unwrap_or_default()
    }

    fn error(&self) -> Option<&StreamError> {
        self.state.error.as_ref()
    }
}

#[derive(Deserialize)]
struct ErrorFrame<'a> {
    #[serde(borrow)]
    error: OpenAiErrorObject<'a>,
}

/// `event: <name>\ndata: ` — the JSON and [`end`] follow.
fn event(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
}

fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\n\n");
}

impl State {
    fn done(&self) -> bool {
        self.stopped || self.error.is_some()
    }

    fn frame(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        const BAD: TranslateError = TranslateError::BadJson("an OpenAI chat.completion.chunk");
        if data.trim_ascii() == b"[DONE]" {
            self.stop(out);
            return Ok(());
        }
        if data.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(BAD);
        }
        let chunk: ChatChunk = serde_json::from_slice(data).map_err(|_| BAD)?;
        if chunk.choices.is_empty() && chunk.usage.is_none() {
            if let Ok(e) = serde_json::from_slice::<ErrorFrame>(data) {
                let err = e.error.into_error(0);
                event(out, "error");
                write_error(out, err.kind, &err.message);
                end(out);
                self.error = Some(err);
                return Ok(());
            }
        }
        self.start(out);
        for c in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &c.delta;
            if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                self.open(out, Open::Thinking, None);
                self.delta(out, b"thinking_delta", b"thinking", r);
            }
            for text in [d.content.as_deref(), d.refusal.as_deref()]
                .into_iter()
                .flatten()
            {
                if !text.is_empty() {
                    self.open(out, Open::Text, None);
                    self.delta(out, b"text_delta", b"text", text);
                }
            }
            for t in d.tool_calls.iter().flatten() {
                let fragment = t.function.as_ref().and_then(|f| f.arguments.as_deref());
                if self.open != Open::Tool(t.index) {
                    if self.last_tool.is_some_and(|last| t.index <= last) {
                        return Err(TranslateError::BadFrame(
                            "a tool call fragment after a later tool call",
                        ));
                    }
                    let name = t.function.as_ref().and_then(|f| f.name.as_deref());
                    self.open(out, Open::Tool(t.index), Some((t.id.as_deref(), name)));
                    self.last_tool = Some(t.index);
                }
                if let Some(f) = fragment.filter(|f| !f.is_empty()) {
                    self.delta(out, b"input_json_delta", b"partial_json", f);
                }
            }
            if let Some(f) = c.finish_reason.as_deref() {
                self.close(out);
                self.finish = Some(FinishReason::parse(f).unwrap_or(FinishReason::Stop));
            }
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(Usage::from_openai(u));
            if self.finish.is_some() {
                self.stop(out);
            }
        }
        Ok(())
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        event(out, "message_start");
        out.extend_from_slice(b"{\"type\":\"message_start\",\"message\":{\"id\":");
        write_string(out, self.id.as_bytes());
        out.extend_from_slice(b",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
        write_string(out, self.model.as_bytes());
        out.extend_from_slice(
            b",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\
              \"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}",
        );
        end(out);
    }

    /// Make `kind` the open block, closing another one first. `tool` is a new tool
    /// call's id and name.
    fn open(&mut self, out: &mut Vec<u8>, kind: Open, tool: Option<(Option<&str>, Option<&str>)>) {
        if self.open == kind {
            return;
        }
        self.close(out);
        self.open = kind;
        event(out, "content_block_start");
        let _ = write!(
            out,
            "{{\"type\":\"content_block_start\",\"index\":{},\"content_block\":",
            self.next_block
        );
        match kind {
            Open::Text => out.extend_from_slice(b"{\"type\":\"text\",\"text\":\"\"}"),
            Open::Thinking => out
                .extend_from_slice(b"{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}"),
            Open::Tool(i) => {
                let (id, name) = tool.unwrap_or_default();
                out.extend_from_slice(b"{\"type\":\"tool_use\",\"id\":");
                match id {
                    Some(id) => write_string(out, id.as_bytes()),
                    None => {
                        // The provider gave no id: one unique within this message.
                        let base = self.id.strip_prefix("msg_").unwrap_or(&self.id);
                        let mut s = String::with_capacity(base.len() + 16);
                        let _ =
                            std::fmt::Write::write_fmt(&mut s, format_args!("toolu_{base}_{i}"));
                        write_string(out, s.as_bytes());
                    }
                }
                out.extend_from_slice(b",\"name\":");
                write_string(out, name.unwrap_or("").as_bytes());
                out.extend_from_slice(b",\"input\":{}}");
            }
            Open::None => debug_assert!(false, "open(None)"),
        }
        out.push(b'}');
        end(out);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open == Open::None {
            return;
        }
        self.open = Open::None;
        event(out, "content_block_stop");
        let _ = write!(
            out,
            "{{\"type\":\"content_block_stop\",\"index\":{}}}",
            self.next_block
        );
        end(out);
        self.next_block += 1;
    }

    /// A `content_block_delta` of the open block.
    fn delta(&self, out: &mut Vec<u8>, kind: &[u8], field: &[u8], text: &str) {
        event(out, "content_block_delta");
        let _ = write!(
            out,
            "{{\"type\":\"content_block_delta\",\"index\":{},\"delta\":{{\"type\":\"",
            self.next_block
        );
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\",\"");
        out.extend_from_slice(field);
        out.extend_from_slice(b"\":");
        write_string(out, text.as_bytes());
        out.extend_from_slice(b"}}");
        end(out);
    }

    /// Close the open block, then `message_delta` and `message_stop`; once.
    fn stop(&mut self, out: &mut Vec<u8>) {
        if self.stopped {
            return;
        }
        self.start(out);
        self.close(out);
        self.stopped = true;
        let u = self.usage.unwrap_or_default();
        event(out, "message_delta");
        out.extend_from_slice(b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"");
        out.extend_from_slice(stop_reason(self.finish).as_bytes());
        let _ = write!(
            out,
            "\",\"stop_sequence\":null}},\"usage\":{{\"input_tokens\":{},\"output_tokens\":{},\
             \"cache_creation_input_tokens\":{},\"cache_read_input_tokens\":{}}}}}",
            u.input, u.output, u.cache_write, u.cache_read
        );
        end(out);
        event(out, "message_stop");
        out.extend_from_slice(b"{\"type\":\"message_stop\"}");
        end(out);
    }
}
