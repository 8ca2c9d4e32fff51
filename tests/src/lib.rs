//! Helpers for the end-to-end tests: the real gateway in-process on port 0 ([`Gateway`]),
//! the mock upstream from `loadtest` ([`mock`]), a raw HTTP/1.1 client with read
//! timeouts ([`client::Client`]), TLS pieces ([`tls`]), an OpenAI stream reassembler
//! ([`assemble`]), and [`both_drivers!`], which runs a test once per monoio driver.
//!
//! Invariants:
//! - Everything binds 127.0.0.1 port 0, so tests run in parallel without coordination.
//! - Every blocking read has a timeout: a gateway bug fails a test in seconds, never hangs
//!   it.
//! - A driver that cannot start is a failure, never a skip: an io_uring test that cannot
//!   get io_uring panics.

pub mod client;
pub mod tls;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use engine::config::Overrides;
use engine::ServerHandle;
use loadtest::mock::{MockConfig, MockHandle};

pub use client::{Client, Response};

/// The client key every standard config accepts.
pub const CLIENT_KEY: &str = "sk-client-e2e";
/// The key the gateway presents to the mock provider.
pub const PROVIDER_KEY: &str = "sk-provider-secret";
/// A client-facing model that the standard config maps to [`UPSTREAM_MODEL`].
pub const MODEL: &str = "gpt-e2e";
pub const UPSTREAM_MODEL: &str = "mock-model-v1";
/// A client-facing model passed to the upstream under its own name.
pub const PLAIN_MODEL: &str = "mock-plain";
pub const EMBED_MODEL: &str = "embed-e2e";

/// How long a test waits for a response or a condition before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Which monoio driver a test runs the gateway and the mock on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drv {
    IoUring,
    Epoll,
}

impl Drv {
    pub fn gateway(self) -> engine::config::Driver {
        match self {
            Drv::IoUring => engine::config::Driver::IoUring,
            Drv::Epoll => engine::config::Driver::Epoll,
        }
    }

    pub fn mock(self) -> loadtest::mock::Driver {
        match self {
            Drv::IoUring => loadtest::mock::Driver::IoUring,
            Drv::Epoll => loadtest::mock::Driver::Epoll,
        }
    }
}

/// `both_drivers!(fn name(d) { ... })` makes `name::io_uring` and `name::epoll`, each a
/// `#[test]` with `d: Drv` bound to its driver.
#[macro_export]
macro_rules! both_drivers {
    ($(#[$meta:meta])* fn $name:ident($d:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            #[test]
            fn io_uring() {
                let $d = $crate::Drv::IoUring;
                $body
            }

            $(#[$meta])*
            #[test]
            fn epoll() {
                let $d = $crate::Drv::Epoll;
                $body
            }
        }
    };
}

/// A running gateway; stopped (drained and joined) on drop.
pub struct Gateway {
    handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
}

impl Gateway {
    /// Compile `toml` with listeners on port 0, one worker, and the test's driver.
    pub fn start(toml: &str, d: Drv) -> Gateway {
        Gateway::start_workers(toml, d, 1)
    }

    pub fn start_workers(toml: &str, d: Drv, workers: usize) -> Gateway {
        let ov = Overrides {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            workers: Some(workers),
            driver: Some(d.gateway()),
        };
        let snap = engine::config::from_str("test.toml", toml, &ov)
            .unwrap_or_else(|e| panic!("config: {e}\n{toml}"));
        let handle = engine::start(snap).expect("engine::start");
        // With an explicit driver a worker that cannot build its runtime exits with an
        // error, and wait_ready says so: the test fails rather than skips.
        assert!(
            handle.wait_ready(WAIT),
            "gateway workers did not become ready on {d:?}"
        );
        Gateway {
            addr: handle.addr,
            admin_addr: handle.admin_addr,
            handle: Some(handle),
        }
    }

    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().expect("gateway already stopped")
    }

    /// Begin the drain (returns at once).
    pub fn shutdown(&self) {
        self.handle().shutdown();
    }

    /// Wait for the drain to finish.
    pub fn join(mut self) -> std::io::Result<()> {
        self.handle.take().expect("gateway already stopped").join()
    }

    pub fn stop(mut self) -> std::io::Result<()> {
        self.handle.take().expect("gateway already stopped").stop()
    }

    /// A new plain-TCP client connection.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// GET a path on the admin listener.
    pub fn admin_get(&self, path: &str) -> Response {
        let mut c = Client::connect(self.admin_addr);
        c.request(format!("GET {path} HTTP/1.1\r\nhost: admin\r\n\r\n").as_bytes())
    }

    /// `/metrics` as scraped over HTTP.
    pub fn metrics(&self) -> String {
        let r = self.admin_get("/metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }

    /// Wait (bounded) until the sample `series` reads `want`. Requests are counted
    /// after their last byte is written, so a client can see a response before its
    /// count moves.
    pub fn wait_metric(&self, series: &str, want: f64) -> bool {
        wait_until(WAIT, || self.metric(series) == want)
    }

    /// The value of one sample line (`name{labels}` exactly as rendered), 0 if absent.
    pub fn metric(&self, series: &str) -> f64 {
        metric(&self.metrics(), series).unwrap_or(0.0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.stop();
        }
    }
}

/// The value of the sample named exactly `series` (with labels) in Prometheus text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map(|v| v.trim().parse().expect("metric value"))
}

/// A mock config on 127.0.0.1:0 with the test's driver and a fixed seed.
pub fn mock_config(d: Drv) -> MockConfig {
    MockConfig {
        driver: d.mock(),
        seed: 7,
        ..MockConfig::default()
    }
}

/// Start a mock and check it runs on the driver that was asked for.
pub fn start_mock(cfg: MockConfig) -> MockHandle {
    let want = cfg.driver;
    let m =
        loadtest::mock::start(cfg).unwrap_or_else(|e| panic!("mock did not start on {want}: {e}"));
    assert!(
        m.drivers.iter().all(|&d| d == want),
        "mock asked for {want}, runs {:?}",
        m.drivers
    );
    m
}

/// A mock with default behaviour.
pub fn mock(d: Drv) -> MockHandle {
    start_mock(mock_config(d))
}

/// A mock that records the last requests it received.
pub fn recording_mock(d: Drv) -> MockHandle {
    start_mock(MockConfig {
        record: 64,
        ..mock_config(d)
    })
}

/// The standard config: auth on, one openai-compatible provider at `upstream`, a mapped
/// model, a plain model, an embedding model and a pattern. `extra` is appended (more
/// tables, e.g. `[limits]`); `provider_extra` goes inside the provider table.
pub fn config(upstream: SocketAddr, provider_extra: &str, extra: &str) -> String {
    format!(
        r#"
[server]
drain_timeout_ms = 3000

[log]
access_log = "off"

[auth]
keys = ["{CLIENT_KEY}"]

[[providers]]
name = "mock"
kind = "openai-compatible"
base_url = "http://{upstream}/v1"
api_key = "{PROVIDER_KEY}"
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}
{provider_extra}

[[models]]
name = "{MODEL}"
provider = "mock"
model = "{UPSTREAM_MODEL}"

[[models]]
name = "{PLAIN_MODEL}"
provider = "mock"

[[models]]
name = "{EMBED_MODEL}"
provider = "mock"
model = "mock-embedding"

[[models]]
name = "mock/*"
provider = "mock"
{extra}
"#
    )
}

