//! Google Gemini (Generative Language API, `v1beta`): `generateContent` and
//! `streamGenerateContent?alt=sse`, translated to and from the OpenAI chat shape.
//!
//! - [`request`]: [`write_request`], a [`ChatRequest`](crate::chat::ChatRequest) written as
//!   a `GenerateContentRequest` body; [`path`] builds the URL path (the model and whether
//!   it streams are in the URL, not the body).
//! - [`response`]: [`parse_response`], a `GenerateContentResponse` read into a
//!   [`ChatResponse`](crate::chat::ChatResponse) and a normalized
//!   [`Usage`](crate::chat::Usage).
//! - [`stream`]: [`GeminiStream`], the [`StreamTranslator`](crate::chat::StreamTranslator)
//!   from Gemini's SSE stream to `chat.completion.chunk` frames.
//! - [`error`]: [`translate_error`], a Gemini error body and HTTP status to an
//!   [`ErrorKind`](crate::chat::ErrorKind) and an OpenAI error body.
//! - [`embed`]: OpenAI embeddings ↔ `batchEmbedContents`.
//! - [`schema`]: JSON Schema → the OpenAPI subset Gemini's `Schema` accepts.
//! - [`ids`]: the tool call ids the gateway invents (Gemini has none), which also carry
//!   Gemini 3's thought signatures through OpenAI clients.
//!
//! What is lossy, dropped or refused is listed in each module's docs; the short version:
//! `logprobs`, `logit_bias`, `user`, `metadata` and `parallel_tool_calls` are dropped;
//! streaming with `n > 1` is refused; schemas are narrowed to what Gemini accepts.
//!
//! Invariant: like the rest of `proto`, no I/O and no clock; the caller passes ids and
//! `created`.

pub mod embed;
pub mod error;
pub mod ids;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;

#[cfg(test)]
mod tests;

pub use embed::{write_embeddings_request, write_embeddings_response, EncodingFormat};
pub use error::{parse_error, translate_error};
pub use request::{write_request, RequestOptions, SchemaMode, ThinkingMode};
pub use response::{parse_response, ResponseMeta};
pub use stream::GeminiStream;

/// The URL path of a call to `model`: `/v1beta/models/{model}:generateContent`, or
/// `:streamGenerateContent?alt=sse` when streaming (without `alt=sse` Gemini streams one
/// JSON array, which [`GeminiStream`] does not read).
///
/// A leading `models/` (Gemini's own resource name form) is accepted and not doubled.
/// Bytes outside RFC 3986's unreserved set are percent-encoded, so a model name from a
/// client cannot add path segments or a query.
pub fn path(model: &str, stream: bool) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut p = String::with_capacity(model.len() + 56);
    p.push_str("/v1beta/models/");
    push_encoded(&mut p, model);
    p.push_str(if stream {
        ":streamGenerateContent?alt=sse"
    } else {
        ":generateContent"
    });
    p
}

/// The path of `batchEmbedContents` for `model` (see [`path`] for the encoding).
pub fn embed_path(model: &str) -> String {
    let model = model.strip_prefix("models/").unwrap_or(model);
    let mut p = String::with_capacity(model.len() + 40);
    p.push_str("/v1beta/models/");
    push_encoded(&mut p, model);
    p.push_str(":batchEmbedContents");
    p
}

fn push_encoded(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}
