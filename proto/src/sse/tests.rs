use proptest::prelude::*;

use super::reference::{self, Decoded, OwnedEvent};
use super::*;

const MAX: usize = 1 << 16;

/// Feed `pieces` in order, draining after every push, as the gateway does.
fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Decoded {
    let mut d = Decoder::new(max);
    let mut events = Vec::new();
    for piece in pieces {
        let pushed = d.push(piece);
        while let Some(e) = d.next_event() {
            events.push(OwnedEvent::from(e));
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

fn decode(stream: &[u8]) -> Decoded {
    decode_pieces([stream], MAX)
}

fn ev(event: &str, data: &str, id: Option<&str>, retry: Option<u64>) -> OwnedEvent {
    OwnedEvent {
        event: event.into(),
        data: data.into(),
        id: id.map(Into::into),
        retry,
    }
}

fn data(data: &str) -> OwnedEvent {
    ev("", data, None, None)
}

/// Decode `stream` whole, byte by byte, and split at every boundary; all must agree with
/// `want` and with the reference decoder.
fn check(stream: &[u8], want: &[OwnedEvent], discarded: bool) {
    let expected = Decoded {
        events: want.to_vec(),
        outcome: Ok(discarded),
    };
    assert_eq!(
        decode(stream),
        expected,
        "whole: {:?}",
        String::from_utf8_lossy(stream)
    );
    assert_eq!(reference::decode(stream, MAX), expected, "reference");
    assert_eq!(
        decode_pieces(stream.chunks(1), MAX),
        expected,
        "byte by byte"
    );
    for k in 0..=stream.len() {
        assert_eq!(
            decode_pieces([&stream[..k], &stream[k..]], MAX),
            expected,
            "split at {k}"
        );
    }
}

#[test]
fn line_endings_lf_crlf_cr() {
    let want = [data("a\nb"), data("c")];
    check(b"data: a\ndata: b\n\ndata: c\n\n", &want, false);
    check(b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", &want, false);
    check(b"data: a\rdata: b\r\rdata: c\r\r", &want, false);
    check(b"data: a\r\ndata: b\r\rdata: c\n\r\n", &want, false);
}

#[test]
fn cr_then_lf_across_pushes_is_one_line_ending() {
    let got = decode_pieces([&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"], MAX);
    assert_eq!(
        got,
        Decoded {
            events: vec![data("a\nb")],
            outcome: Ok(false)
        }
    );
    // A lone CR at the end of a push, then a non-LF: the CR alone ended the line.
    let got = decode_pieces([&b"data: a\r"[..], b"\r"], MAX);
    assert_eq!(
        got,
        Decoded {
            events: vec![data("a")],
            outcome: Ok(false)
        }
    );
    // An empty push between CR and LF changes nothing.
    let got = decode_pieces([&b"data: a\r"[..], b"", b"\n\n"], MAX);
    assert_eq!(
        got,
        Decoded {
            events: vec![data("a")],
            outcome: Ok(false)
        }
    );
}

#[test]
fn leading_bom_is_skipped_once() {
    check(b"\xEF\xBB\xBFdata: a\n\n", &[data("a")], false);
    // Only at the start of the stream: a second BOM is part of the field name.
    check(
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
        &[data("b")],
        false,
    );
    // Not a BOM: the bytes are the start of a line.
    check(b"\xEF\xBBdata: a\n\n", &[], false);
    check(b"\xEF\xBB", &[], true);
    check(b"\xEF\n", &[], true);
    check(b"\xEF\n\n", &[], false);
    check(b"data: \xEF\xBB\xBF\n\n", &[data("\u{feff}")], false);
}

#[test]
fn comments_are_ignored() {
    check(
        b": hello\ndata: a\n: there\ndata: b\n:\n\n",
        &[data("a\nb")],
        false,
    );
    check(b": keep-alive\n\n: keep-alive\n\n", &[], false);
}

#[test]
fn one_space_after_the_colon_is_stripped() {
    check(
        b"data:a\n\ndata: a\n\ndata:  a\n\ndata:\ta\n\n",
        &[data("a"), data("a"), data(" a"), data("\ta")],
        false,
    );
    check(b"data: a: b:c\n\n", &[data("a: b:c")], false);
}

#[test]
fn a_line_without_colon_is_a_field_with_empty_value() {
    check(b"data\n\n", &[data("")], false);
    check(b"data\ndata\n\n", &[data("\n")], false);
    check(b"data: \n\n", &[data("")], false);
    check(b"event\ndata: x\n\n", &[data("x")], false);
}

#[test]
fn event_type_is_set_then_reset() {
    check(
        b"event: delta\ndata: 1\n\ndata: 2\n\nevent: a\nevent: b\ndata: 3\n\n",
        &[
            ev("delta", "1", None, None),
            data("2"),
            ev("b", "3", None, None),
        ],
        false,
    );
    // A blank line resets the type even when nothing is dispatched.
    check(b"event: lost\n\ndata: x\n\n", &[data("x")], false);
}

#[test]
fn id_persists_and_nul_is_ignored() {
    check(
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid\ndata: d\n\nid: 3\n\ndata: e\n\n",
        &[
            ev("", "a", Some("1"), None),
            ev("", "b", Some("1"), None),
            ev("", "c", Some("1"), None),
            data("d"),
            ev("", "e", Some("3"), None),
        ],
        false,
    );
}

#[test]
fn retry_needs_digits_and_waits_for_an_event() {
    check(
        b"retry: 1000\ndata: a\n\nretry: 10x\ndata: b\n\nretry: 5\n\ndata: c\n\nretry:\ndata: d\n\n",
        &[ev("", "a", None, Some(1000)), data("b"), ev("", "c", None, Some(5)), data("d")],
        false,
    );
    check(
        b"retry: 99999999999999999999\ndata: a\n\n",
        &[data("a")],
        false,
    );
    check(
        b"retry: 18446744073709551615\ndata: a\n\n",
        &[ev("", "a", None, Some(u64::MAX))],
        false,
    );
    check(
        b"retry: -1\nretry: +1\nretry:  1\ndata: a\n\n",
        &[data("a")],
        false,
    );
}

#[test]
fn unknown_fields_are_ignored_and_names_are_case_sensitive() {
    check(b"Data: a\nfoo: b\n: c\n\n", &[], false);
    check(b"DATA: a\ndata: b\nEvent: x\n\n", &[data("b")], false);
}

#[test]
fn blank_lines_without_data_dispatch_nothing() {
    check(b"\n\n\r\n\r", &[], false);
    check(b"event: a\nid: 1\n\n", &[], false);
}

#[test]
fn unterminated_event_is_discarded_at_finish() {
    check(b"data: a\n\ndata: b\n", &[data("a")], true);
    check(b"data: a\n\ndata: b", &[data("a")], true);
    check(b"data: a\n\nevent: x\n", &[data("a")], true);
    check(b"data: a\n\n", &[data("a")], false);
    // A comment is not an event: nothing was discarded.
    check(b"data: a\n\n: bye\n", &[data("a")], false);
    check(b"", &[], false);
}

#[test]
fn limit_counts_event_bytes_exactly() {
    // "data: abc" is 9 bytes, plus 1 for its line ending.
    let stream = b"data: abc\n\ndata: abc\r\n\r\n";
    let ok = Decoded {
        events: vec![data("abc"), data("abc")],
        outcome: Ok(false),
    };
    let too_large = Decoded {
        events: vec![],
        outcome: Err(SseError::EventTooLarge),
    };
    for pieces in [stream.chunks(1).collect::<Vec<_>>(), vec![&stream[..]]] {
        assert_eq!(decode_pieces(pieces.iter().copied(), 10), ok);
        assert_eq!(decode_pieces(pieces.iter().copied(), 9), too_large);
    }
    assert_eq!(reference::decode(stream, 10), ok);
    assert_eq!(reference::decode(stream, 9), too_large);
    // Two lines of one event add up: 8 + 1 + 9 + 1.
    let two = b"event: e\ndata: abc\n\n";
    let one = Decoded {
        events: vec![ev("e", "abc", None, None)],
        outcome: Ok(false),
    };
    assert_eq!(decode_pieces([&two[..]], 19), one);
    assert_eq!(
        decode_pieces([&two[..]], 18).outcome,
        Err(SseError::EventTooLarge)
    );
}

#[test]
fn an_incomplete_line_over_the_limit_fails_the_push() {
    let mut d = Decoder::new(16);
    assert_eq!(d.push(b"data: 0123456789"), Ok(()));
    assert_eq!(d.push(b"x"), Err(SseError::EventTooLarge));
    // Sticky until finish.
    assert_eq!(d.push(b"\n\n"), Err(SseError::EventTooLarge));
    assert!(d.next_event().is_none());
    assert!(d.finish());
    assert_eq!(d.push(b"data: ok\n\n"), Ok(()));
    assert_eq!(d.next_event().map(|e| e.data), Some(&b"ok"[..]));
}

#[test]
fn events_before_the_oversized_one_are_delivered() {
    let stream = b"data: a\n\ndata: b\n\ndata: this one is far too long\n\ndata: c\n\n";
    let want = Decoded {
        events: vec![data("a"), data("b")],
        outcome: Err(SseError::EventTooLarge),
    };
    assert_eq!(decode_pieces([&stream[..]], 12), want);
    assert_eq!(reference::decode(stream, 12), want);
}

#[test]
fn comments_do_not_count_but_cannot_exceed_the_limit() {
    let mut stream = Vec::new();
    for _ in 0..100 {
        stream.extend_from_slice(b": keep-alive\n");
    }
    stream.extend_from_slice(b"data: a\n\n");
    assert_eq!(
        decode_pieces([&stream[..]], 20),
        Decoded {
            events: vec![data("a")],
            outcome: Ok(false)
        }
    );
    let long = b": a comment longer than the limit\n";
    assert_eq!(
        decode_pieces([&long[..]], 20).outcome,
        Err(SseError::EventTooLarge)
    );
    assert_eq!(
        decode_pieces(long.chunks(3), 20).outcome,
        Err(SseError::EventTooLarge)
    );
    assert_eq!(
        reference::decode(long, 20).outcome,
        Err(SseError::EventTooLarge)
    );
}

#[test]
fn events_from_one_push_queue_until_taken() {
    let mut d = Decoder::new(MAX);
    d.push(b"event: a\ndata: 1\n\nid: 7\ndata: 2\ndata: 3\n\nretry: 4\ndata: 5")
        .unwrap();
    assert_eq!(
        d.next_event(),
        Some(Event {
            event: b"a",
            data: b"1",
            id: None,
            retry: None
        })
    );
    assert_eq!(
        d.next_event(),
        Some(Event {
            event: b"",
            data: b"2\n3",
            id: Some(b"7"),
            retry: None
        })
    );
    assert_eq!(d.next_event(), None);
    d.push(b"\n\n").unwrap();
    assert_eq!(
        d.next_event(),
        Some(Event {
            event: b"",
            data: b"5",
            id: Some(b"7"),
            retry: Some(4)
        })
    );
    assert_eq!(d.next_event(), None);
    assert!(!d.finish());
}

#[test]
fn buffers_stop_growing_once_warm() {
    let mut stream = Vec::new();
    for i in 0..50 {
        write_event(
            &mut stream,
            Some(b"chunk"),
            format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 7 * 20)).as_bytes(),
        );
    }
    let mut d = Decoder::new(MAX);
    let mut warm = None;
    for round in 0..20 {
        for piece in stream.chunks(37) {
            d.push(piece).unwrap();
            while let Some(e) = d.next_event() {
                assert!(e.data.starts_with(b"{\"i\":"));
            }
        }
        if round == 1 {
            warm = Some(d.capacities());
        }
    }
    assert_eq!(Some(d.capacities()), warm);
    assert!(
        d.capacities()[1] < 1024,
        "the arena holds about one event: {:?}",
        d.capacities()
    );
}

#[test]
fn undrained_events_are_compacted() {
    // A caller that always leaves one event queued must not grow the arena forever.
    let mut d = Decoder::new(MAX);
    d.push(b"data: first\n\n").unwrap();
    for i in 0..10_000 {
        d.push(format!("data: {i}\n\n").as_bytes()).unwrap();
        assert!(d.next_event().is_some());
    }
    assert!(d.capacities()[1] < 256, "{:?}", d.capacities());
    assert_eq!(d.next_event().map(|e| e.data), Some(&b"9999"[..]));
    assert_eq!(d.next_event(), None);
}

#[test]
fn encoder_writes_the_wire_format() {
    let mut out = Vec::new();
    write_event(&mut out, None, b"{\"a\":1}");
    assert_eq!(out, b"data: {\"a\":1}\n\n");
    out.clear();
    write_event_full(
        &mut out,
        Some(b"delta"),
        Some(b"42"),
        Some(3000),
        b"a\nb\r\nc\rd",
    );
    assert_eq!(
        out,
        &b"event: delta\nid: 42\nretry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"[..]
    );
    out.clear();
    write_event(&mut out, None, b"");
    assert_eq!(out, b"data: \n\n");
    out.clear();
    write_comment(&mut out, b"keep-alive\nsecond");
    assert_eq!(out, b": keep-alive\n: second\n");
    out.clear();
    write_event_full(&mut out, None, None, Some(0), b"x");
    assert_eq!(out, b"retry: 0\ndata: x\n\n");
    assert_eq!(decode(DONE).events, [data("[DONE]")]);
}

// ---- property tests ----

/// One line of a generated stream, before its line ending.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(
        &[
            "data", "data", "data", "event", "id", "retry", "foo", "", "Data",
        ][..],
    );
    let value = prop_oneof![
        "[a-z0-9 :\u{0}é]{0,12}".prop_map(String::into_bytes),
        "[0-9]{1,21}".prop_map(String::into_bytes),
        prop::collection::vec(
            any::<u8>().prop_filter("no line breaks", |b| *b != b'\r' && *b != b'\n'),
            0..8
        ),
    ];
    prop_oneof![
        6 => (name, prop::sample::select(&["", ":", ": ", ":  "][..]), value.clone()).prop_map(|(n, sep, v)| {
            let mut l = n.as_bytes().to_vec();
            l.extend_from_slice(sep.as_bytes());
            if !sep.is_empty() {
                l.extend_from_slice(&v);
            }
            l
        }),
        1 => value.prop_map(|v| [&b":"[..], &v].concat()),
        3 => Just(Vec::new()),
    ]
}

/// A stream of random lines joined by random line endings, maybe with a BOM in front and
/// maybe without a final line ending.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let ending = prop::sample::select(&["\n", "\r\n", "\r"][..]);
    (
        any::<bool>(),
        prop::collection::vec((line(), ending), 0..24),
        any::<bool>(),
    )
        .prop_map(|(bom, lines, cut)| {
            let mut s = if bom { BOM.to_vec() } else { Vec::new() };
            for (l, end) in &lines {
                s.extend_from_slice(l);
                s.extend_from_slice(end.as_bytes());
            }
            if cut {
                s.pop();
            }
            s
        })
}

/// Cut `s` at the given points (taken modulo its length).
fn cut<'a>(s: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = points.iter().map(|p| p % (s.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([s.len()]) {
        pieces.push(&s[prev..a]);
        prev = a;
    }
    pieces
}

