//! Writing `chat.completion.chunk` SSE frames.

use std::io::Write as _;

use super::translate::{FinishReason, StreamError};
use super::Usage;
use crate::json::write_string;

/// Writes the frames of one OpenAI chat stream.
///
/// Every frame of a stream shares `id`, `created` and `model`, so they are rendered once
/// into `prefix` at construction (the stream's only allocation besides the caller's output
/// buffer); each frame is then `data: ` + prefix + one choice + `]}` + a blank line.
#[derive(Debug)]
pub struct ChunkWriter {
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":[`
    prefix: Vec<u8>,
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,` (for the usage
    /// chunk, whose `choices` is empty).
    head_len: usize,
}

impl ChunkWriter {
    pub fn new(id: &str, model: &str, created: u64) -> ChunkWriter {
        let mut prefix = Vec::with_capacity(96 + id.len() + model.len());
        prefix.extend_from_slice(b"{\"id\":");
        write_string(&mut prefix, id.as_bytes());
        prefix.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        // INVARIANT: writing to a Vec cannot fail.
        let _ = write!(prefix, "{created}");
        prefix.extend_from_slice(b",\"model\":");
        write_string(&mut prefix, model.as_bytes());
        prefix.push(b',');
        let head_len = prefix.len();
        prefix.extend_from_slice(b"\"choices\":[");
        ChunkWriter { prefix, head_len }
    }

    fn open(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.prefix);
    }

    fn close(out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}\n\n");
    }

    /// The first frame: `delta: {"role":"assistant","content":""}`.
    pub fn role(&self, out: &mut Vec<u8>) {
        self.open(out);
        out.extend_from_slice(
            b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}",
        );
        Self::close(out);
    }

    /// A text delta. Empty text writes nothing.
    pub fn content(&self, out: &mut Vec<u8>, text: &str) {
        self.delta_string(out, b"content", text);
    }

    /// A reasoning delta (`reasoning_content`, the field DeepSeek and vLLM use).
    pub fn reasoning(&self, out: &mut Vec<u8>, text: &str) {
        self.delta_string(out, b"reasoning_content", text);
    }

    fn delta_string(&self, out: &mut Vec<u8>, field: &[u8], text: &str) {
        if text.is_empty() {
            return;
        }
        self.open(out);
        out.extend_from_slice(b"{\"index\":0,\"delta\":{\"");
        out.extend_from_slice(field);
        out.extend_from_slice(b"\":");
        write_string(out, text.as_bytes());
        out.extend_from_slice(b"},\"finish_reason\":null}");
        Self::close(out);
    }

    /// The first fragment of tool call `index`: its id and function name, empty arguments.
    pub fn tool_call_start(&self, out: &mut Vec<u8>, index: u32, id: &str, name: &str) {
        self.open(out);
        let _ = write!(
            out,
            "{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{index},\"id\":"
        );
        write_string(out, id.as_bytes());
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        write_string(out, name.as_bytes());
        out.extend_from_slice(b",\"arguments\":\"\"}}]},\"finish_reason\":null}");
        Self::close(out);
    }

    /// A fragment of tool call `index`'s arguments (JSON text, escaped here). Empty
    /// fragments write nothing.
    pub fn tool_call_args(&self, out: &mut Vec<u8>, index: u32, fragment: &str) {
        if fragment.is_empty() {
            return;
        }
        self.open(out);
        let _ = write!(
            out,
            "{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{index},\"function\":{{\"arguments\":"
        );
        write_string(out, fragment.as_bytes());
        out.extend_from_slice(b"}}]},\"finish_reason\":null}");
        Self::close(out);
    }

    /// The frame carrying `finish_reason`, with an empty delta.
    pub fn finish(&self, out: &mut Vec<u8>, reason: FinishReason) {
        self.open(out);
        out.extend_from_slice(b"{\"index\":0,\"delta\":{},\"finish_reason\":\"");
        out.extend_from_slice(reason.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
        Self::close(out);
    }

    /// The usage chunk (`choices: []`), as OpenAI sends it when `include_usage` is set.
    pub fn usage(&self, out: &mut Vec<u8>, usage: &Usage) {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&self.prefix[..self.head_len]);
        out.extend_from_slice(b"\"choices\":[],\"usage\":");
        usage.write_openai(out);
        out.extend_from_slice(b"}\n\n");
    }

    /// `data: [DONE]`.
    pub fn done(out: &mut Vec<u8>) {
        out.extend_from_slice(crate::sse::DONE);
    }

    /// An error inside the stream, in the shape OpenAI uses for it:
    /// `data: {"error":{"message":..,"type":..,"param":null,"code":..}}`.
    pub fn error(out: &mut Vec<u8>, err: &StreamError) {
        out.extend_from_slice(b"data: ");
        crate::openai::error::write_error(
            out,
            &err.message,
            err.kind.openai_type(),
            None,
            Some(&err.code),
        );
        out.extend_from_slice(b"\n\n");
    }
}
