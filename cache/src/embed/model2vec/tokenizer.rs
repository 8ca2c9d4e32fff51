//! The subset of Hugging Face `tokenizer.json` that model2vec's WordPiece models use,
//! reimplemented without the `tokenizers` crate (its C dependencies and build time are out
//! of proportion for one lookup loop).
//!
//! Pipeline, as in `tokenizers` with `add_special_tokens=False`: normalizers (in order),
//! pre-tokenizers (each splits the pieces of the previous), then WordPiece on every piece.
//! Anything else in the file that would change the ids — another model type, normalizer or
//! pre-tokenizer, padding — is refused at load with a message naming it
//! ([`Bad::Unsupported`]); parts that cannot change ids for one unpadded sequence
//! (`post_processor`, `decoder`) are ignored, and so is `truncation`, which model2vec
//! replaces with its own `max_length` on every encode (the caller passes that limit).
//!
//! The hot path allocates nothing once the thread's [`Scratch`] buffers have grown to the
//! largest prompt seen (they are bounded by the caller's character limit).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::ControlFlow;

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use super::unicode::{in_table, FORMAT, NONSPACING_MARK, PUNCTUATION};

/// Why a tokenizer.json was refused: a feature we do not implement, or a malformed file.
#[derive(Debug)]
pub(super) enum Bad {
    Unsupported(String),
    Invalid(String),
}

