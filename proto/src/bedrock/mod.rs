//! AWS Bedrock Runtime `Converse` and `ConverseStream`, translated to and from the OpenAI
//! chat shape.
//!
//! - [`request`]: [`write_request`], a [`ChatRequest`](crate::chat::ChatRequest) written as
//!   a Converse request body; [`path`] builds the URL path (the model id is in the URL).
//! - [`response`]: [`parse_response`], a Converse response read into a
//!   [`ChatResponse`](crate::chat::ChatResponse) and a normalized
//!   [`Usage`](crate::chat::Usage).
//! - [`stream`]: [`BedrockStream`], the [`StreamTranslator`](crate::chat::StreamTranslator)
//!   from ConverseStream's `application/vnd.amazon.eventstream` body (decoded with
//!   [`crate::aws::eventstream`]) to `chat.completion.chunk` frames.
//! - [`error`]: [`translate_error`], a Bedrock error answer (status, `x-amzn-errortype`,
//!   body) to an [`ErrorKind`](crate::chat::ErrorKind) and an OpenAI error body; the same
//!   classification serves the exceptions ConverseStream sends in-stream.
//!
//! Signing is not here: the engine signs the written body with [`crate::aws::sigv4`].
//!
//! What is lossy, dropped or refused is listed in each module's docs; the short version:
//! `n > 1`, `https:` image URLs, audio and files are refused; `seed`, penalties,
//! `logprobs`, `logit_bias`, `user`, `metadata` and `parallel_tool_calls` are dropped;
//! `tool_choice: "none"` is approximated; JSON response formats become a forced tool (or
//! Bedrock's `outputConfig`, per deployment).
//!
//! Invariant: like the rest of `proto`, no I/O and no clock; the caller passes ids and
//! `created`.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;

#[cfg(test)]
mod tests;

pub use error::{exception_kind, parse_error, translate_error};
pub use request::{write_request, JsonMode, RequestOptions, ThinkingMode, JSON_TOOL_NAME};
pub use response::{finish_reason, parse_response, ResponseMeta};
pub use stream::BedrockStream;

/// The URL path of a call to `model_id`: `/model/{model_id}/converse`, or
/// `/model/{model_id}/converse-stream` when streaming.
///
/// The id is one path segment whatever it contains: a foundation model id
/// (`anthropic.claude-3-5-sonnet-20240620-v1:0`), an inference profile id, or an ARN
/// (`arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic...`). Every
/// byte outside RFC 3986's unreserved set is percent-encoded (`:` → `%3A`, `/` → `%2F`),
/// so an id cannot add segments or a query. SigV4 then encodes the path once more
/// ([`crate::aws::sigv4`] does that for non-S3 services), as AWS's SDKs do.
pub fn path(model_id: &str, stream: bool) -> String {
    let mut p = String::with_capacity(model_id.len() * 3 + 24);
    p.push_str("/model/");
    for &b in model_id.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            p.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            p.push('%');
            p.push(HEX[usize::from(b >> 4)] as char);
            p.push(HEX[usize::from(b & 15)] as char);
        }
    }
    p.push_str(if stream {
        "/converse-stream"
    } else {
        "/converse"
    });
    p
}
