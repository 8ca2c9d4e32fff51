//! The request path's governance phases: authenticate the virtual key (before the body
//! is read), admit the request against its key's path once the model is known, write
//! the `x-ratelimit-*` headers, and settle usage and cost when the request ends.

use std::time::{SystemTime, UNIX_EPOCH};

use proto::http1::find_header;

use super::{Conn, Endpoint, Req};
use crate::config::{Found, StreamOverrun};
use crate::error::GatewayError;
use crate::govern::admit::{self, Dim, Refusal, Ticket};
use crate::govern::directory::{EndUserFrom, Lookup};
use crate::govern::limit::{Nanos, Quota};
use crate::govern::price::{self, Price};
use crate::govern::tokens::{self, Shape};
use crate::govern::{spend, DirRc};
use crate::metrics::Route;
use crate::server::worker::Worker;
use crate::store::SpendDelta;

/// A governed request: its key and, once admitted, its hold on the counters.
pub(crate) struct Governed {
    dir: DirRc,
    key: usize,
    ticket: Option<Ticket>,
    /// The price used when the answering deployment has none of its own (a pattern
    /// group's built-in lookup by the requested name).
    fallback_price: Option<Price>,
    /// A refusal's `retry-after`, in whole seconds (rounded up).
    pub retry_after_s: Option<u64>,
    /// Quotas for the `x-ratelimit-*` headers.
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
}

impl Governed {
    /// Whether the key may use the model (its `models` list).
    pub fn allows_model(&self, name: &[u8]) -> bool {
        self.dir.keys[self.key].allows_model(name)
    }

    /// The key's id (for the access log).
    pub fn key_id(&self) -> &std::sync::Arc<str> {
        &self.dir.nodes[self.dir.keys[self.key].node].id
    }

    /// The key's team or org (`level`), when it has one: its kind and id.
    pub fn ancestor(
        &self,
        level: crate::govern::spec::Kind,
    ) -> Option<(crate::govern::spec::Kind, &str)> {
        let dir = &self.dir;
        dir.keys[self.key]
            .parents
            .iter()
            .flatten()
            .map(|&i| &dir.nodes[i])
            .find(|n| n.kind == level)
            .map(|n| (n.kind, &*n.id))
    }

    /// The deployment tags the key's metadata requires; `None`: a tag no deployment
    /// carries.
    pub fn required_tags(&self) -> Option<u64> {
        self.dir.keys[self.key].required_tags
    }
}

/// Bodies up to this size are counted with the model family's tokenizer.
pub const TOKENIZE_BYTES_MAX: usize = 16 * 1024;

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn route_name(route: Route) -> &'static str {
    match route {
        Route::ChatCompletions => "chat",
        Route::Completions => "completions",
        Route::Embeddings => "embeddings",
        Route::Messages => "messages",
        Route::Responses => "responses",
        Route::Models | Route::Unknown => "models",
    }
}

