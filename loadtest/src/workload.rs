//! Workloads: which requests a run sends, as a TOML file compiled into a [`Workload`],
//! and the seeded sequence of concrete requests drawn from it ([`Picker`], [`Spec`]).
//!
//! ```toml
//! [keys]                       # optional: API keys for multi-tenant traffic
//! choose = "weighted"          # or "round-robin" (the default)
//! list = [{ key = "sk-a", weight = 3 }, "sk-b"]   # a bare string has weight 1
//!
//! [[request]]                  # one entry of the request mix; at least one
//! name = "short chat"          # label (default: endpoint and model)
//! weight = 3                   # relative share of the mix (default 1)
//! endpoint = "chat"            # chat | completions | embeddings (default chat)
//! model = "gpt-4o-mini"        # required
//! prompt_tokens = 256          # or { dist = "uniform", min = 100, max = 400 }
//!                              # or { dist = "normal", mean = 256, stddev = 64 }
//! max_tokens = 128             # omitted from the body when absent
//! stream = 0.5                 # share of these requests sent with "stream": true
//! unique = true                # prefix each prompt with a per-request nonce (default)
//! headers = { "x-mock-chunks" = "16" }   # extra request headers, sent in name order
//! ```
//!
//! A token is counted as [`BYTES_PER_TOKEN`] bytes of prompt text. With `unique` (the
//! default) every prompt starts with a 16-digit hex nonce, so an exact-match cache in
//! front of the target never hits; `unique = false` sends identical prompts for a given
//! size, to measure cache hits. Key values may be `env:NAME` to read a variable.
//!
//! Determinism: a [`Picker`] draws a fixed number of random numbers per request whatever
//! the distributions, so the sequence of [`Spec`]s depends only on the workload and the
//! seed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// Bytes of prompt text per token (the usual rule of thumb for English text).
pub const BYTES_PER_TOKEN: usize = 4;
/// The largest prompt a request may carry, in tokens (1 MiB of text).
pub const PROMPT_TOKENS_MAX: u32 = 256 * 1024;
/// Entries in a request mix.
pub const ENTRIES_MAX: usize = 1024;
/// API keys in a workload.
pub const KEYS_MAX: usize = 65_536;
/// Extra headers per entry.
pub const HEADERS_MAX: usize = 32;
/// Bytes of one extra header line, name and value.
pub const HEADER_BYTES_MAX: usize = 4096;
/// Bytes of the nonce that starts a unique prompt: 16 hex digits and a space.
pub const NONCE_BYTES: usize = 17;

/// The OpenAI endpoint an entry calls, appended to the target's base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Chat,
    Completions,
    Embeddings,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Completions => "/v1/completions",
            Endpoint::Embeddings => "/v1/embeddings",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Completions => "completions",
            Endpoint::Embeddings => "embeddings",
        }
    }
}

/// Prompt size in tokens, sampled per request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PromptSize {
    Fixed(u32),
    /// Uniform over `min..=max`.
    Uniform {
        min: u32,
        max: u32,
    },
    /// Normal, truncated to `0..=PROMPT_TOKENS_MAX`.
    Normal {
        mean: f64,
        stddev: f64,
    },
}

impl PromptSize {
    /// One sample. Draws exactly twice whatever the distribution.
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let (u1, u2) = (rng.next_f64(), rng.next_f64());
        match *self {
            PromptSize::Fixed(n) => n,
            PromptSize::Uniform { min, max } => {
                min + (u1 * f64::from(max - min + 1)).floor() as u32
            }
            PromptSize::Normal { mean, stddev } => {
                // Box-Muller; 1 - u1 is in (0, 1], so the logarithm is finite.
                let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let x = (mean + stddev * z).round();
                if x.is_nan() || x <= 0.0 {
                    0
                } else {
                    (x as u32).min(PROMPT_TOKENS_MAX)
                }
            }
        }
    }

    /// The largest value [`sample`](Self::sample) can return.
    pub fn max(&self) -> u32 {
        match *self {
            PromptSize::Fixed(n) => n,
            PromptSize::Uniform { max, .. } => max,
            PromptSize::Normal { .. } => PROMPT_TOKENS_MAX,
        }
    }
}

