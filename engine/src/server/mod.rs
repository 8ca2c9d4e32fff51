//! Starting and stopping the gateway: listeners, worker threads, the admin thread, the
//! access-log thread, and the drain on shutdown.

mod admin;
mod health;
mod shutdown;
pub(crate) mod worker;

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::accesslog;
use crate::config::Snapshot;
use crate::log;
use crate::metrics::Metrics;
use crate::route::{Health, Millis};

impl Shared {
    /// The Prometheus text: the metrics shards and the breaker states.
    pub fn render_metrics(&self) -> String {
        let now = self.now_ms();
        self.metrics
            .render(self.draining.load(Ordering::Relaxed), |d| {
                self.health.get(d).map(|h| h.breaker.state(now))
            })
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
    let shared = Arc::new(Shared {
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
    Ok(ServerHandle {
        addr,
        admin_addr,
        shared,
        wakes,
        workers,
        admin: Some((admin, atx)),
        log: log_thread,
        health: health_thread,
    })
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
