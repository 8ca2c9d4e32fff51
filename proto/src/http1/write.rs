//! Writing heads. IMPLEMENTATION PENDING (helper H1).

/// Append `HTTP/1.1 {status} {reason}\r\n`.
pub fn write_status_line(out: &mut Vec<u8>, status: u16) {
    let _ = (out, status);
}

/// Append `{name}: {value}\r\n`.
pub fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    let _ = (out, name, value);
}

/// The canonical reason phrase for a status ("OK", "Bad Request", ...; "" when unknown).
pub fn reason_phrase(status: u16) -> &'static str {
    let _ = status;
    ""
}
