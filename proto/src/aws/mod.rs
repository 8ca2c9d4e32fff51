//! AWS wire pieces for the Bedrock provider, sans-I/O like the rest of `proto`.
//!
//! - [`eventstream`]: `application/vnd.amazon.eventstream`, the binary framing of
//!   Bedrock's streaming responses (`ConverseStream`, `InvokeModelWithResponseStream`).
//!   An incremental [`eventstream::Decoder`] (any chunk boundary; a message is borrowed
//!   from the input when it lies whole there, else from one buffer), CRC-checked, bounded
//!   by [`eventstream::Limits`], with accessors for the headers Bedrock sends
//!   ([`eventstream::Message::message_type`], `event_type`, `exception_type`, ...); and
//!   [`eventstream::write_message`], the encoder for tests and the mock upstream.
//! - [`sigv4`]: AWS Signature Version 4 request signing, header-based.
//!   [`sigv4::AmzDate`] formats a time the caller passes; [`sigv4::SigningKey`] is
//!   derived once per day, region and service (the engine caches it); [`sigv4::sign`]
//!   streams the canonical request into SHA-256 and appends the `authorization` value to
//!   the caller's buffer.
//!
//! Invariants: no clock is read (dates come from the caller) and nothing is allocated
//! per message or per signature beyond the decoder's one buffer, which never grows past
//! `message_bytes_max`. Every error is a small `Copy` enum that names the first check
//! that failed. Dependencies: `crc32fast` (CRC-32) and `ring` (SHA-256, HMAC), already
//! linked by rustls; nothing above `proto`.

pub mod eventstream;
pub mod sigv4;