/// A chat request body.
pub fn chat_body(model: &str, stream: bool) -> String {
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"Say hello to the tests, please."}}],"max_tokens":24,"stream":{stream}}}"#
    )
}

/// A complete HTTP/1.1 POST with a JSON body, the client key, and `extra` header lines
/// (each ending in CRLF).
pub fn post(path: &str, body: &str, extra: &str) -> Vec<u8> {
    post_with_key(path, body, Some(CLIENT_KEY), extra)
}

pub fn post_with_key(path: &str, body: &str, key: Option<&str>, extra: &str) -> Vec<u8> {
    let auth = key
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nhost: sluice.test\r\ncontent-type: application/json\r\n{auth}{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A GET with the client key.
pub fn get(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nhost: sluice.test\r\nauthorization: Bearer {CLIENT_KEY}\r\n\r\n"
    )
    .into_bytes()
}

/// Poll `cond` every few milliseconds until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
pub fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).expect("SSE body is UTF-8");
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// An OpenAI chat stream as a client SDK reassembles it (see [`assemble`]).
#[derive(Debug, Default)]
pub struct Assembled {
    pub role: Option<String>,
    pub content: String,
    /// Tool call index → (id, name, arguments).
    pub calls: BTreeMap<u64, (String, String, String)>,
    pub finish: Option<String>,
    pub usage: Option<serde_json::Value>,
    /// Error events (`data: {"error": ...}`), in order.
    pub errors: Vec<serde_json::Value>,
    /// `data: [DONE]` was seen.
    pub done: bool,
}

