//! One upstream attempt and streaming its answer back, in pieces the failover loop
//! (`failover.rs`) composes: [`build`] the request, [`send`] it up to the response head
//! (one transparent retry when a pooled connection proves stale), [`refusal`] to classify
//! an error answer, [`stream_back`] to commit. A failure before the commit goes back to
//! the loop; after it, a broken upstream ends a chunked SSE stream with an error event,
//! or closes the client connection when the body framing cannot say "error".
//!
//! Every upstream await races [`super::watch::Watch::closed`]: a client that goes away
//! cancels the upstream request, and that upstream connection is closed, never pooled.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use monoio::io::AsyncWriteRent;
use proto::chat::TranslateError;
use proto::http1::{
    find_header, parse_response, write_chunk, write_header, write_status_line, BodyFraming,
    ChunkEvent, ChunkedDecoder, Headers, Limits, RequestHead, ResponseHead, Status, Version,
    HEADER_SLOTS, LAST_CHUNK,
};
use proto::json;

use super::stream_usage;
use super::translate::Translation;
use super::{response, write_u64, Endpoint, Next, Req};
use crate::config::{ProviderKind, Resolved};
use crate::error::GatewayError;
use crate::io::{read_more, write_all, write_range, UpstreamIo};
use crate::server::worker::Worker;
use crate::upstream::connect;

/// Limits on what an upstream sends: larger heads than clients get (CDN headers), and
/// no body limit (a long generation is not an attack).
const UPSTREAM_LIMITS: Limits = Limits {
    head_bytes_max: 64 * 1024,
    header_count_max: HEADER_SLOTS,
    uri_bytes_max: 8 * 1024,
    body_bytes_max: u64::MAX,
};

/// Request bodies up to this size are copied behind the head and sent in one write.
const INLINE_BODY_BYTES_MAX: usize = 64 * 1024;

/// How long a request is upstream before the client-disconnect watch is armed. Arming
/// costs a poll operation and, on io_uring, its cancellation (which allocates in monoio)
/// when the answer comes first; most fast answers finish before this.
pub(super) const WATCH_ARM_DELAY: Duration = Duration::from_millis(20);

/// Bytes requested per upstream read.
const READ_BYTES: usize = 16 * 1024;

/// Request headers never forwarded: hop-by-hop, framing (recomputed), the client's own
/// credentials, and sluice's control headers.
pub(super) fn forward_request_header(name: &[u8]) -> bool {
    const DROP: [&[u8]; 16] = [
        b"host",
        b"authorization",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
        b"accept-encoding",
        b"api-key",
        b"x-api-key",
        b"http2-settings",
    ];
    !(DROP.iter().any(|d| d.eq_ignore_ascii_case(name))
        || name.len() > 9 && name[..9].eq_ignore_ascii_case(b"x-sluice-"))
}

/// Response headers not passed to the client: hop-by-hop and framing.
fn forward_response_header(name: &[u8]) -> bool {
    const DROP: [&[u8]; 8] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    ];
    !DROP.iter().any(|d| d.eq_ignore_ascii_case(name))
}

pub(super) struct Target<'a> {
    pub resolved: Resolved<'a>,
    pub endpoint: Endpoint,
    /// The body's `model` value, when it must be replaced by the upstream's name.
    pub model_span: Option<json::Value>,
    /// For providers that are not OpenAI-shaped: how the request was translated (the
    /// body is then [`Body::Translated`]) and how to translate the answer.
    pub translation: Option<Translation>,
    /// An OpenAI-shaped stream whose client did not ask for usage: ask for it upstream
    /// (so every stream can be counted) and strip the usage chunk on the way back.
    pub inject_usage: bool,
    /// An output cap to add (`max_tokens` or the endpoint's equivalent) for a budgeted
    /// request that set none: its budget reservation covers this much output.
    pub output_cap: Option<u64>,
}

/// How a forward ended, for the caller to answer.
pub(super) enum Outcome {
    /// The response (or a well-formed error inside it) reached the client. The flag:
    /// the upstream did its part (for the breaker: no 5xx or 429, no broken stream).
    Done(Next, bool),
    /// The client went away; the upstream connection was dropped.
    ClientGone,
}

/// An upstream error answer the failover loop acts on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Refused {
    /// The upstream's `retry-after`, when it sent one.
    pub retry_after: Option<Duration>,
    /// The provider said the prompt exceeds the model's context window.
    pub context_length: bool,
}

/// What the failover loop allows an answer: which error answers come back to it
/// (from [`refusal`]) instead of going to the client.
#[derive(Clone, Copy, Debug)]
pub(super) struct Policy {
    /// Another attempt may follow: 408, 429 and 5xx answers are refusals.
    pub may_retry: bool,
    /// A context-window fallback group exists: a "prompt too long" answer is a refusal.
    pub context_fallback: bool,
}

