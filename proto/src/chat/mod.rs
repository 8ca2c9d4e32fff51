//! The OpenAI chat-completions shape as the hub every provider translation goes through.
//!
//! sluice speaks OpenAI's chat API to applications, so translations are written pairwise
//! against it: OpenAI → provider for requests, provider → OpenAI for responses and
//! streams, and (for the Anthropic Messages ingress) the reverse. A request from an
//! Anthropic SDK client to a Gemini model goes Anthropic → OpenAI → Gemini.
//!
//! - [`request`]: [`ChatRequest`], borrowed from the request body where the JSON allows
//!   (strings without escapes, tool schemas as raw JSON), serializable again.
//! - [`response`]: [`ChatResponse`] (non-streaming) and [`ChatChunk`] (one stream frame),
//!   for parsing OpenAI-shaped upstream answers and for writing translated ones.
//! - [`chunk`]: [`ChunkWriter`], which writes `chat.completion.chunk` SSE frames straight
//!   into an output buffer for stream translators.
//! - [`usage`]: [`Usage`], the normalized token record every response yields.
//! - [`replay`]: cached answers in the other form (stream payloads to a `chat.completion`
//!   and back) and stored payloads back to SSE bytes.
//! - [`translate`]: the [`StreamTranslator`] trait, [`TranslateError`], [`StreamError`],
//!   and [`FinishReason`].
//!
//! Invariant: no I/O, no clock (callers pass `created`), and translators never buffer a
//! whole stream: they hold at most the current frame and a few ids.

pub mod chunk;
pub mod replay;
pub mod request;
pub mod response;
pub mod translate;
pub mod usage;

pub use chunk::ChunkWriter;
pub use request::{
    ChatRequest, Content, ContentPart, FunctionDef, ImageUrl, Message, ResponseFormat, Role,
    StreamOptions, Tool, ToolCall, ToolCallFunction, ToolChoice,
};
pub use response::{ChatChunk, ChatResponse, Choice, ChunkChoice, Delta, ResponseMessage};
pub use translate::{ErrorKind, FinishReason, StreamError, StreamTranslator, TranslateError};
pub use usage::Usage;

#[cfg(test)]
mod tests;
