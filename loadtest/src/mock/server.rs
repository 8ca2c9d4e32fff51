//! Listeners, worker threads and their runtimes, the accept loop, and shutdown.
//!
//! Shutdown is a shared flag. Each worker runs a watcher task that polls it every
//! [`STOP_POLL`]; when it is set, the watcher cancels the pending accept and
//! `shutdown(2)`s every open connection of its worker, which wakes any read or write in
//! flight on either driver (a stalled connection's read returns EOF). Sleeps poll the
//! flag themselves. The worker then waits, at most [`DRAIN_MAX`], for its connections to
//! finish, and returns.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use monoio::io::Canceller;
use monoio::net::{TcpListener, TcpStream};
use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
use socket2::{Domain, Protocol, Socket, Type};

use super::{conn, stopping, Driver, MockConfig, MockStats};

/// How often sleeping tasks and the watcher look at the stop flag.
pub(crate) const STOP_POLL: Duration = Duration::from_millis(20);
/// How long a stopping worker waits for its connections to close.
const DRAIN_MAX: Duration = Duration::from_secs(2);
const BACKLOG: i32 = 1024;

/// Recorded requests: (head, body), oldest first.
pub(crate) type Recorder = Mutex<VecDeque<(Vec<u8>, Vec<u8>)>>;

/// What every worker and connection shares. Immutable but for the counters, the stop
/// flag and the recorder.
pub(crate) struct Shared {
    pub cfg: MockConfig,
    pub stats: Arc<MockStats>,
    pub stop: AtomicBool,
    pub recorder: Option<Recorder>,
    /// `GET /v1/models` and the 404 body never change: written once.
    pub models_body: Vec<u8>,
    pub not_found_body: Vec<u8>,
}

impl Shared {
    pub(crate) fn new(cfg: MockConfig, recorder: Option<Recorder>) -> Shared {
        let mut models_body = Vec::new();
        let names: Vec<&[u8]> = cfg.models.iter().map(|m| m.as_bytes()).collect();
        proto::openai::synth::models_list(&mut models_body, &names, cfg.created, b"sluice-mock");
        let mut not_found_body = Vec::new();
        super::respond::error_body(&mut not_found_body, 404);
        Shared {
            cfg,
            stats: Arc::default(),
            stop: AtomicBool::new(false),
            recorder,
            models_body,
            not_found_body,
        }
    }

    /// Keep a copy of a request, dropping the oldest beyond `cfg.record`.
    pub(crate) fn record(&self, head: &[u8], body: &[u8]) {
        if let Some(r) = &self.recorder {
            let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
            if r.len() == self.cfg.record {
                r.pop_front();
            }
            r.push_back((head.to_vec(), body.to_vec()));
        }
    }
}

/// Bind `n` listeners to `addr` with `SO_REUSEPORT`: the first one picks the port (when
/// `addr` has port 0), the others join it, and the kernel spreads connections over them.
pub(crate) fn bind(addr: SocketAddr, n: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind_one(addr)?);
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Sends the worker's id on `done` however the thread ends, panics included.
struct DoneGuard(usize, mpsc::Sender<usize>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.1.send(self.0);
    }
}

type Ready = mpsc::Sender<(usize, std::io::Result<Driver>)>;

/// A worker thread: build the runtime (io_uring, else epoll unless forced), report
/// readiness, serve until stopped.
pub(crate) fn worker(
    id: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    ready: Ready,
    done: mpsc::Sender<usize>,
) {
    let _done = DoneGuard(id, done);
    let want = shared.cfg.driver;
    if want == Driver::IoUring || (want == Driver::Auto && monoio::utils::detect_uring()) {
        match RuntimeBuilder::<IoUringDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut rt) => return rt.block_on(serve(id, listener, shared, ready, Driver::IoUring)),
            Err(e) if want == Driver::IoUring => {
                let _ = ready.send((id, Err(e)));
                return;
            }
            Err(_) => {}
        }
    }
    // The epoll driver needs non-blocking sockets; io_uring does not want them.
    if let Err(e) = listener.set_nonblocking(true) {
        let _ = ready.send((id, Err(e)));
        return;
    }
    match RuntimeBuilder::<LegacyDriver>::new().enable_timer().build() {
        Ok(mut rt) => rt.block_on(serve(id, listener, shared, ready, Driver::Epoll)),
        Err(e) => {
            let _ = ready.send((id, Err(e)));
        }
    }
}

/// Per-worker bookkeeping for shutdown: the open connections' fds.
#[derive(Default)]
struct Local {
    fds: RefCell<HashSet<RawFd>>,
    open: Cell<usize>,
}

/// Unregisters a connection when its task ends, however it ends.
struct ConnGuard {
    local: Rc<Local>,
    fd: RawFd,
    shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.local.fds.borrow_mut().remove(&self.fd);
        self.local.open.set(self.local.open.get() - 1);
        self.shared
            .stats
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(
    id: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    ready: Ready,
    driver: Driver,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send((id, Err(e)));
            return;
        }
    };
    let _ = ready.send((id, Ok(driver)));
    drop(ready);

    let local = Rc::new(Local::default());
    let canceller = Canceller::new();
    let cancel = canceller.handle();
    monoio::spawn(watch(shared.clone(), local.clone(), canceller));

    let stats = &shared.stats;
    let mut accepted: u64 = 0;
    loop {
        match listener.cancelable_accept(cancel.clone()).await {
            Ok((stream, _)) => {
                if stopping(&shared.stop) {
                    break;
                }
                let _ = stream.set_nodelay(true);
                stats.connections_accepted.fetch_add(1, Ordering::Relaxed);
                stats.connections_open.fetch_add(1, Ordering::Relaxed);
                let fd = stream.as_raw_fd();
                local.fds.borrow_mut().insert(fd);
                local.open.set(local.open.get() + 1);
                let guard = ConnGuard {
                    local: local.clone(),
                    fd,
                    shared: shared.clone(),
                };
                let conn_key = ((id as u64) << 40) ^ accepted;
                accepted += 1;
                monoio::spawn(async move {
                    conn::serve(stream, &guard.shared, conn_key).await;
                    drop(guard);
                });
            }
            Err(_) if stopping(&shared.stop) => break,
            // EMFILE, ECONNABORTED and the like: back off briefly rather than spin.
            Err(_) => monoio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let deadline = Instant::now() + DRAIN_MAX;
    while local.open.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn watch(shared: Arc<Shared>, local: Rc<Local>, canceller: Canceller) {
    while !stopping(&shared.stop) {
        monoio::time::sleep(STOP_POLL).await;
    }
    canceller.cancel();
    for &fd in local.fds.borrow().iter() {
        // SAFETY: shutdown(2) touches no memory of ours. `fd` is still the connection's
        // socket: a connection's task drops its stream and then, with no await in between,
        // its ConnGuard removes the fd from this set, and this task runs on the same thread
        // only at an await, so it never sees a closed (and possibly reused) fd number.
        unsafe {
            libc::shutdown(fd, libc::SHUT_RDWR);
        }
    }
}

/// Pause for `d`, waking every [`STOP_POLL`] to look at the stop flag. Returns false when
/// the mock is stopping.
pub(crate) async fn pause(stop: &AtomicBool, d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if stopping(stop) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        monoio::time::sleep((end - now).min(STOP_POLL)).await;
    }
}

/// Close `stream` with an RST instead of a FIN: `SO_LINGER` with a zero timeout.
pub(crate) fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is open (we own the stream) and `linger` is a valid `struct linger`
    // whose size we pass.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}
