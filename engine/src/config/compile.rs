//! Raw config -> validated, immutable [`Snapshot`]. The only place configuration becomes
//! runtime state.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proto::http1::{Limits, HEADER_SLOTS};
use toml::Spanned;

use super::raw::RawDelay;
use super::raw::{RawConfig, RawModel, RawProvider, RawTimeouts};
use super::snapshot::{
    AccessLog, Auth, AwsCredentials, Deployment, Driver, HealthCheck, Hedge, HedgeDelay, Model,
    Provider, ProviderKind, ProviderOptions, Retry, Secret, Server, Share, Snapshot, Sticky,
    Timeouts, Upstream, ATTEMPTS_MAX, DEFAULT_RETRY,
};
use super::snapshot::{Governance, StreamOverrun};
use super::{tls, ConfigError, Overrides};
use crate::govern::price::Price;
use crate::govern::spec::{Kind, Source as GovSource};
use crate::route::{BreakerConfig, GroupSpec, Member, Strategy, MEMBERS_MAX};
use std::collections::BTreeMap;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// Default upstream timeouts. First byte is generous: a reasoning model can think for
/// minutes before its first token.
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_millis(5_000),
    first_byte: Duration::from_millis(300_000),
    idle: Duration::from_millis(120_000),
    total: Duration::from_millis(900_000),
    pool_idle: Duration::from_millis(60_000),
    pool_max_idle: 64,
};

/// Where a value came from, for error messages that name the file, line and field.
pub(super) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        field: &str,
        msg: impl Into<String>,
    ) -> ConfigError {
        let line = span.map(|s| {
            self.text[..s.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1
        });
        ConfigError {
            file: self.file.to_string(),
            line,
            field: field.to_string(),
            message: msg.into(),
        }
    }

    fn at<T>(&self, v: &Spanned<T>, field: &str, msg: impl Into<String>) -> ConfigError {
        self.err(Some(v.span()), field, msg)
    }
}

/// Parse TOML text into the raw config; syntax errors and unknown fields name the line.
pub fn parse(file: &str, text: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str::<RawConfig>(text).map_err(|e| {
        let src = Source { file, text };
        let msg = e.message().to_string();
        src.err(e.span(), "", msg)
    })
}

pub(super) fn compile(
    raw: RawConfig,
    src: &Source<'_>,
    ov: &Overrides,
    demo: bool,
) -> Result<Snapshot, ConfigError> {
    let server = compile_server(&raw, src, ov)?;
    let limits = compile_limits(&raw, src)?;
    let defaults = merge_timeouts(&DEFAULT_TIMEOUTS, &raw.upstream);
    let roots = tls::webpki_roots();
    let mut providers: Vec<Provider> = Vec::with_capacity(raw.providers.len());
    for p in &raw.providers {
        if providers.iter().any(|q| *q.name == **p.name.get_ref()) {
            return Err(src.at(
                &p.name,
                "providers.name",
                format!("duplicate provider name {:?}", p.name.get_ref()),
            ));
        }
        providers.push(compile_provider(p, src, &defaults, &roots)?);
    }
    let (models, tags) = compile_models(&raw.models, &providers, src)?;
    let mut keys = Vec::with_capacity(raw.auth.keys.len());
    for k in &raw.auth.keys {
        let secret = resolve_secret(k, src, "auth.keys")?;
        if secret.0.is_empty() {
            return Err(src.at(k, "auth.keys", "key resolves to an empty string"));
        }
        keys.push(secret);
    }
    let access_log = match raw.log.access_log.as_deref() {
        None | Some("stdout") => AccessLog::Stdout,
        Some("stderr") => AccessLog::Stderr,
        Some("off") => AccessLog::Off,
        Some(path) => AccessLog::File(path.into()),
    };
    let auth = Auth {
        keys,
        allow_anonymous: raw.auth.allow_anonymous,
    };
    let governance = compile_governance(&raw, src)?;
    let mut snap = Snapshot::new(
        server, limits, auth, access_log, providers, models, tags, demo,
    );
    snap.governance = governance;
    snap.cache = super::cache::compile(&raw.cache, src)?;
    if let Some(super::EmbedderSpec::Provider { model, .. }) = snap
        .cache
        .as_ref()
        .and_then(|c| c.semantic.as_ref())
        .map(|s| &s.embedder)
    {
        if snap.find(model.as_bytes()).is_none() {
            return Err(src.err(
                raw.cache.semantic.model.as_ref().map(|m| m.span()),
                "cache.semantic.model",
                format!("no model {model:?} is configured (the provider embedder calls it through this gateway)"),
            ));
        }
    }
    // Parents must exist, tags must be known: build the directory once to find out.
    crate::govern::Directory::build(snap.governance.docs.clone(), None, &snap)
        .map_err(|e| src.err(None, "keys", e))?;
    Ok(snap)
}

/// Default output allowance for TPM and budget reservations (`max_tokens` absent).
const DEFAULT_OUTPUT_TOKENS: u64 = 4096;

