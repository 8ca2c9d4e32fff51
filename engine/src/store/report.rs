//! Spend reports: the admin API's `GET /admin/spend` query, run against the ledger, and
//! its JSON and CSV renderings (CSV is what chargeback spreadsheets import).
//!
//! Meaning of a query: the ledger rows whose hour *starts* in `[from, to)` and that match
//! every filter, summed per distinct value of the `group_by` dimensions (one total row
//! when `group_by` is empty). Ledger rows are whole hours, so a `from` of 10:30 starts at
//! the 11:00 row. Day and month buckets are UTC.
//!
//! Exactness: cost is summed in integer picodollars and printed as decimal text straight
//! from the integer (at least six decimals, up to twelve), never through a float.
//!
//! Dates: small civil-calendar helpers (Howard Hinnant's `days_from_civil` and
//! `civil_from_days`) instead of a date crate; they cover 1970..=9999, which is all a
//! ledger keyed by Unix seconds can hold.

use std::fmt::Write as _;
use std::path::Path;

use rusqlite::Connection;

use super::{sql_int, SpendDelta, StoreError};

/// A report dimension: a ledger column or a UTC time bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    Key,
    User,
    Team,
    Org,
    Model,
    Provider,
    Hour,
    Day,
    Month,
}

impl Dim {
    pub const ALL: [Dim; 9] = [
        Dim::Key,
        Dim::User,
        Dim::Team,
        Dim::Org,
        Dim::Model,
        Dim::Provider,
        Dim::Hour,
        Dim::Day,
        Dim::Month,
    ];

    pub fn parse(s: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Dim::Key => "key",
            Dim::User => "user",
            Dim::Team => "team",
            Dim::Org => "org",
            Dim::Model => "model",
            Dim::Provider => "provider",
            Dim::Hour => "hour",
            Dim::Day => "day",
            Dim::Month => "month",
        }
    }

    /// The ledger column, or `None` for a time bucket.
    pub fn column(self) -> Option<&'static str> {
        match self {
            Dim::Hour | Dim::Day | Dim::Month => None,
            // The column names are the dimension names.
            d => Some(d.name()),
        }
    }

    /// The SQL expression a GROUP BY uses; time buckets yield their start, Unix seconds.
    fn group_expr(self) -> &'static str {
        match self {
            Dim::Hour => "hour",
            Dim::Day => "(hour - hour % 86400)",
            Dim::Month => "CAST(strftime('%s', hour, 'unixepoch', 'start of month') AS INTEGER)",
            d => d.name(),
        }
    }
}

/// What to sum and how to split it. `from`/`to` are Unix seconds, `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: u64,
    pub to: u64,
    pub group_by: Vec<Dim>,
    /// Every filter must match (AND); only column dimensions may filter.
    pub filter: Vec<(Dim, String)>,
}

/// One group's totals. `group` has one value per `group_by` dimension, in order; time
/// buckets are RFC 3339 UTC (`2026-12-01T00:00:00Z`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub group: Vec<String>,
    pub totals: SpendDelta,
}

/// Column names of the totals, shared by JSON and CSV (the admin API's names).
pub const TOTAL_COLUMNS: [&str; 7] = [
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
];

/// The default report window when `from` is absent.
pub const DEFAULT_WINDOW_SECS: u64 = 30 * 86_400;

