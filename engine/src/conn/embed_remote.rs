//! The semantic cache's `provider` embedder: one `POST /embeddings` to the first
//! deployment of a configured model group (OpenAI, Azure OpenAI or any OpenAI-compatible
//! server: TEI, Ollama, vLLM), on this worker's upstream pool, within the embedder's own
//! timeout. Any failure (timeout, error status, a vector of the wrong length) skips the
//! semantic lookup; the request itself goes on.

use std::time::{Duration, Instant};

use proto::http1::{
    parse_response, write_header, BodyFraming, ChunkEvent, ChunkedDecoder, Limits, Status,
    EMPTY_HEADERS, HEADER_SLOTS,
};

use super::forward::percent_encode_segment;
use crate::config::{ProviderKind, Resolved};
use crate::io::{read_more, write_all, UpstreamIo};
use crate::server::worker::Worker;
use crate::upstream::connect;

/// An embeddings answer is small (a 3072-dim vector is ~70 KB of JSON).
const LIMITS: Limits = Limits {
    head_bytes_max: 64 * 1024,
    header_count_max: HEADER_SLOTS,
    uri_bytes_max: 8 * 1024,
    body_bytes_max: 4 << 20,
};

/// Embed `text` with `model` into `out` (L2-normalized). `false`: skip the lookup.
pub(super) async fn embed(
    w: &Worker,
    model: &str,
    text: &str,
    timeout_ms: u64,
    out: &mut [f32],
) -> bool {
    let Some(found) = w.snap.find(model.as_bytes()) else {
        return false;
    };
    let r = w.snap.deployment(&found, 0);
    if !matches!(
        r.provider.kind,
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible | ProviderKind::AzureOpenAi
    ) {
        return false;
    }
    let limit = Duration::from_millis(timeout_ms);
    let v = match monoio::time::timeout(limit, call(w, &r, text)).await {
        Ok(Some(v)) if v.len() == out.len() => v,
        _ => return false,
    };
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    for (o, x) in out.iter_mut().zip(v) {
        *o = x / norm;
    }
    true
}

async fn call(w: &Worker, r: &Resolved<'_>, text: &str) -> Option<Vec<f32>> {
    let up = r.provider.upstream.as_ref()?;
    let name = std::str::from_utf8(r.upstream_name).ok()?;
    let body = serde_json::to_vec(&serde_json::json!({ "model": name, "input": text })).ok()?;
    let mut req = Vec::with_capacity(512 + body.len());
    req.extend_from_slice(b"POST ");
    req.extend_from_slice(up.path_prefix.as_bytes());
    if r.provider.kind == ProviderKind::AzureOpenAi {
        req.extend_from_slice(b"/openai/deployments/");
        percent_encode_segment(&mut req, r.upstream_name);
        req.extend_from_slice(b"/embeddings?api-version=");
        percent_encode_segment(&mut req, r.provider.opts.api_version.as_bytes());
    } else {
        req.extend_from_slice(b"/embeddings");
    }
    req.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(&mut req, b"host", up.host_header.as_bytes());
    for (n, v) in &r.provider.headers {
        write_header(&mut req, n.as_bytes(), v.0.as_bytes());
    }
    write_header(&mut req, b"content-type", b"application/json");
    req.extend_from_slice(b"content-length: ");
    super::write_u64(&mut req, body.len() as u64);
    req.extend_from_slice(b"\r\n\r\n");
    req.extend_from_slice(&body);
    let pi = r.deployment.provider;
    let t = &r.deployment.timeouts;
    // A pooled connection the server closed fails before any byte: one fresh retry.
    let pooled = w.pool.borrow_mut().take(pi, Instant::now(), t.pool_idle);
    if let Some(mut uio) = pooled {
        let mut copy = req.clone();
        if let Some((v, keep)) = exchange(&mut uio, &mut copy).await {
            if keep {
                w.pool
                    .borrow_mut()
                    .put(pi, uio, Instant::now(), t.pool_max_idle);
            }
            return v;
        }
    }
    let mut uio = connect(up, t.connect).await.ok()?;
    let (v, keep) = exchange(&mut uio, &mut req).await?;
    if keep {
        w.pool
            .borrow_mut()
            .put(pi, uio, Instant::now(), t.pool_max_idle);
    }
    v
}

/// Send `req` and read one answer. `None`: the connection failed before an answer;
/// `Some((vector, reusable))` otherwise (the vector is `None` for an error answer).
async fn exchange(uio: &mut UpstreamIo, req: &mut Vec<u8>) -> Option<(Option<Vec<f32>>, bool)> {
    write_all(uio, req).await.ok()?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut headers = Box::new(EMPTY_HEADERS);
    let head = loop {
        if read_more(uio, &mut buf, 16 * 1024).await.ok()? == 0 {
            return None;
        }
        match parse_response(&buf, &mut headers, &LIMITS, false) {
            Ok(Status::Complete(h)) if (100..200).contains(&h.status) => {
                buf.drain(..h.head_len);
            }
            Ok(Status::Complete(h)) => break h,
            Ok(Status::Partial) => {}
            Err(_) => return None,
        }
    };
    let mut body = Vec::new();
    let mut pos = head.head_len;
    let reusable = match head.body {
        BodyFraming::None => head.keep_alive,
        BodyFraming::Length(n) => {
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n as u64 <= LIMITS.body_bytes_max)?;
            while buf.len() < pos + n {
                if read_more(uio, &mut buf, 16 * 1024).await.ok()? == 0 {
                    return None;
                }
            }
            body.extend_from_slice(&buf[pos..pos + n]);
            head.keep_alive && buf.len() == pos + n
        }
        BodyFraming::Chunked => {
            let mut dec = ChunkedDecoder::new(LIMITS.body_bytes_max);
            'read: loop {
                loop {
                    match dec.step(&buf[pos..]).ok()? {
                        (used, ChunkEvent::Data { start, end }) => {
                            body.extend_from_slice(&buf[pos + start..pos + end]);
                            pos += used;
                        }
                        (used, ChunkEvent::Partial) => {
                            pos += used;
                            break;
                        }
                        (used, ChunkEvent::Done) => {
                            pos += used;
                            break 'read;
                        }
                    }
                }
                if read_more(uio, &mut buf, 16 * 1024).await.ok()? == 0 {
                    return None;
                }
            }
            head.keep_alive && pos == buf.len()
        }
        BodyFraming::CloseDelimited => {
            body.extend_from_slice(&buf[pos..]);
            while read_more(uio, &mut body, 16 * 1024).await.ok()? > 0 {
                if body.len() as u64 > LIMITS.body_bytes_max {
                    return None;
                }
            }
            false
        }
    };
    if head.status != 200 {
        return Some((None, reusable));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        data: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        embedding: Vec<f32>,
    }
    let v = serde_json::from_slice::<Answer>(&body)
        .ok()
        .and_then(|a| a.data.into_iter().next())
        .map(|i| i.embedding);
    Some((v, reusable))
}
