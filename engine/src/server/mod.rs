//! Starting and stopping the gateway: listeners, worker threads, the admin thread, the
//! access-log thread, and the drain on shutdown.

mod admin;
mod admin_api;
pub(crate) mod control;
mod health;
mod shutdown;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::accesslog;
use crate::config::Snapshot;
use crate::log;
use crate::metrics::Metrics;
use crate::route::{Health, Millis};
use crate::store::ledger::LedgerMsg;

impl Shared {
    /// The Prometheus text: the metrics shards and the breaker states.
    pub fn render_metrics(&self) -> String {
        let now = self.now_ms();
        let mut text = self
            .metrics
            .render(self.draining.load(Ordering::Relaxed), |d| {
                self.health.get(d).map(|h| h.breaker.state(now))
            });
        self.render_governance(&mut text);
        if let Some(c) = &self.cache {
            self.metrics.render_cache(&mut text);
            c.render_gauges(&mut text);
        }
        text
    }

    /// Milliseconds since [`Shared::epoch`].
    #[inline]
    pub fn now_ms(&self) -> Millis {
        self.epoch.elapsed().as_millis() as Millis
    }
}

/// State shared across threads: metrics shards, two flags, and the deployments' health
/// board. Nothing else crosses cores (the snapshot is read-only and shared by `Arc`).
pub struct Shared {
    pub metrics: Metrics,
    /// Per deployment id: the process-wide breaker, rate window and health-check
    /// verdict. Written on breaker transitions and by the health-check thread; read by
    /// every pick.
    pub health: Box<[Health]>,
    /// The clock origin of every `route::Millis` in this process (breakers compare
    /// times written on different cores).
    pub epoch: Instant,
    /// Workers that have started accepting.
    pub ready: AtomicUsize,
    pub workers: usize,
    pub draining: AtomicBool,
    /// The published directory of orgs, teams, users and keys.
    pub gov: crate::govern::Board,
    /// SHA-256 of the admin API key.
    pub admin_key: Option<crate::govern::secret::Hash>,
    control: Mutex<control::Control>,
    /// The ledger writer's inbox; taken (closing it) when the server stops.
    ledger: Mutex<Option<Sender<LedgerMsg>>>,
    /// Soft budget thresholds crossed, by (scope, id, percent), for the metrics.
    budget_events: Mutex<BTreeMap<(&'static str, String, u8), u64>>,
    webhook: Option<Mutex<Sender<String>>>,
    /// The response cache, when `[cache]` is on.
    pub cache: Option<crate::caching::Caching>,
}

impl Shared {
    /// The control plane (admin thread only).
    pub(crate) fn control(&self) -> std::sync::MutexGuard<'_, control::Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sender into the ledger writer, for a worker.
    pub(crate) fn ledger(&self) -> Option<Sender<LedgerMsg>> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Commit what the ledger writer holds (waits up to 2 s).
    pub(crate) fn flush_ledger(&self) {
        let Some(tx) = self.ledger() else { return };
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
        if tx.send(LedgerMsg::Flush(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(2));
        }
    }

    /// A soft budget threshold crossed for the first time in its period: a log line, a
    /// metric, and the webhook when one is configured.
    pub(crate) fn budget_crossed(&self, kind: crate::govern::spec::Kind, id: &str, percent: u8) {
        log::warn(
            "budget threshold crossed",
            &[
                ("scope", kind.name()),
                ("id", id),
                ("percent", &percent.to_string()),
            ],
        );
        *self
            .budget_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((kind.name(), id.to_string(), percent))
            .or_default() += 1;
        if let Some(w) = &self.webhook {
            let event = serde_json::json!({
                "event": "budget.threshold", "scope": kind.name(), "id": id,
                "percent": percent, "unix": crate::conn::unix_now(),
            });
            let _ = w
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .send(event.to_string());
        }
    }