fn compile_governance(raw: &RawConfig, src: &Source<'_>) -> Result<Governance, ConfigError> {
    let g = &raw.governance;
    let admin_key = match &raw.admin.key {
        None => None,
        Some(k) => {
            let s = resolve_secret(k, src, "admin.key")?;
            if s.0.len() < 16 {
                return Err(src.at(k, "admin.key", "use at least 16 characters"));
            }
            Some(s)
        }
    };
    let default_output_tokens = match &g.default_output_tokens {
        None => DEFAULT_OUTPUT_TOKENS,
        Some(v) if (1..=10_000_000).contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            return Err(src.at(
                v,
                "governance.default_output_tokens",
                "must be from 1 to 10000000",
            ))
        }
    };
    let stream_overrun = match g.stream_overrun.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "cut")) => StreamOverrun::Cut,
        Some((_, "finish")) => StreamOverrun::Finish,
        Some((v, _)) => return Err(src.at(v, "governance.stream_overrun", "`cut` or `finish`")),
    };
    let budget_webhook = match &g.budget_webhook {
        None => None,
        Some(v) if v.get_ref().starts_with("http://") => Some(v.get_ref().clone()),
        Some(v) => {
            return Err(src.at(
                v,
                "governance.budget_webhook",
                "an http:// URL (a local relay for https)",
            ))
        }
    };
    let mut docs = BTreeMap::new();
    for (kind, list, field) in [
        (Kind::Org, &raw.orgs, "orgs"),
        (Kind::Team, &raw.teams, "teams"),
        (Kind::User, &raw.users, "users"),
        (Kind::Key, &raw.keys, "keys"),
    ] {
        for entry in list {
            let mut doc = entry.get_ref().clone();
            let at = |msg: String| src.err(Some(entry.span()), field, msg);
            doc.check(kind).map_err(at)?;
            if kind == Kind::Key {
                let Some(reference) = doc.key.take() else {
                    return Err(at(format!(
                        "key {}: `key` (the secret, e.g. \"env:NAME\") is required",
                        doc.id
                    )));
                };
                let secret = secret_value(&reference).map_err(at)?;
                if secret.len() < 20 {
                    return Err(at(format!(
                        "key {}: the secret must be at least 20 characters",
                        doc.id
                    )));
                }
                doc.prefix = Some(crate::govern::secret::shown(&secret));
                doc.hash = Some(crate::govern::secret::to_hex(&crate::govern::secret::hash(
                    secret.as_bytes(),
                )));
            }
            if docs
                .insert((kind, doc.id.clone()), (doc, GovSource::Config))
                .is_some()
            {
                return Err(at(format!("duplicate {} id", kind.name())));
            }
        }
    }
    Ok(Governance {
        admin_key,
        data_dir: raw.data.dir.as_ref().map(|d| d.get_ref().into()),
        docs,
        default_output_tokens,
        stream_overrun,
        budget_webhook,
    })
}

/// A secret reference's value (`env:NAME`, `file:PATH`, or the literal).
fn secret_value(s: &str) -> Result<String, String> {
    if let Some(name) = s.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
    } else if let Some(path) = s.strip_prefix("file:") {
        std::fs::read_to_string(Path::new(path))
            .map(|x| x.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| format!("cannot read {path}: {e}"))
    } else {
        Ok(s.to_string())
    }
}

fn compile_server(
    raw: &RawConfig,
    src: &Source<'_>,
    ov: &Overrides,
) -> Result<Server, ConfigError> {
    let s = &raw.server;
    let listen = match (&ov.listen, &s.listen) {
        (Some(a), _) => *a,
        (None, Some(v)) => parse_addr(v, src, "server.listen")?,
        (None, None) => DEFAULT_LISTEN.parse().expect("default listen address"),
    };
    let admin_listen = match (&ov.admin_listen, &s.admin_listen) {
        (Some(a), _) => *a,
        (None, Some(v)) => parse_addr(v, src, "server.admin_listen")?,
        (None, None) => DEFAULT_ADMIN_LISTEN.parse().expect("default admin address"),
    };
    let workers = match ov.workers.or(s.workers) {
        Some(0) | None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n) if n > 1024 => {
            return Err(src.err(
                None,
                "server.workers",
                format!("{n} workers is more than 1024"),
            ))
        }
        Some(n) => n,
    };
    let driver = match (&ov.driver, &s.driver) {
        (Some(d), _) => *d,
        (None, Some(v)) => parse_driver(v.get_ref()).ok_or_else(|| {
            src.at(
                v,
                "server.driver",
                format!(
                    "unknown driver {:?}: expected auto, io_uring or epoll",
                    v.get_ref()
                ),
            )
        })?,
        (None, None) => Driver::Auto,
    };
    let tls = match &s.tls {
        None => None,
        Some(t) => Some(tls::server_config(&t.cert_file, &t.key_file, src)?),
    };
    let ms = |v: Option<u64>, d: u64| Duration::from_millis(v.unwrap_or(d));
    Ok(Server {
        listen,
        admin_listen,
        workers,
        driver,
        drain_timeout: ms(s.drain_timeout_ms, 30_000),
        keepalive_timeout: ms(s.keepalive_timeout_ms, 75_000),
        header_read_timeout: ms(s.header_read_timeout_ms, 10_000),
        body_read_timeout: ms(s.body_read_timeout_ms, 60_000),
        tls,
    })
}