/// `data` with each CRLF or lone CR replaced by LF, as a decoder sees line breaks.
fn breaks_as_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\r' {
            out.push(b'\n');
            if data.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            out.push(data[i]);
        }
        i += 1;
    }
    out
}

/// An event for the encoder: field values without line breaks (and ids without NUL).
/// Arguments for `write_event_full`: event, id, retry, data.
type Encodable = (Option<Vec<u8>>, Option<Vec<u8>>, Option<u64>, Vec<u8>);

fn encodable() -> impl Strategy<Value = Encodable> {
    let text = "[a-z :é]{0,8}".prop_map(String::into_bytes);
    (
        prop::option::of(text.clone()),
        prop::option::of(text),
        prop::option::of(any::<u64>()),
        prop::collection::vec(prop::sample::select(&b"ab \r\n:\0\xff"[..]), 0..24),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn split_at_every_boundary_matches_reference(s in stream()) {
        let want = reference::decode(&s, MAX);
        prop_assert_eq!(&decode(&s), &want);
        prop_assert_eq!(&decode_pieces(s.chunks(1), MAX), &want);
        for k in 0..=s.len() {
            prop_assert_eq!(&decode_pieces([&s[..k], &s[k..]], MAX), &want, "split at {}", k);
        }
    }

    #[test]
    fn random_pieces_match_reference(s in stream(), points in prop::collection::vec(any::<usize>(), 0..12)) {
        let want = reference::decode(&s, MAX);
        prop_assert_eq!(decode_pieces(cut(&s, &points), MAX), want);
    }

    #[test]
    fn limits_match_reference(s in stream(), points in prop::collection::vec(any::<usize>(), 0..6), max in 0usize..48) {
        let want = reference::decode(&s, max);
        prop_assert_eq!(&decode_pieces([&s[..]], max), &want);
        prop_assert_eq!(&decode_pieces(s.chunks(1), max), &want);
        prop_assert_eq!(&decode_pieces(cut(&s, &points), max), &want);
    }

    #[test]
    fn encoder_round_trips(events in prop::collection::vec(encodable(), 0..8), comments in prop::collection::vec(any::<bool>(), 8), points in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut wire = Vec::new();
        let mut want = Vec::new();
        let mut last_id: Option<Vec<u8>> = None;
        for ((event, id, retry, data), comment) in events.iter().zip(&comments) {
            if *comment {
                write_comment(&mut wire, b"note\r\nmore");
            }
            write_event_full(&mut wire, event.as_deref(), id.as_deref(), *retry, data);
            if let Some(id) = id {
                last_id = (!id.is_empty()).then(|| id.clone());
            }
            let normalized = breaks_as_lf(data);
            want.push(OwnedEvent { event: event.clone().unwrap_or_default(), data: normalized, id: last_id.clone(), retry: *retry });
        }
        let got = decode_pieces(cut(&wire, &points), MAX);
        prop_assert_eq!(got, Decoded { events: want, outcome: Ok(false) });
    }
}

// --- Splitter ---

/// Split `stream` pushed in `pieces`; returns the events and the bytes dropped at finish.
fn split_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Vec<u8>>, usize) {
    let mut s = Splitter::new(1 << 16);
    let mut events = Vec::new();
    for p in pieces {
        s.push(p, |e| events.push(e.to_vec())).unwrap();
    }
    let dropped = s.finish(|e| events.push(e.to_vec()));
    (events, dropped)
}