/// Why a guarded wait ended early.
enum Cut {
    Client,
    Timeout,
}

/// Await `f` unless the client goes away or `limit` passes first.
async fn guarded<F: Future>(
    closed: Pin<&mut impl Future<Output = ()>>,
    limit: Duration,
    f: F,
) -> Result<F::Output, Cut> {
    monoio::select! {
        r = monoio::time::timeout(limit, f) => r.map_err(|_| Cut::Timeout),
        _ = closed => Err(Cut::Client),
    }
}

/// The request's bytes for one upstream: the head (and the body when small) written
/// into `out`; the body separately when [`Build::separate`].
pub(super) struct Parts<'a> {
    pub head: &'a RequestHead,
    pub rbuf: &'a [u8],
    pub headers: &'a Headers,
    pub body: &'a [u8],
}

/// Write the upstream request for `t` into `out` (cleared first). Returns whether the
/// body must be written after `out` (large bodies are not copied).
pub(super) fn build(
    parts: &Parts<'_>,
    t: &mut Target<'_>,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
    inline_always: bool,
) -> Result<bool, GatewayError> {
    let provider = t.resolved.provider;
    let up = provider
        .upstream
        .as_ref()
        .expect("forward is only called for upstream providers");
    out.clear();
    let separate = if let Some(tr) = t.translation.as_mut() {
        let client_headers = &parts.headers[..parts.head.header_count];
        tr.write_head(
            provider,
            up,
            client_headers,
            parts.rbuf,
            parts.body,
            out,
            SystemTime::now(),
        )?;
        if parts.body.len() <= INLINE_BODY_BYTES_MAX || inline_always {
            out.extend_from_slice(parts.body);
            false
        } else {
            true
        }
    } else {
        write_openai_request(out, scratch, parts, t)
    };
    if separate && inline_always {
        out.extend_from_slice(parts.body);
        return Ok(false);
    }
    Ok(separate)
}

/// Time spent on one attempt, merged into the request's record by the caller.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timing {
    pub wait: Duration,
    pub ttfb: Duration,
    pub reused: Option<bool>,
}

/// One attempt that got a response head: the connection, the head, and the bytes read
/// so far (the head, and at least the first body bytes of a 2xx event stream).
pub(super) struct Exchange {
    pub uio: UpstreamIo,
    pub resp: ResponseHead,
    pub ubuf: Vec<u8>,
}

/// Why an attempt produced no response.
pub(super) enum SendError {
    Upstream(GatewayError),
    Client,
}

