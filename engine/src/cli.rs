//! The admin CLI: `sluice keys|orgs|teams|users|budgets|spend ...` turned into calls to the
//! admin API of a running gateway (the HTTP contract is the admin API's; this module only
//! speaks it).
//!
//! Shape: [`parse`] turns the arguments into an [`Invocation`] (which admin endpoint, the
//! request, how to print the answer) without I/O, so argument handling is tested as a pure
//! function; [`send`] does one blocking HTTP/1.1 exchange over a `TcpStream`; [`run`]
//! glues them and prints.
//!
//! Why a hand-written client: the admin API is plain HTTP/1.1 on a loopback or private
//! listener, one request per connection with a Content-Length body. That is ~100 lines of
//! `std::net`, against an HTTP client crate with its own runtime. `https://` admin URLs are
//! refused with a clear error (tunnel the admin port instead).
//!
//! Secrets: `keys create` and `keys rotate` print the new secret alone on stdout (so
//! `SECRET=$(sluice keys create ...)` works) and the key id and a shown-once warning on
//! stderr.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};

use crate::store::report::rfc3339;

/// The admin URL when neither `--admin` nor `$SLUICE_ADMIN_URL` is given.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9090";
/// Connect, read and write timeout of the admin call.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head accepted.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Largest response body accepted (a long CSV spend report fits comfortably).
pub const RESPONSE_BODY_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The admin commands' usage, printed by `sluice --help` after the gateway commands.
pub const USAGE: &str = "\
admin commands (call a running gateway's admin API):
  sluice keys create --user ID [--name N] [--models a,b] [--routes chat,embeddings] [--rpm N]
                     [--tpm N] [--max-concurrency N] [--budget-usd X] [--budget-period P]
                     [--soft 80,95] [--expires-in 30d] [--tag k=v]... [--end-user-from user|header:NAME]
      Prints the new secret alone on stdout; it is shown once.
  sluice keys list [--user ID|--team ID|--org ID] [--format table|json]
  sluice keys show ID | revoke ID | rotate ID [--grace 1h] | update ID [flags of create]
  sluice orgs|teams|users create ID [--name N] [--org ID (teams)|--team ID (users)]
                     [--rpm N] [--tpm N] [--max-concurrency N] [--budget-usd X] [--budget-period P] [--soft L]
  sluice orgs|teams|users list [--format table|json] | show ID | update ID [flags] | delete ID
  sluice budgets [--format table|json]
  sluice spend [--from D] [--to D] [--group-by key,model] [--key K] [--user U] [--team T] [--org O]
               [--model M] [--provider P] [--format table|json|csv]
      D: YYYY-MM-DD, an RFC 3339 date-time or Unix seconds, UTC; [from, to); default the last 30 days.
      --group-by: key,user,team,org,model,provider,hour,day,month.
  On update, `none` clears a limit (--rpm none, --budget-usd none, --expires-in none).
  common: --admin URL (default $SLUICE_ADMIN_URL or http://127.0.0.1:9090)
          --admin-key K (default $SLUICE_ADMIN_KEY)
";

/// Where the admin API is and how to authenticate to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admin {
    pub url: String,
    pub key: Option<String>,
}

/// One admin API call.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub method: &'static str,
    /// Path and query, e.g. `/admin/keys?user=alice`.
    pub path: String,
    pub body: Option<Value>,
}

/// How the answer is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `keys create`/`rotate`: the `key` member alone on stdout, a warning on stderr.
    Secret,
    /// A readable table of the JSON answer.
    Table(TableKind),
    /// The body as the server sent it (`--format json|csv`).
    Raw,
    /// A single object, pretty-printed JSON.
    Pretty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    Keys,
    Entities,
    Budgets,
    Spend,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub admin: Admin,
    pub request: Request,
    pub output: Output,
}

/// The answer of the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub body: Vec<u8>,
}

/// Runs an admin command (`cmd` is `keys`, `orgs`, `teams`, `users`, `budgets` or `spend`).
/// A non-2xx answer is an error carrying the server's message (the binary exits 1).
pub fn run(cmd: &str, args: Vec<String>) -> Result<()> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(());
    }
    let inv = parse(cmd, &args, |name| std::env::var(name).ok())?;
    let resp = send(&inv.admin, &inv.request)?;
    if !(200..300).contains(&resp.status) {
        bail!(
            "admin API answered {} {}: {}",
            resp.status,
            resp.reason,
            error_message(&resp.body)
        );
    }
    let mut out = std::io::stdout().lock();
    match inv.output {
        Output::Raw => {
            out.write_all(&resp.body)?;
            if !resp.body.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
        }
        Output::Pretty => {
            let v = json_body(&resp.body)?;
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Output::Secret => {
            let v = json_body(&resp.body)?;
            let secret = v["key"]
                .as_str()
                .context("the admin API's answer has no \"key\" member")?;
            writeln!(out, "{secret}")?;
            eprintln!(
                "key {} ({}) for user {}\nwarning: the secret above is shown only once; store it \
                 now. It cannot be retrieved later (rotate the key to get a new one).",
                cell(&v["id"]),
                cell(&v["prefix"]),
                cell(&v["user"]),
            );
        }
        Output::Table(kind) => {
            let v = json_body(&resp.body)?;
            out.write_all(table(kind, &v).as_bytes())?;
        }
    }
    Ok(())
}

