//! Validation helpers for native request bodies parsed with serde_json: typed getters that
//! fail with where (a [`Path`]) and what ([`Problem`]). Each provider module words the
//! failure its own way (Anthropic `messages.0.role: ...`, OpenAI `messages[0].role`, ...).
//!
//! Cold path: only requests to the native endpoints (and OpenAI requests asking for a
//! tool call) are parsed into a tree.

use serde_json::{Map, Value};

/// Where a value sits in a request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(Vec<Seg>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn root() -> Path {
        Path::default()
    }

    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }

    pub fn at(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// The path without its last segment.
    pub fn parent(&self) -> Path {
        Path(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// The last segment when it is a member name.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// `messages.0.content` (Anthropic's style).
    pub fn dotted(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        parts.join(".")
    }

    /// `messages[0].content` (OpenAI's and Google's style).
    pub fn indexed(&self) -> String {
        let mut out = String::new();
        for s in &self.0 {
            match s {
                Seg::Key(k) if out.is_empty() => out.push_str(k),
                Seg::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// What is wrong at a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    Missing,
    /// The value has the wrong JSON type; the type wanted.
    Type(&'static str),
    /// A member the format does not know.
    Unknown,
    /// Anything else, worded for the message.
    Value(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalid {
    pub path: Path,
    pub problem: Problem,
}

pub(crate) type Checked<T> = Result<T, Invalid>;

pub(crate) fn fail<T>(path: &Path, problem: Problem) -> Checked<T> {
    Err(Invalid {
        path: path.clone(),
        problem,
    })
}

pub(crate) fn value<T>(path: &Path, message: impl Into<String>) -> Checked<T> {
    fail(path, Problem::Value(message.into()))
}

pub(crate) fn object<'a>(v: &'a Value, p: &Path) -> Checked<&'a Map<String, Value>> {
    v.as_object()
        .map_or_else(|| fail(p, Problem::Type("object")), Ok)
}

pub(crate) fn array<'a>(v: &'a Value, p: &Path) -> Checked<&'a Vec<Value>> {
    v.as_array()
        .map_or_else(|| fail(p, Problem::Type("array")), Ok)
}

pub(crate) fn string<'a>(v: &'a Value, p: &Path) -> Checked<&'a str> {
    v.as_str()
        .map_or_else(|| fail(p, Problem::Type("string")), Ok)
}

pub(crate) fn boolean(v: &Value, p: &Path) -> Checked<bool> {
    v.as_bool()
        .map_or_else(|| fail(p, Problem::Type("boolean")), Ok)
}

/// A non-negative integer at least `min`.
pub(crate) fn uint(v: &Value, p: &Path, min: u64) -> Checked<u64> {
    let n = v
        .as_u64()
        .map_or_else(|| fail(p, Problem::Type("integer")), Ok)?;
    if n < min {
        return value(p, format!("must be at least {min}, got {n}"));
    }
    Ok(n)
}

/// A number in `lo..=hi`.
pub(crate) fn number(v: &Value, p: &Path, lo: f64, hi: f64) -> Checked<f64> {
    let x = v
        .as_f64()
        .map_or_else(|| fail(p, Problem::Type("number")), Ok)?;
    if !(lo..=hi).contains(&x) {
        return value(p, format!("must be between {lo} and {hi}, got {x}"));
    }
    Ok(x)
}

/// A string that is one of `allowed`.
pub(crate) fn one_of<'a>(v: &'a Value, p: &Path, allowed: &[&str]) -> Checked<&'a str> {
    let s = string(v, p)?;
    if !allowed.contains(&s) {
        return value(
            p,
            format!("must be one of {}, got {s:?}", allowed.join(", ")),
        );
    }
    Ok(s)
}

/// Member `k` of `o`, which must be there.
pub(crate) fn required<'a>(o: &'a Map<String, Value>, k: &str, p: &Path) -> Checked<&'a Value> {
    o.get(k)
        .map_or_else(|| fail(&p.key(k), Problem::Missing), Ok)
}

/// Fail on the first member of `o` not in `known`.
pub(crate) fn known_members(o: &Map<String, Value>, p: &Path, known: &[&str]) -> Checked<()> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => fail(&p.key(k), Problem::Unknown),
        None => Ok(()),
    }
}

/// Run `each` on every element of array member `k` (when present), with its path.
pub(crate) fn each<'a>(
    o: &'a Map<String, Value>,
    k: &str,
    p: &Path,
    mut each: impl FnMut(&'a Value, &Path) -> Checked<()>,
) -> Checked<()> {
    let Some(v) = o.get(k) else {
        return Ok(());
    };
    let p = p.key(k);
    for (i, item) in array(v, &p)?.iter().enumerate() {
        each(item, &p.at(i))?;
    }
    Ok(())
}

/// A tool or function name: 1 to 64 of `[a-zA-Z0-9_-]`, the rule OpenAI and Anthropic
/// share. Gemini also allows `.` and `:` (`extra`).
pub(crate) fn tool_name<'a>(v: &'a Value, p: &Path, extra: &[u8]) -> Checked<&'a str> {
    let s = string(v, p)?;
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || extra.contains(&b));
    if !ok {
        return value(
            p,
            format!("String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$', got {s:?}"),
        );
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_render_both_ways() {
        let p = Path::root().key("messages").at(2).key("content").at(0);
        assert_eq!(p.dotted(), "messages.2.content.0");
        assert_eq!(p.indexed(), "messages[2].content[0]");
        assert_eq!(Path::root().dotted(), "");
    }

    #[test]
    fn getters() {
        let body = json!({"n": 3, "t": 1.5, "s": "x", "a": [1, "b"], "o": {}});
        let o = object(&body, &Path::root()).unwrap();
        let r = Path::root();
        assert_eq!(uint(&o["n"], &r, 1), Ok(3));
        assert!(matches!(
            uint(&o["n"], &r, 4),
            Err(Invalid {
                problem: Problem::Value(_),
                ..
            })
        ));
        assert_eq!(
            uint(&o["t"], &r.key("t"), 0).unwrap_err().problem,
            Problem::Type("integer")
        );
        assert!(number(&o["t"], &r, 0.0, 1.0).is_err());
        assert_eq!(one_of(&o["s"], &r, &["x", "y"]), Ok("x"));
        assert!(one_of(&o["s"], &r, &["y"]).is_err());
        let missing = required(o, "model", &r).unwrap_err();
        assert_eq!(
            (missing.path.dotted(), missing.problem),
            ("model".into(), Problem::Missing)
        );
        let unknown = known_members(o, &r, &["n", "t", "s", "a"]).unwrap_err();
        assert_eq!(unknown.problem, Problem::Unknown);
        let mut seen = Vec::new();
        let bad = each(o, "a", &r, |v, p| {
            seen.push(p.indexed());
            uint(v, p, 0).map(drop)
        })
        .unwrap_err();
        assert_eq!(seen, ["a[0]", "a[1]"]);
        assert_eq!(bad.path.indexed(), "a[1]");
        assert!(tool_name(&json!("get_weather-2"), &r, b"").is_ok());
        assert!(tool_name(&json!("a.b"), &r, b"").is_err());
        assert!(tool_name(&json!("a.b"), &r, b".:").is_ok());
        assert!(tool_name(&json!(""), &r, b"").is_err());
    }
}
