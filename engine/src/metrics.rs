//! Prometheus metrics on per-core shards.
//!
//! Each worker owns one [`Shard`] and is its only writer, so an increment is a relaxed
//! load and store on a core-local cache line: no lock, no `lock`-prefixed instruction,
//! no cross-core traffic on the request path. The admin thread sums the shards when
//! `/metrics` is scraped.
//!
//! INVARIANT: only worker `i` writes `shards[i]` (readers only load).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crossbeam_utils::CachePadded;

use crate::error::UPSTREAM_ERROR_KINDS;

/// Routes, as metric labels. Index with [`Route`].
pub const ROUTE_NAMES: [&str; 8] = [
    "chat_completions",
    "completions",
    "embeddings",
    "models",
    "unknown",
    "admin",
    "messages",
    "responses",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    ChatCompletions = 0,
    Completions = 1,
    Embeddings = 2,
    Models = 3,
    Unknown = 4,
    /// Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`).
    Messages = 6,
    /// OpenAI's Responses API (`/v1/responses`), passed through.
    Responses = 7,
}

impl Route {
    pub fn name(self) -> &'static str {
        ROUTE_NAMES[self as usize]
    }
}

/// Statuses counted by exact code; anything else is counted as `other`.
const STATUSES: [u16; 20] = [
    200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431, 500, 502, 503,
    504,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Histogram bucket upper bounds in microseconds: 10 µs (the gateway's own overhead)
/// to 10 minutes (a long generation).
pub const BUCKETS_US: [u64; 24] = [
    10,
    25,
    50,
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
];
const BUCKET_SLOTS: usize = BUCKETS_US.len() + 1;

fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len())
}

/// Single-writer increment (see the module INVARIANT).
#[inline]
fn add(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

struct Histogram {
    buckets: [AtomicU64; BUCKET_SLOTS],
    sum_us: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
        }
    }

    #[inline]
    fn observe(&self, us: u64) {
        let i = BUCKETS_US.partition_point(|&b| b < us);
        add(&self.buckets[i], 1);
        add(&self.sum_us, us);
    }
}

/// How an upstream attempt ended, as the `outcome` label of
/// `sluice_deployment_attempts_total`. Index with the constants below.
pub const ATTEMPT_OUTCOMES: [&str; 9] = [
    "ok",
    "client_error",
    "rate_limited",
    "server_error",
    "connect",
    "timeout",
    "reset",
    "bad_response",
    "cancelled",
];
pub const OUTCOME_OK: usize = 0;
pub const OUTCOME_CLIENT_ERROR: usize = 1;
pub const OUTCOME_RATE_LIMITED: usize = 2;
pub const OUTCOME_SERVER_ERROR: usize = 3;
pub const OUTCOME_CONNECT: usize = 4;
pub const OUTCOME_TIMEOUT: usize = 5;
pub const OUTCOME_RESET: usize = 6;
pub const OUTCOME_BAD_RESPONSE: usize = 7;
pub const OUTCOME_CANCELLED: usize = 8;

/// Per-deployment counters of one worker.
struct DeploymentCounters {
    outcomes: [AtomicU64; ATTEMPT_OUTCOMES.len()],
    ttfb: Histogram,
}

