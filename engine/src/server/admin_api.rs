//! The admin API under `/admin/`: CRUD for orgs, teams, users and keys, key rotation
//! and revocation, budgets, and spend reports. Bearer-authenticated with the config's
//! `admin.key`; JSON in and out, errors OpenAI-shaped. Runs on the admin thread, never
//! on a worker. The full surface is written down in README's "Admin API" section.

use serde_json::{json, Value};

use super::control::{not_found, ApiError};
use super::Shared;
use crate::govern::secret;
use crate::govern::spec::{Doc, Kind, Source, GATEWAY_SET};
use crate::store::report;

/// Largest admin request body.
pub const ADMIN_BODY_BYTES_MAX: u64 = 1 << 20;
/// Default grace period of a rotated-out secret.
const ROTATE_GRACE_DEFAULT_S: u64 = 3600;
/// Longest grace period (30 days).
const ROTATE_GRACE_MAX_S: u64 = 30 * 86_400;

pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

fn ok(status: u16, v: Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: v.to_string().into_bytes(),
    }
}

fn fail(e: ApiError) -> Answer {
    let kind = match e.status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    ok(
        e.status,
        json!({"error": {"message": e.message, "type": kind, "param": null, "code": e.code}}),
    )
}

/// Answer one `/admin/...` request. `bearer`: the Authorization header's value.
pub fn handle(
    shared: &Shared,
    method: &str,
    target: &str,
    bearer: Option<&[u8]>,
    body: &[u8],
) -> Answer {
    match authorize(shared, bearer).and_then(|()| route(shared, method, target, body)) {
        Ok(a) => a,
        Err(e) => fail(e),
    }
}

fn authorize(shared: &Shared, header: Option<&[u8]>) -> Result<(), ApiError> {
    let Some(want) = &shared.admin_key else {
        return Err(ApiError::new(
            403,
            "admin_disabled",
            "the admin API is off: set [admin] key in the config",
        ));
    };
    let presented = header
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
                .map(|_| &v[7..])
        })
        .map(<[u8]>::trim_ascii);
    match presented {
        Some(p) if secret::ct_eq(&secret::hash(p), want) => Ok(()),
        Some(_) => Err(ApiError::new(
            401,
            "invalid_admin_key",
            "incorrect admin key",
        )),
        None => Err(ApiError::new(
            401,
            "missing_admin_key",
            "send Authorization: Bearer <admin key>",
        )),
    }
}

fn route(shared: &Shared, method: &str, target: &str, body: &[u8]) -> Result<Answer, ApiError> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path
        .trim_start_matches("/admin/")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (method, parts.as_slice()) {
        ("GET", ["budgets"]) => Ok(budgets(shared)),
        ("GET", ["spend"]) => spend(shared, query),
        ("GET", ["cache"]) => Ok(ok(200, cache_on(shared)?.stats_json())),
        ("DELETE", ["cache"]) => purge_cache(shared, query),
        ("POST", ["cache", "snapshot"]) => {
            let c = cache_on(shared)?;
            if !c.persistent() {
                return Err(ApiError::new(
                    409,
                    "no_data_directory",
                    "cache snapshots need a data directory ([data] dir)",
                ));
            }
            let bytes = c
                .save()
                .map_err(|e| ApiError::new(500, "snapshot_failed", e.to_string()))?;
            Ok(ok(200, json!({ "saved_bytes": bytes })))
        }
        ("POST", ["keys", id, "rotate"]) => rotate(shared, id, body),
        ("POST", ["keys"]) => create_key(shared, body),
        ("DELETE", ["keys", id]) => revoke(shared, id),
        (m, [coll, rest @ ..]) => {
            let kind = Kind::from_plural(coll).ok_or_else(unknown)?;
            match (m, rest) {
                ("GET", []) => Ok(list(shared, kind, query)),
                ("POST", []) => create(shared, kind, body),
                ("GET", [id]) => get(shared, kind, id),
                ("PATCH", [id]) => patch(shared, kind, id, body),
                ("DELETE", [id]) => {
                    shared.control().delete(&shared.gov, kind, id)?;
                    Ok(ok(200, json!({"id": id, "deleted": true})))
                }
                _ => Err(unknown()),
            }
        }
        _ => Err(unknown()),
    }
}

fn unknown() -> ApiError {
    ApiError::new(
        404,
        "unknown_url",
        "unknown admin URL (see README: Admin API)",
    )
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, "invalid_json", format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::new(
            400,
            "invalid_json",
            "the body must be a JSON object",
        ));
    }
    Ok(v)
}

fn to_doc(v: Value) -> Result<Doc, ApiError> {
    serde_json::from_value(v).map_err(|e| ApiError::new(400, "invalid_request", e.to_string()))
}

fn public(doc: &Doc, source: Source) -> Value {
    let mut v = serde_json::to_value(doc.public()).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "source".into(),
            serde_json::to_value(source).unwrap_or(Value::Null),
        );
        if doc.hash.is_some() || doc.revoked {
            o.insert("revoked".into(), Value::Bool(doc.revoked));
        }
    }
    v
}

