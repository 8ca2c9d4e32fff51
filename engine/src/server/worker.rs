//! One worker: one thread, one monoio runtime, one SO_REUSEPORT listener, one upstream
//! pool. Nothing here is shared with another worker except the read-only snapshot, the
//! worker's own metrics shard, and the access-log channel.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use monoio::io::AsyncReadRent;
use monoio::net::{TcpListener, TcpStream};

use super::shutdown::Shutdown;
use super::Shared;
use crate::accesslog;
use crate::config::{Driver, Snapshot};
use crate::log;
use crate::metrics::Shard;
use crate::upstream::Pool;

/// Connection buffers kept for reuse per worker, and the largest capacity kept.
const BUF_POOL_MAX: usize = 256;
const BUF_KEEP_BYTES_MAX: usize = 256 * 1024;
/// Initial capacity of a connection buffer.
pub const BUF_INITIAL_BYTES: usize = 16 * 1024;
/// After the drain deadline, how long connections get to unwind once their sockets are
/// shut down.
const FORCE_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Per-worker state, shared by the worker's connection tasks through an `Rc`.
pub struct Worker {
    pub id: usize,
    pub snap: Arc<Snapshot>,
    pub shared: Arc<Shared>,
    pub log: accesslog::Sender,
    pub pool: RefCell<Pool>,
    pub shutdown: Shutdown,
    pub tls: Option<monoio_rustls::TlsAcceptor>,
    next_request: Cell<u64>,
    active: Cell<usize>,
    /// The client sockets of open connections, to shut down when the drain deadline
    /// passes. INVARIANT: an fd is removed, with no await in between, when its
    /// connection's stream is dropped, so it is never a closed (or reused) number.
    conns: RefCell<HashSet<RawFd>>,
    bufs: RefCell<Vec<Vec<u8>>>,
    /// Per-core routing state: each group's in-flight counts, latency, breaker counts,
    /// and the worker's random source.
    pub(crate) routing: RefCell<crate::conn::Routing>,
    /// This core's view of the key directory and its spend since the last flush.
    pub gov: crate::govern::Local,
    /// The ledger writer's inbox (with a data directory).
    pub ledger: Option<std::sync::mpsc::Sender<crate::store::ledger::LedgerMsg>>,
}

impl Worker {
    #[inline]
    pub fn shard(&self) -> &Shard {
        self.shared.metrics.shard(self.id)
    }

    /// A request id unique in this process: worker in the top 16 bits.
    #[inline]
    pub fn request_id(&self) -> u64 {
        let n = self.next_request.get().wrapping_add(1);
        self.next_request.set(n);
        ((self.id as u64) << 48) | (n & ((1 << 48) - 1))
    }

    pub fn take_buf(&self) -> Vec<u8> {
        self.bufs
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF_INITIAL_BYTES))
    }

    pub fn give_buf(&self, mut b: Vec<u8>) {
        let mut bufs = self.bufs.borrow_mut();
        if b.capacity() <= BUF_KEEP_BYTES_MAX && b.capacity() > 0 && bufs.len() < BUF_POOL_MAX {
            b.clear();
            bufs.push(b);
        }
    }

    pub fn draining(&self) -> bool {
        self.shutdown.is_set()
    }
}

/// What a worker thread is given.
pub struct Start {
    pub id: usize,
    pub snap: Arc<Snapshot>,
    pub shared: Arc<Shared>,
    pub log: accesslog::Sender,
    pub listener: std::net::TcpListener,
    /// Readable (or closed) when the worker must drain.
    pub wake: std::os::unix::net::UnixStream,
}

