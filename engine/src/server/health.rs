//! Active health checks: one background thread probes every deployment of each group
//! that configures `health_check`, and publishes the verdict in the shared health board
//! (`route::Health::probe_down`), which every core's pick reads. So the state converges
//! across cores within one check interval.
//!
//! A probe is `GET <base path><path>` with the provider's configured headers (its
//! credentials included) and `connection: close`; any 2xx is healthy, anything else (a
//! status, a refused connection, no head within the timeout) marks the deployment down
//! until a probe succeeds again. Probes run one after another on blocking sockets: a
//! round over many slow deployments can take longer than the interval, which delays the
//! next round rather than overlapping it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::http1::{parse_response, Limits, Status, EMPTY_HEADERS, HEADER_SLOTS};

use super::Shared;
use crate::config::{Provider, Snapshot, Upstream};
use crate::log;

/// How often the thread looks at the drain flag while it waits for the next probe.
const POLL: Duration = Duration::from_millis(50);

/// Largest probe response head read.
const HEAD_BYTES_MAX: usize = 16 * 1024;

struct Probe {
    deployment: usize,
    provider: usize,
    request: Vec<u8>,
    interval: Duration,
    timeout: Duration,
    due: Instant,
}

/// Start the checker when any group asks for it; it exits once `shared.draining` is set.
pub(super) fn start(
    snap: &Arc<Snapshot>,
    shared: &Arc<Shared>,
) -> io::Result<Option<JoinHandle<()>>> {
    let mut probes = Vec::new();
    let now = Instant::now();
    for m in &snap.models {
        let Some(hc) = &m.health_check else { continue };
        for d in &m.deployments {
            let p = &snap.providers[d.provider];
            let Some(up) = &p.upstream else { continue };
            probes.push(Probe {
                deployment: d.id,
                provider: d.provider,
                request: request(p, up, &hc.path),
                interval: hc.interval,
                timeout: hc.timeout,
                due: now,
            });
        }
    }
    if probes.is_empty() {
        return Ok(None);
    }
    let snap = snap.clone();
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("sluice-health".into())
        .spawn(move || run(&snap, &shared, probes))
        .map(Some)
}

fn request(p: &Provider, up: &Upstream, path: &str) -> Vec<u8> {
    let mut r = Vec::with_capacity(256);
    r.extend_from_slice(b"GET ");
    r.extend_from_slice(up.path_prefix.as_bytes());
    r.extend_from_slice(path.as_bytes());
    r.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    r.extend_from_slice(up.host_header.as_bytes());
    r.extend_from_slice(b"\r\n");
    for (name, value) in &p.headers {
        proto::http1::write_header(&mut r, name.as_bytes(), value.0.as_bytes());
    }
    r.extend_from_slice(b"user-agent: sluice-health\r\nconnection: close\r\n\r\n");
    r
}

fn run(snap: &Snapshot, shared: &Shared, mut probes: Vec<Probe>) {
    while !shared.draining.load(Ordering::Relaxed) {
        let now = Instant::now();
        for pr in probes.iter_mut().filter(|p| p.due <= now) {
            let p = &snap.providers[pr.provider];
            let up = p.upstream.as_ref().expect("probes are made for upstreams");
            let healthy = check(up, &pr.request, pr.timeout).unwrap_or(false);
            let h = &shared.health[pr.deployment];
            let was_down = h.probe_down.swap(!healthy, Ordering::Relaxed);
            if was_down == healthy {
                let label = &snap.deployment_labels[pr.deployment];
                let state = if healthy { "up" } else { "down" };
                log::info("health check", &[("deployment", label), ("state", state)]);
            }
            pr.due = Instant::now() + pr.interval;
            if shared.draining.load(Ordering::Relaxed) {
                return;
            }
        }
        let next = probes.iter().map(|p| p.due).min().unwrap_or(now + POLL);
        std::thread::sleep(next.saturating_duration_since(Instant::now()).min(POLL));
    }
}

/// One probe: whether the answer's status is 2xx within `timeout`.
fn check(up: &Upstream, request: &[u8], timeout: Duration) -> io::Result<bool> {
    let until = Instant::now() + timeout;
    let tcp = TcpStream::connect_timeout(&up.addr, timeout)?;
    let left = || {
        until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    tcp.set_read_timeout(Some(left()))?;
    tcp.set_write_timeout(Some(left()))?;
    let mut io: Box<dyn ReadWrite> = match &up.tls {
        None => Box::new(tcp),
        Some((cfg, name)) => {
            let conn = rustls::ClientConnection::new(cfg.clone(), name.clone())
                .map_err(io::Error::other)?;
            Box::new(rustls::StreamOwned::new(conn, tcp))
        }
    };
    io.write_all(request)?;
    let mut buf = Vec::with_capacity(1024);
    let mut headers = Box::new(EMPTY_HEADERS);
    let limits = Limits {
        head_bytes_max: HEAD_BYTES_MAX,
        header_count_max: HEADER_SLOTS,
        uri_bytes_max: 8 * 1024,
        body_bytes_max: u64::MAX,
    };
    let mut chunk = [0u8; 4096];
    loop {
        if Instant::now() >= until {
            return Ok(false);
        }
        let n = io.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf, &mut headers, &limits, false) {
            Ok(Status::Complete(h)) if h.status < 200 => {
                buf.drain(..h.head_len);
            }
            Ok(Status::Complete(h)) => return Ok((200..300).contains(&h.status)),
            Ok(Status::Partial) => {}
            Err(_) => return Ok(false),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
