//! AWS wire pieces for the Bedrock provider.
//!
//! - [`eventstream`]: `application/vnd.amazon.eventstream`, the binary framing of
//!   Bedrock's streaming responses. An incremental [`eventstream::Decoder`] (any chunk
//!   boundary; messages borrowed from the input, or from one bounded buffer when a
//!   message is cut), CRC-checked, with [`eventstream::Limits`]; an encoder for tests and
//!   the mock upstream.

pub mod eventstream;