pub fn parse_driver(s: &str) -> Option<Driver> {
    match s {
        "auto" => Some(Driver::Auto),
        "io_uring" | "io-uring" | "iouring" => Some(Driver::IoUring),
        "epoll" | "legacy" => Some(Driver::Epoll),
        _ => None,
    }
}

fn parse_addr(
    v: &Spanned<String>,
    src: &Source<'_>,
    field: &str,
) -> Result<SocketAddr, ConfigError> {
    v.get_ref().parse().map_err(|_| {
        src.at(
            v,
            field,
            format!("{:?} is not an IP:port address", v.get_ref()),
        )
    })
}

fn compile_limits(raw: &RawConfig, src: &Source<'_>) -> Result<Limits, ConfigError> {
    let l = &raw.limits;
    let d = Limits::DEFAULT;
    let get = |v: &Option<Spanned<usize>>, d: usize, min: usize, max: usize, field: &str| match v {
        None => Ok(d),
        Some(s) if *s.get_ref() < min || *s.get_ref() > max => {
            Err(src.at(s, field, format!("must be between {min} and {max}")))
        }
        Some(s) => Ok(*s.get_ref()),
    };
    let head = get(
        &l.header_bytes_max,
        d.head_bytes_max,
        1024,
        1 << 20,
        "limits.header_bytes_max",
    )?;
    let count = get(
        &l.header_count_max,
        d.header_count_max,
        8,
        HEADER_SLOTS,
        "limits.header_count_max",
    )?;
    let uri = get(
        &l.uri_bytes_max,
        d.uri_bytes_max,
        64,
        head,
        "limits.uri_bytes_max",
    )?;
    let body = match &l.body_bytes_max {
        None => d.body_bytes_max,
        Some(s) if *s.get_ref() == 0 || *s.get_ref() > 1 << 32 => {
            return Err(src.at(
                s,
                "limits.body_bytes_max",
                "must be between 1 and 4294967296",
            ))
        }
        Some(s) => *s.get_ref(),
    };
    Ok(Limits {
        head_bytes_max: head,
        header_count_max: count,
        uri_bytes_max: uri,
        body_bytes_max: body,
    })
}

fn merge_timeouts(base: &Timeouts, raw: &RawTimeouts) -> Timeouts {
    let ms = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_millis);
    Timeouts {
        connect: ms(raw.connect_timeout_ms, base.connect),
        first_byte: ms(raw.first_byte_timeout_ms, base.first_byte),
        idle: ms(raw.idle_timeout_ms, base.idle),
        total: ms(raw.total_timeout_ms, base.total),
        pool_idle: ms(raw.pool_idle_timeout_ms, base.pool_idle),
        pool_max_idle: raw.pool_max_idle.unwrap_or(base.pool_max_idle),
    }
}

