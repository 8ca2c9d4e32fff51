//! The JSON access log, written by a background thread.
//!
//! Workers hand a fixed-size, `Copy` [`Record`] to a bounded channel with `try_send`:
//! the request path never formats, allocates for, or waits on the log. When the writer
//! falls behind the record is dropped and counted (`sluice_access_log_dropped_total`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use proto::http1::Method;

use crate::config::{AccessLog as Destination, ATTEMPTS_MAX};
use crate::metrics::Route;

/// Records buffered between the workers and the writer. The channel's buffer is
/// allocated up front (~330 bytes a record), so this is also idle memory: 4096 records
/// is ~1.3 MiB, and the writer drains a burst of them in well under a millisecond.
pub const CHANNEL_RECORDS_MAX: usize = 4096;

/// A key id (at most 64 bytes, `spec::valid_id`), inline.
#[derive(Clone, Copy, Debug)]
pub struct KeyId {
    len: u8,
    bytes: [u8; 64],
}

impl KeyId {
    pub fn new(id: &str) -> KeyId {
        let n = id.len().min(64);
        let mut bytes = [0u8; 64];
        bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        KeyId {
            len: n as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// What the cache did for a request: the `x-sluice-cache` header and the log's `cache`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache, or a request it does not apply to.
    #[default]
    Off,
    /// The client asked to skip it, or the request cannot be keyed.
    Bypass,
    Miss,
    HitExact,
    HitSemantic,
}

impl CacheStatus {
    pub fn name(self) -> Option<&'static str> {
        match self {
            CacheStatus::Off => None,
            CacheStatus::Bypass => Some("bypass"),
            CacheStatus::Miss => Some("miss"),
            CacheStatus::HitExact => Some("hit-exact"),
            CacheStatus::HitSemantic => Some("hit-semantic"),
        }
    }

    pub fn hit(self) -> bool {
        matches!(self, CacheStatus::HitExact | CacheStatus::HitSemantic)
    }
}

/// One finished request.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub unix_us: u64,
    pub request_id: u64,
    pub worker: u16,
    pub peer: SocketAddr,
    pub method: Method,
    pub route: Route,
    /// Snapshot model index, when the model resolved.
    pub model: Option<u16>,
    pub status: u16,
    pub stream: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub total_us: u64,
    pub added_us: u64,
    /// Time from the upstream request to its response head.
    pub ttfb_us: u64,
    /// `Some(true)` when the upstream connection came from the pool.
    pub upstream_reused: Option<bool>,
    /// The error code, when the gateway produced the error.
    pub error: Option<&'static str>,
    /// The client went away before the response ended.
    pub client_aborted: bool,
    /// Tokens the provider reported (normalized), when the response carried them.
    pub usage: Option<LogUsage>,
    /// The request's cost in picodollars, when its usage and price are known.
    pub cost: Option<u64>,
    /// The virtual key's id, for governed requests (inline: a record is `Copy` and
    /// crosses to the writer thread without touching the key's shared `Arc`).
    pub key: Option<KeyId>,
    /// Every upstream attempt, in order.
    pub attempts: Attempts,
    /// A request the gateway mirrored to a shadow group (no client saw its answer).
    pub shadow: bool,
    /// What the response cache did.
    pub cache: CacheStatus,
}

/// One upstream attempt: which deployment, what it answered (status 0: no response),
/// the failure, and how long it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempt {
    /// Deployment id (`Snapshot::deployment_labels`).
    pub deployment: u16,
    pub status: u16,
    pub ms: u32,
    pub error: Option<crate::error::GatewayError>,
    /// Started as a hedge beside a slower attempt.
    pub hedge: bool,
    /// Lost a hedge race and was cancelled (its connection closed).
    pub cancelled: bool,
}

/// The attempts of one request, inline (no allocation).
#[derive(Clone, Copy, Debug, Default)]
pub struct Attempts {
    n: u8,
    list: [Attempt; ATTEMPTS_MAX],
}

impl Attempts {
    /// Record an attempt; returns its index. The failover loop never makes more than
    /// [`ATTEMPTS_MAX`]; extra ones are counted but not kept.
    pub fn push(&mut self, a: Attempt) -> usize {
        let i = usize::from(self.n);
        if let Some(slot) = self.list.get_mut(i) {
            *slot = a;
        }
        self.n = self.n.saturating_add(1);
        i
    }

    pub fn count(&self) -> usize {
        usize::from(self.n)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut Attempt> {
        self.list[..usize::from(self.n).min(ATTEMPTS_MAX)].get_mut(i)
    }

    pub fn as_slice(&self) -> &[Attempt] {
        &self.list[..usize::from(self.n).min(ATTEMPTS_MAX)]
    }
}

/// [`proto::chat::Usage`] in 32-bit fields (saturating), to keep [`Record`] small: the
/// channel preallocates its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogUsage {
    pub input: u32,
    pub output: u32,
    pub cache_read: u32,
    pub cache_write: u32,
    pub reasoning: u32,
}