/// Per-thread buffers: two strings that normalizers write into in turn, and the pieces of
/// the word being split.
#[derive(Default)]
pub(super) struct Scratch {
    a: String,
    b: String,
    pieces: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Normalizer {
    Bert {
        clean_text: bool,
        handle_chinese_chars: bool,
        strip_accents: bool,
        lowercase: bool,
    },
    Lowercase,
    StripAccents,
    Nfd,
    Nfkd,
    Nfc,
    Nfkc,
    Strip {
        left: bool,
        right: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreTokenizer {
    /// Split on whitespace (dropped) and isolate every punctuation character.
    Bert,
    /// `\w+|[^\w\s]+`: runs of word characters, and runs of other non-space characters.
    Whitespace,
    /// Split on whitespace only.
    WhitespaceSplit,
}

/// FxHash (rustc's): a multiply-rotate per 8 bytes. The maps are built once from the
/// vocabulary and only probed afterwards, so hostile input cannot grow or degrade them
/// beyond the collisions already present among the vocabulary's own keys.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let r = chunks.remainder();
        if !r.is_empty() {
            let mut buf = [0u8; 8];
            buf[..r.len()].copy_from_slice(r);
            self.add(u64::from_le_bytes(buf) ^ ((r.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type Map = HashMap<Box<str>, u32, BuildHasherDefault<FxHasher>>;

/// WordPiece: greedy longest-match-first over a word's characters; a piece after the first
/// is looked up with the continuing-subword prefix; a word with any unmatched remainder,
/// or longer than `max_input_chars_per_word` characters, becomes one unknown token.
struct WordPiece {
    /// Every vocabulary entry as written: what a word's first piece is looked up in.
    words: Map,
    /// Entries that start with the prefix, prefix removed: what later pieces are looked
    /// up in (so a lookup needs no prefixed copy of the piece).
    subwords: Map,
    /// Longest key of each map in bytes: lookups of longer pieces are skipped.
    words_bytes_max: usize,
    subwords_bytes_max: usize,
    unk_id: u32,
    max_input_chars_per_word: usize,
}

/// A parsed tokenizer.json.
pub(super) struct Tokenizer {
    normalizers: Vec<Normalizer>,
    pre_tokenizers: Vec<PreTokenizer>,
    wordpiece: WordPiece,
    /// Vocabulary entries by id, for the median token length and size checks.
    token_lens: Vec<usize>,
    /// `added_tokens` with `normalized: false`, matched in the raw text (BERT's [CLS],
    /// [SEP], [MASK]...: a prompt that spells one gets its id, as in `tokenizers`).
    raw_added: Added,
    /// `added_tokens` with `normalized: true`, matched in the normalized text.
    normalized_added: Added,
}

impl Tokenizer {
    /// Builds the tokenizer from the parsed tokenizer.json.
    pub(super) fn from_json(v: &Value) -> Result<Tokenizer, Bad> {
        let obj = v
            .as_object()
            .ok_or_else(|| Bad::Invalid("not a JSON object".into()))?;
        let mut normalizers = Vec::new();
        if let Some(n) = obj.get("normalizer").filter(|n| !n.is_null()) {
            normalizer(n, &mut normalizers)?;
        }
        let mut pre_tokenizers = Vec::new();
        if let Some(p) = obj.get("pre_tokenizer").filter(|p| !p.is_null()) {
            pre_tokenizer(p, &mut pre_tokenizers)?;
        }
        if obj.get("padding").is_some_and(|p| !p.is_null()) {
            return Err(Bad::Unsupported(
                "\"padding\" (pad tokens would enter the mean; model2vec models ship \
                 \"padding\": null)"
                    .into(),
            ));
        }
        let model = obj
            .get("model")
            .ok_or_else(|| Bad::Invalid("no \"model\"".into()))?;
        let (wordpiece, token_lens) = wordpiece(model)?;
        let mut raw_added = Added::default();
        let mut normalized_added = Added::default();
        if let Some(list) = obj.get("added_tokens").filter(|l| !l.is_null()) {
            let list = list
                .as_array()
                .ok_or_else(|| Bad::Invalid("\"added_tokens\" is not an array".into()))?;
            for t in list {
                let (content, normalized) = added_token(t)?;
                // tokenizers gives an added token the vocabulary's id for its content
                // (the file's "id" is only a record of that); one outside the vocabulary
                // would get an id past the table's rows.
                let id = *wordpiece.words.get(content).ok_or_else(|| {
                    Bad::Unsupported(format!(
                        "added token {content:?} outside the WordPiece vocab (it would have \
                         no row in the table)"
                    ))
                })?;
                if normalized {
                    let (mut a, mut b) = (String::new(), String::new());
                    let n = normalize(&normalizers, content, &mut a, &mut b);
                    if !n.is_empty() {
                        normalized_added.push(n, id);
                    }
                } else {
                    raw_added.push(content, id);
                }
            }
        }
        Ok(Tokenizer {
            normalizers,
            pre_tokenizers,
            wordpiece,
            token_lens,
            raw_added,
            normalized_added,
        })
    }

    /// Number of ids (one past the largest id in the vocabulary).
    pub(super) fn vocab_len(&self) -> usize {
        self.token_lens.len()
    }

    /// The id model2vec drops from every sequence.
    pub(super) fn unk_id(&self) -> u32 {
        self.wordpiece.unk_id
    }

    /// The vocabulary's median token length in characters, floored as model2vec computes
    /// it (`int(np.median(...))`); model2vec keeps `max_length * median` characters of a
    /// prompt before tokenizing.
    pub(super) fn median_token_chars(&self) -> usize {
        let mut lens = self.token_lens.clone();
        lens.sort_unstable();
        let n = lens.len();
        match n {
            0 => 0,
            _ if n % 2 == 1 => lens[n / 2],
            _ => (lens[n / 2 - 1] + lens[n / 2]) / 2,
        }
    }

    /// Calls `emit` with each token id of `text` in order (unknown ids included), until it
    /// breaks, the text ends, or `limit` ids (unknown ones included, as `tokenizers`
    /// truncates before model2vec drops them) have been emitted.
    pub(super) fn for_each_id(
        &self,
        text: &str,
        limit: usize,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) {
        let Scratch { a, b, pieces } = scratch;
        let mut count = 0usize;
        let mut emit_limited = |id: u32| {
            if count == limit {
                return ControlFlow::Break(());
            }
            count += 1;
            emit(id)
        };
        let wp = &self.wordpiece;
        // Added tokens split the raw text first (the normalized kind, each normalized
        // segment); what lies between them goes through the pipeline.
        let _ = (|| {
            let mut rest = text;
            loop {
                let raw = self.raw_added.find(rest);
                let segment = &rest[..raw.map_or(rest.len(), |m| m.0)];
                let mut normalized = normalize(&self.normalizers, segment, a, b);
                loop {
                    let found = self.normalized_added.find(normalized);
                    let words = &normalized[..found.map_or(normalized.len(), |m| m.0)];
                    split(&self.pre_tokenizers, words, &mut |word| {
                        wp.word(word, pieces, &mut emit_limited)
                    })?;
                    let Some((_, end, id)) = found else { break };
                    emit_limited(id)?;
                    normalized = &normalized[end..];
                }
                let Some((_, end, id)) = raw else { break };
                emit_limited(id)?;
                rest = &rest[end..];
            }
            ControlFlow::Continue(())
        })();
    }
}

/// Added tokens of one kind, matched leftmost-longest as literal strings.
#[derive(Default)]
struct Added {
    tokens: Vec<(Box<str>, u32)>,
    /// The distinct first bytes of the tokens: candidates are found with memchr.
    firsts: Vec<u8>,
}

impl Added {
    fn push(&mut self, content: &str, id: u32) {
        self.tokens.push((content.into(), id));
        let first = content.as_bytes()[0];
        if !self.firsts.contains(&first) {
            self.firsts.push(first);
        }
    }

    /// `(start, end, id)` of the leftmost match, the longest token there.
    fn find(&self, text: &str) -> Option<(usize, usize, u32)> {
        if self.tokens.is_empty() {
            return None;
        }
        let hay = text.as_bytes();
        let mut from = 0;
        loop {
            let rest = &hay[from..];
            let at = from
                + match self.firsts[..] {
                    [x] => memchr::memchr(x, rest),
                    [x, y] => memchr::memchr2(x, y, rest),
                    [x, y, z] => memchr::memchr3(x, y, z, rest),
                    _ => rest.iter().position(|b| self.firsts.contains(b)),
                }?;
            // A token's first byte is never a UTF-8 continuation byte, so `at` and the
            // match's end are char boundaries.
            let best = self
                .tokens
                .iter()
                .filter(|(t, _)| hay[at..].starts_with(t.as_bytes()))
                .max_by_key(|(t, _)| t.len());
            if let Some((t, id)) = best {
                return Some((at, at + t.len(), *id));
            }
            from = at + 1;
        }
    }
}

/// Applies `steps` to `text`, alternating between the two buffers; returns the result.
fn normalize<'a>(
    steps: &[Normalizer],
    text: &'a str,
    a: &'a mut String,
    b: &'a mut String,
) -> &'a str {
    if steps.is_empty() {
        return text;
    }
    a.clear();
    steps[0].apply(text, a);
    let (mut src, mut dst) = (a, b);
    for step in &steps[1..] {
        dst.clear();
        step.apply(src, dst);
        std::mem::swap(&mut src, &mut dst);
    }
    src
}

impl Normalizer {
    fn apply(self, input: &str, out: &mut String) {
        match self {
            Normalizer::Bert {
                clean_text,
                handle_chinese_chars,
                strip_accents,
                lowercase,
            } => {
                let begin = out.len();
                let mut rest = input;
                while !rest.is_empty() {
                    // Printable ASCII needs no cleaning, has no accents and no CJK: copy
                    // the run whole (lowercased below, once for the whole output).
                    let plain = rest
                        .bytes()
                        .position(|b| !(0x20..0x7f).contains(&b))
                        .unwrap_or(rest.len());
                    out.push_str(&rest[..plain]);
                    rest = &rest[plain..];
                    let Some(c) = rest.chars().next() else { break };
                    rest = &rest[c.len_utf8()..];
                    let c = if clean_text {
                        if c == '\0' || c == '\u{fffd}' || is_control(c) {
                            continue;
                        }
                        if is_whitespace(c) {
                            ' '
                        } else {
                            c
                        }
                    } else {
                        c
                    };
                    let chinese = handle_chinese_chars && is_chinese(c);
                    if chinese {
                        out.push(' ');
                    }
                    push_folded(c, strip_accents, lowercase, out);
                    if chinese {
                        out.push(' ');
                    }
                }
                if lowercase {
                    // Idempotent on what push_folded already lowercased.
                    out[begin..].make_ascii_lowercase();
                }
            }
            Normalizer::Lowercase => input.chars().for_each(|c| push_folded(c, false, true, out)),
            Normalizer::StripAccents => out.extend(input.chars().filter(|&c| !is_mark(c))),
            Normalizer::Nfd => out.extend(input.nfd()),
            Normalizer::Nfkd => out.extend(input.nfkd()),
            Normalizer::Nfc => out.extend(input.nfc()),
            Normalizer::Nfkc => out.extend(input.nfkc()),
            Normalizer::Strip { left, right } => {
                let mut s = input;
                if left {
                    s = s.trim_start();
                }
                if right {
                    s = s.trim_end();
                }
                out.push_str(s);
            }
        }
    }
}

/// Pushes `c`, accent-stripped (canonical decomposition, nonspacing marks dropped) and/or
/// lowercased, in that order as BertNormalizer does. Decomposing one character at a time
/// skips NFD's canonical reordering, which only permutes combining marks; the ones it
/// could move are almost all nonspacing, which stripping removes anyway.
#[inline]
fn push_folded(c: char, strip_accents: bool, lowercase: bool, out: &mut String) {
    if c.is_ascii() {
        out.push(if lowercase { c.to_ascii_lowercase() } else { c });
        return;
    }
    let mut push = |d: char| {
        if lowercase {
            out.extend(d.to_lowercase());
        } else {
            out.push(d);
        }
    };
    if strip_accents {
        unicode_normalization::char::decompose_canonical(c, |d| {
            if !is_mn(d) {
                push(d)
            }
        });
    } else {
        push(c);
    }
}

/// Splits `text` with each pre-tokenizer in turn and calls `word` on the final pieces
/// (empty pieces are never passed). No pre-tokenizer: the whole text is one piece.
fn split(
    pres: &[PreTokenizer],
    text: &str,
    word: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some((first, rest)) = pres.split_first() else {
        return if text.is_empty() {
            ControlFlow::Continue(())
        } else {
            word(text)
        };
    };
    first.pieces(text, &mut |piece| split(rest, piece, word))
}

impl PreTokenizer {
    fn pieces(self, text: &str, f: &mut dyn FnMut(&str) -> ControlFlow<()>) -> ControlFlow<()> {
        match self {
            PreTokenizer::WhitespaceSplit => {
                for w in text.split(char::is_whitespace).filter(|w| !w.is_empty()) {
                    f(w)?;
                }
            }
            PreTokenizer::Bert => {
                // One pass over the bytes; only non-ASCII characters are decoded.
                let bytes = text.as_bytes();
                let mut word: Option<usize> = None;
                let mut i = 0;
                while i < bytes.len() {
                    let (c, width) = match bytes[i] {
                        b if b.is_ascii() => (b as char, 1),
                        _ => {
                            let c = text[i..].chars().next().expect("char boundary");
                            (c, c.len_utf8())
                        }
                    };
                    let space = c.is_whitespace();
                    if space || is_bert_punctuation(c) {
                        if let Some(w) = word.take() {
                            f(&text[w..i])?;
                        }
                        if !space {
                            f(&text[i..i + width])?;
                        }
                    } else if word.is_none() {
                        word = Some(i);
                    }
                    i += width;
                }
                if let Some(w) = word {
                    f(&text[w..])?;
                }
            }
            PreTokenizer::Whitespace => {
                // 0 = space, 1 = word character, 2 = other: a piece is a maximal run of 1s
                // or of 2s.
                let class = |c: char| {
                    if c.is_whitespace() {
                        0
                    } else if is_word_char(c) {
                        1
                    } else {
                        2
                    }
                };
                let mut run: Option<(usize, u8)> = None;
                for (i, c) in text.char_indices() {
                    let k = class(c);
                    if run.is_some_and(|(_, rk)| rk == k) {
                        continue;
                    }
                    if let Some((s, _)) = run {
                        f(&text[s..i])?;
                    }
                    run = (k != 0).then_some((i, k));
                }
                if let Some((s, _)) = run {
                    f(&text[s..])?;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl WordPiece {
    /// Emits the ids of one pre-tokenized word.
    fn word(
        &self,
        w: &str,
        pieces: &mut Vec<u32>,
        emit: &mut dyn FnMut(u32) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        // Byte length bounds character count, so the count is needed only for long words.
        if w.len() > self.max_input_chars_per_word
            && w.chars().count() > self.max_input_chars_per_word
        {
            return emit(self.unk_id);
        }
        if let Some(&id) = self.words.get(w) {
            return emit(id);
        }
        pieces.clear();
        let mut start = 0;
        while start < w.len() {
            let (map, bytes_max) = if start == 0 {
                (&self.words, self.words_bytes_max)
            } else {
                (&self.subwords, self.subwords_bytes_max)
            };
            let mut end = floor_char_boundary(w, (start + bytes_max).min(w.len()));
            let mut found = None;
            while end > start {
                if let Some(&id) = map.get(&w[start..end]) {
                    found = Some(id);
                    break;
                }
                end = floor_char_boundary(w, end - 1);
            }
            match found {
                Some(id) => pieces.push(id),
                None => return emit(self.unk_id),
            }
            start = end;
        }
        for &id in pieces.iter() {
            emit(id)?;
        }
        ControlFlow::Continue(())
    }
}

/// The largest char boundary of `s` at or below `i` (`i <= s.len()`).
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A nonspacing mark (Mn): what BertNormalizer's `strip_accents` removes. Spacing marks
/// such as Devanagari's visarga stay (and make their word unknown, as in `tokenizers`).
fn is_mn(c: char) -> bool {
    (c as u32) >= 0x300 && in_table(&NONSPACING_MARK, c)
}

/// Any combining mark (M: Mn, Mc, Me): what the StripAccents normalizer removes, a wider
/// set than BertNormalizer's (both checked against `tokenizers`).
fn is_mark(c: char) -> bool {
    (c as u32) >= 0x300 && unicode_normalization::char::is_combining_mark(c)
}

/// BertNormalizer's "control": general category C* except tab, newline and carriage
/// return. Cc and Cf come from tables and private use (Co) from its three blocks;
/// surrogates (Cs) cannot occur in a `char`; unassigned code points (Cn) are kept (see
/// the module doc of `model2vec`, "Known differences").
fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    let u = c as u32;
    c.is_control()
        || (u >= 0xad && in_table(&FORMAT, c))
        || (0xe000..=0xf8ff).contains(&u)
        || (0xf0000..=0xffffd).contains(&u)
        || (0x100000..=0x10fffd).contains(&u)
}

fn is_whitespace(c: char) -> bool {
    c.is_whitespace()
}

/// ASCII punctuation (which includes symbols like `$`, `+`, `^` that Unicode files under
/// S*) or any Unicode punctuation (P*).
fn is_bert_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_ascii() && in_table(&PUNCTUATION, c))
}

/// An approximation of the regex class `\w` (alphabetic, marks, decimal digits, connector
/// punctuation): `char::is_alphanumeric` also admits non-decimal numbers (Nl, No such as
/// `²`), and only `_` stands in for Pc.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || is_mark(c)
}

/// The CJK ideograph blocks of BERT's `_is_chinese_char` (not Hangul, kana or other
/// CJK-area scripts, which are split by whitespace like Latin).
fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

fn type_of(v: &Value) -> Result<&str, Bad> {
    v.get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Bad::Invalid(format!("{} without a \"type\" string", short(v))))
}

fn flag(v: &Value, key: &str, default: bool) -> Result<bool, Bad> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Bad::Invalid(format!(
            "{key} is {} where true or false is expected",
            short(other)
        ))),
    }
}

const NORMALIZERS: &str = "BertNormalizer, Lowercase, StripAccents, NFD, NFKD, NFC, NFKC, \
                           Strip, and a Sequence of those";

fn normalizer(v: &Value, out: &mut Vec<Normalizer>) -> Result<(), Bad> {
    let n = match type_of(v)? {
        "BertNormalizer" => {
            let lowercase = flag(v, "lowercase", true)?;
            Normalizer::Bert {
                clean_text: flag(v, "clean_text", true)?,
                handle_chinese_chars: flag(v, "handle_chinese_chars", true)?,
                // null means "follow lowercase", as in BERT's uncased models.
                strip_accents: flag(v, "strip_accents", lowercase)?,
                lowercase,
            }
        }
        "Lowercase" => Normalizer::Lowercase,
        "StripAccents" => Normalizer::StripAccents,
        "NFD" => Normalizer::Nfd,
        "NFKD" => Normalizer::Nfkd,
        "NFC" => Normalizer::Nfc,
        "NFKC" => Normalizer::Nfkc,
        "Strip" => Normalizer::Strip {
            left: flag(v, "strip_left", true)?,
            right: flag(v, "strip_right", true)?,
        },
        "Sequence" => {
            let items = v
                .get("normalizers")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Bad::Invalid("normalizer Sequence without \"normalizers\"".into())
                })?;
            for item in items {
                normalizer(item, out)?;
            }
            return Ok(());
        }
        other => {
            return Err(Bad::Unsupported(format!(
                "normalizer type {other:?} (supported: {NORMALIZERS})"
            )))
        }
    };
    out.push(n);
    Ok(())
}

