//! Routing one request across a group's deployments: the failover loop.
//!
//! ```text
//! split (sticky) -> pick (strategy, tiers, tags, breakers) -> translate -> send
//!   -> head: serve it, or (429, 5xx, broken, timeout) pick again: another deployment,
//!      then the fallback groups, then the same deployments again; retry-after honoured
//!   -> prompt too long: the context-window fallback group
//! ```
//!
//! Nothing reaches the client before an attempt is chosen to answer: a failed attempt
//! (connect error, timeout, reset, a 429 or 5xx head, a stream that ends before its
//! first body byte) leaves no trace but the `x-sluice-attempts` count and the access
//! log's attempt list. After the first byte a broken upstream ends the stream with an
//! error event (`forward::stream_back`).
//!
//! Hedging (opt-in per group): when the first attempt has no response head after the
//! group's delay, a second starts on another deployment; the first usable head wins and
//! the other attempt's future is dropped, which closes its connection.
//!
//! Per-core state ([`Routing`]) holds each group's in-flight counts, latency EWMAs,
//! breaker counts and round-robin cursor; the process-wide breaker and health-check
//! verdicts are in `server::Shared::health`.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use proto::http1::{find_header, Headers, RequestHead, EMPTY_HEADERS};
use proto::json;

use super::forward::{
    build, refusal, send, stream_back, Exchange, Outcome, Parts, Policy, Refused, SendError,
    Target, Timing,
};
use super::translate::{self, Translation};
use super::{body_in, Body, Conn, Endpoint, Next, Req};
use crate::accesslog::Attempt;
use crate::config::{Found, HedgeDelay, Model, ProviderKind, Resolved, Share, Snapshot, Sticky};
use crate::error::GatewayError;
use crate::metrics;
use crate::route::{self, Filter, GroupLocal, Millis, Pick, Rng};
use crate::server::worker::Worker;

/// Per-core routing state, one entry per group (model index).
pub(crate) struct Routing {
    pub groups: Vec<GroupLocal>,
    pub rng: Rng,
    /// Observed time to first byte per group on this core (for `p95` hedge delays).
    pub ttfb: Vec<TtfbQuantile>,
}

impl Routing {
    pub fn new(snap: &Snapshot, seed: u64) -> Routing {
        Routing {
            groups: snap
                .models
                .iter()
                .map(|m| GroupLocal::new(&m.route))
                .collect(),
            rng: Rng::new(seed),
            ttfb: snap
                .models
                .iter()
                .map(|_| TtfbQuantile::default())
                .collect(),
        }
    }
}

/// A coarse streaming quantile of time to first byte: log2 buckets of microseconds,
/// halved every [`TtfbQuantile::HALF_LIFE`] samples so that it follows the recent past.
#[derive(Clone, Debug, Default)]
pub(crate) struct TtfbQuantile {
    buckets: [u32; 32],
    n: u32,
}

impl TtfbQuantile {
    const HALF_LIFE: u32 = 512;
    /// Fewer samples than this: no estimate.
    const MIN_SAMPLES: u32 = 20;

    pub fn observe(&mut self, us: u64) {
        let b = (64 - us.max(1).leading_zeros() as usize).min(31);
        self.buckets[b] += 1;
        self.n += 1;
        if self.n >= Self::HALF_LIFE {
            self.n = 0;
            for x in &mut self.buckets {
                *x /= 2;
                self.n += *x;
            }
        }
    }

    /// The upper bound of the bucket holding the 95th percentile.
    pub fn p95(&self) -> Option<Duration> {
        if self.n < Self::MIN_SAMPLES {
            return None;
        }
        let want = (u64::from(self.n) * 95).div_ceil(100);
        let mut seen = 0u64;
        for (b, &x) in self.buckets.iter().enumerate() {
            seen += u64::from(x);
            if seen >= want {
                return Some(Duration::from_micros(1u64 << b));
            }
        }
        None
    }
}

/// FNV-1a, for sticky split assignment: stable across processes and restarts.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What the request asked of routing, read from its head and body.
pub(super) struct Ask<'a> {
    pub endpoint: Endpoint,
    pub body_at: Body,
    /// The body's `model` value (span), spliced when a deployment renames the model.
    pub model_span: json::Value,
    /// The client's model name, unescaped.
    pub name: &'a [u8],
    /// The stream had no `stream_options` (usage may be injected).
    pub no_stream_options: bool,
    /// FNV-1a of the body's `user` member (raw JSON), for `sticky = "user"`.
    pub user_hash: Option<u64>,
    pub stream: bool,
    /// A budgeted request without an output cap gets this one (its reservation's
    /// output allowance), so that the provider ends it within its budget.
    pub output_cap: Option<u64>,
}

/// Where the request is in its group chain.
struct Plan {
    /// Groups in order: the (split-chosen) group, then its fallbacks.
    chain: [usize; 9],
    len: usize,
    pos: usize,
    /// Members tried, per chain position.
    tried: [u64; 9],
    /// Deployments allowed for this endpoint, per chain position.
    allowed: [u64; 9],
    /// 0: untried members only; 1: tried ones again (the same deployment retried).
    pass: u8,
    required_tags: u64,
}

impl Plan {
    fn new(snap: &Snapshot, first: usize, endpoint: Endpoint, required_tags: u64) -> Plan {
        let mut p = Plan {
            chain: [0; 9],
            len: 0,
            pos: 0,
            tried: [0; 9],
            allowed: [0; 9],
            pass: 0,
            required_tags,
        };
        p.enter(snap, first, endpoint);
        p
    }

    /// Make `g` and its fallbacks the chain (the context-window fallback replaces it).
    fn enter(&mut self, snap: &Snapshot, g: usize, endpoint: Endpoint) {
        self.len = 0;
        self.pos = 0;
        self.pass = 0;
        for &x in std::iter::once(&g).chain(&snap.models[g].fallbacks) {
            if self.len < self.chain.len() {
                self.chain[self.len] = x;
                self.tried[self.len] = 0;
                self.allowed[self.len] = allowed(&snap.models[x], snap, endpoint);
                self.len += 1;
            }
        }
    }
}

