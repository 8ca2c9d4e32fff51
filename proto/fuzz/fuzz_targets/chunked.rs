//! `ChunkedDecoder` on arbitrary bytes with arbitrary limits, whole, in pieces and a byte
//! at a time: no panic, and exactly the naive reference's verdict (complete with the same
//! payload and length, incomplete, or the same error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::http1::reference::decode_chunked_naive_with;
use proto::http1::{ChunkEvent, ChunkedDecoder, Error};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Done(Vec<u8>, usize),
    Incomplete,
    Failed(Error),
}

fn stepped(mut decoder: ChunkedDecoder, input: &[u8], piece: usize) -> Outcome {
    let mut payload = Vec::new();
    let mut consumed = 0;
    for chunk in input.chunks(piece.max(1)) {
        let mut at = 0;
        loop {
            match decoder.step(&chunk[at..]) {
                Err(e) => return Outcome::Failed(e),
                Ok((used, ChunkEvent::Data { start, end })) => {
                    assert!(start < end && end == used);
                    payload.extend_from_slice(&chunk[at + start..at + end]);
                    at += used;
                }
                Ok((used, ChunkEvent::Partial)) => {
                    assert_eq!(at + used, chunk.len(), "Partial consumes all input");
                    consumed += chunk.len();
                    break;
                }
                Ok((used, ChunkEvent::Done)) => {
                    return Outcome::Done(payload, consumed + at + used)
                }
            }
        }
    }
    Outcome::Incomplete
}

fuzz_target!(|data: &[u8]| {
    let Some((&[body_max, line_max, trailer_max, piece], input)) = data.split_first_chunk::<4>()
    else {
        return;
    };
    // Small limits reach every limit edge; 0xff selects the production defaults.
    let (body_max, line_max, trailer_max) = if body_max == 0xff {
        (
            u64::MAX,
            ChunkedDecoder::SIZE_LINE_BYTES_MAX,
            ChunkedDecoder::TRAILER_BYTES_MAX,
        )
    } else {
        (
            u64::from(body_max),
            usize::from(line_max % 32) + 1,
            usize::from(trailer_max % 64) + 2,
        )
    };
    let expected = match decode_chunked_naive_with(input, body_max, line_max, trailer_max) {
        Ok(Some((payload, used))) => Outcome::Done(payload, used),
        Ok(None) => Outcome::Incomplete,
        Err(e) => Outcome::Failed(e),
    };
    let decoder = ChunkedDecoder::with_limits(body_max, line_max, trailer_max);

    let mut whole = decoder.clone();
    let mut out = Vec::new();
    let got = match whole.decode_into(input, &mut out) {
        Ok((used, true)) => Outcome::Done(out, used),
        Ok((_, false)) => Outcome::Incomplete,
        Err(e) => Outcome::Failed(e),
    };
    assert_eq!(got, expected, "whole");
    assert_eq!(
        stepped(decoder.clone(), input, usize::from(piece)),
        expected,
        "pieces of {piece}"
    );
    assert_eq!(stepped(decoder, input, 1), expected, "byte by byte");
});
