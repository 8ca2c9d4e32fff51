//! Tests of the `sluice` binary itself: the CLI, demo mode, signals and the drain.
//! End-to-end tests of the request path live in the `tests/` crate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sluice");

/// A running `sluice serve` and the addresses it printed.
struct Proc {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    /// Every stderr line so far, collected by a reader thread.
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

fn field(line: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Proc {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            lines: rx,
            seen: vec![],
        };
        let line = p.wait_line("sluice listening", Duration::from_secs(20));
        p.addr = field(&line, "addr").unwrap().parse().unwrap();
        p.admin = field(&line, "admin").unwrap().parse().unwrap();
        p
    }

    fn wait_line(&mut self, needle: &str, within: Duration) -> String {
        let until = Instant::now() + within;
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        while let Ok(line) = self
            .lines
            .recv_timeout(until.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no stderr line containing {needle:?}; saw {:?}", self.seen);
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < until,
                "sluice did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chat(stream: bool) -> Vec<u8> {
    let body = format!(
        r#"{{"model":"demo","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
    );
    format!("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn demo_mode_serves_without_a_config_and_prints_a_curl_line() {
    let mut p = Proc::spawn(&["--workers", "1"]);
    let curl = p.wait_line("curl -s http://", Duration::from_secs(5));
    assert!(
        curl.contains(&p.addr.to_string()) && curl.contains("\"model\":\"demo\""),
        "{curl}"
    );
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&chat(false)).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\"usage\":{\"prompt_tokens\":"), "{text}");
    assert!(get(p.admin, "/readyz").starts_with("HTTP/1.1 200"));
}

#[test]
fn sigterm_drains_a_stream_in_flight_then_exits_zero() {
    let mut p = Proc::spawn(&["--workers", "2", "--driver", "epoll"]);
    p.wait_line("\"driver\":\"epoll\"", Duration::from_secs(1));
    let mut s = TcpStream::connect(p.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&chat(true)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The head and the first frame, then the signal while the rest is still coming.
    while !got.windows(6).any(|w| w == b"data: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    p.signal(libc::SIGTERM);
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("stream broke during the drain: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("data: [DONE]"),
        "the in-flight stream finished: {text}"
    );
    assert!(text.ends_with("0\r\n\r\n"), "well-formed chunked end");
    // The head went out before the signal, so it could not say `connection: close`;
    // the loop above ended on EOF: the drain closed the connection after the response.
    let status = p.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    p.wait_line("\"msg\":\"draining\"", Duration::from_secs(1));
    // Nothing listens any more.
    assert!(TcpStream::connect(p.addr).is_err());
}

#[test]
fn sigint_with_idle_keepalive_connections_exits_promptly() {
    let mut p = Proc::spawn(&["--workers", "1"]);
    // An idle keep-alive connection must not hold the drain for its timeout.
    let mut idle = TcpStream::connect(p.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    idle.write_all(&chat(false)).unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0);
    let t = Instant::now();
    p.signal(libc::SIGINT);
    assert!(p.wait_exit(Duration::from_secs(5)).success());
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "drain waited on an idle connection: {:?}",
        t.elapsed()
    );
    assert_eq!(
        idle.read(&mut buf).unwrap(),
        0,
        "the idle connection was closed"
    );
}

fn check(config: &str) -> (bool, String, String) {
    let dir = std::env::temp_dir().join(format!(
        "sluice-check-{}-{}",
        std::process::id(),
        config.len()
    ));
    std::fs::write(&dir, config).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_prints_the_compiled_config_or_the_error_location() {
    let (ok, out, _) = check(
        "[[providers]]\nname = \"local\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8000/v1\"\napi_key = \"hunter2\"\n\n[[models]]\nname = \"m\"\nprovider = \"local\"\n",
    );
    assert!(ok, "{out}");
    assert!(
        out.contains("provider local (openai-compatible) -> http://127.0.0.1:8000/v1"),
        "{out}"
    );
    assert!(
        out.contains("model m: 1 deployment(s)") && out.contains("-> local:m "),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "secrets are never printed");
    let (ok, _, err) = check("[server]\nworkers = 2\nbogus = 1\n");
    assert!(!ok);
    assert!(err.contains(":3: ") && err.contains("bogus"), "{err}");
}

#[test]
fn bad_arguments_fail_with_usage() {
    let out = Command::new(BIN)
        .args(["serve", "--workers", "many"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workers takes a number"));
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A minimal OpenAI-shaped upstream on a real socket: every request on a keep-alive
/// connection gets the same chat completion, 10 prompt and 5 completion tokens.
fn fixed_upstream() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || serve_fixed(s));
        }
    });
    addr
}

