//! The SSE `Decoder` on arbitrary bytes in arbitrary pieces: no panic, and the same events
//! and outcome as the naive reference decoding the whole stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proto::sse::reference::{decode, Decoded, OwnedEvent};
use proto::sse::Decoder;

fn decode_pieces(stream: &[u8], piece: usize, max: usize) -> Decoded {
    let mut d = Decoder::new(max);
    let mut events = Vec::new();
    for chunk in stream.chunks(piece.max(1)) {
        let pushed = d.push(chunk);
        while let Some(ev) = d.next_event() {
            // Touch the borrowed fields before copying them out.
            let _ = (ev.data.len(), ev.event.len());
            events.push(OwnedEvent::from(ev));
        }
        if let Err(e) = pushed {
            return Decoded {
                events,
                outcome: Err(e),
            };
        }
    }
    let discarded = d.finish();
    assert!(d.next_event().is_none(), "finish dispatches nothing");
    Decoded {
        events,
        outcome: Ok(discarded),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[piece, small], stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    // The production limit, or a tiny one so EventTooLarge is reached.
    let max = if small & 1 == 0 {
        64 * 1024
    } else {
        usize::from(small)
    };
    let expected = decode(stream, max);
    assert_eq!(
        decode_pieces(stream, usize::from(piece), max),
        expected,
        "pieces of {piece}"
    );
    assert_eq!(decode_pieces(stream, stream.len(), max), expected, "whole");
});
