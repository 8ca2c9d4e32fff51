//! One connection: read a request (head, then body), decide its [`Plan`], answer, repeat.
//!
//! Buffers are per connection and reused for every request on it: `rbuf` holds received
//! bytes (heads are parsed in place, as spans), `wbuf` collects output until it is
//! written, `frame` is scratch for a response body or one SSE frame, `body` receives a
//! decoded chunked request body. Responses to pipelined requests already in `rbuf` are
//! batched into one write; anything that waits (a delay, a stream, a fault) writes what
//! is pending first, so responses always leave in request order.

use std::io;
use std::sync::atomic::Ordering;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use proto::http1::{
    parse_request, write_chunk, BodyFraming, ChunkedDecoder, Error as CodecError, HeaderSpan,
    Headers, Limits, RequestHead, Status, Version, EMPTY_HEADERS, LAST_CHUNK,
};
use proto::openai::synth::{self, ChatStream, CompletionStream, Spec};

use super::native::{self, Aws, Ctx, Decision};
use super::openai;
use super::plan::{Fault, Plan};
use super::respond::{codec_error_body, json_head, sse_head};
use super::rng::mix;
use super::route::{route, Route};
use super::server::{pause, reset, Shared};
use super::{scan, Endpoint, MockStats, EMBEDDING_DIMS_MAX, EMBEDDING_INPUTS_MAX};

const LIMITS: Limits = Limits::DEFAULT;
/// Initial read buffer: one head and a typical body.
const RBUF_INIT: usize = 16 * 1024;
/// A read buffer grown past this for a large body shrinks back once it is empty.
const RBUF_KEEP_MAX: usize = 1024 * 1024;
/// Spare capacity wanted before each read.
const READ_MIN: usize = 4 * 1024;
/// Output batched beyond this is written even if more pipelined requests wait.
const WBUF_FLUSH: usize = 64 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The connection's socket and output buffer, borrowed apart from its input buffer.
struct Out {
    stream: TcpStream,
    wbuf: Vec<u8>,
}

impl Out {
    /// Write everything pending.
    async fn flush(&mut self, stats: &MockStats) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let (res, mut buf) = self.stream.write_all(std::mem::take(&mut self.wbuf)).await;
        if let Ok(n) = res {
            stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        }
        buf.clear();
        self.wbuf = buf;
        res.map(drop)
    }
}

/// What happens to the connection after a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
    Reset,
}

/// Why reading a request stopped.
enum Stop {
    /// EOF, a socket error, or shutdown: close quietly.
    Io,
    /// The request is malformed: answer with the codec's status, then close.
    Codec(CodecError),
}

/// Where a request's body is, once read.
enum BodyAt {
    /// `rbuf[rpos + start..rpos + end]`.
    Buf(usize, usize),
    /// In `Conn::body` (it was chunked).
    Decoded,
}

struct Conn {
    out: Out,
    /// INVARIANT: `rpos <= rbuf.len()`; unparsed input is `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    frame: Vec<u8>,
    body: Vec<u8>,
    model: Vec<u8>,
    headers: Headers,
}

pub(crate) async fn serve(stream: TcpStream, shared: &Shared, conn_key: u64) {
    let mut conn = Conn {
        out: Out {
            stream,
            wbuf: Vec::with_capacity(RBUF_INIT),
        },
        rbuf: Vec::with_capacity(RBUF_INIT),
        rpos: 0,
        frame: Vec::with_capacity(RBUF_INIT),
        body: Vec::new(),
        model: Vec::new(),
        headers: EMPTY_HEADERS,
    };
    if conn.run(shared, conn_key).await == Next::Reset {
        reset(conn.out.stream);
    }
}