/// One attempt up to its response head: a pooled or new connection, the request
/// written (`out`, then `body` when given), interim responses skipped. One transparent
/// retry on a fresh connection when a pooled one proves stale before any byte. With
/// `want_body`, a 2xx event stream is held until its first body bytes arrive, so an
/// upstream that dies before producing anything fails over like one that never
/// answered. `ubuf` comes from the worker's pool and goes back on failure.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send(
    w: &Worker,
    resolved: &Resolved<'_>,
    out: &mut Vec<u8>,
    mut body: Option<&mut Vec<u8>>,
    body_range: (usize, usize),
    uheaders: &mut Headers,
    mut closed: Pin<&mut impl Future<Output = ()>>,
    deadline: Instant,
    want_body: bool,
    timing: &mut Timing,
) -> Result<Exchange, SendError> {
    let up = resolved
        .provider
        .upstream
        .as_ref()
        .expect("forward is only called for upstream providers");
    let pi = resolved.deployment.provider;
    let timeouts = &resolved.deployment.timeouts;
    let shard = w.shard();
    let mut ubuf = w.take_buf();
    let mut fresh_only = false;
    let fail = |ubuf: Vec<u8>, e: SendError| {
        w.give_buf(ubuf);
        Err(e)
    };
    'attempt: loop {
        let t0 = Instant::now();
        let pooled = if fresh_only {
            None
        } else {
            w.pool.borrow_mut().take(pi, t0, timeouts.pool_idle)
        };
        let reused = pooled.is_some();
        let mut uio: UpstreamIo = match pooled {
            Some(u) => {
                shard.inc(&shard.upstream_reuses);
                u
            }
            None => {
                shard.inc(&shard.upstream_connects);
                let limit = (timeouts.connect + Duration::from_millis(50))
                    .min(deadline.saturating_duration_since(t0));
                match guarded(closed.as_mut(), limit, connect(up, timeouts.connect)).await {
                    Ok(Ok(u)) => u,
                    Ok(Err(e)) => {
                        timing.wait += t0.elapsed();
                        return fail(ubuf, SendError::Upstream(e));
                    }
                    Err(Cut::Timeout) => {
                        timing.wait += t0.elapsed();
                        return fail(
                            ubuf,
                            SendError::Upstream(GatewayError::UpstreamConnectTimeout),
                        );
                    }
                    Err(Cut::Client) => return fail(ubuf, SendError::Client),
                }
            }
        };
        timing.reused = Some(reused);
        let written = {
            let mut r = guarded(closed.as_mut(), timeouts.idle, write_all(&mut uio, out)).await;
            if let (Some(b), Ok(Ok(()))) = (body.as_deref_mut(), &r) {
                let (s, e) = body_range;
                r = guarded(
                    closed.as_mut(),
                    timeouts.idle,
                    write_range(&mut uio, b, s, e),
                )
                .await;
            }
            r
        };
        match written {
            Ok(Ok(())) => {}
            Err(Cut::Client) => return fail(ubuf, SendError::Client),
            _ if reused => {
                fresh_only = true;
                continue 'attempt;
            }
            _ => {
                timing.wait += t0.elapsed();
                return fail(ubuf, SendError::Upstream(GatewayError::UpstreamReset));
            }
        }
        ubuf.clear();
        let sent = Instant::now();
        let first_byte_by = (sent + timeouts.first_byte).min(deadline);
        let mut head: Option<ResponseHead> = None;
        loop {
            // Parse what is buffered before reading again: an interim response and the
            // final head often arrive in one read.
            if head.is_none() && !ubuf.is_empty() {
                match parse_response(&ubuf, uheaders, &UPSTREAM_LIMITS, false) {
                    Ok(Status::Complete(h)) if h.status >= 100 && h.status < 200 => {
                        // Interim responses (100 Continue, 103 Early Hints) are not relayed.
                        ubuf.drain(..h.head_len);
                        continue;
                    }
                    Ok(Status::Complete(h)) => {
                        timing.ttfb = sent.elapsed();
                        let hold = want_body
                            && (200..300).contains(&h.status)
                            && ubuf.len() == h.head_len
                            && !matches!(h.body, BodyFraming::None | BodyFraming::Length(0))
                            && find_header(&ubuf, &uheaders[..h.header_count], b"content-type")
                                .is_some_and(is_stream);
                        if !hold {
                            timing.wait += t0.elapsed();
                            return Ok(Exchange { uio, resp: h, ubuf });
                        }
                        head = Some(h);
                    }
                    Ok(Status::Partial) => {}
                    Err(_) => {
                        timing.wait += t0.elapsed();
                        return fail(ubuf, SendError::Upstream(GatewayError::UpstreamBadResponse));
                    }
                }
            } else if let Some(h) = head {
                if ubuf.len() > h.head_len {
                    timing.wait += t0.elapsed();
                    return Ok(Exchange { uio, resp: h, ubuf });
                }
            }
            // Before the head: the first-byte timeout; between the head and the first
            // body bytes of a stream, the idle timeout.
            let by = match head {
                None => first_byte_by,
                Some(_) => (Instant::now() + timeouts.idle).min(deadline),
            };
            let left = by.saturating_duration_since(Instant::now());
            let read = guarded(
                closed.as_mut(),
                left,
                read_more(&mut uio, &mut ubuf, READ_BYTES),
            )
            .await;
            let failed = match read {
                Ok(Ok(n)) if n > 0 => None,
                Ok(_) if reused && ubuf.is_empty() => {
                    fresh_only = true;
                    continue 'attempt;
                }
                Ok(_) => Some(GatewayError::UpstreamReset),
                Err(Cut::Timeout) if by == deadline => Some(GatewayError::UpstreamTotalTimeout),
                Err(Cut::Timeout) if head.is_some() => Some(GatewayError::UpstreamIdleTimeout),
                Err(Cut::Timeout) => Some(GatewayError::UpstreamFirstByteTimeout),
                Err(Cut::Client) => return fail(ubuf, SendError::Client),
            };
            if let Some(e) = failed {
                timing.wait += t0.elapsed();
                return fail(ubuf, SendError::Upstream(e));
            }
        }
    }
}

fn is_event_stream(v: &[u8]) -> bool {
    v.len() >= 17 && v[..17].eq_ignore_ascii_case(b"text/event-stream")
}

/// A streamed answer worth holding until its first body bytes: SSE, or Bedrock's AWS
/// event stream.
fn is_stream(v: &[u8]) -> bool {
    const AWS: &[u8] = b"application/vnd.amazon.eventstream";
    is_event_stream(v) || (v.len() >= AWS.len() && v[..AWS.len()].eq_ignore_ascii_case(AWS))
}

