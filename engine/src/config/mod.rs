//! Configuration: TOML -> [`raw::RawConfig`] (serde, unknown fields rejected) ->
//! [`compile`] (validated) -> [`Snapshot`] (immutable, shared by all workers).
//!
//! Architecture invariant: this module is the only place configuration becomes runtime
//! state. The request path reads a `Snapshot` and nothing else.

mod cache;
mod compile;
mod demo;
mod raw;
mod snapshot;
mod tls;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::Path;

pub use cache::{CacheConfig, CacheScope, EmbedderSpec, SemanticConfig, SemanticMode};
pub use compile::{parse_driver, DEFAULT_ADMIN_LISTEN, DEFAULT_LISTEN, DEFAULT_TIMEOUTS};
pub use demo::{DEMO_KEY, DEMO_MODEL};
pub use snapshot::{
    AccessLog, Auth, Deployment, Driver, Found, Governance, HealthCheck, Hedge, HedgeDelay, Model,
    Provider, ProviderKind, Resolved, Retry, Secret, Server, Share, Snapshot, Sticky,
    StreamOverrun, Timeouts, Upstream, ATTEMPTS_MAX,
};

/// A configuration error that names the file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Command-line overrides, applied on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub workers: Option<usize>,
    pub driver: Option<Driver>,
}

/// Load and compile a config file.
pub fn load(path: &Path, ov: &Overrides) -> Result<Snapshot, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: None,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    from_str(&file, &text, ov)
}

/// Compile config text; `file` names it in errors.
pub fn from_str(file: &str, text: &str, ov: &Overrides) -> Result<Snapshot, ConfigError> {
    let raw = compile::parse(file, text)?;
    compile::compile(raw, &compile::Source { file, text }, ov, false)
}

/// The built-in demo: a mock provider and a `demo` model, plus OpenAI and Anthropic
/// (its Messages API, translated) when their API key variables are set.
/// Returns the snapshot and notes for the operator (what was registered or skipped).
pub fn demo(ov: &Overrides) -> Result<(Snapshot, Vec<String>), ConfigError> {
    demo::build(ov)
}

impl Snapshot {
    /// A human-readable account of what the config compiled to, for `sluice check`.
    /// Secret values are never printed.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let sv = &self.server;
        let _ = writeln!(
            s,
            "server: listen {} (tls: {}), admin {}",
            sv.listen,
            sv.tls.is_some(),
            sv.admin_listen
        );
        let _ = writeln!(
            s,
            "  workers {}, driver {:?}, drain {:?}, keep-alive {:?}",
            sv.workers, sv.driver, sv.drain_timeout, sv.keepalive_timeout
        );
        let l = &self.limits;
        let _ = writeln!(
            s,
            "limits: head {} B, {} headers, uri {} B, body {} B",
            l.head_bytes_max, l.header_count_max, l.uri_bytes_max, l.body_bytes_max
        );
        let _ = writeln!(
            s,
            "auth: {} static key(s), anonymous {}",
            self.auth.keys.len(),
            self.auth.allow_anonymous
        );
        let g = &self.governance;
        let count =
            |k: crate::govern::spec::Kind| g.docs.keys().filter(|(kind, _)| *kind == k).count();
        use crate::govern::spec::Kind;
        let _ = writeln!(
            s,
            "governance: {} org(s), {} team(s), {} user(s), {} virtual key(s) in the file; admin API {}; data dir {}",
            count(Kind::Org),
            count(Kind::Team),
            count(Kind::User),
            count(Kind::Key),
            if g.admin_key.is_some() { "on" } else { "off" },
            g.data_dir
                .as_ref()
                .map_or("none (run-time keys and spend are not kept)".to_string(), |d| d.display().to_string())
        );
        let _ = writeln!(
            s,
            "  default output allowance {} tokens, stream overrun {:?}, budget webhook {}",
            g.default_output_tokens,
            g.stream_overrun,
            g.budget_webhook.as_deref().unwrap_or("none")
        );
        let _ = writeln!(s, "access log: {:?}", self.access_log);
        for p in &self.providers {
            let _ = write!(s, "provider {} ({})", p.name, p.kind.as_str());
            if let Some(u) = &p.upstream {
                let scheme = if u.tls.is_some() { "https" } else { "http" };
                let _ = write!(
                    s,
                    " -> {scheme}://{}{} [{}]",
                    u.host_header, u.path_prefix, u.addr
                );
            }
            let names: Vec<&str> = p.headers.iter().map(|(h, _)| &**h).collect();
            let t = &p.timeouts;
            let _ = writeln!(
                s,
                "\n  headers {:?}; timeouts connect {:?} first-byte {:?} idle {:?} total {:?}; pool {} idle for {:?}",
                names, t.connect, t.first_byte, t.idle, t.total, t.pool_max_idle, t.pool_idle
            );
        }
        for m in &self.models {
            let star = if m.pattern { "*" } else { "" };
            let _ = writeln!(
                s,
                "model {}{star}: {} deployment(s), strategy {}, {} attempt(s)",
                m.name,
                m.deployments.len(),
                m.route.strategy.as_str(),
                m.retry.attempts
            );
            for (d, member) in m.deployments.iter().zip(&m.route.members) {
                let target = d.upstream_model.as_deref().unwrap_or(if m.pattern {
                    "<suffix>"
                } else {
                    &m.name
                });
                let tags: Vec<&str> = (0..64)
                    .filter(|b| member.tags & (1 << b) != 0)
                    .map(|b| &*self.tags[b])
                    .collect();
                // What budgets charge here: USD per million input/output tokens.
                let price = d.price.map_or("price unknown".to_string(), |p| {
                    let mtok = |x: u64| x as f64 * 1e6 / crate::govern::budget::PUSD_PER_USD as f64;
                    format!("${}/${} per Mtok", mtok(p.input), mtok(p.output))
                });
                let _ = writeln!(
                    s,
                    "  -> {}:{target} weight {} priority {} tags {tags:?} {price}",
                    self.providers[d.provider].name, member.weight, member.priority
                );
            }
            let name = |i: &usize| self.models[*i].name.to_string();
            if !m.fallbacks.is_empty() {
                let f: Vec<String> = m.fallbacks.iter().map(name).collect();
                let _ = writeln!(s, "  fallbacks {f:?}");
            }
            if let Some(c) = &m.context_fallback {
                let _ = writeln!(s, "  context-window fallback {}", name(c));
            }
            for sp in &m.split {
                let _ = writeln!(
                    s,
                    "  split {}% -> {}",
                    sp.per_10k as f64 / 100.0,
                    name(&sp.to)
                );
            }
            if let Some(sh) = &m.shadow {
                let _ = writeln!(
                    s,
                    "  shadow {}% -> {}",
                    sh.per_10k as f64 / 100.0,
                    name(&sh.to)
                );
            }
            if let Some(h) = &m.hedge {
                let _ = writeln!(s, "  hedge {:?}", h.delay);
            }
            if let Some(h) = &m.health_check {
                let _ = writeln!(s, "  health check {} every {:?}", h.path, h.interval);
            }
        }
        s
    }
}