impl Conn {
    async fn run(&mut self, shared: &Shared, conn_key: u64) -> Next {
        let stats = &*shared.stats;
        let conn_seed = mix(shared.cfg.seed ^ mix(conn_key));
        let mut index: u64 = 0;
        loop {
            let head = match parse_request(&self.rbuf[self.rpos..], &mut self.headers, &LIMITS) {
                Ok(Status::Complete(head)) => head,
                Ok(Status::Partial) => {
                    if self.out.flush(stats).await.is_err() || self.fill(0, stats).await.is_err() {
                        return Next::Close;
                    }
                    continue;
                }
                Err(e) => return self.reject(e, stats).await,
            };
            let (consumed, at) = match self.read_body(&head, stats).await {
                Ok(read) => read,
                Err(Stop::Io) => return Next::Close,
                Err(Stop::Codec(e)) => return self.reject(e, stats).await,
            };
            index += 1;

            let buf = &self.rbuf[self.rpos..];
            let body = match at {
                BodyAt::Buf(start, end) => &buf[start..end],
                BodyAt::Decoded => &self.body[..],
            };
            let req = Req {
                buf,
                head,
                headers: &self.headers[..head.header_count],
                body,
            };
            let route = route(buf, &head);
            stats.requests_total.fetch_add(1, Ordering::Relaxed);
            stats.requests_by_endpoint[route.endpoint as usize].fetch_add(1, Ordering::Relaxed);
            if shared.recorder.is_some() {
                shared.record(&buf[..head.head_len], body);
            }
            let plan = Plan::decide(
                &shared.cfg,
                buf,
                req.headers,
                body,
                mix(conn_seed.wrapping_add(index)),
            );
            let more_buffered = consumed < buf.len();
            let scratch = Scratch {
                frame: &mut self.frame,
                model: &mut self.model,
            };
            let next = respond(
                &mut self.out,
                scratch,
                shared,
                &req,
                route,
                &plan,
                more_buffered,
            )
            .await;

            self.rpos += consumed;
            if self.rpos == self.rbuf.len() {
                self.rbuf.clear();
                self.rpos = 0;
                if self.rbuf.capacity() > RBUF_KEEP_MAX {
                    self.rbuf.shrink_to(RBUF_INIT);
                }
            }
            match next {
                Ok(Next::KeepAlive) => {}
                Ok(Next::Close) => {
                    let _ = self.out.flush(stats).await;
                    return Next::Close;
                }
                Ok(Next::Reset) => return Next::Reset,
                Err(_) => return Next::Close,
            }
        }
    }

