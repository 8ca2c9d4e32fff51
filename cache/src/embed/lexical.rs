//! The `lexical` embedder: a feature-hashed bag of word and character n-grams.
//!
//! No model files and no allocation: a prompt becomes a `dims`-long vector in one pass
//! over its words plus one pass over a small table on the stack. It knows nothing of
//! meaning — "capital of France" and "capital of Germany" are close — which is why every
//! semantic hit also goes through the precision guard (`crate::guard`).
//!
//! # Features and weights
//! Words are maximal runs of Unicode alphanumerics, with an apostrophe (`'` or `’`)
//! kept inside a word (`don't` is one word), lower-cased with Unicode rules.
//!
//! | feature                                   | weight                  | why                                   |
//! |-------------------------------------------|-------------------------|---------------------------------------|
//! | word unigram                              | [`W_WORD`] = 1.0        | the content                           |
//! | word bigram (adjacent words)              | [`W_BIGRAM`] = 0.25     | some word order: "dog bites man"      |
//! | character 3-, 4-, 5-grams of `<word>`     | [`W_CHAR`] = 0.4 each   | typos and inflections share most grams |
//!
//! A stop word ([`STOP_WORDS`]: articles, prepositions, auxiliaries, pronouns, politeness)
//! has all its features multiplied by [`STOP_FACTOR`] = 0.1: down-weighted, not dropped,
//! so "a" vs "the" barely moves a vector but a prompt made only of stop words still has
//! one. A bigram is down-weighted only when both its words are stop words. Negations
//! (`not`, `no`, `never`) and question words (`how`, `why`, `what`) are deliberately *not*
//! stop words: they change the question.
//!
//! A word of `n` characters yields about `3n` character grams, so at 0.4 each a typical
//! 6-letter word's grams carry a squared norm near 2.4 against its unigram's 1: a typo
//! loses the unigram and the grams around the typo but keeps the rest, and inflections
//! (`map`/`maps`) stay close. The three weights and the stop factor were picked from a
//! handful of settings on the labelled pairs of `loadtest/data/cache-pairs.tsv` (recall
//! at a fixed threshold; see BENCHMARKS.md) — a small hand-made set, so they are a
//! reasonable default, not an optimum. Grams are taken from the first
//! [`WORD_CHARS_MAX`] characters of a word (a longer "word" is a hash or a blob, not
//! language); the unigram hashes the whole word.
//!
//! # Term frequency
//! Sublinear: a word seen `tf` times contributes its unigram and its grams with weight
//! `w * (1 + ln tf)`, and a bigram likewise. Counts are kept per distinct word and bigram
//! in open-addressed tables on the stack ([`TABLE_SLOTS`] slots, at most
//! [`DISTINCT_MAX`] entries). A character gram shared by *different* words adds up
//! linearly across them. Beyond [`DISTINCT_MAX`] distinct words (or bigrams) in one
//! prompt, each further new one is emitted per occurrence with `tf = 1` — the vector stays
//! exact for every prompt, only the damping of repeats weakens for very long ones.
//!
//! # Hashing
//! Each feature is hashed (FNV-1a over its characters, seeded with [`SEED`] and the
//! feature kind, then a SplitMix64 finalizer) to a bucket (the high 32 bits scaled to
//! `dims`) and a sign (the low bit) — signed feature hashing, so collisions cancel in
//! expectation instead of piling up. The seed is a constant: vectors are identical across
//! processes and restarts, which snapshots rely on. Finally the vector is L2-normalized.
//!
//! # Cost
//! Measured 1.48 µs for a 20-word prompt and 4.94 µs for a 100-word one (512 dims,
//! release, idle 2-core VM, 2026-12-03; 5.30 µs before the per-gram hash finalizer became
//! one multiply); no heap allocation (the bench asserts it). Re-run: `cargo bench -p sluice-bench --bench cache_embed -- --warm-up-time
//! 1 --measurement-time 3`.

use super::Embedder;

/// Dimensions when the configuration names none.
pub const DEFAULT_DIMS: usize = 512;
/// The largest `dims` accepted: feature hashing gains nothing beyond it for prompts.
pub const DIMS_MAX: usize = 1 << 16;