// ---- arguments → request --------------------------------------------------------------

/// Turns a command line into the admin call it means, without I/O. `env` supplies
/// `SLUICE_ADMIN_URL` and `SLUICE_ADMIN_KEY`.
pub fn parse(
    cmd: &str,
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Invocation> {
    let mut f = Flags::parse(args)?;
    let admin = Admin {
        url: f
            .one("admin")?
            .or_else(|| env("SLUICE_ADMIN_URL"))
            .unwrap_or_else(|| DEFAULT_ADMIN_URL.to_string()),
        key: f.one("admin-key")?.or_else(|| env("SLUICE_ADMIN_KEY")),
    };
    let (request, output) = match cmd {
        "keys" => keys(&mut f)?,
        "orgs" | "teams" | "users" => entities(cmd, &mut f)?,
        "budgets" => {
            let output = list_format(&mut f, TableKind::Budgets)?;
            (get("/admin/budgets".into()), output)
        }
        "spend" => spend(&mut f)?,
        other => bail!("unknown admin command {other:?}\n\n{USAGE}"),
    };
    f.finish()?;
    Ok(Invocation {
        admin,
        request,
        output,
    })
}

fn keys(f: &mut Flags) -> Result<(Request, Output)> {
    let sub =
        f.positional("keys needs a subcommand: create, list, show, revoke, rotate, update")?;
    Ok(match sub.as_str() {
        "create" => {
            if !f.has("user") {
                bail!("keys create needs --user ID");
            }
            let body = key_body(f)?;
            (post("/admin/keys".into(), body), Output::Secret)
        }
        "list" => {
            let mut path = "/admin/keys".to_string();
            let mut scope = None;
            for name in ["user", "team", "org"] {
                if let Some(v) = f.one(name)? {
                    if scope.replace(name).is_some() {
                        bail!("keys list takes one of --user, --team, --org");
                    }
                    path = format!("/admin/keys?{name}={}", pct(&v));
                }
            }
            (get(path), list_format(f, TableKind::Keys)?)
        }
        "show" => (get(item("keys", f)?), Output::Pretty),
        "revoke" => (delete(item("keys", f)?), Output::Pretty),
        "rotate" => {
            let path = format!("{}/rotate", item("keys", f)?);
            let mut body = Map::new();
            if let Some(g) = f.one("grace")? {
                body.insert("grace_seconds".into(), json!(duration_secs(&g)?));
            }
            (post(path, Value::Object(body)), Output::Secret)
        }
        "update" => {
            let path = item("keys", f)?;
            (patch(path, key_body(f)?), Output::Pretty)
        }
        other => bail!("unknown keys subcommand {other:?}\n\n{USAGE}"),
    })
}

fn entities(kind: &str, f: &mut Flags) -> Result<(Request, Output)> {
    let sub = f.positional(&format!(
        "{kind} needs a subcommand: create, list, show, update, delete"
    ))?;
    let base = format!("/admin/{kind}");
    Ok(match sub.as_str() {
        "create" => {
            let id = f.positional(&format!("{kind} create needs an ID"))?;
            let mut body = Map::new();
            body.insert("id".into(), json!(id));
            entity_fields(kind, f, &mut body)?;
            (post(base, Value::Object(body)), Output::Pretty)
        }
        "list" => (get(base), list_format(f, TableKind::Entities)?),
        "show" => (get(item(kind, f)?), Output::Pretty),
        "delete" => (delete(item(kind, f)?), Output::Pretty),
        "update" => {
            let path = item(kind, f)?;
            let mut body = Map::new();
            entity_fields(kind, f, &mut body)?;
            (patch(path, Value::Object(body)), Output::Pretty)
        }
        other => bail!("unknown {kind} subcommand {other:?}\n\n{USAGE}"),
    })
}

/// `name`, the parent (teams: `--org`, users: `--team`), limits and budget.
fn entity_fields(kind: &str, f: &mut Flags, body: &mut Map<String, Value>) -> Result<()> {
    string_field(f, body, "name", "name")?;
    let parent = match kind {
        "teams" => Some("org"),
        "users" => Some("team"),
        _ => None,
    };
    for p in ["org", "team"] {
        if Some(p) == parent {
            string_field(f, body, p, p)?;
        } else if f.has(p) {
            bail!("{kind} take no --{p}");
        }
    }
    limits(f, body)
}

fn key_body(f: &mut Flags) -> Result<Value> {
    let mut body = Map::new();
    string_field(f, &mut body, "user", "user")?;
    string_field(f, &mut body, "name", "name")?;
    for name in ["models", "routes"] {
        if let Some(v) = f.one(name)? {
            body.insert(name.into(), clearable(&v, |v| Ok(json!(list(v))))?);
        }
    }
    limits(f, &mut body)?;
    if let Some(v) = f.one("expires-in")? {
        if v == "none" {
            body.insert("expires_at".into(), Value::Null);
        } else {
            duration_secs(&v)?;
            body.insert("expires_in".into(), json!(v));
        }
    }
    let tags = f.all("tag");
    if !tags.is_empty() {
        let mut m = Map::new();
        for t in tags {
            let (k, v) = t
                .split_once('=')
                .with_context(|| format!("--tag takes KEY=VALUE, not {t:?}"))?;
            m.insert(k.to_string(), json!(v));
        }
        body.insert("tags".into(), Value::Object(m));
    }
    if let Some(v) = f.one("end-user-from")? {
        if v != "user" && !v.starts_with("header:") {
            bail!("--end-user-from takes user or header:NAME, not {v:?}");
        }
        body.insert("end_user".into(), json!({ "from": v }));
    }
    Ok(Value::Object(body))
}

/// `rpm`, `tpm`, `max_concurrency` and `budget` (`none` → null, which clears on update).
fn limits(f: &mut Flags, body: &mut Map<String, Value>) -> Result<()> {
    for (flag, member) in [
        ("rpm", "rpm"),
        ("tpm", "tpm"),
        ("max-concurrency", "max_concurrency"),
    ] {
        if let Some(v) = f.one(flag)? {
            let n = clearable(&v, |v| {
                let n: u64 = v
                    .parse()
                    .with_context(|| format!("--{flag} takes a whole number, not {v:?}"))?;
                Ok(json!(n))
            })?;
            body.insert(member.into(), n);
        }
    }
    let usd = f.one("budget-usd")?;
    let period = f.one("budget-period")?;
    let soft = f.one("soft")?;
    if usd.as_deref() == Some("none") {
        if period.is_some() || soft.is_some() {
            bail!("--budget-usd none clears the budget; drop --budget-period and --soft");
        }
        body.insert("budget".into(), Value::Null);
        return Ok(());
    }
    let mut budget = Map::new();
    if let Some(v) = usd {
        let x: f64 = v
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .with_context(|| format!("--budget-usd takes an amount in USD, not {v:?}"))?;
        budget.insert("usd".into(), json!(x));
    }
    if let Some(p) = period {
        budget.insert("period".into(), json!(p));
    }
    if let Some(s) = soft {
        let mut pcts = Vec::new();
        for p in list(&s) {
            let n: u8 = p
                .parse()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .with_context(|| format!("--soft takes percentages 1..=100, not {p:?}"))?;
            pcts.push(n);
        }
        budget.insert("soft".into(), json!(pcts));
    }
    if !budget.is_empty() {
        body.insert("budget".into(), Value::Object(budget));
    }
    Ok(())
}

fn spend(f: &mut Flags) -> Result<(Request, Output)> {
    let format = f.one("format")?.unwrap_or_else(|| "table".into());
    let (wire, output) = match format.as_str() {
        "table" => ("json", Output::Table(TableKind::Spend)),
        "json" => ("json", Output::Raw),
        "csv" => ("csv", Output::Raw),
        other => bail!("--format takes table, json or csv, not {other:?}"),
    };
    let mut qs = String::new();
    for (flag, param) in [
        ("from", "from"),
        ("to", "to"),
        ("group-by", "group_by"),
        ("key", "key"),
        ("user", "user"),
        ("team", "team"),
        ("org", "org"),
        ("model", "model"),
        ("provider", "provider"),
    ] {
        if let Some(v) = f.one(flag)? {
            qs.push_str(param);
            qs.push('=');
            qs.push_str(&pct(&v));
            qs.push('&');
        }
    }
    qs.push_str("format=");
    qs.push_str(wire);
    Ok((get(format!("/admin/spend?{qs}")), output))
}

fn list_format(f: &mut Flags, kind: TableKind) -> Result<Output> {
    match f.one("format")?.as_deref() {
        None | Some("table") => Ok(Output::Table(kind)),
        Some("json") => Ok(Output::Raw),
        Some(other) => bail!("--format takes table or json, not {other:?}"),
    }
}

fn item(kind: &str, f: &mut Flags) -> Result<String> {
    let id = f.positional(&format!("{kind}: which one? (an ID)"))?;
    Ok(format!("/admin/{kind}/{}", pct(&id)))
}

fn string_field(
    f: &mut Flags,
    body: &mut Map<String, Value>,
    flag: &str,
    member: &str,
) -> Result<()> {
    if let Some(v) = f.one(flag)? {
        body.insert(member.into(), json!(v));
    }
    Ok(())
}

fn clearable(v: &str, parse: impl FnOnce(&str) -> Result<Value>) -> Result<Value> {
    if v == "none" {
        Ok(Value::Null)
    } else {
        parse(v)
    }
}

fn list(v: &str) -> Vec<&str> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `90`, `90s`, `15m`, `1h`, `30d`, `2w` → seconds.
pub fn duration_secs(s: &str) -> Result<u64> {
    let bad = || anyhow!("{s:?} is not a duration (e.g. 90s, 15m, 1h, 30d, 2w)");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().map_err(|_| bad())?;
    let unit = match &s[split..] {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).ok_or_else(bad)
}

fn get(path: String) -> Request {
    Request {
        method: "GET",
        path,
        body: None,
    }
}

fn delete(path: String) -> Request {
    Request {
        method: "DELETE",
        path,
        body: None,
    }
}

fn post(path: String, body: Value) -> Request {
    Request {
        method: "POST",
        path,
        body: Some(body),
    }
}

fn patch(path: String, body: Value) -> Request {
    Request {
        method: "PATCH",
        path,
        body: Some(body),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so an ID can never
/// change the path or the query it is put in.
fn pct(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Flags are `--name VALUE` or `--name=VALUE` (every admin flag takes a value); the rest
/// are positional. Each flag is taken by the command that knows it; [`Flags::finish`]
/// rejects what no one took, so a misspelt flag is an error, not a silent no-op.
struct Flags {
    positional: std::collections::VecDeque<String>,
    named: Vec<(String, String)>,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags> {
        let mut f = Flags {
            positional: Default::default(),
            named: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.strip_prefix("--") {
                Some(rest) => {
                    let (name, value) = match rest.split_once('=') {
                        Some((n, v)) => (n.to_string(), v.to_string()),
                        None => {
                            let v = it
                                .next()
                                .with_context(|| format!("--{rest} needs a value"))?;
                            (rest.to_string(), v.clone())
                        }
                    };
                    f.named.push((name, value));
                }
                None => f.positional.push_back(a.clone()),
            }
        }
        Ok(f)
    }

    fn has(&self, name: &str) -> bool {
        self.named.iter().any(|(n, _)| n == name)
    }

    fn one(&mut self, name: &str) -> Result<Option<String>> {
        let mut all = self.all(name);
        if all.len() > 1 {
            bail!("--{name} given more than once");
        }
        Ok(all.pop())
    }

    fn all(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.named.retain(|(n, v)| {
            if n == name {
                out.push(v.clone());
                false
            } else {
                true
            }
        });
        out
    }

    fn positional(&mut self, missing: &str) -> Result<String> {
        self.positional
            .pop_front()
            .with_context(|| missing.to_string())
    }

    fn finish(self) -> Result<()> {
        if let Some((n, _)) = self.named.first() {
            bail!("unknown or misplaced flag --{n} (see sluice --help)");
        }
        if let Some(p) = self.positional.front() {
            bail!("unexpected argument {p:?} (see sluice --help)");
        }
        Ok(())
    }
}

// ---- HTTP -----------------------------------------------------------------------------

/// `http://host[:port][/base]` → (host for DNS, port, Host header, base path).
fn parse_url(url: &str) -> Result<(String, u16, String, String)> {
    if url.starts_with("https://") {
        bail!(
            "{url}: https is not supported by the admin CLI (the admin listener is plain HTTP; \
             bind it to loopback or reach it through an SSH tunnel)"
        );
    }
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: the admin URL must start with http://"))?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .with_context(|| format!("{url}: unclosed [ in the host"))?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        bail!("{url}: no host");
    }
    let port = match port {
        Some(p) => p
            .parse()
            .with_context(|| format!("{url}: bad port {p:?}"))?,
        None => 80,
    };
    Ok((
        host.to_string(),
        port,
        authority.to_string(),
        base.to_string(),
    ))
}

/// The request bytes: one request per connection (`connection: close`).
fn request_bytes(host_header: &str, base: &str, admin: &Admin, req: &Request) -> Vec<u8> {
    let body = req.body.as_ref().map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{} {base}{} HTTP/1.1\r\nhost: {host_header}\r\nuser-agent: sluice-cli/{}\r\n\
         accept: application/json, text/csv\r\nconnection: close\r\n",
        req.method,
        req.path,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(k) = &admin.key {
        head.push_str(&format!("authorization: Bearer {k}\r\n"));
    }
    if req.body.is_some() {
        head.push_str("content-type: application/json\r\n");
    }
    if req.body.is_some() || matches!(req.method, "POST" | "PATCH" | "PUT") {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// One blocking HTTP/1.1 exchange with the admin API ([`TIMEOUT`] on connect, each read
/// and each write). The body is read by Content-Length, or to EOF when there is none.
pub fn send(admin: &Admin, req: &Request) -> Result<Response> {
    let (host, port, host_header, base) = parse_url(&admin.url)?;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .collect();
    let mut last = None;
    let mut stream = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match (stream, last) {
        (Some(s), _) => s,
        (None, Some(e)) => {
            return Err(e).with_context(|| format!("connecting to the admin API at {}", admin.url))
        }
        (None, None) => bail!("{host} resolved to no address"),
    };
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream
        .write_all(&request_bytes(&host_header, &base, admin, req))
        .with_context(|| format!("sending to {}", admin.url))?;
    read_response(&mut stream).with_context(|| format!("reading the answer of {}", admin.url))
}

fn read_response(r: &mut impl Read) -> Result<Response> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > RESPONSE_HEAD_BYTES_MAX {
            bail!("response head larger than {RESPONSE_HEAD_BYTES_MAX} bytes");
        }
        let n = r.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed before the response head ended");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next(), parts.next());
    let reason = parts.next().unwrap_or("").to_string();
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        bail!("not an HTTP/1.x response: {status_line:?}");
    }
    let status: u16 = code
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut content_length = None;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .with_context(|| format!("bad header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .with_context(|| format!("bad content-length {value:?}"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            bail!("the admin API sent transfer-encoding {value:?}; this client reads Content-Length bodies");
        }
    }
    if content_length.is_some_and(|n| n > RESPONSE_BODY_BYTES_MAX) {
        bail!("response body larger than {RESPONSE_BODY_BYTES_MAX} bytes");
    }
    let mut body = buf.split_off(head_end);
    match content_length {
        Some(n) => {
            if body.len() < n {
                let missing = n - body.len();
                let start = body.len();
                body.resize(n, 0);
                r.read_exact(&mut body[start..start + missing])
                    .context("connection closed before the body ended")?;
            }
            body.truncate(n);
        }
        None => {
            // `connection: close` framing: the body runs to EOF.
            r.take((RESPONSE_BODY_BYTES_MAX + 1 - body.len()) as u64)
                .read_to_end(&mut body)?;
            if body.len() > RESPONSE_BODY_BYTES_MAX {
                bail!("response body larger than {RESPONSE_BODY_BYTES_MAX} bytes");
            }
        }
    }
    Ok(Response {
        status,
        reason,
        body,
    })
}

// ---- output ---------------------------------------------------------------------------

fn json_body(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).context("the admin API's answer is not JSON")
}

/// The OpenAI-shaped `error.message`, else the body as text.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            let t = String::from_utf8_lossy(body).trim().to_string();
            if t.is_empty() {
                "(no message)".into()
            } else {
                t
            }
        })
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        // serde_json writes small floats as `1e-6`; Rust's f64 Display never uses an
        // exponent and still prints the shortest text that reads back the same.
        Value::Number(n) if n.is_f64() => {
            n.as_f64().map_or_else(|| n.to_string(), |x| x.to_string())
        }
        other => other.to_string(),
    }
}

