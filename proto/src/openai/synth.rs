//! Deterministic synthetic OpenAI responses, for the gateway's built-in demo provider and
//! the mock upstream (`sluice-loadtest mock`).
//!
//! The generated text is a function of [`Spec::seed`] and [`Spec::completion_tokens`]
//! only: word `i` of the answer is the same whether it is written whole
//! ([`chat_completion`], [`text_completion`]) or split across stream frames
//! ([`ChatStream`], [`CompletionStream`]) in any number of chunks. One "token" is one
//! word here, so `usage.completion_tokens` is exact for synthetic text.
//!
//! Every writer appends to a caller-owned `Vec<u8>` and allocates nothing else: numbers
//! are formatted on a small stack buffer, and the word list holds only ASCII letters, so
//! generated text is written into JSON strings without escaping.
//! INVARIANT: every byte of [`WORDS`] is an ASCII lowercase letter (checked by a test).

use crate::json::write_string;

/// What to synthesise. `chunks` is the number of stream frames that carry content (at
/// least one; `0` is treated as `1`); with more chunks than words, some frames carry an
/// empty string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec<'a> {
    /// The model name echoed back, as raw (unescaped) bytes; escaped on output.
    pub model: &'a [u8],
    /// Determines the response id and the text.
    pub seed: u64,
    /// Unix seconds, written as `created`.
    pub created: u64,
    pub prompt_tokens: u32,
    /// Words of output, reported as `usage.completion_tokens`.
    pub completion_tokens: u32,
    pub chunks: u32,
}

/// `finish_reason` of the single choice. [`chat_completion`] and friends write `Stop`; the
/// `_with` variants let a caller report `Length` (for example when it clamped
/// `completion_tokens` to the request's `max_tokens`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FinishReason {
    #[default]
    Stop,
    Length,
}

impl FinishReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// The vocabulary synthetic text is drawn from. A power of two long, so a word is picked
/// with a mask.
pub const WORDS: [&str; 64] = [
    "the",
    "gateway",
    "routes",
    "every",
    "request",
    "to",
    "a",
    "healthy",
    "upstream",
    "and",
    "streams",
    "tokens",
    "back",
    "while",
    "counting",
    "usage",
    "for",
    "each",
    "virtual",
    "key",
    "cache",
    "hits",
    "return",
    "in",
    "microseconds",
    "budgets",
    "limit",
    "spend",
    "per",
    "team",
    "model",
    "latency",
    "stays",
    "low",
    "under",
    "load",
    "because",
    "one",
    "core",
    "owns",
    "its",
    "connections",
    "buffers",
    "are",
    "reused",
    "never",
    "copied",
    "twice",
    "errors",
    "map",
    "cleanly",
    "retries",
    "happen",
    "before",
    "first",
    "byte",
    "quiet",
    "river",
    "carries",
    "light",
    "over",
    "stone",
    "into",
    "evening",
];
const _: () = assert!(WORDS.len().is_power_of_two());

