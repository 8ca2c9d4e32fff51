//! The event-stream `Decoder` on arbitrary bytes in arbitrary pieces, with default or tiny
//! limits: no panic, and the same messages and outcome as the naive reference decoding
//! the whole stream (which checks CRCs with its own bitwise CRC-32).
//!
//! Random bytes almost never pass a CRC, so half the inputs are re-framed first: the
//! bytes after the selectors become headers sections and payloads of messages with
//! correct lengths and CRCs, which reaches the header checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::aws::eventstream::reference::{crc32, decode, Decoded, OwnedMessage};
use proto::aws::eventstream::{Decoder, Limits, Step};

fn decode_pieces(stream: &[u8], piece: usize, limits: Limits) -> Decoded {
    let mut d = Decoder::new(limits);
    let mut messages = Vec::new();
    for chunk in stream.chunks(piece.max(1)) {
        let mut at = 0;
        loop {
            match d.decode(&chunk[at..]) {
                Err(e) => {
                    return Decoded {
                        messages,
                        outcome: Err(e),
                    }
                }
                Ok((used, Step::Complete(m))) => {
                    assert!(used > 0);
                    messages.push(OwnedMessage::from(m));
                    at += used;
                }
                Ok((used, Step::Partial)) => {
                    assert_eq!(at + used, chunk.len(), "Partial takes all the input");
                    break;
                }
            }
        }
    }
    Decoded {
        messages,
        outcome: Ok(d.pending()),
    }
}

/// Cut `raw` into (headers, payload) pairs by the length bytes it carries, and frame each.
fn reframe(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((&[h, p], rest)) = raw.split_first_chunk::<2>() {
        let h = usize::from(h).min(rest.len());
        let p = usize::from(p).min(rest.len() - h);
        let (headers, rest) = rest.split_at(h);
        let (payload, rest) = rest.split_at(p);
        let start = out.len();
        out.extend_from_slice(&((16 + h + p) as u32).to_be_bytes());
        out.extend_from_slice(&(h as u32).to_be_bytes());
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(payload);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        raw = rest;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&[piece, mode], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let stream = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        reframe(rest)
    };
    // The production limits, or tiny ones so the limit errors are reached.
    let limits = if mode & 2 == 0 {
        Limits::DEFAULT
    } else {
        Limits {
            message_bytes_max: usize::from(mode >> 2) * 4,
            headers_bytes_max: usize::from(mode >> 4) * 8,
        }
    };
    let expected = decode(&stream, limits);
    assert_eq!(
        decode_pieces(&stream, usize::from(piece), limits),
        expected,
        "pieces of {piece}"
    );
    assert_eq!(
        decode_pieces(&stream, stream.len(), limits),
        expected,
        "whole"
    );
});
