use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::report::{civil_from_days, days_from_civil, parse_query, parse_time, rfc3339, usd};
use super::*;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "sluice-store-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const H: u64 = HOUR_SECS;
/// 2026-12-01T00:00:00Z.
const DEC1: u64 = 1_796_083_200;

fn key(hour: u64, k: &str, user: &str, team: &str, org: &str, model: &str, prov: &str) -> SpendKey {
    SpendKey {
        hour,
        key: k.into(),
        user: user.into(),
        team: team.into(),
        org: org.into(),
        model: model.into(),
        provider: prov.into(),
    }
}

fn delta(requests: u64, cost: u64) -> SpendDelta {
    SpendDelta {
        requests,
        input: requests * 10,
        output: requests * 20,
        cache_read: requests * 3,
        cache_write: requests * 4,
        reasoning: requests * 5,
        cost,
    }
}

fn total(s: &Store, from: u64, to: u64) -> SpendDelta {
    let rows = s
        .report(&ReportQuery {
            from,
            to,
            group_by: vec![],
            filter: vec![],
        })
        .unwrap();
    assert_eq!(rows.len(), 1, "no group_by gives one total row");
    rows[0].totals
}

#[test]
fn entities_round_trip_and_survive_reopen() {
    let dir = TempDir::new("entities");
    let nested = dir.0.join("a/b");
    {
        let s = Store::open(&nested).unwrap();
        s.put_entity(EntityKind::Key, "key_01", r#"{"user":"alice"}"#, 100)
            .unwrap();
        s.put_entity(EntityKind::User, "alice", r#"{"team":"ml"}"#, 101)
            .unwrap();
        s.put_entity(EntityKind::Team, "ml", r#"{"org":"acme"}"#, 102)
            .unwrap();
        s.put_entity(EntityKind::Org, "acme", "{}", 103).unwrap();
        s.put_entity(EntityKind::Org, "zeta", "{}", 104).unwrap();
        // Upsert keeps created_unix and replaces body and updated_unix.
        s.put_entity(EntityKind::Key, "key_01", r#"{"user":"bob"}"#, 200)
            .unwrap();
        assert!(s.delete_entity(EntityKind::Org, "zeta").unwrap());
        assert!(!s.delete_entity(EntityKind::Org, "zeta").unwrap());
        // Same id, other kind: distinct rows.
        s.put_entity(EntityKind::User, "acme", "{}", 105).unwrap();
    }
    let s = Store::open(&nested).unwrap();
    let rows = s.entities().unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.kind,
                r.id.as_str(),
                r.body.as_str(),
                r.created_unix,
                r.updated_unix,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (EntityKind::Org, "acme", "{}", 103, 103),
            (EntityKind::Team, "ml", r#"{"org":"acme"}"#, 102, 102),
            (EntityKind::User, "acme", "{}", 105, 105),
            (EntityKind::User, "alice", r#"{"team":"ml"}"#, 101, 101),
            (EntityKind::Key, "key_01", r#"{"user":"bob"}"#, 100, 200),
        ]
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&nested).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn open_sets_wal_and_schema_version() {
    let dir = TempDir::new("wal");
    let s = Store::open(&dir.0).unwrap();
    assert_eq!(s.path(), dir.0.join(DB_FILE));
    let raw = rusqlite::Connection::open(s.path()).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    // Two stores on one directory at once.
    let s2 = Store::open(&dir.0).unwrap();
    s.put_entity(EntityKind::Org, "a", "{}", 1).unwrap();
    assert_eq!(s2.entities().unwrap().len(), 1);
}

#[test]
fn newer_schema_is_refused() {
    let dir = TempDir::new("schema");
    let path = Store::open(&dir.0).unwrap().path().to_path_buf();
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&dir.0)
        .err()
        .expect("newer schema must be refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("newer sluice"), "{msg}");
}

#[test]
fn open_names_the_path_when_the_directory_cannot_be_made() {
    let dir = TempDir::new("notadir");
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("sub")).err().unwrap();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("file/sub"), "{err}");
}

#[test]
fn add_spend_upserts_by_adding() {
    let dir = TempDir::new("upsert");
    let mut s = Store::open(&dir.0).unwrap();
    let k = key(DEC1, "k1", "alice", "ml", "acme", "gpt-4o", "openai");
    // Same key twice in one call, and an unaligned hour that rounds down onto it.
    let mut unaligned = k.clone();
    unaligned.hour = DEC1 + 1799;
    s.add_spend(&[(k.clone(), delta(1, 5)), (unaligned, delta(2, 7))])
        .unwrap();
    s.add_spend(&[(k.clone(), delta(4, 100))]).unwrap();
    let t = total(&s, DEC1, DEC1 + H);
    assert_eq!(t, delta(7, 112));
    let rows: i64 = rusqlite::Connection::open(s.path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM spend", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "one row per 7-dimension key");
    // Empty batches are fine.
    s.add_spend(&[]).unwrap();
}

#[test]
fn spend_delta_add_assign_saturates() {
    let mut a = delta(1, u64::MAX - 1);
    a += delta(2, 5);
    assert_eq!(a.requests, 3);
    assert_eq!(a.input, 30);
    assert_eq!(a.reasoning, 15);
    assert_eq!(a.cost, u64::MAX);
}

fn fixture(dir: &TempDir) -> Store {
    let mut s = Store::open(&dir.0).unwrap();
    s.add_spend(&[
        (
            key(DEC1, "k1", "alice", "ml", "acme", "gpt-4o", "openai"),
            delta(1, 10),
        ),
        (
            key(DEC1, "k1", "alice", "ml", "acme", "claude", "anthropic"),
            delta(2, 20),
        ),
        (
            key(DEC1 + H, "k2", "bob", "ml", "acme", "gpt-4o", "azure"),
            delta(3, 40),
        ),
        (
            key(
                DEC1 + 25 * H,
                "k3",
                "carol",
                "web",
                "acme",
                "gpt-4o",
                "openai",
            ),
            delta(4, 80),
        ),
        (
            key(
                DEC1 + 26 * H,
                "k4",
                "dave",
                "ops",
                "beta",
                "claude",
                "anthropic",
            ),
            delta(5, 160),
        ),
        // 2027-01-01T00:00:00Z: next month.
        (
            key(
                DEC1 + 31 * 24 * H,
                "k1",
                "alice",
                "ml",
                "acme",
                "gpt-4o",
                "openai",
            ),
            delta(6, 320),
        ),
    ])
    .unwrap();
    s
}

#[test]
fn spend_since_sums_one_scope_from_an_hour() {
    let dir = TempDir::new("since");
    let s = fixture(&dir);
    assert_eq!(s.spend_since(Dim::Key, "k1", 0).unwrap(), 350);
    assert_eq!(s.spend_since(Dim::Key, "k1", DEC1 + 1).unwrap(), 320);
    assert_eq!(s.spend_since(Dim::User, "bob", DEC1).unwrap(), 40);
    assert_eq!(s.spend_since(Dim::User, "bob", DEC1 + H + 1).unwrap(), 0);
    assert_eq!(s.spend_since(Dim::Team, "ml", DEC1 + H).unwrap(), 360);
    assert_eq!(s.spend_since(Dim::Org, "acme", DEC1).unwrap(), 470);
    assert_eq!(s.spend_since(Dim::Org, "beta", DEC1).unwrap(), 160);
    assert_eq!(s.spend_since(Dim::Model, "claude", DEC1).unwrap(), 180);
    assert_eq!(s.spend_since(Dim::Provider, "openai", DEC1).unwrap(), 410);
    assert_eq!(s.spend_since(Dim::Key, "nobody", 0).unwrap(), 0);
    let err = s.spend_since(Dim::Day, "x", 0).unwrap_err();
    assert!(err.to_string().contains("time bucket"), "{err}");
}

fn groups(s: &Store, group_by: Vec<Dim>, filter: Vec<(Dim, String)>) -> Vec<(Vec<String>, u64)> {
    s.report(&ReportQuery {
        from: 0,
        to: u64::MAX / 2,
        group_by,
        filter,
    })
    .unwrap()
    .into_iter()
    .map(|r| (r.group, r.totals.cost))
    .collect()
}

fn g(parts: &[&str], cost: u64) -> (Vec<String>, u64) {
    (parts.iter().map(|s| s.to_string()).collect(), cost)
}

#[test]
fn report_groups_by_every_dimension() {
    let dir = TempDir::new("groups");
    let s = fixture(&dir);
    assert_eq!(
        groups(&s, vec![Dim::Key], vec![]),
        vec![
            g(&["k1"], 350),
            g(&["k2"], 40),
            g(&["k3"], 80),
            g(&["k4"], 160)
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::User], vec![]),
        vec![
            g(&["alice"], 350),
            g(&["bob"], 40),
            g(&["carol"], 80),
            g(&["dave"], 160)
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::Team], vec![]),
        vec![g(&["ml"], 390), g(&["ops"], 160), g(&["web"], 80)]
    );
    assert_eq!(
        groups(&s, vec![Dim::Org], vec![]),
        vec![g(&["acme"], 470), g(&["beta"], 160)]
    );
    assert_eq!(
        groups(&s, vec![Dim::Model], vec![]),
        vec![g(&["claude"], 180), g(&["gpt-4o"], 450)]
    );
    assert_eq!(
        groups(&s, vec![Dim::Provider], vec![]),
        vec![
            g(&["anthropic"], 180),
            g(&["azure"], 40),
            g(&["openai"], 410)
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::Hour], vec![]),
        vec![
            g(&["2026-12-01T00:00:00Z"], 30),
            g(&["2026-12-01T01:00:00Z"], 40),
            g(&["2026-12-02T01:00:00Z"], 80),
            g(&["2026-12-02T02:00:00Z"], 160),
            g(&["2027-01-01T00:00:00Z"], 320),
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::Day], vec![]),
        vec![
            g(&["2026-12-01T00:00:00Z"], 70),
            g(&["2026-12-02T00:00:00Z"], 240),
            g(&["2027-01-01T00:00:00Z"], 320),
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::Month], vec![]),
        vec![
            g(&["2026-12-01T00:00:00Z"], 310),
            g(&["2027-01-01T00:00:00Z"], 320)
        ]
    );
    // Two dimensions, ordered by the first then the second.
    assert_eq!(
        groups(&s, vec![Dim::Org, Dim::Model], vec![]),
        vec![
            g(&["acme", "claude"], 20),
            g(&["acme", "gpt-4o"], 450),
            g(&["beta", "claude"], 160),
        ]
    );
    // Every total column is summed, not just cost.
    let rows = s
        .report(&ReportQuery {
            from: 0,
            to: u64::MAX / 2,
            group_by: vec![Dim::Team],
            filter: vec![],
        })
        .unwrap();
    assert_eq!(rows[0].totals, delta(12, 390));
}

