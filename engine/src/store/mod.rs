//! The data directory: one SQLite file (`sluice.db`) holding the run-time entities (orgs,
//! teams, users, keys created through the admin API) and the spend ledger.
//!
//! Why SQLite: entities created at run time and spend must survive restarts, several
//! processes (the gateway, a second gateway on the same host, an operator's `sqlite3`)
//! may read the file at once, and a crash must never leave it half-written. WAL mode gives
//! readers that never block the single writer, and `synchronous=NORMAL` in WAL mode keeps
//! every committed transaction across a process kill (only an OS crash or power loss can
//! drop the last commits), which is what "kill -9 loses at most one second" needs.
//!
//! Nothing here is on the request path: the engine loads entities once at start, writes
//! them on admin calls, and sends spend to the background writer in [`ledger`].
//!
//! Invariants:
//! - The store keeps entity bodies as opaque JSON text; only the engine knows their shape.
//! - `spend` has one row per (hour, key, user, team, org, model, provider); rows only ever
//!   grow by addition ([`Store::add_spend`]), so a report is a plain `SUM`.
//! - `hour` is a Unix time that is a multiple of [`HOUR_SECS`] (rounded down on write).
//! - The schema version lives in `PRAGMA user_version`; a file written by a newer sluice
//!   is refused rather than misread ([`StoreError::NewerSchema`]).
//! - Counters are SQLite signed 64-bit integers: a single stored value or a report sum
//!   above `i64::MAX` (9.2 million USD in picodollars) is clamped on write and is an error
//!   on read. One absurd delta must not wedge the writer, hence the clamp.

pub mod ledger;
pub mod report;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection};

pub use report::{Dim, ReportQuery, ReportRow};

/// The file name inside the data directory.
pub const DB_FILE: &str = "sluice.db";
/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;
/// How long a statement waits for another connection's write lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Spend is bucketed by the hour.
pub const HOUR_SECS: u64 = 3600;

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS entities (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_unix INTEGER NOT NULL,
    updated_unix INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spend (
    hour INTEGER NOT NULL,
    key TEXT NOT NULL,
    user TEXT NOT NULL,
    team TEXT NOT NULL,
    org TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    requests INTEGER NOT NULL,
    input INTEGER NOT NULL,
    output INTEGER NOT NULL,
    cache_read INTEGER NOT NULL,
    cache_write INTEGER NOT NULL,
    reasoning INTEGER NOT NULL,
    cost INTEGER NOT NULL,
    PRIMARY KEY (hour, key, user, team, org, model, provider)
) WITHOUT ROWID;
-- Budget restore at start (spend_since) and filtered reports look up one scope's rows
-- from a start hour on.
CREATE INDEX IF NOT EXISTS spend_by_key ON spend (key, hour);
CREATE INDEX IF NOT EXISTS spend_by_user ON spend (user, hour);
CREATE INDEX IF NOT EXISTS spend_by_team ON spend (team, hour);
CREATE INDEX IF NOT EXISTS spend_by_org ON spend (org, hour);
";

const UPSERT_SPEND: &str = "
INSERT INTO spend (hour, key, user, team, org, model, provider,
                   requests, input, output, cache_read, cache_write, reasoning, cost)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (hour, key, user, team, org, model, provider) DO UPDATE SET
    requests = requests + excluded.requests,
    input = input + excluded.input,
    output = output + excluded.output,
    cache_read = cache_read + excluded.cache_read,
    cache_write = cache_write + excluded.cache_write,
    reasoning = reasoning + excluded.reasoning,
    cost = cost + excluded.cost";

/// A failure of the data directory; every variant names the file and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("{}: {op}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        op: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "{}: schema version {found} was written by a newer sluice (this one understands up to \
         {SCHEMA_VERSION}); upgrade sluice or point it at another data directory",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("{}: {op}: {detail}", path.display())]
    Invalid {
        path: PathBuf,
        op: &'static str,
        detail: String,
    },
}

/// The four kinds of run-time entity, stored under their lower-case name: the engine's
/// own `spec::Kind`.
pub use crate::govern::spec::Kind as EntityKind;

impl EntityKind {
    /// Parents before children: loading in this order lets the engine link each entity
    /// to one it has already seen.
    fn rank(self) -> u8 {
        self as u8
    }
}

/// One stored entity. `body` is the engine's JSON, stored verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityRow {
    pub kind: EntityKind,
    pub id: String,
    pub body: String,
    pub created_unix: u64,
    pub updated_unix: u64,
}

/// The ledger's primary key: who spent, on what, in which hour. Absent dimensions (a key
/// without a team) are empty strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SpendKey {
    /// Unix seconds, a multiple of [`HOUR_SECS`].
    pub hour: u64,
    pub key: String,
    pub user: String,
    pub team: String,
    pub org: String,
    pub model: String,
    pub provider: String,
}

/// What one or more requests consumed. Tokens are counts; `cost` is in picodollars
/// (1e-12 USD) so that sums are exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpendDelta {
    pub requests: u64,
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
    pub cost: u64,
}

impl std::ops::AddAssign for SpendDelta {
    /// Saturating: a counter pinned at `u64::MAX` is visibly wrong, a wrapped one is not.
    fn add_assign(&mut self, o: SpendDelta) {
        self.requests = self.requests.saturating_add(o.requests);
        self.input = self.input.saturating_add(o.input);
        self.output = self.output.saturating_add(o.output);
        self.cache_read = self.cache_read.saturating_add(o.cache_read);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
        self.cost = self.cost.saturating_add(o.cost);
    }
}