fn compile_provider(
    p: &RawProvider,
    src: &Source<'_>,
    defaults: &Timeouts,
    roots: &Arc<rustls::RootCertStore>,
) -> Result<Provider, ConfigError> {
    let name = p.name.get_ref();
    if name.is_empty() {
        return Err(src.at(&p.name, "providers.name", "must not be empty"));
    }
    let kind = match p.kind.get_ref().as_str() {
        "openai" => ProviderKind::OpenAi,
        "openai-compatible" => ProviderKind::OpenAiCompatible,
        "azure-openai" => ProviderKind::AzureOpenAi,
        "anthropic" => ProviderKind::Anthropic,
        "gemini" => ProviderKind::Gemini,
        "bedrock" => ProviderKind::Bedrock,
        "demo" => ProviderKind::Demo,
        other => {
            return Err(src.at(
                &p.kind,
                "providers.kind",
                format!(
                    "unknown provider kind {other:?}: expected openai, openai-compatible, \
                     azure-openai, anthropic, gemini, bedrock or demo"
                ),
            ))
        }
    };
    let timeouts = match &p.timeouts {
        Some(t) => merge_timeouts(defaults, t),
        None => *defaults,
    };
    let opts = compile_options(p, kind, src)?;
    let mut headers: Vec<(Box<str>, Secret)> = Vec::new();
    if let Some(k) = &p.api_key {
        let key = resolve_secret(k, src, "providers.api_key")?;
        let (name, value) = match kind {
            ProviderKind::AzureOpenAi => ("api-key", key.0),
            ProviderKind::Anthropic => ("x-api-key", key.0),
            ProviderKind::Gemini => ("x-goog-api-key", key.0),
            ProviderKind::Bedrock => {
                return Err(src.at(
                    k,
                    "providers.api_key",
                    "bedrock signs requests with AWS credentials: set aws_access_key_id and \
                     aws_secret_access_key (or the AWS_* environment variables), not api_key",
                ))
            }
            _ => ("authorization", format!("Bearer {}", key.0).into()),
        };
        headers.push((name.into(), Secret(value)));
    }
    if kind == ProviderKind::Anthropic {
        let version = p
            .anthropic_version
            .as_ref()
            .map_or("2023-06-01", |v| v.get_ref().as_str());
        headers.push(("anthropic-version".into(), Secret(version.into())));
    }
    for (h, v) in &p.headers {
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(src.at(
                v,
                "providers.headers",
                format!("{h:?} is not a valid header name"),
            ));
        }
        let value = resolve_secret(v, src, "providers.headers")?;
        if value.0.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(src.at(
                v,
                "providers.headers",
                "header value contains CR, LF or NUL",
            ));
        }
        let h = h.to_ascii_lowercase();
        // A configured header replaces the kind's default of the same name.
        headers.retain(|(n, _)| **n != *h);
        headers.push((h.into(), value));
    }
    let default_url = match kind {
        ProviderKind::OpenAi => Some("https://api.openai.com/v1".to_string()),
        ProviderKind::Anthropic => Some("https://api.anthropic.com".to_string()),
        ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com".to_string()),
        ProviderKind::Bedrock => opts
            .aws
            .as_ref()
            .map(|a| format!("https://bedrock-runtime.{}.amazonaws.com", a.region)),
        _ => None,
    };
    let upstream = match (kind, &p.base_url) {
        (ProviderKind::Demo, None) => None,
        (ProviderKind::Demo, Some(u)) => {
            return Err(src.at(
                u,
                "providers.base_url",
                "the demo provider takes no base_url",
            ))
        }
        (_, Some(u)) => Some(compile_upstream(u, p.ca_file.as_ref(), src, roots)?),
        (_, None) => match default_url {
            Some(url) => {
                let default = Spanned::new(0..0, url);
                Some(compile_upstream(&default, p.ca_file.as_ref(), src, roots)?)
            }
            None => {
                return Err(src.at(
                    &p.kind,
                    "providers.base_url",
                    format!("provider {name:?} needs a base_url"),
                ))
            }
        },
    };
    Ok(Provider {
        name: name.as_str().into(),
        kind,
        upstream,
        headers,
        timeouts,
        opts,
    })
}

/// The kind-specific settings, each refused on a kind it does not apply to.
fn compile_options(
    p: &RawProvider,
    kind: ProviderKind,
    src: &Source<'_>,
) -> Result<ProviderOptions, ConfigError> {
    let only = |field: &'static str, ok: bool, at: std::ops::Range<usize>| {
        if ok {
            Ok(())
        } else {
            Err(src.err(
                Some(at),
                field,
                format!("{field} does not apply to a {} provider", kind.as_str()),
            ))
        }
    };
    let mut opts = ProviderOptions {
        api_version: "2024-10-21".into(),
        max_tokens_default: 4096,
        stream_usage: kind.openai_shaped(),
        ..ProviderOptions::default()
    };
    if let Some(v) = &p.stream_usage {
        only("providers.stream_usage", kind.openai_shaped(), v.span())?;
        opts.stream_usage = *v.get_ref();
    }
    if let Some(v) = &p.api_version {
        only(
            "providers.api_version",
            kind == ProviderKind::AzureOpenAi,
            v.span(),
        )?;
        opts.api_version = v.get_ref().as_str().into();
    }
    if let Some(v) = &p.anthropic_version {
        only(
            "providers.anthropic_version",
            kind == ProviderKind::Anthropic,
            v.span(),
        )?;
    }
    if let Some(v) = &p.max_tokens_default {
        only(
            "providers.max_tokens_default",
            kind == ProviderKind::Anthropic,
            v.span(),
        )?;
        if *v.get_ref() == 0 {
            return Err(src.at(v, "providers.max_tokens_default", "must be at least 1"));
        }
        opts.max_tokens_default = *v.get_ref();
    }
    let compatible = kind == ProviderKind::OpenAiCompatible;
    for d in &p.drop_params {
        only("providers.drop_params", compatible, d.span())?;
        opts.drop_params.push(d.get_ref().as_str().into());
    }
    for (from, to) in &p.rename_params {
        only("providers.rename_params", compatible, to.span())?;
        if from == "model" || to.get_ref() == "model" {
            return Err(src.at(to, "providers.rename_params", "`model` cannot be renamed"));
        }
        opts.rename_params
            .push((from.as_str().into(), to.get_ref().as_str().into()));
    }
    let aws_fields = [
        &p.region,
        &p.aws_access_key_id,
        &p.aws_secret_access_key,
        &p.aws_session_token,
    ];
    if kind != ProviderKind::Bedrock {
        if let Some(f) = aws_fields.iter().copied().flatten().next() {
            only("providers.region / aws_*", false, f.span())?;
        }
        return Ok(opts);
    }
    let env = |field: &Option<Spanned<String>>, var: &str| {
        field
            .clone()
            .or_else(|| std::env::var_os(var).map(|_| Spanned::new(0..0, format!("env:{var}"))))
    };
    let region = match p.region.as_ref() {
        Some(r) => r.get_ref().clone(),
        None => std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .map_err(|_| {
                src.at(
                    &p.kind,
                    "providers.region",
                    "a bedrock provider needs a region (or AWS_REGION in the environment)",
                )
            })?,
    };
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(src.at(
            &p.kind,
            "providers.region",
            format!("bad region {region:?}"),
        ));
    }
    let (Some(id), Some(secret)) = (
        env(&p.aws_access_key_id, "AWS_ACCESS_KEY_ID"),
        env(&p.aws_secret_access_key, "AWS_SECRET_ACCESS_KEY"),
    ) else {
        return Err(src.at(
            &p.kind,
            "providers.aws_access_key_id",
            "a bedrock provider needs aws_access_key_id and aws_secret_access_key \
             (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment)",
        ));
    };
    let token = match env(&p.aws_session_token, "AWS_SESSION_TOKEN") {
        Some(t) => Some(resolve_secret(&t, src, "providers.aws_session_token")?),
        None => None,
    };
    opts.aws = Some(AwsCredentials {
        region: region.into(),
        access_key_id: resolve_secret(&id, src, "providers.aws_access_key_id")?,
        secret_access_key: resolve_secret(&secret, src, "providers.aws_secret_access_key")?,
        session_token: token,
    });
    Ok(opts)
}

