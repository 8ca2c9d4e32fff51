//! The runtime directory: every org, team, user and key compiled for the request path,
//! and the shared counters behind them.
//!
//! A `Directory` is immutable. The control plane (config load, the admin API) builds a
//! new one and publishes it with an atomic pointer swap; each worker notices the new
//! version on its next request (one relaxed load), so a revocation or a change reaches
//! every core at once, well within the one second the issue allows. The counters — rate
//! buckets, in-flight gauges, budgets — live in `Arc<NodeState>`s that a rebuild carries
//! over by (kind, id), so changing a key's limit does not reset what it has used.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use super::budget::{Budget, BudgetSpec};
use super::limit::{Gauge, Rate, RateSpec};
use super::secret::{self, Hash};
use super::spec::{per_minute, Doc, Kind, Source, ROUTES};
use crate::config::Snapshot;

/// One entity's counters, shared by every core. Each member is cache-line aligned by
/// its own type, so cores updating different counters do not contend.
#[derive(Default)]
pub struct NodeState {
    pub requests: Rate,
    pub tokens: Rate,
    pub inflight: Gauge,
    pub budget: Budget,
}

/// An org, team, user or key: its limits and its counters.
pub struct Node {
    pub kind: Kind,
    pub id: Arc<str>,
    pub rpm: Option<RateSpec>,
    pub tpm: Option<RateSpec>,
    pub max_concurrency: Option<u32>,
    pub budget: Option<BudgetSpec>,
    pub state: Arc<NodeState>,
}

/// Per-model limits inside a key.
pub struct ModelLimit {
    pub model: Box<str>,
    pub rpm: Option<RateSpec>,
    pub tpm: Option<RateSpec>,
    pub state: Arc<NodeState>,
}

pub enum EndUserFrom {
    /// The request's `user` member.
    Member,
    /// A request header (lower-case name).
    Header(Box<str>),
}

pub struct EndUserPolicy {
    pub from: EndUserFrom,
    pub rpm: Option<RateSpec>,
    pub tpm: Option<RateSpec>,
}

/// A key as the request path uses it.
pub struct KeyPolicy {
    /// Its own node, in `Directory::nodes`.
    pub node: usize,
    /// The user, team and org nodes above it (absent levels are `None`).
    pub parents: [Option<usize>; 3],
    /// Allowed model names (a trailing `*` is a prefix); `None`: all.
    pub models: Option<Box<[Box<str>]>>,
    /// Bit i: `spec::ROUTES[i]` is allowed.
    pub routes: u8,
    pub model_limits: Box<[ModelLimit]>,
    pub expires_at: Option<u64>,
    /// Tags the key's requests require of deployments; `None`: a tag no deployment
    /// carries (every routed request is refused with `no_matching_deployment`).
    pub required_tags: Option<u64>,
    pub end_user: Option<EndUserPolicy>,
    /// Whether any level on the path has a budget (requests then need a known price).
    pub budgeted: bool,
}

/// A secret's hash maps to its key; a rotated-out secret carries its end of grace.
#[derive(Clone, Copy)]
struct SecretRef {
    key: usize,
    valid_until: Option<u64>,
}

/// (key id, end user) → counters.
type EndUserMap = HashMap<(Arc<str>, Box<str>), Arc<NodeState>>;

/// End users' counters: created on first sight, shared by every core, bounded.
#[derive(Default)]
pub struct EndUsers {
    map: RwLock<EndUserMap>,
}

/// Distinct (key, end user) pairs tracked at once. Past it, pairs whose buckets are full
/// again (idle for a minute) are dropped; if none are, new end users share one
/// overflow bucket per key rather than growing without bound.
pub const END_USERS_MAX: usize = 100_000;