/// The deployments of `m` whose provider kind can serve `endpoint`.
fn allowed(m: &Model, snap: &Snapshot, endpoint: Endpoint) -> u64 {
    let mut mask = 0u64;
    for (i, d) in m.deployments.iter().enumerate() {
        let kind = snap.providers[d.provider].kind;
        let ok = match endpoint {
            Endpoint::Responses => {
                matches!(kind, ProviderKind::OpenAi | ProviderKind::OpenAiCompatible)
            }
            // Others' token counts are estimated locally (`count_tokens_estimate`).
            Endpoint::CountTokens => kind == ProviderKind::Anthropic,
            _ => kind != ProviderKind::Demo,
        };
        if ok {
            mask |= 1 << i;
        }
    }
    mask
}

/// An attempt chosen: group, member, and whether it holds a half-open probe slot.
#[derive(Clone, Copy)]
struct Choice {
    group: usize,
    pick: Pick,
}

/// Result of one attempt that did not commit.
enum Failure<'a> {
    /// No response (or one that broke before its first body byte).
    Error(GatewayError),
    /// An error answer, held so that it can still be served if nothing else is tried.
    /// Boxed: it is rare, and inline it would grow every request's future.
    Refused(Box<(Refused, Exchange, Target<'a>, Choice)>),
}

/// How an attempt ended before any commit: `Err(None)` is a client that went away.
type Attempted<'a> = Result<(Exchange, Target<'a>, Choice), Option<GatewayError>>;

/// A hedge's answer that wins the race: a head that is neither 429 nor 5xx.
fn usable(r: &Result<Exchange, SendError>) -> bool {
    matches!(r, Ok(ex) if ex.resp.status < 500 && ex.resp.status != 429)
}

/// The metrics outcome of an attempt that ended without a usable answer.
fn outcome_of_error(e: GatewayError) -> usize {
    match e {
        GatewayError::UpstreamConnect | GatewayError::UpstreamTls => metrics::OUTCOME_CONNECT,
        GatewayError::UpstreamConnectTimeout
        | GatewayError::UpstreamFirstByteTimeout
        | GatewayError::UpstreamIdleTimeout
        | GatewayError::UpstreamTotalTimeout => metrics::OUTCOME_TIMEOUT,
        GatewayError::UpstreamReset => metrics::OUTCOME_RESET,
        _ => metrics::OUTCOME_BAD_RESPONSE,
    }
}

fn outcome_of_status(status: u16) -> usize {
    match status {
        429 => metrics::OUTCOME_RATE_LIMITED,
        s if s >= 500 => metrics::OUTCOME_SERVER_ERROR,
        s if s >= 400 => metrics::OUTCOME_CLIENT_ERROR,
        _ => metrics::OUTCOME_OK,
    }
}

/// Deployment `c` with the name it is asked for: the client's (or the pattern's
/// suffix) in the client's group, the group's own name in a split or fallback group.
fn resolve_choice<'a>(snap: &'a Snapshot, found: &Found<'a>, c: Choice) -> Resolved<'a> {
    let model = &snap.models[c.group];
    let f = Found {
        index: c.group,
        model,
        default_name: if c.group == found.index {
            found.default_name
        } else {
            model.name.as_bytes()
        },
    };
    snap.deployment(&f, c.pick.member)
}

/// Decide how the body goes to `resolved`: as it is (`Ok((false, None))`), rewritten
/// (`drop_params`/`rename_params`) or translated into `tbody` (`Ok((true, _))`).
fn prepare(
    resolved: &Resolved<'_>,
    endpoint: Endpoint,
    body: &[u8],
    tbody: &mut Vec<u8>,
    output_cap: Option<u64>,
) -> Result<(bool, Option<Translation>), translate::Refusal> {
    let provider = resolved.provider;
    let anthropic_ingress = matches!(endpoint, Endpoint::Messages | Endpoint::CountTokens);
    let rewrite = !provider.opts.drop_params.is_empty() || !provider.opts.rename_params.is_empty();
    let passthrough = if anthropic_ingress {
        provider.kind == ProviderKind::Anthropic
    } else {
        provider.kind.openai_shaped() && !rewrite
    };
    if passthrough {
        return Ok((false, None));
    }
    let r = if anthropic_ingress {
        translate::ingress_request(provider, resolved, body, tbody).map(Some)
    } else if provider.kind.openai_shaped() {
        translate::rewrite_params(provider, resolved.upstream_name, body, tbody, output_cap)
            .map(|()| None)
    } else {
        translate::request(provider, resolved, endpoint, body, tbody, output_cap).map(Some)
    };
    r.map(|tr| (true, tr))
}