#[test]
fn report_filters_and_bounds() {
    let dir = TempDir::new("filters");
    let s = fixture(&dir);
    let f = |d: Dim, v: &str| (d, v.to_string());
    assert_eq!(
        groups(&s, vec![Dim::Key], vec![f(Dim::Model, "gpt-4o")]),
        vec![g(&["k1"], 330), g(&["k2"], 40), g(&["k3"], 80)]
    );
    assert_eq!(
        groups(
            &s,
            vec![],
            vec![f(Dim::Org, "acme"), f(Dim::Provider, "openai")]
        ),
        vec![g(&[], 410)]
    );
    assert_eq!(
        groups(&s, vec![], vec![f(Dim::Team, "ml"), f(Dim::User, "bob")]),
        vec![g(&[], 40)]
    );
    // A filter that matches nothing: one zero row without group_by, none with.
    assert_eq!(
        groups(&s, vec![], vec![f(Dim::Key, "none")]),
        vec![g(&[], 0)]
    );
    assert!(groups(&s, vec![Dim::Key], vec![f(Dim::Key, "none")]).is_empty());
    // [from, to): the row at `to` is out, the row at `from` is in.
    assert_eq!(total(&s, DEC1 + H, DEC1 + 25 * H).cost, 40);
    assert_eq!(total(&s, DEC1 + H, DEC1 + 25 * H + 1).cost, 120);
    assert_eq!(total(&s, DEC1 + 1, DEC1 + H + 1).cost, 40);
    // Filtering on a time bucket is refused.
    let err = s
        .report(&ReportQuery {
            from: 0,
            to: 1,
            group_by: vec![],
            filter: vec![f(Dim::Hour, "0")],
        })
        .unwrap_err();
    assert!(err.to_string().contains("time bucket"), "{err}");
}