pub(super) fn run(
    conn: &Connection,
    path: &Path,
    q: &ReportQuery,
) -> Result<Vec<ReportRow>, StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        op: "report",
        source,
    };
    let mut sql = String::with_capacity(512);
    sql.push_str("SELECT ");
    for d in &q.group_by {
        sql.push_str(d.group_expr());
        sql.push_str(", ");
    }
    sql.push_str(
        "COALESCE(SUM(requests), 0), COALESCE(SUM(input), 0), COALESCE(SUM(output), 0), \
         COALESCE(SUM(cache_read), 0), COALESCE(SUM(cache_write), 0), \
         COALESCE(SUM(reasoning), 0), COALESCE(SUM(cost), 0) \
         FROM spend WHERE hour >= ?1 AND hour < ?2",
    );
    let mut args: Vec<rusqlite::types::Value> = vec![sql_int(q.from).into(), sql_int(q.to).into()];
    for (d, v) in &q.filter {
        let col = d.column().ok_or_else(|| StoreError::Invalid {
            path: path.to_path_buf(),
            op: "report",
            detail: format!("cannot filter on the time bucket {}", d.name()),
        })?;
        let _ = write!(sql, " AND {col} = ?{}", args.len() + 1);
        args.push(v.clone().into());
    }
    if !q.group_by.is_empty() {
        let mut cols = String::new();
        for i in 1..=q.group_by.len() {
            let _ = write!(cols, "{}{i}", if i > 1 { ", " } else { "" });
        }
        let _ = write!(sql, " GROUP BY {cols} ORDER BY {cols}");
    }
    let mut st = conn.prepare(&sql).map_err(err)?;
    let n = q.group_by.len();
    let rows = st
        .query_map(rusqlite::params_from_iter(args), |r| {
            let mut group = Vec::with_capacity(n);
            for (i, d) in q.group_by.iter().enumerate() {
                group.push(match d.column() {
                    Some(_) => r.get::<_, String>(i)?,
                    None => rfc3339(r.get::<_, u64>(i)?),
                });
            }
            Ok(ReportRow {
                group,
                totals: SpendDelta {
                    requests: r.get(n)?,
                    input: r.get(n + 1)?,
                    output: r.get(n + 2)?,
                    cache_read: r.get(n + 3)?,
                    cache_write: r.get(n + 4)?,
                    reasoning: r.get(n + 5)?,
                    cost: r.get(n + 6)?,
                },
            })
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(err)
}

/// Parses the admin API's query string (`from`, `to`, `group_by`, the six column filters,
/// `format`) into a query and whether CSV was asked for. Empty values count as absent
/// (`user=&team=`); unknown or repeated parameters are errors, so a typo never silently
/// widens a chargeback report.
pub fn parse_query(qs: &str, now_unix: u64) -> Result<(ReportQuery, bool), String> {
    let (mut from, mut to, mut group_by, mut csv) = (None, None, None, None);
    let mut filter: Vec<(Dim, String)> = Vec::new();
    for pair in qs.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        let value = percent_decode(value)?;
        if value.is_empty() {
            continue;
        }
        let twice = || format!("parameter {name:?} given twice");
        match name.as_str() {
            "from" | "to" => {
                let t = parse_time(&value).map_err(|e| format!("{name}: {e}"))?;
                let slot = if name == "from" { &mut from } else { &mut to };
                if slot.replace(t).is_some() {
                    return Err(twice());
                }
            }
            "group_by" => {
                let dims = parse_dims(&value)?;
                if group_by.replace(dims).is_some() {
                    return Err(twice());
                }
            }
            "format" => {
                let is_csv = match value.as_str() {
                    "json" => false,
                    "csv" => true,
                    other => return Err(format!("format must be json or csv, not {other:?}")),
                };
                if csv.replace(is_csv).is_some() {
                    return Err(twice());
                }
            }
            other => match Dim::parse(other).filter(|d| d.column().is_some()) {
                Some(d) if filter.iter().any(|(f, _)| *f == d) => return Err(twice()),
                Some(d) => filter.push((d, value)),
                None => {
                    return Err(format!(
                        "unknown parameter {other:?} (expected from, to, group_by, format, \
                         key, user, team, org, model, provider)"
                    ))
                }
            },
        }
    }
    let to = to.unwrap_or(now_unix);
    let from = from.unwrap_or(to.saturating_sub(DEFAULT_WINDOW_SECS));
    if from >= to {
        return Err(format!(
            "from ({}) must be before to ({})",
            rfc3339(from),
            rfc3339(to)
        ));
    }
    let q = ReportQuery {
        from,
        to,
        group_by: group_by.unwrap_or_default(),
        filter,
    };
    Ok((q, csv.unwrap_or(false)))
}

fn parse_dims(list: &str) -> Result<Vec<Dim>, String> {
    let mut dims = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let d = Dim::parse(name).ok_or_else(|| {
            format!(
                "group_by: unknown dimension {name:?} (expected key, user, team, org, model, \
                 provider, hour, day, month)"
            )
        })?;
        if dims.contains(&d) {
            return Err(format!("group_by: {name} given twice"));
        }
        dims.push(d);
    }
    Ok(dims)
}

