//! Virtual key secrets: generation, the stored hash, and the constant-time comparison.
//!
//! A secret is `sk-sluice-` followed by 256 random bits in URL-safe base64 (43
//! characters). Only its SHA-256 is kept — in memory, in the data directory, in the
//! directory the workers read — so a leaked database or heap dump holds no usable key.
//! Lookups go by the hash: an attacker timing a `HashMap` probe learns about a hash of
//! their own guess, which says nothing about any secret (preimage resistance); the final
//! equality check is constant-time anyway.

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// What every virtual key starts with (so that leaked keys are easy to scan for).
pub const PREFIX: &str = "sk-sluice-";
/// Characters of a secret shown in listings (prefix included), enough to tell keys apart.
pub const SHOWN_CHARS: usize = PREFIX.len() + 4;

pub type Hash = [u8; 32];

/// A fresh secret. Panics only if the OS random source fails, which leaves nothing safe
/// to do (the control plane calls this, never a worker).
pub fn generate() -> String {
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .expect("the operating system's random source failed");
    let mut s = String::with_capacity(PREFIX.len() + 43);
    s.push_str(PREFIX);
    base64url(&raw, &mut s);
    s
}

/// A random identifier: `prefix` + 16 lower-case hex digits.
pub fn random_id(prefix: &str) -> String {
    let mut raw = [0u8; 8];
    SystemRandom::new()
        .fill(&mut raw)
        .expect("the operating system's random source failed");
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    for b in raw {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

pub fn hash(secret: &[u8]) -> Hash {
    let d = digest(&SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Equality whose time does not depend on where the inputs differ.
pub fn ct_eq(a: &Hash, b: &Hash) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

pub fn to_hex(h: &Hash) -> String {
    let mut s = String::with_capacity(64);
    for b in h {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

pub fn from_hex(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = nibble(b[2 * i])? << 4 | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

/// The part of a secret safe to show: the prefix and a few characters.
pub fn shown(secret: &str) -> String {
    secret.chars().take(SHOWN_CHARS).collect()
}

fn base64url(raw: &[u8], out: &mut String) {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in raw.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_43_chars_of_base64url() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        let body = &a[PREFIX.len()..];
        assert_eq!(body.len(), 43);
        assert!(body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }

    #[test]
    fn base64url_matches_the_rfc_4648_vectors() {
        for (raw, want) in [
            (&b"f"[..], "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ] {
            let mut s = String::new();
            base64url(raw, &mut s);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn hash_hex_round_trip_and_comparison() {
        let h = hash(b"sk-sluice-x");
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert!(ct_eq(&h, &h));
        let mut other = h;
        other[31] ^= 1;
        assert!(!ct_eq(&h, &other));
        assert_eq!(from_hex("zz"), None);
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            to_hex(&hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(random_id("key_").starts_with("key_"));
        assert_eq!(random_id("key_").len(), 20);
        assert_eq!(shown("sk-sluice-abcdefgh"), "sk-sluice-abcd");
    }
}