/// Weight of a word unigram.
pub const W_WORD: f32 = 1.0;
/// Weight of a bigram of adjacent words.
pub const W_BIGRAM: f32 = 0.25;
/// Weight of each character 3-, 4- or 5-gram of a word.
pub const W_CHAR: f32 = 0.4;
/// Multiplies every feature of a stop word (and a bigram of two stop words).
pub const STOP_FACTOR: f32 = 0.1;
/// Character grams come from at most this many leading characters of a word.
pub const WORD_CHARS_MAX: usize = 32;
/// Slots of each term-frequency table (a power of two, so a mask picks the slot).
pub const TABLE_SLOTS: usize = 256;
/// Distinct words (and bigrams) counted per prompt: half the slots, so probes stay short.
pub const DISTINCT_MAX: usize = TABLE_SLOTS / 2;
/// The fixed hash seed. Changing it changes every vector: snapshots would not match.
pub const SEED: u64 = 0x5a1c_e0ca_c4e5_eed1;

const _: () = assert!(TABLE_SLOTS.is_power_of_two() && DISTINCT_MAX < TABLE_SLOTS);

/// Lower-case English words that carry little of a question's meaning. Sorted (binary
/// search; a test keeps it sorted). No negations and no question words, on purpose.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "by", "can", "could",
    "did", "do", "does", "for", "from", "hello", "hey", "hi", "i", "in", "is", "it", "its", "just",
    "me", "my", "of", "on", "or", "our", "please", "so", "some", "thank", "thanks", "that", "the",
    "there", "these", "this", "those", "to", "us", "was", "we", "were", "will", "with", "would",
    "you", "your",
];
/// The longest stop word, in bytes: longer words skip the lookup.
const STOP_BYTES_MAX: usize = 6;

const KIND_WORD: u64 = 1;
const KIND_BIGRAM: u64 = 2;
const KIND_CHAR: u64 = 3;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Word-boundary markers around a word's characters for its grams: `<ab` is a prefix gram,
/// `ab>` a suffix one. Neither can occur inside a word.
const MARK_START: char = '<';
const MARK_END: char = '>';

/// The lexical embedder. Holds only its dimension count: `Send + Sync`, shared by all cores.
#[derive(Clone, Debug)]
pub struct Lexical {
    dims: usize,
}

impl Lexical {
    /// Panics when `dims` is 0 or above [`DIMS_MAX`] (configuration is validated before).
    pub fn new(dims: usize) -> Lexical {
        assert!(
            (1..=DIMS_MAX).contains(&dims),
            "lexical embedder dims {dims} not in 1..={DIMS_MAX}"
        );
        Lexical { dims }
    }
}

impl Default for Lexical {
    fn default() -> Lexical {
        Lexical::new(DEFAULT_DIMS)
    }
}

impl Embedder for Lexical {
    fn name(&self) -> &str {
        "lexical"
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, text: &str, out: &mut [f32]) {
        assert_eq!(out.len(), self.dims, "embed output length != dims");
        out.fill(0.0);
        let mut counts = Counts::new();
        let mut prev: Option<(u64, bool)> = None;
        for (start, word) in Words::new(text) {
            let h = word_hash(word);
            let stop = is_stop(word);
            if !counts.add_word(h, start, word.len(), stop) {
                emit_word(out, word, h, stop, 1.0);
            }
            if let Some((ph, pstop)) = prev {
                let bh = mix(ph.rotate_left(17) ^ h ^ kind_seed(KIND_BIGRAM)) | 1;
                let w = if pstop && stop {
                    W_BIGRAM * STOP_FACTOR
                } else {
                    W_BIGRAM
                };
                if !counts.add_bigram(bh, w) {
                    add(out, bh, w);
                }
            }
            prev = Some((h, stop));
        }
        counts.emit(text, out);
        normalize(out);
    }
}