/// One worker's counters.
pub struct Shard {
    /// Per deployment id.
    deployments: Box<[DeploymentCounters]>,
    /// Attempts after the first (retries), hedges started, fallback groups entered, and
    /// shadow requests by outcome (ok, error).
    pub retries: AtomicU64,
    pub hedges: AtomicU64,
    pub fallbacks: AtomicU64,
    pub shadow_ok: AtomicU64,
    pub shadow_failed: AtomicU64,
    /// Governance refusals: requests, tokens, concurrency limits, budgets (and unknown
    /// prices for budgeted keys).
    pub refused_requests: AtomicU64,
    pub refused_tokens: AtomicU64,
    pub refused_concurrency: AtomicU64,
    pub refused_budget: AtomicU64,
    /// Cost of answered requests with a known price, picodollars.
    pub spend_pusd: AtomicU64,
    /// The response cache: answers served from it (exact, semantic), lookups that found
    /// nothing, requests that skipped it, semantic hits found in shadow mode (served
    /// nothing), semantic candidates the precision guard refused, answers stored, failed
    /// or timed-out embeddings, and what the hits would have cost (picodollars).
    pub cache_hits_exact: AtomicU64,
    pub cache_hits_semantic: AtomicU64,
    pub cache_misses: AtomicU64,
    pub cache_bypassed: AtomicU64,
    pub cache_shadow_hits: AtomicU64,
    pub cache_guard_refused: AtomicU64,
    pub cache_stored: AtomicU64,
    pub cache_embed_failed: AtomicU64,
    pub cache_saved_pusd: AtomicU64,
    /// `[route][model + 1][status slot]`; model slot 0 is "no model".
    requests: Box<[AtomicU64]>,
    total: Box<[Histogram]>,
    added: Box<[Histogram]>,
    upstream_errors: [AtomicU64; UPSTREAM_ERROR_KINDS.len()],
    pub connections_open: AtomicU64,
    pub connections_total: AtomicU64,
    pub upstream_connects: AtomicU64,
    pub upstream_reuses: AtomicU64,
    pub client_aborts: AtomicU64,
    pub access_log_dropped: AtomicU64,
    models: usize,
}

impl Shard {
    fn new(models: usize, deployments: usize) -> Shard {
        let n = ROUTE_NAMES.len() * (models + 1) * STATUS_SLOTS;
        Shard {
            deployments: (0..deployments)
                .map(|_| DeploymentCounters {
                    outcomes: std::array::from_fn(|_| AtomicU64::new(0)),
                    ttfb: Histogram::new(),
                })
                .collect(),
            retries: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            shadow_ok: AtomicU64::new(0),
            shadow_failed: AtomicU64::new(0),
            refused_requests: AtomicU64::new(0),
            refused_tokens: AtomicU64::new(0),
            refused_concurrency: AtomicU64::new(0),
            refused_budget: AtomicU64::new(0),
            spend_pusd: AtomicU64::new(0),
            cache_hits_exact: AtomicU64::new(0),
            cache_hits_semantic: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache_bypassed: AtomicU64::new(0),
            cache_shadow_hits: AtomicU64::new(0),
            cache_guard_refused: AtomicU64::new(0),
            cache_stored: AtomicU64::new(0),
            cache_embed_failed: AtomicU64::new(0),
            cache_saved_pusd: AtomicU64::new(0),
            requests: (0..n).map(|_| AtomicU64::new(0)).collect(),
            total: (0..ROUTE_NAMES.len()).map(|_| Histogram::new()).collect(),
            added: (0..ROUTE_NAMES.len()).map(|_| Histogram::new()).collect(),
            upstream_errors: std::array::from_fn(|_| AtomicU64::new(0)),
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            upstream_connects: AtomicU64::new(0),
            upstream_reuses: AtomicU64::new(0),
            client_aborts: AtomicU64::new(0),
            access_log_dropped: AtomicU64::new(0),
            models,
        }
    }

    /// Count one finished request. `model` is the snapshot's model index, if resolved.
    #[inline]
    pub fn request(
        &self,
        route: Route,
        model: Option<usize>,
        status: u16,
        total_us: u64,
        added_us: u64,
    ) {
        let m = model.map_or(0, |m| (m + 1).min(self.models));
        let i = ((route as usize) * (self.models + 1) + m) * STATUS_SLOTS + status_slot(status);
        add(&self.requests[i], 1);
        self.total[route as usize].observe(total_us);
        self.added[route as usize].observe(added_us);
    }

