//! The snapshot format: every context's rows and vectors as one checksummed byte buffer.
//!
//! Layout (little-endian): `MAGIC` (8) | version u32 | crc32 u32 of every byte after it |
//! dims u32 | quantization u8 | next seq u64 | contexts u64 | per context: context u128 |
//! kind u8 (`SCAN` or `GRAPH`) | rows u64 | rows x (seq u64, entry u128, prompt_hash u64,
//! expires_ms u64) | then for a scan, rows x dims codes (i8, or f16 as u16), in row order; for a
//! graph, its length u64 and usearch's own `save_to_buffer` bytes (keys are the seqs).
//!
//! A graph is saved, not rebuilt on load: rebuilding a big context's HNSW costs minutes.
//!
//! The checksum is verified before usearch sees a byte, so a torn or corrupted file is an error,
//! never undefined behaviour inside the C++ loader. The engine writes and reads the file; this
//! module does no I/O.
//!
//! Consistency: `snapshot` holds the insertion-order lock (no admissions, evictions or purges)
//! and takes each partition's write lock in turn (no `add` in flight in it), so every row it
//! writes has its vector. Inserts admitted but not yet added are not in the snapshot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::RwLock;

use super::index::{Queued, SemanticIndex};
use super::partition::{new_index, Codes, Graph, Partition, Row, RowMap, Scan, Store};
use super::vector::{f16_to_f32, inv_norm, Code};
use super::{Config, IndexError, Quantization};

const MAGIC: [u8; 8] = *b"SLSEMIDX";
const VERSION: u32 = 2;
/// magic + version + crc.
const PREFIX_BYTES: usize = 8 + 4 + 4;
const ROW_BYTES: usize = 8 + 16 + 8 + 8;
const SCAN: u8 = 1;
const GRAPH: u8 = 2;

impl SemanticIndex {
    /// The index as one buffer; pauses each context's lookups while that context is copied.
    pub fn snapshot(&self) -> Result<Vec<u8>, IndexError> {
        let order = self.lock_order();
        let evicted_below = self.evicted_below.load(Ordering::SeqCst);
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // crc, filled in last
        out.extend_from_slice(&(self.config.dims as u32).to_le_bytes());
        out.push(quantization_byte(self.config.quantization));
        out.extend_from_slice(&order.seq.to_le_bytes());
        let count_at = out.len();
        out.extend_from_slice(&0u64.to_le_bytes());
        let mut count = 0u64;
        for (context, p) in self.contexts.all() {
            let store = p.write();
            // Popped by eviction, awaiting removal by its inserter: already gone.
            let live = |r: &&Row| r.seq >= evicted_below;
            match &*store {
                Store::Dead => continue,
                Store::Scan(s) => {
                    let keep: Vec<usize> =
                        (0..s.rows.len()).filter(|&r| live(&&s.rows[r])).collect();
                    write_head(&mut out, context, SCAN, keep.len());
                    for &r in &keep {
                        write_row(&mut out, &s.rows[r]);
                    }
                    let dims = self.config.dims;
                    for &r in &keep {
                        match &s.codes {
                            Codes::I8(v) => {
                                out.extend(v[r * dims..(r + 1) * dims].iter().map(|&x| x as u8))
                            }
                            Codes::F16(v) => {
                                for &h in &v[r * dims..(r + 1) * dims] {
                                    out.extend_from_slice(&h.to_le_bytes());
                                }
                            }
                        }
                    }
                }
                Store::Graph(g) => {
                    let rows = g.rows.read().unwrap_or_else(|e| e.into_inner());
                    let rows: Vec<&Row> = rows.values().filter(live).collect();
                    write_head(&mut out, context, GRAPH, rows.len());
                    for r in rows {
                        write_row(&mut out, r);
                    }
                    let len = g.index.serialized_length();
                    out.extend_from_slice(&(len as u64).to_le_bytes());
                    let at = out.len();
                    out.resize(at + len, 0);
                    g.index
                        .save_to_buffer(&mut out[at..])
                        .map_err(IndexError::usearch)?;
                }
            }
            count += 1;
        }
        drop(order);
        out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
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
        let contexts = r.u64()?;
        let index = SemanticIndex::new(c)?;
        let mut queued = Vec::new();
        for _ in 0..contexts {
            let context = r.u128()?;
            let kind = r.take(1)?[0];
            let n = usize::try_from(r.u64()?).map_err(|_| IndexError::Snapshot("length"))?;
            if n.saturating_mul(ROW_BYTES) > r.left() {
                return Err(IndexError::Snapshot("row count does not match the length"));
            }
            let rows = (0..n).map(|_| r.row()).collect::<Result<Vec<Row>, _>>()?;
            if rows.iter().any(|row| row.seq >= seq) {
                return Err(IndexError::Snapshot("row from the future"));
            }
            let store = match kind {
                SCAN => load_scan(&mut r, &c, rows, now_ms)?,
                GRAPH => load_graph(&mut r, &c, rows, now_ms, index.threads)?,
                _ => return Err(IndexError::Snapshot("unknown context kind")),
            };
            let kept = match &store {
                Store::Scan(s) => s.rows.clone(),
                Store::Graph(g) => g
                    .rows
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .copied()
                    .collect(),
                Store::Dead => Vec::new(),
            };
            if kept.is_empty() {
                continue;
            }
            queued.extend(kept.iter().map(|row| Queued {
                context,
                seq: row.seq,
                expires_ms: row.expires_ms,
            }));
            index.contexts.put(context, Partition::from_store(store));
        }
        if r.left() != 0 {
            return Err(IndexError::Snapshot("trailing bytes"));
        }
        queued.sort_unstable_by_key(|q| q.seq);
        // A smaller capacity than the snapshot's: keep the newest.
        let excess = queued.len().saturating_sub(c.capacity);
        let mut fifo: VecDeque<Queued> = queued.into();
        let mut doomed: HashMap<u128, HashSet<u64>> = HashMap::new();
        for q in fifo.drain(..excess) {
            doomed.entry(q.context).or_default().insert(q.seq);
        }
        for (context, seqs) in doomed {
            if let Some(p) = index.contexts.get(context) {
                let (_, empty) = p.remove_where(&c, |row| seqs.contains(&row.seq));
                if empty {
                    index.contexts.unlink_if_empty(context);
                }
            }
        }
        {
            let mut order = index.lock_order();
            order.seq = seq;
            order.live = fifo.len();
            order.fifo = fifo;
            index.live.store(order.live, Ordering::Relaxed);
        }
        Ok(index)
    }
}