/// Estimate the prompt tokens of a request body without parsing it into a tree: the bytes
/// of every JSON string value whose nearest preceding member name is `content`, `text`,
/// `prompt`, `input`, `system` or `instructions`, divided by 4 (rounded up), and at
/// least 1. This is the usual "about four bytes per token" rule of thumb for English,
/// applied to the message text only (not to names, roles or other parameters). Escapes
/// count as written. Malformed JSON still yields a number; it is never an error.
pub fn prompt_tokens_estimate(body: &[u8]) -> u32 {
    const TEXT_KEYS: [&[u8]; 6] = [
        b"content",
        b"text",
        b"prompt",
        b"input",
        b"system",
        b"instructions",
    ];
    // Bit i of `arrays` says whether nesting level i+1 is an array; deeper levels than 128
    // are treated as objects, which only makes the estimate rougher.
    let mut arrays: u128 = 0;
    let mut depth: u32 = 0;
    let mut expect_key = false;
    let mut in_text = false;
    let mut text_bytes: u64 = 0;
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'{' | b'[' => {
                let is_array = body[i] == b'[';
                if depth < 128 {
                    arrays = (arrays & !(1u128 << depth)) | ((is_array as u128) << depth);
                }
                depth += 1;
                expect_key = !is_array;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                expect_key = false;
            }
            b',' => {
                let top_is_array =
                    depth > 0 && depth <= 128 && arrays & (1u128 << (depth - 1)) != 0;
                expect_key = depth > 0 && !top_is_array;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < body.len() && body[j] != b'"' {
                    j += if body[j] == b'\\' { 2 } else { 1 };
                }
                let s = &body[start..j.min(body.len())];
                if expect_key {
                    in_text = TEXT_KEYS.contains(&s);
                } else if in_text {
                    text_bytes += s.len() as u64;
                }
                expect_key = false;
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    text_bytes.div_ceil(4).clamp(1, u32::MAX as u64) as u32
}

/// Append a complete `chat.completion` object (non-streaming `/v1/chat/completions`).
pub fn chat_completion(out: &mut Vec<u8>, spec: &Spec) {
    chat_completion_with(out, spec, FinishReason::Stop);
}

/// [`chat_completion`] with an explicit `finish_reason`.
pub fn chat_completion_with(out: &mut Vec<u8>, spec: &Spec, finish: FinishReason) {
    object_head(out, CHAT_ID_PREFIX, b"chat.completion", spec);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"",
    );
    let mut words = Words::new(spec.seed, spec.completion_tokens);
    words.write_until(out, spec.completion_tokens);
    out.extend_from_slice(b"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish.as_str().as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    usage(out, spec);
    fingerprint(out, spec.model);
    out.push(b'}');
}

/// Append a complete `text_completion` object (non-streaming legacy `/v1/completions`).
pub fn text_completion(out: &mut Vec<u8>, spec: &Spec) {
    text_completion_with(out, spec, FinishReason::Stop);
}

/// [`text_completion`] with an explicit `finish_reason`.
pub fn text_completion_with(out: &mut Vec<u8>, spec: &Spec, finish: FinishReason) {
    object_head(out, CMPL_ID_PREFIX, b"text_completion", spec);
    out.extend_from_slice(b",\"choices\":[{\"text\":\"");
    let mut words = Words::new(spec.seed, spec.completion_tokens);
    words.write_until(out, spec.completion_tokens);
    out.extend_from_slice(b"\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(finish.as_str().as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    usage(out, spec);
    fingerprint(out, spec.model);
    out.push(b'}');
}

/// Append an embeddings `list` with `inputs` embedding objects of `dims` floats each.
/// Vector `i` is a deterministic function of (`seed`, `i`), has unit Euclidean norm (up
/// to the 8 decimals written), and differs between inputs.
pub fn embeddings(
    out: &mut Vec<u8>,
    model: &[u8],
    inputs: u32,
    dims: u32,
    seed: u64,
    prompt_tokens: u32,
) {
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for input in 0..inputs {
        if input > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        push_u64(out, input as u64);
        out.extend_from_slice(b",\"embedding\":[");
        let vector_seed = mix(seed ^ (input as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        // Two passes over the same generator: the first finds the norm, the second writes
        // normalised components, so no vector is ever stored.
        let mut rng = vector_seed;
        let mut sum_sq = 0.0f64;
        for _ in 0..dims {
            let v = unit_interval(&mut rng);
            sum_sq += v * v;
        }
        let norm = if sum_sq > 0.0 { sum_sq.sqrt() } else { 1.0 };
        let mut rng = vector_seed;
        for d in 0..dims {
            if d > 0 {
                out.push(b',');
            }
            push_fixed8(out, unit_interval(&mut rng) / norm);
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"],\"model\":");
    write_string(out, model);
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":");
    push_u64(out, prompt_tokens as u64);
    out.extend_from_slice(b",\"total_tokens\":");
    push_u64(out, prompt_tokens as u64);
    out.extend_from_slice(b"}}");
}

/// Append a `/v1/models` list.
pub fn models_list(out: &mut Vec<u8>, models: &[&[u8]], created: u64, owned_by: &[u8]) {
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, model) in models.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        write_string(out, model);
        out.extend_from_slice(b",\"object\":\"model\",\"created\":");
        push_u64(out, created);
        out.extend_from_slice(b",\"owned_by\":");
        write_string(out, owned_by);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
}

/// A streamed chat completion, one SSE frame (`data: {...}\n\n`) per [`next_frame`]:
/// a role delta, `chunks` content deltas, a delta with `finish_reason`, then (when
/// `include_usage`, OpenAI's `stream_options.include_usage`) a usage chunk with empty
/// `choices`, then `data: [DONE]`. With `include_usage` every earlier chunk carries
/// `"usage":null`, as OpenAI's do.
///
/// [`next_frame`]: ChatStream::next_frame
#[derive(Clone, Debug)]
pub struct ChatStream<'a> {
    frames: Frames<'a>,
}

impl<'a> ChatStream<'a> {
    pub fn new(spec: Spec<'a>, include_usage: bool) -> Self {
        ChatStream {
            frames: Frames::new(spec, include_usage, true),
        }
    }

    /// Report `finish` instead of `stop` in the finishing chunk.
    pub fn with_finish(mut self, finish: FinishReason) -> Self {
        self.frames.finish = finish;
        self
    }

    /// Append the next frame to `out`. Returns false, writing nothing, once `[DONE]` has
    /// been written.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        self.frames.next_frame(out)
    }
}

/// A streamed legacy completion (`text_completion` chunks): `chunks` text chunks, a chunk
/// with `finish_reason`, an optional usage chunk, then `data: [DONE]`.
#[derive(Clone, Debug)]
pub struct CompletionStream<'a> {
    frames: Frames<'a>,
}

