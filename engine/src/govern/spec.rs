//! The written form of orgs, teams, users and keys: one serde shape shared by the config
//! file (`[[orgs]]`, `[[teams]]`, `[[users]]`, `[[keys]]`), the admin API's bodies and
//! the rows of the data directory. [`super::directory`] compiles these into the runtime
//! directory; nothing here is read per request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::budget::{usd_to_pusd, BudgetSpec, Period};
use super::limit::RateSpec;

/// Which level of the hierarchy an entity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Org,
    Team,
    User,
    Key,
}

impl Kind {
    /// Parents before children.
    pub const ALL: [Kind; 4] = [Kind::Org, Kind::Team, Kind::User, Kind::Key];

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Org => "org",
            Kind::Team => "team",
            Kind::User => "user",
            Kind::Key => "key",
        }
    }

    /// The admin API's collection name.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Org => "orgs",
            Kind::Team => "teams",
            Kind::User => "users",
            Kind::Key => "keys",
        }
    }

    pub fn from_plural(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == s)
    }
}

/// Where an entity was declared: config ones are read-only through the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Api,
}

/// A budget as written: `{usd = 100, period = "monthly", soft = [80, 95]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetDoc {
    pub usd: f64,
    #[serde(default = "monthly")]
    pub period: String,
    #[serde(default)]
    pub soft: Vec<u8>,
}

fn monthly() -> String {
    "monthly".into()
}

/// Per-model limits inside a key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelLimitDoc {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

/// End users behind a key (an application's own users): where their identity comes from
/// and their limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndUserDoc {
    /// `user` (the request's OpenAI `user` member, or Anthropic's `metadata.user_id`) or
    /// `header:NAME`.
    #[serde(default = "user_member")]
    pub from: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
}

fn user_member() -> String {
    "user".into()
}

/// One org, team, user or key. Members that do not apply to the kind are refused by
/// [`Doc::check`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Doc {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A team's org.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// A user's team, or a key's team when it has no user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A key's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetDoc>,
    // Keys only.
    /// Model names or patterns ending in `*`; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// `chat`, `completions`, `embeddings`, `messages`, `responses`, `models`; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_limits: BTreeMap<String, ModelLimitDoc>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Routing constraints: deployments must carry these tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user: Option<EndUserDoc>,
    /// Config: the secret as a reference (`env:NAME`, `file:PATH`) or literal. Never
    /// stored, never returned.
    #[serde(default, skip_serializing)]
    pub key: Option<String>,
    /// SHA-256 of the secret, hex (data directory only; never returned by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The rotated-out secret's hash and when it stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_valid_until: Option<u64>,
    /// The first characters of the secret, for listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
}

/// Entity ids: what a URL path segment and a CSV cell can carry unescaped.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Members only the gateway sets (secret material and bookkeeping): never taken from an
/// admin API body.
pub const GATEWAY_SET: [&str; 7] = [
    "key",
    "hash",
    "old_hash",
    "old_valid_until",
    "prefix",
    "revoked",
    "created_at",
];

pub const ROUTES: [&str; 6] = [
    "chat",
    "completions",
    "embeddings",
    "messages",
    "responses",
    "models",
];

/// Tokens per minute and requests per minute as rate specs; 0 is refused by `check`.
pub fn per_minute(n: Option<u64>) -> Option<RateSpec> {
    n.map(RateSpec::per_minute)
}

impl BudgetDoc {
    pub fn compile(&self) -> Result<BudgetSpec, String> {
        let limit = usd_to_pusd(self.usd).ok_or_else(|| {
            format!(
                "budget.usd must be a number from 0 to 10000000, not {}",
                self.usd
            )
        })?;
        let period = Period::parse(&self.period).map_err(|e| format!("budget.period: {e}"))?;
        let mut soft = self.soft.clone();
        soft.sort_unstable();
        soft.dedup();
        if soft.iter().any(|&p| p == 0 || p > 99) || soft.len() > 8 {
            return Err("budget.soft takes up to 8 percentages from 1 to 99".into());
        }
        Ok(BudgetSpec {
            limit,
            period,
            soft_percent: soft.into(),
        })
    }
}

