//! The configuration file as written: serde types, every field optional with a default,
//! unknown fields rejected. Nothing here is used at run time: [`super::compile`] turns a
//! [`RawConfig`] into the immutable [`super::Snapshot`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::govern::spec::Doc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub upstream: RawTimeouts,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub data: RawData,
    #[serde(default)]
    pub governance: RawGovernance,
    #[serde(default)]
    pub cache: super::cache::RawCache,
    /// The hierarchy declared in the file (read-only through the admin API).
    #[serde(default)]
    pub orgs: Vec<Spanned<Doc>>,
    #[serde(default)]
    pub teams: Vec<Spanned<Doc>>,
    #[serde(default)]
    pub users: Vec<Spanned<Doc>>,
    #[serde(default)]
    pub keys: Vec<Spanned<Doc>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// The admin API's bearer key, a secret reference (`env:NAME`, `file:PATH`). Without
    /// it the `/admin/` endpoints answer 403.
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    /// The data directory (SQLite: run-time keys and entities, the spend ledger).
    pub dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGovernance {
    /// Output tokens a request without `max_tokens` is assumed to use, for its TPM and
    /// budget reservation (default 4096).
    pub default_output_tokens: Option<Spanned<u64>>,
    /// A stream whose usage passes its reservation when the budget cannot cover more:
    /// `cut` (end it cleanly, default) or `finish`.
    pub stream_overrun: Option<Spanned<String>>,
    /// POSTed a JSON event when a soft budget threshold is crossed (`http://` only).
    pub budget_webhook: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub admin_listen: Option<Spanned<String>>,
    /// 0 or absent: one worker per available core.
    pub workers: Option<usize>,
    /// `auto` (io_uring, falling back to epoll), `io_uring`, or `epoll`.
    pub driver: Option<Spanned<String>>,
    pub drain_timeout_ms: Option<u64>,
    pub keepalive_timeout_ms: Option<u64>,
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub tls: Option<RawServerTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
    pub cert_file: Spanned<String>,
    pub key_file: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub header_bytes_max: Option<Spanned<usize>>,
    pub header_count_max: Option<Spanned<usize>>,
    pub uri_bytes_max: Option<Spanned<usize>>,
    pub body_bytes_max: Option<Spanned<u64>>,
}