    /// Read more input after `rbuf[rpos..]`, with room for at least `want` more bytes.
    /// Compacts the buffer first, so offsets relative to `rpos` stay valid. EOF is an error.
    async fn fill(&mut self, want: usize, stats: &MockStats) -> Result<(), Stop> {
        if self.rpos > 0 {
            self.rbuf.copy_within(self.rpos.., 0);
            self.rbuf.truncate(self.rbuf.len() - self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(want.max(READ_MIN));
        let (len, cap) = (self.rbuf.len(), self.rbuf.capacity());
        let (res, buf) = self
            .out
            .stream
            .read(std::mem::take(&mut self.rbuf).slice_mut(len..cap))
            .await;
        self.rbuf = buf.into_inner();
        match res {
            Ok(0) | Err(_) => Err(Stop::Io),
            Ok(n) => {
                stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Make the whole body of `head` available. Returns the request's length from `rpos`
    /// (head and body as framed) and where the body is.
    async fn read_body(
        &mut self,
        head: &RequestHead,
        stats: &MockStats,
    ) -> Result<(usize, BodyAt), Stop> {
        let mut continued = false;
        match head.body {
            BodyFraming::None => Ok((head.head_len, BodyAt::Buf(head.head_len, head.head_len))),
            BodyFraming::Length(n) => {
                if n > LIMITS.body_bytes_max {
                    return Err(Stop::Codec(CodecError::BodyTooLarge));
                }
                let total = head.head_len + n as usize;
                while self.rbuf.len() - self.rpos < total {
                    self.continue_once(head, &mut continued, stats).await?;
                    let missing = total - (self.rbuf.len() - self.rpos);
                    self.fill(missing, stats).await?;
                }
                Ok((total, BodyAt::Buf(head.head_len, total)))
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::new(LIMITS.body_bytes_max);
                self.body.clear();
                let mut at = head.head_len;
                loop {
                    let (used, done) = decoder
                        .decode_into(&self.rbuf[self.rpos + at..], &mut self.body)
                        .map_err(Stop::Codec)?;
                    at += used;
                    if done {
                        return Ok((at, BodyAt::Decoded));
                    }
                    self.continue_once(head, &mut continued, stats).await?;
                    self.fill(0, stats).await?;
                }
            }
            // Not a request framing; the codec never returns it for requests.
            BodyFraming::CloseDelimited => Err(Stop::Codec(CodecError::InvalidHead)),
        }
    }

    /// Answer `Expect: 100-continue` the first time the body is found incomplete.
    async fn continue_once(
        &mut self,
        head: &RequestHead,
        continued: &mut bool,
        stats: &MockStats,
    ) -> Result<(), Stop> {
        if head.expect_continue && !*continued {
            *continued = true;
            self.out.wbuf.extend_from_slice(CONTINUE);
            self.out.flush(stats).await.map_err(|_| Stop::Io)?;
        }
        Ok(())
    }

    /// Answer a malformed request with the codec's status and close.
    async fn reject(&mut self, e: CodecError, stats: &MockStats) -> Next {
        self.frame.clear();
        codec_error_body(&mut self.frame, e);
        json_head(
            &mut self.out.wbuf,
            e.status(),
            self.frame.len(),
            true,
            None,
            None,
        );
        self.out.wbuf.extend_from_slice(&self.frame);
        let _ = self.out.flush(stats).await;
        Next::Close
    }
}

/// One parsed request; spans in `head` and `headers` point into `buf`.
struct Req<'a> {
    buf: &'a [u8],
    head: RequestHead,
    headers: &'a [HeaderSpan],
    body: &'a [u8],
}

struct Scratch<'a> {
    frame: &'a mut Vec<u8>,
    model: &'a mut Vec<u8>,
}

/// The request's `model`, unescaped into `scratch` only when it has escapes.
fn model<'a>(body: &'a [u8], scratch: &'a mut Vec<u8>, default: &'a [u8]) -> &'a [u8] {
    let Some(quoted) = scan::string(body, b"model") else {
        return default;
    };
    let inner = &quoted[1..quoted.len() - 1];
    if !inner.contains(&b'\\') {
        return inner;
    }
    scratch.clear();
    if proto::json::unescape_string(quoted, scratch) {
        scratch
    } else {
        default
    }
}

/// What every step of an answer needs to know about its request.
struct Job<'a> {
    shared: &'a Shared,
    req: &'a Req<'a>,
    route: Route,
    plan: &'a Plan,
    /// Close the connection after this response.
    close: bool,
    /// More pipelined requests are already buffered: the output may wait for theirs.
    more_buffered: bool,
}

async fn respond(
    out: &mut Out,
    scratch: Scratch<'_>,
    shared: &Shared,
    req: &Req<'_>,
    route: Route,
    plan: &Plan,
    more_buffered: bool,
) -> io::Result<Next> {
    let stats = &*shared.stats;
    let job = Job {
        shared,
        req,
        route,
        plan,
        close: !req.head.keep_alive || plan.fault == Fault::Close,
        more_buffered,
    };
    if !plan.latency.is_zero() {
        out.flush(stats).await?;
        if !pause(&shared.stop, plan.latency).await {
            return Ok(Next::Close);
        }
    }
    let decision = decide(shared, req, route, plan);
    let fault = effective_fault(plan, &decision, route.endpoint, req.body);
    if fault != Fault::None {
        stats.faults_injected.fetch_add(1, Ordering::Relaxed);
    }
    let frame = scratch.frame;
    let (status, retry_after_s) = match fault {
        Fault::None | Fault::Close | Fault::DieMidStream | Fault::StreamError => (0, None),
        Fault::Reset => {
            out.flush(stats).await?;
            return Ok(Next::Reset);
        }
        Fault::Stall => {
            out.flush(stats).await?;
            stall(out, frame, shared).await;
            return Ok(Next::Close);
        }
        Fault::Status(s) => (s, None),
        Fault::RateLimit { retry_after_s } => (429, Some(retry_after_s)),
    };
    if status != 0 {
        frame.clear();
        let error_type = native::fault_body(frame, route.endpoint.dialect(), status, plan.seed);
        let extra = Extra {
            retry_after_s,
            error_type: error_type.as_deref(),
        };
        return send(out, &job, status, frame, extra).await;
    }
    match decision {
        Decision::Fast => fast(out, frame, scratch.model, &job).await,
        Decision::Reject {
            status,
            body,
            error_type,
        } => {
            let extra = Extra {
                retry_after_s: None,
                error_type: error_type.as_deref(),
            };
            send(out, &job, status, &body, extra).await
        }
        Decision::Json(body) => whole(out, &job, 200, &body).await,
        Decision::Stream(frames) => stream(out, frame, &job, Frames::Native(frames)).await,
    }
}