#[test]
fn month_and_day_buckets_cross_leap_years() {
    let dir = TempDir::new("months");
    let mut s = Store::open(&dir.0).unwrap();
    let t = |d: &str| parse_time(d).unwrap();
    let at = |unix: u64| key(unix, "k", "", "", "", "m", "p");
    s.add_spend(&[
        (at(t("2024-02-28T23:00:00Z")), delta(1, 1)),
        (at(t("2024-02-29T23:00:00Z")), delta(1, 2)),
        (at(t("2024-03-01T00:00:00Z")), delta(1, 4)),
        (at(t("2025-12-31T23:00:00Z")), delta(1, 8)),
        (at(t("2026-01-01T00:00:00Z")), delta(1, 16)),
    ])
    .unwrap();
    assert_eq!(
        groups(&s, vec![Dim::Month], vec![]),
        vec![
            g(&["2024-02-01T00:00:00Z"], 3),
            g(&["2024-03-01T00:00:00Z"], 4),
            g(&["2025-12-01T00:00:00Z"], 8),
            g(&["2026-01-01T00:00:00Z"], 16),
        ]
    );
    assert_eq!(
        groups(&s, vec![Dim::Day], vec![]),
        vec![
            g(&["2024-02-28T00:00:00Z"], 1),
            g(&["2024-02-29T00:00:00Z"], 2),
            g(&["2024-03-01T00:00:00Z"], 4),
            g(&["2025-12-31T00:00:00Z"], 8),
            g(&["2026-01-01T00:00:00Z"], 16),
        ]
    );
}