fn serve_fixed(mut s: TcpStream) {
    let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut tmp) {
                Ok(n) if n > 0 => {
                    buf.extend_from_slice(&tmp[..n]);
                    continue;
                }
                _ => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < end + 4 + len {
            match s.read(&mut tmp) {
                Ok(n) if n > 0 => buf.extend_from_slice(&tmp[..n]),
                _ => return,
            }
        }
        buf.drain(..end + 4 + len);
        let out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

const ADMIN_KEY: &str = "admin-key-binary-test-0123";

fn governed_config(dir: &std::path::Path, upstream: SocketAddr) -> std::path::PathBuf {
    let cfg = format!(
        r#"
[log]
access_log = "off"

[admin]
key = "{ADMIN_KEY}"

[data]
dir = "{}"

[[providers]]
name = "fixed"
kind = "openai-compatible"
base_url = "http://{upstream}/v1"

[[models]]
name = "m"
deployments = [{{ provider = "fixed", input_price_per_mtok = 1.0, output_price_per_mtok = 2.0 }}]
"#,
        dir.join("data").display()
    );
    let path = dir.join("sluice.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn cli(admin: SocketAddr, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .args([
            "--admin",
            &format!("http://{admin}"),
            "--admin-key",
            ADMIN_KEY,
        ])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn chat_with(addr: SocketAddr, key: &str) -> String {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `kill -9` loses at most one second of spend: every request answered more than a
/// second before the kill is in the ledger after a restart. The CLI drives it all.
#[test]
fn sigkill_loses_at_most_one_second_of_spend_and_the_cli_reports_it() {
    let dir = std::env::temp_dir().join(format!("sluice-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let upstream = fixed_upstream();
    let config = governed_config(&dir, upstream);
    let config = config.to_str().unwrap();
    let mut p = Proc::spawn(&["--config", config, "--workers", "2"]);
    for args in [
        &["orgs", "create", "acme"][..],
        &["teams", "create", "ml", "--org", "acme"],
        &["users", "create", "bob", "--team", "ml"],
    ] {
        let (ok, out, err) = cli(p.admin, args);
        assert!(ok, "{args:?}: {out}{err}");
    }
    let (ok, key, err) = cli(
        p.admin,
        &["keys", "create", "--user", "bob", "--budget-usd", "5"],
    );
    assert!(ok, "{key}{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("sk-sluice-"), "{key}");
    for _ in 0..30 {
        let r = chat_with(p.addr, &key);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    std::thread::sleep(Duration::from_millis(1100));
    p.signal(libc::SIGKILL);
    p.wait_exit(Duration::from_secs(5));
    drop(p);
    let p = Proc::spawn(&["--config", config, "--workers", "2"]);
    let (ok, out, err) = cli(
        p.admin,
        &["spend", "--group-by", "org,model", "--format", "json"],
    );
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &v["data"][0];
    assert_eq!(row["org"], "acme", "{out}");
    assert_eq!(
        row["requests"], 30,
        "every request a second before the kill: {out}"
    );
    assert_eq!(row["input_tokens"], 300);
    assert_eq!(row["output_tokens"], 150);
    // 30 × (10 × $1 + 5 × $2) per million tokens.
    assert!(
        (row["cost_usd"].as_f64().unwrap() - 0.0006).abs() < 1e-12,
        "{out}"
    );
    // The key survived the kill and still works; CSV for chargeback.
    assert!(chat_with(p.addr, &key).starts_with("HTTP/1.1 200"));
    let (ok, csv, err) = cli(p.admin, &["spend", "--group-by", "org", "--format", "csv"]);
    assert!(ok, "{err}");
    assert!(csv.lines().next().unwrap().starts_with("org,"), "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}