impl Conn<'_> {
    /// Check the presented key: a virtual key (governed), a static `[auth]` key, or
    /// none where none is required.
    pub(super) fn authenticate(&self, route: Route) -> Result<Option<Governed>, GatewayError> {
        let w = self.w;
        let snap = &w.snap;
        let dir = w.gov.directory(&w.shared.gov);
        if snap.auth.keys.is_empty() && !dir.has_keys() {
            return Ok(None);
        }
        let used = &self.headers[..];
        // `Authorization: Bearer` (OpenAI SDKs), else `x-api-key` (Anthropic SDKs).
        let presented = match find_header(&self.rbuf, used, b"authorization") {
            Some(v) => match v.get(..7) {
                Some(p) if p.eq_ignore_ascii_case(b"bearer ") => Some(v[7..].trim_ascii()),
                _ => return Err(GatewayError::InvalidApiKey),
            },
            None => find_header(&self.rbuf, used, b"x-api-key").map(<[u8]>::trim_ascii),
        };
        let Some(key) = presented else {
            return if snap.auth.allow_anonymous {
                Ok(None)
            } else {
                Err(GatewayError::MissingApiKey)
            };
        };
        if key.starts_with(crate::govern::secret::PREFIX.as_bytes()) {
            let now = unix_now();
            return match dir.lookup(key, now) {
                Lookup::Key(k) => {
                    let policy = &dir.keys[k];
                    if policy.expires_at.is_some_and(|t| now >= t) {
                        return Err(GatewayError::KeyExpired);
                    }
                    if !policy.allows_route(route_name(route)) {
                        return Err(GatewayError::RouteNotAllowed);
                    }
                    Ok(Some(Governed {
                        dir,
                        key: k,
                        ticket: None,
                        fallback_price: None,
                        retry_after_s: None,
                        requests: None,
                        tokens: None,
                    }))
                }
                Lookup::Expired => Err(GatewayError::KeyExpired),
                // A static `[auth]` key may share the prefix (the demo's does).
                Lookup::Unknown if snap.key_is_valid(key) => Ok(None),
                Lookup::Unknown => Err(GatewayError::InvalidApiKey),
            };
        }
        if snap.key_is_valid(key) {
            Ok(None)
        } else {
            Err(GatewayError::InvalidApiKey)
        }
    }

    /// Admit a governed request for the model it names. `Ok`: the output cap to add to
    /// the upstream request (a budgeted request without one, under `stream_overrun =
    /// "cut"`). `Err`: the error to answer with and its detail (which level refused, and
    /// why).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn admit(
        &self,
        req: &mut Req,
        found: &Found<'_>,
        name: &[u8],
        endpoint: Endpoint,
        body: &[u8],
        user_member: Option<&[u8]>,
        hit_tokens: Option<u64>,
    ) -> Result<Option<u64>, (GatewayError, String)> {
        let Some(g) = req.gov.as_mut() else {
            return Ok(None);
        };
        let w: &Worker = self.w;
        let dir = g.dir.clone();
        let policy = &dir.keys[g.key];
        if !policy.allows_model(name) {
            return Err((
                GatewayError::ModelNotAllowed,
                String::from_utf8_lossy(name).into_owned(),
            ));
        }
        let snap = &w.snap;
        let node = &dir.nodes[policy.node];
        let ml = policy.model_limit(name);
        // A cache hit costs nothing and generates nothing: it takes a request from RPM,
        // and its tokens from TPM only when `hits_count_tpm` asks for that.
        let needs_tokens = hit_tokens.is_none()
            && endpoint != Endpoint::CountTokens
            && (dir.path(policy).any(|n| n.tpm.is_some())
                || ml.is_some_and(|l| l.tpm.is_some())
                || policy.end_user.as_ref().is_some_and(|e| e.tpm.is_some())
                || policy.budgeted);
        let first = &found.model.deployments[0];
        let kind = snap.providers[first.provider].kind;
        let mut tokens = 0;
        let mut output = 0;
        let mut uncapped = false;
        if needs_tokens {
            let upstream = first
                .upstream_model
                .as_deref()
                .map_or(found.default_name, str::as_bytes);
            // A real tokenizer costs ~17 ns a byte (bench `tokens`); past this size the
            // byte rule (an over-estimate, corrected to the reported usage afterwards)
            // keeps one request from holding the core for milliseconds.
            let family = if body.len() > TOKENIZE_BYTES_MAX {
                tokens::Family::Estimate
            } else {
                tokens::family(kind, &String::from_utf8_lossy(upstream))
            };
            let shape = match endpoint {
                Endpoint::Chat => Shape::Chat,
                Endpoint::Completions => Shape::Completions,
                Endpoint::Embeddings => Shape::Embeddings,
                Endpoint::Messages | Endpoint::CountTokens => Shape::Messages,
                Endpoint::Responses => Shape::Responses,
                Endpoint::ListModels | Endpoint::GetModel(_) => Shape::Chat,
            };
            let est = tokens::estimate(shape, family, body)
                .map_err(|e| (GatewayError::InvalidChatRequest, e))?;
            output = match endpoint {
                Endpoint::Embeddings | Endpoint::CountTokens => 0,
                _ => est.max_output.unwrap_or_else(|| {
                    uncapped = true;
                    snap.governance.default_output_tokens
                }),
            };
            tokens = est.prompt.saturating_add(output);
        }
        // The dearest price among the deployments this request may reach.
        // Counting tokens is free at every provider and uses no generation capacity: it
        // takes a request from RPM and nothing else.
        if endpoint == Endpoint::CountTokens {
            tokens = 0;
        }
        if let Some(t) = hit_tokens {
            tokens = t;
        }
        let cost = if endpoint == Endpoint::CountTokens || hit_tokens.is_some() {
            Some(0)
        } else if policy.budgeted {
            let worst = worst_price(w, found);
            g.fallback_price = worst;
            worst.map(|p| price::worst_case(&p, tokens - output, output))
        } else {
            None
        };
        let end_user = policy.end_user.as_ref().and_then(|e| {
            let id = match &e.from {
                EndUserFrom::Member => user_member.map(|v| v.strip_prefix(b"\"").unwrap_or(v)),
                EndUserFrom::Header(h) => find_header(&self.rbuf, &self.headers[..], h.as_bytes()),
            }?;
            let id = id.strip_suffix(b"\"").unwrap_or(id);
            Some(dir.end_users.get(&node.id, id))
        });
        let ask = admit::Ask {
            model: name,
            end_user,
            tokens,
            cost,
        };
        let now = w.shared.epoch.elapsed().as_nanos() as Nanos;
        match admit::admit(&dir, g.key, ask, now, unix_now()) {
            Ok(t) => {
                g.requests = t.requests;
                g.tokens = t.token_quota;
                g.ticket = Some(t);
                let cut = snap.governance.stream_overrun == StreamOverrun::Cut;
                Ok((uncapped && cut && policy.budgeted).then_some(output))
            }
            Err(r) => Err(refusal(w, g, r)),
        }
    }
}

