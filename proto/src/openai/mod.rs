//! OpenAI wire shapes that both the gateway and the mock upstream write.
//!
//! - [`error`]: the `{"error":{...}}` body every OpenAI-compatible endpoint answers
//!   failures with.
//! - [`synth`]: deterministic synthetic responses (chat completions, legacy completions,
//!   embeddings, model lists, and their SSE streams) for the gateway's built-in demo
//!   provider and for `sluice-loadtest mock`.
//!
//! Everything here is a pure function that appends bytes to a caller-owned `Vec<u8>`: no
//! I/O, no clock (callers pass `created` timestamps), no randomness beyond a caller-given
//! seed, and no allocation except growth of the output buffer.

pub mod error;
pub mod synth;

#[cfg(test)]
mod tests;
