//! Gemini `streamGenerateContent?alt=sse` → OpenAI `chat.completion.chunk` frames.
//!
//! Each `data:` frame of Gemini's stream is a whole `GenerateContentResponse` carrying
//! the *new* parts only; `usageMetadata` is cumulative (the last one wins) and the last
//! content frame has `finishReason`. Gemini sends no terminal event: the stream simply
//! ends, so `data: [DONE]` (and the usage chunk, when the client asked for it) is written
//! by [`StreamTranslator::finish`], and a stream that ended without a `finishReason` is
//! [`TranslateError::Truncated`].
//!
//! Per frame: the first frame writes the role chunk; `thought` text becomes
//! `reasoning_content` deltas, other text `content` deltas; each `functionCall` (Gemini
//! sends one whole, never in pieces) becomes a `tool_call_start` with the next tool
//! index and one `arguments` fragment holding the `args` JSON text as received;
//! `finishReason` writes the finish chunk (`tool_calls` when the stream called a
//! function, see [`super::response::finish_reason`]); `promptFeedback.blockReason`
//! finishes with `content_filter`. Parts after the finish chunk are dropped (Gemini does
//! not send any; a client would not expect them). Only candidate 0 is read: the request
//! translation refuses `n > 1` with `stream`.
//!
//! An `{"error":{...}}` frame becomes an OpenAI error frame ([`ChunkWriter::error`]) and
//! [`StreamTranslator::error`]; everything after it is ignored and `finish` writes
//! nothing more.
//!
//! State is a handful of counters plus the SSE decoder, which holds at most one frame of
//! [`EVENT_BYTES_MAX`] bytes.

use serde::Deserialize;

use super::error::ErrorObject;
use super::ids;
use super::response::{finish_reason, usage, GenerateContentResponse};
use crate::chat::{ChunkWriter, FinishReason, StreamError, StreamTranslator};
use crate::chat::{TranslateError, Usage};
use crate::sse::Decoder;

/// Largest Gemini SSE frame accepted. Frames carry one step of text or whole function
/// calls; 4 MiB leaves room for very large `args` objects.
pub const EVENT_BYTES_MAX: usize = 4 << 20;

/// Translates one Gemini stream into OpenAI chunk frames.
#[derive(Debug)]
pub struct GeminiStream {
    decoder: Decoder,
    state: State,
}

#[derive(Debug)]
struct State {
    writer: ChunkWriter,
    call_prefix: String,
    include_usage: bool,
    started: bool,
    /// Function calls written so far: the next tool index.
    calls: u32,
    finish: Option<FinishReason>,
    usage: Usage,
    error: Option<StreamError>,
    finished: bool,
    /// Scratch for tool call ids, reused.
    id: String,
}

impl GeminiStream {
    /// `id`, `model` and `created` go into every chunk; `call_prefix` makes tool call
    /// ids unique (see [`super::ids`]); `include_usage` is the client's
    /// `stream_options.include_usage`.
    pub fn new(
        id: &str,
        model: &str,
        created: u64,
        call_prefix: &str,
        include_usage: bool,
    ) -> GeminiStream {
        GeminiStream {
            decoder: Decoder::new(EVENT_BYTES_MAX),
            state: State {
                writer: ChunkWriter::new(id, model, created),
                call_prefix: call_prefix.to_owned(),
                include_usage,
                started: false,
                calls: 0,
                finish: None,
                usage: Usage::default(),
                error: None,
                finished: false,
                id: String::new(),
            },
        }
    }
}

impl StreamTranslator for GeminiStream {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if self.state.error.is_some() || self.state.finished {
            return Ok(());
        }
        self.decoder
            .push(input)
            .map_err(|_| TranslateError::TooLarge)?;
        while let Some(ev) = self.decoder.next_event() {
            if self.state.error.is_some() {
                continue;
            }
            self.state.frame(ev.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        let s = &mut self.state;
        if s.finished || s.error.is_some() {
            return Ok(());
        }
        s.finished = true;
        self.decoder.finish();
        if s.finish.is_none() {
            return Err(TranslateError::Truncated);
        }
        if s.include_usage {
            s.writer.usage(out, &s.usage);
        }
        ChunkWriter::done(out);
        Ok(())
    }

    fn usage(&self) -> Usage {
        self.state.usage
    }

    fn error(&self) -> Option<&StreamError> {
        self.state.error.as_ref()
    }
}

#[derive(Deserialize)]
struct ErrorFrame<'a> {
    #[serde(borrow)]
    error: ErrorObject<'a>,
}

impl State {
    fn frame(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        if data == b"[DONE]" {
            return Ok(());
        }
        let resp = GenerateContentResponse::parse(data)
            .ok_or(TranslateError::BadJson("a Gemini stream frame"))?;
        if resp.error.is_some() {
            let e = serde_json::from_slice::<ErrorFrame>(data)
                .map_err(|_| TranslateError::BadJson("a Gemini error frame"))?;
            let err = e.error.into_error(0);
            ChunkWriter::error(out, &err);
            self.error = Some(err);
            return Ok(());
        }
        if !self.started {
            self.writer.role(out);
            self.started = true;
        }
        if let Some(u) = &resp.usage_metadata {
            self.usage = usage(u);
        }
        if self.finish.is_some() {
            return Ok(());
        }
        if let Some(c) = resp.candidates.into_iter().next() {
            for p in c.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(f) = &p.function_call {
                    self.id.clear();
                    let sig = p.thought_signature.as_deref();
                    let n = self.calls;
                    ids::write(&mut self.id, &self.call_prefix, n, f.id.as_deref(), sig);
                    self.writer.tool_call_start(out, n, &self.id, &f.name);
                    self.writer.tool_call_args(out, n, f.args_text());
                    self.calls += 1;
                } else if let Some(t) = &p.text {
                    if p.thought {
                        self.writer.reasoning(out, t);
                    } else {
                        self.writer.content(out, t);
                    }
                }
            }
            if let Some(r) = c.finish_reason.as_deref() {
                self.end(out, finish_reason(r, self.calls > 0));
            }
        }
        if self.finish.is_none()
            && resp
                .prompt_feedback
                .is_some_and(|f| f.block_reason.is_some())
        {
            self.end(out, FinishReason::ContentFilter);
        }
        Ok(())
    }

    fn end(&mut self, out: &mut Vec<u8>, reason: FinishReason) {
        self.writer.finish(out, reason);
        self.finish = Some(reason);
    }
}