    /// Count one upstream attempt on `deployment` (an `OUTCOME_*` index) and its time
    /// to first byte when a head arrived.
    #[inline]
    pub fn attempt(&self, deployment: usize, outcome: usize, ttfb_us: Option<u64>) {
        if let Some(d) = self.deployments.get(deployment) {
            add(&d.outcomes[outcome], 1);
            if let Some(us) = ttfb_us {
                d.ttfb.observe(us);
            }
        }
    }

    #[inline]
    pub fn upstream_error(&self, kind: usize) {
        add(&self.upstream_errors[kind], 1);
    }

    #[inline]
    pub fn inc(&self, counter: &AtomicU64) {
        add(counter, 1);
    }

    #[inline]
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        add(counter, n);
    }

    #[inline]
    pub fn dec(&self, counter: &AtomicU64) {
        counter.store(counter.load(Relaxed).saturating_sub(1), Relaxed);
    }
}

/// All shards plus the label names.
pub struct Metrics {
    shards: Box<[CachePadded<Shard>]>,
    model_names: Vec<String>,
    deployment_names: Vec<String>,
}

impl Metrics {
    pub fn new(workers: usize, model_names: Vec<String>, deployment_names: Vec<String>) -> Metrics {
        let n = model_names.len();
        let d = deployment_names.len();
        Metrics {
            shards: (0..workers)
                .map(|_| CachePadded::new(Shard::new(n, d)))
                .collect(),
            model_names,
            deployment_names,
        }
    }

    pub fn shard(&self, worker: usize) -> &Shard {
        &self.shards[worker]
    }

    /// Cost of answered requests with a known price, USD.
    pub fn spend_usd(&self) -> f64 {
        crate::govern::budget::pusd_to_usd(self.sum(|s| &s.spend_pusd))
    }