/// Whether an upstream answer is worth another attempt, and what it says. For an error
/// status with a small Content-Length body the body is read whole into `ex.ubuf` first
/// (the classification may need it; the client gets it from there when no retry
/// follows). `None`: serve it.
pub(super) async fn refusal(
    ex: &mut Exchange,
    uheaders: &Headers,
    t: &Target<'_>,
    policy: Policy,
    mut closed: Pin<&mut impl Future<Output = ()>>,
) -> Option<Refused> {
    let status = ex.resp.status;
    if status < 400 || !(policy.may_retry || policy.context_fallback) {
        return None;
    }
    let head_len = ex.resp.head_len;
    let idle = t.resolved.deployment.timeouts.idle;
    if let BodyFraming::Length(n) = ex.resp.body {
        if n <= ERROR_BODY_PEEK_BYTES as u64 {
            let end = head_len + n as usize;
            while ex.ubuf.len() < end {
                match guarded(
                    closed.as_mut(),
                    idle,
                    read_more(&mut ex.uio, &mut ex.ubuf, READ_BYTES),
                )
                .await
                {
                    Ok(Ok(k)) if k > 0 => {}
                    // The body never came: a broken answer, worth another attempt.
                    _ => {
                        return policy.may_retry.then_some(Refused {
                            retry_after: None,
                            context_length: false,
                        })
                    }
                }
            }
        }
    }
    let headers = &uheaders[..ex.resp.header_count];
    let body = &ex.ubuf[head_len.min(ex.ubuf.len())..];
    let context_length = (400..500).contains(&status) && status != 429 && says_context_length(body);
    let retryable = status == 429 || status == 408 || status >= 500;
    let retry_after = find_header(&ex.ubuf, headers, b"retry-after").and_then(parse_retry_after);
    if (context_length && policy.context_fallback) || (retryable && policy.may_retry) {
        Some(Refused {
            retry_after,
            context_length,
        })
    } else {
        None
    }
}

/// Error bodies up to this size are read before deciding on a retry.
const ERROR_BODY_PEEK_BYTES: usize = 64 * 1024;

/// Whether an error body says the prompt does not fit the model's context window, in any
/// provider's words (OpenAI `context_length_exceeded`, Anthropic "prompt is too long",
/// Gemini and Bedrock "input is too long" / "exceeds the maximum number of tokens").
pub(super) fn says_context_length(body: &[u8]) -> bool {
    const NEEDLES: [&[u8]; 6] = [
        b"context_length_exceeded",
        b"maximum context length",
        b"prompt is too long",
        b"input is too long",
        b"exceeds the maximum number of tokens",
        b"context window",
    ];
    NEEDLES
        .iter()
        .any(|n| memchr::memmem::find(body, n).is_some())
}

