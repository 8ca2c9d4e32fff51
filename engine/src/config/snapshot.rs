//! The immutable runtime snapshot: what the request path reads. Built only by
//! [`super::compile`]; shared by all workers behind an `Arc`, never mutated.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proto::http1::Limits;

use crate::govern::price::Price;
use crate::govern::spec::{Doc, Kind, Source as GovSource};
use crate::route::GroupSpec;

/// Which monoio driver the workers run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// io_uring, falling back to epoll (with a log line) where it cannot be set up.
    Auto,
    IoUring,
    Epoll,
}

#[derive(Clone, Debug)]
pub struct Server {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub workers: usize,
    pub driver: Driver,
    pub drain_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub idle: Duration,
    pub total: Duration,
    pub pool_idle: Duration,
    pub pool_max_idle: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// api.openai.com.
    OpenAi,
    /// Any base URL speaking the OpenAI API (vLLM, Ollama, Mistral, DeepSeek, ...).
    OpenAiCompatible,
    /// Azure OpenAI: deployment URLs, `api-version`, `api-key` header.
    AzureOpenAi,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
    /// AWS Bedrock Converse, SigV4-signed.
    Bedrock,
    /// The built-in in-process demo provider: no network.
    Demo,
}

impl ProviderKind {
    /// Whether the provider speaks OpenAI's wire format (the body is forwarded, with at
    /// most `model` and configured parameters rewritten, and the response relayed as is).
    pub fn openai_shaped(self) -> bool {
        matches!(
            self,
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::AzureOpenAi => "azure-openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::Demo => "demo",
        }
    }
}

/// Where and how to reach one upstream.
#[derive(Clone)]
pub struct Upstream {
    /// `host:port`, resolved at compile time (the first address).
    pub addr: SocketAddr,
    /// Host header value (`host` or `host:port` when the port is not the default).
    pub host_header: Box<str>,
    /// Path prefix of the base URL without trailing slash, e.g. `/v1`.
    pub path_prefix: Box<str>,
    /// `Some` for https: the client config and the server name to verify.
    pub tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls_pki_types::ServerName<'static>,
    )>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("addr", &self.addr)
            .field("host", &self.host_header)
            .field("path_prefix", &self.path_prefix)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub name: Box<str>,
    pub kind: ProviderKind,
    /// `None` for the demo provider.
    pub upstream: Option<Upstream>,
    /// Extra request headers, `Authorization: Bearer <key>` first when a key is set.
    /// Secret values never appear in `Debug` output.
    pub headers: Vec<(Box<str>, Secret)>,
    pub timeouts: Timeouts,
    pub opts: ProviderOptions,
}

/// Kind-specific settings; each is meaningful only for the kinds its doc names.
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// `azure-openai`: `api-version` query value.
    pub api_version: Box<str>,
    /// `anthropic`: `max_tokens` when the client sends none.
    pub max_tokens_default: u64,
    /// `openai-compatible`: members dropped from the request body.
    pub drop_params: Vec<Box<str>>,
    /// `openai-compatible`: members renamed in the request body, `(from, to)`.
    pub rename_params: Vec<(Box<str>, Box<str>)>,
    /// OpenAI-shaped kinds: ask for stream usage upstream and strip it for clients that
    /// did not ask.
    pub stream_usage: bool,
    /// `bedrock`: region and credentials.
    pub aws: Option<AwsCredentials>,
}

#[derive(Clone, Debug)]
pub struct AwsCredentials {
    pub region: Box<str>,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// A resolved secret. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Box<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<secret: {} bytes>", self.0.len())
    }
}

/// A client-facing model name: a group of deployments with its routing policy.
#[derive(Clone, Debug)]
pub struct Model {
    /// Client-facing name (for a pattern, the prefix without `*`).
    pub name: Box<str>,
    pub pattern: bool,
    /// At least one, at most [`crate::route::MEMBERS_MAX`]; parallel to `route.members`.
    pub deployments: Vec<Deployment>,
    pub route: GroupSpec,
    /// Model indices tried in order when every deployment of this group failed.
    pub fallbacks: Vec<usize>,
    /// Model index used when a provider says the prompt exceeds the context window.
    pub context_fallback: Option<usize>,
    pub retry: Retry,
    pub hedge: Option<Hedge>,
    pub health_check: Option<HealthCheck>,
    /// Shares of this group's traffic that go to other groups, by model index.
    pub split: Vec<Share>,
    pub sticky: Sticky,
    pub shadow: Option<Share>,
}