/// A parsed `http(s)://host[:port][/prefix]`.
pub(super) struct Url<'a> {
    pub https: bool,
    pub host: &'a str,
    pub port: u16,
    pub path: &'a str,
}

pub(super) fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') || path.contains(['?', '#']) {
        return Err(format!(
            "{url:?}: userinfo, query and fragment are not allowed in a base_url"
        ));
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6
            .find(']')
            .ok_or_else(|| format!("{url:?}: unterminated IPv6 literal"))?;
        let port = match &v6[end + 1..] {
            "" => default_port,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{url:?}: bad port"))?,
        };
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
            ),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(Url {
        https,
        host,
        port,
        path: path.trim_end_matches('/'),
    })
}

fn compile_upstream(
    u: &Spanned<String>,
    ca_file: Option<&Spanned<String>>,
    src: &Source<'_>,
    roots: &Arc<rustls::RootCertStore>,
) -> Result<Upstream, ConfigError> {
    let url = parse_url(u.get_ref()).map_err(|m| src.at(u, "providers.base_url", m))?;
    let addr = (url.host, url.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            src.at(
                u,
                "providers.base_url",
                format!("cannot resolve host {:?}", url.host),
            )
        })?;
    let default_port = if url.https { 443 } else { 80 };
    let host_header: Box<str> = match (url.port == default_port, url.host.contains(':')) {
        (true, false) => url.host.into(),
        (true, true) => format!("[{}]", url.host).into(),
        (false, false) => format!("{}:{}", url.host, url.port).into(),
        (false, true) => format!("[{}]:{}", url.host, url.port).into(),
    };
    let tls = if url.https {
        let config = tls::client_config(roots, ca_file, src)?;
        let name = rustls_pki_types::ServerName::try_from(url.host.to_string()).map_err(|_| {
            src.at(
                u,
                "providers.base_url",
                format!("{:?} is not a valid TLS server name", url.host),
            )
        })?;
        Some((config, name))
    } else {
        if let Some(ca) = ca_file {
            return Err(src.at(
                ca,
                "providers.ca_file",
                "ca_file is only used with an https base_url",
            ));
        }
        None
    };
    Ok(Upstream {
        addr,
        host_header,
        path_prefix: url.path.into(),
        tls,
    })
}