    /// Governance metrics rendered from the directory at scrape time.
    fn render_governance(&self, out: &mut String) {
        use std::fmt::Write;
        let name = "sluice_spend_usd_total";
        let _ = writeln!(
            out,
            "# HELP {name} Cost of answered requests whose usage and price are known.\n# TYPE {name} counter\n{name} {}",
            self.metrics.spend_usd()
        );
        let dir = self.gov.load();
        let now = crate::conn::unix_now();
        let usd = crate::govern::budget::pusd_to_usd;
        let budgets: Vec<_> = dir
            .nodes
            .iter()
            .filter_map(|n| n.budget.as_ref().map(|b| (n, n.state.budget.view(b, now))))
            .collect();
        if !budgets.is_empty() {
            for (name, help, pick) in [
                ("sluice_budget_limit_usd", "Budget per period.", 0),
                (
                    "sluice_budget_spent_usd",
                    "Settled spend in the current period.",
                    1,
                ),
                (
                    "sluice_budget_reserved_usd",
                    "Reserved by requests in flight.",
                    2,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for (n, v) in &budgets {
                    let x = [v.limit, v.settled, v.reserved][pick];
                    let _ = writeln!(
                        out,
                        "{name}{{scope=\"{}\",id=\"{}\"}} {}",
                        n.kind.name(),
                        n.id,
                        usd(x)
                    );
                }
            }
        }
        let events = self.budget_events.lock().unwrap_or_else(|p| p.into_inner());
        if !events.is_empty() {
            let name = "sluice_budget_threshold_crossed_total";
            let _ = writeln!(
                out,
                "# HELP {name} Soft budget thresholds crossed (once per period each).\n# TYPE {name} counter"
            );
            for ((scope, id, p), n) in events.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{scope=\"{scope}\",id=\"{id}\",percent=\"{p}\"}} {n}"
                );
            }
        }
    }
}

/// Listen backlog per worker listener.
const BACKLOG: i32 = 4096;

/// A running gateway.
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    shared: Arc<Shared>,
    wakes: Vec<UnixStream>,
    workers: Vec<JoinHandle<io::Result<()>>>,
    admin: Option<(JoinHandle<()>, UnixStream)>,
    log: Option<JoinHandle<()>>,
    /// The active health checker, when a group configures one; stops on `draining`.
    health: Option<JoinHandle<()>>,
    /// The spend ledger writer; commits what it holds and exits when its inbox closes.
    ledger: Option<JoinHandle<()>>,
    /// Saves the response cache every `snapshot_interval_seconds`; stops on `draining`.
    cache_saver: Option<JoinHandle<()>>,
}

