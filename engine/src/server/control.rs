//! The governance control plane: loads the directory at start (config entities, then
//! the data directory's run-time ones), restores each budget's spend in its current
//! period from the ledger, starts the ledger writer, and applies the admin API's
//! changes — persist first, then rebuild and publish, so a change a client was told
//! about survives a crash.

use std::collections::BTreeMap;
use std::io;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::Snapshot;
use crate::govern::spec::{Doc, Kind, Source};
use crate::govern::{Board, Directory};
use crate::log;
use crate::store::ledger::{self, LedgerMsg};
use crate::store::report::Dim;
use crate::store::Store;

/// How often the ledger writer commits (workers hand over every 200 ms): together
/// under the one second of spend a `kill -9` may lose.
const LEDGER_COMMIT_EVERY: Duration = Duration::from_millis(500);

/// An admin API failure: status, OpenAI-style code, message.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

pub struct Control {
    snap: Arc<Snapshot>,
    /// The data directory's connection for entity writes and reports; `None` without
    /// a data directory (run-time changes then last until the process exits).
    pub store: Option<Store>,
}

pub(super) struct Started {
    pub board: Board,
    pub control: Control,
    pub ledger: Option<(Sender<LedgerMsg>, JoinHandle<()>)>,
}

/// Build the first directory and start the ledger writer.
pub(super) fn setup(snap: &Arc<Snapshot>) -> io::Result<Started> {
    let g = &snap.governance;
    let mut docs = g.docs.clone();
    let mut store = None;
    let mut ledger = None;
    if let Some(dir) = &g.data_dir {
        let s = Store::open(dir).map_err(|e| io::Error::other(e.to_string()))?;
        let rows = s.entities().map_err(|e| io::Error::other(e.to_string()))?;
        for row in rows {
            let kind = row.kind;
            let doc: Doc = match serde_json::from_str(&row.body) {
                Ok(d) => d,
                Err(e) => {
                    log::error(
                        "skipping an unreadable entity in the data directory",
                        &[
                            ("kind", kind.name()),
                            ("id", &row.id),
                            ("error", &e.to_string()),
                        ],
                    );
                    continue;
                }
            };
            if docs.contains_key(&(kind, row.id.clone())) {
                log::warn(
                    "the config declares an entity the data directory also has; the config's wins",
                    &[("kind", kind.name()), ("id", &row.id)],
                );
                continue;
            }
            docs.insert((kind, row.id), (doc, Source::Api));
        }
        let writer = Store::open(dir).map_err(|e| io::Error::other(e.to_string()))?;
        ledger = Some(ledger::spawn(writer, LEDGER_COMMIT_EVERY));
        store = Some(s);
    } else if !g.docs.is_empty() || g.admin_key.is_some() {
        log::warn(
            "no data directory ([data] dir): run-time keys and spend last until the process exits",
            &[],
        );
    }
    let dir = Directory::build(docs, None, snap).map_err(io::Error::other)?;
    if let Some(s) = &store {
        restore_budgets(&dir, s)?;
    }
    Ok(Started {
        board: Board::new(dir),
        control: Control {
            snap: snap.clone(),
            store,
        },
        ledger,
    })
}

/// Each budget's settled spend in its current period, from the ledger.
fn restore_budgets(dir: &Directory, store: &Store) -> io::Result<()> {
    let now = crate::conn::unix_now();
    for n in &dir.nodes {
        let Some(spec) = &n.budget else { continue };
        let start = spec.period.start(now);
        let dim = match n.kind {
            Kind::Org => Dim::Org,
            Kind::Team => Dim::Team,
            Kind::User => Dim::User,
            Kind::Key => Dim::Key,
        };
        let spent = store
            .spend_since(dim, &n.id, start)
            .map_err(|e| io::Error::other(e.to_string()))?;
        n.state.budget.restore(start, spent);
    }
    Ok(())
}