/// Native formats (and OpenAI tool calls) are parsed and checked before anything else,
/// so a request the provider would refuse is refused before any injected fault.
fn decide(shared: &Shared, req: &Req<'_>, route: Route, plan: &Plan) -> Decision {
    if !native::is_native(route.endpoint, plan) {
        return Decision::Fast;
    }
    native::decide(&Ctx {
        buf: req.buf,
        head: &req.head,
        headers: req.headers,
        body: req.body,
        route,
        plan,
        created: shared.cfg.created,
        aws: Aws {
            access_key_id: &shared.cfg.aws_access_key_id,
            secret_access_key: &shared.cfg.aws_secret_access_key,
        },
    })
}

/// The plan's fault as it applies to this answer: none for a refused request, and
/// `stream-error` on an answer that does not stream is a 500. Whether the answer streams
/// is looked up only then: the fast path scans the body for `stream` once, later.
fn effective_fault(plan: &Plan, decision: &Decision, endpoint: Endpoint, body: &[u8]) -> Fault {
    let streams = || match decision {
        Decision::Stream(_) => true,
        Decision::Fast => fast_stream(endpoint, body),
        Decision::Json(_) | Decision::Reject { .. } => false,
    };
    match plan.fault {
        _ if matches!(decision, Decision::Reject { .. }) => Fault::None,
        Fault::StreamError if !streams() => Fault::Status(500),
        f => f,
    }
}

/// Whether the fast path streams this request.
fn fast_stream(endpoint: Endpoint, body: &[u8]) -> bool {
    matches!(
        openai_kind(endpoint),
        Endpoint::ChatCompletions | Endpoint::Completions
    ) && scan::is_true(body, b"stream")
}

/// The OpenAI endpoint an Azure endpoint answers as.
fn openai_kind(endpoint: Endpoint) -> Endpoint {
    match endpoint {
        Endpoint::AzureChatCompletions => Endpoint::ChatCompletions,
        Endpoint::AzureCompletions => Endpoint::Completions,
        Endpoint::AzureEmbeddings => Endpoint::Embeddings,
        e => e,
    }
}

/// The OpenAI endpoints, answered from the request bytes without building a tree.
async fn fast(
    out: &mut Out,
    frame: &mut Vec<u8>,
    model_scratch: &mut Vec<u8>,
    job: &Job<'_>,
) -> io::Result<Next> {
    let (shared, req, plan) = (job.shared, job.req, job.plan);
    let default_model = shared
        .cfg
        .models
        .first()
        .map_or(&b"mock-gpt"[..], |m| m.as_bytes());
    let model = match job.route.model {
        Some(deployment) => deployment.of(req.buf),
        None => model(req.body, model_scratch, default_model),
    };
    let spec = Spec {
        model,
        seed: plan.seed,
        created: shared.cfg.created,
        prompt_tokens: synth::prompt_tokens_estimate(req.body),
        completion_tokens: plan.completion_tokens,
        chunks: plan.chunks,
    };
    let endpoint = openai_kind(job.route.endpoint);
    if fast_stream(endpoint, req.body) {
        let include_usage = scan::is_true(req.body, b"include_usage");
        let frames = if endpoint == Endpoint::ChatCompletions {
            Frames::Chat(ChatStream::new(spec, include_usage).with_finish(plan.finish))
        } else {
            Frames::Completion(CompletionStream::new(spec, include_usage).with_finish(plan.finish))
        };
        return stream(out, frame, job, frames).await;
    }
    let body = whole_body(frame, shared, req, endpoint, plan, &spec);
    let status = if endpoint == Endpoint::Other {
        404
    } else {
        200
    };
    whole(out, job, status, body).await
}

