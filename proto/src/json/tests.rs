use proptest::prelude::*;

use super::JsonErrorKind::*;
use super::*;

fn scan(body: &[u8]) -> Result<(), JsonError> {
    scan_object(body, &[], &mut [])
}

fn kind_of(body: &[u8]) -> Option<JsonErrorKind> {
    scan(body).err().map(|e| e.kind)
}

/// serde_json's verdict: `Some(true)` when it parses an object. `None` where we differ
/// on purpose (see the module docs): numbers that overflow f64, and its recursion limit.
fn serde_accepts(body: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => Some(v.is_object()),
        Err(e) => {
            let msg = e.to_string();
            if msg.contains("number out of range") || msg.contains("recursion limit") {
                None
            } else {
                Some(false)
            }
        }
    }
}

const VALID: &[&[u8]] = &[
    b"{}",
    b" \t\r\n{ \t\r\n} \t\r\n",
    b"{\"a\":1}",
    b"{\"a\":-0}",
    b"{\"a\":0.5}",
    b"{\"a\":-12.5e-3}",
    b"{\"a\":1E+5}",
    b"{\"a\":1e400}",
    b"{\"a\":123456789012345678901234567890}",
    b"{\"a\":true,\"b\":false,\"c\":null}",
    b"{\"a\":[],\"b\":{},\"c\":[[],[{}]]}",
    b"{\"a\":[1, \"x\", true, null, {\"b\": [2]}]}",
    b"{\"\":\"\"}",
    b"{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
    b"{\"a\":\"\\u0000\\u001f\\u00e9\\uFFFF\"}",
    b"{\"a\":\"\\ud83d\\ude00\"}",
    b"{\"a\":\"\\uD834\\uDD1E\"}",
    "{\"a\":\"é ✓ 😀\"}".as_bytes(),
    b"{\"a\":\"\x7f\"}",
    b"{\"a\":1,\"a\":2}",
];

/// Invalid documents and the error each must produce.
const INVALID: &[(&[u8], JsonErrorKind)] = &[
    (b"", Eof),
    (b"   ", Eof),
    (b"{", Eof),
    (b"{\"a\"", Eof),
    (b"{\"a\":", Eof),
    (b"{\"a\":1", Eof),
    (b"{\"a\":\"x", Eof),
    (b"{\"a\":tr", Eof),
    (b"{\"a\":-", Eof),
    (b"{\"a\":1.", Eof),
    (b"{\"a\":\"\\u12", Eof),
    (b"{\"a\":01}", BadNumber),
    (b"{\"a\":-01}", BadNumber),
    (b"{\"a\":00}", BadNumber),
    (b"{\"a\":1.}", BadNumber),
    (b"{\"a\":1.e5}", BadNumber),
    (b"{\"a\":-}", BadNumber),
    (b"{\"a\":-a}", BadNumber),
    (b"{\"a\":1e}", BadNumber),
    (b"{\"a\":1e+}", BadNumber),
    (b"{\"a\":.5}", Unexpected),
    (b"{\"a\":+1}", Unexpected),
    (b"{\"a\":0x1}", Unexpected),
    (b"{\"a\":NaN}", Unexpected),
    (b"{\"a\":Infinity}", Unexpected),
    (b"{\"a\":-Infinity}", BadNumber),
    (b"{\"a\":1 2}", Unexpected),
    (b"{\"a\":tru}", Unexpected),
    (b"{\"a\":True}", Unexpected),
    (b"{\"a\":nulll}", Unexpected),
    (b"{\"a\":1,}", Unexpected),
    (b"{,}", Unexpected),
    (b"{\"a\" 1}", Unexpected),
    (b"{\"a\":1 \"b\":2}", Unexpected),
    (b"{'a':1}", Unexpected),
    (b"{a:1}", Unexpected),
    (b"{\"a\":[1,]}", Unexpected),
    (b"{\"a\":[1 2]}", Unexpected),
    (b"{\"a\":[1,2]]}", Unexpected),
    (b"{\"a\":[1}", Unexpected),
    (b"{\"a\":{]}", Unexpected),
    (b"{\x0b}", Unexpected),
    (b"{\x0c}", Unexpected),
    (b"{\xc2\xa0}", Unexpected),
    (b"{\"a\":\"\\u12\"}", BadString),
    (b"{\"a\":\"\\u12G4\"}", BadString),
    (b"{\"a\":\"\\x\"}", BadString),
    (b"{\"a\":\"\\U0041\"}", BadString),
    (b"{\"a\":\"\\ud800\"}", BadString),
    (b"{\"a\":\"\\udc00\"}", BadString),
    (b"{\"a\":\"\\ud800\\u0041\"}", BadString),
    (b"{\"a\":\"\\ud800\\ud800\"}", BadString),
    (b"{\"a\":\"\\ud800\\n\"}", BadString),
    (b"{\"a\":\"\\ude00\\ud83d\"}", BadString),
    (b"{\"a\":\"\x01\"}", BadString),
    (b"{\"a\":\"\t\"}", BadString),
    (b"{\"a\":\"\n\"}", BadString),
    (b"{\"a\":\"\xff\"}", BadString),
    (b"{\"a\":\"\xc0\x80\"}", BadString),
    (b"{\"a\":\"\xed\xa0\x80\"}", BadString),
    (b"{\"a\":\"\xe2\x9c\"}", BadString),
    (b"{\"\xff\":1}", BadString),
    (b"[1]", NotAnObject),
    (b"\"x\"", NotAnObject),
    (b"1", NotAnObject),
    (b"null", NotAnObject),
    (b"\xef\xbb\xbf{}", NotAnObject),
    (b"{}x", TrailingBytes),
    (b"{} {}", TrailingBytes),
    (b"{}\x00", TrailingBytes),
    (b"{\"a\":1}}", TrailingBytes),
];