#[test]
fn usd_is_exact_with_at_least_six_decimals() {
    assert_eq!(usd(0), "0.000000");
    assert_eq!(usd(1), "0.000000000001");
    assert_eq!(usd(1_234_567_000_000), "1.234567");
    assert_eq!(usd(1_500_000_000_000), "1.500000");
    assert_eq!(usd(12_345_678_912_345), "12.345678912345");
    assert_eq!(usd(10_000_000), "0.000010");
    assert_eq!(usd(u64::MAX), "18446744.073709551615");
}

fn sample_rows() -> (ReportQuery, Vec<ReportRow>) {
    let q = ReportQuery {
        from: DEC1,
        to: DEC1 + 86_400,
        group_by: vec![Dim::Key, Dim::Model],
        filter: vec![],
    };
    let rows = vec![
        ReportRow {
            group: vec!["k1".into(), "plain".into()],
            totals: delta(1, 1_234_567_000_000),
        },
        ReportRow {
            group: vec!["a,b".into(), "say \"hi\"\nthere".into()],
            totals: delta(2, 1),
        },
    ];
    (q, rows)
}

#[test]
fn csv_quotes_per_rfc4180_and_prints_exact_cost() {
    let (q, rows) = sample_rows();
    let csv = super::report::to_csv(&q, &rows);
    assert_eq!(
        csv,
        "key,model,requests,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,\
         reasoning_tokens,cost_usd\r\n\
         k1,plain,1,10,20,3,4,5,1.234567\r\n\
         \"a,b\",\"say \"\"hi\"\"\nthere\",2,20,40,6,8,10,0.000000000001\r\n"
    );
    // No group_by: header is the totals only.
    let q0 = ReportQuery {
        group_by: vec![],
        ..q
    };
    let one = vec![ReportRow {
        group: vec![],
        totals: SpendDelta::default(),
    }];
    assert_eq!(
        super::report::to_csv(&q0, &one),
        "requests,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,\
         reasoning_tokens,cost_usd\r\n0,0,0,0,0,0,0.000000\r\n"
    );
}