impl<'w> Conn<'w> {
    /// Serve a completion through its group: choose, forward, fail over.
    pub(super) async fn route_request<S: AsyncReadRent + AsyncWriteRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
        found: &Found<'_>,
        ask: &Ask<'_>,
        req: &mut Req,
    ) -> Next {
        let watch = self.watch();
        self.error_detail = None;
        let w = self.w;
        let snap = &*w.snap;
        // The request's own constraints and its key's metadata tags, both required.
        let key_tags = req.gov.as_ref().map_or(Some(0), |g| g.required_tags());
        let required_tags = match (self.route_tags(snap), key_tags) {
            (Ok(mask), Some(k)) => mask | k,
            _ => {
                return self
                    .respond_error(io, GatewayError::NoMatchingDeployment, None, req)
                    .await
            }
        };
        let first = self.split(found.index, ask, snap);
        req.model = Some(first);
        let mut plan = Plan::new(snap, first, ask.endpoint, required_tags);
        if plan.allowed[..plan.len].iter().all(|&m| m == 0) {
            // Only `/v1/responses` narrows the kinds (demo groups and count_tokens
            // without an Anthropic deployment were answered before routing).
            let detail = match ask.endpoint {
                Endpoint::Responses => &b"/v1/responses is passed through to openai and openai-compatible providers only"[..],
                _ => b"no deployment of this model serves this endpoint",
            };
            return self
                .respond_error(io, GatewayError::UnsupportedEndpoint, Some(detail), req)
                .await;
        }
        if let Some(sh) = snap.models[first].shadow {
            self.maybe_shadow(sh, head, ask);
        }
        let retry = snap.models[first].retry;
        let closed = async {
            match watch.as_deref() {
                Some(wt) => {
                    monoio::time::sleep(super::forward::WATCH_ARM_DELAY).await;
                    wt.closed().await
                }
                None => std::future::pending().await,
            }
        };
        let mut closed = std::pin::pin!(closed);
        let mut last: Option<Failure<'_>> = None;
        let mut next = self.choose(&mut plan, None);
        let mut wait = Duration::ZERO;
        loop {
            let Some(choice) = next else {
                return match last {
                    Some(Failure::Refused(held)) => {
                        let (_, ex, target, c) = *held;
                        // Its deployment's accounts were settled when it was refused.
                        self.serve(io, ex, target, c, false, closed.as_mut(), req)
                            .await
                    }
                    Some(Failure::Error(e)) => self.fail(io, e, req).await,
                    None => {
                        // Nothing was tried: either no deployment carries the required
                        // tags (the client's constraint cannot be met), or every one
                        // that does is ejected.
                        let t = plan.required_tags;
                        let any = plan.chain[..plan.len]
                            .iter()
                            .any(|&g| snap.models[g].route.members.iter().any(|m| m.tags & t == t));
                        let e = if any {
                            GatewayError::NoHealthyDeployment
                        } else {
                            GatewayError::NoMatchingDeployment
                        };
                        self.fail(io, e, req).await
                    }
                };
            };
            if req.attempts.count() > 0 {
                w.shard().inc(&w.shard().retries);
                monoio::select! {
                    _ = monoio::time::sleep(wait) => {}
                    _ = closed.as_mut() => {
                        self.settle(choice, None, true, 0);
                        req.client_aborted = true;
                        return Next::Close;
                    }
                }
            }
            drop(last.take());
            let hedge = req.attempts.count() == 0
                && snap.models[choice.group].hedge.is_some()
                && self.another_candidate(&plan, choice);
            let result = if hedge {
                // Boxed: two attempts in flight at once would double the size of every
                // request's future (memory per connection), hedged or not.
                Box::pin(self.hedged(head, ask, found, &mut plan, choice, closed.as_mut(), req))
                    .await
            } else {
                self.attempt(head, ask, found, choice, closed.as_mut(), req)
                    .await
            };
            let failure = match result {
                Ok((mut ex, target, c)) => {
                    let m = &snap.models[c.group];
                    let attempts_left = req.attempts.count() < retry.attempts as usize
                        && Instant::now() < req.start + m.deployments[c.pick.member].timeouts.total;
                    let policy = Policy {
                        may_retry: attempts_left,
                        context_fallback: attempts_left && m.context_fallback.is_some(),
                    };
                    let uheaders: &Headers = self.uheaders.as_deref().expect("send parsed a head");
                    match refusal(&mut ex, uheaders, &target, policy, closed.as_mut()).await {
                        None => {
                            return self
                                .serve(io, ex, target, c, true, closed.as_mut(), req)
                                .await
                        }
                        Some(r) => {
                            // A prompt too long is the client's, not the deployment's.
                            self.settle(c, Some(req.ttfb), r.context_length, 0);
                            if let (Some(d), false) = (r.retry_after, r.context_length) {
                                let now = w.shared.now_ms();
                                let h = snap.models[c.group].route.members[c.pick.member].health;
                                w.shared.health[h].breaker.trip(now, d.as_millis() as u64);
                            }
                            Failure::Refused(Box::new((r, ex, target, c)))
                        }
                    }
                }
                Err(None) => {
                    req.client_aborted = true;
                    return Next::Close;
                }
                Err(Some(e)) => Failure::Error(e),
            };
            // Decide what comes next before letting go of a held error answer.
            let may_continue = req.attempts.count() < retry.attempts as usize;
            next = None;
            wait = self.backoff(retry.backoff_base, retry.backoff_max, req.attempts.count());
            if may_continue {
                match &failure {
                    Failure::Refused(held) if held.0.context_length => {
                        let c = held.3;
                        if let Some(cg) = snap.models[c.group].context_fallback {
                            w.shard().inc(&w.shard().fallbacks);
                            plan.enter(snap, cg, ask.endpoint);
                            next = self.choose(&mut plan, None);
                        }
                    }
                    Failure::Refused(held) => {
                        let (r, c) = (held.0, held.3);
                        let after = r.retry_after.filter(|d| *d <= retry.retry_after_max);
                        next = self.choose(&mut plan, after);
                        // Honour retry-after when the same deployment is tried again.
                        if let (Some(n), Some(d)) = (next, after) {
                            if (n.group, n.pick.member) == (c.group, c.pick.member) {
                                wait = wait.max(d);
                            }
                        }
                    }
                    Failure::Error(e) if e.retryable() => {
                        next = self.choose(&mut plan, None);
                    }
                    Failure::Error(_) => {}
                }
                // Past the deadline nothing more is tried.
                if let Some(n) = next {
                    let total = snap.models[n.group].deployments[n.pick.member]
                        .timeouts
                        .total;
                    if Instant::now() + wait >= req.start + total {
                        self.settle(n, None, true, 0);
                        next = None;
                    }
                }
            }
            last = Some(failure);
        }
    }

    /// One attempt on `c`: translate, send, read the head. Records the attempt.
    async fn attempt<'a>(
        &mut self,
        head: &RequestHead,
        ask: &Ask<'a>,
        found: &Found<'a>,
        c: Choice,
        closed: Pin<&mut impl Future<Output = ()>>,
        req: &mut Req,
    ) -> Attempted<'a>
    where
        'w: 'a,
    {
        let w = self.w;
        let snap: &'a Snapshot = &w.snap;
        let resolved = resolve_choice(snap, found, c);
        let started = Instant::now();
        let slot = req.attempts.push(Attempt {
            deployment: resolved.deployment.id as u16,
            ..Attempt::default()
        });
        req.deployment = Some(resolved.deployment.id);
        let mut out = std::mem::take(&mut self.wbuf);
        let built = self.request_bytes(head, ask, resolved, &mut out, false);
        let (target, separate, body_at) = match built {
            Ok(x) => x,
            Err(e) => {
                self.wbuf = out;
                self.settle(c, None, true, 0);
                self.end_attempt(req, slot, 0, Some(e), started);
                return Err(Some(e));
            }
        };
        let (body, range): (Option<&mut Vec<u8>>, (usize, usize)) = match (separate, body_at) {
            (false, _) => (None, (0, 0)),
            (true, Body::InBuf(s, e)) => (Some(&mut self.rbuf), (s, e)),
            (true, Body::Decoded) => {
                let n = self.decoded.len();
                (Some(&mut self.decoded), (0, n))
            }
            (true, Body::Translated) => {
                let n = self.tbody.len();
                (Some(&mut self.tbody), (0, n))
            }
        };
        let uheaders = self.uheaders.get_or_insert_with(|| Box::new(EMPTY_HEADERS));
        let deadline = req.start + resolved.deployment.timeouts.total;
        let mut timing = Timing::default();
        let r = send(
            w,
            &resolved,
            &mut out,
            body,
            range,
            uheaders,
            closed,
            deadline,
            true,
            &mut timing,
        )
        .await;
        self.wbuf = out;
        req.upstream_wait += timing.wait;
        req.ttfb = timing.ttfb;
        req.upstream_reused = timing.reused.or(req.upstream_reused);
        let dep = resolved.deployment.id;
        self.record_send(req, c, slot, dep, r, &timing, started)
            .map(|ex| (ex, target, c))
    }

    /// One send's outcome, recorded: the attempt's entry in `req`, the deployment's
    /// metrics, and, when it produced no answer, its accounts settled (an answer is
    /// settled by whoever serves, refuses or drops it). `Err(None)`: the client left.
    #[allow(clippy::too_many_arguments)]
    fn record_send(
        &self,
        req: &mut Req,
        c: Choice,
        slot: usize,
        dep: usize,
        r: Result<Exchange, SendError>,
        timing: &Timing,
        started: Instant,
    ) -> Result<Exchange, Option<GatewayError>> {
        let shard = self.w.shard();
        match r {
            Ok(ex) => {
                let status = ex.resp.status;
                self.end_attempt(req, slot, status, None, started);
                let us = timing.ttfb.as_micros() as u64;
                shard.attempt(dep, outcome_of_status(status), Some(us));
                Ok(ex)
            }
            Err(SendError::Client) => {
                self.settle(c, None, true, 0);
                self.end_attempt(req, slot, 0, None, started);
                Err(None)
            }
            Err(SendError::Upstream(e)) => {
                self.settle(c, None, false, 0);
                self.end_attempt(req, slot, 0, Some(e), started);
                if let Some(k) = e.upstream_kind() {
                    shard.upstream_error(k);
                }
                shard.attempt(dep, outcome_of_error(e), None);
                Err(Some(e))
            }
        }
    }

    fn target<'a>(
        &self,
        resolved: Resolved<'a>,
        ask: &Ask<'_>,
        translated: bool,
        translation: Option<Translation>,
    ) -> Target<'a> {
        let provider = resolved.provider;
        let inject_usage = ask.endpoint == Endpoint::Chat
            && ask.stream
            && ask.no_stream_options
            && provider.kind.openai_shaped()
            && provider.opts.stream_usage;
        Target {
            model_span: (resolved.upstream_name != ask.name && !translated)
                .then_some(ask.model_span),
            resolved,
            endpoint: ask.endpoint,
            translation,
            inject_usage,
            output_cap: ask.output_cap,
        }
    }

    /// The request as `resolved` takes it, written into `out`: the body prepared (passed
    /// through, rewritten or translated into `tbody`), then the head (and the body when
    /// small, or always with `inline_always`). Returns the attempt's target, whether the
    /// body goes separately, and where it is. A refusal to translate leaves its detail in
    /// `error_detail` for the client's error message.
    fn request_bytes<'a>(
        &mut self,
        head: &RequestHead,
        ask: &Ask<'a>,
        resolved: Resolved<'a>,
        out: &mut Vec<u8>,
        inline_always: bool,
    ) -> Result<(Target<'a>, bool, Body), GatewayError> {
        // The client's body is never in `tbody`, which the preparation writes.
        let body = body_in(&self.rbuf, &self.decoded, &[], ask.body_at);
        let (translated, translation) = prepare(
            &resolved,
            ask.endpoint,
            body,
            &mut self.tbody,
            ask.output_cap,
        )
        .map_err(|(e, detail)| {
            self.error_detail = detail;
            e
        })?;
        let body_at = if translated {
            Body::Translated
        } else {
            ask.body_at
        };
        let mut target = self.target(resolved, ask, translated, translation);
        let parts = Parts {
            head,
            rbuf: &self.rbuf,
            headers: &self.headers,
            body: body_in(&self.rbuf, &self.decoded, &self.tbody, body_at),
        };
        let separate = build(&parts, &mut target, &mut self.scratch, out, inline_always)?;
        Ok((target, separate, body_at))
    }

    /// The attempt's request bytes in a buffer of their own (body inline): for hedges,
    /// whose two attempts are in flight at once.
    fn build_owned<'a>(
        &mut self,
        head: &RequestHead,
        ask: &Ask<'a>,
        found: &Found<'a>,
        c: Choice,
    ) -> Result<(Target<'a>, Vec<u8>), GatewayError>
    where
        'w: 'a,
    {
        let snap: &'a Snapshot = &self.w.snap;
        let resolved = resolve_choice(snap, found, c);
        let mut out = self.w.take_buf();
        match self.request_bytes(head, ask, resolved, &mut out, true) {
            Ok((target, _, _)) => Ok((target, out)),
            Err(e) => {
                self.w.give_buf(out);
                Err(e)
            }
        }
    }

    /// The first attempt, hedged: when it has no usable response head after the
    /// group's delay, a second starts on another deployment and the first usable head
    /// wins. The loser's future is dropped: its connection closes.
    #[allow(clippy::too_many_arguments)]
    async fn hedged<'a>(
        &mut self,
        head: &RequestHead,
        ask: &Ask<'a>,
        found: &Found<'a>,
        plan: &mut Plan,
        a: Choice,
        mut closed: Pin<&mut impl Future<Output = ()>>,
        req: &mut Req,
    ) -> Attempted<'a>
    where
        'w: 'a,
    {
        let w = self.w;
        let snap: &'a Snapshot = &w.snap;
        let group = &snap.models[a.group];
        let delay = match group.hedge.map(|h| h.delay) {
            Some(HedgeDelay::Fixed(d)) => d,
            Some(HedgeDelay::P95 { min }) => w.routing.borrow().ttfb[a.group]
                .p95()
                .map_or(min, |p| p.max(min)),
            None => Duration::MAX,
        };
        let started = Instant::now();
        let (ta, mut out_a) = match self.build_owned(head, ask, found, a) {
            Ok(x) => x,
            Err(e) => {
                self.settle(a, None, true, 0);
                return Err(Some(e));
            }
        };
        let dep_a = ta.resolved.deployment;
        let slot_a = req.attempts.push(Attempt {
            deployment: dep_a.id as u16,
            ..Attempt::default()
        });
        let mut hdr_a = self
            .uheaders
            .take()
            .unwrap_or_else(|| Box::new(EMPTY_HEADERS));
        let mut timing_a = Timing::default();
        let mut timing_b = Timing::default();
        let mut hdr_b = Box::new(EMPTY_HEADERS);
        let started_b;
        let (result_a, result_b, built_b, slot_b) = {
            let mut never_a = std::pin::pin!(std::future::pending::<()>());
            let fut_a = send(
                w,
                &ta.resolved,
                &mut out_a,
                None,
                (0, 0),
                &mut hdr_a,
                never_a.as_mut(),
                req.start + dep_a.timeouts.total,
                true,
                &mut timing_a,
            );
            let mut fut_a = std::pin::pin!(fut_a);
            let early = monoio::select! {
                r = &mut fut_a => Some(Some(r)),
                _ = monoio::time::sleep(delay) => Some(None),
                _ = closed.as_mut() => None,
            };
            let Some(early) = early else {
                // The client left before the delay.
                self.settle(a, None, true, 0);
                return Err(None);
            };
            // The second attempt, unless the first already answered.
            let b = match early {
                Some(_) => None,
                None => self.choose(plan, None),
            };
            let mut built_b = match b {
                Some(b) => match self.build_owned(head, ask, found, b) {
                    Ok(x) => Some((b, x)),
                    Err(_) => {
                        self.settle(b, None, true, 0);
                        None
                    }
                },
                None => None,
            };
            let b_choice = built_b.as_ref().map(|(b, _)| *b);
            let slot_b = built_b.as_ref().map(|(_, (tb, _))| {
                w.shard().inc(&w.shard().hedges);
                req.attempts.push(Attempt {
                    deployment: tb.resolved.deployment.id as u16,
                    hedge: true,
                    ..Attempt::default()
                })
            });
            started_b = Instant::now();
            let mut result_a = early;
            let mut result_b = None;
            {
                let mut never_b = std::pin::pin!(std::future::pending::<()>());
                let deadline_b = built_b.as_ref().map_or(req.start, |(_, (tb, _))| {
                    req.start + tb.resolved.deployment.timeouts.total
                });
                let fut_b = async {
                    match built_b.as_mut() {
                        Some((_, (tb, out))) => {
                            send(
                                w,
                                &tb.resolved,
                                out,
                                None,
                                (0, 0),
                                &mut hdr_b,
                                never_b.as_mut(),
                                deadline_b,
                                true,
                                &mut timing_b,
                            )
                            .await
                        }
                        None => std::future::pending().await,
                    }
                };
                let mut fut_b = std::pin::pin!(fut_b);
                loop {
                    let a_done = result_a.is_some();
                    let b_done = result_b.is_some() || slot_b.is_none();
                    if result_a.as_ref().is_some_and(usable)
                        || result_b.as_ref().is_some_and(usable)
                    {
                        break;
                    }
                    if a_done && b_done {
                        break;
                    }
                    let gone = monoio::select! {
                        r = &mut fut_a, if !a_done => { result_a = Some(r); false }
                        r = &mut fut_b, if !b_done => { result_b = Some(r); false }
                        _ = closed.as_mut() => true,
                    };
                    if gone {
                        self.settle(a, None, true, 0);
                        if let Some(b) = b_choice {
                            self.settle(b, None, true, 0);
                        }
                        return Err(None);
                    }
                }
            }
            (result_a, result_b, built_b, slot_b)
        };
        // Settle both: the winner is the first usable answer (A first on a tie), else the
        // last answer to arrive, else the last error.
        let pick_a = if result_a.as_ref().is_some_and(usable) {
            true
        } else if result_b.as_ref().is_some_and(usable) {
            false
        } else {
            // Neither is usable: keep the one with an answer (an error status is served
            // or retried with its body), else A's error.
            result_a.as_ref().is_some_and(|r| r.is_ok())
                || !result_b.as_ref().is_some_and(|r| r.is_ok())
        };
        req.upstream_wait += started.elapsed();
        let finish = |this: &mut Self,
                      req: &mut Req,
                      c: Choice,
                      slot: usize,
                      dep: usize,
                      r: Option<Result<Exchange, SendError>>,
                      timing: Timing,
                      t0: Instant,
                      winner: bool|
         -> Option<Result<Exchange, Option<GatewayError>>> {
            match r {
                None => {
                    // Cancelled while waiting: it was slower, not broken.
                    this.settle(c, Some(t0.elapsed()), true, 0);
                    if let Some(a) = req.attempts.get_mut(slot) {
                        a.cancelled = true;
                        a.ms = t0.elapsed().as_millis() as u32;
                    }
                    w.shard().attempt(dep, metrics::OUTCOME_CANCELLED, None);
                    None
                }
                Some(r) => match this.record_send(req, c, slot, dep, r, &timing, t0) {
                    Ok(ex) if winner => {
                        req.ttfb = timing.ttfb;
                        req.upstream_reused = timing.reused;
                        req.deployment = Some(dep);
                        Some(Ok(ex))
                    }
                    Ok(ex) => {
                        // An answer that lost: dropped with its connection.
                        let status = ex.resp.status;
                        this.settle(c, Some(timing.ttfb), status < 500 && status != 429, 0);
                        if let Some(a) = req.attempts.get_mut(slot) {
                            a.cancelled = true;
                        }
                        w.give_buf(ex.ubuf);
                        None
                    }
                    Err(e) => Some(Err(e)),
                },
            }
        };
        let (tb, b_choice) = match built_b {
            Some((b, (tb, out))) => {
                w.give_buf(out);
                (Some(tb), Some(b))
            }
            None => (None, None),
        };
        w.give_buf(out_a);
        let ra = finish(
            self, req, a, slot_a, dep_a.id, result_a, timing_a, started, pick_a,
        );
        let rb = match (b_choice, slot_b, &tb) {
            (Some(b), Some(slot), Some(tb)) => finish(
                self,
                req,
                b,
                slot,
                tb.resolved.deployment.id,
                result_b,
                timing_b,
                started_b,
                !pick_a,
            ),
            _ => None,
        };
        if pick_a {
            self.uheaders = Some(hdr_a);
            match ra {
                Some(Ok(ex)) => Ok((ex, ta, a)),
                Some(Err(e)) => Err(e),
                None => Err(Some(GatewayError::UpstreamFirstByteTimeout)),
            }
        } else {
            self.uheaders = Some(hdr_b);
            match (rb, tb, b_choice) {
                (Some(Ok(ex)), Some(tb), Some(b)) => Ok((ex, tb, b)),
                (Some(Err(e)), _, _) => Err(e),
                _ => Err(Some(GatewayError::UpstreamFirstByteTimeout)),
            }
        }
    }

    /// Serve a committed answer and, with `settle`, settle its deployment's accounts
    /// (in flight, breaker, latency, tokens) once the body has ended.
    #[allow(clippy::too_many_arguments)]
    async fn serve<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        ex: Exchange,
        target: Target<'_>,
        c: Choice,
        settle: bool,
        closed: Pin<&mut impl Future<Output = ()>>,
        req: &mut Req,
    ) -> Next {
        let w = self.w;
        req.deployment = Some(target.resolved.deployment.id);
        let uheaders: &Headers = self.uheaders.as_deref().expect("send parsed a head");
        let outcome = stream_back(w, io, &mut self.wbuf, ex, uheaders, &target, closed, req).await;
        let tokens = req.usage.map_or(0, |u| u.input + u.output);
        match outcome {
            Outcome::Done(next, upstream_ok) => {
                if settle {
                    self.settle(c, Some(req.ttfb), upstream_ok, tokens);
                }
                next
            }
            Outcome::ClientGone => {
                if settle {
                    self.settle(c, Some(req.ttfb), true, tokens);
                }
                req.client_aborted = true;
                Next::Close
            }
        }
    }

    async fn fail<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        e: GatewayError,
        req: &mut Req,
    ) -> Next {
        let detail = self.error_detail.take();
        self.respond_error(io, e, detail.as_deref().map(str::as_bytes), req)
            .await
    }

    /// The end of an attempt in the request's attempt list.
    fn end_attempt(
        &self,
        req: &mut Req,
        slot: usize,
        status: u16,
        error: Option<GatewayError>,
        started: Instant,
    ) {
        if let Some(a) = req.attempts.get_mut(slot) {
            a.status = status;
            a.error = error;
            a.ms = started.elapsed().as_millis().min(u32::MAX as u128) as u32;
        }
    }

    /// Release `c`'s in-flight slot and report its outcome to the breaker, the latency
    /// EWMA, the rate window and the group's TTFB quantile.
    fn settle(&self, c: Choice, ttfb: Option<Duration>, ok: bool, tokens: u64) {
        let w = self.w;
        let snap = &*w.snap;
        let now = w.shared.now_ms();
        let mut routing = w.routing.borrow_mut();
        let ttfb_us = ttfb.map(|d| d.as_micros() as u64);
        if let Some(us) = ttfb_us {
            routing.ttfb[c.group].observe(us);
        }
        routing.groups[c.group].finished(
            &snap.models[c.group].route,
            &w.shared.health,
            c.pick.member,
            c.pick.probe,
            now,
            ttfb_us,
            ok,
            tokens,
        );
    }

    /// Pick the next deployment along the plan: untried members of the current group,
    /// then the fallback groups, then (second pass) members already tried. `wait`: a
    /// retry-after the caller will honour, so that a deployment ejected for it is
    /// eligible again on the second pass.
    fn choose(&mut self, plan: &mut Plan, wait: Option<Duration>) -> Option<Choice> {
        let w = self.w;
        let snap = &*w.snap;
        let board = &w.shared.health;
        let mut now = w.shared.now_ms();
        let mut routing = w.routing.borrow_mut();
        let Routing { groups, rng, .. } = &mut *routing;
        loop {
            while plan.pos < plan.len {
                let g = plan.chain[plan.pos];
                let spec = &snap.models[g].route;
                let filter = Filter {
                    tried: plan.tried[plan.pos] | !plan.allowed[plan.pos],
                    required_tags: plan.required_tags,
                };
                if let Some(pick) = route::pick(spec, &mut groups[g], board, now, rng, filter) {
                    if plan.pos > 0 && plan.pass == 0 && plan.tried[plan.pos] == 0 {
                        w.shard().inc(&w.shard().fallbacks);
                    }
                    plan.tried[plan.pos] |= 1 << pick.member;
                    groups[g].started(pick.member);
                    return Some(Choice { group: g, pick });
                }
                plan.pos += 1;
            }
            if plan.pass > 0 {
                return None;
            }
            plan.pass = 1;
            plan.pos = 0;
            plan.tried = [0; 9];
            if let Some(d) = wait {
                // The retry-after ejection is over by the time the caller has waited.
                now += d.as_millis() as Millis + 1;
            }
        }
    }

    /// Whether a second deployment could take a hedge beside `c`.
    fn another_candidate(&self, plan: &Plan, c: Choice) -> bool {
        let snap = &*self.w.snap;
        let now = self.w.shared.now_ms();
        let m = &snap.models[c.group];
        let pos = plan.pos;
        m.route.members.iter().enumerate().any(|(i, mem)| {
            i != c.pick.member
                && plan.allowed[pos] & (1 << i) != 0
                && plan.tried[pos] & (1 << i) == 0
                && mem.tags & plan.required_tags == plan.required_tags
                && self.w.shared.health[mem.health].eligible(now)
        })
    }

    /// Full jitter before attempt `n + 1`: uniform in [0, min(max, base × 2^(n-1))).
    fn backoff(&self, base: Duration, max: Duration, n: usize) -> Duration {
        let cap = base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(max);
        let us = cap.as_micros() as u64;
        if us == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.w.routing.borrow_mut().rng.below(us))
    }

    /// The tags a request requires (`x-sluice-route-tags: region=eu, classification=x`).
    /// `Err` when a tag is carried by no deployment at all.
    fn route_tags(&self, snap: &Snapshot) -> Result<u64, ()> {
        let Some(v) = find_header(&self.rbuf, &self.headers[..], b"x-sluice-route-tags") else {
            return Ok(0);
        };
        let pairs = v
            .split(|&b| b == b',')
            .map(<[u8]>::trim_ascii)
            .filter(|p| !p.is_empty());
        snap.tag_mask(pairs).ok_or(())
    }

    /// The group a request goes to after the percentage split, sticky to the caller's
    /// key or user.
    fn split(&self, g: usize, ask: &Ask<'_>, snap: &Snapshot) -> usize {
        let m = &snap.models[g];
        if m.split.is_empty() {
            return g;
        }
        let used = &self.headers[..];
        let key = find_header(&self.rbuf, used, b"authorization")
            .or_else(|| find_header(&self.rbuf, used, b"x-api-key"));
        let user = find_header(&self.rbuf, used, b"x-sluice-user")
            .map(fnv1a)
            .or(ask.user_hash);
        let h = match (m.sticky, user, key) {
            (Sticky::User, Some(u), _) => u,
            (_, _, Some(k)) => fnv1a(k),
            _ => fnv1a(self.peer.ip().to_string().as_bytes()),
        };
        sticky_target(m, h).unwrap_or(g)
    }

    /// Mirror the request to a share of the shadow group: its own task, its own buffers;
    /// the answer is read and discarded, its latency, status and usage counted.
    fn maybe_shadow(&mut self, sh: Share, head: &RequestHead, ask: &Ask<'_>) {
        let w = self.w;
        let roll = w.routing.borrow_mut().rng.below(10_000);
        if roll >= u64::from(sh.per_10k) {
            return;
        }
        let snap = &*w.snap;
        let mut plan = Plan::new(snap, sh.to, ask.endpoint, 0);
        plan.len = 1; // no fallbacks for a shadow
        let Some(c) = self.choose(&mut plan, None) else {
            w.shard().inc(&w.shard().shadow_failed);
            return;
        };
        let found = Found {
            index: sh.to,
            model: &snap.models[sh.to],
            default_name: snap.models[sh.to].name.as_bytes(),
        };
        let mut req_like = Req::shadow(w.request_id(), ask.endpoint, head);
        req_like.stream = ask.stream;
        let built = self.build_owned(head, ask, &found, c);
        let (target, out) = match built {
            Ok(x) => x,
            Err(_) => {
                self.settle(c, None, true, 0);
                w.shard().inc(&w.shard().shadow_failed);
                return;
            }
        };
        let id = target.resolved.deployment.id;
        drop(target);
        monoio::spawn(shadow(self.w.clone(), c, id, out, req_like));
    }
}

