//! The `static` embedder: a model2vec directory (a static embedding table and its
//! tokenizer), loaded once and run in-process.
//!
//! model2vec distils a sentence transformer into one vector per token; a prompt's
//! embedding is the mean of its tokens' vectors. An operator drops a model directory (for
//! example `minishlab/potion-base-8M` as model2vec saves it) on disk and names it; this
//! module reads it with [`StaticModel::load`] — the one place in the cache crate that reads
//! files, at startup, never per request.
//!
//! # Directory
//! - `tokenizer.json`: a Hugging Face tokenizers file with a `WordPiece` model (see
//!   `model2vec/tokenizer.rs` for the normalizers and pre-tokenizers accepted).
//! - `model.safetensors`: tensor `embeddings` `[rows, dims]` (F32, F16, BF16, F64 or I8);
//!   optionally `weights` `[vocab]` (a float per token id, multiplied into its row) and
//!   `mapping` `[vocab]` (an integer per token id: which row it uses, written by
//!   model2vec's vocabulary quantization; `mappings` is accepted as the same tensor).
//!   Without `mapping`, `rows` must equal the tokenizer's vocabulary size — a table and a
//!   tokenizer from different models are refused rather than averaged into nonsense.
//! - `config.json` (optional): `max_length` (tokens per prompt, default [`TOKENS_MAX`];
//!   `null` means no truncation, capped here at [`TOKENS_LIMIT_MAX`]) and `normalize`
//!   (checked to be a boolean; it changes nothing here: the [`Embedder`] contract is unit
//!   length, and model2vec's `normalize` only rescales, which cosine ignores).
//!
//! # Embedding
//! As model2vec 0.10's `StaticModel.encode` with its defaults: keep the first
//! `max_length * median token length` characters of the prompt, tokenize without special
//! tokens ([CLS]/[SEP] are never added) keeping the first `max_length` ids (the
//! tokenizer.json's own `truncation` is overridden, as model2vec does), drop every
//! occurrence of the unknown token's id (model2vec does so whenever the tokenizer names an
//! `unk_token`; so a word the vocabulary cannot spell contributes nothing instead of a
//! shared "unknown" direction), and average `weight[id] * table[mapping[id]]`. The mean is
//! then L2-normalized; dividing by the count first would not change the direction, so it
//! is skipped. No token left (empty text, punctuation the vocabulary lacks, only unknown
//! words) gives all zeros, as the trait requires.
//!
//! Checked against model2vec 0.10.0 (Python, `StaticModel.from_pretrained(dir).encode`
//! with `normalize: true`) on 802 prompts and three synthetic models written by its own
//! safetensors writer — F32 table; F16 table with `weights`; F32 table with `weights` and
//! `mapping` and `max_length` 64: largest difference per component 1.8e-7 for the F32
//! models, 3.0e-4 for the F16 one (model2vec averages in float16; this module in f32).
//!
//! # Memory
//! The table is held as f32 whatever the file's dtype (one conversion at load; the hot
//! loop is then a plain add the compiler vectorizes): potion-base-8M's 29,528 x 256 table
//! is 30.2 MB (15.1 MB as F16 on disk), plus about 2 MB of vocabulary maps.
//!
//! # Cost
//! Measured on the bench's synthetic 30,000 x 256 F32 model with BERT's added tokens
//! (`static/20w`, `static/100w` in `bench/benches/cache_embed.rs`; release, idle 2-core
//! VM, 2026-12-08): 0.96 µs for a 20-word prompt (21 tokens) and 5.3 µs for a 100-word
//! one (118 tokens; `lexical` takes 4.9 µs on the same run), no heap allocation on a warm
//! thread (the bench asserts it); loading the 30 MB table takes about 40 ms. A profile of
//! the 100-word case: about half in vocabulary lookups (hash, probe, key compare), a fifth
//! in the sum of rows, the rest normalizing and splitting. Before the blocked sum and the
//! ASCII fast paths it was 8.9 µs. Re-run: `cargo bench -p sluice-bench --bench
//! cache_embed -- --warm-up-time 1 --measurement-time 3 static`.
//!
//! # Fidelity to the Python reference
//! - Added tokens (`added_tokens`: BERT's `[CLS]`, `[MASK]`...) are matched literally, as
//!   `tokenizers` does, so a prompt that spells `[MASK]` gets its id; a token with
//!   `lstrip`, `rstrip` or `single_word` set is refused at load instead.
//! - Unicode categories come from Unicode 14 tables (`tokenizers` has its own); code
//!   points unassigned there are kept here where `tokenizers` may drop them as control
//!   characters. Checked against `tokenizers` 0.23.3 (Python) on 3,010 random strings of
//!   ASCII, controls, accents, marks, CJK, Hangul, punctuation, emoji, unassigned code
//!   points and spelled special tokens, under six normalizer/pre-tokenizer combinations
//!   (with raw and normalized added tokens): the kept ids were identical (2026-12-08).
//! - The `Whitespace` pre-tokenizer's `\w` is approximated (see `is_word_char`).
//! - Only WordPiece models: model2vec also ships models with Unigram or BPE tokenizers
//!   (its multilingual models, built on XLM-R-style SentencePiece vocabularies); those are
//!   refused at load with a [`LoadError::Unsupported`] that names the model type.

