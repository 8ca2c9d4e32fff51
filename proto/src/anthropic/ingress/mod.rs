//! The Anthropic Messages API as a front door: Anthropic SDK clients call sluice, and the
//! request goes through the OpenAI hub to whichever provider serves the model (an
//! Anthropic client to a Gemini model goes Anthropic → OpenAI → Gemini).
//!
//! - [`request`]: [`to_chat_request`], a parsed
//!   [`MessagesRequest`](super::MessagesRequest) as a [`ChatRequest`](crate::chat::ChatRequest).
//! - [`response`]: [`write_response`], a [`ChatResponse`](crate::chat::ChatResponse) as a
//!   Messages answer.
//! - [`stream`]: [`MessagesStream`], OpenAI chunk frames → Anthropic's SSE events.
//!
//! Errors go the other way with [`super::error::translate_openai_error`]. `count_tokens`
//! needs a tokenizer and lives in the engine.

pub mod request;
pub mod response;
pub mod stream;

pub use request::to_chat_request;
pub use response::{message_id, stop_reason, write_response};
pub use stream::MessagesStream;