/// `retry-after` as delta-seconds (decimals accepted, as some providers send them).
/// HTTP dates are not honoured (no provider in the table sends one).
pub(super) fn parse_retry_after(v: &[u8]) -> Option<Duration> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let secs: f64 = s.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Stream a committed response back to the client: the head, then the body relayed,
/// stripped of injected usage, or translated. The upstream connection goes back to the
/// pool when the exchange ended cleanly.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stream_back<S: AsyncWriteRent>(
    w: &Worker,
    io: &mut S,
    wbuf: &mut Vec<u8>,
    ex: Exchange,
    uheaders: &Headers,
    t: &Target<'_>,
    mut closed: Pin<&mut impl Future<Output = ()>>,
    req: &mut Req,
) -> Outcome {
    let Exchange {
        mut uio,
        resp,
        mut ubuf,
    } = ex;
    let timeouts = &t.resolved.deployment.timeouts;
    let deadline = req.start + timeouts.total;
    let shard = w.shard();
    let client_chunked = req.version == Version::Http11;
    let framing = resp.body;
    if matches!(framing, BodyFraming::Chunked | BodyFraming::CloseDelimited) && !client_chunked {
        // An HTTP/1.0 client gets a close-delimited body.
        req.keep_alive = false;
    }
    if w.draining() {
        // The drain began while this request was upstream: this is the connection's
        // last response, and the head must say so.
        req.keep_alive = false;
    }
    let translated_stream = t
        .translation
        .as_ref()
        .map(|tr| tr.stream && (200..300).contains(&resp.status));
    let is_sse = match translated_stream {
        Some(stream) => stream,
        None => find_header(&ubuf, &uheaders[..resp.header_count], b"content-type")
            .is_some_and(is_event_stream),
    };
    if translated_stream == Some(true) && !client_chunked {
        req.keep_alive = false;
    }
    let labels = &w.snap.deployment_labels;
    if t.translation.is_none() {
        let mut head = resp;
        if t.inject_usage && is_sse && matches!(head.body, BodyFraming::Length(_)) {
            // Stripping a chunk changes the length: re-frame.
            head.body = BodyFraming::Chunked;
            if !client_chunked {
                req.keep_alive = false;
            }
        }
        write_response_head(wbuf, &ubuf, uheaders, &head, req, client_chunked, labels);
    }
    let mut s = Streamer {
        io,
        uio: &mut uio,
        wbuf,
        ubuf: &mut ubuf,
        req,
        idle: timeouts.idle,
        deadline,
        labels,
    };
    let ended = match t.translation.as_ref() {
        Some(tr) => {
            s.translated(tr, &resp, uheaders, client_chunked, closed.as_mut())
                .await
        }
        None if t.inject_usage && is_sse && (200..300).contains(&resp.status) => {
            s.relay_without_usage(&resp, client_chunked, closed.as_mut())
                .await
        }
        None => s.relay(&resp, client_chunked, closed.as_mut()).await,
    };
    let upstream_ok = resp.status < 500 && resp.status != 429;
    let outcome = match ended {
        Ok(reusable) => {
            if reusable && resp.keep_alive && !w.draining() {
                w.pool.borrow_mut().put(
                    t.resolved.deployment.provider,
                    uio,
                    Instant::now(),
                    timeouts.pool_max_idle,
                );
            }
            Outcome::Done(Next::Continue, upstream_ok)
        }
        Err(StreamError::Client) => Outcome::ClientGone,
        Err(StreamError::Upstream(e)) => {
            if let Some(k) = e.upstream_kind() {
                shard.upstream_error(k);
            }
            req.error = Some(e.code());
            // The head is out: the only honest signals left are an SSE error event in a
            // well-formed chunked stream, or a truncated body.
            if is_sse && client_chunked {
                wbuf.clear();
                let mut frame = Vec::with_capacity(256);
                if req.anthropic() {
                    frame.extend_from_slice(b"event: error\ndata: ");
                    e.write_anthropic_body(&mut frame, None);
                } else {
                    frame.extend_from_slice(b"data: ");
                    e.write_body(&mut frame, None);
                }
                frame.extend_from_slice(b"\n\n");
                write_chunk(wbuf, &frame);
                wbuf.extend_from_slice(LAST_CHUNK);
                req.bytes_out += wbuf.len() as u64;
                match write_all(io, wbuf).await {
                    Ok(()) => Outcome::Done(Next::Continue, false),
                    Err(_) => Outcome::ClientGone,
                }
            } else {
                Outcome::Done(Next::Close, false)
            }
        }
    };
    w.give_buf(ubuf);
    outcome
}

/// The upstream request head for an OpenAI-shaped provider, and the body when it is
/// small enough to go in the same write (returns whether it must be sent separately).
fn write_openai_request(
    wbuf: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    parts: &Parts<'_>,
    t: &Target<'_>,
) -> bool {
    let Parts {
        head,
        rbuf,
        headers,
        body,
    } = *parts;
    let provider = t.resolved.provider;
    let up = provider
        .upstream
        .as_ref()
        .expect("forward is only called for upstream providers");
    let path: &[u8] = match t.endpoint {
        Endpoint::Chat => b"/chat/completions",
        Endpoint::Completions => b"/completions",
        Endpoint::Responses => b"/responses",
        // Anthropic's API (only reached for an Anthropic provider): its base URL has no
        // version in it.
        Endpoint::Messages => b"/v1/messages",
        Endpoint::CountTokens => b"/v1/messages/count_tokens",
        _ => b"/embeddings",
    };
    wbuf.extend_from_slice(b"POST ");
    wbuf.extend_from_slice(up.path_prefix.as_bytes());
    if provider.kind == ProviderKind::AzureOpenAi {
        // Azure addresses a deployment, named by the model's upstream name.
        wbuf.extend_from_slice(b"/openai/deployments/");
        percent_encode_segment(wbuf, t.resolved.upstream_name);
        wbuf.extend_from_slice(path);
        wbuf.extend_from_slice(b"?api-version=");
        percent_encode_segment(wbuf, provider.opts.api_version.as_bytes());
    } else {
        wbuf.extend_from_slice(path);
        // The client's query string goes along (some OpenAI-compatible servers take
        // parameters there).
        wbuf.extend_from_slice(&head.target.of(rbuf)[head.path.len()..]);
    }
    wbuf.extend_from_slice(b" HTTP/1.1\r\n");
    write_header(wbuf, b"host", up.host_header.as_bytes());
    for (name, value) in &provider.headers {
        write_header(wbuf, name.as_bytes(), value.0.as_bytes());
    }
    for h in &headers[..head.header_count] {
        let name = h.name.of(rbuf);
        if forward_request_header(name)
            && !provider
                .headers
                .iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        {
            write_header(wbuf, name, h.value.of(rbuf));
        }
    }
    let mut extra = [0u8; 96];
    let inject = injected_members(t, &mut extra);
    match t.model_span {
        span if span.is_some() || !inject.is_empty() => {
            // The body is rewritten into the head's buffer: `model` spliced, and the
            // usage request added before the object's closing brace.
            let name = &mut *scratch;
            name.clear();
            let (s, e) = match span {
                Some(span) => {
                    json::write_string(name, t.resolved.upstream_name);
                    (span.start, span.end)
                }
                None => (0, 0),
            };
            // INVARIANT: the body was validated as a JSON object, so it ends with `}`
            // (and whitespace).
            let close = body.iter().rposition(|&b| b == b'}').unwrap_or(body.len());
            wbuf.extend_from_slice(b"content-length: ");
            write_u64(
                wbuf,
                (body.len() - (e - s) + name.len() + inject.len()) as u64,
            );
            wbuf.extend_from_slice(b"\r\n\r\n");
            wbuf.extend_from_slice(&body[..s]);
            wbuf.extend_from_slice(name);
            wbuf.extend_from_slice(&body[e..close]);
            wbuf.extend_from_slice(inject);
            wbuf.extend_from_slice(&body[close..]);
            false
        }
        _ => {
            wbuf.extend_from_slice(b"content-length: ");
            write_u64(wbuf, body.len() as u64);
            wbuf.extend_from_slice(b"\r\n\r\n");
            if body.len() <= INLINE_BODY_BYTES_MAX {
                wbuf.extend_from_slice(body);
                false
            } else {
                true
            }
        }
    }
}