mod safetensors;
mod tokenizer;
mod unicode;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::Embedder;
use tokenizer::{Bad, Scratch, Tokenizer};

/// Tokens per prompt when config.json sets no `max_length`: model2vec's default. With the
/// character limit derived from it, the limit bounds the work (and the scratch buffers)
/// of one call.
pub const TOKENS_MAX: usize = 512;
/// The largest `max_length` honoured: a config's `null` (no truncation) or a larger value
/// is capped here, so that one call's work stays bounded.
pub const TOKENS_LIMIT_MAX: usize = 1 << 16;
/// The widest table accepted.
pub const DIMS_MAX: usize = 8192;
/// The largest vocabulary accepted (multilingual model2vec models have about 500,000).
pub const VOCAB_MAX: usize = 4_000_000;
/// The largest table accepted, in bytes once converted to f32.
pub const TABLE_BYTES_MAX: usize = 4 << 30;

/// Why a model directory could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source} (a model2vec directory holds tokenizer.json and model.safetensors)", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The file is well formed but uses a feature this embedder does not implement.
    #[error("{}: unsupported {what}", path.display())]
    Unsupported { path: PathBuf, what: String },
    /// The file is malformed or disagrees with another file of the model.
    #[error("{}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

/// How token ids become rows: directly, or through model2vec's per-token `mapping` and
/// `weights` (weights without a mapping are folded into the table at load).
enum Rows {
    Direct,
    Mapped {
        row_of: Vec<u32>,
        weight_of: Option<Vec<f32>>,
    },
}

/// A loaded model2vec model. Immutable after [`StaticModel::load`]; shared by all cores.
pub struct StaticModel {
    tokenizer: Tokenizer,
    /// `rows x dims`, row-major, every value finite.
    table: Vec<f32>,
    dims: usize,
    rows: Rows,
    unk_id: u32,
    /// Token ids kept per prompt, unknown ones included: config.json's `max_length`.
    tokens_max: usize,
    /// Characters of a prompt looked at: `tokens_max * median token length`.
    chars_max: usize,
}

/// Per-thread buffers of [`Embedder::embed`]: the tokenizer's, and the rows (and weights)
/// of the prompt's tokens, gathered before summing.
#[derive(Default)]
struct Buffers {
    tokenizer: Scratch,
    rows: Vec<u32>,
    weights: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Columns summed per pass over the gathered rows: 32 f32 accumulators stay in registers
/// (eight SSE or four AVX registers), so `out` is written once per block instead of once
/// per token (100 words: 8.9 -> 7.7 µs; see "Cost").
const BLOCK: usize = 32;

impl StaticModel {
    /// Loads `dir/tokenizer.json`, `dir/model.safetensors` and, when present,
    /// `dir/config.json`, checking that they fit together.
    pub fn load(dir: &Path) -> Result<StaticModel, LoadError> {
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;
        let tokens_max = load_config(&dir.join("config.json"))?;
        let st_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&st_path).map_err(|source| LoadError::Io {
            path: st_path.clone(),
            source,
        })?;
        let (table, dims, rows) =
            tables(&bytes, tokenizer.vocab_len()).map_err(|problem| LoadError::Invalid {
                path: st_path,
                problem,
            })?;
        let chars_max = tokens_max.saturating_mul(tokenizer.median_token_chars().max(1));
        Ok(StaticModel {
            unk_id: tokenizer.unk_id(),
            tokenizer,
            table,
            dims,
            rows,
            tokens_max,
            chars_max,
        })
    }