/// The elementwise dearest price over the group's deployments and its fallback groups';
/// `None` when any of them has no known price.
fn worst_price(w: &Worker, found: &Found<'_>) -> Option<Price> {
    let snap = &w.snap;
    let mut worst: Option<Price> = None;
    let groups = std::iter::once(found.index).chain(found.model.fallbacks.iter().copied());
    for g in groups {
        for d in &snap.models[g].deployments {
            let p = match d.price {
                Some(p) => p,
                // A pattern group without a fixed upstream name: the name the client sent.
                None => price::builtin(
                    snap.providers[d.provider].kind,
                    &String::from_utf8_lossy(found.default_name),
                )?,
            };
            worst = Some(match worst {
                None => p,
                Some(q) => Price {
                    input: q.input.max(p.input),
                    output: q.output.max(p.output),
                    cache_read: q.cache_read.max(p.cache_read),
                    cache_write: q.cache_write.max(p.cache_write),
                    reasoning: q.reasoning.max(p.reasoning),
                },
            });
        }
    }
    worst
}

fn refusal(w: &Worker, g: &mut Governed, r: Refusal) -> (GatewayError, String) {
    let shard = w.shard();
    match r {
        Refusal::Limit {
            dim,
            level,
            limit,
            retry_after,
            quota,
        } => {
            g.retry_after_s = Some(retry_after.div_ceil(1_000_000_000).max(1));
            let (err, what) = match dim {
                Dim::Requests => {
                    g.requests = Some(quota);
                    shard.inc(&shard.refused_requests);
                    (GatewayError::RateLimitRequests, "requests per minute")
                }
                Dim::Tokens => {
                    g.tokens = Some(quota);
                    shard.inc(&shard.refused_tokens);
                    (GatewayError::RateLimitTokens, "tokens per minute")
                }
                Dim::Concurrency => {
                    shard.inc(&shard.refused_concurrency);
                    (GatewayError::ConcurrencyLimit, "requests in flight")
                }
            };
            (err, format!("{level}: limit {limit} {what}"))
        }
        Refusal::Budget { level, exceeded } => {
            shard.inc(&shard.refused_budget);
            let usd = crate::govern::budget::pusd_to_usd;
            let resets = if exceeded.period_end == u64::MAX {
                String::from("it does not reset")
            } else {
                format!("it resets at unix {}", exceeded.period_end)
            };
            (
                GatewayError::BudgetExceeded,
                format!(
                    "{level}: budget ${:.6}, spent ${:.6}, reserved by requests in flight ${:.6}; {resets}",
                    usd(exceeded.limit),
                    usd(exceeded.settled),
                    usd(exceeded.reserved)
                ),
            )
        }
        Refusal::PriceUnknown => {
            shard.inc(&shard.refused_budget);
            (
                GatewayError::PriceUnknown,
                String::from(
                    "set input_price_per_mtok and output_price_per_mtok on its deployments",
                ),
            )
        }
    }
}