impl Doc {
    /// Kind-specific validation: which members apply, ids, limits. The parents' existence
    /// is checked by the directory build.
    pub fn check(&self, kind: Kind) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err(format!(
                "{} id {:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -",
                kind.name(),
                self.id
            ));
        }
        let not_for = |what: &str, set: bool| {
            if set {
                Err(format!("{what} does not apply to a {}", kind.name()))
            } else {
                Ok(())
            }
        };
        match kind {
            Kind::Org => {
                not_for("org", self.org.is_some())?;
                not_for("team", self.team.is_some())?;
                not_for("user", self.user.is_some())?;
            }
            Kind::Team => {
                not_for("team", self.team.is_some())?;
                not_for("user", self.user.is_some())?;
            }
            Kind::User => {
                not_for("org", self.org.is_some())?;
                not_for("user", self.user.is_some())?;
            }
            Kind::Key => {
                let parents = [&self.user, &self.team, &self.org]
                    .iter()
                    .filter(|p| p.is_some())
                    .count();
                if parents > 1 {
                    return Err(
                        "a key names one of user, team or org (the rest follow from it)".into(),
                    );
                }
            }
        }
        if kind != Kind::Key {
            not_for("models", self.models.is_some())?;
            not_for("routes", self.routes.is_some())?;
            not_for("model_limits", !self.model_limits.is_empty())?;
            not_for("expires_at", self.expires_at.is_some())?;
            not_for("tags", !self.tags.is_empty())?;
            not_for("end_user", self.end_user.is_some())?;
            not_for("key", self.key.is_some())?;
        }
        for (what, v) in [("rpm", self.rpm), ("tpm", self.tpm)] {
            if v == Some(0) {
                return Err(format!(
                    "{what} must be at least 1 (leave it out for no limit)"
                ));
            }
        }
        if self.max_concurrency == Some(0) {
            return Err("max_concurrency must be at least 1 (leave it out for no limit)".into());
        }
        if let Some(b) = &self.budget {
            b.compile()?;
        }
        if let Some(routes) = &self.routes {
            if let Some(r) = routes.iter().find(|r| !ROUTES.contains(&r.as_str())) {
                return Err(format!("unknown route {r:?}: one of {}", ROUTES.join(", ")));
            }
        }
        for (m, l) in &self.model_limits {
            if l.rpm == Some(0) || l.tpm == Some(0) {
                return Err(format!("model_limits.{m}: rpm and tpm must be at least 1"));
            }
        }
        if let Some(e) = &self.end_user {
            if e.from != "user" && e.from.strip_prefix("header:").is_none_or(str::is_empty) {
                return Err(format!(
                    "end_user.from {:?}: `user` or `header:NAME`",
                    e.from
                ));
            }
            if e.rpm == Some(0) || e.tpm == Some(0) {
                return Err("end_user: rpm and tpm must be at least 1".into());
            }
        }
        Ok(())
    }

    /// The form the admin API returns: no secret material.
    pub fn public(&self) -> Doc {
        let mut d = self.clone();
        d.key = None;
        d.hash = None;
        d.old_hash = None;
        d
    }

    /// Apply a JSON merge patch (RFC 7396: members present replace, `null` clears);
    /// `id` and secret material cannot change this way.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Doc, String> {
        let serde_json::Value::Object(p) = patch else {
            return Err("the body must be a JSON object".into());
        };
        for k in std::iter::once("id").chain(GATEWAY_SET) {
            if p.contains_key(k) {
                return Err(format!("{k} cannot be changed with PATCH"));
            }
        }
        let mut v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        merge_patch(&mut v, patch);
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}

/// RFC 7396: objects merge member by member, recursively; `null` removes; anything else
/// replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
        }
    }
}