/// A complete response; half of it under `die-mid-stream`.
async fn whole(out: &mut Out, job: &Job<'_>, status: u16, body: &[u8]) -> io::Result<Next> {
    json_head(&mut out.wbuf, status, body.len(), job.close, None, None);
    if job.plan.fault == Fault::DieMidStream {
        out.wbuf.extend_from_slice(&body[..body.len() / 2]);
        out.flush(&job.shared.stats).await?;
        return Ok(Next::Close);
    }
    out.wbuf.extend_from_slice(body);
    finish(out, job).await
}

/// The body of a non-streaming response: generated into `frame`, or a body written once
/// at start.
fn whole_body<'a>(
    frame: &'a mut Vec<u8>,
    shared: &'a Shared,
    req: &Req<'_>,
    endpoint: Endpoint,
    plan: &Plan,
    spec: &Spec<'_>,
) -> &'a [u8] {
    frame.clear();
    match endpoint {
        Endpoint::ChatCompletions => synth::chat_completion_with(frame, spec, plan.finish),
        Endpoint::Completions => synth::text_completion_with(frame, spec, plan.finish),
        Endpoint::Embeddings => {
            let inputs = scan::embedding_inputs(req.body).min(EMBEDDING_INPUTS_MAX);
            let dims = scan::uint(req.body, b"dimensions")
                .map_or(shared.cfg.embedding_dims, |d| d.min(u32::MAX as u64) as u32)
                .min(EMBEDDING_DIMS_MAX);
            synth::embeddings(
                frame,
                spec.model,
                inputs,
                dims,
                plan.seed,
                spec.prompt_tokens,
            );
        }
        Endpoint::Models => return &shared.models_body,
        // The native endpoints never take the fast path (`native::decide` answers them).
        _ => return &shared.not_found_body,
    }
    frame
}

/// After a complete response: close, or keep the output batched while more pipelined
/// requests are already buffered.
async fn finish(out: &mut Out, job: &Job<'_>) -> io::Result<Next> {
    if job.close {
        return Ok(Next::Close); // the caller flushes before closing
    }
    if !job.more_buffered || out.wbuf.len() >= WBUF_FLUSH {
        out.flush(&job.shared.stats).await?;
    }
    Ok(Next::KeepAlive)
}

/// The optional headers of an error answer.
struct Extra<'a> {
    retry_after_s: Option<u64>,
    /// Bedrock's `x-amzn-errortype`.
    error_type: Option<&'a str>,
}

/// An error or refusal: `status` with a JSON `body`.
async fn send(
    out: &mut Out,
    job: &Job<'_>,
    status: u16,
    body: &[u8],
    extra: Extra<'_>,
) -> io::Result<Next> {
    json_head(
        &mut out.wbuf,
        status,
        body.len(),
        job.close,
        extra.retry_after_s,
        extra.error_type.map(str::as_bytes),
    );
    out.wbuf.extend_from_slice(body);
    finish(out, job).await
}