impl EndUsers {
    pub fn get(&self, key: &Arc<str>, user: &[u8]) -> Arc<NodeState> {
        let user = String::from_utf8_lossy(&user[..user.len().min(256)]);
        if let Some(s) = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(key.clone(), Box::from(&*user)))
        {
            return s.clone();
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= END_USERS_MAX {
            // Only pairs nobody holds a reference to (no request in flight) can go.
            map.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let name: Box<str> = if map.len() >= END_USERS_MAX {
            "(overflow)".into()
        } else {
            Box::from(&*user)
        };
        map.entry((key.clone(), name)).or_default().clone()
    }
}

pub struct Directory {
    pub nodes: Vec<Node>,
    pub keys: Vec<KeyPolicy>,
    by_hash: HashMap<Hash, SecretRef>,
    /// What the directory was built from, for the admin API and rebuilds.
    pub docs: BTreeMap<(Kind, String), (Doc, Source)>,
    by_id: HashMap<(Kind, String), usize>,
    /// Each node's direct parent.
    parents: Vec<Option<usize>>,
    pub end_users: Arc<EndUsers>,
}

/// What authentication found for a presented secret.
pub enum Lookup {
    Key(usize),
    /// A rotated-out secret past its grace period.
    Expired,
    Unknown,
}

impl Directory {
    pub fn empty() -> Directory {
        Directory {
            nodes: Vec::new(),
            keys: Vec::new(),
            by_hash: HashMap::new(),
            docs: BTreeMap::new(),
            by_id: HashMap::new(),
            parents: Vec::new(),
            end_users: Arc::default(),
        }
    }

    /// Whether any virtual key exists (then requests must present one).
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    pub fn lookup(&self, presented: &[u8], now_unix: u64) -> Lookup {
        let h = secret::hash(presented);
        match self.by_hash.get(&h) {
            Some(r) => match r.valid_until {
                Some(t) if now_unix >= t => Lookup::Expired,
                _ => Lookup::Key(r.key),
            },
            None => Lookup::Unknown,
        }
    }

    pub fn node(&self, kind: Kind, id: &str) -> Option<&Node> {
        self.by_id
            .get(&(kind, id.to_string()))
            .map(|&i| &self.nodes[i])
    }

    /// The nodes on a key's path, key first.
    pub fn path<'a>(&'a self, k: &'a KeyPolicy) -> impl Iterator<Item = &'a Node> + 'a {
        std::iter::once(k.node)
            .chain(k.parents.iter().flatten().copied())
            .map(|i| &self.nodes[i])
    }

    /// Build from the written entities, carrying counters over from `old`. Errors name
    /// the entity and what is wrong (a missing parent, a bad limit).
    pub fn build(
        docs: BTreeMap<(Kind, String), (Doc, Source)>,
        old: Option<&Directory>,
        snap: &Snapshot,
    ) -> Result<Directory, String> {
        let mut d = Directory::empty();
        if let Some(o) = old {
            d.end_users = o.end_users.clone();
        }
        let carried = |kind: Kind, id: &str| -> Arc<NodeState> {
            old.and_then(|o| o.node(kind, id))
                .map(|n| n.state.clone())
                .unwrap_or_default()
        };
        // Parents before children: orgs, teams, users, then keys (the map's order).
        for ((kind, id), (doc, _)) in &docs {
            doc.check(*kind)
                .map_err(|e| format!("{} {id}: {e}", kind.name()))?;
            let parent = match kind {
                Kind::Org => None,
                Kind::Team => doc.org.as_deref().map(|o| (Kind::Org, o)),
                Kind::User => doc.team.as_deref().map(|t| (Kind::Team, t)),
                Kind::Key => doc
                    .user
                    .as_deref()
                    .map(|u| (Kind::User, u))
                    .or(doc.team.as_deref().map(|t| (Kind::Team, t)))
                    .or(doc.org.as_deref().map(|o| (Kind::Org, o))),
            };
            let mut parents = [None; 3];
            if let Some((pk, pid)) = parent {
                let &pi = d.by_id.get(&(pk, pid.to_string())).ok_or_else(|| {
                    format!("{} {id}: {} {pid:?} does not exist", kind.name(), pk.name())
                })?;
                // The parent's own path follows it: user → team → org.
                let mut at = Some(pi);
                let mut slot = 0;
                while let Some(i) = at {
                    parents[slot] = Some(i);
                    slot += 1;
                    at = d.parent_of(i);
                }
            }
            let node = Node {
                kind: *kind,
                id: Arc::from(id.as_str()),
                rpm: per_minute(doc.rpm),
                tpm: per_minute(doc.tpm),
                max_concurrency: doc.max_concurrency,
                budget: doc.budget.as_ref().map(|b| b.compile()).transpose()?,
                state: carried(*kind, id),
            };
            let index = d.nodes.len();
            d.nodes.push(node);
            d.by_id.insert((*kind, id.clone()), index);
            d.parents.push(parents[0]);
            if *kind == Kind::Key {
                let k = d.key_policy(index, parents, doc, snap, old)?;
                if !doc.revoked {
                    d.index_secrets(doc, d.keys.len())?;
                }
                d.keys.push(k);
            }
        }
        d.docs = docs;
        Ok(d)
    }