impl From<proto::chat::Usage> for LogUsage {
    fn from(u: proto::chat::Usage) -> LogUsage {
        let c = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        LogUsage {
            input: c(u.input),
            output: c(u.output),
            cache_read: c(u.cache_read),
            cache_write: c(u.cache_write),
            reasoning: c(u.reasoning),
        }
    }
}

/// A worker's handle to the writer.
#[derive(Clone)]
pub struct Sender(Option<SyncSender<Record>>);

impl Sender {
    /// Hand a record to the writer; false when it had to be dropped.
    #[inline]
    pub fn send(&self, r: Record) -> bool {
        match &self.0 {
            None => true,
            Some(tx) => !matches!(tx.try_send(r), Err(TrySendError::Full(_))),
        }
    }
}

/// Start the writer thread. It exits when every [`Sender`] is dropped, after writing
/// what was queued. `names` name the snapshot's model indices and deployment ids.
pub fn start(
    dest: &Destination,
    names: Arc<Names>,
) -> std::io::Result<(Sender, Option<JoinHandle<()>>)> {
    let out: Box<dyn Write + Send> = match dest {
        Destination::Off => return Ok((Sender(None), None)),
        Destination::Stdout => Box::new(std::io::stdout()),
        Destination::Stderr => Box::new(std::io::stderr()),
        Destination::File(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
    };
    let (tx, rx) = sync_channel(CHANNEL_RECORDS_MAX);
    let handle = std::thread::Builder::new()
        .name("sluice-accesslog".into())
        .spawn(move || {
            write_loop(
                rx,
                std::io::BufWriter::with_capacity(64 * 1024, out),
                &names,
            )
        })?;
    Ok((Sender(Some(tx)), Some(handle)))
}

/// What the writer needs to name a record's indices.
#[derive(Debug, Default)]
pub struct Names {
    /// Per model index: (client-facing name, provider of its first deployment).
    pub models: Vec<(String, String)>,
    /// Per deployment id: its label and its provider's name.
    pub deployments: Vec<(String, String)>,
}

fn write_loop(rx: Receiver<Record>, mut out: impl Write, names: &Names) {
    let mut line = String::with_capacity(512);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        // Drain what is queued, then flush once: one write per burst, not per line.
        while let Some(r) = next {
            line.clear();
            format_record(&mut line, &r, names);
            let _ = out.write_all(line.as_bytes());
            next = rx.try_recv().ok();
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

fn method_str(m: Method) -> &'static str {
    match m {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Delete => "DELETE",
        Method::Patch => "PATCH",
        Method::Options => "OPTIONS",
        Method::Other => "OTHER",
    }
}

/// One JSON object and a newline. Every string written here is either a fixed label or
/// a configured model/provider name, escaped.
pub fn format_record(o: &mut String, r: &Record, names: &Names) {
    use std::fmt::Write as _;
    let _ = write!(o, "{{\"ts\":\"");
    format_ts(o, r.unix_us);
    let _ = write!(
        o,
        "\",\"request_id\":\"{:016x}\",\"worker\":{},\"peer\":\"{}\",\"method\":\"{}\",\"route\":\"{}\"",
        r.request_id,
        r.worker,
        r.peer,
        method_str(r.method),
        r.route.name()
    );
    if let Some((model, provider)) = r.model.and_then(|m| names.models.get(m as usize)) {
        let _ = write!(o, ",\"model\":{:?}", model);
        // The provider that answered: the last attempt's deployment's, else the group's
        // first.
        match r
            .attempts
            .as_slice()
            .last()
            .and_then(|a| names.deployments.get(usize::from(a.deployment)))
        {
            Some((label, provider)) => {
                let _ = write!(o, ",\"provider\":{provider:?},\"deployment\":{label:?}");
            }
            None => {
                let _ = write!(o, ",\"provider\":{:?}", provider);
            }
        }
    }
    let _ = write!(
        o,
        ",\"status\":{},\"stream\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{:.3},\"added_ms\":{:.3}",
        r.status,
        r.stream,
        r.bytes_in,
        r.bytes_out,
        r.total_us as f64 / 1e3,
        r.added_us as f64 / 1e3
    );
    if let Some(reused) = r.upstream_reused {
        let _ = write!(
            o,
            ",\"ttfb_ms\":{:.3},\"upstream_reused\":{reused}",
            r.ttfb_us as f64 / 1e3
        );
    }
    if let Some(e) = r.error {
        let _ = write!(o, ",\"error\":\"{e}\"");
    }
    if let Some(u) = &r.usage {
        let _ = write!(
            o,
            ",\"usage\":{{\"input\":{},\"output\":{},\"cache_read\":{},\"cache_write\":{},\"reasoning\":{}}}",
            u.input, u.output, u.cache_read, u.cache_write, u.reasoning
        );
    }
    if let Some(c) = r.cost {
        let _ = write!(o, ",\"cost_usd\":{}", crate::store::report::usd(c));
    }
    if let Some(k) = &r.key {
        // Key ids are `[A-Za-z0-9._-]` (spec::valid_id): no escaping needed.
        let _ = write!(o, ",\"key\":\"{}\"", k.as_str());
    }
    if r.client_aborted {
        o.push_str(",\"client_aborted\":true");
    }
    if let Some(c) = r.cache.name() {
        o.push_str(",\"cache\":\"");
        o.push_str(c);
        o.push('"');
    }
    if r.shadow {
        o.push_str(",\"shadow\":true");
    }
    if r.attempts.count() > 0 {
        o.push_str(",\"attempts\":[");
        for (i, a) in r.attempts.as_slice().iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let d = names
                .deployments
                .get(usize::from(a.deployment))
                .map_or("", |(label, _)| label.as_str());
            let _ = write!(
                o,
                "{{\"deployment\":{d:?},\"status\":{},\"ms\":{}",
                a.status, a.ms
            );
            if let Some(e) = a.error {
                let _ = write!(o, ",\"error\":\"{}\"", e.code());
            }
            if a.hedge {
                o.push_str(",\"hedge\":true");
            }
            if a.cancelled {
                o.push_str(",\"cancelled\":true");
            }
            o.push('}');
        }
        o.push(']');
    }
    o.push_str("}\n");
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from microseconds since the epoch (UTC).
pub fn format_ts(o: &mut String, unix_us: u64) {
    use std::fmt::Write as _;
    let secs = unix_us / 1_000_000;
    let (days, sod) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        o,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        unix_us / 1000 % 1000
    );
}

/// Microseconds since the Unix epoch.
pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            unix_us: 1_763_784_000_123_456,
            request_id: 0xabc,
            worker: 1,
            peer: "127.0.0.1:5555".parse().unwrap(),
            method: Method::Post,
            route: Route::ChatCompletions,
            model: Some(0),
            status: 200,
            stream: true,
            bytes_in: 10,
            bytes_out: 20,
            total_us: 1500,
            added_us: 42,
            ttfb_us: 900,
            upstream_reused: Some(true),
            error: None,
            client_aborted: false,
            usage: None,
            cost: Some(1_500_000),
            key: Some(KeyId::new("ci")),
            attempts: Attempts::default(),
            shadow: false,
            cache: CacheStatus::Off,
        }
    }

    fn names() -> Names {
        Names {
            models: vec![("gpt-\"4o".into(), "openai".into())],
            deployments: vec![
                ("gpt-4o/openai/gpt-4o".into(), "openai".into()),
                ("gpt-4o/azure/gpt-4o".into(), "azure".into()),
            ],
        }
    }

    #[test]
    fn records_stay_small() {
        // The channel preallocates CHANNEL_RECORDS_MAX of them (and touches every slot):
        // 4096 × 336 B = 1.3 MiB of resident memory at most (the inline key id is 65 B).
        assert!(
            std::mem::size_of::<Record>() <= 336,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn record_is_one_json_line() {
        let mut s = String::new();
        format_record(&mut s, &record(), &names());
        assert!(s.ends_with("}\n") && s.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["ts"], "2025-11-22T04:00:00.123Z");
        assert_eq!(v["model"], "gpt-\"4o");
        assert_eq!(v["status"], 200);
        assert_eq!(v["added_ms"], 0.042);
        assert_eq!(v["upstream_reused"], true);
        assert_eq!(v["request_id"], "0000000000000abc");
        assert_eq!(v["provider"], "openai");
        assert!(v.get("attempts").is_none());
        // 1,500,000 pUSD, exactly; the governed request's key.
        assert_eq!(v["cost_usd"].as_f64(), Some(0.0000015));
        assert_eq!(v["key"], "ci");
    }

    #[test]
    fn every_attempt_is_logged() {
        let mut r = record();
        r.attempts.push(Attempt {
            deployment: 1,
            status: 0,
            ms: 12,
            error: Some(crate::error::GatewayError::UpstreamConnect),
            ..Attempt::default()
        });
        r.attempts.push(Attempt {
            deployment: 0,
            status: 200,
            ms: 30,
            hedge: true,
            ..Attempt::default()
        });
        let mut s = String::new();
        format_record(&mut s, &r, &names());
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(
            v["deployment"], "gpt-4o/openai/gpt-4o",
            "the last attempt answered"
        );
        assert_eq!(v["provider"], "openai");
        let a = v["attempts"].as_array().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["deployment"], "gpt-4o/azure/gpt-4o");
        assert_eq!(a[0]["error"], "upstream_unreachable");
        assert_eq!(a[0]["status"], 0);
        assert_eq!(a[1]["status"], 200);
        assert_eq!(a[1]["hedge"], true);
    }

    #[test]
    fn writer_drains_and_exits_when_senders_drop() {
        let dir = std::env::temp_dir().join(format!("sluice-accesslog-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let (tx, handle) = start(
            &Destination::File(dir.clone()),
            Arc::new(Names {
                models: vec![("m".to_string(), "p".to_string())],
                deployments: vec![],
            }),
        )
        .unwrap();
        for _ in 0..100 {
            assert!(tx.send(record()));
        }
        drop(tx);
        handle.unwrap().join().unwrap();
        let text = std::fs::read_to_string(&dir).unwrap();
        assert_eq!(text.lines().count(), 100);
        let _ = std::fs::remove_file(&dir);
    }
}
