//! The admin listener: `/metrics` (Prometheus), `/healthz`, `/readyz`. One thread with
//! its own small runtime, so a slow scrape never touches a worker.

use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::AsyncReadRent;
use monoio::net::TcpStream;
use proto::http1::{
    find_header, parse_request, write_header, write_status_line, BodyFraming, Limits, Method,
    Status, EMPTY_HEADERS,
};

use super::Shared;
use crate::conn::write_u64;
use crate::io::{read_more, write_all};

const ADMIN_LIMITS: Limits = Limits {
    head_bytes_max: 8 * 1024,
    header_count_max: 64,
    uri_bytes_max: 2048,
    body_bytes_max: super::admin_api::ADMIN_BODY_BYTES_MAX,
};
const ADMIN_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serve until `stop` is closed or written to.
pub fn run(listener: std::net::TcpListener, shared: Arc<Shared>, stop: UnixStream) {
    let _ = listener.set_nonblocking(true);
    let _ = stop.set_nonblocking(true);
    let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build();
    let Ok(mut rt) = rt else {
        crate::log::error("admin runtime failed to start", &[]);
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = monoio::net::TcpListener::from_std(listener) else {
            return;
        };
        let Ok(mut stop) = monoio::net::UnixStream::from_std(stop) else {
            return;
        };
        let stopped = stop.read(vec![0u8; 1]);
        let mut stopped = std::pin::pin!(stopped);
        loop {
            monoio::select! {
                r = listener.accept() => if let Ok((s, _)) = r {
                    monoio::spawn(serve(s, shared.clone()));
                },
                _ = &mut stopped => return,
            }
        }
    });
}

async fn serve(mut s: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(2048);
    let mut headers = EMPTY_HEADERS;
    loop {
        let head = match parse_request(&buf, &mut headers, &ADMIN_LIMITS) {
            Ok(Status::Complete(h)) => h,
            Ok(Status::Partial) => {
                match monoio::time::timeout(ADMIN_READ_TIMEOUT, read_more(&mut s, &mut buf, 2048))
                    .await
                {
                    Ok(Ok(n)) if n > 0 => continue,
                    _ => return,
                }
            }
            Err(e) => {
                respond(&mut s, e.status(), "text/plain", e.message().as_bytes()).await;
                return;
            }
        };
        if head.path.of(&buf).starts_with(b"/admin/") {
            let end = match head.body {
                BodyFraming::None => head.head_len,
                BodyFraming::Length(n) => head.head_len + n as usize,
                _ => {
                    respond(&mut s, 411, "text/plain", b"send a Content-Length body\n").await;
                    return;
                }
            };
            while buf.len() < end {
                let want = end - buf.len();
                match monoio::time::timeout(ADMIN_READ_TIMEOUT, read_more(&mut s, &mut buf, want))
                    .await
                {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return,
                }
            }
            let method = String::from_utf8_lossy(head.method_span.of(&buf)).into_owned();
            let target = String::from_utf8_lossy(head.target.of(&buf)).into_owned();
            let bearer = find_header(&buf, &headers[..], b"authorization").map(<[u8]>::to_vec);
            let a = super::admin_api::handle(
                &shared,
                &method,
                &target,
                bearer.as_deref(),
                &buf[head.head_len..end],
            );
            respond(&mut s, a.status, a.content_type, &a.body).await;
            return;
        }
        let draining = shared.draining.load(Ordering::Relaxed);
        let (status, ctype, body): (u16, &str, Vec<u8>) = match (head.method, head.path.of(&buf)) {
            (Method::Get, b"/metrics") => (
                200,
                "text/plain; version=0.0.4",
                shared.render_metrics().into_bytes(),
            ),
            (Method::Get, b"/healthz") => (200, "text/plain", b"ok\n".to_vec()),
            (Method::Get, b"/readyz") => {
                if !draining && shared.ready.load(Ordering::Relaxed) >= shared.workers {
                    (200, "text/plain", b"ready\n".to_vec())
                } else {
                    (503, "text/plain", b"not ready\n".to_vec())
                }
            }
            (_, b"/metrics" | b"/healthz" | b"/readyz") => {
                (405, "text/plain", b"method not allowed\n".to_vec())
            }
            _ => (404, "text/plain", b"not found\n".to_vec()),
        };
        respond(&mut s, status, ctype, &body).await;
        return;
    }
}

async fn respond(s: &mut TcpStream, status: u16, ctype: &str, body: &[u8]) {
    let mut out = Vec::with_capacity(body.len() + 128);
    write_status_line(&mut out, status);
    write_header(&mut out, b"content-type", ctype.as_bytes());
    out.extend_from_slice(b"content-length: ");
    write_u64(&mut out, body.len() as u64);
    out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    out.extend_from_slice(body);
    let _ = write_all(s, &mut out).await;
}
