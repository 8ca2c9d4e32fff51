//! Admission and settlement of one request against its key's path: requests and tokens
//! per minute, requests in flight, and budget reservations, at the key, its user, team
//! and org, the key's per-model limit and the end user.
//!
//! Admission is all or nothing: a refusal at any level gives back what the levels
//! before it took, so a refused request leaves no trace in any counter. The budget
//! reservation is the request's worst-case cost (prompt estimate plus its output cap at
//! the dearest price of the group's deployments); settlement replaces it with the real
//! cost, so settled spend plus reservations never passes a budget (`budget.rs` holds the
//! invariant and its tests). Time is passed in; nothing here reads a clock.

use std::sync::Arc;

use super::budget::{reserve_all, Budget, BudgetExceeded, BudgetSpec, Pusd};
use super::directory::{Directory, KeyPolicy, Node, NodeState};
use super::limit::{take_all, Exceeded, Nanos, Quota, Rate, RateSpec};

/// Levels with counters: the key, user, team, org, the key's per-model limit, the end
/// user.
const LEVELS_MAX: usize = 6;

/// What a request asks of its key's limits.
pub struct Ask<'a> {
    /// The model name the client sent (per-model limits are by this name).
    pub model: &'a [u8],
    pub end_user: Option<Arc<NodeState>>,
    /// Token units for TPM: the prompt estimate plus the output allowance.
    pub tokens: u64,
    /// The worst-case cost; `None`: no price is known for some deployment.
    pub cost: Option<Pusd>,
}

/// An admitted request's hold on its counters, given back by [`settle`].
pub struct Ticket {
    pub key: usize,
    model_limit: Option<usize>,
    end_user: Option<Arc<NodeState>>,
    pub tokens: u64,
    pub reserved: Pusd,
    /// Bit i: path level i (key, user, team, org) holds an in-flight slot.
    gauges: u8,
    /// Bit i: path level i holds the budget reservation.
    budgets: u8,
    /// The tightest request and token quotas after admission, for the response headers.
    pub requests: Option<Quota>,
    pub token_quota: Option<Quota>,
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    Requests,
    Tokens,
    Concurrency,
}

pub enum Refusal {
    /// A rate or concurrency limit; `level` names who (`key ci`, `team ml`, ...).
    Limit {
        dim: Dim,
        level: String,
        limit: u64,
        retry_after: Nanos,
        /// The quota of the refused level, for the response headers.
        quota: Quota,
    },
    Budget {
        level: String,
        exceeded: BudgetExceeded,
    },
    /// A budgeted key, and no price is known for the model.
    PriceUnknown,
}

fn level_name(n: &Node) -> String {
    format!("{} {}", n.kind.name(), n.id)
}

/// The path's nodes (key, user, team, org), as an array of present ones and a count.
fn path<'d>(dir: &'d Directory, k: &KeyPolicy) -> ([&'d Node; 4], usize) {
    let first = &dir.nodes[k.node];
    let mut out = [first; 4];
    let mut n = 1;
    for &p in k.parents.iter().flatten() {
        out[n] = &dir.nodes[p];
        n += 1;
    }
    (out, n)
}

/// One level's bucket, its spec and the units to take.
type RateRow<'d> = (&'d Rate, RateSpec, u64);
/// A dimension's rows, each row's level, and how many rows are real.
type Rows<'d> = ([RateRow<'d>; LEVELS_MAX], [u8; LEVELS_MAX], usize);