impl Control {
    /// Create or replace a run-time entity. Config-declared ones are read-only.
    pub fn put(&mut self, board: &Board, kind: Kind, doc: Doc) -> Result<Doc, ApiError> {
        let current = board.load();
        if let Some((_, Source::Config)) = current.docs.get(&(kind, doc.id.clone())) {
            return Err(ApiError::new(
                409,
                "read_only",
                format!("{} {} is declared in the config file", kind.name(), doc.id),
            ));
        }
        doc.check(kind)
            .map_err(|e| ApiError::new(400, "invalid_request", e))?;
        let mut docs = current.docs.clone();
        docs.insert((kind, doc.id.clone()), (doc.clone(), Source::Api));
        let next = Directory::build(docs, Some(&current), &self.snap)
            .map_err(|e| ApiError::new(400, "invalid_request", e))?;
        self.persist(kind, &doc)?;
        board.publish(next);
        Ok(doc)
    }

    /// Delete a run-time entity that nothing refers to.
    pub fn delete(&mut self, board: &Board, kind: Kind, id: &str) -> Result<(), ApiError> {
        let current = board.load();
        match current.docs.get(&(kind, id.to_string())) {
            None => return Err(not_found(kind, id)),
            Some((_, Source::Config)) => {
                return Err(ApiError::new(
                    409,
                    "read_only",
                    format!("{} {id} is declared in the config file", kind.name()),
                ))
            }
            Some(_) => {}
        }
        let mut docs: BTreeMap<_, _> = current.docs.clone();
        docs.remove(&(kind, id.to_string()));
        let next = Directory::build(docs, Some(&current), &self.snap).map_err(|e| {
            ApiError::new(
                409,
                "in_use",
                format!("{} {id} still has members: {e}", kind.name()),
            )
        })?;
        if let Some(s) = &self.store {
            s.delete_entity(kind, id)
                .map_err(|e| ApiError::new(500, "store_failed", e.to_string()))?;
        }
        board.publish(next);
        Ok(())
    }

    fn persist(&self, kind: Kind, doc: &Doc) -> Result<(), ApiError> {
        let Some(s) = &self.store else {
            return Ok(());
        };
        let body = serde_json::to_string(doc)
            .map_err(|e| ApiError::new(500, "store_failed", e.to_string()))?;
        s.put_entity(kind, &doc.id, &body, crate::conn::unix_now())
            .map_err(|e| ApiError::new(500, "store_failed", e.to_string()))
    }
}

pub fn not_found(kind: Kind, id: &str) -> ApiError {
    ApiError::new(404, "not_found", format!("no {} {id}", kind.name()))
}

/// The budget webhook's thread: POSTs each event (a JSON text) to `url`, one at a time,
/// 5 s timeouts; a failure is logged and the event dropped (the log line and the metric
/// already recorded it).
pub(super) fn spawn_webhook(url: String) -> Sender<String> {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let spawned = std::thread::Builder::new()
        .name("sluice-webhook".into())
        .spawn(move || {
            for event in rx {
                if let Err(e) = post(&url, &event) {
                    log::warn(
                        "budget webhook failed",
                        &[("url", &url), ("error", &e.to_string())],
                    );
                }
            }
        });
    if let Err(e) = spawned {
        log::error(
            "budget webhook thread failed to start",
            &[("error", &e.to_string())],
        );
    }
    tx
}

fn post(url: &str, body: &str) -> io::Result<()> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other("only http:// webhooks"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let sa = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("webhook host did not resolve"))?;
    let t = Duration::from_secs(5);
    let mut s = std::net::TcpStream::connect_timeout(&sa, t)?;
    s.set_read_timeout(Some(t))?;
    s.set_write_timeout(Some(t))?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    match &head[9..10] {
        b"2" => Ok(()),
        _ => Err(io::Error::other(format!(
            "answered {}",
            String::from_utf8_lossy(&head[9..12])
        ))),
    }
}