/// Which split target `h` lands in (`None`: the group itself).
fn sticky_target(m: &Model, h: u64) -> Option<usize> {
    // Salted with the group's name, so that two split groups assign independently.
    let bucket =
        ((h ^ fnv1a(m.name.as_bytes())).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % 10_000;
    let mut acc = 0u64;
    for s in &m.split {
        acc += u64::from(s.per_10k);
        if bucket < acc {
            return Some(s.to);
        }
    }
    // INVARIANT (config): the shares add up to at most 100%; the rest stays.
    None
}

/// One shadow request, start to end, on this worker.
async fn shadow(
    w: std::rc::Rc<Worker>,
    c: Choice,
    deployment: usize,
    mut out: Vec<u8>,
    mut rec: Req,
) {
    let snap = w.snap.clone();
    let model = &snap.models[c.group];
    let d = &model.deployments[c.pick.member];
    let found = Found {
        index: c.group,
        model,
        default_name: model.name.as_bytes(),
    };
    let resolved = snap.deployment(&found, c.pick.member);
    let mut headers = Box::new(EMPTY_HEADERS);
    let mut timing = Timing::default();
    let never = std::pin::pin!(std::future::pending::<()>());
    let started = Instant::now();
    let deadline = started + d.timeouts.total;
    let slot = rec.attempts.push(Attempt {
        deployment: deployment as u16,
        ..Attempt::default()
    });
    let r = send(
        &w,
        &resolved,
        &mut out,
        None,
        (0, 0),
        &mut headers,
        never,
        deadline,
        false,
        &mut timing,
    )
    .await;
    w.give_buf(out);
    let shard = w.shard();
    let settle = |ok: bool, ttfb: Option<Duration>, tokens: u64| {
        let mut routing = w.routing.borrow_mut();
        routing.groups[c.group].finished(
            &model.route,
            &w.shared.health,
            c.pick.member,
            c.pick.probe,
            w.shared.now_ms(),
            ttfb.map(|t| t.as_micros() as u64),
            ok,
            tokens,
        );
    };
    match r {
        Ok(ex) => {
            let status = ex.resp.status;
            rec.status = status;
            rec.ttfb = timing.ttfb;
            let (usage, body_ok) =
                drain_for_usage(&w, ex, &headers, d.timeouts.idle, deadline).await;
            rec.usage = usage;
            let ok = body_ok && status < 500 && status != 429;
            shard.attempt(
                deployment,
                outcome_of_status(status),
                Some(timing.ttfb.as_micros() as u64),
            );
            shard.inc(if ok && status < 400 {
                &shard.shadow_ok
            } else {
                &shard.shadow_failed
            });
            settle(
                ok,
                Some(timing.ttfb),
                usage.map_or(0, |u| u.input + u.output),
            );
            if let Some(a) = rec.attempts.get_mut(slot) {
                a.status = status;
                a.ms = started.elapsed().as_millis() as u32;
            }
        }
        Err(e) => {
            let e = match e {
                SendError::Upstream(e) => e,
                SendError::Client => GatewayError::UpstreamReset,
            };
            shard.attempt(deployment, outcome_of_error(e), None);
            shard.inc(&shard.shadow_failed);
            settle(false, None, 0);
            rec.error = Some(e.code());
            if let Some(a) = rec.attempts.get_mut(slot) {
                a.error = Some(e);
                a.ms = started.elapsed().as_millis() as u32;
            }
        }
    }
    rec.upstream_wait = started.elapsed();
    super::log_record(&w, &rec, None);
}

/// Read a shadow answer to its end (bounded), for its usage: the last `"usage"` object
/// of a JSON body or of an event stream. Returns (usage, whether the body completed).
async fn drain_for_usage(
    w: &Worker,
    ex: Exchange,
    headers: &Headers,
    idle: Duration,
    deadline: Instant,
) -> (Option<proto::chat::Usage>, bool) {
    use proto::http1::{BodyFraming, ChunkEvent, ChunkedDecoder};
    const SHADOW_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
    let _ = headers;
    let Exchange {
        mut uio,
        resp,
        mut ubuf,
    } = ex;
    let mut body = Vec::new();
    let mut pos = resp.head_len;
    let mut dec = ChunkedDecoder::new(u64::MAX);
    let complete = loop {
        match resp.body {
            BodyFraming::None => break true,
            BodyFraming::Length(n) => {
                body.extend_from_slice(&ubuf[pos..]);
                ubuf.clear();
                pos = 0;
                if body.len() as u64 >= n {
                    body.truncate(n as usize);
                    break true;
                }
            }
            BodyFraming::Chunked => {
                let mut done = false;
                loop {
                    match dec.step(&ubuf[pos..]) {
                        Ok((used, ChunkEvent::Data { start, end })) => {
                            body.extend_from_slice(&ubuf[pos + start..pos + end]);
                            pos += used;
                        }
                        Ok((used, ChunkEvent::Partial)) => {
                            pos += used;
                            break;
                        }
                        Ok((_, ChunkEvent::Done)) => {
                            done = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                if done {
                    break true;
                }
                ubuf.drain(..pos);
                pos = 0;
            }
            BodyFraming::CloseDelimited => {
                body.extend_from_slice(&ubuf[pos..]);
                ubuf.clear();
                pos = 0;
            }
        }
        if body.len() > SHADOW_BODY_BYTES_MAX {
            break false;
        }
        let left = deadline.saturating_duration_since(Instant::now()).min(idle);
        match monoio::time::timeout(left, crate::io::read_more(&mut uio, &mut ubuf, 16 * 1024))
            .await
        {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => break matches!(resp.body, BodyFraming::CloseDelimited),
            _ => break false,
        }
    };
    w.give_buf(ubuf);
    (super::stream_usage::json_usage(&body), complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttfb_quantile_tracks_the_tail() {
        let mut q = TtfbQuantile::default();
        assert_eq!(q.p95(), None, "no estimate before enough samples");
        for i in 0..100u64 {
            q.observe(if i < 90 { 1_000 } else { 100_000 });
        }
        let p = q.p95().unwrap();
        assert!(
            p >= Duration::from_micros(65_536) && p <= Duration::from_micros(131_072),
            "{p:?}"
        );
        for _ in 0..2_000 {
            q.observe(1_000);
        }
        assert!(
            q.p95().unwrap() <= Duration::from_micros(1_024),
            "old samples decay"
        );
    }

    #[test]
    fn sticky_split_is_stable_and_proportional() {
        let text = r#"
[[providers]]
name = "d"
kind = "demo"
[[models]]
name = "a"
provider = "d"
split = [{ to = "b", percent = 20 }]
[[models]]
name = "b"
provider = "d"
"#;
        let snap = crate::config::from_str("t.toml", text, &Default::default()).unwrap();
        let m = &snap.models[0];
        let mut to_b = 0;
        for k in 0..10_000u32 {
            let h = fnv1a(format!("sk-key-{k}").as_bytes());
            let t = sticky_target(m, h);
            assert_eq!(
                t,
                sticky_target(m, h),
                "the same key always lands the same way"
            );
            if t == Some(1) {
                to_b += 1;
            }
        }
        assert!((1_800..2_200).contains(&to_b), "{to_b} of 10000 went to b");
    }

    #[test]
    fn backoff_and_retry_after_parsing() {
        use super::super::forward::{parse_retry_after, says_context_length};
        assert_eq!(parse_retry_after(b"2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(b" 0.5 "),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after(b"-1"), None);
        assert!(says_context_length(
            br#"{"error":{"code":"context_length_exceeded"}}"#
        ));
        assert!(says_context_length(br#"{"type":"error","error":{"message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#));
        assert!(!says_context_length(
            br#"{"error":{"message":"rate limited"}}"#
        ));
    }
}