/// An open data directory: one SQLite connection. Not `Sync`; give each thread its own
/// `Store` (several may open the same directory).
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Creates the directory (mode 0700: the file holds key metadata) and `sluice.db` if
    /// missing; WAL, `synchronous=NORMAL`, busy timeout [`BUSY_TIMEOUT`]; creates or checks
    /// the schema (refusing a newer version).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        create_dir(dir)?;
        let path = dir.join(DB_FILE);
        let sql = |op: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sqlite { path, op, source }
        };
        let mut conn = Connection::open(&path).map_err(sql("open"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("set busy_timeout"))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(sql("set journal_mode=WAL"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid {
                path,
                op: "set journal_mode=WAL",
                detail: format!("SQLite kept journal mode {mode:?}"),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql("set synchronous=NORMAL"))?;
        // IMMEDIATE takes the write lock first, so two processes opening a fresh directory
        // at once do not both try to create the schema.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("begin schema check"))?;
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql("read user_version"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { path, found });
        }
        if found < SCHEMA_VERSION {
            tx.execute_batch(SCHEMA_V1).map_err(sql("create schema"))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(sql("write user_version"))?;
        }
        tx.commit().map_err(sql("commit schema"))?;
        Ok(Store { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// Inserts or replaces an entity; `created_unix` is kept from the first write.
    pub fn put_entity(
        &self,
        kind: EntityKind,
        id: &str,
        body: &str,
        now_unix: u64,
    ) -> Result<(), StoreError> {
        let now = sql_int(now_unix);
        self.conn
            .execute(
                "INSERT INTO entities (kind, id, body, created_unix, updated_unix)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (kind, id) DO UPDATE SET
                     body = excluded.body, updated_unix = excluded.updated_unix",
                params![kind.name(), id, body, now],
            )
            .map_err(self.err("put entity"))?;
        Ok(())
    }

    /// Removes an entity; `false` if there was none.
    pub fn delete_entity(&self, kind: EntityKind, id: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM entities WHERE kind = ?1 AND id = ?2",
                params![kind.name(), id],
            )
            .map_err(self.err("delete entity"))?;
        Ok(n > 0)
    }

    /// Every entity, parents first (orgs, teams, users, keys), then by id.
    pub fn entities(&self) -> Result<Vec<EntityRow>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT kind, id, body, created_unix, updated_unix FROM entities")
            .map_err(self.err("read entities"))?;
        let raw = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    EntityRow {
                        kind: EntityKind::Org,
                        id: r.get(1)?,
                        body: r.get(2)?,
                        created_unix: r.get(3)?,
                        updated_unix: r.get(4)?,
                    },
                ))
            })
            .map_err(self.err("read entities"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err("read entities"))?;
        let mut rows = Vec::with_capacity(raw.len());
        for (kind, mut row) in raw {
            row.kind = EntityKind::parse(&kind).ok_or_else(|| StoreError::Invalid {
                path: self.path.clone(),
                op: "read entities",
                detail: format!("unknown entity kind {kind:?} for id {:?}", row.id),
            })?;
            rows.push(row);
        }
        rows.sort_by(|a, b| (a.kind.rank(), &a.id).cmp(&(b.kind.rank(), &b.id)));
        Ok(rows)
    }

    /// Adds the deltas (upsert-add on the 7-dimension primary key) in one transaction:
    /// either every row lands or none does. `hour` is rounded down to a whole hour.
    pub fn add_spend(&mut self, rows: &[(SpendKey, SpendDelta)]) -> Result<(), StoreError> {
        let path = &self.path;
        let sql = |op: &'static str| {
            move |source| StoreError::Sqlite {
                path: path.clone(),
                op,
                source,
            }
        };
        let tx = self.conn.transaction().map_err(sql("begin spend"))?;
        {
            let mut st = tx.prepare_cached(UPSERT_SPEND).map_err(sql("add spend"))?;
            for (k, d) in rows {
                st.execute(params![
                    sql_int(k.hour - k.hour % HOUR_SECS),
                    k.key,
                    k.user,
                    k.team,
                    k.org,
                    k.model,
                    k.provider,
                    sql_int(d.requests),
                    sql_int(d.input),
                    sql_int(d.output),
                    sql_int(d.cache_read),
                    sql_int(d.cache_write),
                    sql_int(d.reasoning),
                    sql_int(d.cost),
                ])
                .map_err(sql("add spend"))?;
            }
        }
        tx.commit().map_err(sql("commit spend"))
    }

    /// Sum of cost (pUSD) for rows whose `dim` column equals `id` and `hour >= since_unix`.
    /// `dim` must be a column (key, user, team, org, model, provider), not a time bucket.
    pub fn spend_since(&self, dim: Dim, id: &str, since_unix: u64) -> Result<u64, StoreError> {
        let col = dim.column().ok_or_else(|| StoreError::Invalid {
            path: self.path.clone(),
            op: "spend_since",
            detail: format!("{} is a time bucket, not a spend column", dim.name()),
        })?;
        let mut q = String::with_capacity(96);
        let _ = write!(
            q,
            "SELECT COALESCE(SUM(cost), 0) FROM spend WHERE {col} = ?1 AND hour >= ?2"
        );
        self.conn
            .query_row(&q, params![id, sql_int(since_unix)], |r| r.get(0))
            .map_err(self.err("spend_since"))
    }

    /// Spend summed per group; see [`report`] for the query's meaning.
    pub fn report(&self, q: &ReportQuery) -> Result<Vec<ReportRow>, StoreError> {
        report::run(&self.conn, &self.path, q)
    }
}

/// SQLite integers are signed; see the module invariant on clamping.
fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            op: "create directory",
            source,
        })
}