fn list(shared: &Shared, kind: Kind, query: &str) -> Answer {
    let dir = shared.gov.load();
    let filters: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    let data: Vec<Value> = dir
        .docs
        .iter()
        .filter(|((k, _), _)| *k == kind)
        .filter(|((_, id), _)| {
            // Filters (`?user=`, `?team=`, `?org=`) apply to keys, by their path.
            kind != Kind::Key
                || filters.iter().all(|(f, want)| {
                    let Some(k) = dir
                        .keys
                        .iter()
                        .find(|p| &*dir.nodes[p.node].id == id.as_str())
                    else {
                        return false;
                    };
                    dir.path(k).any(|n| n.kind.name() == *f && &*n.id == *want)
                })
        })
        .map(|(_, (d, s))| public(d, *s))
        .collect();
    ok(200, json!({ "data": data }))
}

fn get(shared: &Shared, kind: Kind, id: &str) -> Result<Answer, ApiError> {
    let dir = shared.gov.load();
    let (d, s) = dir
        .docs
        .get(&(kind, id.to_string()))
        .ok_or_else(|| not_found(kind, id))?;
    Ok(ok(200, public(d, *s)))
}

fn create(shared: &Shared, kind: Kind, body: &[u8]) -> Result<Answer, ApiError> {
    if kind == Kind::Key {
        return create_key(shared, body);
    }
    let doc = to_doc(parse_body(body)?)?;
    if shared.gov.load().docs.contains_key(&(kind, doc.id.clone())) {
        return Err(ApiError::new(
            409,
            "already_exists",
            format!("{} {} exists (PATCH changes it)", kind.name(), doc.id),
        ));
    }
    let mut doc = doc;
    doc.created_at = Some(crate::conn::unix_now());
    let doc = shared.control().put(&shared.gov, kind, doc)?;
    Ok(ok(201, public(&doc, Source::Api)))
}

fn patch(shared: &Shared, kind: Kind, id: &str, body: &[u8]) -> Result<Answer, ApiError> {
    let v = parse_body(body)?;
    let dir = shared.gov.load();
    let (current, _) = dir
        .docs
        .get(&(kind, id.to_string()))
        .ok_or_else(|| not_found(kind, id))?;
    let next = current
        .patched(&v)
        .map_err(|e| ApiError::new(400, "invalid_request", e))?;
    let doc = shared.control().put(&shared.gov, kind, next)?;
    Ok(ok(200, public(&doc, Source::Api)))
}

fn create_key(shared: &Shared, body: &[u8]) -> Result<Answer, ApiError> {
    let mut v = parse_body(body)?;
    let now = crate::conn::unix_now();
    let obj = v.as_object_mut().expect("checked to be an object");
    for k in GATEWAY_SET {
        if obj.contains_key(k) {
            return Err(ApiError::new(
                400,
                "invalid_request",
                format!("{k} is set by the gateway"),
            ));
        }
    }
    if let Some(e) = obj.remove("expires_in") {
        let secs = e
            .as_str()
            .and_then(|s| crate::cli::duration_secs(s).ok())
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "invalid_request",
                    "expires_in: like \"30d\", \"12h\", \"90m\"",
                )
            })?;
        obj.insert("expires_at".into(), json!(now + secs));
    }
    if !obj.contains_key("id") {
        obj.insert("id".into(), json!(secret::random_id("key_")));
    }
    let mut doc = to_doc(v)?;
    if shared
        .gov
        .load()
        .docs
        .contains_key(&(Kind::Key, doc.id.clone()))
    {
        return Err(ApiError::new(
            409,
            "already_exists",
            format!("key {} exists", doc.id),
        ));
    }
    let key = secret::generate();
    doc.hash = Some(secret::to_hex(&secret::hash(key.as_bytes())));
    doc.prefix = Some(secret::shown(&key));
    doc.created_at = Some(now);
    let doc = shared.control().put(&shared.gov, Kind::Key, doc)?;
    let mut out = public(&doc, Source::Api);
    out["key"] = json!(key);
    Ok(ok(201, out))
}

fn rotate(shared: &Shared, id: &str, body: &[u8]) -> Result<Answer, ApiError> {
    let grace = if body.is_empty() {
        ROTATE_GRACE_DEFAULT_S
    } else {
        match parse_body(body)?.get("grace_seconds") {
            None => ROTATE_GRACE_DEFAULT_S,
            Some(g) => g
                .as_u64()
                .filter(|&g| g <= ROTATE_GRACE_MAX_S)
                .ok_or_else(|| {
                    ApiError::new(400, "invalid_request", "grace_seconds: 0 to 2592000")
                })?,
        }
    };
    let dir = shared.gov.load();
    let (current, _) = dir
        .docs
        .get(&(Kind::Key, id.to_string()))
        .ok_or_else(|| not_found(Kind::Key, id))?;
    if current.revoked {
        return Err(ApiError::new(
            409,
            "revoked",
            format!("key {id} is revoked"),
        ));
    }
    let mut doc = current.clone();
    let key = secret::generate();
    doc.old_hash = doc.hash.take().filter(|_| grace > 0);
    doc.old_valid_until = doc
        .old_hash
        .as_ref()
        .map(|_| crate::conn::unix_now() + grace);
    doc.hash = Some(secret::to_hex(&secret::hash(key.as_bytes())));
    doc.prefix = Some(secret::shown(&key));
    let doc = shared.control().put(&shared.gov, Kind::Key, doc)?;
    let mut out = public(&doc, Source::Api);
    out["key"] = json!(key);
    Ok(ok(200, out))
}