    /// The ids whose rows [`Embedder::embed`] averages for `text`, in order (truncated
    /// to `max_length` ids, then unknown ones removed). Allocates: for tests and
    /// diagnostics.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        self.each_kept_id(text, &mut |id| ids.push(id));
        ids
    }

    /// Rows in the table (the vocabulary size, or fewer for a quantized vocabulary).
    pub fn rows(&self) -> usize {
        self.table.len() / self.dims
    }

    /// Calls `f` on each id that enters the mean; returns how many did.
    fn each_kept_id(&self, text: &str, f: &mut dyn FnMut(u32)) -> usize {
        BUFFERS.with(|b| self.each_kept_id_in(text, &mut b.borrow_mut().tokenizer, f))
    }

    fn each_kept_id_in(&self, text: &str, scratch: &mut Scratch, f: &mut dyn FnMut(u32)) -> usize {
        // A text of at most chars_max bytes has at most chars_max characters.
        let text = if text.len() <= self.chars_max {
            text
        } else {
            match text.char_indices().nth(self.chars_max) {
                Some((i, _)) => &text[..i],
                None => text,
            }
        };
        let mut kept = 0;
        self.tokenizer
            .for_each_id(text, self.tokens_max, scratch, &mut |id| {
                if id != self.unk_id {
                    f(id);
                    kept += 1;
                }
                ControlFlow::Continue(())
            });
        kept
    }
}

/// `out[c] = sum over i of weight_i * table[rows[i] * dims + c]`, summed in token order
/// (so the result does not depend on the block size). `weights` is empty for weight 1.
fn sum_rows(table: &[f32], dims: usize, rows: &[u32], weights: &[f32], out: &mut [f32]) {
    debug_assert!(weights.is_empty() || weights.len() == rows.len());
    let mut c = 0;
    while c < dims {
        let width = BLOCK.min(dims - c);
        let mut acc = [0f32; BLOCK];
        if width == BLOCK {
            // The fixed-width body the compiler keeps in registers and vectorizes.
            for (i, &r) in rows.iter().enumerate() {
                let start = r as usize * dims + c;
                let src: &[f32; BLOCK] = table[start..start + BLOCK].try_into().expect("BLOCK");
                if weights.is_empty() {
                    for k in 0..BLOCK {
                        acc[k] += src[k];
                    }
                } else {
                    let w = weights[i];
                    for k in 0..BLOCK {
                        acc[k] += w * src[k];
                    }
                }
            }
        } else {
            for (i, &r) in rows.iter().enumerate() {
                let start = r as usize * dims + c;
                let w = weights.get(i).copied().unwrap_or(1.0);
                for (a, v) in acc[..width].iter_mut().zip(&table[start..start + width]) {
                    *a += w * v;
                }
            }
        }
        out[c..c + width].copy_from_slice(&acc[..width]);
        c += width;
    }
}