/// Reassemble an OpenAI chat stream, checking that every chunk is a
/// `chat.completion.chunk` for the client-facing `model`.
pub fn assemble(body: &[u8], model: &str) -> Assembled {
    let mut a = Assembled::default();
    for d in sse_data(body) {
        if d == "[DONE]" {
            a.done = true;
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&d).unwrap_or_else(|e| panic!("{e}: {d}"));
        if v.get("error").is_some() {
            a.errors.push(v);
            continue;
        }
        assert_eq!(v["object"], "chat.completion.chunk", "{d}");
        assert_eq!(v["model"], model, "the client's model name: {d}");
        if v["usage"].is_object() {
            a.usage = Some(v["usage"].clone());
        }
        for c in v["choices"].as_array().unwrap() {
            let delta = &c["delta"];
            if let Some(r) = delta["role"].as_str() {
                a.role = Some(r.into());
            }
            a.content.push_str(delta["content"].as_str().unwrap_or(""));
            for tc in delta["tool_calls"].as_array().into_iter().flatten() {
                let e = a.calls.entry(tc["index"].as_u64().unwrap()).or_default();
                if let Some(id) = tc["id"].as_str() {
                    e.0 = id.into();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    e.1 = n.into();
                }
                e.2.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
            }
            if let Some(f) = c["finish_reason"].as_str() {
                a.finish = Some(f.into());
            }
        }
    }
    a
}

/// Assert that `body` is exactly an OpenAI error object: `{"error":{"message","type",
/// "param","code"}}` with a non-empty message. Returns the error object.
pub fn assert_openai_error(body: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "error body is not JSON ({e}): {}",
            String::from_utf8_lossy(body)
        )
    });
    let obj = v.as_object().expect("error body is an object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["error"], "{v}");
    let err = v["error"].as_object().expect("error is an object");
    let mut keys: Vec<&str> = err.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message", "param", "type"], "{v}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(err["type"].is_string(), "{v}");
    assert!(err["param"].is_string() || err["param"].is_null(), "{v}");
    assert!(err["code"].is_string() || err["code"].is_null(), "{v}");
    v["error"].clone()
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sluice-e2e-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Write a file in the directory and return its path.
    pub fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// TCP connection states of sockets bound to local `port` (from /proc/net/tcp and tcp6),
/// as the kernel's hex codes: "01" ESTABLISHED, "08" CLOSE_WAIT, "0A" LISTEN, ...
pub fn tcp_states(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let Some(local) = cols.get(1) else { continue };
            let Some(p) = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            if p == port {
                out.push(cols[3].to_string());
            }
        }
    }
    out
}

/// A request head as the upstream received it: request line and headers (names
/// lower-cased, in order).
pub struct SeenHead {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
}

impl SeenHead {
    pub fn parse(head: &[u8]) -> SeenHead {
        let mut hs = proto::http1::EMPTY_HEADERS;
        let h = match proto::http1::parse_request(head, &mut hs, &proto::http1::Limits::DEFAULT) {
            Ok(proto::http1::Status::Complete(h)) => h,
            other => panic!(
                "recorded head does not parse ({other:?}): {}",
                String::from_utf8_lossy(head)
            ),
        };
        let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap();
        SeenHead {
            request_line: String::from_utf8_lossy(&head[..line_end]).into_owned(),
            headers: hs[..h.header_count]
                .iter()
                .map(|x| {
                    (
                        String::from_utf8_lossy(x.name.of(head)).to_ascii_lowercase(),
                        String::from_utf8_lossy(x.value.of(head)).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Every value of header `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "header {name} appears {} times", all.len());
        all.first().copied()
    }
}

/// The sum of every sample of `name` whose labels contain `label` (e.g. `status="413"`).
pub fn metric_sum(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{') && l.contains(label))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .unwrap()
                .parse::<f64>()
                .expect("metric value")
        })
        .sum()
}

/// A scripted upstream for behaviour the mock does not have: a thread accepts
/// connections and runs `handler(accept_index, stream)` for each on its own thread.
/// Stopped on drop.
pub struct RawUpstream {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: std::sync::Arc<AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RawUpstream {
    pub fn start(
        handler: impl Fn(usize, std::net::TcpStream) + Send + Sync + 'static,
    ) -> RawUpstream {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, accepted) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (st, acc, handler) = (stop.clone(), accepted.clone(), Arc::new(handler));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(WAIT)).unwrap();
                        let i = acc.fetch_add(1, Ordering::Relaxed) as usize;
                        let h = handler.clone();
                        std::thread::spawn(move || h(i, s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        RawUpstream {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one request (head and Content-Length body) from `s`, keeping extra bytes in
/// `buf`. `None` on EOF, error or timeout.
pub fn read_request(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    use std::io::Read;
    loop {
        let mut hs = proto::http1::EMPTY_HEADERS;
        if let Ok(proto::http1::Status::Complete(h)) =
            proto::http1::parse_request(buf, &mut hs, &proto::http1::Limits::DEFAULT)
        {
            let n = match h.body {
                proto::http1::BodyFraming::Length(n) => n as usize,
                _ => 0,
            };
            if buf.len() >= h.head_len + n {
                let head = buf[..h.head_len].to_vec();
                let body = buf[h.head_len..h.head_len + n].to_vec();
                buf.drain(..h.head_len + n);
                return Some((head, body));
            }
        }
        let mut tmp = [0u8; 16 * 1024];
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A complete response with a JSON body and `extra` header lines.
pub fn json_response(body: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}
