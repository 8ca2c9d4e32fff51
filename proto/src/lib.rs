//! sluice's wire protocols, as pure functions over byte slices.
//!
//! `proto` is a leaf crate: it does no I/O, spawns nothing, reads no clock, and never
//! depends on monoio, rustls or `engine`. Everything here is sans-I/O: a decoder takes
//! the bytes it has been given and answers `Complete`, `Partial` (give me more bytes), or
//! a small `Copy` error that says exactly what was wrong.
//!
//! - [`anthropic`]: the Anthropic Messages API both ways: OpenAI requests to Claude
//!   (request, response, SSE stream, errors) and Anthropic SDK clients through the OpenAI
//!   hub (the ingress).
//! - [`aws`]: the AWS pieces of the Bedrock provider: the event-stream binary framing
//!   (incremental decoder, encoder) and Signature Version 4 request signing.
//! - [`bedrock`]: AWS Bedrock Runtime `Converse` / `ConverseStream` (event-stream),
//!   translated to and from the OpenAI chat shape, and Bedrock's errors.
//! - [`http1`]: HTTP/1.1 request and response heads parsed into caller-owned header
//!   arrays (kept as byte spans), body framing (Content-Length, chunked) with the
//!   request-smuggling rejections, a chunked decoder and encoder, head writers.
//! - [`sse`]: incremental Server-Sent Events decoder (any chunk boundary) and encoder.
//! - [`json`]: a validating single-pass JSON scanner that locates top-level object members
//!   by byte span, so the gateway can read and rewrite `model` without building a tree.
//! - [`chat`]: the OpenAI chat-completions shape as the hub of every provider translation:
//!   request and response types, the stream chunk writer, normalized [`chat::Usage`], and
//!   the [`chat::StreamTranslator`] trait.
//! - [`gemini`]: Google Gemini `generateContent` / `streamGenerateContent` (SSE) and
//!   `batchEmbedContents`, translated to and from the OpenAI chat and embeddings shapes.
//! - [`openai`]: OpenAI wire shapes the gateway and the mock upstream both need: the
//!   error body, and deterministic synthetic responses (demo provider, mock upstream).
//!
//! Invariant: every decoder here is bounded by an explicit limit and never allocates
//! without one.

pub mod anthropic;
pub mod aws;
pub mod bedrock;
pub mod chat;
pub mod gemini;
pub mod http1;
pub mod json;
pub mod openai;
pub mod sse;