/// Compiled groups (exact names first, then patterns) and the routing tag names.
fn compile_models(
    raw: &[RawModel],
    providers: &[Provider],
    src: &Source<'_>,
) -> Result<(Vec<Model>, Vec<Box<str>>), ConfigError> {
    // Exact names first, then patterns: the order `Snapshot::find` relies on. Fallbacks
    // and splits name groups, so every name's final index is known before compiling.
    let order: Vec<&RawModel> = raw
        .iter()
        .filter(|m| !m.name.get_ref().ends_with('*'))
        .chain(raw.iter().filter(|m| m.name.get_ref().ends_with('*')))
        .collect();
    let mut names: Vec<(&str, bool)> = Vec::with_capacity(order.len());
    for m in &order {
        let name = m.name.get_ref();
        let (prefix, pattern) = match name.strip_suffix('*') {
            Some(p) => (p, true),
            None => (name.as_str(), false),
        };
        if prefix.is_empty() && !pattern {
            return Err(src.at(&m.name, "models.name", "must not be empty"));
        }
        if prefix.contains('*') || name.bytes().any(|b| b.is_ascii_control() || b == b'"') {
            return Err(src.at(
                &m.name,
                "models.name",
                format!("{name:?}: `*` is only allowed at the end"),
            ));
        }
        if names.contains(&(prefix, pattern)) {
            return Err(src.at(&m.name, "models.name", format!("duplicate model {name:?}")));
        }
        names.push((prefix, pattern));
    }
    let group = |v: &Spanned<String>, field: &str| -> Result<usize, ConfigError> {
        names
            .iter()
            .position(|&(n, pattern)| !pattern && n == v.get_ref())
            .ok_or_else(|| src.at(v, field, format!("no model named {:?}", v.get_ref())))
    };
    let mut tags: Vec<Box<str>> = Vec::new();
    let mut next_id = 0;
    let mut models = Vec::with_capacity(order.len());
    for (i, m) in order.iter().enumerate() {
        let (prefix, pattern) = names[i];
        let deployments = compile_deployments(m, providers, src, &mut tags, &mut next_id)?;
        let (deployments, members): (Vec<_>, Vec<_>) = deployments.into_iter().unzip();
        if deployments.len() > 1
            && deployments
                .iter()
                .any(|d| providers[d.provider].kind == ProviderKind::Demo)
        {
            return Err(src.at(
                &m.name,
                "models.deployments",
                "the demo provider answers in-process and cannot share a group",
            ));
        }
        let strategy = match &m.strategy {
            None => Strategy::WeightedRandom,
            Some(s) => Strategy::parse(s.get_ref()).ok_or_else(|| {
                src.at(
                    s,
                    "models.strategy",
                    "expected weighted-random, round-robin, least-inflight, least-latency, \
                     lowest-cost or usage-aware",
                )
            })?,
        };
        if strategy == Strategy::LowestCost && members.iter().any(|m| !m.cost.is_finite()) {
            return Err(src.at(
                &m.name,
                "models.strategy",
                "lowest-cost needs input_price_per_mtok and output_price_per_mtok on every deployment",
            ));
        }
        let mut fallbacks = Vec::with_capacity(m.fallbacks.len());
        for f in &m.fallbacks {
            let to = group(f, "models.fallbacks")?;
            if to == i || fallbacks.contains(&to) {
                return Err(src.at(
                    f,
                    "models.fallbacks",
                    "a group may not fall back to itself or repeat a fallback",
                ));
            }
            fallbacks.push(to);
        }
        let context_fallback = match &m.context_window_fallback {
            Some(f) => {
                let to = group(f, "models.context_window_fallback")?;
                if to == i {
                    return Err(src.at(
                        f,
                        "models.context_window_fallback",
                        "a group may not fall back to itself",
                    ));
                }
                Some(to)
            }
            None => None,
        };
        let share = |s: &super::raw::RawShare, field: &str| -> Result<Share, ConfigError> {
            let to = group(&s.to, field)?;
            let pct = *s.percent.get_ref();
            if to == i {
                return Err(src.at(&s.to, field, "a group may not split or shadow to itself"));
            }
            if !(0.0..=100.0).contains(&pct) {
                return Err(src.at(&s.percent, field, "percent must be within 0..=100"));
            }
            Ok(Share {
                to,
                per_10k: (pct * 100.0).round() as u32,
            })
        };
        let mut split = Vec::with_capacity(m.split.len());
        for s in &m.split {
            split.push(share(s, "models.split")?);
        }
        if split.iter().map(|s| s.per_10k).sum::<u32>() > 10_000 {
            return Err(src.at(
                &m.name,
                "models.split",
                "split percentages add up to more than 100",
            ));
        }
        let sticky = match m.sticky.as_ref().map(|s| (s, s.get_ref().as_str())) {
            None | Some((_, "key")) => Sticky::Key,
            Some((_, "user")) => Sticky::User,
            Some((s, _)) => return Err(src.at(s, "models.sticky", "expected key or user")),
        };
        let shadow = m
            .shadow
            .as_ref()
            .map(|s| share(s, "models.shadow"))
            .transpose()?;
        let targets = deployments.len() + fallbacks.len() + usize::from(context_fallback.is_some());
        models.push(Model {
            name: prefix.into(),
            pattern,
            route: GroupSpec {
                strategy,
                breaker: compile_breaker(m.breaker.as_ref(), src)?,
                members,
            },
            deployments,
            fallbacks,
            context_fallback,
            retry: compile_retry(m, targets, src)?,
            hedge: compile_hedge(m.hedge.as_ref(), src)?,
            health_check: compile_health_check(m.health_check.as_ref(), src)?,
            split,
            sticky,
            shadow,
        });
    }
    Ok((models, tags))
}

