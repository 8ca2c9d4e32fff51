//! Limits on everything a peer controls in a message head and body.

/// Capacity of a caller-owned header array. `Limits::header_count_max` may be set lower,
/// never higher.
pub const HEADER_SLOTS: usize = 128;

/// Per-message limits. Defaults are what a gateway in front of LLM APIs needs: large
/// bodies (long prompts, images as data URLs), small heads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes from the first byte of the request line to the end of the blank line.
    pub head_bytes_max: usize,
    /// Number of header fields; must be <= [`HEADER_SLOTS`].
    pub header_count_max: usize,
    /// Bytes in the request-target.
    pub uri_bytes_max: usize,
    /// Decoded body bytes (Content-Length value, or the sum of chunk sizes).
    pub body_bytes_max: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        head_bytes_max: 16 * 1024,
        header_count_max: 100,
        uri_bytes_max: 8 * 1024,
        body_bytes_max: 32 * 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

const _: () = assert!(Limits::DEFAULT.header_count_max <= HEADER_SLOTS);
const _: () = assert!(Limits::DEFAULT.uri_bytes_max < Limits::DEFAULT.head_bytes_max);