/// Run a worker on the configured driver until it has drained. Returns the driver used.
pub fn run(start: Start) -> std::io::Result<()> {
    let driver = start.snap.server.driver;
    let id = start.id;
    if driver != Driver::Epoll {
        match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .enable_timer()
            .with_entries(1024)
            .build()
        {
            Ok(mut rt) => {
                if id == 0 {
                    log::info("runtime", &[("driver", "io_uring")]);
                }
                return rt.block_on(serve(start, false));
            }
            Err(e) if driver == Driver::IoUring => return Err(e),
            Err(e) => {
                if id == 0 {
                    log::warn(
                        "io_uring unavailable, falling back to epoll",
                        &[("error", &e.to_string())],
                    );
                }
            }
        }
    }
    if id == 0 {
        log::info("runtime", &[("driver", "epoll")]);
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()?;
    rt.block_on(serve(start, true))
}

/// `legacy`: the epoll driver needs non-blocking sockets; io_uring wants them blocking.
async fn serve(start: Start, legacy: bool) -> std::io::Result<()> {
    let Start {
        id,
        snap,
        shared,
        log,
        listener,
        wake,
    } = start;
    listener.set_nonblocking(legacy)?;
    wake.set_nonblocking(legacy)?;
    let listener = TcpListener::from_std(listener)?;
    let tls = snap
        .server
        .tls
        .clone()
        .map(monoio_rustls::TlsAcceptor::from);
    // Seeded per worker and per process start, so that two workers (or two replicas)
    // do not make the same random choices in lockstep.
    let seed = (id as u64) ^ crate::accesslog::now_unix_us().rotate_left(17);
    let w = Rc::new(Worker {
        id,
        routing: RefCell::new(crate::conn::Routing::new(&snap, seed)),
        gov: crate::govern::Local::new(&shared.gov),
        ledger: shared.ledger(),
        pool: RefCell::new(Pool::new(snap.providers.len())),
        snap,
        shared,
        log,
        shutdown: Shutdown::default(),
        tls,
        next_request: Cell::new(0),
        active: Cell::new(0),
        conns: RefCell::new(HashSet::new()),
        bufs: RefCell::new(Vec::new()),
    });
    monoio::spawn(watch_wake(w.clone(), wake));
    monoio::spawn(sweep_pool(w.clone()));
    if w.ledger.is_some() {
        monoio::spawn(flush_spend(w.clone()));
    }
    w.shared.ready.fetch_add(1, Ordering::SeqCst);
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = w.shutdown.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                monoio::spawn(connection(w.clone(), stream, peer));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn("accept failed", &[("error", &e.to_string())]);
                monoio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    let deadline = Instant::now() + w.snap.server.drain_timeout;
    while w.active.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    if w.active.get() > 0 {
        log::warn(
            "drain deadline passed; closing connections",
            &[
                ("worker", &id.to_string()),
                ("open", &w.active.get().to_string()),
            ],
        );
        // Returning would leave the connection tasks behind with their sockets open
        // (the client and the upstream would wait forever). shutdown(2) wakes every
        // read, write and disconnect watch on them, so each task ends and closes its
        // upstream connection too.
        for &fd in w.conns.borrow().iter() {
            // SAFETY: shutdown(2) touches no memory; `fd` is open (see `conns`).
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
        let until = Instant::now() + FORCE_CLOSE_WAIT;
        while w.active.get() > 0 && Instant::now() < until {
            monoio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    w.pool.borrow_mut().clear();
    // Every request has settled: hand the last spend to the ledger writer.
    if let Some(l) = &w.ledger {
        crate::conn::flush_spend(&w, l);
    }
    Ok(())
}

/// Hand this core's spend to the ledger writer every `FLUSH_EVERY`.
async fn flush_spend(w: Rc<Worker>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(crate::govern::spend::FLUSH_EVERY) => {},
            _ = w.shutdown.wait() => return,
        }
        if let Some(l) = &w.ledger {
            crate::conn::flush_spend(&w, l);
        }
    }
}

async fn connection(w: Rc<Worker>, stream: TcpStream, peer: SocketAddr) {
    let shard = w.shard();
    shard.inc(&shard.connections_total);
    shard.inc(&shard.connections_open);
    w.active.set(w.active.get() + 1);
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    w.conns.borrow_mut().insert(fd);
    match &w.tls {
        None => crate::conn::serve(&w, crate::io::ClientIo::Plain(stream), peer, fd).await,
        Some(acceptor) => {
            // A handshake that fails or outlasts the head timeout just closes.
            let handshake =
                monoio::time::timeout(w.snap.server.header_read_timeout, acceptor.accept(stream))
                    .await;
            if let Ok(Ok(tls)) = handshake {
                crate::conn::serve(&w, crate::io::ClientIo::Tls(Box::new(tls)), peer, fd).await;
            }
        }
    }
    w.conns.borrow_mut().remove(&fd);
    w.active.set(w.active.get() - 1);
    shard.dec(&shard.connections_open);
}

/// The drain signal arrives as a byte (or EOF) on the wake socket.
async fn watch_wake(w: Rc<Worker>, wake: std::os::unix::net::UnixStream) {
    if let Ok(mut s) = monoio::net::UnixStream::from_std(wake) {
        let _ = s.read(vec![0u8; 8]).await;
    }
    w.shutdown.trigger();
}

async fn sweep_pool(w: Rc<Worker>) {
    loop {
        monoio::select! {
            _ = monoio::time::sleep(Duration::from_secs(1)) => {},
            _ = w.shutdown.wait() => return,
        }
        let snap = &w.snap;
        w.pool
            .borrow_mut()
            .sweep(Instant::now(), |i| snap.providers[i].timeouts.pool_idle);
    }
}