/// Hold the connection without answering until the client closes it (or the mock stops),
/// discarding anything it sends.
async fn stall(out: &mut Out, frame: &mut Vec<u8>, shared: &Shared) {
    frame.clear();
    frame.reserve(READ_MIN);
    loop {
        let (res, mut buf) = out.stream.read(std::mem::take(frame)).await;
        buf.clear();
        *frame = buf;
        match res {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                shared.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// A stream's frame source, chosen once per request.
enum Frames<'a> {
    Chat(ChatStream<'a>),
    Completion(CompletionStream<'a>),
    /// A native format's stream, rendered ahead.
    Native(native::Frames),
}

impl Frames<'_> {
    fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        match self {
            Frames::Chat(s) => s.next_frame(out),
            Frames::Completion(s) => s.next_frame(out),
            Frames::Native(f) => f.next_frame(out),
        }
    }

    /// `(first content frame, content frames)`: chat streams open with a role delta.
    fn shape(&self, plan: &Plan) -> (u32, u32) {
        match self {
            Frames::Chat(_) => (1, plan.chunks),
            Frames::Completion(_) => (0, plan.chunks),
            Frames::Native(f) => f.shape(),
        }
    }

    /// The frame a `stream-error` fault ends the stream with.
    fn error(&self, out: &mut Vec<u8>) {
        match self {
            Frames::Chat(_) | Frames::Completion(_) => openai::stream_error(out),
            Frames::Native(f) => out.extend_from_slice(f.error()),
        }
    }

    fn content_type(&self) -> &'static [u8] {
        match self {
            Frames::Chat(_) | Frames::Completion(_) => b"text/event-stream",
            Frames::Native(f) => f.content_type(),
        }
    }
}

/// Stream a response: the head now, the first frame after `ttft`, content frames
/// `interval` apart, and the frames that follow the last content frame at once. Each
/// frame is one HTTP chunk; frames produced together are written together. A cut fault
/// stops after half the content frames: `die-mid-stream` closes the connection there,
/// `stream-error` writes the format's error frame and ends the body cleanly.
async fn stream(
    out: &mut Out,
    frame: &mut Vec<u8>,
    job: &Job<'_>,
    mut frames: Frames<'_>,
) -> io::Result<Next> {
    let (shared, plan) = (job.shared, job.plan);
    let stats = &*shared.stats;
    // HTTP/1.0 clients cannot read chunked bodies: close-delimit the stream for them.
    let chunked = job.req.head.version == Version::Http11;
    let close = job.close || !chunked;
    sse_head(&mut out.wbuf, frames.content_type(), close, chunked);
    stats.streams_started.fetch_add(1, Ordering::Relaxed);
    let aborted = |e: io::Error| {
        stats.streams_aborted.fetch_add(1, Ordering::Relaxed);
        e
    };
    out.flush(stats).await.map_err(aborted)?;
    if !plan.ttft.is_zero() && !pause(&shared.stop, plan.ttft).await {
        return Ok(Next::Close);
    }

    let (first_content, content) = frames.shape(plan);
    let cut_after = matches!(plan.fault, Fault::DieMidStream | Fault::StreamError)
        .then(|| native::cut(first_content, content));
    let delayed = |i: u32| i > first_content && i < first_content + content;
    let write = |wbuf: &mut Vec<u8>, frame: &[u8]| {
        if chunked {
            write_chunk(wbuf, frame);
        } else {
            wbuf.extend_from_slice(frame);
        }
    };
    let mut i: u32 = 0;
    loop {
        frame.clear();
        if !frames.next_frame(frame) {
            break;
        }
        if !plan.interval.is_zero() && delayed(i) {
            out.flush(stats).await.map_err(aborted)?;
            if !pause(&shared.stop, plan.interval).await {
                return Ok(Next::Close);
            }
        }
        write(&mut out.wbuf, frame);
        i += 1;
        if cut_after == Some(i) {
            if plan.fault == Fault::DieMidStream {
                let _ = out.flush(stats).await;
                return Ok(Next::Close);
            }
            frame.clear();
            frames.error(frame);
            write(&mut out.wbuf, frame);
            break;
        }
        if out.wbuf.len() >= WBUF_FLUSH {
            out.flush(stats).await.map_err(aborted)?;
        }
    }
    if chunked {
        out.wbuf.extend_from_slice(LAST_CHUNK);
    }
    out.flush(stats).await.map_err(aborted)?;
    stats.streams_completed.fetch_add(1, Ordering::Relaxed);
    Ok(if close { Next::Close } else { Next::KeepAlive })
}