/// A group's deployments (the `provider` shorthand is a group of one), each with its
/// routing member.
fn compile_deployments(
    m: &RawModel,
    providers: &[Provider],
    src: &Source<'_>,
    tags: &mut Vec<Box<str>>,
    next_id: &mut usize,
) -> Result<Vec<(Deployment, Member)>, ConfigError> {
    let provider_index = |v: &Spanned<String>, field: &str| {
        providers
            .iter()
            .position(|p| *p.name == **v.get_ref())
            .ok_or_else(|| src.at(v, field, format!("no provider named {:?}", v.get_ref())))
    };
    let group_timeouts = m.timeouts.clone().unwrap_or_default();
    let timeouts_for = |p: usize| {
        let base = providers[p].timeouts;
        let raw = RawTimeouts {
            connect_timeout_ms: group_timeouts.connect_timeout_ms,
            first_byte_timeout_ms: group_timeouts.first_byte_timeout_ms,
            idle_timeout_ms: group_timeouts.idle_timeout_ms,
            total_timeout_ms: group_timeouts.total_timeout_ms,
            pool_idle_timeout_ms: None,
            pool_max_idle: None,
        };
        merge_timeouts(&base, &raw)
    };
    let mut out = Vec::new();
    match (&m.provider, m.deployments.is_empty()) {
        (Some(p), true) => {
            let provider = provider_index(p, "models.provider")?;
            out.push((
                Deployment {
                    provider,
                    upstream_model: m.model.as_deref().map(Into::into),
                    timeouts: timeouts_for(provider),
                    id: *next_id,
                    price: builtin_price(&providers[provider], m.model.as_deref(), m),
                },
                Member {
                    weight: 1,
                    priority: 0,
                    tags: 0,
                    rpm: 0,
                    tpm: 0,
                    cost: f64::INFINITY,
                    health: *next_id,
                },
            ));
            *next_id += 1;
        }
        (Some(p), false) => {
            return Err(src.at(
                p,
                "models.provider",
                "give either provider (one deployment) or deployments, not both",
            ))
        }
        (None, true) => {
            return Err(src.at(
                &m.name,
                "models.provider",
                "a model needs a provider or at least one deployment",
            ))
        }
        (None, false) => {}
    }
    if m.deployments.len() > MEMBERS_MAX {
        return Err(src.at(
            &m.name,
            "models.deployments",
            format!("at most {MEMBERS_MAX} deployments per group"),
        ));
    }
    for d in &m.deployments {
        let provider = provider_index(&d.provider, "models.deployments.provider")?;
        let weight = d.weight.as_ref().map_or(1, |w| *w.get_ref());
        if weight == 0 {
            let w = d.weight.as_ref().expect("weight 0 was given");
            return Err(src.at(w, "models.deployments.weight", "must be at least 1"));
        }
        let mut mask = 0u64;
        for (k, v) in &d.tags {
            let tag = format!("{k}={v}");
            if tag.contains(',') || k.is_empty() {
                return Err(src.at(
                    &d.provider,
                    "models.deployments.tags",
                    format!("tag {tag:?}: keys must be non-empty and tags may not contain ','"),
                ));
            }
            let bit = match tags.iter().position(|t| **t == *tag) {
                Some(b) => b,
                None if tags.len() < 64 => {
                    tags.push(tag.into_boxed_str());
                    tags.len() - 1
                }
                None => {
                    return Err(src.at(
                        &d.provider,
                        "models.deployments.tags",
                        "at most 64 distinct key=value tags in a config",
                    ))
                }
            };
            mask |= 1 << bit;
        }
        let price = |v: &Option<Spanned<f64>>, field: &str| match v {
            None => Ok(None),
            Some(p) if p.get_ref().is_finite() && *p.get_ref() >= 0.0 => Ok(Some(*p.get_ref())),
            Some(p) => Err(src.at(p, field, "must be a non-negative number")),
        };
        let input = price(
            &d.input_price_per_mtok,
            "models.deployments.input_price_per_mtok",
        )?;
        let output = price(
            &d.output_price_per_mtok,
            "models.deployments.output_price_per_mtok",
        )?;
        let cost = match (input, output) {
            // A blend for ranking: chat answers are typically a few times shorter than
            // their prompts, so input counts three times.
            (Some(i), Some(o)) => (3.0 * i + o) / 4.0,
            _ => f64::INFINITY,
        };
        out.push((
            Deployment {
                provider,
                upstream_model: d.model.as_deref().or(m.model.as_deref()).map(Into::into),
                timeouts: timeouts_for(provider),
                id: *next_id,
                price: match (input, output) {
                    (Some(i), Some(o)) => {
                        let opt = |v: &Option<Spanned<f64>>, f: &str| price(v, f);
                        let cr = opt(
                            &d.cached_input_price_per_mtok,
                            "models.deployments.cached_input_price_per_mtok",
                        )?;
                        let cw = opt(
                            &d.cache_write_price_per_mtok,
                            "models.deployments.cache_write_price_per_mtok",
                        )?;
                        let r = opt(
                            &d.reasoning_price_per_mtok,
                            "models.deployments.reasoning_price_per_mtok",
                        )?;
                        let at = d.input_price_per_mtok.as_ref().expect("input price is set");
                        Some(
                            Price::per_mtok(i, o, cr, cw, r)
                                .map_err(|e| src.at(at, "models.deployments", e))?,
                        )
                    }
                    (None, None) => builtin_price(
                        &providers[provider],
                        d.model.as_deref().or(m.model.as_deref()),
                        m,
                    ),
                    _ => {
                        return Err(src.at(
                            &d.provider,
                            "models.deployments",
                            "set both input_price_per_mtok and output_price_per_mtok, or neither (the built-in table)",
                        ))
                    }
                },
            },
            Member {
                weight,
                priority: d.priority.unwrap_or(0),
                tags: mask,
                rpm: d.rpm.unwrap_or(0),
                tpm: d.tpm.unwrap_or(0),
                cost,
                health: *next_id,
            },
        ));
        *next_id += 1;
    }
    Ok(out)
}