/// The (rate, spec, units) items of one dimension, and for each the level it belongs
/// to (path index 0..4, 4 = model limit, 5 = end user).
fn rate_items<'d>(
    nodes: &[&'d Node],
    model: Option<(&'d NodeState, Option<RateSpec>)>,
    end_user: Option<(&'d NodeState, Option<RateSpec>)>,
    tokens: bool,
    n: u64,
) -> Rows<'d> {
    let pick = |s: &'d NodeState| if tokens { &s.tokens } else { &s.requests };
    let mut rows: [Option<(&'d Rate, RateSpec)>; LEVELS_MAX] = [None; LEVELS_MAX];
    for (i, node) in nodes.iter().enumerate() {
        let spec = if tokens { node.tpm } else { node.rpm };
        rows[i] = spec.map(|s| (pick(&node.state), s));
    }
    for (slot, extra) in [(4, model), (5, end_user)] {
        if let Some((st, Some(spec))) = extra {
            rows[slot] = Some((pick(st), spec));
        }
    }
    let filler = rows.iter().flatten().next().copied();
    let mut items = [(filler.map_or(&DUMMY, |f| f.0), RateSpec::per_minute(1), 0); LEVELS_MAX];
    let mut levels = [0u8; LEVELS_MAX];
    let mut count = 0;
    for (lvl, row) in rows.iter().enumerate() {
        if let Some((rate, spec)) = row {
            items[count] = (rate, *spec, n);
            levels[count] = lvl as u8;
            count += 1;
        }
    }
    (items, levels, count)
}

/// Stands in for absent rows of a fixed array; never taken from (its rows are cut off).
static DUMMY: Rate = Rate::new();

fn name_of(dir: &Directory, k: &KeyPolicy, level: u8, nodes: &[&Node]) -> String {
    match level {
        0..=3 => level_name(nodes[level as usize]),
        4 => format!("key {} model limit", dir.nodes[k.node].id),
        _ => format!("key {} end user", dir.nodes[k.node].id),
    }
}

/// Admit a request or say which limit refuses it.
pub fn admit(
    dir: &Directory,
    key: usize,
    ask: Ask<'_>,
    now: Nanos,
    now_unix: u64,
) -> Result<Ticket, Refusal> {
    let k = &dir.keys[key];
    let (nodes, n) = path(dir, k);
    let nodes = &nodes[..n];
    let model_limit = k
        .model_limits
        .iter()
        .position(|l| l.model.as_bytes() == ask.model);
    let ml = model_limit.map(|i| &k.model_limits[i]);
    let eu = ask.end_user.as_deref();
    let eu_policy = k.end_user.as_ref();

    // Requests.
    let (items, levels, count) = rate_items(
        nodes,
        ml.map(|l| (&*l.state, l.rpm)),
        eu.zip(eu_policy).map(|(s, p)| (s, p.rpm)),
        false,
        1,
    );
    let requests = match take_all(&items[..count], now) {
        Ok(q) => (count > 0).then_some(q),
        Err((i, e)) => {
            return Err(limit_refusal(
                dir,
                k,
                nodes,
                Dim::Requests,
                levels[i],
                e,
                &items[i],
            ))
        }
    };
    let undo_requests = || {
        for (rate, spec, units) in &items[..count] {
            rate.refund(*spec, *units, now);
        }
    };
    // Tokens.
    let (titems, tlevels, tcount) = rate_items(
        nodes,
        ml.map(|l| (&*l.state, l.tpm)),
        eu.zip(eu_policy).map(|(s, p)| (s, p.tpm)),
        true,
        ask.tokens,
    );
    let token_quota = match take_all(&titems[..tcount], now) {
        Ok(q) => (tcount > 0).then_some(q),
        Err((i, e)) => {
            undo_requests();
            return Err(limit_refusal(
                dir,
                k,
                nodes,
                Dim::Tokens,
                tlevels[i],
                e,
                &titems[i],
            ));
        }
    };
    let undo_tokens = || {
        for (rate, spec, units) in &titems[..tcount] {
            rate.refund(*spec, *units, now);
        }
    };
    // Everything taken so far goes back, in-flight slots included.
    let undo = |gauges: u8| {
        release_gauges(nodes, gauges);
        undo_tokens();
        undo_requests();
    };
    // Requests in flight.
    let mut gauges = 0u8;
    for (i, node) in nodes.iter().enumerate() {
        if let Some(max) = node.max_concurrency {
            if !node.state.inflight.try_acquire(max) {
                undo(gauges);
                return Err(Refusal::Limit {
                    dim: Dim::Concurrency,
                    level: level_name(node),
                    limit: u64::from(max),
                    retry_after: 1_000_000_000,
                    quota: Quota {
                        limit: u64::from(max),
                        remaining: 0,
                        reset: 0,
                    },
                });
            }
            gauges |= 1 << i;
        }
    }
    // Budgets.
    let mut budgets = 0u8;
    let mut reserved = 0;
    if k.budgeted {
        let Some(cost) = ask.cost else {
            undo(gauges);
            return Err(Refusal::PriceUnknown);
        };
        // INVARIANT: `budgeted` means some level on the path has a budget.
        let mut at = [0usize; 4];
        let mut count = 0;
        for (i, n) in nodes.iter().enumerate() {
            if n.budget.is_some() {
                at[count] = i;
                count += 1;
            }
        }
        let entry = |i: usize| -> (&Budget, &BudgetSpec) {
            let n = nodes[i];
            (
                &n.state.budget,
                n.budget.as_ref().expect("a level with a budget"),
            )
        };
        let mut items = [entry(at[0]); 4];
        for (slot, &i) in at[..count].iter().enumerate() {
            items[slot] = entry(i);
            budgets |= 1 << i;
        }
        if let Err((i, exceeded)) = reserve_all(&items[..count], cost, now_unix) {
            undo(gauges);
            return Err(Refusal::Budget {
                level: level_name(nodes[at[i]]),
                exceeded,
            });
        }
        reserved = cost;
    }
    Ok(Ticket {
        key,
        model_limit,
        end_user: ask.end_user,
        tokens: ask.tokens,
        reserved,
        gauges,
        budgets,
        requests,
        token_quota,
    })
}

fn limit_refusal(
    dir: &Directory,
    k: &KeyPolicy,
    nodes: &[&Node],
    dim: Dim,
    level: u8,
    e: Exceeded,
    item: &(&Rate, RateSpec, u64),
) -> Refusal {
    Refusal::Limit {
        dim,
        level: name_of(dir, k, level, nodes),
        limit: e.limit,
        retry_after: e.retry_after,
        quota: Quota {
            limit: item.1.limit,
            remaining: 0,
            reset: e.reset,
        },
    }
}

fn release_gauges(nodes: &[&Node], mask: u8) {
    for (i, n) in nodes.iter().enumerate() {
        if mask & (1 << i) != 0 {
            n.state.inflight.release();
        }
    }
}

/// How a request ended, for settlement.
pub struct Outcome {
    /// Input + output tokens the provider reported.
    pub tokens: Option<u64>,
    /// The real cost, when usage and the answering deployment's price are known.
    pub cost: Option<Pusd>,
    /// Whether the provider did the work (a 2xx answer reached the client).
    pub served: bool,
}

/// A soft budget threshold crossed for the first time in its period.
pub struct Crossed {
    pub node: usize,
    pub percent: u8,
}

/// Give back what admission held, charging the real usage. Returns the cost charged and
/// any soft thresholds crossed.
pub fn settle(
    dir: &Directory,
    t: &Ticket,
    out: &Outcome,
    now: Nanos,
    now_unix: u64,
    crossed: &mut Vec<Crossed>,
) -> Pusd {
    let k = &dir.keys[t.key];
    let (nodes, n) = path(dir, k);
    let nodes = &nodes[..n];
    release_gauges(nodes, t.gauges);
    // Tokens: correct the estimate to what was used; a failure used nothing we know of;
    // a success without reported usage keeps the estimate.
    let used = match (out.tokens, out.served) {
        (Some(u), _) => u,
        (None, false) => 0,
        (None, true) => t.tokens,
    };
    if used != t.tokens {
        let ml = t.model_limit.map(|i| &k.model_limits[i]);
        let eu = t.end_user.as_deref().zip(k.end_user.as_ref());
        let (items, _, count) = rate_items(
            nodes,
            ml.map(|l| (&*l.state, l.tpm)),
            eu.map(|(s, p)| (s, p.tpm)),
            true,
            0,
        );
        for (rate, spec, _) in &items[..count] {
            if used > t.tokens {
                rate.charge(*spec, used - t.tokens, now);
            } else {
                rate.refund(*spec, t.tokens - used, now);
            }
        }
    }
    if t.budgets == 0 {
        return out.cost.unwrap_or(0);
    }
    let actual = match (out.cost, out.served) {
        (Some(c), _) => c,
        (None, false) => 0,
        // Served but the cost is unknown (no usage in the answer): charge the
        // reservation rather than nothing.
        (None, true) => t.reserved,
    };
    for (i, node) in nodes.iter().enumerate() {
        if t.budgets & (1 << i) == 0 {
            continue;
        }
        let spec = node.budget.as_ref().expect("a reserved level has a budget");
        let fired = if actual == 0 && !out.served {
            node.state.budget.release(t.reserved);
            0
        } else {
            node.state.budget.settle(spec, t.reserved, actual, now_unix)
        };
        for (bit, &p) in spec.soft_percent.iter().enumerate() {
            if fired & (1 << bit) != 0 {
                crossed.push(Crossed {
                    node: k_node(k, i),
                    percent: p,
                });
            }
        }
    }
    actual
}

fn k_node(k: &KeyPolicy, level: usize) -> usize {
    if level == 0 {
        k.node
    } else {
        k.parents[level - 1].expect("a level on the path")
    }
}
