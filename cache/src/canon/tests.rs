use proptest::prelude::*;

use super::*;

fn key(body: &str) -> Key {
    request_key(b"chat", b"team-1", body.as_bytes()).unwrap()
}

fn same(a: &str, b: &str) {
    assert_eq!(key(a), key(b), "{a} vs {b}");
}

fn differ(a: &str, b: &str) {
    assert_ne!(key(a), key(b), "{a} vs {b}");
}

#[test]
fn member_order_and_whitespace_do_not_matter() {
    same(
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0}"#,
        " {\n\t\"temperature\" : 0 ,\r\n \"messages\" : [ { \"content\" : \"hi\" , \"role\" : \"user\" } ] , \"model\":\"gpt-4o\" } ",
    );
}

#[test]
fn number_spellings_are_one_value() {
    for n in [
        "1", "1.0", "1e0", "1E+0", "10e-1", "0.1e1", "1.000", "100e-2",
    ] {
        same(r#"{"t":1}"#, &format!(r#"{{"t":{n}}}"#));
    }
    for z in ["0", "-0", "0.0", "-0.0e5", "0e-9", "0E0"] {
        same(r#"{"t":0}"#, &format!(r#"{{"t":{z}}}"#));
    }
    same(r#"{"t":1500}"#, r#"{"t":1.5e3}"#);
    same(r#"{"t":-0.25}"#, r#"{"t":-25e-2}"#);
    same(r#"{"t":1e400}"#, r#"{"t":10e399}"#);
    differ(r#"{"t":1}"#, r#"{"t":-1}"#);
    differ(r#"{"t":1}"#, r#"{"t":10}"#);
    differ(r#"{"t":0.7}"#, r#"{"t":0.70000000000000001}"#);
    differ(r#"{"t":1e400}"#, r#"{"t":1e401}"#);
}

#[test]
fn integers_beyond_f64_keep_their_digits() {
    // 2^53 + 1 rounds to 2^53 as an f64.
    differ(
        r#"{"seed":9007199254740993}"#,
        r#"{"seed":9007199254740992}"#,
    );
    same(
        r#"{"seed":9007199254740993}"#,
        r#"{"seed":9007199254740993.0}"#,
    );
    differ(
        r#"{"seed":123456789012345678901234567890}"#,
        r#"{"seed":123456789012345678901234567891}"#,
    );
}

#[test]
fn strings_compare_decoded() {
    same(r#"{"s":"é/\"x"}"#, r#"{"s":"\u00e9\/\u0022x"}"#);
    same(r#"{"s":"😀"}"#, r#"{"s":"\ud83d\ude00"}"#);
    same(r#"{"s":"a\nb"}"#, r#"{"s":"a\u000ab"}"#);
    // Names too: sorted and compared decoded.
    same(r#"{"ab":1,"b":2}"#, r#"{"b":2,"\u0061b":1}"#);
    differ(r#"{"s":"a"}"#, r#"{"s":"A"}"#);
    differ(r#"{"s":"a "}"#, r#"{"s":"a"}"#);
}

#[test]
fn types_and_structure_are_kept_apart() {
    differ(r#"{"a":"1"}"#, r#"{"a":1}"#);
    differ(r#"{"a":true}"#, r#"{"a":"true"}"#);
    differ(r#"{"a":null}"#, r#"{}"#);
    differ(r#"{"a":[1,2]}"#, r#"{"a":[2,1]}"#);
    differ(r#"{"a":[[1],2]}"#, r#"{"a":[1,[2]]}"#);
    differ(r#"{"a":{"b":1}}"#, r#"{"a":[{"b":1}]}"#);
    differ(r#"{"a":"bc"}"#, r#"{"ab":"c"}"#);
    differ(r#"{"a":[]}"#, r#"{"a":{}}"#);
}

#[test]
fn duplicate_names_keep_their_order() {
    differ(r#"{"a":1,"a":2}"#, r#"{"a":2,"a":1}"#);
    same(r#"{"a":1,"b":0,"a":2}"#, r#"{"b":0,"a":1,"a":2}"#);
}

#[test]
fn ignored_members_are_left_out_at_the_top_only() {
    let base = r#"{"model":"m","messages":[]}"#;
    same(
        base,
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"user":"u1","messages":[],"metadata":{"k":"v"},"store":false,"service_tier":"flex","prompt_cache_key":"p","safety_identifier":"s"}"#,
    );
    same(base, r#"{"model":"m","str\u0065am":false,"messages":[]}"#);
    // Nested, the same names are content.
    differ(
        r#"{"model":"m","messages":[],"tools":[{"user":1}]}"#,
        r#"{"model":"m","messages":[],"tools":[{}]}"#,
    );
    // Everything else changes the key.
    for extra in [
        r#""temperature":0.2"#,
        r#""n":2"#,
        r#""seed":1"#,
        r#""parallel_tool_calls":false"#,
        r#""max_tokens":10"#,
        r#""response_format":{"type":"json_object"}"#,
        r#""stop":["x"]"#,
        r#""some_future_param":1"#,
    ] {
        differ(base, &format!(r#"{{"model":"m","messages":[],{extra}}}"#));
    }
}

#[test]
fn ignored_list_is_sorted_and_unique() {
    assert!(IGNORED_MEMBERS.windows(2).all(|w| w[0] < w[1]));
    assert!(!IGNORED_MEMBERS.contains(&"parallel_tool_calls"));
}

#[test]
fn scope_and_route_separate_keys() {
    let body = br#"{"model":"m"}"#;
    let k = |route: &[u8], scope: &[u8]| request_key(route, scope, body).unwrap();
    assert_ne!(k(b"chat", b"a"), k(b"chat", b"b"));
    assert_ne!(k(b"chat", b"a"), k(b"embeddings", b"a"));
    // Length prefixes: moving a byte between route and scope is a different key.
    assert_ne!(k(b"ab", b"c"), k(b"a", b"bc"));
    assert_ne!(k(b"", b"chat"), k(b"chat", b""));
    assert_eq!(k(b"chat", b"a"), k(b"chat", b"a"));
}

#[test]
fn the_key_is_a_pure_function_of_its_inputs() {
    // Pinned: the same bytes in every process and every build (no RandomState, no
    // pointers). If the canonical form changes on purpose, snapshots from the old form
    // are invalidated and this value must be updated with it.
    let body =
        br#"{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"temperature":0.5}"#;
    let canon = canonical_bytes(b"chat", b"org", body).unwrap();
    assert_eq!(
        request_key(b"chat", b"org", body).unwrap(),
        Key(xxh3_128(&canon))
    );
    let mut want = vec![b'K'];
    want.extend_from_slice(&4u64.to_le_bytes());
    want.extend_from_slice(b"chat");
    want.extend_from_slice(&3u64.to_le_bytes());
    want.extend_from_slice(b"org");
    let string = |w: &mut Vec<u8>, s: &str| {
        w.push(b'"');
        w.extend_from_slice(&(s.len() as u32).to_le_bytes());
        w.extend_from_slice(s.as_bytes());
    };
    want.push(b'{');
    want.extend_from_slice(&3u32.to_le_bytes());
    string(&mut want, "messages");
    want.push(b'[');
    want.extend_from_slice(&1u32.to_le_bytes());
    want.push(b'{');
    want.extend_from_slice(&2u32.to_le_bytes());
    string(&mut want, "content");
    string(&mut want, "Hello");
    string(&mut want, "role");
    string(&mut want, "user");
    string(&mut want, "model");
    string(&mut want, "gpt-4o");
    string(&mut want, "temperature");
    want.extend_from_slice(b"#+");
    want.extend_from_slice(&1u32.to_le_bytes());
    want.push(b'5');
    want.extend_from_slice(&(-1i64).to_le_bytes());
    assert_eq!(canon, want);
}

#[test]
fn errors() {
    let e = |b: &str| request_key(b"", b"", b.as_bytes()).unwrap_err();
    assert_eq!(e("[1]"), CanonError::NotAnObject);
    assert_eq!(e("\"s\""), CanonError::NotAnObject);
    assert!(matches!(e(""), CanonError::NotJson(_)));
    assert!(matches!(e("{"), CanonError::NotJson(_)));
    assert!(matches!(e("{}x"), CanonError::NotJson(_)));
    assert!(matches!(e("{} {}"), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":01}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":1.}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":.5}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":1e}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":+1}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":tru}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":"\x"}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":"\ud800"}"#), CanonError::NotJson(_)));
    assert!(matches!(e("{\"a\":\"\u{1}\"}"), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":"abc\"}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a" 1}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":1,}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":[1,]}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{"a":[1}"#), CanonError::NotJson(_)));
    assert!(matches!(e(r#"{1:2}"#), CanonError::NotJson(_)));
    assert!(matches!(
        request_key(b"", b"", b"{\"a\":\"\xff\"}"),
        Err(CanonError::NotJson(_))
    ));
    assert_eq!(
        e(r#"{"a":1e1234567890123456789}"#),
        CanonError::NumberOutOfRange
    );
    // Leading zeros of an exponent are not significant.
    same(r#"{"a":1e000000000000000000000000005}"#, r#"{"a":1e5}"#);
}

#[test]
fn depth_limit_without_overflow() {
    let nested = |depth: usize| {
        let mut s = String::from("{\"a\":");
        s.push_str(&"[".repeat(depth - 1));
        s.push_str(&"]".repeat(depth - 1));
        s.push('}');
        s
    };
    assert!(request_key(b"", b"", nested(DEPTH_MAX).as_bytes()).is_ok());
    assert_eq!(
        request_key(b"", b"", nested(DEPTH_MAX + 1).as_bytes()),
        Err(CanonError::TooDeep)
    );
    // Far deeper than any stack would survive if the parser recursed.
    let deep = "[".repeat(1_000_000);
    assert_eq!(
        request_key(b"", b"", format!("{{\"a\":{deep}").as_bytes()),
        Err(CanonError::TooDeep)
    );
}

#[test]
fn scratch_is_trimmed_after_a_huge_body() {
    let big = format!(r#"{{"s":"{}"}}"#, "x".repeat(4 * SCRATCH_KEEP_BYTES_MAX));
    let k1 = key(&big);
    let held = SCRATCH.with(|s| s.borrow().out.capacity() + s.borrow().text.capacity());
    assert!(held <= SCRATCH_KEEP_BYTES_MAX, "{held}");
    assert_eq!(key(&big), k1);
}

// ---- split_last_user ----

fn split(body: &str) -> Option<(Key, String)> {
    split_last_user(b"chat", b"t", body.as_bytes()).unwrap()
}

#[test]
fn split_takes_the_last_user_text() {
    let (k1, t1) = split(
        r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is the capital of France?"}]}"#,
    )
    .unwrap();
    assert_eq!(t1, "What is the capital of France?");
    // Another question in the same context: the same context hash.
    let (k2, t2) = split(
        r#"{"messages":[{"role":"system","content":"Be brief."},{"content":"Capital of France?","role":"user"}],"model":"m","stream":true}"#,
    )
    .unwrap();
    assert_eq!(t2, "Capital of France?");
    assert_eq!(k1, k2);
    // Parts: text joined with newlines, and the text-only array is the same context as a
    // string.
    let (k3, t3) = split(
        r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"What is"},{"type":"text","text":"the capital?"}]}]}"#,
    )
    .unwrap();
    assert_eq!(t3, "What is\nthe capital?");
    assert_eq!(k3, k1);
}

#[test]
fn split_context_covers_everything_but_the_text() {
    let ctx = |body: &str| split(body).unwrap().0;
    let base = ctx(
        r#"{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":"q"}]}"#,
    );
    for other in [
        r#"{"model":"n","messages":[{"role":"system","content":"A"},{"role":"user","content":"q"}]}"#,
        r#"{"model":"m","messages":[{"role":"system","content":"B"},{"role":"user","content":"q"}]}"#,
        r#"{"model":"m","temperature":1,"messages":[{"role":"system","content":"A"},{"role":"user","content":"q"}]}"#,
        r#"{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","name":"bob","content":"q"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"q"}]}"#,
        r#"{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":"q"},{"role":"assistant","content":"x"},{"role":"user","content":"q"}]}"#,
        r#"{"model":"m","messages":[{"role":"system","content":"A"},{"role":"user","content":[{"type":"text","text":"q"},{"type":"image_url","image_url":{"url":"data:x"}}]}]}"#,
    ] {
        assert_ne!(ctx(other), base, "{other}");
    }
    // The context is never the request key of the same body.
    let body = r#"{"model":"m","messages":[{"role":"user","content":"q"}]}"#;
    assert_ne!(split(body).unwrap().0, key(body));
    // Two images with different pictures are different contexts.
    let img = |u: &str| {
        ctx(&format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":[{{"type":"image_url","image_url":{{"url":"{u}"}}}},{{"type":"text","text":"what is this?"}}]}}]}}"#
        ))
    };
    assert_ne!(img("a"), img("b"));
}

#[test]
fn split_none_cases() {
    for body in [
        r#"{"model":"m"}"#,
        r#"{"model":"m","messages":[]}"#,
        r#"{"model":"m","messages":{}}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#,
        r#"{"model":"m","messages":[{"role":"user"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":null}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":""}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}"#,
        r#"{"model":"m","messages":["user"]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"a"}],"messages":[{"role":"user","content":"a"}]}"#,
    ] {
        assert_eq!(split(body), None, "{body}");
    }
    assert_eq!(
        split_last_user(b"", b"", b"[]"),
        Err(CanonError::NotAnObject)
    );
}

// ---- properties ----

/// A JSON value with exact decimal numbers, so that equal values can be spelled
/// differently.
#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    /// `(negative, mantissa, exponent)`: `±mantissa × 10^exponent`.
    Num(bool, u64, i32),
    Str(String),
    Arr(Vec<J>),
    /// Names unique (see `unique`).
    Obj(Vec<(String, J)>),
}

impl J {
    /// The value in a form where equal numbers are equal: `(negative, digits, exponent)`
    /// with trailing zeros moved into the exponent and one zero.
    fn normal(&self) -> String {
        match self {
            J::Null => "n".into(),
            J::Bool(b) => b.to_string(),
            J::Num(neg, m, e) => {
                if *m == 0 {
                    return "0".into();
                }
                let (mut m, mut e) = (*m, i64::from(*e));
                while m % 10 == 0 {
                    m /= 10;
                    e += 1;
                }
                format!("{}{m}e{e}", if *neg { "-" } else { "+" })
            }
            J::Str(s) => format!("{s:?}"),
            J::Arr(v) => format!(
                "[{}]",
                v.iter().map(J::normal).collect::<Vec<_>>().join(",")
            ),
            J::Obj(m) => {
                let mut v: Vec<_> = m
                    .iter()
                    .map(|(k, v)| format!("{k:?}:{}", v.normal()))
                    .collect();
                v.sort();
                format!("{{{}}}", v.join(","))
            }
        }
    }
}

fn unique(members: Vec<(String, J)>) -> Vec<(String, J)> {
    let mut seen = std::collections::HashSet::new();
    members
        .into_iter()
        .filter(|(k, _)| seen.insert(k.clone()))
        .collect()
}

fn json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        (any::<bool>(), any::<u64>(), -30i32..30).prop_map(|(n, m, e)| J::Num(n, m, e)),
        (any::<bool>(), 0u64..1000, -3i32..3).prop_map(|(n, m, e)| J::Num(n, m, e)),
        "[a-z]{0,6}".prop_map(J::Str),
        any::<String>().prop_map(J::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec(("[a-d]{1,3}|\\PC{0,4}", inner), 0..6)
                .prop_map(|m| J::Obj(unique(m))),
        ]
    })
}

/// A top-level object with unique names, none of them ignored.
fn top() -> impl Strategy<Value = Vec<(String, J)>> {
    prop::collection::vec(("[a-z_]{1,8}", json()), 0..8).prop_map(|m| {
        unique(m)
            .into_iter()
            .filter(|(k, _)| !IGNORED_MEMBERS.contains(&k.as_str()))
            .collect()
    })
}

/// Deterministic choices for one spelling of a value.
struct Style(u64);

impl Style {
    fn pick(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn ws(&mut self, out: &mut String) {
        for _ in 0..self.pick(3) {
            out.push([' ', '\n', '\t', '\r'][self.pick(4) as usize]);
        }
    }

    fn string(&mut self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            let must = matches!(c, '"' | '\\') || (c as u32) < 0x20;
            if must || self.pick(4) == 0 {
                match self.pick(if c == '/' { 2 } else { 1 }) {
                    1 => out.push_str("\\/"),
                    _ => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&if self.pick(2) == 0 {
                                format!("\\u{u:04x}")
                            } else {
                                format!("\\u{u:04X}")
                            });
                        }
                    }
                }
            } else {
                out.push(c);
            }
        }
        out.push('"');
    }

    fn number(&mut self, neg: bool, m: u64, e: i32, out: &mut String) {
        if neg || (m == 0 && self.pick(2) == 0) {
            out.push('-');
        }
        if m == 0 {
            out.push_str(["0", "0.0", "0e3", "0.000E-2"][self.pick(4) as usize]);
            return;
        }
        // Extra zeros: `m × 10^k` with exponent `e - k`.
        let k = self.pick(3) as i32;
        let digits = format!("{m}{}", "0".repeat(k as usize));
        let e = e - k;
        match self.pick(3) {
            // Scientific with an integer mantissa.
            0 => {
                let mark = if self.pick(2) == 0 { "e" } else { "E" };
                let plus = if e >= 0 && self.pick(2) == 0 { "+" } else { "" };
                out.push_str(&format!("{digits}{mark}{plus}{e}"));
            }
            // Scientific with a fractional mantissa: `d.ddd e (e + len - 1)`.
            1 => {
                let (head, tail) = digits.split_at(1);
                let tail = if tail.is_empty() { "0" } else { tail };
                out.push_str(&format!("{head}.{tail}e{}", e + digits.len() as i32 - 1));
            }
            // Positional.
            _ => {
                if e >= 0 {
                    out.push_str(&digits);
                    out.push_str(&"0".repeat(e as usize));
                    if self.pick(2) == 0 {
                        out.push_str(".0");
                    }
                } else {
                    let point = digits.len() as i32 + e;
                    if point > 0 {
                        let (a, b) = digits.split_at(point as usize);
                        out.push_str(&format!("{a}.{b}"));
                    } else {
                        out.push_str(&format!("0.{}{digits}", "0".repeat(-point as usize)));
                    }
                }
            }
        }
    }

    fn value(&mut self, j: &J, out: &mut String) {
        self.ws(out);
        match j {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n, m, e) => self.number(*n, *m, *e, out),
            J::Str(s) => self.string(s, out),
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(x, out);
                }
                self.ws(out);
                out.push(']');
            }
            J::Obj(m) => self.object(m, out),
        }
        self.ws(out);
    }

    fn object(&mut self, m: &[(String, J)], out: &mut String) {
        // A random permutation of the members.
        let mut order: Vec<usize> = (0..m.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, self.pick(i as u64 + 1) as usize);
        }
        out.push('{');
        for (i, &k) in order.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.ws(out);
            self.string(&m[k].0, out);
            self.ws(out);
            out.push(':');
            self.value(&m[k].1, out);
        }
        self.ws(out);
        out.push('}');
    }
}

fn spell(members: &[(String, J)], seed: u64) -> String {
    let mut out = String::new();
    Style(seed | 1).object(members, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_spelling_gives_the_same_key(m in top(), s1 in any::<u64>(), s2 in any::<u64>()) {
        let (a, b) = (spell(&m, s1), spell(&m, s2));
        let ka = request_key(b"chat", b"s", a.as_bytes());
        prop_assert!(ka.is_ok(), "{a}: {ka:?}");
        prop_assert_eq!(ka, request_key(b"chat", b"s", b.as_bytes()), "{} vs {}", a, b);
    }

    #[test]
    fn ignored_members_never_change_the_key(m in top(), extra in json(), which in 0..IGNORED_MEMBERS.len(), seed in any::<u64>()) {
        let mut with = m.clone();
        with.push((IGNORED_MEMBERS[which].to_owned(), extra));
        prop_assert_eq!(
            request_key(b"r", b"s", spell(&m, seed).as_bytes()),
            request_key(b"r", b"s", spell(&with, seed ^ 7).as_bytes())
        );
    }

    #[test]
    fn changing_a_member_changes_the_key(m in top(), i in any::<prop::sample::Index>(), other in json(), seed in any::<u64>()) {
        prop_assume!(!m.is_empty());
        let i = i.index(m.len());
        prop_assume!(m[i].1.normal() != other.normal());
        let mut changed = m.clone();
        changed[i].1 = other;
        prop_assert_ne!(
            request_key(b"r", b"s", spell(&m, seed).as_bytes()).unwrap(),
            request_key(b"r", b"s", spell(&changed, seed).as_bytes()).unwrap()
        );
    }

    #[test]
    fn scope_separates(m in top(), a in "[a-z]{0,4}", b in "[a-z]{0,4}", seed in any::<u64>()) {
        prop_assume!(a != b);
        let body = spell(&m, seed);
        prop_assert_ne!(
            request_key(b"chat", a.as_bytes(), body.as_bytes()).unwrap(),
            request_key(b"chat", b.as_bytes(), body.as_bytes()).unwrap()
        );
    }
}