fn pre_tokenizer(v: &Value, out: &mut Vec<PreTokenizer>) -> Result<(), Bad> {
    let p = match type_of(v)? {
        "BertPreTokenizer" => PreTokenizer::Bert,
        "Whitespace" => PreTokenizer::Whitespace,
        "WhitespaceSplit" => PreTokenizer::WhitespaceSplit,
        "Sequence" => {
            let items = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    Bad::Invalid("pre_tokenizer Sequence without \"pretokenizers\"".into())
                })?;
            for item in items {
                pre_tokenizer(item, out)?;
            }
            return Ok(());
        }
        other => {
            return Err(Bad::Unsupported(format!(
                "pre_tokenizer type {other:?} (supported: BertPreTokenizer, Whitespace, \
                 WhitespaceSplit, and a Sequence of those)"
            )))
        }
    };
    out.push(p);
    Ok(())
}

/// One entry of `added_tokens`: its content and whether it is matched after
/// normalization. lstrip, rstrip and single_word change where a token matches; they are
/// refused rather than ignored.
fn added_token(t: &Value) -> Result<(&str, bool), Bad> {
    let content = t
        .get("content")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Bad::Invalid(format!("added token {} without content", short(t))))?;
    for option in ["lstrip", "rstrip", "single_word"] {
        if flag(t, option, false)? {
            return Err(Bad::Unsupported(format!(
                "added token {content:?} with {option}: true (only literal matching)"
            )));
        }
    }
    let special = flag(t, "special", false)?;
    Ok((content, flag(t, "normalized", !special)?))
}