#[test]
fn json_has_the_admin_api_shape() {
    let (q, rows) = sample_rows();
    let text = super::report::to_json(&q, &rows);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["from"], "2026-12-01T00:00:00Z");
    assert_eq!(v["to"], "2026-12-02T00:00:00Z");
    assert_eq!(v["group_by"], serde_json::json!(["key", "model"]));
    let d = &v["data"];
    assert_eq!(d.as_array().unwrap().len(), 2);
    assert_eq!(d[0]["key"], "k1");
    assert_eq!(d[0]["requests"], 1);
    assert_eq!(d[0]["input_tokens"], 10);
    assert_eq!(d[0]["output_tokens"], 20);
    assert_eq!(d[0]["cache_read_tokens"], 3);
    assert_eq!(d[0]["cache_write_tokens"], 4);
    assert_eq!(d[0]["reasoning_tokens"], 5);
    assert_eq!(d[0]["cost_usd"], 1.234567);
    assert_eq!(d[1]["model"], "say \"hi\"\nthere");
    // The decimal text itself is exact, not a float's rendering.
    assert!(text.contains("\"cost_usd\":0.000000000001}"), "{text}");
}

#[test]
fn parse_query_reads_every_parameter() {
    let now = DEC1 + 5 * 86_400;
    let (q, csv) = parse_query(
        "from=2026-12-01&to=2026-12-04T10%3A00%3A00Z&group_by=key,model&key=k1&user=&team=ml\
         &org=acme&model=gpt%2D4o&provider=open+ai&format=csv",
        now,
    )
    .unwrap();
    assert!(csv);
    assert_eq!(q.from, DEC1);
    assert_eq!(q.to, DEC1 + 3 * 86_400 + 10 * H);
    assert_eq!(q.group_by, vec![Dim::Key, Dim::Model]);
    assert_eq!(
        q.filter,
        vec![
            (Dim::Key, "k1".to_string()),
            (Dim::Team, "ml".to_string()),
            (Dim::Org, "acme".to_string()),
            (Dim::Model, "gpt-4o".to_string()),
            (Dim::Provider, "open ai".to_string()),
        ]
    );
    // Defaults: the last 30 days to now, one total row, JSON.
    let (q, csv) = parse_query("", now).unwrap();
    assert!(!csv);
    assert_eq!((q.from, q.to), (now - 30 * 86_400, now));
    assert!(q.group_by.is_empty() && q.filter.is_empty());
    let (q, _) = parse_query("from=1796083200&format=json&group_by=", now).unwrap();
    assert_eq!(q.from, DEC1);
    assert!(q.group_by.is_empty());
}

#[test]
fn parse_query_rejects_what_it_cannot_honour() {
    let now = DEC1;
    for (qs, want) in [
        ("grup_by=key", "unknown parameter"),
        ("hour=1", "unknown parameter"),
        ("group_by=key,week", "unknown dimension"),
        ("group_by=key,key", "twice"),
        ("key=a&key=b", "twice"),
        ("from=1&from=2", "twice"),
        ("format=xml", "json or csv"),
        ("from=2026-13-01", "is not a date"),
        ("from=2026-12-05", "must be before"),
        ("from=10&to=10", "must be before"),
        ("key=%zz", "percent-escape"),
        ("key=%+1", "percent-escape"),
    ] {
        let err = parse_query(qs, now).unwrap_err();
        assert!(err.contains(want), "{qs}: {err}");
    }
}

#[test]
fn parse_time_accepts_dates_datetimes_and_unix_seconds() {
    let ok = |s: &str| parse_time(s).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ok("0"), 0);
    assert_eq!(ok("1796083200"), DEC1);
    assert_eq!(ok("1970-01-01"), 0);
    assert_eq!(ok("2026-12-01"), DEC1);
    assert_eq!(ok("2026-12-01T00:00:00Z"), DEC1);
    assert_eq!(ok("2026-12-01t01:02:03z"), DEC1 + 3723);
    assert_eq!(ok("2026-12-01 01:02"), DEC1 + 3720);
    assert_eq!(ok("2026-12-01T01:02:03.999Z"), DEC1 + 3723);
    assert_eq!(ok("2026-12-01T02:00:00+02:00"), DEC1);
    assert_eq!(ok("2026-11-30T22:30:00-01:30"), DEC1);
    assert_eq!(ok("2024-02-29"), 1_709_164_800);
    for bad in [
        "",
        "yesterday",
        "2026-12-1",
        "2025-02-29",
        "2026-04-31",
        "1969-12-31",
        "2026-12-01T24:00:00Z",
        "2026-12-01T10:00:00Zjunk",
        "2026-12-01T10:00:00+0200",
        "1969-12-31T23:00:00-02:00",
        "2026-12-01T10",
    ] {
        assert!(parse_time(bad).is_err(), "{bad:?} should be rejected");
    }
    // Just before the epoch after applying the offset.
    assert!(parse_time("1970-01-01T00:00:00+01:00").is_err());
}

