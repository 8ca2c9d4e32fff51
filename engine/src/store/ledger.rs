//! The spend ledger's background writer: one thread that owns a [`Store`], folds the
//! workers' spend batches into one in-memory row per ledger key, and commits them in a
//! single transaction at most `commit_every` after the first of them arrived.
//!
//! Why a thread and a channel: workers must never wait on SQLite (an fsync, another
//! process holding the write lock). They send a batch every 200 ms with `Sender::send`
//! (an unbounded std channel: it never blocks); folding here makes a commit cost one row
//! per (hour, key, user, team, org, model, provider) seen since the last one, not one per
//! request.
//!
//! Durability: with the engine's `commit_every` of 500 ms and the workers' 200 ms batches,
//! spend is committed under a second after the request; a committed transaction survives
//! kill -9 (WAL, see [`super`]). On a graceful shutdown the engine drops the senders (or
//! sends [`LedgerMsg::Flush`]) and joins the thread, which commits what it holds first.
//!
//! Failure: a failing commit is logged and retried at the next tick with the rows kept.
//! While commits fail the writer holds at most [`PENDING_ROWS_MAX`] distinct rows
//! (a row is ~200 bytes, so ~13 MB); past that, deltas for rows already held are still
//! folded in, and deltas for new rows are dropped and counted in an error log line. Only
//! the ledger loses them: the engine's in-memory budgets were already charged.

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{SpendDelta, SpendKey, Store};
use crate::log;

/// Distinct rows held while commits fail; see the module doc.
pub const PENDING_ROWS_MAX: usize = 65_536;
/// Commit attempts when the channel closes (shutdown), each after [`SHUTDOWN_RETRY`].
pub const SHUTDOWN_COMMIT_ATTEMPTS: u32 = 3;
pub const SHUTDOWN_RETRY: Duration = Duration::from_millis(200);

/// What the writer receives.
pub enum LedgerMsg {
    /// Deltas to add; keys may repeat within and across batches.
    Spend(Vec<(SpendKey, SpendDelta)>),
    /// Commit everything received so far, then answer (also when the commit failed: the
    /// failure is logged and the rows kept for the next tick, and the caller must not hang).
    Flush(mpsc::SyncSender<()>),
}

/// Starts the writer thread (`sluice-ledger`). It returns when every sender is dropped,
/// after committing what it holds.
pub fn spawn(store: Store, commit_every: Duration) -> (mpsc::Sender<LedgerMsg>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("sluice-ledger".into())
        .spawn(move || Writer::new(store).run(&rx, commit_every))
        .expect("spawning the ledger thread");
    (tx, handle)
}

struct Writer {
    store: Store,
    pending: HashMap<SpendKey, SpendDelta>,
    /// Reused between commits so a tick does not allocate a fresh batch.
    batch: Vec<(SpendKey, SpendDelta)>,
    /// Deltas dropped at the cap since the last log line.
    dropped: u64,
}

impl Writer {
    fn new(store: Store) -> Writer {
        Writer {
            store,
            pending: HashMap::new(),
            batch: Vec::new(),
            dropped: 0,
        }
    }

    fn run(mut self, rx: &mpsc::Receiver<LedgerMsg>, commit_every: Duration) {
        // INVARIANT: `deadline` is Some exactly when `pending` is non-empty.
        let mut deadline: Option<Instant> = None;
        loop {
            let msg = match deadline {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(LedgerMsg::Spend(rows)) => {
                    self.fold(rows);
                    if deadline.is_none() && !self.pending.is_empty() {
                        deadline = Some(Instant::now() + commit_every);
                    }
                }
                Ok(LedgerMsg::Flush(done)) => {
                    self.commit();
                    let _ = done.send(());
                    deadline = self.next_deadline(commit_every);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.shutdown(),
            }
            // A steady stream of batches never lets recv_timeout time out; check the
            // deadline after every message too.
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.commit();
                deadline = self.next_deadline(commit_every);
            }
        }
    }

    fn next_deadline(&self, commit_every: Duration) -> Option<Instant> {
        (!self.pending.is_empty()).then(|| Instant::now() + commit_every)
    }