/// Per-prompt term counts for words and bigrams: open addressing, linear probing, key 0
/// means empty (feature hashes are odd, so 0 never is one).
struct Counts {
    words: [u64; TABLE_SLOTS],
    /// Per word slot: (byte offset of the first occurrence, its byte length, tf, stop).
    word_meta: [(u32, u32, u16, bool); TABLE_SLOTS],
    words_len: usize,
    bigrams: [u64; TABLE_SLOTS],
    bigram_meta: [(f32, u16); TABLE_SLOTS],
    bigrams_len: usize,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            words: [0; TABLE_SLOTS],
            word_meta: [(0, 0, 0, false); TABLE_SLOTS],
            words_len: 0,
            bigrams: [0; TABLE_SLOTS],
            bigram_meta: [(0.0, 0); TABLE_SLOTS],
            bigrams_len: 0,
        }
    }

    /// Counts one occurrence; false when the word is new and the table is full (or its
    /// offset does not fit the table's `u32`), so the caller emits it directly.
    fn add_word(&mut self, h: u64, start: usize, len: usize, stop: bool) -> bool {
        debug_assert!(h & 1 == 1, "word hashes are odd");
        let key = h;
        let Some(slot) = probe(&self.words, key) else {
            return false;
        };
        if self.words[slot] == key {
            let tf = &mut self.word_meta[slot].2;
            *tf = tf.saturating_add(1);
            return true;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(start), u32::try_from(len)) else {
            return false;
        };
        if self.words_len == DISTINCT_MAX {
            return false;
        }
        self.words[slot] = key;
        self.word_meta[slot] = (start, len, 1, stop);
        self.words_len += 1;
        true
    }

    /// As [`Counts::add_word`], for a bigram and its weight.
    fn add_bigram(&mut self, h: u64, w: f32) -> bool {
        debug_assert!(h & 1 == 1, "bigram hashes are odd");
        let key = h;
        let Some(slot) = probe(&self.bigrams, key) else {
            return false;
        };
        if self.bigrams[slot] == key {
            let tf = &mut self.bigram_meta[slot].1;
            *tf = tf.saturating_add(1);
            return true;
        }
        if self.bigrams_len == DISTINCT_MAX {
            return false;
        }
        self.bigrams[slot] = key;
        self.bigram_meta[slot] = (w, 1);
        self.bigrams_len += 1;
        true
    }

    /// Adds every counted feature with its sublinear tf. Slot order depends only on the
    /// hashes, so the float sums happen in the same order for the same text.
    fn emit(&self, text: &str, out: &mut [f32]) {
        if self.words_len > 0 {
            for (key, &(start, len, tf, stop)) in self.words.iter().zip(&self.word_meta) {
                if *key != 0 {
                    let word = &text[start as usize..(start + len) as usize];
                    emit_word(out, word, *key, stop, sublinear(tf));
                }
            }
        }
        if self.bigrams_len > 0 {
            for (key, &(w, tf)) in self.bigrams.iter().zip(&self.bigram_meta) {
                if *key != 0 {
                    add(out, *key, w * sublinear(tf));
                }
            }
        }
    }
}

/// The slot holding `key`, or the empty slot where it would go; None when the table has
/// no room (cannot happen below `DISTINCT_MAX` entries, kept for safety).
fn probe(table: &[u64; TABLE_SLOTS], key: u64) -> Option<usize> {
    let mask = TABLE_SLOTS - 1;
    let mut slot = (key >> 7) as usize & mask;
    for _ in 0..TABLE_SLOTS {
        if table[slot] == key || table[slot] == 0 {
            return Some(slot);
        }
        slot = (slot + 1) & mask;
    }
    None
}

fn sublinear(tf: u16) -> f32 {
    1.0 + f32::from(tf).ln()
}

/// A word's unigram and character grams, scaled by `factor` (its sublinear tf).
fn emit_word(out: &mut [f32], word: &str, word_h: u64, stop: bool, factor: f32) {
    let scale = if stop { STOP_FACTOR } else { 1.0 } * factor;
    add(out, word_h, W_WORD * scale);
    let mut chars = ['\0'; WORD_CHARS_MAX + 2];
    chars[0] = MARK_START;
    let mut n = 1;
    'fill: for c in word.chars() {
        if c.is_ascii() {
            if n == WORD_CHARS_MAX + 1 {
                break;
            }
            chars[n] = c.to_ascii_lowercase();
            n += 1;
            continue;
        }
        for l in fold(c) {
            if n == WORD_CHARS_MAX + 1 {
                break 'fill;
            }
            chars[n] = l;
            n += 1;
        }
    }
    chars[n] = MARK_END;
    n += 1;
    let w = W_CHAR * scale;
    const SEED_CHAR: u64 = kind_seed(KIND_CHAR);
    for i in 0..n.saturating_sub(2) {
        let mut h = SEED_CHAR;
        for (j, &c) in chars[i..n.min(i + 5)].iter().enumerate() {
            h = (h ^ u64::from(c)).wrapping_mul(FNV_PRIME);
            if j >= 2 {
                add(out, h.wrapping_add(j as u64), w);
            }
        }
    }
}