/// The members added before the body's closing brace: the usage request of a stream,
/// and a budgeted request's output cap, written into `buf`.
fn injected_members<'b>(t: &Target<'_>, buf: &'b mut [u8; 96]) -> &'b [u8] {
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        buf[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    if t.inject_usage {
        put(stream_usage::INCLUDE_USAGE);
    }
    if let Some(cap) = t.output_cap {
        let member: &[u8] = match (t.endpoint, t.resolved.provider.kind) {
            (Endpoint::Responses, _) => b",\"max_output_tokens\":",
            // OpenAI's reasoning models refuse the legacy `max_tokens`.
            (Endpoint::Chat, ProviderKind::OpenAi | ProviderKind::AzureOpenAi) => {
                b",\"max_completion_tokens\":"
            }
            _ => b",\"max_tokens\":",
        };
        put(member);
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = cap;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        put(&digits[i..]);
    }
    &buf[..n]
}

fn write_response_head(
    wbuf: &mut Vec<u8>,
    ubuf: &[u8],
    uheaders: &Headers,
    resp: &ResponseHead,
    req: &mut Req,
    client_chunked: bool,
    labels: &[Box<str>],
) {
    wbuf.clear();
    req.status = resp.status;
    write_status_line(wbuf, resp.status);
    for h in &uheaders[..resp.header_count] {
        let name = h.name.of(ubuf);
        // A governed request gets the gateway's own x-ratelimit-* (its key's limits);
        // the provider's describe the gateway's account, not the caller's.
        let provider_limit = req.gov.is_some()
            && name.len() > 12
            && name[..12].eq_ignore_ascii_case(b"x-ratelimit-");
        if forward_response_header(name) && !provider_limit {
            write_header(wbuf, name, h.value.of(ubuf));
        }
    }
    write_header(wbuf, b"x-sluice-request-id", &response::hex_id(req.id));
    response::write_route_headers(wbuf, req, labels);
    match resp.body {
        BodyFraming::None => write_header(wbuf, b"content-length", b"0"),
        BodyFraming::Length(n) => {
            wbuf.extend_from_slice(b"content-length: ");
            write_u64(wbuf, n);
            wbuf.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked | BodyFraming::CloseDelimited if client_chunked => {
            write_header(wbuf, b"transfer-encoding", b"chunked")
        }
        BodyFraming::Chunked | BodyFraming::CloseDelimited => {}
    }
    response::write_connection(wbuf, req);
    wbuf.extend_from_slice(b"\r\n");
}

pub(super) enum StreamError {
    Client,
    Upstream(GatewayError),
}

/// A sink for de-framed upstream body bytes: appends client bytes to the buffer given.
pub(super) type Sink<'s> = dyn FnMut(&[u8], &mut Vec<u8>) -> Result<(), TranslateError> + 's;

/// The stream-back phase over one upstream response body.
pub(super) struct Streamer<'a, S> {
    io: &'a mut S,
    uio: &'a mut UpstreamIo,
    pub(super) wbuf: &'a mut Vec<u8>,
    pub(super) ubuf: &'a mut Vec<u8>,
    pub(super) req: &'a mut Req,
    idle: Duration,
    deadline: Instant,
    /// Deployment labels, for the `x-sluice-deployment` header.
    pub(super) labels: &'a [Box<str>],
}

impl<S: AsyncWriteRent> Streamer<'_, S> {
    /// Relay the body as the upstream framed it (re-chunked for the client when needed).
    /// Ok(reusable).
    async fn relay(
        &mut self,
        resp: &ResponseHead,
        client_chunked: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, StreamError> {
        match resp.body {
            BodyFraming::None => self.flush().await.map(|()| true),
            BodyFraming::Length(n) => self.length(resp.head_len, n, closed.as_mut()).await,
            BodyFraming::Chunked => {
                self.chunked(resp.head_len, client_chunked, closed.as_mut())
                    .await
            }
            BodyFraming::CloseDelimited => self
                .until_close(resp.head_len, client_chunked, closed.as_mut())
                .await
                .map(|()| false),
        }
    }

    /// Feed the upstream body, de-framed, through `sink`, flushing `wbuf` to the client
    /// after each read when `flush_each`. More than `limit` body bytes, or a sink error,
    /// fail as [`GatewayError::UpstreamUntranslatable`]. Ok(reusable).
    pub(super) async fn pump(
        &mut self,
        resp: &ResponseHead,
        limit: u64,
        flush_each: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
        sink: &mut Sink<'_>,
    ) -> Result<bool, StreamError> {
        let untranslatable = |_| StreamError::Upstream(GatewayError::UpstreamUntranslatable);
        let mut seen = 0u64;
        let mut feed = |data: &[u8], wbuf: &mut Vec<u8>| {
            seen += data.len() as u64;
            if seen > limit {
                return Err(TranslateError::TooLarge);
            }
            sink(data, wbuf)
        };
        let mut pos = resp.head_len;
        match resp.body {
            BodyFraming::None => Ok(true),
            BodyFraming::Length(n) => {
                let mut left = n;
                loop {
                    let take = ((self.ubuf.len() - pos) as u64).min(left) as usize;
                    feed(&self.ubuf[pos..pos + take], self.wbuf).map_err(untranslatable)?;
                    left -= take as u64;
                    if left == 0 {
                        return Ok(pos + take == self.ubuf.len());
                    }
                    if flush_each && !self.wbuf.is_empty() {
                        self.flush().await?;
                    }
                    self.ubuf.clear();
                    pos = 0;
                    if self.read(closed.as_mut()).await? == 0 {
                        return Err(StreamError::Upstream(GatewayError::UpstreamReset));
                    }
                }
            }
            BodyFraming::Chunked => {
                let mut dec = ChunkedDecoder::new(u64::MAX);
                loop {
                    loop {
                        let (used, ev) = dec.step(&self.ubuf[pos..]).map_err(|_| {
                            StreamError::Upstream(GatewayError::UpstreamBadResponse)
                        })?;
                        match ev {
                            ChunkEvent::Data { start: s, end: e } => {
                                feed(&self.ubuf[pos + s..pos + e], self.wbuf)
                                    .map_err(untranslatable)?;
                                pos += used;
                            }
                            ChunkEvent::Partial => {
                                pos += used;
                                break;
                            }
                            ChunkEvent::Done => return Ok(pos + used == self.ubuf.len()),
                        }
                    }
                    if flush_each && !self.wbuf.is_empty() {
                        self.flush().await?;
                    }
                    self.ubuf.drain(..pos);
                    pos = 0;
                    if self.read(closed.as_mut()).await? == 0 {
                        return Err(StreamError::Upstream(GatewayError::UpstreamReset));
                    }
                }
            }
            BodyFraming::CloseDelimited => loop {
                feed(&self.ubuf[pos..], self.wbuf).map_err(untranslatable)?;
                if flush_each && !self.wbuf.is_empty() {
                    self.flush().await?;
                }
                self.ubuf.clear();
                pos = 0;
                if self.read(closed.as_mut()).await? == 0 {
                    return Ok(false);
                }
            },
        }
    }

    /// Write `wbuf` to the client.
    pub(super) async fn flush(&mut self) -> Result<(), StreamError> {
        self.req.bytes_out += self.wbuf.len() as u64;
        let r = write_all(self.io, self.wbuf).await;
        self.wbuf.clear();
        r.map_err(|_| StreamError::Client)
    }

    /// Read more of the upstream body into `ubuf` (appending). `Ok(0)` is EOF.
    async fn read(
        &mut self,
        closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<usize, StreamError> {
        let now = Instant::now();
        let left = self.deadline.saturating_duration_since(now);
        let (limit, on_timeout) = if self.idle < left {
            (self.idle, GatewayError::UpstreamIdleTimeout)
        } else {
            (left, GatewayError::UpstreamTotalTimeout)
        };
        let r = guarded(closed, limit, read_more(self.uio, self.ubuf, READ_BYTES)).await;
        self.req.upstream_wait += now.elapsed();
        match r {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(_)) => Err(StreamError::Upstream(GatewayError::UpstreamReset)),
            Err(Cut::Timeout) => Err(StreamError::Upstream(on_timeout)),
            Err(Cut::Client) => Err(StreamError::Client),
        }
    }

    /// A Content-Length body: the head and the bytes already read go in one write, the
    /// rest is relayed read by read without copying. Ok(reusable).
    async fn length(
        &mut self,
        start: usize,
        n: u64,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, StreamError> {
        let have = (self.ubuf.len() - start) as u64;
        let take = have.min(n) as usize;
        let mut reusable = have <= n;
        if take as u64 == n && (200..300).contains(&self.req.status) {
            // The whole body came with the head (the usual case for a JSON answer):
            // read its usage on the way through.
            self.req.usage = stream_usage::json_usage(&self.ubuf[start..start + take]);
        }
        if let Some(c) = self.req.capture.as_deref_mut() {
            c.push(&self.ubuf[start..start + take]);
        }
        self.wbuf.extend_from_slice(&self.ubuf[start..start + take]);
        self.flush().await?;
        let mut left = n - take as u64;
        while left > 0 {
            self.ubuf.clear();
            let got = self.read(closed.as_mut()).await?;
            if got == 0 {
                return Err(StreamError::Upstream(GatewayError::UpstreamReset));
            }
            let k = (got as u64).min(left) as usize;
            reusable &= got == k;
            if let Some(c) = self.req.capture.as_deref_mut() {
                c.push(&self.ubuf[..k]);
            }
            self.req.bytes_out += k as u64;
            write_range(self.io, self.ubuf, 0, k)
                .await
                .map_err(|_| StreamError::Client)?;
            left -= k as u64;
        }
        Ok(reusable)
    }

    /// A chunked upstream body, re-framed for the client one read at a time: an SSE
    /// frame is written as soon as its bytes arrive. Ok(reusable).
    async fn chunked(
        &mut self,
        start: usize,
        client_chunked: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, StreamError> {
        let mut dec = ChunkedDecoder::new(u64::MAX);
        let mut pos = start;
        loop {
            loop {
                let (used, ev) = dec
                    .step(&self.ubuf[pos..])
                    .map_err(|_| StreamError::Upstream(GatewayError::UpstreamBadResponse))?;
                match ev {
                    ChunkEvent::Data { start: s, end: e } => {
                        let data = &self.ubuf[pos + s..pos + e];
                        if let Some(c) = self.req.capture.as_deref_mut() {
                            c.push(data);
                        }
                        if client_chunked {
                            write_chunk(self.wbuf, data);
                        } else {
                            self.wbuf.extend_from_slice(data);
                        }
                        pos += used;
                    }
                    ChunkEvent::Partial => {
                        pos += used;
                        break;
                    }
                    ChunkEvent::Done => {
                        pos += used;
                        if client_chunked {
                            self.wbuf.extend_from_slice(LAST_CHUNK);
                        }
                        let reusable = pos == self.ubuf.len();
                        self.flush().await?;
                        return Ok(reusable);
                    }
                }
            }
            if !self.wbuf.is_empty() {
                self.flush().await?;
            }
            self.ubuf.drain(..pos);
            pos = 0;
            if self.read(closed.as_mut()).await? == 0 {
                return Err(StreamError::Upstream(GatewayError::UpstreamReset));
            }
        }
    }

    /// A body that ends when the upstream closes.
    async fn until_close(
        &mut self,
        start: usize,
        client_chunked: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), StreamError> {
        let mut pos = start;
        loop {
            let data = &self.ubuf[pos..];
            if let Some(c) = self.req.capture.as_deref_mut() {
                c.push(data);
            }
            if client_chunked {
                write_chunk(self.wbuf, data);
            } else {
                self.wbuf.extend_from_slice(data);
            }
            if !self.wbuf.is_empty() {
                self.flush().await?;
            }
            self.ubuf.clear();
            pos = 0;
            if self.read(closed.as_mut()).await? == 0 {
                if client_chunked {
                    self.wbuf.extend_from_slice(LAST_CHUNK);
                    self.flush().await?;
                }
                return Ok(());
            }
        }
    }
}

/// Append `s` as one URL path segment (or query value): RFC 3986 unreserved bytes as
/// they are, everything else percent-encoded.
pub(super) fn percent_encode_segment(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}