/// One deployment of a group: a provider and its name for the model.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub provider: usize,
    /// The provider's model name; `None` means "the client's name" (or, for a pattern,
    /// the part after the prefix).
    pub upstream_model: Option<Box<str>>,
    /// The provider's timeouts with the group's overrides applied.
    pub timeouts: Timeouts,
    /// Index of this deployment in the process-wide health board and the per-deployment
    /// metrics ([`Snapshot::deployment_labels`]).
    pub id: usize,
    /// What a token costs here: the config's prices, else the built-in table's for the
    /// provider's model name; `None` when neither knows (budgeted keys are refused).
    pub price: Option<Price>,
}

/// Attempts and backoff for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (first included), across deployments and fallback groups;
    /// 1..=[`ATTEMPTS_MAX`].
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_after_max: Duration,
}

/// The most attempts (retries and hedges included) one request makes; the access log
/// records each of them.
pub const ATTEMPTS_MAX: usize = 8;

pub const DEFAULT_RETRY: Retry = Retry {
    attempts: 3,
    backoff_base: Duration::from_millis(25),
    backoff_max: Duration::from_millis(1_000),
    retry_after_max: Duration::from_millis(10_000),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDelay {
    Fixed(Duration),
    /// The group's observed p95 time to first byte on this core, at least `min` (also
    /// used until enough samples exist).
    P95 {
        min: Duration,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hedge {
    pub delay: HedgeDelay,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Appended to each deployment's base-URL path.
    pub path: Box<str>,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A share of a group's traffic, in hundredths of a percent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub to: usize,
    pub per_10k: u32,
}

/// What a split assignment is sticky to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sticky {
    /// The caller's API key (anonymous callers: their address).
    Key,
    /// The request's `user` member or `x-sluice-user` header (else the key).
    User,
}

#[derive(Clone, Debug)]
pub struct Auth {
    pub keys: Vec<Secret>,
    pub allow_anonymous: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

/// Everything the request path needs, compiled and validated.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub server: Server,
    pub limits: Limits,
    pub auth: Auth,
    pub access_log: AccessLog,
    pub providers: Vec<Provider>,
    /// Exact model names first (in config order), then patterns.
    pub models: Vec<Model>,
    /// `model/provider/upstream-model` per deployment id, for headers, metrics and logs.
    pub deployment_labels: Vec<Box<str>>,
    /// Routing tags (`key=value`) by bit index in [`crate::route::Member::tags`].
    pub tags: Vec<Box<str>>,
    /// Each deployment's provider index, by deployment id.
    pub deployment_provider: Vec<usize>,
    deployment_prices: Vec<Option<Price>>,
    exact: HashMap<Box<[u8]>, usize>,
    /// Whether this snapshot is the built-in demo.
    pub demo: bool,
    pub governance: Governance,
    /// `[cache]`, when the response cache is on.
    pub cache: Option<super::CacheConfig>,
}

/// Virtual keys and their hierarchy as the config declares them, and the settings of
/// the admin API, data directory and budgets.
#[derive(Clone, Debug, Default)]
pub struct Governance {
    pub admin_key: Option<Secret>,
    pub data_dir: Option<PathBuf>,
    /// Config-declared entities, secrets already hashed.
    pub docs: BTreeMap<(Kind, String), (Doc, GovSource)>,
    /// Output tokens assumed for a request without `max_tokens`.
    pub default_output_tokens: u64,
    pub stream_overrun: StreamOverrun,
    pub budget_webhook: Option<String>,
}

/// What happens to a stream whose usage passes its reservation when the budget cannot
/// cover more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamOverrun {
    /// End it cleanly (a final chunk with `finish_reason: "length"`, then `[DONE]`).
    #[default]
    Cut,
    /// Let it finish; the budget may end above its limit by that stream's excess.
    Finish,
}

/// A client-facing name matched to its group.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    pub index: usize,
    pub model: &'a Model,
    /// The name a deployment without its own `model` sends upstream: the client's name,
    /// or for a pattern the part after the prefix.
    pub default_name: &'a [u8],
}