/// SO_REUSEPORT listeners on one address, one per worker: the kernel spreads incoming
/// connections across them. The first learns the port when `addr` has port 0.
fn bind_reuseport(addr: SocketAddr, n: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(n);
    let mut at = addr;
    for _ in 0..n {
        let s = Socket::new(Domain::for_address(at), Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        s.bind(&at.into())?;
        s.listen(BACKLOG)?;
        let l: std::net::TcpListener = s.into();
        at = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// Start the gateway described by `snap`. Returns once every listener is bound; workers
/// become ready shortly after ([`ServerHandle::wait_ready`]).
pub fn start(snap: Snapshot) -> io::Result<ServerHandle> {
    let snap = Arc::new(snap);
    let n = snap.server.workers.max(1);
    let labels: Vec<String> = snap
        .models
        .iter()
        .map(|m| {
            if m.pattern {
                format!("{}*", m.name)
            } else {
                m.name.to_string()
            }
        })
        .collect();
    let deployment_labels: Vec<String> = snap
        .deployment_labels
        .iter()
        .map(|l| l.to_string())
        .collect();
    let started = control::setup(&snap)?;
    if started.board.load().has_keys() || snap.governance.admin_key.is_some() {
        // The tokenizer tables load in the background, not on the first request.
        let _ = std::thread::Builder::new()
            .name("sluice-tokens".into())
            .spawn(crate::govern::tokens::warm);
    }
    let webhook = snap
        .governance
        .budget_webhook
        .clone()
        .map(|url| Mutex::new(control::spawn_webhook(url)));
    let (ledger_tx, ledger_thread) = match started.ledger {
        Some((tx, h)) => (Some(tx), Some(h)),
        None => (None, None),
    };
    let cache = match &snap.cache {
        None => None,
        Some(c) => Some(
            crate::caching::Caching::new(c.clone(), snap.governance.data_dir.as_deref())
                .map_err(io::Error::other)?,
        ),
    };
    let shared = Arc::new(Shared {
        cache,
        gov: started.board,
        admin_key: snap
            .governance
            .admin_key
            .as_ref()
            .map(|k| crate::govern::secret::hash(k.0.as_bytes())),
        control: Mutex::new(started.control),
        ledger: Mutex::new(ledger_tx),
        budget_events: Mutex::new(BTreeMap::new()),
        webhook,
        metrics: Metrics::new(n, labels.clone(), deployment_labels.clone()),
        health: (0..snap.deployment_count())
            .map(|_| Health::new())
            .collect(),
        epoch: Instant::now(),
        ready: AtomicUsize::new(0),
        workers: n,
        draining: AtomicBool::new(false),
    });
    let listeners = bind_reuseport(snap.server.listen, n)?;
    let addr = listeners[0].local_addr()?;
    let admin_listener = std::net::TcpListener::bind(snap.server.admin_listen)?;
    let admin_addr = admin_listener.local_addr()?;
    let names = accesslog::Names {
        models: snap
            .models
            .iter()
            .zip(labels)
            .map(|(m, label)| {
                let first = &m.deployments[0];
                (label, snap.providers[first.provider].name.to_string())
            })
            .collect(),
        deployments: snap
            .models
            .iter()
            .flat_map(|m| &m.deployments)
            .zip(deployment_labels)
            .map(|(d, label)| (label, snap.providers[d.provider].name.to_string()))
            .collect(),
    };
    let (log_tx, log_thread) = accesslog::start(&snap.access_log, Arc::new(names))?;
    let health_thread = health::start(&snap, &shared)?;

    let mut wakes = Vec::with_capacity(n);
    let mut workers = Vec::with_capacity(n);
    for (id, listener) in listeners.into_iter().enumerate() {
        let (tx, rx) = UnixStream::pair()?;
        let start = worker::Start {
            id,
            snap: snap.clone(),
            shared: shared.clone(),
            log: log_tx.clone(),
            listener,
            wake: rx,
        };
        let h = std::thread::Builder::new()
            .name(format!("sluice-w{id}"))
            .spawn(move || {
                let r = worker::run(start);
                if let Err(e) = &r {
                    log::error(
                        "worker failed",
                        &[("worker", &id.to_string()), ("error", &e.to_string())],
                    );
                }
                r
            })?;
        wakes.push(tx);
        workers.push(h);
    }
    drop(log_tx);
    let (atx, arx) = UnixStream::pair()?;
    let admin_shared = shared.clone();
    let admin = std::thread::Builder::new()
        .name("sluice-admin".into())
        .spawn(move || admin::run(admin_listener, admin_shared, arx))?;
    let cache_saver = spawn_cache_saver(&shared)?;
    Ok(ServerHandle {
        addr,
        admin_addr,
        shared,
        wakes,
        workers,
        admin: Some((admin, atx)),
        log: log_thread,
        health: health_thread,
        ledger: ledger_thread,
        cache_saver,
    })
}

/// The thread that snapshots the response cache to the data directory periodically
/// (the final snapshot is written by `join`, after the workers stopped).
fn spawn_cache_saver(shared: &Arc<Shared>) -> io::Result<Option<JoinHandle<()>>> {
    let Some(c) = &shared.cache else {
        return Ok(None);
    };
    if c.cfg.snapshot_interval_s == 0 || !c.persistent() {
        return Ok(None);
    }
    let every = Duration::from_secs(c.cfg.snapshot_interval_s);
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("sluice-cache-saver".into())
        .spawn(move || {
            let mut last = Instant::now();
            while !shared.draining.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= every {
                    last = Instant::now();
                    if let Some(c) = &shared.cache {
                        save_cache(c);
                    }
                }
            }
        })
        .map(Some)
}

/// Write the cache's snapshot, logging the outcome.
fn save_cache(c: &crate::caching::Caching) {
    let t = Instant::now();
    match c.save() {
        Ok(n) => log::info(
            "cache snapshot saved",
            &[
                ("bytes", &n.to_string()),
                ("ms", &t.elapsed().as_millis().to_string()),
            ],
        ),
        Err(e) => log::error("cache snapshot failed", &[("error", &e.to_string())]),
    }
}

impl ServerHandle {
    /// Wait until every worker accepts connections (or a worker died, or `timeout`).
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while Instant::now() < until {
            if self.shared.ready.load(Ordering::SeqCst) >= self.shared.workers {
                return true;
            }
            if self.workers.iter().any(JoinHandle::is_finished) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// Begin the drain: stop accepting, close idle connections, let in-flight requests
    /// finish (up to `drain_timeout_ms`). Returns at once; [`join`](Self::join) waits.
    pub fn shutdown(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
        for mut w in &self.wakes {
            let _ = std::io::Write::write_all(&mut w, b"x");
        }
    }

    /// Wait for the workers to drain and every thread to exit.
    pub fn join(mut self) -> io::Result<()> {
        let mut result = Ok(());
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(_) => result = Err(io::Error::other("a worker thread panicked")),
            }
        }
        if let Some((h, stop)) = self.admin.take() {
            drop(stop);
            let _ = h.join();
        }
        if let Some(h) = self.log.take() {
            let _ = h.join();
        }
        if let Some(h) = self.health.take() {
            self.shared.draining.store(true, Ordering::SeqCst);
            let _ = h.join();
        }
        if let Some(h) = self.cache_saver.take() {
            self.shared.draining.store(true, Ordering::SeqCst);
            let _ = h.join();
        }
        // Every answer the workers stored is in; the next start reloads them.
        if let Some(c) = self.shared.cache.as_ref().filter(|c| c.persistent()) {
            save_cache(c);
        }
        // The workers flushed their spend and dropped their senders; closing the last
        // one lets the writer commit everything and exit: a graceful stop loses nothing.
        self.shared
            .ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = self.ledger.take() {
            let _ = h.join();
        }
        result
    }

    /// Shut down and wait.
    pub fn stop(self) -> io::Result<()> {
        self.shutdown();
        self.join()
    }

    pub fn metrics_text(&self) -> String {
        self.shared.render_metrics()
    }
}