impl Embedder for StaticModel {
    fn name(&self) -> &str {
        "static"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, text: &str, out: &mut [f32]) {
        assert_eq!(out.len(), self.dims, "embed: out has the wrong length");
        let n = BUFFERS.with(|b| {
            let b = &mut *b.borrow_mut();
            let (rows, weights) = (&mut b.rows, &mut b.weights);
            rows.clear();
            weights.clear();
            let n = match &self.rows {
                Rows::Direct => {
                    self.each_kept_id_in(text, &mut b.tokenizer, &mut |id| rows.push(id))
                }
                Rows::Mapped { row_of, weight_of } => {
                    self.each_kept_id_in(text, &mut b.tokenizer, &mut |id| {
                        rows.push(row_of[id as usize]);
                        if let Some(w) = weight_of {
                            weights.push(w[id as usize]);
                        }
                    })
                }
            };
            sum_rows(&self.table, self.dims, rows, weights, out);
            n
        });
        if n == 0 {
            return;
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        // Rows that cancel exactly (or all-zero rows) leave nothing to normalize: zeros,
        // which compare as similar to nothing.
        if norm > 0.0 && norm.is_finite() {
            let inv = 1.0 / norm;
            out.iter_mut().for_each(|v| *v *= inv);
        } else {
            out.fill(0.0);
        }
    }
}

fn load_tokenizer(path: &Path) -> Result<Tokenizer, LoadError> {
    Tokenizer::from_json(&read_json(path)?).map_err(|bad| match bad {
        Bad::Unsupported(what) => LoadError::Unsupported {
            path: path.to_owned(),
            what,
        },
        Bad::Invalid(problem) => LoadError::Invalid {
            path: path.to_owned(),
            problem,
        },
    })
}

/// config.json's `max_length` (validated with `normalize`); [`TOKENS_MAX`] without one.
fn load_config(path: &Path) -> Result<usize, LoadError> {
    if !path.exists() {
        return Ok(TOKENS_MAX);
    }
    let config = read_json(path)?;
    let invalid = |problem: &str| LoadError::Invalid {
        path: path.to_owned(),
        problem: problem.to_owned(),
    };
    let obj = config
        .as_object()
        .ok_or_else(|| invalid("not a JSON object"))?;
    if obj.get("normalize").is_some_and(|n| !n.is_boolean()) {
        return Err(invalid("\"normalize\" is not true or false"));
    }
    match obj.get("max_length") {
        None => Ok(TOKENS_MAX),
        Some(serde_json::Value::Null) => Ok(TOKENS_LIMIT_MAX),
        Some(m) => m
            .as_u64()
            .filter(|&m| m > 0)
            .map(|m| m.min(TOKENS_LIMIT_MAX as u64) as usize)
            .ok_or_else(|| invalid("\"max_length\" is not a positive integer or null")),
    }
}

/// The f32 table, its width and the id-to-row scheme from model.safetensors' bytes,
/// checked against the tokenizer's `vocab` size.
fn tables(bytes: &[u8], vocab: usize) -> Result<(Vec<f32>, usize, Rows), String> {
    let tensors = safetensors::parse(bytes)?;
    let emb = tensors.get("embeddings").ok_or_else(|| {
        format!(
            "no tensor \"embeddings\" (found: {:?})",
            tensors.keys().collect::<Vec<_>>()
        )
    })?;
    let [n_rows, dims] = emb.shape[..] else {
        return Err(format!(
            "\"embeddings\" has shape {:?}, expected [rows, dims]",
            emb.shape
        ));
    };
    if !(1..=DIMS_MAX).contains(&dims) || n_rows == 0 {
        return Err(format!(
            "\"embeddings\" has shape [{n_rows}, {dims}]: need at least one row and 1..={DIMS_MAX} dims"
        ));
    }
    if n_rows.saturating_mul(dims).saturating_mul(4) > TABLE_BYTES_MAX {
        return Err(format!(
            "\"embeddings\" [{n_rows}, {dims}] exceeds the {TABLE_BYTES_MAX}-byte table limit"
        ));
    }
    let mut table = safetensors::to_f32(emb).map_err(|e| format!("\"embeddings\": {e}"))?;
    if let Some(i) = table.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "\"embeddings\" row {} holds a non-finite value",
            i / dims
        ));
    }
    let rows = id_rows(&tensors, vocab, n_rows, dims, &mut table)?;
    Ok((table, dims, rows))
}

/// How token ids reach rows: model2vec's optional `weights` and `mapping` tensors, each
/// one entry per token id. Weights without a mapping are folded into `table`.
fn id_rows(
    tensors: &HashMap<String, safetensors::Tensor<'_>>,
    vocab: usize,
    n_rows: usize,
    dims: usize,
    table: &mut [f32],
) -> Result<Rows, String> {
    let per_token = |name: &str, t: &safetensors::Tensor<'_>| {
        if t.shape == [vocab] {
            Ok(())
        } else {
            Err(format!(
                "\"{name}\" has shape {:?}, expected [{vocab}] (one per token of tokenizer.json)",
                t.shape
            ))
        }
    };
    let weights = match tensors.get("weights") {
        None => None,
        Some(t) => {
            per_token("weights", t)?;
            let w = safetensors::to_f32(t).map_err(|e| format!("\"weights\": {e}"))?;
            if w.iter().any(|v| !v.is_finite()) {
                return Err("\"weights\" holds a non-finite value".to_owned());
            }
            Some(w)
        }
    };
    let rows = match tensors.get("mapping").or_else(|| tensors.get("mappings")) {
        None => {
            if n_rows != vocab {
                return Err(format!(
                    "\"embeddings\" has {n_rows} rows but tokenizer.json has {vocab} tokens: \
                     the table and the tokenizer are not from the same model"
                ));
            }
            if let Some(w) = &weights {
                for (row, &w) in table.chunks_exact_mut(dims).zip(w) {
                    row.iter_mut().for_each(|v| *v *= w);
                }
            }
            Rows::Direct
        }
        Some(t) => {
            per_token("mapping", t)?;
            let row_of = safetensors::to_indices(t)
                .map_err(|e| format!("\"mapping\": {e}"))?
                .iter()
                .map(|&r| u32::try_from(r).ok().filter(|&r| (r as usize) < n_rows))
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| {
                    format!("\"mapping\" points past the {n_rows} rows of \"embeddings\"")
                })?;
            Rows::Mapped {
                row_of,
                weight_of: weights,
            }
        }
    };
    Ok(rows)
}

fn read_json(path: &Path) -> Result<serde_json::Value, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| LoadError::Json {
        path: path.to_owned(),
        source,
    })
}