impl<'a> CompletionStream<'a> {
    pub fn new(spec: Spec<'a>, include_usage: bool) -> Self {
        CompletionStream {
            frames: Frames::new(spec, include_usage, false),
        }
    }

    /// Report `finish` instead of `stop` in the finishing chunk.
    pub fn with_finish(mut self, finish: FinishReason) -> Self {
        self.frames.finish = finish;
        self
    }

    /// Append the next frame to `out`. Returns false, writing nothing, once `[DONE]` has
    /// been written.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        self.frames.next_frame(out)
    }
}

const CHAT_ID_PREFIX: &[u8] = b"chatcmpl-";
const CMPL_ID_PREFIX: &[u8] = b"cmpl-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Role,
    Content,
    Finish,
    Usage,
    Done,
    End,
}

/// The state machine shared by both stream kinds; `chat` picks the chunk shape.
#[derive(Clone, Debug)]
struct Frames<'a> {
    spec: Spec<'a>,
    include_usage: bool,
    chat: bool,
    finish: FinishReason,
    phase: Phase,
    /// Content frames written so far. INVARIANT: `chunk <= chunks()`.
    chunk: u32,
    words: Words,
}

impl<'a> Frames<'a> {
    fn new(spec: Spec<'a>, include_usage: bool, chat: bool) -> Self {
        Frames {
            spec,
            include_usage,
            chat,
            finish: FinishReason::Stop,
            phase: if chat { Phase::Role } else { Phase::Content },
            chunk: 0,
            words: Words::new(spec.seed, spec.completion_tokens),
        }
    }

    fn chunks(&self) -> u32 {
        self.spec.chunks.max(1)
    }

    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        match self.phase {
            Phase::Role => {
                self.chunk_open(out);
                out.extend_from_slice(b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}");
                self.chunk_close(out);
                self.phase = Phase::Content;
            }
            Phase::Content => {
                self.chunk += 1;
                let until = chunk_end(self.chunk, self.spec.completion_tokens, self.chunks());
                self.chunk_open(out);
                out.extend_from_slice(if self.chat {
                    b"{\"index\":0,\"delta\":{\"content\":\""
                } else {
                    b"{\"text\":\""
                });
                self.words.write_until(out, until);
                out.extend_from_slice(if self.chat {
                    b"\"},\"logprobs\":null,\"finish_reason\":null}".as_slice()
                } else {
                    b"\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}".as_slice()
                });
                self.chunk_close(out);
                if self.chunk == self.chunks() {
                    self.phase = Phase::Finish;
                }
            }
            Phase::Finish => {
                self.chunk_open(out);
                out.extend_from_slice(if self.chat {
                    b"{\"index\":0,\"delta\":{},"
                } else {
                    b"{\"text\":\"\",\"index\":0,"
                });
                out.extend_from_slice(b"\"logprobs\":null,\"finish_reason\":\"");
                out.extend_from_slice(self.finish.as_str().as_bytes());
                out.extend_from_slice(b"\"}");
                self.chunk_close(out);
                self.phase = if self.include_usage {
                    Phase::Usage
                } else {
                    Phase::Done
                };
            }
            Phase::Usage => {
                self.chunk_open(out);
                out.extend_from_slice(b"],\"usage\":");
                usage(out, &self.spec);
                out.extend_from_slice(b"}\n\n");
                self.phase = Phase::Done;
            }
            Phase::Done => {
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.phase = Phase::End;
            }
            Phase::End => return false,
        }
        true
    }

    /// `data: {"id":..,"object":..,"created":..,"model":..,"system_fingerprint":..,"choices":[`
    fn chunk_open(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        if self.chat {
            object_head(out, CHAT_ID_PREFIX, b"chat.completion.chunk", &self.spec);
        } else {
            object_head(out, CMPL_ID_PREFIX, b"text_completion", &self.spec);
        }
        fingerprint(out, self.spec.model);
        out.extend_from_slice(b",\"choices\":[");
    }

    fn chunk_close(&self, out: &mut Vec<u8>) {
        out.push(b']');
        if self.include_usage {
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
    }
}

