//! Operational log lines (start-up, driver choice, drain): JSON on stderr. The access
//! log is separate ([`crate::accesslog`]).

use std::io::Write;

fn line(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let mut s = String::with_capacity(128);
    s.push_str("{\"ts\":\"");
    let mut ts = String::new();
    crate::accesslog::format_ts(&mut ts, crate::accesslog::now_unix_us());
    s.push_str(&ts);
    s.push_str("\",\"level\":\"");
    s.push_str(level);
    s.push_str("\",\"msg\":");
    push_json_str(&mut s, msg);
    for (k, v) in fields {
        s.push(',');
        push_json_str(&mut s, k);
        s.push(':');
        push_json_str(&mut s, v);
    }
    s.push_str("}\n");
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

fn push_json_str(s: &mut String, v: &str) {
    let mut b = Vec::with_capacity(v.len() + 2);
    proto::json::write_string(&mut b, v.as_bytes());
    s.push_str(&String::from_utf8_lossy(&b));
}

pub fn info(msg: &str, fields: &[(&str, &str)]) {
    line("info", msg, fields);
}

pub fn warn(msg: &str, fields: &[(&str, &str)]) {
    line("warn", msg, fields);
}

pub fn error(msg: &str, fields: &[(&str, &str)]) {
    line("error", msg, fields);
}