/// The built-in table's price for a deployment without configured prices. The demo
/// provider is free (it answers in process); a pattern group without a fixed upstream
/// name has no single price (it is looked up per request).
fn builtin_price(p: &Provider, upstream: Option<&str>, m: &RawModel) -> Option<Price> {
    if p.kind == ProviderKind::Demo {
        return Some(Price::per_mtok(0.0, 0.0, None, None, None).expect("zero is a valid price"));
    }
    let name = match upstream {
        Some(n) => n,
        None if m.name.get_ref().ends_with('*') => return None,
        None => m.name.get_ref(),
    };
    crate::govern::price::builtin(p.kind, name)
}

/// `targets`: deployments plus fallback groups. With one target and no `retry` table a
/// request gets one attempt: a lone deployment's errors reach the client as they came.
fn compile_retry(m: &RawModel, targets: usize, src: &Source<'_>) -> Result<Retry, ConfigError> {
    let default_attempts = if targets > 1 {
        DEFAULT_RETRY.attempts
    } else {
        1
    };
    let Some(r) = &m.retry else {
        return Ok(Retry {
            attempts: default_attempts,
            ..DEFAULT_RETRY
        });
    };
    let attempts = match &r.attempts {
        None => DEFAULT_RETRY.attempts,
        Some(a) if (1..=ATTEMPTS_MAX as u32).contains(a.get_ref()) => *a.get_ref(),
        Some(a) => {
            return Err(src.at(
                a,
                "models.retry.attempts",
                format!("must be within 1..={ATTEMPTS_MAX}"),
            ))
        }
    };
    let ms = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_millis);
    Ok(Retry {
        attempts,
        backoff_base: ms(r.backoff_base_ms, DEFAULT_RETRY.backoff_base),
        backoff_max: ms(r.backoff_max_ms, DEFAULT_RETRY.backoff_max),
        retry_after_max: ms(r.retry_after_max_ms, DEFAULT_RETRY.retry_after_max),
    })
}

fn compile_breaker(
    raw: Option<&super::raw::RawBreaker>,
    src: &Source<'_>,
) -> Result<BreakerConfig, ConfigError> {
    let d = BreakerConfig::default();
    let Some(b) = raw else { return Ok(d) };
    let failure_ratio = match &b.failure_ratio {
        None => d.failure_ratio,
        Some(r) if (0.0..=1.0).contains(r.get_ref()) => *r.get_ref(),
        Some(r) => return Err(src.at(r, "models.breaker.failure_ratio", "must be within 0..=1")),
    };
    Ok(BreakerConfig {
        consecutive_failures: b.consecutive_failures.unwrap_or(d.consecutive_failures),
        failure_ratio,
        min_requests: b.min_requests.unwrap_or(d.min_requests),
        window_ms: b.window_ms.unwrap_or(d.window_ms).max(1),
        cooldown_ms: b.cooldown_ms.unwrap_or(d.cooldown_ms),
        half_open_probes: b.half_open_probes.unwrap_or(d.half_open_probes).max(1),
    })
}

fn compile_hedge(
    raw: Option<&super::raw::RawHedge>,
    src: &Source<'_>,
) -> Result<Option<Hedge>, ConfigError> {
    let Some(h) = raw else { return Ok(None) };
    let delay = match h.delay.get_ref() {
        RawDelay::Ms(ms) => HedgeDelay::Fixed(Duration::from_millis(*ms)),
        RawDelay::Word(w) if w == "p95" => HedgeDelay::P95 {
            min: Duration::from_millis(h.min_ms.unwrap_or(50)),
        },
        RawDelay::Word(_) => {
            return Err(src.at(
                &h.delay,
                "models.hedge.delay",
                "expected milliseconds or \"p95\"",
            ))
        }
    };
    Ok(Some(Hedge { delay }))
}

fn compile_health_check(
    raw: Option<&super::raw::RawHealthCheck>,
    src: &Source<'_>,
) -> Result<Option<HealthCheck>, ConfigError> {
    let Some(h) = raw else { return Ok(None) };
    let path = h.path.get_ref();
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(src.at(
            &h.path,
            "models.health_check.path",
            "must start with / and contain no spaces or control bytes",
        ));
    }
    let interval = Duration::from_millis(h.interval_ms.unwrap_or(5_000).max(100));
    let timeout = Duration::from_millis(h.timeout_ms.unwrap_or(2_000).max(1));
    Ok(Some(HealthCheck {
        path: path.as_str().into(),
        interval,
        timeout: timeout.min(interval),
    }))
}

/// `env:NAME`, `file:PATH` (trailing newline trimmed), or a literal value.
fn resolve_secret(
    v: &Spanned<String>,
    src: &Source<'_>,
    field: &str,
) -> Result<Secret, ConfigError> {
    secret_value(v.get_ref())
        .map(|x| Secret(x.into()))
        .map_err(|e| src.at(v, field, e))
}