/// One entry of the request mix.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub name: String,
    /// Relative share; > 0.
    pub weight: f64,
    pub endpoint: Endpoint,
    pub model: String,
    pub prompt: PromptSize,
    pub max_tokens: Option<u32>,
    /// Share of requests sent as streams, 0..=1 (0 for embeddings).
    pub stream: f64,
    /// Prefix each prompt with a per-request nonce.
    pub unique: bool,
    /// Extra header lines, each a valid field name and value.
    pub headers: Vec<(String, String)>,
}

/// How a request's API key is chosen from [`Workload::keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    RoundRobin,
    Weighted,
}

/// A validated workload. Build it with [`Workload::parse`], [`Workload::load`] or
/// [`Workload::default_chat`].
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub entries: Vec<Entry>,
    /// (key, weight). Empty: requests carry the run's default key, or none.
    pub keys: Vec<(String, f64)>,
    pub key_choice: KeyChoice,
}

/// Why a workload file was rejected: a message naming the file position or field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadError(pub String);

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkloadError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    keys: Option<RawKeys>,
    #[serde(default)]
    request: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    choose: Option<String>,
    list: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Option<String>,
    weight: Option<f64>,
    endpoint: Option<String>,
    model: String,
    prompt_tokens: Option<toml::Value>,
    max_tokens: Option<u32>,
    stream: Option<f64>,
    unique: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

fn err<T>(msg: impl Into<String>) -> Result<T, WorkloadError> {
    Err(WorkloadError(msg.into()))
}

impl Workload {
    /// The built-in workload: one model, non-streaming chat, about 1 KiB request bodies.
    pub fn default_chat(model: &str) -> Workload {
        Workload {
            entries: vec![Entry {
                name: format!("chat {model}"),
                weight: 1.0,
                endpoint: Endpoint::Chat,
                model: model.to_owned(),
                prompt: PromptSize::Fixed(240),
                max_tokens: Some(128),
                stream: 0.0,
                unique: true,
                headers: Vec::new(),
            }],
            keys: Vec::new(),
            key_choice: KeyChoice::RoundRobin,
        }
    }

    /// Read and compile a workload file; errors name the file.
    pub fn load(path: &Path) -> Result<Workload, WorkloadError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| WorkloadError(format!("{}: {e}", path.display())))?;
        Workload::parse(&text).map_err(|e| WorkloadError(format!("{}: {e}", path.display())))
    }

    /// Parse and validate a workload from TOML text.
    pub fn parse(text: &str) -> Result<Workload, WorkloadError> {
        let raw: RawWorkload = toml::from_str(text).map_err(|e| WorkloadError(e.to_string()))?;
        if raw.request.is_empty() {
            return err("a workload needs at least one [[request]] entry");
        }
        if raw.request.len() > ENTRIES_MAX {
            return err(format!("at most {ENTRIES_MAX} [[request]] entries"));
        }
        let entries = raw
            .request
            .into_iter()
            .enumerate()
            .map(|(i, e)| compile_entry(e).map_err(|m| WorkloadError(format!("request[{i}]: {m}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let (keys, key_choice) = match raw.keys {
            None => (Vec::new(), KeyChoice::RoundRobin),
            Some(k) => compile_keys(k).map_err(|m| WorkloadError(format!("keys: {m}")))?,
        };
        Ok(Workload {
            entries,
            keys,
            key_choice,
        })
    }

    /// Replace every entry's model (the CLI's `--model`).
    pub fn set_model(&mut self, model: &str) {
        for e in &mut self.entries {
            e.model = model.to_owned();
        }
    }

    /// The largest prompt any entry can send, in bytes.
    pub fn prompt_bytes_max(&self) -> usize {
        let tokens = self
            .entries
            .iter()
            .map(|e| e.prompt.max())
            .max()
            .unwrap_or(0);
        tokens as usize * BYTES_PER_TOKEN
    }
}

fn compile_entry(e: RawEntry) -> Result<Entry, String> {
    let endpoint = match e.endpoint.as_deref().unwrap_or("chat") {
        "chat" | "chat/completions" => Endpoint::Chat,
        "completions" => Endpoint::Completions,
        "embeddings" => Endpoint::Embeddings,
        other => {
            return Err(format!(
                "endpoint {other:?}: expected chat, completions or embeddings"
            ))
        }
    };
    if e.model.is_empty() {
        return Err("model is empty".into());
    }
    let weight = e.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(format!("weight {weight} must be a positive number"));
    }
    let stream = e.stream.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&stream) {
        return Err(format!("stream {stream} must be a share between 0 and 1"));
    }
    if endpoint == Endpoint::Embeddings && stream > 0.0 {
        return Err("embeddings cannot stream".into());
    }
    let prompt = match &e.prompt_tokens {
        None => PromptSize::Fixed(256),
        Some(v) => prompt_size(v)?,
    };
    if prompt.max() > PROMPT_TOKENS_MAX {
        return Err(format!(
            "prompt_tokens above the limit of {PROMPT_TOKENS_MAX}"
        ));
    }
    if e.headers.len() > HEADERS_MAX {
        return Err(format!("at most {HEADERS_MAX} headers"));
    }
    let mut headers = Vec::with_capacity(e.headers.len());
    for (name, value) in e.headers {
        check_header(&name, &value)?;
        headers.push((name, value));
    }
    Ok(Entry {
        name: e
            .name
            .unwrap_or_else(|| format!("{} {}", endpoint.name(), e.model)),
        weight,
        endpoint,
        model: e.model,
        prompt,
        max_tokens: e.max_tokens,
        stream,
        unique: e.unique.unwrap_or(true),
        headers,
    })
}

