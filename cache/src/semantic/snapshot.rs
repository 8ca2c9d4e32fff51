//! The snapshot format: the usearch graph and the side table as one checksummed byte buffer.
//!
//! Layout (little-endian): `MAGIC` (8) | version u32 | crc32 u32 of every byte after it |
//! dims u32 | quantization u8 | next seq u64 | graph length u64 | graph (usearch's own
//! `save_to_buffer` format) | rows u64 | rows x (key u64, context u128, entry u128,
//! prompt_hash u64, expires_ms u64), oldest first.
//!
//! The checksum is verified before usearch sees a byte, so a torn or corrupted file is an error,
//! never undefined behaviour inside the C++ loader. The engine writes and reads the file; this
//! module does no I/O.
//!
//! Consistency: `snapshot` holds the insertion-order lock (no admissions, evictions or purges)
//! and the graph's write lock (no `add` in flight), so every vector in the graph has a row. A row
//! admitted but not yet added has no vector; `load` drops it.

use std::sync::atomic::Ordering;

use usearch::{Index, ScalarKind};

use super::index::{new_graph, SemanticIndex};
use super::table::{context_tag, key_tag, Meta};
use super::{Config, IndexError, Quantization, THREAD_CONTEXTS};

const MAGIC: [u8; 8] = *b"SLSEMIDX";
const VERSION: u32 = 1;
/// magic + version + crc.
const PREFIX_BYTES: usize = 8 + 4 + 4;
/// dims + quantization + seq + graph length.
const HEAD_BYTES: usize = 4 + 1 + 8 + 8;
const ROW_BYTES: usize = 8 + 16 + 16 + 8 + 8;

impl SemanticIndex {
    /// The index and its side table as one buffer; pauses lookups while the graph is copied.
    pub fn snapshot(&self) -> Result<Vec<u8>, IndexError> {
        let order = self.lock_order();
        let graph = self.write_graph();
        let graph_len = graph.serialized_length();
        let mut out =
            Vec::with_capacity(PREFIX_BYTES + HEAD_BYTES + graph_len + 8 + order.live * ROW_BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // crc, filled in last
        out.extend_from_slice(&(self.config.dims as u32).to_le_bytes());
        out.push(quantization_byte(self.config.quantization));
        out.extend_from_slice(&order.seq.to_le_bytes());
        out.extend_from_slice(&(graph_len as u64).to_le_bytes());
        let at = out.len();
        out.resize(at + graph_len, 0);
        graph
            .save_to_buffer(&mut out[at..])
            .map_err(IndexError::usearch)?;
        drop(graph);
        let rows_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let mut rows = 0u64;
        for &key in &order.fifo {
            let Some(m) = self.table.get(key) else {
                continue;
            };
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&m.context.to_le_bytes());
            out.extend_from_slice(&m.entry.to_le_bytes());
            out.extend_from_slice(&m.prompt_hash.to_le_bytes());
            out.extend_from_slice(&m.expires_ms.to_le_bytes());
            rows += 1;
        }
        out[rows_at..rows_at + 8].copy_from_slice(&rows.to_le_bytes());
        let crc = crc32fast::hash(&out[PREFIX_BYTES..]);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Rebuilds an index from `snapshot` bytes, dropping entries expired at `now_ms` and, if `c`
    /// has a smaller capacity than the snapshot held, the oldest entries beyond it. `c.dims` and
    /// `c.quantization` must match the snapshot; `c.ttl_ms` applies to new inserts only.
    pub fn load(bytes: &[u8], c: Config, now_ms: u64) -> Result<SemanticIndex, IndexError> {
        c.validate()?;
        let mut r = Reader { bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(IndexError::Snapshot("bad magic"));
        }
        if r.u32()? != VERSION {
            return Err(IndexError::Snapshot("unknown version"));
        }
        let crc = r.u32()?;
        if crc32fast::hash(&bytes[PREFIX_BYTES..]) != crc {
            return Err(IndexError::Snapshot("checksum mismatch"));
        }
        if r.u32()? as usize != c.dims {
            return Err(IndexError::Snapshot("dims differ from the config"));
        }
        if r.take(1)?[0] != quantization_byte(c.quantization) {
            return Err(IndexError::Snapshot("quantization differs from the config"));
        }
        let seq = r.u64()?;
        let graph_len = usize::try_from(r.u64()?).map_err(|_| IndexError::Snapshot("length"))?;
        let graph_bytes = r.take(graph_len)?;
        let rows = r.u64()?;
        if r.bytes.len() - r.at != (rows as usize).saturating_mul(ROW_BYTES) {
            return Err(IndexError::Snapshot("row count does not match the length"));
        }

        let graph = restore_graph(graph_bytes, &c)?;
        let index = SemanticIndex::from_parts(c, graph);
        let mut dropped = Vec::new();
        {
            let mut order = index.lock_order();
            order.seq = seq;
            for _ in 0..rows {
                let key = r.u64()?;
                let meta = Meta {
                    context: r.u128()?,
                    entry: r.u128()?,
                    prompt_hash: r.u64()?,
                    expires_ms: r.u64()?,
                };
                let graph = index.read_graph();
                let fresh = now_ms < meta.expires_ms && key_tag(key) == context_tag(meta.context);
                if !fresh || !graph.contains(key) {
                    dropped.push(key);
                    continue;
                }
                order.fifo.push_back(key);
                index.table.insert(key, meta);
                order.live += 1;
            }
            // A smaller capacity than the snapshot's: keep the newest.
            while order.live > c.capacity {
                let key = order
                    .fifo
                    .pop_front()
                    .expect("live > 0 implies a queued key");
                index.table.remove(key);
                order.live -= 1;
                dropped.push(key);
            }
            index.live.store(order.live, Ordering::Relaxed);
        }
        let graph = index.write_graph();
        for key in dropped {
            let _ = graph.remove(key);
        }
        drop(graph);
        Ok(index)
    }
}

fn restore_graph(bytes: &[u8], c: &Config) -> Result<Index, IndexError> {
    let meta = Index::metadata_from_buffer(bytes).map_err(IndexError::usearch)?;
    let want = match c.quantization {
        Quantization::F16 => ScalarKind::F16,
        Quantization::I8 => ScalarKind::I8,
    };
    if meta.dimensions as usize != c.dims || meta.quantization != want || meta.multi {
        return Err(IndexError::Snapshot("graph header differs from the config"));
    }
    let graph = new_graph(c)?;
    graph.load_from_buffer(bytes).map_err(IndexError::usearch)?;
    // `load` sizes the graph to what it held; reserve the configured capacity and our contexts.
    let members = c.capacity.max(graph.size());
    graph
        .reserve_capacity_and_threads(members, THREAD_CONTEXTS)
        .map_err(IndexError::usearch)?;
    // The loader restores the saved expansion; the config's may differ.
    graph.change_expansion_search(c.expansion_search);
    Ok(graph)
}

fn quantization_byte(q: Quantization) -> u8 {
    match q {
        Quantization::F16 => 1,
        Quantization::I8 => 2,
    }
}

/// Bounds-checked little-endian reads.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(IndexError::Snapshot("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn u128(&mut self) -> Result<u128, IndexError> {
        Ok(u128::from_le_bytes(
            self.take(16)?.try_into().expect("16 bytes"),
        ))
    }
}
