//! Canonical request keys: the same request always hashes to the same [`Key`], in every
//! process and every run, whatever its member order, whitespace, number spelling or string
//! escapes.
//!
//! Why this exists: gateways that hash the request bytes (or a map with a random hasher, or
//! a re-serialization whose member order follows a `HashMap`) miss on byte-different but
//! equal requests, or, worse, give byte-identical requests different keys across processes
//! (Bifrost #2791, #3190). A [`Key`] is also the key of the exact cache's snapshot, so it must
//! be a pure function of `(route, scope, canonical body)`.
//!
//! How: the body is parsed once into a flat tree (one [`Node`] per value, strings decoded and
//! numbers normalized into a byte arena), then written out in a canonical, binary,
//! length-prefixed form and hashed with xxh3-128 (unseeded: deterministic by definition).
//!
//! The canonical form, byte by byte (every length and count little-endian):
//! - header: a domain byte (`K` for [`request_key`], `C` for the context hash of
//!   [`split_last_user`], so the two can never be equal), then `route` and `scope` each as
//!   a `u64` length and the bytes. Length prefixes keep `("ab", "c")` and `("a", "bc")`
//!   apart.
//! - object: `{`, `u32` member count, then each member as its name (a string) and its value,
//!   members sorted by their *decoded* name bytes. Members with equal names keep their
//!   order: parsers disagree on which duplicate wins, so `{"a":1,"a":2}` and
//!   `{"a":2,"a":1}` are different requests.
//! - array: `[`, `u32` element count, the elements in order.
//! - string: `"`, `u32` length, the decoded UTF-8 bytes (`"\u00e9"` == `"é"`, `"\/"` == `"/"`).
//! - number: `#`, a sign byte (`+`/`-`), `u32` digit count, the significant decimal digits
//!   (no leading or trailing zeros), an `i64` exponent: the value is `digits × 10^exponent`.
//!   So `1`, `1.0`, `1e0`, `10e-1` and `0.1e1` are equal; every zero (`0`, `-0`, `0.0e9`) is
//!   `+`, no digits, exponent 0; and `9007199254740993` stays distinct from
//!   `9007199254740992` because no `f64` is ever involved.
//! - `t`, `f`, `n`: true, false, null.
//!
//! Every prefix makes the encoding self-delimiting, so two different canonical values
//! never produce the same bytes.
//!
//! Invariants: no recursion deeper than [`DEPTH_MAX`] (the parser is iterative and refuses
//! deeper input; the writer recurses at most that deep); no allocation per call once the
//! per-thread scratch buffers have grown to the working size (they are dropped when they
//! exceed [`SCRATCH_KEEP_BYTES_MAX`]); JSON validity is RFC 8259 as `proto::json` checks
//! it (strings are decoded by [`proto::json::unescape_string`]).
//!
//! Performance (`cargo bench -p sluice-bench --bench cache_exact`, table in
//! `bench/benches/cache_exact.rs`): ~2.6 µs for a 1 KiB chat body, ~16 µs for 8 KiB, under
//! half of a `serde_json::Value` parse and re-serialization, with no allocation.
//!
//! A [`CanonError`] means "do not cache this request", never "reject it": the upstream is
//! the judge of what it accepts.

use std::cell::RefCell;
use std::fmt;

use memchr::memchr2;
use xxhash_rust::xxh3::xxh3_128;

#[cfg(test)]
mod tests;

/// A request's cache key: xxh3-128 of its canonical form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub u128);

/// Maximum nesting of arrays and objects, the top-level object included (as
/// `proto::json::DEPTH_MAX`).
pub const DEPTH_MAX: usize = 128;

/// Significant digits allowed in a number's exponent. Beyond this the exponent would not
/// fit the canonical `i64` exactly, and no model parameter needs `1e1000000000000000000`.
pub const EXPONENT_DIGITS_MAX: usize = 18;

/// Per-thread scratch buffers larger than this (bytes) are freed after use, so one huge
/// request does not pin its memory on a worker forever.
pub const SCRATCH_KEEP_BYTES_MAX: usize = 1 << 20;