#[test]
fn civil_helpers_match_a_day_by_day_walk() {
    // The naive reference: step one day at a time from 1970-01-01.
    let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
    for days in 0..(200 * 366) {
        assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
        assert_eq!(days_from_civil(y, m, d), days);
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        d += 1;
        if d > len[m as usize - 1] {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    assert_eq!(rfc3339(DEC1 + 3723), "2026-12-01T01:02:03Z");
}

// ---- ledger ---------------------------------------------------------------------------

fn cost_of(s: &Store, k: &str) -> u64 {
    s.spend_since(Dim::Key, k, 0).unwrap()
}

#[test]
fn ledger_folds_batches_and_flush_answers_after_commit() {
    let dir = TempDir::new("ledger-flush");
    let (tx, handle) = ledger::spawn(Store::open(&dir.0).unwrap(), Duration::from_secs(3600));
    let k = key(DEC1, "k1", "u", "t", "o", "m", "p");
    tx.send(ledger::LedgerMsg::Spend(vec![
        (k.clone(), delta(1, 10)),
        (k.clone(), delta(1, 10)),
    ]))
    .unwrap();
    tx.send(ledger::LedgerMsg::Spend(vec![(k.clone(), delta(3, 30))]))
        .unwrap();
    let reader = Store::open(&dir.0).unwrap();
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
    tx.send(ledger::LedgerMsg::Flush(done_tx)).unwrap();
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("flush answers");
    // commit_every is an hour: only the flush can have committed this.
    assert_eq!(total(&reader, 0, u64::MAX / 2), delta(5, 50));
    let rows: i64 = rusqlite::Connection::open(reader.path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM spend", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1, "three deltas for one key fold into one row");
    // A flush with nothing pending still answers.
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel(1);
    tx.send(ledger::LedgerMsg::Flush(done_tx)).unwrap();
    done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(tx);
    handle.join().unwrap();
}

#[test]
fn ledger_commits_the_rest_on_disconnect() {
    let dir = TempDir::new("ledger-close");
    let (tx, handle) = ledger::spawn(Store::open(&dir.0).unwrap(), Duration::from_secs(3600));
    for i in 0..100u64 {
        let k = key(
            DEC1 + (i % 3) * H,
            &format!("k{}", i % 7),
            "u",
            "t",
            "o",
            "m",
            "p",
        );
        tx.send(ledger::LedgerMsg::Spend(vec![(k, delta(1, i))]))
            .unwrap();
    }
    drop(tx);
    handle.join().unwrap();
    let s = Store::open(&dir.0).unwrap();
    assert_eq!(total(&s, 0, u64::MAX / 2).requests, 100);
    assert_eq!(total(&s, 0, u64::MAX / 2).cost, (0..100).sum::<u64>());
    assert_eq!(
        cost_of(&s, "k0"),
        (0..100).filter(|i| i % 7 == 0).sum::<u64>()
    );
}

#[test]
fn ledger_commits_within_commit_every_without_flush() {
    // What kill -9 would leave: only what the writer committed on its own timer.
    let dir = TempDir::new("ledger-timer");
    let every = Duration::from_millis(100);
    let (tx, handle) = ledger::spawn(Store::open(&dir.0).unwrap(), every);
    let reader = Store::open(&dir.0).unwrap();
    let k = key(DEC1, "k1", "u", "t", "o", "m", "p");
    tx.send(ledger::LedgerMsg::Spend(vec![(k.clone(), delta(1, 7))]))
        .unwrap();
    std::thread::sleep(every + Duration::from_millis(400));
    assert_eq!(cost_of(&reader, "k1"), 7, "committed by the timer");
    // A steady stream faster than commit_every still commits on time.
    let start = std::time::Instant::now();
    while start.elapsed() < every * 4 {
        tx.send(ledger::LedgerMsg::Spend(vec![(k.clone(), delta(1, 1))]))
            .unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(cost_of(&reader, "k1") > 7, "a busy channel still commits");
    drop(tx);
    handle.join().unwrap();
}