    /// The response cache's counters, when it is on.
    pub fn render_cache(&self, o: &mut String) {
        let name = "sluice_cache_requests_total";
        let _ = writeln!(
            o,
            "# HELP {name} Cacheable requests by what the cache did.\n# TYPE {name} counter"
        );
        for (result, v) in [
            ("hit_exact", self.sum(|s| &s.cache_hits_exact)),
            ("hit_semantic", self.sum(|s| &s.cache_hits_semantic)),
            ("miss", self.sum(|s| &s.cache_misses)),
            ("bypass", self.sum(|s| &s.cache_bypassed)),
        ] {
            let _ = writeln!(o, "{name}{{result=\"{result}\"}} {v}");
        }
        for (name, help, v) in [
            (
                "sluice_cache_shadow_hits_total",
                "Semantic hits found in shadow mode (would have been served; were not).",
                self.sum(|s| &s.cache_shadow_hits),
            ),
            (
                "sluice_cache_guard_refused_total",
                "Semantic candidates above the threshold that the precision guard refused.",
                self.sum(|s| &s.cache_guard_refused),
            ),
            (
                "sluice_cache_stored_total",
                "Answers stored in the cache.",
                self.sum(|s| &s.cache_stored),
            ),
            (
                "sluice_cache_embed_failed_total",
                "Semantic lookups skipped because the embedding failed or timed out.",
                self.sum(|s| &s.cache_embed_failed),
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let name = "sluice_cache_saved_usd_total";
        let _ = writeln!(
            o,
            "# HELP {name} What the answers served from the cache cost when they were first made.\n# TYPE {name} counter\n{name} {}",
            crate::govern::budget::pusd_to_usd(self.sum(|s| &s.cache_saved_pusd))
        );
    }

    fn sum(&self, f: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards.iter().map(|s| f(s).load(Relaxed)).sum()
    }

    /// Prometheus text exposition format 0.0.4. `breaker` gives a deployment's breaker
    /// state (read from the shared health board).
    pub fn render(
        &self,
        draining: bool,
        breaker: impl Fn(usize) -> Option<crate::route::BreakerState>,
    ) -> String {
        let mut o = String::with_capacity(16 * 1024);
        let models = self.model_names.len();
        o.push_str("# HELP sluice_requests_total Requests answered, by route, model and status.\n");
        o.push_str("# TYPE sluice_requests_total counter\n");
        for (r, route) in ROUTE_NAMES.iter().enumerate() {
            for m in 0..=models {
                for (s, slot_status) in STATUSES
                    .iter()
                    .map(|s| s.to_string())
                    .chain(["other".into()])
                    .enumerate()
                {
                    let i = (r * (models + 1) + m) * STATUS_SLOTS + s;
                    let v = self.sum(|sh| &sh.requests[i]);
                    if v > 0 {
                        let model = if m == 0 { "" } else { &self.model_names[m - 1] };
                        let _ = writeln!(
                            o,
                            "sluice_requests_total{{route=\"{route}\",model=\"{}\",status=\"{slot_status}\"}} {v}",
                            escape_label(model)
                        );
                    }
                }
            }
        }
        self.render_histogram(
            &mut o,
            "sluice_request_duration_seconds",
            "Total time from request head to last response byte.",
            |s| &s.total,
        );
        self.render_histogram(
            &mut o,
            "sluice_gateway_added_seconds",
            "Time spent in the gateway: total time minus time waiting on the upstream.",
            |s| &s.added,
        );
        o.push_str("# HELP sluice_upstream_errors_total Upstream failures by kind.\n# TYPE sluice_upstream_errors_total counter\n");
        for (k, name) in UPSTREAM_ERROR_KINDS.iter().enumerate() {
            let _ = writeln!(
                o,
                "sluice_upstream_errors_total{{kind=\"{name}\"}} {}",
                self.sum(|s| &s.upstream_errors[k])
            );
        }
        self.render_deployments(&mut o, breaker);
        let gauges: [(&str, &str, &str, u64); 16] = [
            (
                "sluice_retries_total",
                "counter",
                "Upstream attempts after a request's first (failover and retries).",
                self.sum(|s| &s.retries),
            ),
            (
                "sluice_hedges_total",
                "counter",
                "Hedged second attempts started.",
                self.sum(|s| &s.hedges),
            ),
            (
                "sluice_fallbacks_total",
                "counter",
                "Requests that moved on to a fallback group.",
                self.sum(|s| &s.fallbacks),
            ),
            (
                "sluice_shadow_ok_total",
                "counter",
                "Shadow (mirrored) requests that the candidate answered with a non-error status.",
                self.sum(|s| &s.shadow_ok),
            ),
            (
                "sluice_shadow_failed_total",
                "counter",
                "Shadow (mirrored) requests that failed or got an error status.",
                self.sum(|s| &s.shadow_failed),
            ),
            (
                "sluice_ratelimited_requests_total",
                "counter",
                "Requests refused by a requests-per-minute limit on their key's path.",
                self.sum(|s| &s.refused_requests),
            ),
            (
                "sluice_ratelimited_tokens_total",
                "counter",
                "Requests refused by a tokens-per-minute limit on their key's path.",
                self.sum(|s| &s.refused_tokens),
            ),
            (
                "sluice_concurrency_refused_total",
                "counter",
                "Requests refused by a max-concurrency limit on their key's path.",
                self.sum(|s| &s.refused_concurrency),
            ),
            (
                "sluice_budget_refused_total",
                "counter",
                "Requests refused because a budget on their key's path could not cover them (or no price was known).",
                self.sum(|s| &s.refused_budget),
            ),
            (
                "sluice_open_connections",
                "gauge",
                "Client connections open now.",
                self.sum(|s| &s.connections_open),
            ),
            (
                "sluice_connections_total",
                "counter",
                "Client connections accepted.",
                self.sum(|s| &s.connections_total),
            ),
            (
                "sluice_upstream_connects_total",
                "counter",
                "New upstream connections opened.",
                self.sum(|s| &s.upstream_connects),
            ),
            (
                "sluice_upstream_reuses_total",
                "counter",
                "Upstream requests sent on a pooled keep-alive connection.",
                self.sum(|s| &s.upstream_reuses),
            ),
            (
                "sluice_client_aborts_total",
                "counter",
                "Requests whose client went away before the response ended.",
                self.sum(|s| &s.client_aborts),
            ),
            (
                "sluice_access_log_dropped_total",
                "counter",
                "Access log records dropped because the writer fell behind.",
                self.sum(|s| &s.access_log_dropped),
            ),
            (
                "sluice_draining",
                "gauge",
                "1 while the gateway is shutting down.",
                draining as u64,
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        let (rss, cpu) = process_stats();
        let _ = writeln!(o, "# HELP process_resident_memory_bytes Resident set size.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
        let _ = writeln!(o, "# HELP process_cpu_seconds_total User and system CPU time.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}");
        o
    }

    fn render_deployments(
        &self,
        o: &mut String,
        breaker: impl Fn(usize) -> Option<crate::route::BreakerState>,
    ) {
        use crate::route::BreakerState;
        if self.deployment_names.is_empty() {
            return;
        }
        o.push_str("# HELP sluice_deployment_attempts_total Upstream attempts per deployment, by outcome.\n# TYPE sluice_deployment_attempts_total counter\n");
        for (d, name) in self.deployment_names.iter().enumerate() {
            for (k, outcome) in ATTEMPT_OUTCOMES.iter().enumerate() {
                let v = self.sum(|s| &s.deployments[d].outcomes[k]);
                if v > 0 || k == OUTCOME_OK {
                    let _ = writeln!(
                        o,
                        "sluice_deployment_attempts_total{{deployment=\"{}\",outcome=\"{outcome}\"}} {v}",
                        escape_label(name)
                    );
                }
            }
        }
        o.push_str("# HELP sluice_deployment_breaker_state Circuit breaker per deployment: 0 closed, 1 open, 2 half-open.\n# TYPE sluice_deployment_breaker_state gauge\n");
        for (d, name) in self.deployment_names.iter().enumerate() {
            let v = match breaker(d) {
                Some(BreakerState::Open) => 1,
                Some(BreakerState::HalfOpen) => 2,
                _ => 0,
            };
            let _ = writeln!(
                o,
                "sluice_deployment_breaker_state{{deployment=\"{}\"}} {v}",
                escape_label(name)
            );
        }
        let name = "sluice_deployment_ttfb_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} Upstream time to first byte per deployment.\n# TYPE {name} histogram"
        );
        for (d, dep) in self.deployment_names.iter().enumerate() {
            let dep = escape_label(dep);
            let total: u64 = (0..BUCKET_SLOTS)
                .map(|b| self.sum(|s| &s.deployments[d].ttfb.buckets[b]))
                .sum();
            if total == 0 {
                continue;
            }
            let mut cum = 0;
            for (b, le) in BUCKETS_US.iter().enumerate() {
                cum += self.sum(|s| &s.deployments[d].ttfb.buckets[b]);
                let _ = writeln!(
                    o,
                    "{name}_bucket{{deployment=\"{dep}\",le=\"{}\"}} {cum}",
                    *le as f64 / 1e6
                );
            }
            let sum = self.sum(|s| &s.deployments[d].ttfb.sum_us) as f64 / 1e6;
            let _ = writeln!(
                o,
                "{name}_bucket{{deployment=\"{dep}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                o,
                "{name}_sum{{deployment=\"{dep}\"}} {sum}\n{name}_count{{deployment=\"{dep}\"}} {total}"
            );
        }
    }

    fn render_histogram(
        &self,
        o: &mut String,
        name: &str,
        help: &str,
        h: impl Fn(&Shard) -> &[Histogram],
    ) {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (r, route) in ROUTE_NAMES.iter().enumerate() {
            let mut cum = 0;
            let total: u64 = (0..BUCKET_SLOTS)
                .map(|b| self.sum(|s| &h(s)[r].buckets[b]))
                .sum();
            if total == 0 {
                continue;
            }
            for (b, le) in BUCKETS_US.iter().enumerate() {
                cum += self.sum(|s| &h(s)[r].buckets[b]);
                let _ = writeln!(
                    o,
                    "{name}_bucket{{route=\"{route}\",le=\"{}\"}} {cum}",
                    *le as f64 / 1e6
                );
            }
            let sum = self.sum(|s| &h(s)[r].sum_us) as f64 / 1e6;
            let _ = writeln!(o, "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}");
            let _ = writeln!(
                o,
                "{name}_sum{{route=\"{route}\"}} {sum}\n{name}_count{{route=\"{route}\"}} {total}"
            );
        }
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// (resident bytes, CPU seconds) of this process, from /proc.
pub fn process_stats() -> (u64, f64) {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    // SAFETY: as above.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * page);
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / ticks)
        })
        .unwrap_or(0.0);
    (rss, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_across_shards_and_render() {
        let m = Metrics::new(
            2,
            vec!["gpt-4o".into(), "demo".into()],
            vec!["gpt-4o/a/x".into(), "gpt-4o/b/y".into()],
        );
        m.shard(0).attempt(1, OUTCOME_RATE_LIMITED, Some(2_000));
        m.shard(1).attempt(1, OUTCOME_RATE_LIMITED, None);
        m.shard(1).attempt(0, OUTCOME_OK, Some(900));
        m.shard(0)
            .request(Route::ChatCompletions, Some(1), 200, 1500, 40);
        m.shard(1)
            .request(Route::ChatCompletions, Some(1), 200, 900, 30);
        m.shard(1).request(Route::Unknown, None, 404, 20, 20);
        m.shard(0).upstream_error(3);
        let text = m.render(false, |d| {
            Some(if d == 1 {
                crate::route::BreakerState::Open
            } else {
                crate::route::BreakerState::Closed
            })
        });
        assert!(text.contains(
            "sluice_deployment_attempts_total{deployment=\"gpt-4o/b/y\",outcome=\"rate_limited\"} 2"
        ));
        assert!(text.contains("sluice_deployment_breaker_state{deployment=\"gpt-4o/b/y\"} 1"));
        assert!(text.contains("sluice_deployment_breaker_state{deployment=\"gpt-4o/a/x\"} 0"));
        assert!(text.contains("sluice_deployment_ttfb_seconds_count{deployment=\"gpt-4o/a/x\"} 1"));
        assert!(
            text.contains(
                "sluice_requests_total{route=\"chat_completions\",model=\"demo\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("sluice_requests_total{route=\"unknown\",model=\"\",status=\"404\"} 1")
        );
        assert!(text.contains("sluice_upstream_errors_total{kind=\"reset\"} 1"));
        assert!(
            text.contains("sluice_request_duration_seconds_count{route=\"chat_completions\"} 2")
        );
        // 900 µs and 1500 µs: one at or under 1 ms, both at or under 2.5 ms.
        assert!(text.contains(
            "sluice_request_duration_seconds_bucket{route=\"chat_completions\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "sluice_request_duration_seconds_bucket{route=\"chat_completions\",le=\"0.0025\"} 2"
        ));
        assert!(
            text.contains("sluice_gateway_added_seconds_sum{route=\"chat_completions\"} 0.00007")
        );
        assert!(!text.contains("model=\"gpt-4o\""));
    }

    #[test]
    fn unknown_status_counts_as_other() {
        let m = Metrics::new(1, vec![], vec![]);
        m.shard(0).request(Route::Models, None, 299, 1, 1);
        assert!(m.render(true, |_| None).contains("status=\"other\"} 1"));
    }

    #[test]
    fn process_stats_are_read() {
        let (rss, _) = process_stats();
        assert!(rss > 1024 * 1024, "rss {rss}");
    }
}