/// Top-level members that never change the answer and are left out of the key. Names are
/// compared decoded (`"str\u0065am"` is `stream`). Everything else stays in, including every
/// member this list does not know: a new output-changing parameter must never be ignored by
/// accident.
///
/// - `stream`: a streamed and a non-streamed request get the same answer; the cache stores
///   either form and replays it as the other (`proto::chat::replay`).
/// - `stream_options`: only asks for a usage chunk at the end of a stream; replay writes it
///   from the stored usage.
/// - `user`, `safety_identifier`: end-user ids for the provider's abuse monitoring. Tenant
///   isolation is the `scope` argument, not this field.
/// - `metadata`, `store`: OpenAI's stored-completions bookkeeping.
/// - `service_tier`: the provider's latency/price tier for the same model.
/// - `prompt_cache_key`: a routing hint for the provider's prompt cache.
///
/// Deliberately kept: `parallel_tool_calls` (one call or several is a different answer),
/// `n`, `temperature`, `top_p`, `seed`, `max_tokens`, `max_completion_tokens`, `tools`,
/// `tool_choice`, `response_format`, `stop`, `logprobs`, `top_logprobs`, `logit_bias`,
/// `presence_penalty`, `frequency_penalty`, `reasoning_effort`, `modalities`, `audio`,
/// `prediction`, `web_search_options`.
pub const IGNORED_MEMBERS: &[&str] = &[
    "metadata",
    "prompt_cache_key",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "user",
];

/// Why a body has no canonical key. The engine treats each as "not cacheable".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CanonError {
    /// Not valid JSON; the byte where parsing stopped.
    NotJson(usize),
    /// Valid-looking JSON whose top-level value is not an object.
    NotAnObject,
    /// Nesting deeper than [`DEPTH_MAX`].
    TooDeep,
    /// A number whose exponent has more than [`EXPONENT_DIGITS_MAX`] significant digits.
    NumberOutOfRange,
    /// A body of 4 GiB or more (offsets are `u32`).
    TooLarge,
}

impl fmt::Display for CanonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanonError::NotJson(at) => write!(f, "body is not valid JSON (byte {at})"),
            CanonError::NotAnObject => f.write_str("body is not a JSON object"),
            CanonError::TooDeep => write!(f, "body nests deeper than {DEPTH_MAX} levels"),
            CanonError::NumberOutOfRange => f.write_str("a number's exponent is out of range"),
            CanonError::TooLarge => f.write_str("body is too large to key"),
        }
    }
}

impl std::error::Error for CanonError {}

/// The key of a whole request: `route` (`b"chat"`, `b"embeddings"`, ...) and `scope` (the
/// tenant id the engine chose: key, team or org) first, then the canonical body without
/// [`IGNORED_MEMBERS`].
pub fn request_key(route: &[u8], scope: &[u8], body: &[u8]) -> Result<Key, CanonError> {
    with_scratch(|s| {
        s.parse(body)?;
        s.header(b'K', route, scope);
        s.emit_root(None);
        Ok(Key(xxh3_128(&s.out)))
    })
}

/// The semantic cache's split: the context hash and the last user message's text.
///
/// The context is everything [`request_key`] hashes (same ignored members, different domain
/// byte) except the *text* of the last message: that message stays in as its remainder —
/// its role and other members, and its non-text content parts (images, audio, files) — so
/// an image question never shares a context with a text question, and the position of the
/// turn is part of the context.
///
/// The text is the `content` string, or the `text` of every `{"type":"text"}` part joined
/// with `\n` (a separator, so that two parts do not fuse into one word).
///
/// `None` when there is not exactly one top-level `messages` array, it is empty, its last
/// element is not an object with `"role":"user"`, or that message has no text.
pub fn split_last_user(
    route: &[u8],
    scope: &[u8],
    body: &[u8],
) -> Result<Option<(Key, String)>, CanonError> {
    with_scratch(|s| {
        s.parse(body)?;
        let Some(last) = s.last_user() else {
            return Ok(None);
        };
        let text = s.user_text(last.content);
        if text.is_empty() {
            return Ok(None);
        }
        s.header(b'C', route, scope);
        s.emit_root(Some(last));
        Ok(Some((Key(xxh3_128(&s.out)), text)))
    })
}