    fn parent_of(&self, i: usize) -> Option<usize> {
        self.parents[i]
    }

    fn key_policy(
        &self,
        node: usize,
        parents: [Option<usize>; 3],
        doc: &Doc,
        snap: &Snapshot,
        old: Option<&Directory>,
    ) -> Result<KeyPolicy, String> {
        let id = &doc.id;
        let routes = match &doc.routes {
            None => u8::MAX,
            Some(rs) => rs.iter().fold(0u8, |m, r| {
                m | ROUTES.iter().position(|x| x == r).map_or(0, |i| 1 << i)
            }),
        };
        let model_limits = doc
            .model_limits
            .iter()
            .map(|(m, l)| {
                let sid = format!("{id}/{m}");
                ModelLimit {
                    model: m.as_str().into(),
                    rpm: per_minute(l.rpm),
                    tpm: per_minute(l.tpm),
                    state: old.and_then(|o| o.model_state(&sid)).unwrap_or_default(),
                }
            })
            .collect();
        let required_tags = if doc.tags.is_empty() {
            Some(0)
        } else {
            let pairs: Vec<String> = doc.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            snap.tag_mask(pairs.iter().map(|p| p.as_bytes()))
        };
        let end_user = doc.end_user.as_ref().map(|e| EndUserPolicy {
            from: match e.from.strip_prefix("header:") {
                Some(h) => EndUserFrom::Header(h.to_ascii_lowercase().into()),
                None => EndUserFrom::Member,
            },
            rpm: per_minute(e.rpm),
            tpm: per_minute(e.tpm),
        });
        let budgeted = std::iter::once(node)
            .chain(parents.iter().flatten().copied())
            .any(|i| self.nodes[i].budget.is_some());
        Ok(KeyPolicy {
            node,
            parents,
            models: doc
                .models
                .as_ref()
                .map(|ms| ms.iter().map(|m| Box::from(m.as_str())).collect()),
            routes,
            model_limits,
            expires_at: doc.expires_at,
            required_tags,
            end_user,
            budgeted,
        })
    }

    fn model_state(&self, sid: &str) -> Option<Arc<NodeState>> {
        let (key, model) = sid.split_once('/')?;
        let k = self.by_id.get(&(Kind::Key, key.to_string()))?;
        let policy = self.keys.iter().find(|p| p.node == *k)?;
        policy
            .model_limits
            .iter()
            .find(|l| &*l.model == model)
            .map(|l| l.state.clone())
    }

    fn index_secrets(&mut self, doc: &Doc, key: usize) -> Result<(), String> {
        let id = &doc.id;
        let h = doc
            .hash
            .as_deref()
            .and_then(secret::from_hex)
            .ok_or_else(|| format!("key {id}: no valid secret hash"))?;
        if self
            .by_hash
            .insert(
                h,
                SecretRef {
                    key,
                    valid_until: None,
                },
            )
            .is_some()
        {
            return Err(format!("key {id}: the same secret is used by another key"));
        }
        if let (Some(old), Some(until)) = (
            doc.old_hash.as_deref().and_then(secret::from_hex),
            doc.old_valid_until,
        ) {
            self.by_hash.entry(old).or_insert(SecretRef {
                key,
                valid_until: Some(until),
            });
        }
        Ok(())
    }
}

impl KeyPolicy {
    pub fn allows_model(&self, name: &[u8]) -> bool {
        match &self.models {
            None => true,
            Some(ms) => ms.iter().any(|m| match m.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix.as_bytes()),
                None => m.as_bytes() == name,
            }),
        }
    }

    pub fn allows_route(&self, route: &str) -> bool {
        ROUTES
            .iter()
            .position(|r| *r == route)
            .is_some_and(|i| self.routes & (1 << i) != 0)
    }

    pub fn model_limit(&self, name: &[u8]) -> Option<&ModelLimit> {
        self.model_limits
            .iter()
            .find(|l| l.model.as_bytes() == name)
    }
}