fn wordpiece(model: &Value) -> Result<(WordPiece, Vec<usize>), Bad> {
    match model.get("type").and_then(Value::as_str) {
        Some("WordPiece") => {}
        Some(other) => {
            return Err(Bad::Unsupported(format!(
                "model type {other:?} (only \"WordPiece\" is supported)"
            )))
        }
        None => return Err(Bad::Invalid("model without a \"type\" string".into())),
    }
    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| Bad::Invalid("WordPiece model without a \"vocab\" object".into()))?;
    let prefix = match model.get("continuing_subword_prefix") {
        None | Some(Value::Null) => "##",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Bad::Invalid(format!(
                "continuing_subword_prefix is {}",
                short(other)
            )))
        }
    };
    let max_input_chars_per_word = match model.get("max_input_chars_per_word") {
        None | Some(Value::Null) => 100,
        Some(v) => v
            .as_u64()
            .and_then(|m| usize::try_from(m).ok())
            .ok_or_else(|| Bad::Invalid(format!("max_input_chars_per_word is {}", short(v))))?,
    };
    let unk = model
        .get("unk_token")
        .and_then(Value::as_str)
        .ok_or_else(|| Bad::Invalid("WordPiece model without an \"unk_token\" string".into()))?;
    if vocab.len() > super::VOCAB_MAX {
        return Err(Bad::Invalid(format!(
            "vocab has {} tokens, more than the {} accepted",
            vocab.len(),
            super::VOCAB_MAX
        )));
    }
    let mut words = Map::default();
    let mut subwords = Map::default();
    let mut token_lens = vec![usize::MAX; vocab.len()];
    for (token, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .filter(|&i| (i as usize) < vocab.len())
            .ok_or_else(|| {
                Bad::Invalid(format!(
                    "token {token:?} has id {id}, not an integer below the vocab size {}",
                    vocab.len()
                ))
            })?;
        if token_lens[id as usize] != usize::MAX {
            return Err(Bad::Invalid(format!(
                "id {id} is given to two tokens (the second is {token:?})"
            )));
        }
        token_lens[id as usize] = token.chars().count();
        if let Some(rest) = token.strip_prefix(prefix).filter(|r| !r.is_empty()) {
            subwords.insert(rest.into(), id);
        }
        words.insert(token.as_str().into(), id);
    }
    // INVARIANT: ids are distinct and below vocab.len(), so they are exactly 0..len.
    let unk_id = *words.get(unk).ok_or_else(|| {
        Bad::Invalid(format!(
            "unk_token {unk:?} is not in the vocab (model2vec and tokenizers both need it)"
        ))
    })?;
    let words_bytes_max = words.keys().map(|k| k.len()).max().unwrap_or(0);
    let subwords_bytes_max = subwords.keys().map(|k| k.len()).max().unwrap_or(0);
    Ok((
        WordPiece {
            words,
            subwords,
            words_bytes_max,
            subwords_bytes_max,
            unk_id,
            max_input_chars_per_word,
        },
        token_lens,
    ))
}

