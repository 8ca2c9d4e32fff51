use proptest::prelude::*;

use super::reference::{self, Decoded, OwnedMessage, OwnedValue};
use super::*;

/// Feed `pieces` in order, taking every message, as the gateway does.
fn decode_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>, limits: Limits) -> Decoded {
    let mut d = Decoder::new(limits);
    let mut messages = Vec::new();
    for piece in pieces {
        let mut at = 0;
        loop {
            match d.decode(&piece[at..]) {
                Err(e) => {
                    // Final: the next call fails the same way.
                    assert_eq!(d.decode(b"more").map(|(n, _)| n), Err(e));
                    return Decoded {
                        messages,
                        outcome: Err(e),
                    };
                }
                Ok((used, Step::Complete(m))) => {
                    assert!(used > 0 && at + used <= piece.len());
                    messages.push(OwnedMessage::from(m));
                    at += used;
                }
                Ok((used, Step::Partial)) => {
                    assert_eq!(at + used, piece.len(), "Partial takes all the input");
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

fn decode(stream: &[u8]) -> Decoded {
    decode_pieces([stream], Limits::DEFAULT)
}

/// Decode `stream` whole, byte by byte and split at every boundary; all must agree with
/// `want` and with the reference decoder.
fn check(stream: &[u8], want: &Decoded) {
    assert_eq!(&decode(stream), want, "whole");
    assert_eq!(
        &reference::decode(stream, Limits::DEFAULT),
        want,
        "reference"
    );
    assert_eq!(
        &decode_pieces(stream.chunks(1), Limits::DEFAULT),
        want,
        "byte by byte"
    );
    for k in 0..=stream.len() {
        assert_eq!(
            &decode_pieces([&stream[..k], &stream[k..]], Limits::DEFAULT),
            want,
            "split at {k}"
        );
    }
}

fn ok(messages: Vec<OwnedMessage>) -> Decoded {
    Decoded {
        messages,
        outcome: Ok(0),
    }
}

fn failed(messages: Vec<OwnedMessage>, e: EventStreamError) -> Decoded {
    Decoded {
        messages,
        outcome: Err(e),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn string(name: &str, value: &str) -> (Vec<u8>, OwnedValue) {
    (name.into(), OwnedValue::String(value.into()))
}

/// A frame around a raw headers section, with correct lengths and CRCs, so that header
/// errors can be reached.
fn frame(headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let total = (16 + headers.len() + payload.len()) as u32;
    frame_with_lengths(total, headers.len() as u32, headers, payload)
}

fn frame_with_lengths(total: u32, headers_len: u32, headers: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(&headers_len.to_be_bytes());
    m.extend_from_slice(&reference::crc32(&m).to_be_bytes());
    m.extend_from_slice(headers);
    m.extend_from_slice(payload);
    let crc = reference::crc32(&m);
    m.extend_from_slice(&crc.to_be_bytes());
    m
}

fn encode(messages: &[OwnedMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let headers: Vec<Header<'_>> = m
            .headers
            .iter()
            .map(|(name, value)| Header {
                name,
                value: value.as_value(),
            })
            .collect();
        write_message(&headers, &m.payload, &mut out);
    }
    out
}

// ---- known vectors ----

#[test]
fn empty_message_vector() {
    // aws-c-event-stream's `empty_message` test vector (CRCs rechecked with Python's
    // zlib.crc32): no headers, no payload.
    let wire = hex("000000100000000005c248eb7d98c8ff");
    let empty = OwnedMessage {
        headers: vec![],
        payload: vec![],
    };
    check(&wire, &ok(vec![empty.clone()]));
    assert_eq!(encode(&[empty]), wire);
}

#[test]
fn one_header_vector() {
    // A published vector (the example in the README of emblica/aws-event-stream-parser-rs,
    // built on aws-c-event-stream): `content-type: application/json` and the payload
    // `{'foo':'bar'}`. CRCs rechecked with Python's zlib.crc32.
    let wire = hex(
        "0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e7b27666f6f273a27626172277d8d9c08b1",
    );
    let want = OwnedMessage {
        headers: vec![string("content-type", "application/json")],
        payload: b"{'foo':'bar'}".to_vec(),
    };
    check(&wire, &ok(vec![want.clone()]));
    assert_eq!(encode(&[want]), wire);
}

#[test]
fn every_header_type_vector() {
    // Built and checksummed independently with Python's struct and zlib.crc32.
    let wire = hex(concat!(
        "0000008800000071c3b665900474727565000566616c736501046279746502cf0573686f727403fb",
        "2e03696e7404f8a432eb046c6f6e6705fffffee08e04fb3505627974657306000300ff1006737472",
        "696e6707000568656c6c6f027473080000014f7e9b6f80047575696409000102030405060708090a",
        "0b0c0d0e0f7b2278223a317d22f50edf"
    ));
    let mut uuid = [0u8; 16];
    for (i, b) in uuid.iter_mut().enumerate() {
        *b = i as u8;
    }
    let want = OwnedMessage {
        headers: vec![
            (b"true".to_vec(), OwnedValue::Bool(true)),
            (b"false".to_vec(), OwnedValue::Bool(false)),
            (b"byte".to_vec(), OwnedValue::Byte(-49)),
            (b"short".to_vec(), OwnedValue::Short(-1234)),
            (b"int".to_vec(), OwnedValue::Int(-123_456_789)),
            (b"long".to_vec(), OwnedValue::Long(-1_234_567_890_123)),
            (b"bytes".to_vec(), OwnedValue::Bytes(vec![0, 0xff, 0x10])),
            string("string", "hello"),
            (b"ts".to_vec(), OwnedValue::Timestamp(1_440_938_160_000)),
            (b"uuid".to_vec(), OwnedValue::Uuid(uuid)),
        ],
        payload: b"{\"x\":1}".to_vec(),
    };
    check(&wire, &ok(vec![want.clone()]));
    assert_eq!(encode(&[want]), wire);
}

#[test]
fn crc32fast_agrees_with_the_bitwise_reference() {
    // The check value of CRC-32/IEEE.
    assert_eq!(reference::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
}

// ---- Bedrock-shaped messages ----

fn bedrock(kind: &str, type_header: &str, type_value: &str, payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let headers = [
        Header {
            name: type_header.as_bytes(),
            value: HeaderValue::String(type_value.as_bytes()),
        },
        Header {
            name: b":content-type",
            value: HeaderValue::String(b"application/json"),
        },
        Header {
            name: b":message-type",
            value: HeaderValue::String(kind.as_bytes()),
        },
    ];
    write_message(&headers, payload.as_bytes(), &mut out);
    out
}

#[test]
fn bedrock_accessors() {
    let mut wire = bedrock(
        "event",
        ":event-type",
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
    );
    wire.extend(bedrock(
        "exception",
        ":exception-type",
        "throttlingException",
        r#"{"message":"slow down"}"#,
    ));
    let mut error = Vec::new();
    write_message(
        &[
            Header {
                name: b":message-type",
                value: HeaderValue::String(b"error"),
            },
            Header {
                name: b":error-code",
                value: HeaderValue::String(b"InternalFailure"),
            },
            Header {
                name: b":error-message",
                value: HeaderValue::String(b"boom"),
            },
        ],
        b"",
        &mut error,
    );
    wire.extend(&error);

    let mut d = Decoder::default();
    let mut at = 0;
    let mut seen = Vec::new();
    let owned = |s: Option<&[u8]>| s.map(|s| String::from_utf8(s.to_vec()).unwrap());
    while let (used, Step::Complete(m)) = d.decode(&wire[at..]).unwrap() {
        at += used;
        seen.push((
            m.message_type(),
            owned(m.event_type()),
            owned(m.exception_type()),
            owned(m.error_code()),
            owned(m.error_message()),
            owned(m.content_type()),
            m.payload.len(),
        ));
    }
    assert_eq!(at, wire.len());
    let s = |s: &str| Some(s.to_string());
    let json = s("application/json");
    assert_eq!(
        seen,
        [
            (
                MessageType::Event,
                s("contentBlockDelta"),
                None,
                None,
                None,
                json.clone(),
                45
            ),
            (
                MessageType::Exception,
                None,
                s("throttlingException"),
                None,
                None,
                json,
                23
            ),
            (
                MessageType::Error,
                None,
                None,
                s("InternalFailure"),
                s("boom"),
                None,
                0
            ),
        ]
    );
}

#[test]
fn message_type_is_unknown_when_missing_mistyped_or_other() {
    let typed = |value: HeaderValue<'_>| {
        let mut out = Vec::new();
        write_message(
            &[Header {
                name: b":message-type",
                value,
            }],
            b"",
            &mut out,
        );
        let mut d = Decoder::default();
        match d.decode(&out).unwrap() {
            (_, Step::Complete(m)) => m.message_type(),
            (_, Step::Partial) => panic!("whole message"),
        }
    };
    assert_eq!(typed(HeaderValue::String(b"event")), MessageType::Event);
    assert_eq!(typed(HeaderValue::String(b"Event")), MessageType::Unknown);
    assert_eq!(typed(HeaderValue::Bytes(b"event")), MessageType::Unknown);
    let mut d = Decoder::default();
    let bare = frame(b"", b"x");
    let (_, step) = d.decode(&bare).unwrap();
    let Step::Complete(m) = step else {
        panic!("whole message")
    };
    assert_eq!(m.message_type(), MessageType::Unknown);
    assert_eq!(m.header(b":message-type"), None);
}

#[test]
fn first_of_duplicate_headers_wins() {
    let mut out = Vec::new();
    write_message(
        &[
            Header {
                name: b":event-type",
                value: HeaderValue::String(b"a"),
            },
            Header {
                name: b":event-type",
                value: HeaderValue::String(b"b"),
            },
        ],
        b"",
        &mut out,
    );
    let mut d = Decoder::default();
    let (_, Step::Complete(m)) = d.decode(&out).unwrap() else {
        panic!("whole message")
    };
    assert_eq!(m.event_type(), Some(&b"a"[..]));
    assert_eq!(m.headers().count(), 2);
}

// ---- errors ----

#[test]
fn each_error_from_a_crafted_frame() {
    let good = frame(&[1, b'a', 0], b"p");
    let good_msg = OwnedMessage {
        headers: vec![(b"a".to_vec(), OwnedValue::Bool(true))],
        payload: b"p".to_vec(),
    };
    let cases: Vec<(Vec<u8>, EventStreamError)> = vec![
        (frame(&[0, 0], b""), EventStreamError::EmptyHeaderName),
        (frame(&[1, b'a', 10], b""), EventStreamError::BadHeaderType),
        (
            frame(&[1, b'a', 0xff], b""),
            EventStreamError::BadHeaderType,
        ),
        (frame(&[3, b'a'], b""), EventStreamError::TruncatedHeader),
        (frame(&[1, b'a'], b""), EventStreamError::TruncatedHeader),
        (
            frame(&[1, b'a', 4, 0, 0], b""),
            EventStreamError::TruncatedHeader,
        ),
        (
            frame(&[1, b'a', 7, 0, 5, b'x'], b""),
            EventStreamError::TruncatedHeader,
        ),
        (frame(&[1, b'a', 9], b""), EventStreamError::TruncatedHeader),
        // Total below the minimum, and headers that do not fit.
        (
            frame_with_lengths(15, 0, b"", b""),
            EventStreamError::BadLength,
        ),
        (
            frame_with_lengths(0, 0, b"", b""),
            EventStreamError::BadLength,
        ),
        (
            frame_with_lengths(17, 2, b"", b""),
            EventStreamError::BadLength,
        ),
        (
            frame_with_lengths(16, u32::MAX, b"", b""),
            EventStreamError::BadLength,
        ),
        (
            frame_with_lengths(u32::MAX, 0, b"", b""),
            EventStreamError::MessageTooLarge,
        ),
    ];
    for (bad, e) in cases {
        // The good message before the bad one is delivered.
        let stream = [&good[..], &bad[..]].concat();
        check(&stream, &failed(vec![good_msg.clone()], e));
    }
}

#[test]
fn every_corrupted_byte_is_caught_by_the_right_crc() {
    let wire = bedrock(
        "event",
        ":event-type",
        "messageStop",
        r#"{"stopReason":"end_turn"}"#,
    );
    for i in 0..wire.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = wire.clone();
            bad[i] ^= flip;
            let want = if i < PRELUDE_BYTES {
                EventStreamError::BadPreludeCrc
            } else {
                EventStreamError::BadMessageCrc
            };
            assert_eq!(decode(&bad), failed(vec![], want), "byte {i} ^ {flip:#x}");
            assert_eq!(
                reference::decode(&bad, Limits::DEFAULT),
                failed(vec![], want)
            );
        }
    }
}

#[test]
fn prelude_errors_come_before_the_rest_arrives() {
    // Only the prelude: a bad length is known at once, not when the stream ends.
    let bad = frame_with_lengths(u32::MAX, 0, b"", b"");
    let mut d = Decoder::default();
    assert_eq!(d.decode(&bad[..11]).unwrap().0, 11);
    assert_eq!(d.pending(), 11);
    assert_eq!(
        d.decode(&bad[11..12]).map(|(n, _)| n),
        Err(EventStreamError::MessageTooLarge)
    );
    // Final until reset; reset keeps working.
    assert_eq!(
        d.decode(b"").map(|(n, _)| n),
        Err(EventStreamError::MessageTooLarge)
    );
    d.reset();
    assert_eq!(d.pending(), 0);
    let good = frame(b"", b"ok");
    let (used, step) = d.decode(&good).unwrap();
    assert_eq!(used, good.len());
    assert!(matches!(step, Step::Complete(m) if m.payload == b"ok"));
}

#[test]
fn limits_are_exact() {
    let wire = frame(&[1, b'a', 7, 0, 3, b'x', b'y', b'z'], b"payload");
    let total = wire.len();
    let headers = 8;
    let want = reference::decode(&wire, Limits::DEFAULT);
    assert_eq!(want.messages.len(), 1);
    let at = |message_bytes_max, headers_bytes_max| Limits {
        message_bytes_max,
        headers_bytes_max,
    };
    for pieces in [wire.chunks(1).collect::<Vec<_>>(), vec![&wire[..]]] {
        let p = || pieces.iter().copied();
        assert_eq!(decode_pieces(p(), at(total, headers)), want);
        assert_eq!(
            decode_pieces(p(), at(total - 1, headers)),
            failed(vec![], EventStreamError::MessageTooLarge)
        );
        assert_eq!(
            decode_pieces(p(), at(total, headers - 1)),
            failed(vec![], EventStreamError::HeadersTooLarge)
        );
    }
    assert_eq!(
        reference::decode(&wire, at(total - 1, headers)).outcome,
        Err(EventStreamError::MessageTooLarge)
    );
}

#[test]
fn a_cut_stream_reports_pending_bytes() {
    let wire = frame(b"", b"0123456789");
    for k in 0..wire.len() {
        assert_eq!(decode(&wire[..k]).outcome, Ok(k), "cut at {k}");
        assert_eq!(
            reference::decode(&wire[..k], Limits::DEFAULT).outcome,
            Ok(k)
        );
    }
}

// ---- buffers ----

#[test]
fn whole_messages_are_not_copied() {
    let mut wire = Vec::new();
    for i in 0..20 {
        wire.extend(bedrock(
            "event",
            ":event-type",
            "chunk",
            &"x".repeat(i * 10),
        ));
    }
    let mut d = Decoder::default();
    let mut at = 0;
    let mut n = 0;
    while let (used, Step::Complete(m)) = d.decode(&wire[at..]).unwrap() {
        // Borrowed from the input.
        assert!(wire.as_ptr_range().contains(&m.payload.as_ptr()) || m.payload.is_empty());
        at += used;
        n += 1;
    }
    assert_eq!((n, at), (20, wire.len()));
    assert_eq!(d.capacity(), 0);
}

#[test]
fn buffer_stops_growing_once_warm_and_is_bounded_by_the_largest_message() {
    let mut wire = Vec::new();
    for i in 0..40 {
        wire.extend(bedrock(
            "event",
            ":event-type",
            "chunk",
            &"y".repeat(i % 7 * 30),
        ));
    }
    let largest = bedrock("event", ":event-type", "chunk", &"y".repeat(180)).len();
    let mut d = Decoder::default();
    let mut warm = None;
    for round in 0..10 {
        for piece in wire.chunks(37) {
            let mut at = 0;
            while let (used, Step::Complete(_)) = d.decode(&piece[at..]).unwrap() {
                at += used;
            }
        }
        if round == 1 {
            warm = Some(d.capacity());
        }
    }
    assert_eq!(d.pending(), 0);
    assert_eq!(Some(d.capacity()), warm);
    assert!(d.capacity() <= 2 * largest, "{} vs {largest}", d.capacity());
}

// ---- encoder ----

#[test]
#[should_panic(expected = "empty event stream header name")]
fn encoder_refuses_an_empty_name() {
    let mut out = Vec::new();
    write_message(
        &[Header {
            name: b"",
            value: HeaderValue::Bool(true),
        }],
        b"",
        &mut out,
    );
}

#[test]
fn encoder_appends() {
    let mut out = b"prefix".to_vec();
    write_message(&[], b"a", &mut out);
    write_message(&[], b"b", &mut out);
    assert_eq!(&out[..6], b"prefix");
    let got = decode(&out[6..]);
    assert_eq!(got.outcome, Ok(0));
    let payloads: Vec<_> = got.messages.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads, [b"a".to_vec(), b"b".to_vec()]);
}

// ---- property tests ----

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        any::<bool>().prop_map(OwnedValue::Bool),
        any::<i8>().prop_map(OwnedValue::Byte),
        any::<i16>().prop_map(OwnedValue::Short),
        any::<i32>().prop_map(OwnedValue::Int),
        any::<i64>().prop_map(OwnedValue::Long),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(OwnedValue::Bytes),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(OwnedValue::String),
        any::<i64>().prop_map(OwnedValue::Timestamp),
        any::<[u8; 16]>().prop_map(OwnedValue::Uuid),
    ]
}

fn message() -> impl Strategy<Value = OwnedMessage> {
    let name = prop_oneof![
        prop::sample::select(&[":event-type", ":message-type", ":content-type"][..])
            .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..12),
    ];
    (
        prop::collection::vec((name, value()), 0..6),
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(headers, payload)| OwnedMessage { headers, payload })
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

/// Frames around random header bytes (valid CRCs), to reach the header errors.
fn raw_frames() -> impl Strategy<Value = Vec<u8>> {
    let section = prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(&[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9][..]),
            1 => any::<u8>(),
        ],
        0..24,
    );
    prop::collection::vec((section, prop::collection::vec(any::<u8>(), 0..8)), 1..4).prop_map(
        |frames| {
            frames
                .iter()
                .flat_map(|(h, p)| frame(h, p))
                .collect::<Vec<u8>>()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_split_at_every_boundary(messages in prop::collection::vec(message(), 0..4)) {
        let wire = encode(&messages);
        let want = Decoded { messages, outcome: Ok(0) };
        prop_assert_eq!(&reference::decode(&wire, Limits::DEFAULT), &want);
        prop_assert_eq!(&decode(&wire), &want);
        prop_assert_eq!(&decode_pieces(wire.chunks(1), Limits::DEFAULT), &want);
        for k in 0..=wire.len() {
            prop_assert_eq!(&decode_pieces([&wire[..k], &wire[k..]], Limits::DEFAULT), &want, "split at {}", k);
        }
    }

    #[test]
    fn random_pieces_match_reference(messages in prop::collection::vec(message(), 0..6), points in prop::collection::vec(any::<usize>(), 0..12), cut_end in 0usize..8) {
        let wire = encode(&messages);
        let wire = &wire[..wire.len().saturating_sub(cut_end)];
        let want = reference::decode(wire, Limits::DEFAULT);
        prop_assert_eq!(decode_pieces(cut(wire, &points), Limits::DEFAULT), want);
    }

    #[test]
    fn corrupted_streams_match_reference(messages in prop::collection::vec(message(), 1..4), at in any::<usize>(), flip in 1u8.., points in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut wire = encode(&messages);
        let i = at % wire.len();
        wire[i] ^= flip;
        let want = reference::decode(&wire, Limits::DEFAULT);
        prop_assert!(want.outcome.is_err(), "a flipped byte is always caught");
        prop_assert_eq!(&decode_pieces(cut(&wire, &points), Limits::DEFAULT), &want);
        prop_assert_eq!(&decode_pieces(wire.chunks(1), Limits::DEFAULT), &want);
    }

    #[test]
    fn raw_frames_match_reference(wire in raw_frames(), points in prop::collection::vec(any::<usize>(), 0..8)) {
        let want = reference::decode(&wire, Limits::DEFAULT);
        prop_assert_eq!(&decode(&wire), &want);
        prop_assert_eq!(&decode_pieces(cut(&wire, &points), Limits::DEFAULT), &want);
        prop_assert_eq!(&decode_pieces(wire.chunks(1), Limits::DEFAULT), &want);
    }

    #[test]
    fn limits_match_reference(messages in prop::collection::vec(message(), 1..4), message_max in 0usize..160, headers_max in 0usize..96, points in prop::collection::vec(any::<usize>(), 0..8)) {
        let wire = encode(&messages);
        let limits = Limits { message_bytes_max: message_max, headers_bytes_max: headers_max };
        let want = reference::decode(&wire, limits);
        prop_assert_eq!(&decode_pieces([&wire[..]], limits), &want);
        prop_assert_eq!(&decode_pieces(cut(&wire, &points), limits), &want);
    }

    #[test]
    fn garbage_matches_reference(wire in prop::collection::vec(any::<u8>(), 0..64), points in prop::collection::vec(any::<usize>(), 0..8)) {
        let want = reference::decode(&wire, Limits::DEFAULT);
        prop_assert_eq!(&decode_pieces(cut(&wire, &points), Limits::DEFAULT), &want);
    }
}
