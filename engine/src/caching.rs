//! The response cache's shared state: the exact cache, the semantic index and its
//! embedder, one instance per process shared by every core (the pieces live in the
//! `cache` crate; the request path is `conn/cached.rs`).
//!
//! Also here: the snapshot files in the data directory (`cache/exact.bin`,
//! `cache/semantic.bin` and `cache/semantic.id`, written on shutdown and every
//! `snapshot_interval_seconds`, loaded at start), purges for the admin API, and the
//! cache's metrics.
//!
//! Times are Unix milliseconds, not the process epoch: entries outlive a restart.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use cache::embed::Embedder;
use cache::exact::{Config as ExactConfig, ExactCache};
use cache::semantic::{Config as IndexConfig, Quantization, SemanticIndex};

use crate::config::{CacheConfig, EmbedderSpec, SemanticConfig};
use crate::log;

/// Shards of the exact cache: a power of two above the cores, so that two cores rarely
/// wait for one lock.
const EXACT_SHARDS: usize = 16;

/// The most body bytes captured for one answer: larger answers are not cached.
const CAPTURE_BYTES_MAX: usize = 8 << 20;

pub struct Caching {
    pub cfg: CacheConfig,
    pub exact: ExactCache,
    pub semantic: Option<Semantic>,
    /// `<data dir>/cache`, when there is a data directory.
    dir: Option<PathBuf>,
}

/// The semantic side: the index and where its vectors come from.
pub struct Semantic {
    pub cfg: SemanticConfig,
    pub index: SemanticIndex,
    pub embedder: Embed,
    /// What produced the vectors (embedder, dims, quantization): a snapshot made by
    /// another is not loaded, its vectors would not compare.
    identity: String,
}

pub enum Embed {
    /// In-process (`lexical`, `static`).
    Local(Box<dyn Embedder>),
    /// An embeddings model behind this gateway's providers; the request path calls it.
    Provider {
        model: String,
        timeout_ms: u64,
        dims: usize,
    },
}

impl Embed {
    pub fn dims(&self) -> usize {
        match self {
            Embed::Local(e) => e.dims(),
            Embed::Provider { dims, .. } => *dims,
        }
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Caching {
    /// Build the caches, loading the snapshots from `data_dir` when they are there and
    /// readable (a damaged or foreign snapshot is logged and skipped: the cache starts
    /// empty, the gateway starts). Errors: a semantic embedder that cannot be loaded.
    pub fn new(cfg: CacheConfig, data_dir: Option<&Path>) -> Result<Caching, String> {
        let dir = data_dir.map(|d| d.join("cache"));
        let now = now_ms();
        let exact_cfg = ExactConfig {
            bytes_max: cfg.bytes_max,
            shards: EXACT_SHARDS,
            ttl_ms: cfg.ttl_ms,
        };
        let exact = dir
            .as_ref()
            .and_then(|d| read_snapshot(&d.join("exact.bin")))
            .and_then(|bytes| match ExactCache::load(&bytes, exact_cfg, now) {
                Ok(c) => Some(c),
                Err(e) => {
                    log::warn("cache snapshot not loaded", &[("error", &e.to_string())]);
                    None
                }
            })
            .unwrap_or_else(|| ExactCache::new(exact_cfg));
        let semantic = match &cfg.semantic {
            None => None,
            Some(s) => Some(Semantic::new(s.clone(), cfg.ttl_ms, dir.as_deref(), now)?),
        };
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)
                .map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        Ok(Caching {
            cfg,
            exact,
            semantic,
            dir,
        })
    }

    /// Whether snapshots are written (there is a data directory).
    pub fn persistent(&self) -> bool {
        self.dir.is_some()
    }

    /// The most bytes one answer may take to be stored.
    pub fn capture_max(&self) -> usize {
        (self.cfg.bytes_max / EXACT_SHARDS).min(CAPTURE_BYTES_MAX)
    }

    /// Write the snapshots (each to a temporary file, then renamed over the old one, so
    /// a crash mid-write leaves the previous snapshot). Returns the bytes written.
    pub fn save(&self) -> std::io::Result<u64> {
        let Some(dir) = &self.dir else {
            return Ok(0);
        };
        let mut n = write_atomic(&dir.join("exact.bin"), &self.exact.snapshot())?;
        if let Some(s) = &self.semantic {
            let bytes = s.index.snapshot().map_err(std::io::Error::other)?;
            n += write_atomic(&dir.join("semantic.bin"), &bytes)?;
            n += write_atomic(&dir.join("semantic.id"), s.identity.as_bytes())?;
        }
        Ok(n)
    }

    /// Drop the entries whose scope is in `scopes` and/or of a model (both `None`:
    /// everything). Returns how many answers were dropped.
    pub fn purge(
        &self,
        scopes: Option<&std::collections::HashSet<String>>,
        model: Option<&str>,
    ) -> u64 {
        let scope = scopes;
        let before = self.exact.stats().entries;
        if scope.is_none() && model.is_none() {
            self.exact.clear();
            if let Some(s) = &self.semantic {
                s.index.retain(|_, _| false);
            }
            return before;
        }
        let doomed = std::sync::Mutex::new(std::collections::HashSet::new());
        self.exact.retain(|k, e| {
            let hit = scope.is_none_or(|s| s.contains(&*e.meta.scope))
                && model.is_none_or(|m| *e.meta.model == *m);
            if hit {
                doomed.lock().unwrap_or_else(|p| p.into_inner()).insert(k.0);
            }
            !hit
        });
        let doomed = doomed.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = &self.semantic {
            if !doomed.is_empty() {
                s.index.retain(|_, entry| !doomed.contains(&entry));
            }
        }
        doomed.len() as u64
    }

    /// `GET /admin/cache`: sizes and counters.
    pub fn stats_json(&self) -> serde_json::Value {
        let s = self.exact.stats();
        let mut v = serde_json::json!({
            "exact": {
                "entries": s.entries, "bytes": s.bytes, "bytes_max": self.cfg.bytes_max,
                "hits": s.hits, "misses": s.misses, "insertions": s.insertions,
                "evictions": s.evictions, "expirations": s.expirations,
                "removals": s.removals, "refused": s.refused,
            },
            "scope": format!("{:?}", self.cfg.scope).to_lowercase(),
            "ttl_seconds": self.cfg.ttl_ms / 1000,
        });
        if let Some(sem) = &self.semantic {
            v["semantic"] = serde_json::json!({
                "mode": format!("{:?}", sem.cfg.mode).to_lowercase(),
                "embedder": sem.identity,
                "threshold": sem.cfg.threshold,
                "entries": sem.index.len(),
                "capacity": sem.cfg.capacity,
                "memory_bytes": sem.index.memory_bytes(),
            });
        }
        v
    }

    /// Gauges of the cache's size, appended to the metrics text.
    pub fn render_gauges(&self, out: &mut String) {
        let s = self.exact.stats();
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "sluice_cache_entries",
            "Answers in the exact cache.",
            s.entries,
        );
        gauge(
            "sluice_cache_bytes",
            "Bytes the exact cache holds (of its bound).",
            s.bytes,
        );
        gauge(
            "sluice_cache_evictions",
            "Answers evicted from the exact cache to stay within its bound (since start).",
            s.evictions,
        );
        if let Some(sem) = &self.semantic {
            gauge(
                "sluice_cache_semantic_entries",
                "Prompts in the semantic index.",
                sem.index.len() as u64,
            );
        }
    }
}