/// Settle a finished request: give back what admission held, charge the real usage,
/// and add it to this worker's spend for the ledger.
pub(super) fn settle(w: &Worker, req: &mut Req) {
    let snap = &w.snap;
    // The answering deployment's price; else, for a governed request to a pattern group,
    // the built-in price its admission looked up by the requested name.
    let fallback = req.gov.as_ref().and_then(|g| g.fallback_price);
    let price = req
        .deployment
        .and_then(|d| snap.deployment_price(d))
        .or(fallback);
    // Every request with usage and a known price is costed, governed or not.
    req.cost = match (req.usage, price) {
        (Some(u), Some(p)) => Some(price::cost(&p, &u)),
        _ => None,
    };
    if let Some(c) = req.cost {
        let shard = w.shard();
        shard.add(&shard.spend_pusd, c);
    }
    let Some(g) = req.gov.as_mut() else {
        return;
    };
    let Some(t) = g.ticket.take() else {
        return;
    };
    let served = (200..300).contains(&req.status);
    let outcome = admit::Outcome {
        tokens: req.usage.map(|u| u.prompt_total() + u.output),
        cost: req.cost,
        served,
    };
    let now = w.shared.epoch.elapsed().as_nanos() as Nanos;
    let unix = unix_now();
    let mut crossed = Vec::new();
    let charged = admit::settle(&g.dir, &t, &outcome, now, unix, &mut crossed);
    for c in crossed {
        let n = &g.dir.nodes[c.node];
        w.shared.budget_crossed(n.kind, &n.id, c.percent);
    }
    let Some(ledger) = &w.ledger else {
        return;
    };
    if !served && req.usage.is_none() && charged == 0 {
        return;
    }
    let dir = &g.dir;
    let policy = &dir.keys[t.key];
    let id = |slot: usize| policy.parents[slot].map(|i| &dir.nodes[i]);
    let (mut user, mut team, mut org) = (None, None, None);
    for n in (0..3).filter_map(id) {
        match n.kind {
            crate::govern::spec::Kind::User => user = Some(&n.id),
            crate::govern::spec::Kind::Team => team = Some(&n.id),
            _ => org = Some(&n.id),
        }
    }
    let who = spend::Who {
        key: &dir.nodes[policy.node].id,
        user,
        team,
        org,
    };
    let u = req.usage.unwrap_or_default();
    let delta = SpendDelta {
        requests: 1,
        input: u.input,
        output: u.output,
        cache_read: u.cache_read,
        cache_write: u.cache_write,
        reasoning: u.reasoning,
        cost: charged,
    };
    let provider = req
        .deployment
        .and_then(|d| snap.deployment_provider.get(d).copied())
        .map_or(u32::MAX, |p| p as u32);
    let model = req.model.map_or(u32::MAX, |m| m as u32);
    let full = w
        .gov
        .spend
        .borrow_mut()
        .add(unix, &who, model, provider, delta);
    if full {
        flush_spend(w, ledger);
    }
}

/// Hand this worker's spend to the ledger writer.
pub(crate) fn flush_spend(
    w: &Worker,
    ledger: &std::sync::mpsc::Sender<crate::store::ledger::LedgerMsg>,
) {
    let snap = &w.snap;
    w.gov.spend.borrow_mut().flush(ledger, |m, p| {
        let model = snap.models.get(m as usize).map_or(String::new(), |m| {
            if m.pattern {
                format!("{}*", m.name)
            } else {
                m.name.to_string()
            }
        });
        let provider = snap
            .providers
            .get(p as usize)
            .map_or(String::new(), |p| p.name.to_string());
        (model, provider)
    });
}

/// `x-ratelimit-*` (OpenAI's names) and, on a refusal, `retry-after`.
pub(super) fn write_headers(out: &mut Vec<u8>, g: &Governed) {
    for (q, dim) in [(g.requests, &b"requests"[..]), (g.tokens, b"tokens")] {
        let Some(q) = q else { continue };
        for (name, value) in [
            (&b"limit"[..], Some(q.limit)),
            (b"remaining", Some(q.remaining)),
        ] {
            out.extend_from_slice(b"x-ratelimit-");
            out.extend_from_slice(name);
            out.push(b'-');
            out.extend_from_slice(dim);
            out.extend_from_slice(b": ");
            super::write_u64(out, value.unwrap_or(0));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"x-ratelimit-reset-");
        out.extend_from_slice(dim);
        out.extend_from_slice(b": ");
        write_duration(out, q.reset);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(s) = g.retry_after_s {
        out.extend_from_slice(b"retry-after: ");
        super::write_u64(out, s);
        out.extend_from_slice(b"\r\n");
    }
}

/// OpenAI's reset format: `1s`, `6m0s`, `20ms`, `1h2m3s`.
fn write_duration(out: &mut Vec<u8>, ns: Nanos) {
    let ms = ns.div_ceil(1_000_000);
    if ms < 1000 {
        super::write_u64(out, ms);
        out.extend_from_slice(b"ms");
        return;
    }
    let s = ms.div_ceil(1000);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        super::write_u64(out, h);
        out.push(b'h');
    }
    if h > 0 || m > 0 {
        super::write_u64(out, m);
        out.push(b'm');
    }
    super::write_u64(out, s);
    out.push(b's');
}

#[cfg(test)]
mod tests {
    use super::write_duration;

    #[test]
    fn reset_durations_use_openai_format() {
        for (ns, want) in [
            (0u64, "0ms"),
            (20_000_000, "20ms"),
            (1_000_000_000, "1s"),
            (360_000_000_000, "6m0s"),
            (3_723_000_000_000, "1h2m3s"),
        ] {
            let mut v = Vec::new();
            write_duration(&mut v, ns);
            assert_eq!(String::from_utf8(v).unwrap(), want);
        }
    }
}
