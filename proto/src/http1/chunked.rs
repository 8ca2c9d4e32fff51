//! Chunked transfer coding. IMPLEMENTATION PENDING (helper H1).

use super::Error;

/// The last-chunk and empty trailer that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// What one [`ChunkedDecoder::step`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkEvent {
    /// Payload bytes at `input[start..end]` of the slice given to `step`.
    Data { start: usize, end: usize },
    /// All of the input was consumed as framing; give more bytes.
    Partial,
    /// The last chunk and trailers were read; the body is complete.
    Done,
}

/// Incremental chunked-body decoder, any input split. Zero-copy: it reports payload spans
/// of the input it is given.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    body_bytes_max: u64,
}

impl ChunkedDecoder {
    pub fn new(body_bytes_max: u64) -> ChunkedDecoder {
        ChunkedDecoder { body_bytes_max }
    }

    /// Consume a prefix of `input`; returns (bytes consumed, what was found).
    pub fn step(&mut self, input: &[u8]) -> Result<(usize, ChunkEvent), Error> {
        let _ = (input, self.body_bytes_max);
        Err(Error::InvalidChunkSize)
    }

    /// Convenience loop over [`step`](Self::step): appends payload to `out`; returns
    /// (bytes consumed, body complete).
    pub fn decode_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), Error> {
        let _ = (input, out);
        Err(Error::InvalidChunkSize)
    }
}

/// Append `data` as one chunk. Empty data writes nothing (an empty chunk would end the body).
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    let _ = (out, data);
}
