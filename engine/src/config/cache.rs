//! `[cache]`: the response cache's settings, as written and as compiled.
//!
//! ```toml
//! [cache]
//! enabled = true             # the exact cache (default false: nothing is cached)
//! scope = "key"              # tenant isolation: key | team | org | global
//! ttl_seconds = 3600
//! memory_mb = 256            # bound on cached answers (bytes), LRU eviction
//! hits_count_tpm = false     # whether a hit's tokens count against TPM limits
//! snapshot_interval_seconds = 300   # with [data] dir: also saved on shutdown
//!
//! [cache.semantic]
//! mode = "shadow"            # off | shadow (count would-be hits, serve none) | on
//! threshold = 0.85           # cosine similarity of the last user messages
//! guard = true               # the precision guard (numbers, names, negation, ...)
//! embedder = "lexical"       # lexical | static | provider
//! model_dir = "/models/potion-base-8M"   # static: a model2vec directory
//! model = "embed-small"      # provider: a model group of this gateway
//! timeout_ms = 250           # provider: past it the lookup is skipped
//! dims = 512                 # lexical: vector length; provider: the model's (1536)
//! capacity = 100000          # vectors; oldest evicted first
//! quantization = "i8"        # i8 | f16
//! temperature_max = 1.0      # eligibility: requests above it are not looked up
//! messages_max = 8           # eligibility: conversation length
//! tools = false              # eligibility: requests that carry tools
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::compile::Source;
use super::ConfigError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub enabled: Option<bool>,
    pub scope: Option<Spanned<String>>,
    pub ttl_seconds: Option<Spanned<u64>>,
    pub memory_mb: Option<Spanned<u64>>,
    pub hits_count_tpm: Option<bool>,
    pub snapshot_interval_seconds: Option<Spanned<u64>>,
    #[serde(default)]
    pub semantic: RawSemantic,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSemantic {
    pub mode: Option<Spanned<String>>,
    pub threshold: Option<Spanned<f64>>,
    pub guard: Option<bool>,
    pub embedder: Option<Spanned<String>>,
    pub model_dir: Option<Spanned<String>>,
    pub model: Option<Spanned<String>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub dims: Option<Spanned<u64>>,
    pub capacity: Option<Spanned<u64>>,
    pub quantization: Option<Spanned<String>>,
    pub temperature_max: Option<Spanned<f64>>,
    pub messages_max: Option<Spanned<u64>>,
    pub tools: Option<bool>,
}

/// Whose answers a request may be served: the tenant part of every cache key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheScope {
    /// Each virtual key sees only its own answers (default).
    #[default]
    Key,
    /// Keys of one team share (a key without a team: its own).
    Team,
    /// Keys of one org share.
    Org,
    /// Every caller shares one cache.
    Global,
}

/// What the semantic cache does with a would-be hit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SemanticMode {
    #[default]
    Off,
    /// Look up, count and log what would have hit; serve nothing from it.
    Shadow,
    On,
}