impl Semantic {
    fn new(
        cfg: SemanticConfig,
        ttl_ms: u64,
        dir: Option<&Path>,
        now: u64,
    ) -> Result<Semantic, String> {
        let embedder = match &cfg.embedder {
            EmbedderSpec::Lexical { dims } => {
                Embed::Local(Box::new(cache::embed::Lexical::new(*dims)))
            }
            EmbedderSpec::Static { dir } => Embed::Local(load_static(dir)?),
            EmbedderSpec::Provider {
                model,
                timeout_ms,
                dims,
            } => Embed::Provider {
                model: model.clone(),
                timeout_ms: *timeout_ms,
                dims: *dims,
            },
        };
        let dims = embedder.dims();
        let name = match &embedder {
            Embed::Local(e) => e.name().to_owned(),
            Embed::Provider { model, .. } => format!("provider:{model}"),
        };
        let q = match cfg.quantization {
            Quantization::I8 => "i8",
            Quantization::F16 => "f16",
        };
        let identity = match &cfg.embedder {
            EmbedderSpec::Static { dir } => format!("{name}:{} {dims} {q}", dir.display()),
            _ => format!("{name} {dims} {q}"),
        };
        let icfg = IndexConfig::new(dims, cfg.capacity, cfg.quantization, ttl_ms);
        let loaded = dir.and_then(|d| {
            let id = std::fs::read_to_string(d.join("semantic.id")).ok()?;
            if id != identity {
                log::warn(
                    "semantic cache snapshot not loaded: made by another embedder",
                    &[("snapshot", &id), ("now", &identity)],
                );
                return None;
            }
            let bytes = read_snapshot(&d.join("semantic.bin"))?;
            match SemanticIndex::load(&bytes, icfg, now) {
                Ok(i) => Some(i),
                Err(e) => {
                    log::warn(
                        "semantic cache snapshot not loaded",
                        &[("error", &e.to_string())],
                    );
                    None
                }
            }
        });
        let index = match loaded {
            Some(i) => i,
            None => SemanticIndex::new(icfg).map_err(|e| format!("semantic index: {e}"))?,
        };
        Ok(Semantic {
            cfg,
            index,
            embedder,
            identity,
        })
    }
}

/// The `static` embedder: a model2vec directory, loaded once at start.
fn load_static(dir: &Path) -> Result<Box<dyn Embedder>, String> {
    cache::embed::StaticModel::load(dir)
        .map(|m| Box::new(m) as Box<dyn Embedder>)
        .map_err(|e| format!("cache.semantic.model_dir: {e}"))
}

fn read_snapshot(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            log::warn(
                "cache snapshot not read",
                &[
                    ("path", &path.display().to_string()),
                    ("error", &e.to_string()),
                ],
            );
            None
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<u64> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(bytes.len() as u64)
}