fn time_cell(v: &Value) -> String {
    v.as_u64().map_or_else(|| cell(v), rfc3339)
}

fn budget_cell(v: &Value) -> String {
    match v {
        Value::Object(b) => format!(
            "{} USD/{}",
            cell(b.get("usd").unwrap_or(&Value::Null)),
            cell(b.get("period").unwrap_or(&Value::Null))
        ),
        other => cell(other),
    }
}

/// Renders a list answer as aligned columns.
pub fn table(kind: TableKind, v: &Value) -> String {
    let empty = Vec::new();
    let data = v["data"].as_array().unwrap_or(&empty);
    let (header, rows): (Vec<String>, Vec<Vec<String>>) = match kind {
        TableKind::Keys => (
            [
                "ID", "NAME", "USER", "PREFIX", "STATUS", "EXPIRES", "RPM", "TPM", "BUDGET",
            ]
            .map(String::from)
            .to_vec(),
            data.iter()
                .map(|k| {
                    vec![
                        cell(&k["id"]),
                        cell(&k["name"]),
                        cell(&k["user"]),
                        cell(&k["prefix"]),
                        if k["revoked"] == Value::Bool(true) {
                            "revoked"
                        } else {
                            "active"
                        }
                        .into(),
                        time_cell(&k["expires_at"]),
                        cell(&k["rpm"]),
                        cell(&k["tpm"]),
                        budget_cell(&k["budget"]),
                    ]
                })
                .collect(),
        ),
        TableKind::Entities => (
            [
                "ID",
                "NAME",
                "PARENT",
                "SOURCE",
                "RPM",
                "TPM",
                "CONCURRENCY",
                "BUDGET",
            ]
            .map(String::from)
            .to_vec(),
            data.iter()
                .map(|e| {
                    let parent = if e["team"].is_string() {
                        &e["team"]
                    } else {
                        &e["org"]
                    };
                    vec![
                        cell(&e["id"]),
                        cell(&e["name"]),
                        cell(parent),
                        cell(&e["source"]),
                        cell(&e["rpm"]),
                        cell(&e["tpm"]),
                        cell(&e["max_concurrency"]),
                        budget_cell(&e["budget"]),
                    ]
                })
                .collect(),
        ),
        TableKind::Budgets => (
            [
                "SCOPE",
                "ID",
                "LIMIT_USD",
                "SPENT_USD",
                "RESERVED_USD",
                "PERIOD",
                "START",
                "END",
            ]
            .map(String::from)
            .to_vec(),
            data.iter()
                .map(|b| {
                    vec![
                        cell(&b["scope"]),
                        cell(&b["id"]),
                        cell(&b["limit_usd"]),
                        cell(&b["spent_usd"]),
                        cell(&b["reserved_usd"]),
                        cell(&b["period"]),
                        time_cell(&b["period_start"]),
                        time_cell(&b["period_end"]),
                    ]
                })
                .collect(),
        ),
        TableKind::Spend => {
            let dims: Vec<String> = v["group_by"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect();
            const TOTALS: [&str; 7] = crate::store::report::TOTAL_COLUMNS;
            let header = dims
                .iter()
                .map(String::as_str)
                .chain(TOTALS)
                .map(str::to_uppercase)
                .collect();
            let rows = data
                .iter()
                .map(|r| {
                    dims.iter()
                        .map(String::as_str)
                        .chain(TOTALS)
                        .map(|c| cell(&r[c]))
                        .collect()
                })
                .collect();
            (header, rows)
        }
    };
    render(&header, &rows)
}

fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let mut line = String::new();
        for (i, (c, w)) in r.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(c);
            line.extend(std::iter::repeat_n(' ', w - c.chars().count()));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn req(cmd: &str, a: &str) -> (Request, Output) {
        let inv = parse(cmd, &args(a), no_env).unwrap_or_else(|e| panic!("{cmd} {a}: {e:#}"));
        (inv.request, inv.output)
    }

    fn err(cmd: &str, a: &str) -> String {
        match parse(cmd, &args(a), no_env) {
            Ok(inv) => panic!("{cmd} {a} should fail, got {inv:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn keys_create_maps_every_flag_to_the_body() {
        let (r, out) = req(
            "keys",
            "create --user alice --name ci --models gpt-4o,claude-* --routes chat,embeddings \
             --rpm 60 --tpm=100000 --max-concurrency 4 --budget-usd 12.5 --budget-period monthly \
             --soft 80,95 --expires-in 30d --tag region=eu --tag cost-center=42 \
             --end-user-from header:x-end-user",
        );
        assert_eq!(out, Output::Secret);
        assert_eq!((r.method, r.path.as_str()), ("POST", "/admin/keys"));
        assert_eq!(
            r.body.unwrap(),
            json!({
                "user": "alice", "name": "ci", "models": ["gpt-4o", "claude-*"],
                "routes": ["chat", "embeddings"], "rpm": 60, "tpm": 100000, "max_concurrency": 4,
                "budget": {"usd": 12.5, "period": "monthly", "soft": [80, 95]},
                "expires_in": "30d", "tags": {"region": "eu", "cost-center": "42"},
                "end_user": {"from": "header:x-end-user"}
            })
        );
        let (r, _) = req("keys", "create --user bob");
        assert_eq!(r.body.unwrap(), json!({"user": "bob"}));
    }

    #[test]
    fn keys_subcommands_map_to_their_endpoints() {
        let (r, out) = req("keys", "list --team ml");
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("GET", "/admin/keys?team=ml", Output::Table(TableKind::Keys))
        );
        assert!(r.body.is_none());
        let (r, out) = req("keys", "list --format json");
        assert_eq!((r.path.as_str(), out), ("/admin/keys", Output::Raw));
        let (r, out) = req("keys", "show key_0123456789abcdef");
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("GET", "/admin/keys/key_0123456789abcdef", Output::Pretty)
        );
        let (r, _) = req("keys", "revoke key_1");
        assert_eq!((r.method, r.path.as_str()), ("DELETE", "/admin/keys/key_1"));
        let (r, out) = req("keys", "rotate key_1 --grace 1h");
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("POST", "/admin/keys/key_1/rotate", Output::Secret)
        );
        assert_eq!(r.body.unwrap(), json!({"grace_seconds": 3600}));
        let (r, _) = req("keys", "rotate key_1");
        assert_eq!(r.body.unwrap(), json!({}));
        let (r, out) = req(
            "keys",
            "update key_1 --rpm none --budget-usd none --expires-in none --models a",
        );
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("PATCH", "/admin/keys/key_1", Output::Pretty)
        );
        assert_eq!(
            r.body.unwrap(),
            json!({"rpm": null, "budget": null, "expires_at": null, "models": ["a"]})
        );
        // An ID cannot escape its path segment.
        let (r, _) = req("keys", "show ../orgs?x=1");
        assert_eq!(r.path, "/admin/keys/..%2Forgs%3Fx%3D1");
    }

    #[test]
    fn entity_commands_map_to_their_endpoints() {
        let (r, out) = req(
            "teams",
            "create ml --org acme --name ML --rpm 10 --budget-usd 100 --budget-period 30d",
        );
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("POST", "/admin/teams", Output::Pretty)
        );
        assert_eq!(
            r.body.unwrap(),
            json!({"id": "ml", "name": "ML", "org": "acme", "rpm": 10,
                   "budget": {"usd": 100.0, "period": "30d"}})
        );
        let (r, _) = req("users", "create alice --team ml");
        assert_eq!(r.body.unwrap(), json!({"id": "alice", "team": "ml"}));
        let (r, _) = req("orgs", "create acme");
        assert_eq!(r.body.unwrap(), json!({"id": "acme"}));
        let (r, out) = req("orgs", "list");
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("GET", "/admin/orgs", Output::Table(TableKind::Entities))
        );
        let (r, _) = req("users", "show alice");
        assert_eq!((r.method, r.path.as_str()), ("GET", "/admin/users/alice"));
        let (r, _) = req("users", "update alice --tpm none --soft 50");
        assert_eq!((r.method, r.path.as_str()), ("PATCH", "/admin/users/alice"));
        assert_eq!(
            r.body.unwrap(),
            json!({"tpm": null, "budget": {"soft": [50]}})
        );
        let (r, _) = req("orgs", "delete acme");
        assert_eq!((r.method, r.path.as_str()), ("DELETE", "/admin/orgs/acme"));
        let (r, out) = req("budgets", "");
        assert_eq!(
            (r.method, r.path.as_str(), out),
            ("GET", "/admin/budgets", Output::Table(TableKind::Budgets))
        );
    }

    #[test]
    fn spend_builds_the_query_string() {
        let (r, out) = req(
            "spend",
            "--from 2026-12-01 --to 2026-12-04T10:00:00Z --group-by key,model --key k1 --user u \
             --team t --org o --model gpt-4o --provider openai",
        );
        assert_eq!(out, Output::Table(TableKind::Spend));
        assert_eq!(
            r.path,
            "/admin/spend?from=2026-12-01&to=2026-12-04T10%3A00%3A00Z&group_by=key%2Cmodel&key=k1\
             &user=u&team=t&org=o&model=gpt-4o&provider=openai&format=json"
        );
        // What the CLI sends, the server's parser reads back.
        let qs = r.path.split_once('?').unwrap().1;
        let (q, csv) = crate::store::report::parse_query(qs, 0).unwrap();
        assert!(!csv);
        assert_eq!(q.group_by.len(), 2);
        assert_eq!(q.filter.len(), 6);
        let (r, out) = req("spend", "--format csv");
        assert_eq!(
            (r.path.as_str(), out),
            ("/admin/spend?format=csv", Output::Raw)
        );
        let (_, out) = req("spend", "--format json");
        assert_eq!(out, Output::Raw);
    }

    #[test]
    fn bad_arguments_are_errors() {
        for (cmd, a, want) in [
            ("keys", "create", "needs --user"),
            ("keys", "create --user a --rpm ten", "whole number"),
            ("keys", "create --user a --budget-usd -1", "amount in USD"),
            ("keys", "create --user a --soft 80,120", "1..=100"),
            (
                "keys",
                "create --user a --expires-in soon",
                "not a duration",
            ),
            ("keys", "create --user a --tag novalue", "KEY=VALUE"),
            (
                "keys",
                "create --user a --end-user-from cookie",
                "header:NAME",
            ),
            ("keys", "create --user a --user b", "more than once"),
            ("keys", "create --user a --colour red", "--colour"),
            ("keys", "create --user", "needs a value"),
            ("keys", "list --user a --org b", "one of"),
            ("keys", "show", "which one"),
            ("keys", "show a b", "unexpected argument"),
            ("keys", "frobnicate", "unknown keys subcommand"),
            ("keys", "", "needs a subcommand"),
            ("users", "create alice --org acme", "take no --org"),
            ("orgs", "create acme --team ml", "take no --team"),
            (
                "orgs",
                "update acme --budget-usd none --soft 80",
                "clears the budget",
            ),
            ("spend", "--format xml", "table, json or csv"),
            ("budgets", "--format csv", "table or json"),
            ("nodes", "list", "unknown admin command"),
        ] {
            let e = err(cmd, a);
            assert!(e.contains(want), "{cmd} {a}: {e}");
        }
    }

    #[test]
    fn admin_url_and_key_come_from_flags_then_env_then_default() {
        let inv = parse("budgets", &[], no_env).unwrap();
        assert_eq!(
            inv.admin,
            Admin {
                url: DEFAULT_ADMIN_URL.into(),
                key: None
            }
        );
        let env = |n: &str| match n {
            "SLUICE_ADMIN_URL" => Some("http://10.0.0.1:9999".to_string()),
            "SLUICE_ADMIN_KEY" => Some("envkey".to_string()),
            _ => None,
        };
        let inv = parse("budgets", &[], env).unwrap();
        assert_eq!(
            inv.admin,
            Admin {
                url: "http://10.0.0.1:9999".into(),
                key: Some("envkey".into())
            }
        );
        let inv = parse(
            "budgets",
            &args("--admin http://h:1 --admin-key=flagkey"),
            env,
        )
        .unwrap();
        assert_eq!(
            inv.admin,
            Admin {
                url: "http://h:1".into(),
                key: Some("flagkey".into())
            }
        );
    }

    #[test]
    fn urls_and_durations() {
        let u = |s: &str| parse_url(s).unwrap();
        assert_eq!(
            u("http://127.0.0.1:9090"),
            ("127.0.0.1".into(), 9090, "127.0.0.1:9090".into(), "".into())
        );
        assert_eq!(
            u("http://admin.internal/"),
            (
                "admin.internal".into(),
                80,
                "admin.internal".into(),
                "".into()
            )
        );
        assert_eq!(
            u("http://[::1]:9090/sluice/"),
            ("::1".into(), 9090, "[::1]:9090".into(), "/sluice".into())
        );
        assert!(
            format!("{:#}", parse_url("https://h").unwrap_err()).contains("https is not supported")
        );
        assert!(parse_url("ftp://h").is_err());
        assert!(parse_url("http://h:port").is_err());
        assert!(parse_url("http://:80").is_err());
        assert_eq!(duration_secs("90").unwrap(), 90);
        assert_eq!(duration_secs("15m").unwrap(), 900);
        assert_eq!(duration_secs("1h").unwrap(), 3600);
        assert_eq!(duration_secs("30d").unwrap(), 2_592_000);
        assert_eq!(duration_secs("2w").unwrap(), 1_209_600);
        for bad in ["", "h", "1y", "-1h", "1.5h", "99999999999999999999d"] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
    }

    /// A reader that hands out its bytes a few at a time, like a slow socket.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn responses_are_framed_by_content_length_or_eof() {
        let r = read_response(&mut Trickle(
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello worldEXTRA",
        ))
        .unwrap();
        assert_eq!(
            (r.status, r.reason.as_str(), r.body.as_slice()),
            (200, "OK", &b"hello world"[..])
        );
        let r = read_response(&mut Trickle(b"HTTP/1.0 404 Not Found\r\n\r\nto the end")).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"to the end"[..]));
        for (bad, want) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"[..],
                "before the body ended",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                "Content-Length",
            ),
            (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP"),
            (b"HTTP/1.1 200 OK\r\n", "before the response head ended"),
        ] {
            let e = format!("{:#}", read_response(&mut Trickle(bad)).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn tables_are_aligned_and_show_missing_values_as_dashes() {
        let v = json!({"group_by": ["key"], "data": [
            {"key": "k1", "requests": 3, "input_tokens": 10, "output_tokens": 20,
             "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_usd": 1.25},
            {"key": "a-much-longer-key", "requests": 1, "input_tokens": 1, "output_tokens": 1,
             "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.000001}
        ]});
        let t = table(TableKind::Spend, &v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("KEY                REQUESTS  INPUT_TOKENS"),
            "{t}"
        );
        assert!(
            lines[1].starts_with("k1                 3         10"),
            "{t}"
        );
        assert!(lines[2].ends_with("0.000001"), "{t}");
        let keys = json!({"data": [{"id": "key_1", "user": "alice", "prefix": "sk-sluice-ab12",
            "revoked": true, "expires_at": 1796083200, "budget": {"usd": 5, "period": "daily"}}]});
        let t = table(TableKind::Keys, &keys);
        let row = t.lines().nth(1).unwrap();
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [
                "key_1",
                "-",
                "alice",
                "sk-sluice-ab12",
                "revoked",
                "2026-12-01T00:00:00Z",
                "-",
                "-",
                "5",
                "USD/daily"
            ]
        );
        assert_eq!(
            table(TableKind::Budgets, &json!({"data": []}))
                .lines()
                .count(),
            1
        );
    }

    /// Serves one canned answer on 127.0.0.1:0 and hands back the raw request bytes.
    fn one_shot_server(answer: &'static [u8]) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            // Read the head, then the body its content-length announces.
            loop {
                let n = s.read(&mut chunk).unwrap();
                assert!(
                    n > 0,
                    "client closed early: {:?}",
                    String::from_utf8_lossy(&got)
                );
                got.extend_from_slice(&chunk[..n]);
                let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + len {
                    break;
                }
            }
            s.write_all(answer).unwrap();
            got
        });
        (url, h)
    }

    #[test]
    fn send_speaks_http11_to_a_real_socket() {
        let body = br#"{"id":"key_1","key":"sk-sluice-secret"}"#;
        let answer: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                body.len(),
                std::str::from_utf8(body).unwrap()
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let (url, server) = one_shot_server(answer);
        let inv = parse(
            "keys",
            &args(&format!(
                "create --user alice --rpm 5 --admin {url}/ --admin-key adm"
            )),
            no_env,
        )
        .unwrap();
        let resp = send(&inv.admin, &inv.request).unwrap();
        assert_eq!(
            (resp.status, resp.reason.as_str(), resp.body.as_slice()),
            (201, "Created", &body[..])
        );
        let raw = String::from_utf8(server.join().unwrap()).unwrap();
        let host = url.strip_prefix("http://").unwrap();
        let json = r#"{"rpm":5,"user":"alice"}"#;
        assert_eq!(
            raw,
            format!(
                "POST /admin/keys HTTP/1.1\r\nhost: {host}\r\nuser-agent: sluice-cli/{}\r\n\
                 accept: application/json, text/csv\r\nconnection: close\r\n\
                 authorization: Bearer adm\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{json}",
                env!("CARGO_PKG_VERSION"),
                json.len()
            )
        );
    }

    #[test]
    fn run_reports_the_servers_error_message() {
        let (url, server) = one_shot_server(
            b"HTTP/1.1 409 Conflict\r\ncontent-length: 97\r\n\r\n{\"error\":{\"message\":\"org acme has teams\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"x\"}}",
        );
        let e = run(
            "orgs",
            args(&format!("delete acme --admin {url} --admin-key k")),
        )
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("409 Conflict: org acme has teams"), "{msg}");
        let raw = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(
            raw.starts_with("DELETE /admin/orgs/acme HTTP/1.1\r\n"),
            "{raw}"
        );
        assert!(!raw.contains("content-length"), "no body, no length: {raw}");
        // Nothing listening: a connection error naming the URL.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        let e = run("budgets", args(&format!("--admin {dead} --admin-key k"))).unwrap_err();
        assert!(format!("{e:#}").contains(&dead), "{e:#}");
    }
}