#[test]
fn valid_documents_are_accepted() {
    for doc in VALID {
        assert_eq!(scan(doc), Ok(()), "{}", String::from_utf8_lossy(doc));
    }
}

#[test]
fn invalid_documents_are_rejected_with_their_reason() {
    for (doc, kind) in INVALID {
        assert_eq!(
            kind_of(doc),
            Some(*kind),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
}

#[test]
fn the_tables_agree_with_serde_json() {
    for doc in VALID {
        assert_ne!(
            serde_accepts(doc),
            Some(false),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
    for (doc, _) in INVALID {
        assert_eq!(
            serde_accepts(doc),
            Some(false),
            "{}",
            String::from_utf8_lossy(doc)
        );
    }
}

#[test]
fn error_offsets_point_at_the_problem() {
    assert_eq!(
        scan(b"{\"a\":01}"),
        Err(JsonError {
            offset: 6,
            kind: BadNumber
        })
    );
    assert_eq!(
        scan(b"{\"a\":\"x\x01\"}"),
        Err(JsonError {
            offset: 7,
            kind: BadString
        })
    );
    assert_eq!(
        scan(b"{\"a\":\"\\ud800\"}"),
        Err(JsonError {
            offset: 12,
            kind: BadString
        })
    );
    assert_eq!(
        scan(b"{\"a\":\"\xc3\xa9\xff\"}"),
        Err(JsonError {
            offset: 8,
            kind: BadString
        })
    );
    assert_eq!(
        scan(b"{} x"),
        Err(JsonError {
            offset: 3,
            kind: TrailingBytes
        })
    );
    assert_eq!(
        scan(b"{\"a\":1,}"),
        Err(JsonError {
            offset: 7,
            kind: Unexpected
        })
    );
}

#[test]
fn string_runs_are_checked_at_every_position() {
    // Runs shorter and longer than a word, with the odd byte at each position, so the
    // word-at-a-time check and its overlapping tail are both exercised.
    for len in [1, 7, 8, 9, 15, 16, 17, 40] {
        for p in 0..len {
            let mut run = vec![b'a'; len];
            let doc = |run: &[u8]| [&b"{\"k\":\""[..], run, b"\"}"].concat();
            run[p] = 0x1f;
            assert_eq!(
                scan(&doc(&run)),
                Err(JsonError {
                    offset: 6 + p,
                    kind: BadString
                }),
                "{len} {p}"
            );
            run[p] = 0xff;
            assert_eq!(
                scan(&doc(&run)),
                Err(JsonError {
                    offset: 6 + p,
                    kind: BadString
                }),
                "{len} {p}"
            );
            run[p] = 0x7f;
            assert_eq!(scan(&doc(&run)), Ok(()));
            run[p] = b' ';
            assert_eq!(scan(&doc(&run)), Ok(()));
            let mut utf8 = run.clone();
            utf8.splice(p..p + 1, "é".bytes());
            assert_eq!(scan(&doc(&utf8)), Ok(()));
            utf8.truncate(p + 1);
            assert_eq!(kind_of(&doc(&utf8)), Some(BadString), "cut UTF-8 sequence");
        }
    }
}

fn nested(depth: usize) -> Vec<u8> {
    // depth containers in all: the top-level object, then arrays.
    let mut doc = b"{\"a\":".to_vec();
    doc.extend(std::iter::repeat_n(b'[', depth - 1));
    doc.extend(std::iter::repeat_n(b']', depth - 1));
    doc.push(b'}');
    doc
}

#[test]
fn nesting_is_limited_to_depth_max() {
    assert_eq!(scan(&nested(DEPTH_MAX)), Ok(()));
    let err = scan(&nested(DEPTH_MAX + 1)).unwrap_err();
    assert_eq!(err.kind, TooDeep);
    assert_eq!(err.offset, 5 + DEPTH_MAX - 1);
    // Alternating objects and arrays exercise every word of the bit stack.
    let mut doc = Vec::new();
    for _ in 0..DEPTH_MAX / 2 {
        doc.extend_from_slice(b"{\"k\":[");
    }
    doc.extend_from_slice(b"1");
    for _ in 0..DEPTH_MAX / 2 {
        doc.extend_from_slice(b"]}");
    }
    assert_eq!(scan(&doc), Ok(()));
    assert_eq!(serde_accepts(&doc), None, "serde_json stops at 127 levels");
    doc.truncate(doc.len() - 2);
    doc.extend_from_slice(b"}]");
    assert_eq!(kind_of(&doc), Some(Unexpected));
}

#[test]
fn spans_of_requested_members() {
    let body = br#"{"model": "gpt-4o", "messages":[{"model":"inner","stream":1}], "stream" :true, "n":{"a":[1]}, "t":null, "x":-1.5}"#;
    let keys: [&[u8]; 6] = [b"model", b"stream", b"n", b"t", b"x", b"absent"];
    let mut found = [Some(Value {
        start: 0,
        end: 0,
        kind: Kind::Null,
    }); 6];
    scan_object(body, &keys, &mut found).unwrap();
    let got: Vec<_> = found
        .iter()
        .map(|v| v.map(|v| (v.bytes(body), v.kind)))
        .collect();
    assert_eq!(
        got,
        [
            Some((&b"\"gpt-4o\""[..], Kind::String)),
            Some((&b"true"[..], Kind::Bool)),
            Some((&b"{\"a\":[1]}"[..], Kind::Object)),
            Some((&b"null"[..], Kind::Null)),
            Some((&b"-1.5"[..], Kind::Number)),
            None,
        ]
    );
}

#[test]
fn watched_names_compare_decoded_and_must_be_unique() {
    // An escaped spelling is the same member name: a second `model` is an error, at the
    // offset of the second value.
    let body = br#"{"model":"a","mod\u0065l":"b","x":1}"#;
    let mut found = [None; 1];
    let e = scan_object(body, &[b"model"], &mut found).unwrap_err();
    assert_eq!(e.kind, JsonErrorKind::DuplicateKey);
    assert_eq!(&body[e.offset..e.offset + 3], b"\"b\"");
    // Found through the escape when it is the only one.
    let body = br#"{"mod\u0065l":["c"],"x":{"model":1},"model2":2}"#;
    let keys: [&[u8]; 3] = [b"model", b"x", b"model"];
    let mut found = [None; 4];
    found[3] = Some(Value {
        start: 1,
        end: 2,
        kind: Kind::Null,
    });
    scan_object(body, &keys, &mut found).unwrap();
    assert_eq!(found[0].map(|v| v.bytes(body)), Some(&b"[\"c\"]"[..]));
    assert_eq!(found[0].map(|v| v.kind), Some(Kind::Array));
    assert_eq!(found[2], found[0], "a key listed twice fills both slots");
    assert_eq!(
        found[1].map(|v| v.kind),
        Some(Kind::Object),
        "nested `model` is not top-level"
    );
    assert!(found[3].is_some(), "slots past keys.len() are left alone");
    // Duplicates of keys nobody asked for are fine.
    assert!(scan_object(br#"{"a":1,"a":2}"#, &[b"model"], &mut found).is_ok());
}

#[test]
fn unescape_decodes_valid_strings() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"\"\"", b""),
        (b"\"plain\"", b"plain"),
        (
            br#""a\"b\\c\/d\be\ff\ng\rh\ti""#,
            b"a\"b\\c/d\x08e\x0cf\ng\rh\ti",
        ),
        (br#""\u0041\u00e9\u20AC""#, "Aé€".as_bytes()),
        (br#""\ud83d\ude00!""#, "😀!".as_bytes()),
        (br#""\u0000""#, b"\0"),
        ("\"é\"".as_bytes(), "é".as_bytes()),
    ];
    for (raw, want) in cases {
        let mut out = b"prefix:".to_vec();
        assert!(
            unescape_string(raw, &mut out),
            "{}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(&out[7..], *want);
    }
}

#[test]
fn unescape_rejects_invalid_strings_and_leaves_out_untouched() {
    let cases: &[&[u8]] = &[
        b"",
        b"\"",
        b"abc",
        b"\"abc",
        b"\"a\"b\"",
        b"\"a\" ",
        br#""\ud800""#,
        br#""\udc00""#,
        br#""\ud800\u0041""#,
        br#""\u12""#,
        br#""\q""#,
        b"\"\x01\"",
        b"\"\xff\"",
        b"'a'",
    ];
    for raw in cases {
        let mut out = b"keep".to_vec();
        assert!(
            !unescape_string(raw, &mut out),
            "{}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(out, b"keep");
    }
}

#[test]
fn write_string_escapes_what_it_must() {
    let mut out = Vec::new();
    write_string(&mut out, b"a\"b\\c\n\r\t\x08\x0c\x00\x1f\x7f/\xc3\xa9");
    assert_eq!(
        out,
        b"\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0000\\u001f\x7f/\xc3\xa9\""
    );
    out.clear();
    write_string(&mut out, b"");
    assert_eq!(out, b"\"\"");
}

// ---- property tests ----

/// Arbitrary JSON values with strings that need escaping and non-ASCII text.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        (-1e12f64..1e12).prop_map(J::from),
        "[a-z \"\\\\/\n\t\u{1}\u{7f}é😀]{0,12}".prop_map(J::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
            prop::collection::vec(("[a-z\"é]{0,4}", inner), 0..6)
                .prop_map(|members| J::Object(members.into_iter().collect())),
        ]
    })
}

/// A valid document: an object, compact or pretty-printed.
fn json_document() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(("[a-z]{0,6}", json_value()), 0..6),
        any::<bool>(),
    )
        .prop_map(|(members, pretty)| {
            let object = serde_json::Value::Object(members.into_iter().collect());
            if pretty {
                serde_json::to_vec_pretty(&object).unwrap()
            } else {
                serde_json::to_vec(&object).unwrap()
            }
        })
}

/// Bytes that are interesting to JSON's grammar, for insertion and replacement.
const INTERESTING: &[u8] =
    b"{}[]:,\"\\/ \t\n\r\x0b\x00\x01\x1f-+.eE0123456789tfnulasx\x7f\xc3\xa9\xed\xa0\xff";

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop::sample::select(INTERESTING);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..8).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(doc: &mut Vec<u8>, m: &Mutation) {
    if doc.is_empty() {
        return;
    }
    let at = |i: usize| i % doc.len();
    match *m {
        Mutation::Delete(i) => {
            doc.remove(at(i));
        }
        Mutation::Insert(i, b) => doc.insert(at(i), b),
        Mutation::Replace(i, b) => {
            let i = at(i);
            doc[i] = b;
        }
        Mutation::Truncate(i) => doc.truncate(at(i)),
        Mutation::Duplicate(i, n) => {
            let i = at(i);
            let piece = doc[i..(i + n).min(doc.len())].to_vec();
            doc.splice(i..i, piece);
        }
    }
}

/// Token soup: mostly invalid, but valid often enough to exercise both outcomes.
fn token_soup() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&str] = &[
        "{",
        "{",
        "}",
        "}",
        "[",
        "]",
        ":",
        ":",
        ",",
        ",",
        "\"k\"",
        "\"k\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\ud800\\udc00\"",
        "\"\\udc00\"",
        "\"\u{1}\"",
        "\"é\"",
        "\"\\q\"",
        "\"\\/\"",
        "0",
        "-0",
        "1",
        "-",
        ".",
        "e",
        "+",
        "01",
        "1.5",
        "2e-3",
        "true",
        "fals",
        "null",
        " ",
        "\t",
        "\n",
        "\u{b}",
        "\"",
        "\\",
        "x",
    ];
    prop::collection::vec(prop::sample::select(TOKENS), 0..24)
        .prop_map(|toks| toks.concat().into_bytes())
}

