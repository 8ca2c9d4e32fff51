//! A validating, single-pass JSON scanner.
//!
//! The gateway's pass-through path needs three things from a request body: that it is
//! valid JSON, the byte span of a few top-level members (`model`, `stream`), and the
//! ability to splice a new `model` value in. [`scan_object`] does that without building a
//! tree or allocating: one forward pass, string bodies skipped with `memchr2` and checked a
//! word at a time, nesting tracked in a 128-bit stack.
//!
//! What "valid" means is RFC 8259, checked strictly, and chosen to agree with
//! `serde_json::from_slice::<serde_json::Value>` (the property tests compare the two):
//! - strings are valid UTF-8, contain no unescaped control character (< 0x20), and use only
//!   the escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; a `\u` escape of a UTF-16 surrogate
//!   must form a high-low pair. Lone surrogates are rejected, as serde_json does when it
//!   builds a `Value` (they cannot be represented in a Rust `String`, nor forwarded to a
//!   provider that will decode them);
//! - numbers follow the grammar (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`);
//! - whitespace is only space, tab, LF and CR; literals are `true`, `false`, `null`;
//! - nesting is at most [`DEPTH_MAX`]; the top level must be an object.
//!
//! Known differences from serde_json, both deliberate: a number whose magnitude overflows
//! `f64` (`1e400`) is accepted here (the grammar allows it, and the gateway never converts
//! numbers), and nesting may reach 128 levels where serde_json stops at 127.
//!
//! Performance (`cargo bench -p sluice-bench --bench sse_json`, table in
//! `bench/benches/sse_json.rs`): on a 1 KiB chat completion request `scan_object` takes
//! about half the time of `simd_json::to_borrowed_value` on a copy and a third of
//! `serde_json::from_slice::<Value>` (1.5 µs, 2.8 µs, 4.1 µs on the dev VM), on 32 KiB
//! under half and a fifth, and allocates nothing where they allocate per value.

mod scan;
mod string;

#[cfg(test)]
mod tests;

pub use scan::scan_object;
pub use string::{unescape_string, write_string};

/// The JSON type of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    Number,
    Bool,
    Null,
    Object,
    Array,
}

/// Where a top-level member's value sits in the body. For strings the span includes the
/// quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

impl Value {
    pub fn bytes<'a>(&self, body: &'a [u8]) -> &'a [u8] {
        &body[self.start..self.end]
    }
}

/// Why a body is not acceptable JSON. `offset` is the byte where scanning stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub kind: JsonErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonErrorKind {
    /// Input ended inside a value.
    Eof,
    /// A byte that cannot start or continue a value here.
    Unexpected,
    /// Invalid escape, control character or invalid UTF-8 in a string.
    BadString,
    /// Invalid number syntax.
    BadNumber,
    /// Nesting deeper than [`DEPTH_MAX`].
    TooDeep,
    /// The top-level value is not an object.
    NotAnObject,
    /// Non-whitespace after the top-level value.
    TrailingBytes,
    /// A key the caller looks for occurs twice in the top-level object.
    DuplicateKey,
}

impl JsonError {
    #[inline]
    pub(crate) fn new(offset: usize, kind: JsonErrorKind) -> JsonError {
        JsonError { offset, kind }
    }
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            JsonErrorKind::Eof => "unexpected end of input",
            JsonErrorKind::Unexpected => "unexpected byte",
            JsonErrorKind::BadString => "invalid string",
            JsonErrorKind::BadNumber => "invalid number",
            JsonErrorKind::TooDeep => "nesting too deep",
            JsonErrorKind::NotAnObject => "top-level value is not an object",
            JsonErrorKind::TrailingBytes => "trailing bytes after the top-level value",
            JsonErrorKind::DuplicateKey => "duplicate member",
        };
        write!(f, "{what} at byte {}", self.offset)
    }
}

impl std::error::Error for JsonError {}

/// Maximum nesting of arrays and objects.
pub const DEPTH_MAX: usize = 128;