/// One deployment of a group, chosen for one attempt.
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    /// The model (group) index.
    pub index: usize,
    pub model: &'a Model,
    pub deployment: &'a Deployment,
    pub provider: &'a Provider,
    /// The model name to send upstream.
    pub upstream_name: &'a [u8],
}

impl Snapshot {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        server: Server,
        limits: Limits,
        auth: Auth,
        access_log: AccessLog,
        providers: Vec<Provider>,
        models: Vec<Model>,
        tags: Vec<Box<str>>,
        demo: bool,
    ) -> Snapshot {
        let exact = models
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.pattern)
            .map(|(i, m)| (Box::<[u8]>::from(m.name.as_bytes()), i))
            .collect();
        let mut deployment_labels = Vec::new();
        for m in &models {
            for d in &m.deployments {
                debug_assert_eq!(d.id, deployment_labels.len());
                let p = &providers[d.provider];
                let star = if m.pattern { "*" } else { "" };
                // Without its own name a deployment sends the client's (a pattern: the
                // matched suffix, shown as `*`).
                let upstream =
                    d.upstream_model
                        .as_deref()
                        .unwrap_or(if m.pattern { "*" } else { &m.name });
                deployment_labels
                    .push(format!("{}{star}/{}/{upstream}", m.name, p.name).into_boxed_str());
            }
        }
        let deployment_provider = models
            .iter()
            .flat_map(|m| m.deployments.iter().map(|d| d.provider))
            .collect();
        let deployment_prices = models
            .iter()
            .flat_map(|m| m.deployments.iter().map(|d| d.price))
            .collect();
        Snapshot {
            server,
            limits,
            auth,
            access_log,
            providers,
            models,
            deployment_provider,
            deployment_prices,
            deployment_labels,
            tags,
            exact,
            demo,
            governance: Governance::default(),
            cache: None,
        }
    }

    /// Map a client-facing model name to its group: exact names first, then the
    /// longest matching prefix pattern.
    pub fn find<'a>(&'a self, name: &'a [u8]) -> Option<Found<'a>> {
        let (index, default_name) = match self.exact.get(name) {
            Some(&i) => (i, name),
            None => {
                let (i, m) = self
                    .models
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        m.pattern
                            && name.len() > m.name.len()
                            && name.starts_with(m.name.as_bytes())
                    })
                    .max_by_key(|(_, m)| m.name.len())?;
                (i, &name[m.name.len()..])
            }
        };
        Some(Found {
            index,
            model: &self.models[index],
            default_name,
        })
    }

    /// Deployment `d` of a found group.
    pub fn deployment<'a>(&'a self, found: &Found<'a>, d: usize) -> Resolved<'a> {
        let dep = &found.model.deployments[d];
        Resolved {
            index: found.index,
            model: found.model,
            deployment: dep,
            provider: &self.providers[dep.provider],
            upstream_name: dep
                .upstream_model
                .as_deref()
                .map_or(found.default_name, str::as_bytes),
        }
    }

    /// The group's first deployment for `name` (tests and `sluice check`).
    pub fn resolve<'a>(&'a self, name: &'a [u8]) -> Option<Resolved<'a>> {
        let found = self.find(name)?;
        Some(self.deployment(&found, 0))
    }

    /// The number of deployments across all groups (the health board's size).
    /// A deployment's price, by id.
    pub fn deployment_price(&self, id: usize) -> Option<Price> {
        self.deployment_prices.get(id).copied().flatten()
    }

    pub fn deployment_count(&self) -> usize {
        self.deployment_labels.len()
    }

    /// The tag bitmask for `key=value` pairs; `None` when a pair names a tag no
    /// deployment carries (so nothing can satisfy it).
    pub fn tag_mask<'t>(&self, pairs: impl Iterator<Item = &'t [u8]>) -> Option<u64> {
        let mut mask = 0u64;
        for p in pairs {
            let i = self.tags.iter().position(|t| t.as_bytes() == p)?;
            mask |= 1 << i;
        }
        Some(mask)
    }

    /// Constant-time check of a presented gateway key against every configured key.
    pub fn key_is_valid(&self, presented: &[u8]) -> bool {
        let mut ok = false;
        for k in &self.auth.keys {
            ok |= constant_time_eq(k.0.as_bytes(), presented);
        }
        ok
    }
}

/// Compares without early exit on the first differing byte (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}
