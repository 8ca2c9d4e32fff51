//! Codec errors: small, `Copy`, each with the HTTP status a server answers it with.

/// Why a message was rejected. A server answers every one of these with
/// [`Error::status`] and `Connection: close`: after a framing error the byte stream
/// can no longer be trusted, so the connection is never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The request or status line, or a header line, is not valid HTTP/1.x (httparse).
    InvalidHead,
    /// Only HTTP/1.0 and HTTP/1.1 are spoken.
    UnsupportedVersion,
    /// The head is longer than `head_bytes_max` (431).
    HeadTooLarge,
    /// More header fields than `header_count_max` (431).
    TooManyHeaders,
    /// The request-target is longer than `uri_bytes_max` (414).
    UriTooLong,
    /// A header line continued on the next line (obs-fold, RFC 9112 §5.2).
    ObsoleteLineFolding,
    /// NUL, CR or LF inside a header value.
    InvalidHeaderValue,
    /// Both Content-Length and Transfer-Encoding are present.
    ContentLengthWithTransferEncoding,
    /// Two Content-Length fields (or a list) with different values.
    ConflictingContentLength,
    /// Content-Length is not a plain decimal number, or overflows.
    InvalidContentLength,
    /// Transfer-Encoding whose last coding is not `chunked`, or a coding listed after it.
    TransferEncodingNotChunked,
    /// Transfer-Encoding on an HTTP/1.0 message.
    ChunkedOnHttp10,
    /// A chunk-size line that is not hex digits (with optional extensions).
    InvalidChunkSize,
    /// A chunk size that does not fit in 64 bits.
    ChunkSizeOverflow,
    /// Chunk data not followed by CRLF, or a malformed trailer section.
    InvalidChunkFraming,
    /// Declared or decoded body bytes exceed `body_bytes_max` (413).
    BodyTooLarge,
}

impl Error {
    /// The status a server responds with.
    pub const fn status(self) -> u16 {
        match self {
            Error::HeadTooLarge | Error::TooManyHeaders => 431,
            Error::UriTooLong => 414,
            Error::BodyTooLarge => 413,
            Error::UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// A short human sentence for the error body.
    pub const fn message(self) -> &'static str {
        match self {
            Error::InvalidHead => "malformed HTTP request head",
            Error::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            Error::HeadTooLarge => "request head exceeds the configured header_bytes_max",
            Error::TooManyHeaders => "request has more header fields than header_count_max",
            Error::UriTooLong => "request-target exceeds uri_bytes_max",
            Error::ObsoleteLineFolding => "obsolete line folding in a header is not allowed",
            Error::InvalidHeaderValue => "header value contains NUL, CR or LF",
            Error::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding are present"
            }
            Error::ConflictingContentLength => "conflicting Content-Length values",
            Error::InvalidContentLength => "invalid Content-Length",
            Error::TransferEncodingNotChunked => "Transfer-Encoding must end with chunked",
            Error::ChunkedOnHttp10 => "Transfer-Encoding is not allowed in HTTP/1.0",
            Error::InvalidChunkSize => "invalid chunk size",
            Error::ChunkSizeOverflow => "chunk size overflows",
            Error::InvalidChunkFraming => "invalid chunked framing",
            Error::BodyTooLarge => "request body exceeds body_bytes_max",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}