    fn fold(&mut self, rows: Vec<(SpendKey, SpendDelta)>) {
        for (k, d) in rows {
            if let Some(have) = self.pending.get_mut(&k) {
                *have += d;
            } else if self.pending.len() < PENDING_ROWS_MAX {
                self.pending.insert(k, d);
            } else {
                self.dropped += 1;
            }
        }
    }

    /// Commits everything pending; `true` on success (or nothing to do).
    fn commit(&mut self) -> bool {
        if self.dropped > 0 {
            log::error(
                "ledger: pending rows at the cap while commits fail; spend deltas dropped",
                &[
                    ("dropped", &self.dropped.to_string()),
                    ("cap", &PENDING_ROWS_MAX.to_string()),
                ],
            );
            self.dropped = 0;
        }
        if self.pending.is_empty() {
            return true;
        }
        self.batch.clear();
        self.batch.extend(self.pending.drain());
        match self.store.add_spend(&self.batch) {
            Ok(()) => {
                self.batch.clear();
                true
            }
            Err(e) => {
                log::error(
                    "ledger: commit failed; keeping the rows for the next tick",
                    &[
                        ("error", &e.to_string()),
                        ("rows", &self.batch.len().to_string()),
                    ],
                );
                // Nothing arrived since the drain (this thread is the only writer of
                // `pending`), so the rows go back unchanged.
                self.pending.extend(self.batch.drain(..));
                false
            }
        }
    }

    fn shutdown(mut self) {
        for attempt in 1..=SHUTDOWN_COMMIT_ATTEMPTS {
            if self.commit() {
                return;
            }
            if attempt < SHUTDOWN_COMMIT_ATTEMPTS {
                std::thread::sleep(SHUTDOWN_RETRY);
            }
        }
        log::error(
            "ledger: giving up at shutdown; spend rows lost",
            &[("rows", &self.pending.len().to_string())],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Dim;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("sluice-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    fn row(key: &str, cost: u64) -> (SpendKey, SpendDelta) {
        let k = SpendKey {
            hour: 3600,
            key: key.into(),
            user: String::new(),
            team: String::new(),
            org: String::new(),
            model: "m".into(),
            provider: "p".into(),
        };
        let d = SpendDelta {
            requests: 1,
            cost,
            ..SpendDelta::default()
        };
        (k, d)
    }

    #[test]
    fn at_the_cap_known_rows_still_fold_and_new_rows_are_counted_as_dropped() {
        let dir = temp_dir("cap");
        let mut w = Writer::new(Store::open(&dir).unwrap());
        w.fold(
            (0..PENDING_ROWS_MAX)
                .map(|i| row(&i.to_string(), 1))
                .collect(),
        );
        assert_eq!(w.pending.len(), PENDING_ROWS_MAX);
        w.fold(vec![row("0", 5), row("new", 1), row("newer", 1)]);
        assert_eq!(w.pending.len(), PENDING_ROWS_MAX);
        assert_eq!(w.dropped, 2);
        assert_eq!(w.pending[&row("0", 0).0].cost, 6);
        assert!(w.commit());
        assert_eq!((w.dropped, w.pending.len()), (0, 0));
        assert_eq!(w.store.spend_since(Dim::Key, "0", 0).unwrap(), 6);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_commit_keeps_the_rows_and_a_later_tick_lands_them() {
        let dir = temp_dir("retry");
        let (tx, handle) = spawn(Store::open(&dir).unwrap(), Duration::from_millis(50));
        let other = rusqlite::Connection::open(dir.join(crate::store::DB_FILE)).unwrap();
        // Take the table away under the writer: its commits fail with "no such table".
        other
            .execute_batch("ALTER TABLE spend RENAME TO spend_away")
            .unwrap();
        tx.send(LedgerMsg::Spend(vec![row("k", 7), row("k", 8)]))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        other
            .execute_batch("ALTER TABLE spend_away RENAME TO spend")
            .unwrap();
        let (done, wait) = mpsc::sync_channel(1);
        tx.send(LedgerMsg::Flush(done)).unwrap();
        wait.recv_timeout(Duration::from_secs(10)).unwrap();
        let cost: i64 = other
            .query_row("SELECT SUM(cost) FROM spend WHERE key = 'k'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(cost, 15, "the rows survived the failed commits");
        drop(tx);
        handle.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
