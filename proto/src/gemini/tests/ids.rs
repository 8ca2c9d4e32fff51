use proptest::prelude::*;

use crate::gemini::ids::{split, write, SIGNATURE_SEPARATOR};

fn id(prefix: &str, n: u32, gemini: Option<&str>, sig: Option<&str>) -> String {
    let mut s = String::new();
    write(&mut s, prefix, n, gemini, sig);
    s
}

#[test]
fn ids_with_and_without_signatures() {
    assert_eq!(id("", 0, None, None), "call_0");
    assert_eq!(id("abc", 12, None, None), "call_abc_12");
    assert_eq!(id("abc", 1, Some("g-1"), None), "g-1");
    assert_eq!(id("abc", 1, Some(""), None), "call_abc_1");
    assert_eq!(id("p", 0, None, Some("")), "call_p_0");
    assert_eq!(id("p", 0, None, Some("a+b/cQ==")), "call_p_0-ts-a-b_cQ");
    assert_eq!(
        split("call_p_0-ts-a-b_cQ"),
        ("call_p_0", Some("a+b/cQ==".to_owned()))
    );
    assert_eq!(split("call_p_0"), ("call_p_0", None));
    assert_eq!(split("toolu_01-ts-"), ("toolu_01", None));
}

proptest! {
    /// Any standard base64 signature survives the trip through an id, and the id only
    /// uses Anthropic's tool id alphabet.
    #[test]
    fn signatures_round_trip(bytes in proptest::collection::vec(any::<u8>(), 1..300), n in 0u32..1000) {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut sig = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    sig.push(ALPHABET[(v >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    sig.push('=');
                }
            }
        }
        let full = id("resp9", n, None, Some(&sig));
        prop_assert!(full.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        prop_assert!(full.contains(SIGNATURE_SEPARATOR));
        let (base, back) = split(&full);
        prop_assert_eq!(base, format!("call_resp9_{n}"));
        prop_assert_eq!(back, Some(sig));
    }
}
