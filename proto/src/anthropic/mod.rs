//! The Anthropic Messages API (`POST /v1/messages`), in both directions.
//!
//! **Egress** — an OpenAI client calls a Claude model:
//! - [`request`]: [`write_request`], a [`ChatRequest`](crate::chat::ChatRequest) written as
//!   a Messages body, returning [`RequestMeta`] for the answer's translators;
//! - [`response`]: [`parse_response`], a Messages answer read into a
//!   [`ChatResponse`](crate::chat::ChatResponse) and a normalized
//!   [`Usage`](crate::chat::Usage);
//! - [`stream`]: [`AnthropicStream`], Anthropic's SSE events → `chat.completion.chunk`s;
//! - [`error`]: [`translate_error`], an Anthropic error body and HTTP status → an
//!   [`ErrorKind`](crate::chat::ErrorKind) and an OpenAI error body.
//!
//! **Ingress** — an Anthropic SDK client calls any model through the OpenAI hub
//! ([`ingress`]): [`MessagesRequest`] → `ChatRequest`, `ChatResponse` → Messages answer,
//! OpenAI chunks → Anthropic events ([`MessagesStream`]), OpenAI errors → Anthropic errors
//! ([`translate_openai_error`]).
//!
//! [`types`] holds the wire shapes both directions share. What is lossy, dropped or
//! refused is tabled in each module's docs. The short version: `n > 1` and `logprobs` are
//! refused; `temperature` above 1 is clamped to 1; `response_format` becomes a forced tool
//! whose input comes back as text; mid-conversation system messages move to `system`;
//! thinking signatures, `top_k`, `seed` and the penalties are dropped.
//!
//! Invariant: like the rest of `proto`, no I/O and no clock; the caller passes ids,
//! `created` and the provider's model name.

pub mod error;
pub mod ingress;
pub mod request;
pub mod response;
pub mod stream;
pub mod types;

#[cfg(test)]
mod tests;

pub use error::{
    parse_error, parse_openai_error, translate_error, translate_openai_error, write_error,
};
pub use ingress::{to_chat_request, write_response, MessagesStream};
pub use request::{write_request, RequestMeta, RequestOptions, JSON_TOOL_NAME};
pub use response::{finish_reason, parse_response, ResponseMeta};
pub use stream::AnthropicStream;
pub use types::{MessageResponse, MessagesRequest};

/// The `anthropic-version` header value these shapes follow.
pub const API_VERSION: &str = "2023-06-01";