fn load_scan(
    r: &mut Reader<'_>,
    c: &Config,
    rows: Vec<Row>,
    now_ms: u64,
) -> Result<Store, IndexError> {
    let dims = c.dims;
    let code_bytes = match c.quantization {
        Quantization::I8 => 1,
        Quantization::F16 => 2,
    };
    let codes = r.take(rows.len().saturating_mul(dims * code_bytes))?;
    let mut s = Scan::new(c.quantization);
    let mut code = Code::default();
    for (i, row) in rows.into_iter().enumerate() {
        if now_ms >= row.expires_ms {
            continue;
        }
        let bytes = &codes[i * dims * code_bytes..(i + 1) * dims * code_bytes];
        match c.quantization {
            Quantization::I8 => {
                code.i8.clear();
                code.i8.extend(bytes.iter().map(|&b| b as i8));
                code.inv_norm = inv_norm(code.i8.iter().map(|&x| f32::from(x)));
            }
            Quantization::F16 => {
                code.f16.clear();
                code.f16.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]])),
                );
                code.inv_norm = inv_norm(code.f16.iter().map(|&h| f16_to_f32(h)));
            }
        }
        s.push(row, &code);
    }
    Ok(Store::Scan(s))
}

fn load_graph(
    r: &mut Reader<'_>,
    c: &Config,
    rows: Vec<Row>,
    now_ms: u64,
    threads: usize,
) -> Result<Store, IndexError> {
    let len = usize::try_from(r.u64()?).map_err(|_| IndexError::Snapshot("length"))?;
    let bytes = r.take(len)?;
    let meta = usearch::Index::metadata_from_buffer(bytes).map_err(IndexError::usearch)?;
    let want = match c.quantization {
        Quantization::F16 => usearch::ScalarKind::F16,
        Quantization::I8 => usearch::ScalarKind::I8,
    };
    if meta.dimensions as usize != c.dims || meta.quantization != want || meta.multi {
        return Err(IndexError::Snapshot("graph header differs from the config"));
    }
    let index = new_index(c)?;
    index.load_from_buffer(bytes).map_err(IndexError::usearch)?;
    // `load` sizes the graph to what it held; reserve room to grow and our thread contexts.
    let members = (2 * index.size()).min(c.capacity).max(index.size());
    index
        .reserve_capacity_and_threads(members, threads)
        .map_err(IndexError::usearch)?;
    // The loader restores the saved expansion; the config's may differ.
    index.change_expansion_search(c.expansion_search);
    let mut map = RowMap::default();
    for row in rows {
        if now_ms < row.expires_ms && index.contains(row.seq) {
            map.insert(row.seq, row);
        } else {
            let _ = index.remove(row.seq);
        }
    }
    let g = Graph {
        index,
        rows: RwLock::new(map),
    };
    Ok(Store::Graph(g))
}

fn write_head(out: &mut Vec<u8>, context: u128, kind: u8, rows: usize) {
    out.extend_from_slice(&context.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&(rows as u64).to_le_bytes());
}

fn write_row(out: &mut Vec<u8>, r: &Row) {
    out.extend_from_slice(&r.seq.to_le_bytes());
    out.extend_from_slice(&r.entry.to_le_bytes());
    out.extend_from_slice(&r.prompt_hash.to_le_bytes());
    out.extend_from_slice(&r.expires_ms.to_le_bytes());
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
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }
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
    fn row(&mut self) -> Result<Row, IndexError> {
        Ok(Row {
            seq: self.u64()?,
            entry: self.u128()?,
            prompt_hash: self.u64()?,
            expires_ms: self.u64()?,
        })
    }
}