/// The generator writes these itself; a workload may not set them.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "content-type",
];

fn check_header(name: &str, value: &str) -> Result<(), String> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Err(format!("header name {name:?} is not a valid field name"));
    }
    if RESERVED_HEADERS
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
    {
        return Err(format!("header {name:?} is set by the load generator"));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {name:?}: the value holds CR, LF or NUL"));
    }
    if name.len() + value.len() + 4 > HEADER_BYTES_MAX {
        return Err(format!(
            "header {name:?} is longer than {HEADER_BYTES_MAX} bytes"
        ));
    }
    Ok(())
}

fn prompt_size(v: &toml::Value) -> Result<PromptSize, String> {
    let uint = |t: &toml::Table, k: &str| -> Result<u32, String> {
        match t.get(k) {
            Some(toml::Value::Integer(n)) if (0..=i64::from(PROMPT_TOKENS_MAX)).contains(n) => {
                Ok(*n as u32)
            }
            Some(other) => Err(format!(
                "prompt_tokens.{k} = {other}: expected a whole number of tokens up to {PROMPT_TOKENS_MAX}"
            )),
            None => Err(format!("prompt_tokens needs {k}")),
        }
    };
    let float = |t: &toml::Table, k: &str| -> Result<f64, String> {
        match t.get(k) {
            Some(toml::Value::Integer(n)) => Ok(*n as f64),
            Some(toml::Value::Float(x)) if x.is_finite() && *x >= 0.0 => Ok(*x),
            Some(other) => Err(format!(
                "prompt_tokens.{k} = {other}: expected a non-negative number"
            )),
            None => Err(format!("prompt_tokens needs {k}")),
        }
    };
    let only = |t: &toml::Table, allowed: &[&str]| -> Result<(), String> {
        match t.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("prompt_tokens: unknown field {k:?}")),
            None => Ok(()),
        }
    };
    match v {
        toml::Value::Integer(_) => {
            let mut t = toml::Table::new();
            t.insert("tokens".into(), v.clone());
            uint(&t, "tokens").map(PromptSize::Fixed)
        }
        toml::Value::Table(t) => match t.get("dist").and_then(toml::Value::as_str) {
            Some("fixed") => {
                only(t, &["dist", "tokens"])?;
                uint(t, "tokens").map(PromptSize::Fixed)
            }
            Some("uniform") => {
                only(t, &["dist", "min", "max"])?;
                let (min, max) = (uint(t, "min")?, uint(t, "max")?);
                if min > max {
                    return Err(format!("prompt_tokens: min {min} > max {max}"));
                }
                Ok(PromptSize::Uniform { min, max })
            }
            Some("normal") => {
                only(t, &["dist", "mean", "stddev"])?;
                Ok(PromptSize::Normal {
                    mean: float(t, "mean")?,
                    stddev: float(t, "stddev")?,
                })
            }
            Some(other) => Err(format!(
                "prompt_tokens.dist {other:?}: expected fixed, uniform or normal"
            )),
            None => Err("prompt_tokens needs dist = \"fixed\" | \"uniform\" | \"normal\"".into()),
        },
        other => Err(format!(
            "prompt_tokens = {other}: expected a number of tokens or a {{ dist = .. }} table"
        )),
    }
}