#[test]
fn splitter_finds_blank_lines_with_every_line_ending() {
    let stream: &[u8] = b"data: a\n\ndata: b\r\n\r\n: c\r\rdata: d\r\n\nevent: x\ndata: e\n";
    let (events, dropped) = split_pieces([stream]);
    let want: [&[u8]; 4] = [
        b"data: a\n\n",
        b"data: b\r\n\r\n",
        b": c\r\r",
        b"data: d\r\n\n",
    ];
    assert_eq!(events, want.map(<[u8]>::to_vec));
    assert_eq!(dropped, b"event: x\ndata: e\n".len());
    // A final lone CR is a complete blank line once the stream has ended.
    let (events, dropped) = split_pieces([&b"data: z\r\r"[..]]);
    assert_eq!((events, dropped), (vec![b"data: z\r\r".to_vec()], 0));
    // Before the end, a trailing CR may be the first half of a CRLF.
    let mut s = Splitter::new(64);
    let mut n = 0;
    s.push(b"data: z\r\n\r", |_| n += 1).unwrap();
    assert_eq!((n, s.pending()), (0, 10));
    assert_eq!(s.pending_bytes(), b"data: z\r\n\r");
    s.push(b"\ndata: y\n\n", |_| n += 1).unwrap();
    assert_eq!((n, s.pending()), (2, 0));
}