/// Where content frame `k` (1-based) of `chunks` ends: words `[chunk_end(k-1),
/// chunk_end(k))` go in frame `k`, so `chunk_end(chunks) == words`. Every stream writer,
/// here and in the mock's native formats, splits text this way, so a streamed answer
/// concatenates to the whole one.
pub fn chunk_end(k: u32, words: u32, chunks: u32) -> u32 {
    debug_assert!(k <= chunks.max(1));
    (k as u64 * words as u64 / chunks.max(1) as u64) as u32
}

/// The word generator behind every synthetic text. Sentences are 6 to 14 words,
/// capitalised, ending in a period; the last word always ends one. Words after the first
/// are written with a leading space, so pieces written by successive
/// [`write_until`](Words::write_until) calls concatenate to the whole text.
#[derive(Clone, Debug)]
pub struct Words {
    rng: u64,
    /// Words written so far.
    index: u32,
    total: u32,
    sentence_left: u32,
}

impl Words {
    /// The text of `total` words for `seed`: the same as [`chat_completion`] writes.
    pub fn new(seed: u64, total: u32) -> Self {
        Words {
            rng: seed ^ 0x5eed_7e47_0000_0001,
            index: 0,
            total,
            sentence_left: 0,
        }
    }

    /// Append words until `until` (exclusive, capped at `total`) have been written.
    pub fn write_until(&mut self, out: &mut Vec<u8>, until: u32) {
        while self.index < until.min(self.total) {
            let r = splitmix(&mut self.rng);
            let starts_sentence = self.sentence_left == 0;
            if starts_sentence {
                self.sentence_left = 6 + ((r >> 32) % 9) as u32;
            }
            if self.index > 0 {
                out.push(b' ');
            }
            let word = WORDS[(r as usize) & (WORDS.len() - 1)].as_bytes();
            if starts_sentence {
                out.push(word[0].to_ascii_uppercase());
                out.extend_from_slice(&word[1..]);
            } else {
                out.extend_from_slice(word);
            }
            self.sentence_left -= 1;
            self.index += 1;
            if self.sentence_left == 0 || self.index == self.total {
                out.push(b'.');
            }
        }
    }
}

/// `{"id":"<prefix><16 hex of seed>","object":"<object>","created":N,"model":"<model>"`
fn object_head(out: &mut Vec<u8>, id_prefix: &[u8], object: &[u8], spec: &Spec) {
    out.extend_from_slice(b"{\"id\":\"");
    out.extend_from_slice(id_prefix);
    push_hex(out, spec.seed, 16);
    out.extend_from_slice(b"\",\"object\":\"");
    out.extend_from_slice(object);
    out.extend_from_slice(b"\",\"created\":");
    push_u64(out, spec.created);
    out.extend_from_slice(b",\"model\":");
    write_string(out, spec.model);
}

/// `,"system_fingerprint":"fp_<10 hex>"`, stable per model name.
fn fingerprint(out: &mut Vec<u8>, model: &[u8]) {
    out.extend_from_slice(b",\"system_fingerprint\":\"fp_");
    push_hex(out, mix(fnv1a(model)) >> 24, 10);
    out.push(b'"');
}

fn usage(out: &mut Vec<u8>, spec: &Spec) {
    out.extend_from_slice(b"{\"prompt_tokens\":");
    push_u64(out, spec.prompt_tokens as u64);
    out.extend_from_slice(b",\"completion_tokens\":");
    push_u64(out, spec.completion_tokens as u64);
    out.extend_from_slice(b",\"total_tokens\":");
    push_u64(
        out,
        spec.prompt_tokens as u64 + spec.completion_tokens as u64,
    );
    out.extend_from_slice(
        b",\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}",
    );
}

/// Append `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append the low `digits` hex digits of `n`, zero-padded, lowercase.
fn push_hex(out: &mut Vec<u8>, n: u64, digits: u32) {
    debug_assert!(digits <= 16);
    for shift in (0..digits).rev() {
        out.push(b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize]);
    }
}

/// Append `v` (expected in [-1, 1]) with exactly 8 decimals, e.g. `-0.01234568`.
fn push_fixed8(out: &mut Vec<u8>, v: f64) {
    const SCALE: u64 = 100_000_000;
    let scaled = (v * SCALE as f64).round();
    let magnitude = scaled.abs() as u64;
    if scaled < 0.0 {
        out.push(b'-');
    }
    push_u64(out, magnitude / SCALE);
    out.push(b'.');
    let frac = magnitude % SCALE;
    let mut buf = [b'0'; 8];
    let mut rest = frac;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend_from_slice(&buf);
}

/// A uniform float in [-1, 1) from the generator.
fn unit_interval(rng: &mut u64) -> f64 {
    // 53 random bits -> [0, 1) -> [-1, 1).
    ((splitmix(rng) >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// SplitMix64 (Steele, Lea, Flood 2014): one step of the generator.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// SplitMix64's finaliser: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