fn compile_keys(k: RawKeys) -> Result<(Vec<(String, f64)>, KeyChoice), String> {
    let choice = match k.choose.as_deref().unwrap_or("round-robin") {
        "round-robin" => KeyChoice::RoundRobin,
        "weighted" => KeyChoice::Weighted,
        other => {
            return Err(format!(
                "choose {other:?}: expected round-robin or weighted"
            ))
        }
    };
    if k.list.is_empty() {
        return Err("list is empty".into());
    }
    if k.list.len() > KEYS_MAX {
        return Err(format!("at most {KEYS_MAX} keys"));
    }
    let mut keys = Vec::with_capacity(k.list.len());
    for (i, v) in k.list.iter().enumerate() {
        let (key, weight) = match v {
            toml::Value::String(s) => (s.clone(), 1.0),
            toml::Value::Table(t) => {
                if let Some(f) = t.keys().find(|f| *f != "key" && *f != "weight") {
                    return Err(format!("list[{i}]: unknown field {f:?}"));
                }
                let key = match t.get("key") {
                    Some(toml::Value::String(s)) => s.clone(),
                    _ => return Err(format!("list[{i}]: needs key = \"...\"")),
                };
                let weight = match t.get("weight") {
                    None => 1.0,
                    Some(toml::Value::Integer(n)) => *n as f64,
                    Some(toml::Value::Float(x)) => *x,
                    Some(other) => {
                        return Err(format!("list[{i}]: weight {other} is not a number"))
                    }
                };
                (key, weight)
            }
            other => {
                return Err(format!(
                    "list[{i}] = {other}: expected a string or {{ key, weight }}"
                ))
            }
        };
        if !(weight.is_finite() && weight > 0.0) {
            return Err(format!("list[{i}]: weight {weight} must be positive"));
        }
        let key = resolve_key(&key).map_err(|m| format!("list[{i}]: {m}"))?;
        if key.is_empty() || key.bytes().any(|b| b.is_ascii_control()) {
            return Err(format!(
                "list[{i}]: a key must be non-empty, without control characters"
            ));
        }
        keys.push((key, weight));
    }
    Ok((keys, choice))
}