#[test]
fn splitter_limits_a_held_event() {
    let mut s = Splitter::new(16);
    assert_eq!(s.push(&[b'x'; 17], |_| {}), Err(SseError::EventTooLarge));
    let mut s = Splitter::new(16);
    s.push(b"data: 0123456", |_| {}).unwrap();
    assert_eq!(s.push(b"789abc", |_| {}), Err(SseError::EventTooLarge));
    // A long event that arrives whole is passed through: only held bytes count.
    let mut s = Splitter::new(16);
    let mut got = Vec::new();
    s.push(b"data: 0123456789abcdef\n\n", |e| got.push(e.len()))
        .unwrap();
    assert_eq!(got, [24]);
}

fn sse_line() -> impl Strategy<Value = Vec<u8>> {
    let content = prop::sample::select(vec![
        &b"data: x"[..],
        b"data:{\"a\":1}",
        b": comment",
        b"event: e",
        b"id: 7",
        b"",
        b"",
    ]);
    let ending = prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r"]);
    (content, ending).prop_map(|(c, e)| [c, e].concat())
}

proptest! {
    /// Events plus the dropped tail are the input byte for byte, every event ends at its
    /// first blank line, and the result is the same at every split point and decodes to
    /// what the whole stream decodes to.
    #[test]
    fn splitter_is_split_invariant(lines in prop::collection::vec(sse_line(), 0..40),
                                   cut in any::<prop::sample::Index>()) {
        let stream: Vec<u8> = lines.concat();
        let whole = split_pieces([&stream[..]]);
        let joined: Vec<u8> = whole.0.concat();
        prop_assert_eq!(joined.len() + whole.1, stream.len());
        prop_assert_eq!(&stream[..joined.len()], &joined[..]);
        for e in &whole.0 {
            prop_assert_eq!(reference::decode(e, 1 << 16).events.len() <= 1, true);
            prop_assert_eq!(super::splitter_event_end_for_test(e), Some(e.len()));
        }
        let at = cut.index(stream.len() + 1);
        prop_assert_eq!(&split_pieces([&stream[..at], &stream[at..]]), &whole);
        prop_assert_eq!(&split_pieces(stream.chunks(1)), &whole);
        let mut both = joined.clone();
        both.extend_from_slice(&stream[joined.len()..]);
        prop_assert_eq!(reference::decode(&joined, 1 << 16).events,
                        reference::decode(&both, 1 << 16).events);
    }
}