fn revoke(shared: &Shared, id: &str) -> Result<Answer, ApiError> {
    let dir = shared.gov.load();
    let (current, _) = dir
        .docs
        .get(&(Kind::Key, id.to_string()))
        .ok_or_else(|| not_found(Kind::Key, id))?;
    let mut doc = current.clone();
    doc.revoked = true;
    doc.old_hash = None;
    doc.old_valid_until = None;
    shared.control().put(&shared.gov, Kind::Key, doc)?;
    Ok(ok(200, json!({"id": id, "revoked": true})))
}

fn budgets(shared: &Shared) -> Answer {
    let dir = shared.gov.load();
    let now = crate::conn::unix_now();
    let usd = crate::govern::budget::pusd_to_usd;
    let data: Vec<Value> = dir
        .nodes
        .iter()
        .filter_map(|n| {
            let spec = n.budget.as_ref()?;
            let v = n.state.budget.view(spec, now);
            Some(json!({
                "scope": n.kind.name(), "id": &*n.id,
                "limit_usd": usd(v.limit), "spent_usd": usd(v.settled),
                "reserved_usd": usd(v.reserved), "period": spec.period.name(),
                "period_start": v.period_start,
                "period_end": (v.period_end != u64::MAX).then_some(v.period_end),
            }))
        })
        .collect();
    ok(200, json!({ "data": data }))
}

fn cache_on(shared: &Shared) -> Result<&crate::caching::Caching, ApiError> {
    shared.cache.as_ref().ok_or_else(|| {
        ApiError::new(
            409,
            "cache_off",
            "the response cache is off ([cache] enabled)",
        )
    })
}

/// `DELETE /admin/cache[?key=|team=|org=ID][&model=NAME]`: drop the answers of a tenant
/// (a team or org includes its keys' own answers), of a model, or all of them.
fn purge_cache(shared: &Shared, query: &str) -> Result<Answer, ApiError> {
    let c = cache_on(shared)?;
    let mut tenant: Option<(Kind, &str)> = None;
    let mut model = None;
    for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
        let kind = match k {
            "key" => Kind::Key,
            "team" => Kind::Team,
            "org" => Kind::Org,
            "model" => {
                model = Some(v);
                continue;
            }
            _ => {
                return Err(ApiError::new(
                    400,
                    "invalid_request",
                    format!("unknown parameter {k:?}: key, team, org or model"),
                ))
            }
        };
        if tenant.replace((kind, v)).is_some() {
            return Err(ApiError::new(
                400,
                "invalid_request",
                "name one tenant: key, team or org",
            ));
        }
    }
    let scopes = tenant.map(|(kind, id)| {
        // Answers are scoped by key, team or org (the `scope` setting): every scope
        // string under this tenant.
        let dir = shared.gov.load();
        let mut set = std::collections::HashSet::new();
        let tag = |k: Kind| match k {
            Kind::Team => 't',
            Kind::Org => 'o',
            _ => 'k',
        };
        set.insert(format!("{}:{id}", tag(kind)));
        for k in dir.keys.iter() {
            let nodes = std::iter::once(k.node)
                .chain(k.parents.iter().flatten().copied())
                .map(|i| &dir.nodes[i]);
            let under = nodes.clone().any(|n| n.kind == kind && &*n.id == id);
            if under {
                for n in nodes.filter(|n| n.kind == Kind::Key || n.kind == Kind::Team) {
                    set.insert(format!("{}:{}", tag(n.kind), n.id));
                }
            }
        }
        set
    });
    let purged = c.purge(scopes.as_ref(), model);
    Ok(ok(200, json!({ "purged": purged })))
}

fn spend(shared: &Shared, query: &str) -> Result<Answer, ApiError> {
    let (q, csv) = report::parse_query(query, crate::conn::unix_now())
        .map_err(|e| ApiError::new(400, "invalid_request", e))?;
    // Everything workers hold goes to the ledger first, so the report includes it.
    shared.flush_ledger();
    let control = shared.control();
    let Some(store) = &control.store else {
        return Err(ApiError::new(
            409,
            "no_data_directory",
            "spend reports need a data directory ([data] dir)",
        ));
    };
    let rows = store
        .report(&q)
        .map_err(|e| ApiError::new(500, "store_failed", e.to_string()))?;
    Ok(if csv {
        Answer {
            status: 200,
            content_type: "text/csv",
            body: report::to_csv(&q, &rows).into_bytes(),
        }
    } else {
        Answer {
            status: 200,
            content_type: "application/json",
            body: report::to_json(&q, &rows).into_bytes(),
        }
    })
}