/// `env:NAME` reads the variable; anything else is the key itself.
fn resolve_key(key: &str) -> Result<String, String> {
    match key.strip_prefix("env:") {
        Some(name) => {
            std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
        }
        None => Ok(key.to_owned()),
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator for reproducible
/// draws. Not for cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mix, used to derive independent seeds.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One concrete request: which entry, key, prompt size and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Index into [`Workload::entries`].
    pub entry: u32,
    /// Index into [`Workload::keys`] (0 when there are none).
    pub key: u32,
    pub prompt_tokens: u32,
    pub stream: bool,
    /// Unique per request of one picker; the prompt's nonce is derived from it.
    pub nonce: u64,
}

/// The seeded sequence of [`Spec`]s for one workload. Cloning it replays the sequence.
#[derive(Clone, Debug)]
pub struct Picker {
    /// Cumulative entry weights, normalised so the last is 1.
    entry_cdf: Vec<f64>,
    key_cdf: Vec<f64>,
    key_choice: KeyChoice,
    prompts: Vec<PromptSize>,
    stream: Vec<f64>,
    rng: Rng,
    nonce_base: u64,
    count: u64,
}

fn cdf(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    let mut out: Vec<f64> = weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect();
    for x in &mut out {
        *x /= acc;
    }
    out
}

/// The index `u` (in [0, 1)) falls into. INVARIANT: `cdf` is non-empty, ends at 1.
fn pick(cdf: &[f64], u: f64) -> usize {
    cdf.iter().position(|&c| u < c).unwrap_or(cdf.len() - 1)
}

impl Picker {
    /// The sequence for `seed`. Two pickers with the same workload and seed yield the
    /// same specs.
    pub fn new(workload: &Workload, seed: u64) -> Picker {
        assert!(!workload.entries.is_empty(), "a workload has entries");
        Picker {
            entry_cdf: cdf(workload.entries.iter().map(|e| e.weight)),
            key_cdf: cdf(workload.keys.iter().map(|k| k.1)),
            key_choice: workload.key_choice,
            prompts: workload.entries.iter().map(|e| e.prompt).collect(),
            stream: workload.entries.iter().map(|e| e.stream).collect(),
            rng: Rng::new(mix(seed ^ PICKER_SALT)),
            nonce_base: mix(seed.wrapping_add(1)),
            count: 0,
        }
    }

    /// The next request. Draws five numbers whatever the workload.
    pub fn next_spec(&mut self) -> Spec {
        let entry = pick(&self.entry_cdf, self.rng.next_f64());
        let prompt_tokens = self.prompts[entry].sample(&mut self.rng);
        let stream = self.rng.next_f64() < self.stream[entry];
        let u = self.rng.next_f64();
        let key = match (self.key_cdf.is_empty(), self.key_choice) {
            (true, _) => 0,
            (false, KeyChoice::Weighted) => pick(&self.key_cdf, u),
            (false, KeyChoice::RoundRobin) => (self.count % self.key_cdf.len() as u64) as usize,
        };
        let nonce = self.nonce_base.wrapping_add(self.count);
        self.count += 1;
        Spec {
            entry: entry as u32,
            key: key as u32,
            prompt_tokens,
            stream,
            nonce,
        }
    }
}

/// Mixed into picker seeds so they differ from the run's other seeded streams.
const PICKER_SALT: u64 = 0x5eed_10ad_9e37_0001;

#[cfg(test)]
mod tests {
    use super::*;

    const MIX: &str = r#"
[keys]
choose = "weighted"
list = [{ key = "sk-a", weight = 3 }, "sk-b"]

[[request]]
weight = 3
model = "m1"
prompt_tokens = { dist = "uniform", min = 10, max = 20 }
max_tokens = 64
stream = 0.5
headers = { "x-mock-chunks" = "4" }

[[request]]
endpoint = "embeddings"
model = "e1"
prompt_tokens = { dist = "normal", mean = 100, stddev = 10 }
"#;

    #[test]
    fn parses_a_mix() {
        let w = Workload::parse(MIX).unwrap();
        assert_eq!(w.entries.len(), 2);
        let e = &w.entries[0];
        assert_eq!(
            (e.endpoint, e.model.as_str(), e.weight),
            (Endpoint::Chat, "m1", 3.0)
        );
        assert_eq!(e.prompt, PromptSize::Uniform { min: 10, max: 20 });
        assert_eq!((e.max_tokens, e.stream, e.unique), (Some(64), 0.5, true));
        assert_eq!(e.headers, vec![("x-mock-chunks".into(), "4".into())]);
        assert_eq!(e.name, "chat m1");
        assert_eq!(w.entries[1].endpoint, Endpoint::Embeddings);
        assert_eq!(w.key_choice, KeyChoice::Weighted);
        assert_eq!(w.keys, vec![("sk-a".into(), 3.0), ("sk-b".into(), 1.0)]);
    }

    #[test]
    fn rejects_with_a_clear_error() {
        let cases: &[(&str, &str)] = &[
            ("", "at least one [[request]]"),
            (
                "[[request]]\nmodel = \"m\"\nstream = 2.0",
                "request[0]: stream 2",
            ),
            (
                "[[request]]\nmodel = \"m\"\nendpoint = \"chat2\"",
                "endpoint \"chat2\"",
            ),
            ("[[request]]\nmodel = \"m\"\nweight = 0", "weight 0 must be"),
            (
                "[[request]]\nmodel = \"m\"\nbogus = 1",
                "unknown field `bogus`",
            ),
            ("[[request]]\nendpoint = \"chat\"", "missing field `model`"),
            (
                "[[request]]\nmodel = \"e\"\nendpoint = \"embeddings\"\nstream = 0.1",
                "embeddings cannot stream",
            ),
            (
                "[[request]]\nmodel = \"m\"\nprompt_tokens = { dist = \"uniform\", min = 5 }",
                "prompt_tokens needs max",
            ),
            (
                "[[request]]\nmodel = \"m\"\nprompt_tokens = { dist = \"zipf\" }",
                "dist \"zipf\"",
            ),
            (
                "[[request]]\nmodel = \"m\"\nprompt_tokens = 99999999",
                "expected a whole number",
            ),
            (
                "[[request]]\nmodel = \"m\"\nheaders = { \"bad name\" = \"x\" }",
                "not a valid field name",
            ),
            (
                "[[request]]\nmodel = \"m\"\nheaders = { \"x-a\" = \"a\\r\\nb\" }",
                "CR, LF or NUL",
            ),
            (
                "[[request]]\nmodel = \"m\"\nheaders = { \"Content-Length\" = \"1\" }",
                "set by the load generator",
            ),
            (
                "[keys]\nchoose = \"random\"\nlist = [\"a\"]\n[[request]]\nmodel = \"m\"",
                "keys: choose \"random\"",
            ),
            (
                "[keys]\nlist = [\"env:SLUICE_LOADTEST_SURELY_UNSET\"]\n[[request]]\nmodel = \"m\"",
                "SLUICE_LOADTEST_SURELY_UNSET is not set",
            ),
            ("[[request]\nmodel = \"m\"", "TOML parse error"),
        ];
        for (text, want) in cases {
            let e = Workload::parse(text).expect_err(text).0;
            assert!(e.contains(want), "{text:?}: error {e:?} lacks {want:?}");
        }
    }

    #[test]
    fn picker_is_deterministic_and_follows_weights() {
        let w = Workload::parse(MIX).unwrap();
        let a: Vec<Spec> = {
            let mut p = Picker::new(&w, 7);
            (0..10_000).map(|_| p.next_spec()).collect()
        };
        let mut p = Picker::new(&w, 7);
        let b: Vec<Spec> = (0..10_000).map(|_| p.next_spec()).collect();
        assert_eq!(a, b, "same seed, same sequence");
        let mut other = Picker::new(&w, 8);
        let c: Vec<Spec> = (0..10_000).map(|_| other.next_spec()).collect();
        assert_ne!(a, c, "another seed, another sequence");

        let chat: Vec<&Spec> = a.iter().filter(|s| s.entry == 0).collect();
        assert!((7_200..7_800).contains(&chat.len()), "{}", chat.len());
        assert!(chat.iter().all(|s| (10..=20).contains(&s.prompt_tokens)));
        let streams = chat.iter().filter(|s| s.stream).count() as f64 / chat.len() as f64;
        assert!((0.45..0.55).contains(&streams), "{streams}");
        assert!(a.iter().filter(|s| s.entry == 1).all(|s| !s.stream));
        let key_a = a.iter().filter(|s| s.key == 0).count();
        assert!((7_200..7_800).contains(&key_a), "{key_a}");
        let mut nonces: Vec<u64> = a.iter().map(|s| s.nonce).collect();
        nonces.sort_unstable();
        nonces.dedup();
        assert_eq!(nonces.len(), a.len(), "nonces are unique");
    }

    #[test]
    fn round_robin_keys_and_distributions() {
        let text = "[keys]\nlist = [\"a\", \"b\", \"c\"]\n[[request]]\nmodel = \"m\"";
        let w = Workload::parse(text).unwrap();
        let mut p = Picker::new(&w, 1);
        let keys: Vec<u32> = (0..6).map(|_| p.next_spec().key).collect();
        assert_eq!(keys, [0, 1, 2, 0, 1, 2]);

        let mut r = Rng::new(3);
        let normal = PromptSize::Normal {
            mean: 200.0,
            stddev: 20.0,
        };
        let xs: Vec<f64> = (0..20_000)
            .map(|_| f64::from(normal.sample(&mut r)))
            .collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64).sqrt();
        assert!(
            (mean - 200.0).abs() < 1.0 && (sd - 20.0).abs() < 1.0,
            "{mean} {sd}"
        );
        let uni = PromptSize::Uniform { min: 3, max: 5 };
        let ys: Vec<u32> = (0..1000).map(|_| uni.sample(&mut r)).collect();
        assert!(ys.iter().all(|y| (3..=5).contains(y)) && ys.contains(&3) && ys.contains(&5));
    }
}