/// Where the semantic cache's vectors come from.
#[derive(Clone, Debug, PartialEq)]
pub enum EmbedderSpec {
    /// Feature-hashed words and character n-grams: no model files.
    Lexical { dims: usize },
    /// A model2vec directory (tokenizer.json and model.safetensors).
    Static { dir: PathBuf },
    /// An embeddings model served through this gateway's own providers.
    /// `dims`: the length of the vectors the model returns.
    Provider {
        model: String,
        timeout_ms: u64,
        dims: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SemanticConfig {
    pub mode: SemanticMode,
    pub threshold: f32,
    pub guard: bool,
    pub embedder: EmbedderSpec,
    pub capacity: usize,
    pub quantization: cache::semantic::Quantization,
    pub temperature_max: f64,
    pub messages_max: usize,
    pub tools: bool,
}

/// The compiled `[cache]` table; absent when the cache is off.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheConfig {
    pub scope: CacheScope,
    pub ttl_ms: u64,
    pub bytes_max: usize,
    pub hits_count_tpm: bool,
    /// 0: saved only on shutdown.
    pub snapshot_interval_s: u64,
    pub semantic: Option<SemanticConfig>,
}

/// Defaults: an hour, 256 MiB, 100k vectors, snapshots every 5 minutes.
const TTL_S: u64 = 3600;
const MEMORY_MB: u64 = 256;
const CAPACITY: u64 = 100_000;
const SNAPSHOT_S: u64 = 300;
const THRESHOLD: f64 = 0.85;
const MESSAGES_MAX: u64 = 8;
const TIMEOUT_MS: u64 = 250;

pub(super) fn compile(
    raw: &RawCache,
    src: &Source<'_>,
) -> Result<Option<CacheConfig>, ConfigError> {
    let s = &raw.semantic;
    let at = |v: &dyn SpanOf, field: &str, msg: &str| src.err(Some(v.span_of()), field, msg);
    let scope = match raw.scope.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "key")) => CacheScope::Key,
        Some((_, "team")) => CacheScope::Team,
        Some((_, "org")) => CacheScope::Org,
        Some((_, "global")) => CacheScope::Global,
        Some((v, _)) => return Err(at(v, "cache.scope", "`key`, `team`, `org` or `global`")),
    };
    let ranged = |v: &Option<Spanned<u64>>, field: &str, lo: u64, hi: u64, default: u64| match v {
        None => Ok(default),
        Some(x) if (lo..=hi).contains(x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => Err(at(x, field, &format!("must be from {lo} to {hi}"))),
    };
    let ttl_s = ranged(
        &raw.ttl_seconds,
        "cache.ttl_seconds",
        1,
        365 * 86_400,
        TTL_S,
    )?;
    let memory_mb = ranged(&raw.memory_mb, "cache.memory_mb", 1, 1 << 20, MEMORY_MB)?;
    let snapshot_interval_s = ranged(
        &raw.snapshot_interval_seconds,
        "cache.snapshot_interval_seconds",
        0,
        86_400,
        SNAPSHOT_S,
    )?;
    let mode = match s.mode.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "off")) => SemanticMode::Off,
        Some((_, "shadow")) => SemanticMode::Shadow,
        Some((_, "on")) => SemanticMode::On,
        Some((v, _)) => return Err(at(v, "cache.semantic.mode", "`off`, `shadow` or `on`")),
    };
    let semantic = if mode == SemanticMode::Off {
        None
    } else {
        let threshold = match &s.threshold {
            None => THRESHOLD,
            Some(v) if (0.5..=1.0).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => return Err(at(v, "cache.semantic.threshold", "must be from 0.5 to 1.0")),
        };
        let embedder =
            match s.embedder.as_ref().map(|v| (v, v.get_ref().as_str())) {
                None | Some((_, "lexical")) => EmbedderSpec::Lexical {
                    dims: ranged(&s.dims, "cache.semantic.dims", 16, 8192, 512)? as usize,
                },
                Some((v, "static")) => match &s.model_dir {
                    Some(d) => EmbedderSpec::Static {
                        dir: d.get_ref().into(),
                    },
                    None => {
                        return Err(at(
                            v,
                            "cache.semantic.model_dir",
                            "the static embedder needs `model_dir` (a model2vec directory)",
                        ))
                    }
                },
                Some((v, "provider")) => match &s.model {
                    Some(m) => EmbedderSpec::Provider {
                        model: m.get_ref().clone(),
                        timeout_ms: ranged(
                            &s.timeout_ms,
                            "cache.semantic.timeout_ms",
                            1,
                            60_000,
                            TIMEOUT_MS,
                        )?,
                        dims: ranged(&s.dims, "cache.semantic.dims", 16, 8192, 1536)? as usize,
                    },
                    None => return Err(at(
                        v,
                        "cache.semantic.model",
                        "the provider embedder needs `model` (an embeddings model of this gateway)",
                    )),
                },
                Some((v, _)) => {
                    return Err(at(
                        v,
                        "cache.semantic.embedder",
                        "`lexical`, `static` or `provider`",
                    ))
                }
            };
        let quantization = match s.quantization.as_ref().map(|v| (v, v.get_ref().as_str())) {
            None | Some((_, "i8")) => cache::semantic::Quantization::I8,
            Some((_, "f16")) => cache::semantic::Quantization::F16,
            Some((v, _)) => return Err(at(v, "cache.semantic.quantization", "`i8` or `f16`")),
        };
        let temperature_max = match &s.temperature_max {
            None => 2.0,
            Some(v) if (0.0..=2.0).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                return Err(at(
                    v,
                    "cache.semantic.temperature_max",
                    "must be from 0 to 2",
                ))
            }
        };
        Some(SemanticConfig {
            mode,
            threshold: threshold as f32,
            guard: s.guard.unwrap_or(true),
            embedder,
            capacity: ranged(&s.capacity, "cache.semantic.capacity", 1, 1 << 32, CAPACITY)?
                as usize,
            quantization,
            temperature_max,
            messages_max: ranged(
                &s.messages_max,
                "cache.semantic.messages_max",
                1,
                10_000,
                MESSAGES_MAX,
            )? as usize,
            tools: s.tools.unwrap_or(false),
        })
    };
    if !raw.enabled.unwrap_or(false) {
        if semantic.is_some() {
            return Err(src.err(
                s.mode.as_ref().map(|m| m.span()),
                "cache.semantic.mode",
                "the semantic cache needs the exact cache: set `[cache] enabled = true`",
            ));
        }
        return Ok(None);
    }
    Ok(Some(CacheConfig {
        scope,
        ttl_ms: ttl_s * 1000,
        bytes_max: (memory_mb as usize) << 20,
        hits_count_tpm: raw.hits_count_tpm.unwrap_or(false),
        snapshot_interval_s,
        semantic,
    }))
}

/// A value's span, for the one error helper above (spans of different types).
trait SpanOf {
    fn span_of(&self) -> std::ops::Range<usize>;
}

impl<T> SpanOf for Spanned<T> {
    fn span_of(&self) -> std::ops::Range<usize> {
        self.span()
    }
}
