//! The exact cache's snapshot: every live entry as bytes, and back.
//!
//! The engine writes the bytes to its data directory on shutdown and periodically, and
//! loads them at start; this module does no I/O. Keys are canonical ([`crate::canon`]), so
//! a snapshot written by one process is valid in the next.
//!
//! Format, version 2 (every integer little-endian; version 1 had no meta):
//!
//! ```text
//! magic     8 bytes  "SLUICEXC"
//! version   u32      1
//! count     u64      number of entries
//! entry × count:
//!   key        u128
//!   created_ms u64
//!   expires_ms u64
//!   kind       u8    0 = JSON body, 1 = stream
//!   JSON:      len u64, len bytes
//!   stream:    frames u64, then per frame: len u64, len bytes
//!   meta:      scope, model, prompt (each len u64, len bytes of UTF-8),
//!              cost_pusd u64, tokens u64
//! checksum  u64      xxh3-64 of every byte before it
//! ```
//!
//! Entries are written least recently used first within each shard, so loading them in
//! order rebuilds the recency order. Loading checks the magic, version and checksum before
//! reading anything, bounds every length by the bytes that remain (a corrupt length never
//! drives an allocation), skips entries already expired, and refuses trailing bytes.

use std::fmt;

use xxhash_rust::xxh3::xxh3_64;

use super::{Config, Entry, ExactCache, Meta, Stored};
use crate::canon::Key;

const MAGIC: &[u8; 8] = b"SLUICEXC";
/// Bumped whenever the layout or the meaning of a key changes.
pub const SNAPSHOT_VERSION: u32 = 2;
const HEADER_BYTES: usize = MAGIC.len() + 4 + 8;
const CHECKSUM_BYTES: usize = 8;
const KIND_JSON: u8 = 0;
const KIND_STREAM: u8 = 1;

/// Why snapshot bytes were not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotError {
    /// Shorter than a header and checksum.
    TooShort,
    /// Not a snapshot of this cache.
    BadMagic,
    /// A version this build does not read.
    Version(u32),
    /// The checksum does not match: the bytes were damaged.
    Checksum,
    /// A length or count runs past the end of the entries.
    Truncated,
    /// An entry kind other than JSON or stream.
    BadKind(u8),
    /// A meta string that is not UTF-8.
    BadText,
    /// Bytes left after the last entry.
    TrailingBytes,
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::TooShort => f.write_str("cache snapshot is too short"),
            SnapshotError::BadMagic => f.write_str("not a sluice exact-cache snapshot"),
            SnapshotError::Version(v) => write!(
                f,
                "cache snapshot version {v} is not supported (this build reads {SNAPSHOT_VERSION})"
            ),
            SnapshotError::Checksum => f.write_str("cache snapshot checksum mismatch"),
            SnapshotError::Truncated => f.write_str("cache snapshot entry is truncated"),
            SnapshotError::BadKind(k) => write!(f, "cache snapshot entry has unknown kind {k}"),
            SnapshotError::BadText => f.write_str("cache snapshot entry has a non-UTF-8 string"),
            SnapshotError::TrailingBytes => f.write_str("cache snapshot has trailing bytes"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl ExactCache {
    /// Every entry as snapshot bytes (see the module doc for the format). Entries expired
    /// but not yet collected are included; `load` drops them.
    pub fn snapshot(&self) -> Vec<u8> {
        let entries = self.entries();
        let payload: usize = entries.iter().map(|(_, e)| e.stored.payload_bytes()).sum();
        let mut out =
            Vec::with_capacity(HEADER_BYTES + CHECKSUM_BYTES + payload + entries.len() * 48);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (k, e) in &entries {
            out.extend_from_slice(&k.0.to_le_bytes());
            out.extend_from_slice(&e.created_ms.to_le_bytes());
            out.extend_from_slice(&e.expires_ms.to_le_bytes());
            match &e.stored {
                Stored::Json(body) => {
                    out.push(KIND_JSON);
                    put_bytes(&mut out, body);
                }
                Stored::Stream(frames) => {
                    out.push(KIND_STREAM);
                    out.extend_from_slice(&(frames.len() as u64).to_le_bytes());
                    for f in frames.iter() {
                        put_bytes(&mut out, f);
                    }
                }
            }
            let m = &e.meta;
            for s in [&m.scope, &m.model, &m.prompt] {
                put_bytes(&mut out, s.as_bytes());
            }
            out.extend_from_slice(&m.cost_pusd.to_le_bytes());
            out.extend_from_slice(&m.tokens.to_le_bytes());
        }
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// A cache built with `c` holding the snapshot's entries that are still live at
    /// `now_ms`, each with its original times. Entries that no longer fit (a smaller
    /// `bytes_max`) are evicted least recently used first, as inserts would be. Counters
    /// start at zero.
    pub fn load(bytes: &[u8], c: Config, now_ms: u64) -> Result<ExactCache, SnapshotError> {
        if bytes.len() < HEADER_BYTES + CHECKSUM_BYTES {
            return Err(SnapshotError::TooShort);
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
        let mut r = Reader {
            b: &body[MAGIC.len()..],
        };
        let version = r.u32()?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::Version(version));
        }
        if xxh3_64(body).to_le_bytes() != sum {
            return Err(SnapshotError::Checksum);
        }
        let count = r.u64()?;
        let cache = ExactCache::new(c);
        for _ in 0..count {
            let key = Key(r.u128()?);
            let created_ms = r.u64()?;
            let expires_ms = r.u64()?;
            let stored = match r.u8()? {
                KIND_JSON => Stored::Json(r.bytes()?.into()),
                KIND_STREAM => {
                    let n = r.len(8)?;
                    let mut frames = Vec::with_capacity(n);
                    for _ in 0..n {
                        frames.push(r.bytes()?.into());
                    }
                    Stored::Stream(frames.into_boxed_slice())
                }
                k => return Err(SnapshotError::BadKind(k)),
            };
            let meta = Meta {
                scope: r.text()?,
                model: r.text()?,
                prompt: r.text()?,
                cost_pusd: r.u64()?,
                tokens: r.u64()?,
            };
            if now_ms < expires_ms {
                cache.put(
                    key,
                    Entry {
                        stored,
                        created_ms,
                        expires_ms,
                        meta,
                    },
                    now_ms,
                );
            }
        }
        if !r.b.is_empty() {
            return Err(SnapshotError::TrailingBytes);
        }
        cache.reset_counters();
        Ok(cache)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

/// Reads from the front of `b`, never past its end.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let (head, rest) = self
            .b
            .split_first_chunk::<N>()
            .ok_or(SnapshotError::Truncated)?;
        self.b = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        self.take().map(u64::from_le_bytes)
    }

    fn u128(&mut self) -> Result<u128, SnapshotError> {
        self.take().map(u128::from_le_bytes)
    }

    /// A count of items of at least `unit` bytes each, refused when that many cannot fit in
    /// what remains.
    fn len(&mut self, unit: usize) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.b.len() / unit => Ok(n),
            _ => Err(SnapshotError::Truncated),
        }
    }

    fn text(&mut self) -> Result<Box<str>, SnapshotError> {
        std::str::from_utf8(self.bytes()?)
            .map(Into::into)
            .map_err(|_| SnapshotError::BadText)
    }

    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.len(1)?;
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
}