/// Upstream timeouts and pool settings; `[upstream]` holds the defaults and each provider
/// may override any of them.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    pub pool_idle_timeout_ms: Option<u64>,
    pub pool_max_idle: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Static gateway keys, each a secret reference (`env:NAME`, `file:PATH`) or literal.
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
    /// Accept requests that carry no `Authorization` header. A presented key must still
    /// be valid.
    #[serde(default)]
    pub allow_anonymous: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `stdout` (default), `stderr`, `off`, or a file path to append to.
    pub access_log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Spanned<String>,
    /// `openai`, `openai-compatible`, `azure-openai`, `anthropic`, `gemini`, `bedrock`, or
    /// `demo`.
    pub kind: Spanned<String>,
    pub base_url: Option<Spanned<String>>,
    pub api_key: Option<Spanned<String>>,
    /// PEM file of extra trust anchors (self-hosted models behind a private CA).
    pub ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    /// Overrides of `[upstream]` for this provider.
    pub timeouts: Option<RawTimeouts>,
    /// `azure-openai`: the `api-version` query parameter.
    pub api_version: Option<Spanned<String>>,
    /// `anthropic`: the `anthropic-version` header.
    pub anthropic_version: Option<Spanned<String>>,
    /// `anthropic`: `max_tokens` sent when the client gave none (Anthropic requires it).
    pub max_tokens_default: Option<Spanned<u64>>,
    /// `openai-compatible`: request members removed before forwarding (parameters the
    /// target rejects).
    #[serde(default)]
    pub drop_params: Vec<Spanned<String>>,
    /// `openai-compatible`: request members renamed before forwarding (`from = "to"`).
    #[serde(default)]
    pub rename_params: BTreeMap<String, Spanned<String>>,
    /// OpenAI-shaped kinds: ask for usage in every stream (`stream_options.include_usage`)
    /// and strip that chunk when the client did not ask (default true; turn off for a
    /// server that rejects the parameter).
    pub stream_usage: Option<Spanned<bool>>,
    /// `bedrock`: the AWS region (else `AWS_REGION` / `AWS_DEFAULT_REGION`).
    pub region: Option<Spanned<String>>,
    /// `bedrock`: credentials as secret references (else the standard `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` environment variables).
    pub aws_access_key_id: Option<Spanned<String>>,
    pub aws_secret_access_key: Option<Spanned<String>>,
    pub aws_session_token: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// Client-facing name. A trailing `*` makes it a prefix pattern: `openai/*` routes
    /// `openai/gpt-4o` to the provider's `gpt-4o`.
    pub name: Spanned<String>,
    /// Shorthand for a group of one deployment: `provider` (+ `model`). Exclusive with
    /// `deployments`.
    pub provider: Option<Spanned<String>>,
    /// The provider's name for the model; defaults to `name` (or the matched suffix).
    pub model: Option<String>,
    /// The group's deployments (at most 64).
    #[serde(default)]
    pub deployments: Vec<RawDeployment>,
    /// `weighted-random` (default), `round-robin`, `least-inflight`, `least-latency`,
    /// `lowest-cost`, `usage-aware`.
    pub strategy: Option<Spanned<String>>,
    /// Groups (client-facing model names) tried in order when this whole group fails.
    #[serde(default)]
    pub fallbacks: Vec<Spanned<String>>,
    /// A larger-context group, used when a provider says the prompt is too long.
    pub context_window_fallback: Option<Spanned<String>>,
    pub retry: Option<RawRetry>,
    pub breaker: Option<RawBreaker>,
    pub hedge: Option<RawHedge>,
    /// Per-group upstream timeouts; override the providers' for this group's requests.
    pub timeouts: Option<RawGroupTimeouts>,
    pub health_check: Option<RawHealthCheck>,
    /// Percentage traffic split to other groups (the rest stays here).
    #[serde(default)]
    pub split: Vec<RawShare>,
    /// What makes a split assignment sticky: `key` (the caller's API key, default) or
    /// `user` (the request's `user` member or `x-sluice-user` header).
    pub sticky: Option<Spanned<String>>,
    /// Mirror a share of requests to a candidate group; its answers are discarded.
    pub shadow: Option<RawShare>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeployment {
    pub provider: Spanned<String>,
    /// The provider's model name; defaults to the group's `model`, else its name.
    pub model: Option<String>,
    /// Relative share for weighted strategies (default 1).
    pub weight: Option<Spanned<u32>>,
    /// Priority tier: the lowest tier with a healthy member serves (default 0).
    pub priority: Option<u8>,
    /// Routing tags (`region = "eu"`, `classification = "confidential"`); a request
    /// that requires tags reaches only deployments carrying all of them.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The deployment's own provider limits, when known (usage-aware routing).
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    /// USD per million input / output tokens (lowest-cost routing).
    pub input_price_per_mtok: Option<Spanned<f64>>,
    pub output_price_per_mtok: Option<Spanned<f64>>,
    /// Prompt tokens read from the provider's cache (default: the input price).
    pub cached_input_price_per_mtok: Option<Spanned<f64>>,
    /// Prompt tokens written to the provider's cache (default: the input price).
    pub cache_write_price_per_mtok: Option<Spanned<f64>>,
    /// Reasoning tokens (default: the output price).
    pub reasoning_price_per_mtok: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Attempts per request across deployments and fallback groups, the first included
    /// (default 3, at most 8).
    pub attempts: Option<Spanned<u32>>,
    /// Exponential backoff with full jitter between attempts: base and cap.
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    /// A `retry-after` longer than this is not waited for: the attempt fails over to
    /// another deployment at once, or the error goes to the client (default 10 s).
    pub retry_after_max_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub consecutive_failures: Option<u32>,
    pub failure_ratio: Option<Spanned<f64>>,
    pub min_requests: Option<u32>,
    pub window_ms: Option<u64>,
    pub cooldown_ms: Option<u64>,
    pub half_open_probes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHedge {
    /// Start a second attempt when the first has no response after this long: a
    /// number of milliseconds, or `"p95"` (the group's observed p95 time to first byte).
    pub delay: Spanned<RawDelay>,
    /// With `"p95"`: the delay until enough samples exist, and its floor.
    pub min_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawDelay {
    Ms(u64),
    Word(String),
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawGroupTimeouts {
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    /// Path under each deployment's base URL, e.g. `/models`; any 2xx is healthy.
    pub path: Spanned<String>,
    pub interval_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShare {
    /// The group (client-facing model name) that gets the share.
    pub to: Spanned<String>,
    pub percent: Spanned<f64>,
}
