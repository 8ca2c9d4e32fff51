//! A validating, single-pass JSON scanner. IMPLEMENTATION PENDING (helper H2).
//!
//! The gateway's pass-through path needs three things from a request body: that it is
//! valid JSON, the byte span of a few top-level members (`model`, `stream`), and the
//! ability to splice a new `model` value in. [`scan_object`] does that without building a
//! tree or allocating.

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
}

/// Maximum nesting of arrays and objects.
pub const DEPTH_MAX: usize = 128;

/// Validate `body` as one JSON object and record, for each name in `keys`, the span of
/// its value at the top level (the last occurrence wins, as in most parsers) in `found`
/// (`found[i]` for `keys[i]`; `None` when absent). `keys` are compared with the member
/// names as written (unescaped names compare by their escaped bytes).
pub fn scan_object(body: &[u8], keys: &[&[u8]], found: &mut [Option<Value>]) -> Result<(), JsonError> {
    let _ = (body, keys, found);
    Err(JsonError { offset: 0, kind: JsonErrorKind::Unexpected })
}

/// Decode a JSON string value (span including quotes) into `out`. Returns false on an
/// invalid string.
pub fn unescape_string(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let _ = (raw, out);
    false
}

/// Append `s` as a JSON string literal (quotes included) to `out`.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    let _ = (out, s);
}