/// A JSON value cut short for an error message.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    //! The byte-level fast paths against naive per-character references.

    use super::*;
    use proptest::prelude::*;

    /// BertNormalizer one character at a time, as `tokenizers` describes it.
    fn naive_bert(input: &str, n: Normalizer) -> String {
        let Normalizer::Bert {
            clean_text,
            handle_chinese_chars,
            strip_accents,
            lowercase,
        } = n
        else {
            unreachable!()
        };
        let mut out = String::new();
        for c in input.chars() {
            if clean_text && (c == '\0' || c == '\u{fffd}' || is_control(c)) {
                continue;
            }
            let c = if clean_text && c.is_whitespace() {
                ' '
            } else {
                c
            };
            let padded = handle_chinese_chars && is_chinese(c);
            if padded {
                out.push(' ');
            }
            let mut chars = String::new();
            if strip_accents {
                chars.extend(c.to_string().nfd().filter(|&d| !is_mn(d)));
            } else {
                chars.push(c);
            }
            for d in chars.chars() {
                if lowercase {
                    out.extend(d.to_lowercase());
                } else {
                    out.push(d);
                }
            }
            if padded {
                out.push(' ');
            }
        }
        out
    }

    /// BertPreTokenizer: split on whitespace, then isolate each punctuation character.
    fn naive_bert_split(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for w in text.split(char::is_whitespace) {
            let mut cur = String::new();
            for c in w.chars() {
                if is_bert_punctuation(c) {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    out.push(c.to_string());
                } else {
                    cur.push(c);
                }
            }
            if !cur.is_empty() {
                out.push(cur);
            }
        }
        out
    }

    fn text() -> impl Strategy<Value = String> {
        let alphabet: Vec<char> = "aZ09 .,$-'\t\n\r\u{b}\u{c}\0\u{7f}\u{85}\u{a0}\u{ad}\u{200b}\
                                   éÏñÅ\u{301}\u{903}中国ｱ한¿“”—…\u{3000}\u{fffd}\u{e000}ΣİẞǅΩ"
            .chars()
            .collect();
        proptest::collection::vec(proptest::sample::select(alphabet), 0..40)
            .prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #[test]
        fn bert_normalizer_matches_the_naive_one(
            t in text(),
            flags in proptest::array::uniform4(any::<bool>()),
        ) {
            let n = Normalizer::Bert {
                clean_text: flags[0],
                handle_chinese_chars: flags[1],
                strip_accents: flags[2],
                lowercase: flags[3],
            };
            let mut out = String::from("kept:");
            n.apply(&t, &mut out);
            prop_assert_eq!(out, format!("kept:{}", naive_bert(&t, n)));
        }

        #[test]
        fn bert_pre_tokenizer_matches_the_naive_one(t in text()) {
            let mut got = Vec::new();
            let _ = PreTokenizer::Bert.pieces(&t, &mut |p| {
                got.push(p.to_owned());
                ControlFlow::Continue(())
            });
            prop_assert_eq!(got, naive_bert_split(&t));
        }
    }
}