fn check_agreement(doc: &[u8]) -> Result<(), TestCaseError> {
    if let Some(serde_ok) = serde_accepts(doc) {
        let ours = scan(doc);
        prop_assert_eq!(
            ours.is_ok(),
            serde_ok,
            "{:?} on {:?}",
            ours,
            String::from_utf8_lossy(doc)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_documents_are_accepted(doc in json_document()) {
        prop_assert_eq!(scan(&doc), Ok(()));
    }

    #[test]
    fn mutated_documents_agree_with_serde_json(doc in json_document(), muts in prop::collection::vec(mutation(), 1..4)) {
        let mut doc = doc;
        for m in &muts {
            apply(&mut doc, m);
        }
        check_agreement(&doc)?;
    }

    #[test]
    fn token_soup_agrees_with_serde_json(doc in token_soup()) {
        check_agreement(&doc)?;
    }

    #[test]
    fn random_bytes_agree_with_serde_json(doc in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut with_brace = b"{".to_vec();
        with_brace.extend_from_slice(&doc);
        check_agreement(&with_brace)?;
        check_agreement(&doc)?;
    }

    /// Members written by hand (so names repeat and whitespace varies): every requested
    /// key's span parses to what serde_json sees for that key (names decoded), and a
    /// watched key written twice is `DuplicateKey`.
    #[test]
    fn spans_match_serde_json(
        members in prop::collection::vec((prop::sample::select(&["model", r"mod\u0065l", "stream", "messages", "a", ""][..]), json_value()), 0..8),
        ws in prop::collection::vec(prop::sample::select(&["", " ", "\n  ", "\t", "\r\n"][..]), 4),
    ) {
        let mut body = format!("{}{{", ws[0]).into_bytes();
        for (n, (name, value)) in members.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(format!("{}\"{}\"{}:{}", ws[1], name, ws[2], ws[3]).as_bytes());
            body.extend_from_slice(&serde_json::to_vec(value).unwrap());
            body.extend_from_slice(ws[1].as_bytes());
        }
        body.extend_from_slice(format!("}}{}", ws[0]).as_bytes());

        let keys: [&[u8]; 4] = [b"model", b"stream", b"", b"absent"];
        let mut found = [None; 4];
        let decoded = |n: &str| n.replace(r"\u0065", "e");
        let repeated = keys.iter().any(|k| {
            members.iter().filter(|(n, _)| decoded(n).as_bytes() == *k).count() > 1
        });
        let scanned = scan_object(&body, &keys, &mut found);
        if repeated {
            prop_assert_eq!(scanned.map_err(|e| e.kind), Err(JsonErrorKind::DuplicateKey));
            return Ok(());
        }
        prop_assert_eq!(scanned, Ok(()));
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for (key, slot) in keys.iter().zip(found) {
            let want = parsed.get(std::str::from_utf8(key).unwrap());
            match (slot, want) {
                (None, None) => {}
                (Some(v), Some(want)) => {
                    let got: serde_json::Value = serde_json::from_slice(v.bytes(&body)).unwrap();
                    prop_assert_eq!(&got, want);
                    let kind = match want {
                        serde_json::Value::Null => Kind::Null,
                        serde_json::Value::Bool(_) => Kind::Bool,
                        serde_json::Value::Number(_) => Kind::Number,
                        serde_json::Value::String(_) => Kind::String,
                        serde_json::Value::Array(_) => Kind::Array,
                        serde_json::Value::Object(_) => Kind::Object,
                    };
                    prop_assert_eq!(v.kind, kind);
                }
                (slot, want) => prop_assert!(false, "{:?} vs {:?}", slot, want),
            }
        }
    }

    #[test]
    fn write_string_round_trips(s in any::<String>()) {
        let mut out = Vec::new();
        write_string(&mut out, s.as_bytes());
        let via_serde: String = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(&via_serde, &s);
        let mut back = Vec::new();
        prop_assert!(unescape_string(&out, &mut back));
        prop_assert_eq!(back, s.as_bytes());
    }

    #[test]
    fn unescape_agrees_with_serde_json(raw in "\"([a-z\"\\\\/é\u{1}]|\\\\[\"\\\\/bfnrtux]|\\\\u[0-9a-fA-F]{4}|\\\\ud[89ab][0-9a-f]{2}(\\\\ud[c-f][0-9a-f]{2})?){0,6}\"?") {
        let mut out = Vec::new();
        let ours = unescape_string(raw.as_bytes(), &mut out);
        match serde_json::from_str::<String>(&raw) {
            Ok(s) => {
                prop_assert!(ours, "rejected {:?}", raw);
                prop_assert_eq!(out, s.into_bytes());
            }
            Err(_) => prop_assert!(!ours, "accepted {:?}", raw),
        }
    }
}