/// `{"from":"<RFC 3339>","to":..,"group_by":[..],"data":[{<dims>, <totals>}]}`.
pub fn to_json(q: &ReportQuery, rows: &[ReportRow]) -> String {
    let mut s = String::with_capacity(128 + rows.len() * 200);
    let _ = write!(
        s,
        "{{\"from\":\"{}\",\"to\":\"{}\",\"group_by\":[",
        rfc3339(q.from),
        rfc3339(q.to)
    );
    for (i, d) in q.group_by.iter().enumerate() {
        let _ = write!(s, "{}\"{}\"", if i > 0 { "," } else { "" }, d.name());
    }
    s.push_str("],\"data\":[");
    for (i, row) in rows.iter().enumerate() {
        s.push_str(if i > 0 { ",{" } else { "{" });
        for (d, v) in q.group_by.iter().zip(&row.group) {
            let _ = write!(s, "\"{}\":{},", d.name(), json_string(v));
        }
        let t = &row.totals;
        let values = [
            t.requests,
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
        ];
        for (name, v) in TOTAL_COLUMNS.iter().zip(values) {
            let _ = write!(s, "\"{name}\":{v},");
        }
        let _ = write!(s, "\"cost_usd\":{}}}", usd(t.cost));
    }
    s.push_str("]}");
    s
}

/// A header row (the group dimensions, then the JSON's total names) and one row per group;
/// RFC 4180: CRLF line ends, fields with `,` `"` CR or LF quoted, quotes doubled.
pub fn to_csv(q: &ReportQuery, rows: &[ReportRow]) -> String {
    let mut s = String::with_capacity(128 + rows.len() * 100);
    let header = q
        .group_by
        .iter()
        .map(|d| d.name())
        .chain(TOTAL_COLUMNS.iter().copied());
    for (i, name) in header.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(name);
    }
    s.push_str("\r\n");
    for row in rows {
        for v in &row.group {
            csv_field(&mut s, v);
            s.push(',');
        }
        let t = &row.totals;
        let _ = write!(
            s,
            "{},{},{},{},{},{},{}\r\n",
            t.requests,
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
            usd(t.cost)
        );
    }
    s
}

fn csv_field(s: &mut String, v: &str) {
    if v.contains([',', '"', '\r', '\n']) {
        s.push('"');
        s.push_str(&v.replace('"', "\"\""));
        s.push('"');
    } else {
        s.push_str(v);
    }
}

fn json_string(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string())
}

const PUSD_PER_USD: u64 = 1_000_000_000_000;

/// Picodollars as exact decimal USD: at least 6 decimals, trailing zeros past that trimmed.
pub fn usd(pusd: u64) -> String {
    let mut frac = format!("{:012}", pusd % PUSD_PER_USD);
    while frac.len() > 6 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{}.{frac}", pusd / PUSD_PER_USD)
}

// ---- civil dates ----------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-12-01T10:00:00Z`.
pub fn rfc3339(unix: u64) -> String {
    let (days, sod) = ((unix / 86_400) as i64, unix % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Unix seconds from: all digits (Unix seconds); `YYYY-MM-DD` (midnight UTC); or an
/// RFC 3339 date-time `YYYY-MM-DDTHH:MM[:SS[.frac]][Z|±HH:MM]` (no zone means UTC;
/// fractions are dropped). Years 1970..=9999.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a date (YYYY-MM-DD), an RFC 3339 date-time or Unix seconds");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let part = b.get(r).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        std::str::from_utf8(part)
            .ok()
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (i64::from(num(0..4)?), num(5..7)?, num(8..10)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
            return Err(bad());
        }
        let (hh, mm) = (num(11..13)?, num(14..16)?);
        let mut i = 16;
        let mut ss = 0;
        if b.get(i) == Some(&b':') {
            ss = num(17..19)?;
            i = 19;
            if b.get(i) == Some(&b'.') {
                i += 1;
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
        }
        if hh > 23 || mm > 59 || ss > 60 {
            return Err(bad());
        }
        secs += i64::from(hh * 3600 + mm * 60 + ss.min(59));
        match b.get(i) {
            None | Some(b'Z' | b'z') if b.len() <= i + 1 => {}
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                let off = i64::from(oh * 3600 + om * 60);
                // Local time = UTC + offset.
                secs += if sign == b'+' { -off } else { off };
            }
            _ => return Err(bad()),
        }
    }
    u64::try_from(secs).map_err(|_| bad())
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-escape in {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}
