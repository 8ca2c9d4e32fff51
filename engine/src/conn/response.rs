//! Writing the gateway's own responses: heads, JSON bodies, OpenAI-shaped errors.

use proto::http1::{write_header, write_status_line};

use super::Req;
use crate::error::GatewayError;

/// Lower-case hex of a request id, as sent in `x-sluice-request-id`.
pub fn hex_id(id: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = b"0123456789abcdef"[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// Append a decimal number without allocating.
pub fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Status line plus the headers every gateway response carries.
pub fn head_start(out: &mut Vec<u8>, status: u16, req: &Req, labels: &[Box<str>]) {
    write_status_line(out, status);
    write_header(out, b"x-sluice-request-id", &hex_id(req.id));
    write_route_headers(out, req, labels);
    write_connection(out, req);
}

/// `x-sluice-deployment` (the deployment that answered, or was tried last) and
/// `x-sluice-attempts`, once the request has been upstream.
pub fn write_route_headers(out: &mut Vec<u8>, req: &Req, labels: &[Box<str>]) {
    if let Some(label) = req.deployment.and_then(|d| labels.get(d)) {
        write_header(out, b"x-sluice-deployment", label.as_bytes());
    }
    if req.attempts.count() > 0 {
        out.extend_from_slice(b"x-sluice-attempts: ");
        write_u64(out, req.attempts.count() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(g) = &req.gov {
        super::govern::write_headers(out, g);
    }
    if let Some(c) = req.cache.name() {
        write_header(out, b"x-sluice-cache", c.as_bytes());
    }
    if let Some(s) = req.similarity {
        let v = format!("{s:.4}");
        write_header(out, b"x-sluice-cache-similarity", v.as_bytes());
    }
}

/// `connection: close` when this is the last response; `connection: keep-alive` for an
/// HTTP/1.0 client whose connection stays open (1.0 closes by default).
pub fn write_connection(out: &mut Vec<u8>, req: &Req) {
    match (req.keep_alive, req.version) {
        (false, _) => write_header(out, b"connection", b"close"),
        (true, proto::http1::Version::Http10) => write_header(out, b"connection", b"keep-alive"),
        (true, proto::http1::Version::Http11) => {}
    }
}

/// A complete response with a JSON body.
pub fn json(out: &mut Vec<u8>, status: u16, body: &[u8], req: &Req, labels: &[Box<str>]) {
    head_start(out, status, req, labels);
    write_header(out, b"content-type", b"application/json");
    out.extend_from_slice(b"content-length: ");
    write_u64(out, body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// A complete OpenAI-shaped error response. `detail` is appended to the message.
pub fn error(
    out: &mut Vec<u8>,
    err: GatewayError,
    detail: Option<&[u8]>,
    req: &Req,
    labels: &[Box<str>],
) {
    let mut body = Vec::with_capacity(256);
    if req.anthropic() {
        err.write_anthropic_body(&mut body, detail);
    } else {
        err.write_body(&mut body, detail);
    }
    let status = err.status();
    head_start(out, status, req, labels);
    if status == 405 {
        write_header(
            out,
            b"allow",
            if req.route == crate::metrics::Route::Models {
                b"GET"
            } else {
                b"POST"
            },
        );
    }
    write_header(out, b"content-type", b"application/json");
    out.extend_from_slice(b"content-length: ");
    write_u64(out, body.len() as u64);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ids() {
        let mut v = Vec::new();
        write_u64(&mut v, 0);
        v.push(b' ');
        write_u64(&mut v, u64::MAX);
        assert_eq!(v, b"0 18446744073709551615");
        assert_eq!(&hex_id(0x1_0000_0000_00ab), b"00010000000000ab");
    }
}