/// The canonical bytes [`request_key`] hashes, for tests that check the form itself.
#[cfg(test)]
pub(crate) fn canonical_bytes(
    route: &[u8],
    scope: &[u8],
    body: &[u8],
) -> Result<Vec<u8>, CanonError> {
    with_scratch(|s| {
        s.parse(body)?;
        s.header(b'K', route, scope);
        s.emit_root(None);
        Ok(s.out.clone())
    })
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|cell| {
        let mut s = cell.borrow_mut();
        let r = f(&mut s);
        s.trim();
        r
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    Object,
    Array,
    String,
    Number,
    True,
    False,
    Null,
}

/// One JSON value in preorder. A container's children follow it; a member of an object is
/// two children, its name (a `String`) then its value.
#[derive(Clone, Copy, Debug)]
struct Node {
    kind: NodeKind,
    /// Children (containers; twice the member count for objects).
    count: u32,
    /// Index one past this node's subtree: the next sibling.
    end: u32,
    /// `String`: decoded bytes, `Number`: canonical encoding, in `Scratch::text`.
    start: u32,
    len: u32,
}

/// The last user message, as [`split_last_user`] found it.
#[derive(Clone, Copy, Debug)]
struct LastUser {
    /// The message object's node.
    message: usize,
    /// Its `content` value node.
    content: usize,
}

/// Per-thread buffers, reused across calls.
#[derive(Default)]
struct Scratch {
    nodes: Vec<Node>,
    text: Vec<u8>,
    /// Open containers while parsing.
    stack: Vec<u32>,
    /// Member orders while writing (a stack of slices, one per open object).
    order: Vec<u32>,
    out: Vec<u8>,
}

#[derive(Clone, Copy)]
enum State {
    Value,
    Name,
    AfterValue,
}

impl Scratch {
    fn trim(&mut self) {
        let bytes = self.nodes.capacity() * size_of::<Node>()
            + self.text.capacity()
            + (self.stack.capacity() + self.order.capacity()) * 4
            + self.out.capacity();
        if bytes > SCRATCH_KEEP_BYTES_MAX {
            *self = Scratch::default();
        }
    }

    fn parse(&mut self, body: &[u8]) -> Result<(), CanonError> {
        if u32::try_from(body.len()).is_err() {
            return Err(CanonError::TooLarge);
        }
        self.nodes.clear();
        self.text.clear();
        self.stack.clear();
        Parser {
            body,
            i: 0,
            s: self,
        }
        .document()
    }

    fn header(&mut self, domain: u8, route: &[u8], scope: &[u8]) {
        self.out.clear();
        self.out.push(domain);
        for part in [route, scope] {
            self.out
                .extend_from_slice(&(part.len() as u64).to_le_bytes());
            self.out.extend_from_slice(part);
        }
    }

    fn str_of(&self, n: usize) -> &[u8] {
        let node = self.nodes[n];
        &self.text[node.start as usize..(node.start + node.len) as usize]
    }

    fn is_string(&self, n: usize, s: &[u8]) -> bool {
        self.nodes[n].kind == NodeKind::String && self.str_of(n) == s
    }

    /// The value node of the only member named `name` of object `obj`; `None` when absent
    /// or repeated.
    fn member(&self, obj: usize, name: &[u8]) -> Option<usize> {
        let mut found = None;
        let mut c = obj + 1;
        for _ in 0..self.nodes[obj].count / 2 {
            if self.str_of(c) == name {
                if found.is_some() {
                    return None;
                }
                found = Some(c + 1);
            }
            c = self.nodes[c + 1].end as usize;
        }
        found
    }

    /// The children of container `n`, in order.
    fn children(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        let mut c = n + 1;
        (0..self.nodes[n].count).map(move |_| {
            let this = c;
            c = self.nodes[c].end as usize;
            this
        })
    }

    fn last_user(&self) -> Option<LastUser> {
        let messages = self.member(0, b"messages")?;
        if self.nodes[messages].kind != NodeKind::Array {
            return None;
        }
        let message = self.children(messages).last()?;
        if self.nodes[message].kind != NodeKind::Object {
            return None;
        }
        let role = self.member(message, b"role")?;
        if !self.is_string(role, b"user") {
            return None;
        }
        let content = self.member(message, b"content")?;
        Some(LastUser { message, content })
    }

    /// A part of an array `content` that [`split_last_user`] takes as text: its `text`
    /// value node.
    fn text_part(&self, part: usize) -> Option<usize> {
        if self.nodes[part].kind != NodeKind::Object {
            return None;
        }
        let kind = self.member(part, b"type")?;
        let text = self.member(part, b"text")?;
        (self.is_string(kind, b"text") && self.nodes[text].kind == NodeKind::String).then_some(text)
    }

    fn user_text(&self, content: usize) -> String {
        match self.nodes[content].kind {
            NodeKind::String => String::from_utf8_lossy(self.str_of(content)).into_owned(),
            NodeKind::Array => {
                let mut text = Vec::new();
                for t in self.children(content).filter_map(|p| self.text_part(p)) {
                    if !text.is_empty() {
                        text.push(b'\n');
                    }
                    text.extend_from_slice(self.str_of(t));
                }
                // INVARIANT: every string in `text` was decoded by `unescape_string`, which
                // yields valid UTF-8; lossy conversion never replaces anything here.
                String::from_utf8_lossy(&text).into_owned()
            }
            _ => String::new(),
        }
    }

    fn emit_root(&mut self, split: Option<LastUser>) {
        self.order.clear();
        self.emit_object(0, true, split);
    }

    fn emit(&mut self, n: usize) {
        let node = self.nodes[n];
        match node.kind {
            NodeKind::Object => self.emit_object(n, false, None),
            NodeKind::Array => {
                self.out.push(b'[');
                self.out.extend_from_slice(&node.count.to_le_bytes());
                let mut c = n + 1;
                for _ in 0..node.count {
                    self.emit(c);
                    c = self.nodes[c].end as usize;
                }
            }
            NodeKind::String => self.emit_string(n),
            NodeKind::Number => {
                self.out.push(b'#');
                let range = node.start as usize..(node.start + node.len) as usize;
                self.out.extend_from_slice(&self.text[range]);
            }
            NodeKind::True => self.out.push(b't'),
            NodeKind::False => self.out.push(b'f'),
            NodeKind::Null => self.out.push(b'n'),
        }
    }

    fn emit_string(&mut self, n: usize) {
        let node = self.nodes[n];
        self.out.push(b'"');
        self.out.extend_from_slice(&node.len.to_le_bytes());
        let range = node.start as usize..(node.start + node.len) as usize;
        self.out.extend_from_slice(&self.text[range]);
    }

    /// Object `n` with its members sorted by name. At the root (`root`), ignored members
    /// are left out, and with `split` the last user message is written as its remainder.
    fn emit_object(&mut self, n: usize, root: bool, split: Option<LastUser>) {
        let base = self.order.len();
        let mut c = n + 1;
        for _ in 0..self.nodes[n].count / 2 {
            let skip = root && {
                let name = self.str_of(c);
                IGNORED_MEMBERS.iter().any(|m| m.as_bytes() == name)
            };
            // A member the remainder of the last user message leaves out entirely.
            let skip = skip
                || split
                    .is_some_and(|s| s.message == n && s.content == c + 1 && self.text_only(c + 1));
            if !skip {
                self.order.push(c as u32);
            }
            c = self.nodes[c + 1].end as usize;
        }
        {
            let Scratch {
                nodes, text, order, ..
            } = self;
            let name = |m: u32| {
                let node = nodes[m as usize];
                &text[node.start as usize..(node.start + node.len) as usize]
            };
            // Unstable sort with the position as tie-break: the order of equal names is kept
            // (see the module doc) without the allocation a stable sort may make.
            order[base..].sort_unstable_by(|&a, &b| name(a).cmp(name(b)).then(a.cmp(&b)));
        }
        let members = self.order.len() - base;
        self.out.push(b'{');
        self.out.extend_from_slice(&(members as u32).to_le_bytes());
        for k in base..base + members {
            let name = self.order[k] as usize;
            self.emit_string(name);
            let value = name + 1;
            match split {
                // INVARIANT: with `split`, the root has exactly one `messages` (`last_user`
                // found it with `member`, which refuses repeats).
                Some(s) if root && self.str_of(name) == b"messages" => self.emit_messages(value, s),
                Some(s) if s.message == n && s.content == value => self.emit_non_text_parts(value),
                _ => self.emit(value),
            }
        }
        self.order.truncate(base);
    }

    /// `messages` with its last element written as the remainder.
    fn emit_messages(&mut self, n: usize, s: LastUser) {
        let count = self.nodes[n].count;
        self.out.push(b'[');
        self.out.extend_from_slice(&count.to_le_bytes());
        let mut c = n + 1;
        for _ in 0..count {
            if c == s.message {
                self.emit_object(c, false, Some(s));
            } else {
                self.emit(c);
            }
            c = self.nodes[c].end as usize;
        }
    }

    /// Whether the last user message's `content` is all text (a string, or parts that are
    /// all text), so its remainder has no `content` at all.
    fn text_only(&self, content: usize) -> bool {
        match self.nodes[content].kind {
            NodeKind::String => true,
            NodeKind::Array => self.children(content).all(|p| self.text_part(p).is_some()),
            _ => false,
        }
    }

    /// An array `content` without its text parts.
    fn emit_non_text_parts(&mut self, content: usize) {
        let at = self.out.len();
        self.out.push(b'[');
        self.out.extend_from_slice(&0u32.to_le_bytes());
        let mut kept = 0u32;
        let mut c = content + 1;
        for _ in 0..self.nodes[content].count {
            if self.text_part(c).is_none() {
                self.emit(c);
                kept += 1;
            }
            c = self.nodes[c].end as usize;
        }
        self.out[at + 1..at + 5].copy_from_slice(&kept.to_le_bytes());
    }
}

struct Parser<'b, 's> {
    body: &'b [u8],
    /// INVARIANT: i <= body.len().
    i: usize,
    s: &'s mut Scratch,
}

impl Parser<'_, '_> {
    fn document(&mut self) -> Result<(), CanonError> {
        self.ws();
        match self.peek() {
            Some(b'{') => {}
            Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
                return Err(CanonError::NotAnObject)
            }
            _ => return Err(self.bad()),
        }
        let mut state = State::Value;
        loop {
            state = match state {
                State::Value => self.value()?,
                State::Name => {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(self.bad());
                    }
                    self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    State::Value
                }
                State::AfterValue => {
                    self.ws();
                    let Some(&top) = self.s.stack.last() else {
                        return if self.i == self.body.len() {
                            Ok(())
                        } else {
                            Err(self.bad())
                        };
                    };
                    let object = self.s.nodes[top as usize].kind == NodeKind::Object;
                    match (self.peek(), object) {
                        (Some(b','), true) => {
                            self.i += 1;
                            State::Name
                        }
                        (Some(b','), false) => {
                            self.i += 1;
                            State::Value
                        }
                        (Some(b'}'), true) | (Some(b']'), false) => {
                            self.i += 1;
                            self.close();
                            State::AfterValue
                        }
                        _ => return Err(self.bad()),
                    }
                }
            };
        }
    }

    /// One value; a container is opened (and, when empty, closed) here.
    fn value(&mut self) -> Result<State, CanonError> {
        self.ws();
        let Some(b) = self.peek() else {
            return Err(self.bad());
        };
        match b {
            b'{' | b'[' => {
                let (kind, close) = if b == b'{' {
                    (NodeKind::Object, b'}')
                } else {
                    (NodeKind::Array, b']')
                };
                if self.s.stack.len() == DEPTH_MAX {
                    return Err(CanonError::TooDeep);
                }
                let n = self.push(kind, 0, 0);
                self.s.stack.push(n);
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    self.close();
                    return Ok(State::AfterValue);
                }
                return Ok(if kind == NodeKind::Object {
                    State::Name
                } else {
                    State::Value
                });
            }
            b'"' => self.string()?,
            b'-' | b'0'..=b'9' => self.number()?,
            b't' => self.literal(b"true", NodeKind::True)?,
            b'f' => self.literal(b"false", NodeKind::False)?,
            b'n' => self.literal(b"null", NodeKind::Null)?,
            _ => return Err(self.bad()),
        }
        Ok(State::AfterValue)
    }

    fn push(&mut self, kind: NodeKind, start: usize, len: usize) -> u32 {
        let n = self.s.nodes.len() as u32;
        if let Some(&top) = self.s.stack.last() {
            self.s.nodes[top as usize].count += 1;
        }
        // INVARIANT: body.len() < 2^32 (checked in `parse`), and `text` grows by at most a
        // few bytes per body byte plus 13 per number, so offsets fit in u32 for every body
        // the gateway accepts (its body limit is far below 256 MiB).
        self.s.nodes.push(Node {
            kind,
            count: 0,
            end: n + 1,
            start: start as u32,
            len: len as u32,
        });
        n
    }

    fn close(&mut self) {
        if let Some(top) = self.s.stack.pop() {
            self.s.nodes[top as usize].end = self.s.nodes.len() as u32;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.body.get(self.i).copied()
    }

    fn bad(&self) -> CanonError {
        CanonError::NotJson(self.i)
    }

    fn expect(&mut self, b: u8) -> Result<(), CanonError> {
        if self.peek() != Some(b) {
            return Err(self.bad());
        }
        self.i += 1;
        Ok(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], kind: NodeKind) -> Result<(), CanonError> {
        if !self.body[self.i..].starts_with(word) {
            return Err(self.bad());
        }
        self.i += word.len();
        self.push(kind, 0, 0);
        Ok(())
    }

    /// A string starting at `body[i] == '"'`, decoded into `text`.
    fn string(&mut self) -> Result<(), CanonError> {
        let open = self.i;
        let mut j = open + 1;
        // Find the closing quote: the first `"` not escaped. A `\` always escapes the byte
        // after it; `unescape_string` then checks the whole literal strictly.
        let close = loop {
            let Some(k) = memchr2(b'"', b'\\', &self.body[j..]) else {
                return Err(CanonError::NotJson(self.body.len()));
            };
            if self.body[j + k] == b'"' {
                break j + k;
            }
            j += k + 2;
            if j > self.body.len() {
                return Err(CanonError::NotJson(self.body.len()));
            }
        };
        let start = self.s.text.len();
        if !proto::json::unescape_string(&self.body[open..=close], &mut self.s.text) {
            return Err(CanonError::NotJson(open));
        }
        self.i = close + 1;
        let len = self.s.text.len() - start;
        self.push(NodeKind::String, start, len);
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let from = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - from
    }

    /// A number, strictly by RFC 8259's grammar, written to `text` in canonical form (see
    /// the module doc).
    fn number(&mut self) -> Result<(), CanonError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let int_from = self.i;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.bad()),
        }
        let int = int_from..self.i;
        let mut frac = self.i..self.i;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let from = self.i;
            if self.digits() == 0 {
                return Err(self.bad());
            }
            frac = from..self.i;
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            let minus = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let from = self.i;
            if self.digits() == 0 {
                return Err(self.bad());
            }
            let written = &self.body[from..self.i];
            let significant = &written[written.iter().take_while(|&&d| d == b'0').count()..];
            if significant.len() > EXPONENT_DIGITS_MAX {
                return Err(CanonError::NumberOutOfRange);
            }
            for &d in significant {
                exponent = exponent * 10 + i64::from(d - b'0');
            }
            if minus {
                exponent = -exponent;
            }
        }
        // digits × 10^exponent with digits = int ++ frac: shift by the fraction's length.
        exponent -= frac.len() as i64;

        let text = &mut self.s.text;
        let start = text.len();
        text.push(b'+');
        text.extend_from_slice(&[0; 4]);
        let digits_from = text.len();
        for &d in self.body[int].iter().chain(&self.body[frac]) {
            // Leading zeros carry no value.
            if d != b'0' || text.len() > digits_from {
                text.push(d);
            }
        }
        let trailing = text[digits_from..]
            .iter()
            .rev()
            .take_while(|&&d| d == b'0')
            .count();
        text.truncate(text.len() - trailing);
        let digit_count = text.len() - digits_from;
        if digit_count == 0 {
            // Zero: one spelling for `0`, `-0`, `0.000`, `0e7`.
            exponent = 0;
        } else {
            exponent += trailing as i64;
            if negative {
                text[start] = b'-';
            }
        }
        text[start + 1..digits_from].copy_from_slice(&(digit_count as u32).to_le_bytes());
        text.extend_from_slice(&exponent.to_le_bytes());
        let len = text.len() - start;
        self.push(NodeKind::Number, start, len);
        Ok(())
    }
}