/// Adds `w` with the hash's sign at the hash's bucket. One multiply-xorshift is enough
/// here (the inputs are FNV or SplitMix outputs already): the full SplitMix finalizer
/// per gram was a fifth of the embed time.
#[inline]
fn add(out: &mut [f32], h: u64, w: f32) {
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let h = h ^ (h >> 32);
    // Lemire's multiply-shift: the high 32 bits scaled to `dims`, no division.
    let idx = (((h >> 32) * out.len() as u64) >> 32) as usize;
    out[idx] += if h & 1 == 0 { w } else { -w };
}

fn normalize(out: &mut [f32]) {
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm;
        out.iter_mut().for_each(|x| *x *= inv);
    }
}

const fn kind_seed(kind: u64) -> u64 {
    mix(SEED ^ kind.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The lower-cased word, FNV-1a over its characters, finalized; odd, so it is also its
/// own table key whether the word is counted or emitted directly.
fn word_hash(word: &str) -> u64 {
    let mut h = kind_seed(KIND_WORD);
    if word.is_ascii() {
        for b in word.bytes() {
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
        }
        return mix(h) | 1;
    }
    for c in word.chars() {
        for l in fold(c) {
            h = (h ^ u64::from(l)).wrapping_mul(FNV_PRIME);
        }
    }
    mix(h) | 1
}

/// Lower case, with the typographic apostrophe folded into the ASCII one.
fn fold(c: char) -> std::char::ToLowercase {
    if c == '’' { '\'' } else { c }.to_lowercase()
}

/// SplitMix64's finalizer: every input bit reaches every output bit.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A word of at most 8 ASCII bytes, lower-cased, packed big-endian into a `u64` (zero
/// padded): integer order is then byte order, so the packed stop words stay sorted and a
/// lookup is a binary search over integers, not over strings.
const fn pack(word: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < 8 {
        let b = if i < word.len() {
            word[i].to_ascii_lowercase()
        } else {
            0
        };
        v = (v << 8) | b as u64;
        i += 1;
    }
    v
}

const STOP_PACKED: [u64; STOP_WORDS.len()] = {
    let mut out = [0u64; STOP_WORDS.len()];
    let mut i = 0;
    while i < STOP_WORDS.len() {
        out[i] = pack(STOP_WORDS[i].as_bytes());
        i += 1;
    }
    out
};

const _: () = assert!(STOP_BYTES_MAX <= 8);

fn is_stop(word: &str) -> bool {
    word.len() <= STOP_BYTES_MAX
        && word.is_ascii()
        && STOP_PACKED.binary_search(&pack(word.as_bytes())).is_ok()
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '’'
}

/// Words of a text with their byte offsets: runs of alphanumerics, joined across a single
/// apostrophe that has an alphanumeric on both sides.
pub(crate) struct Words<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Words<'a> {
    pub(crate) fn new(text: &'a str) -> Words<'a> {
        Words { text, pos: 0 }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let rest = &self.text[self.pos..];
        let (skip, _) = rest.char_indices().find(|(_, c)| c.is_alphanumeric())?;
        let start = self.pos + skip;
        let mut end = start;
        let mut it = self.text[start..].char_indices().peekable();
        while let Some((i, c)) = it.next() {
            if c.is_alphanumeric() {
                end = start + i + c.len_utf8();
            } else if is_apostrophe(c) && it.peek().is_some_and(|(_, n)| n.is_alphanumeric()) {
                continue;
            } else {
                break;
            }
        }
        self.pos = end;
        Some((start, &self.text[start..end]))
    }
}

#[cfg(test)]
mod tests;
