//! The client connection loop: one request at a time, in explicit phases.
//!
//! ```text
//! read head -> parse -> route -> authenticate -> (100-continue) -> read body -> parse
//! JSON (model, stream) -> resolve model -> demo | forward upstream -> account -> log
//! ```
//!
//! Buffers: `rbuf` holds the bytes read from the client; a request's head (and a
//! Content-Length body) is parsed in place and referred to by spans. `wbuf` assembles
//! what is written. Both come from the worker's buffer pool and are reused for every
//! request on the connection: the hot path allocates nothing else per request.

mod cached;
mod demo;
mod embed_remote;
mod failover;
mod forward;
mod govern;
mod response;
mod stream_usage;
mod translate;
mod watch;

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::io::{AsyncReadRent, AsyncWriteRent};
use proto::http1::{
    parse_request, BodyFraming, ChunkEvent, ChunkedDecoder, Headers, Method, RequestHead, Status,
    Version, EMPTY_HEADERS,
};
use proto::json::{self, Kind};

use crate::accesslog::{self, Record};
use crate::config::ProviderKind;
use crate::error::GatewayError;
use crate::io::{read_more, write_all};
use crate::metrics::Route;
use crate::server::worker::{Worker, BUF_INITIAL_BYTES};

pub(crate) use failover::Routing;
pub(crate) use govern::{flush_spend, unix_now};
pub(crate) use response::write_u64;

/// Per-request record: what the request did, for metrics and the access log.
pub(crate) struct Req {
    pub id: u64,
    pub start: Instant,
    pub method: Method,
    pub route: Route,
    pub version: Version,
    /// Whether the connection stays open after this response.
    pub keep_alive: bool,
    pub model: Option<usize>,
    pub stream: bool,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Time spent waiting on the upstream (connect, first byte, body reads).
    pub upstream_wait: Duration,
    pub ttfb: Duration,
    pub upstream_reused: Option<bool>,
    pub error: Option<&'static str>,
    pub client_aborted: bool,
    /// Tokens the provider reported, when the response carried them where the gateway
    /// reads them (translated responses, and OpenAI-shaped streams).
    pub usage: Option<proto::chat::Usage>,
    /// The deployment id that answered (or was tried last).
    pub deployment: Option<usize>,
    /// Every upstream attempt.
    pub attempts: accesslog::Attempts,
    /// A mirrored request to a shadow group (its answer went nowhere).
    pub shadow: bool,
    /// The virtual key's hold on its limits and budgets, when the key is governed.
    pub gov: Option<govern::Governed>,
    /// What the request cost (picodollars), from its usage and the answering
    /// deployment's price, when both are known.
    pub cost: Option<u64>,
    /// What the response cache did, and a semantic hit's similarity.
    pub cache: cached::CacheStatus,
    pub similarity: Option<f32>,
    /// A cacheable miss's answer, captured on its way to the client.
    pub capture: Option<Box<cached::Capture>>,
    /// The gateway capped the output upstream (a budget's allowance): the answer is not
    /// the one the client asked for, and is not cached.
    pub output_capped: bool,
}

impl Req {
    fn new(id: u64, method: Method, route: Route, version: Version, head_len: usize) -> Req {
        Req {
            id,
            start: Instant::now(),
            method,
            route,
            version,
            keep_alive: false,
            model: None,
            stream: false,
            status: 0,
            bytes_in: head_len as u64,
            bytes_out: 0,
            upstream_wait: Duration::ZERO,
            ttfb: Duration::ZERO,
            upstream_reused: None,
            error: None,
            client_aborted: false,
            usage: None,
            deployment: None,
            attempts: accesslog::Attempts::default(),
            shadow: false,
            gov: None,
            cost: None,
            cache: cached::CacheStatus::Off,
            similarity: None,
            capture: None,
            output_capped: false,
        }
    }

    /// The record of a shadow request mirroring a client's.
    fn shadow(id: u64, endpoint: Endpoint, head: &RequestHead) -> Req {
        let route = match endpoint {
            Endpoint::Chat => Route::ChatCompletions,
            Endpoint::Completions => Route::Completions,
            Endpoint::Embeddings => Route::Embeddings,
            Endpoint::Messages | Endpoint::CountTokens => Route::Messages,
            Endpoint::Responses => Route::Responses,
            Endpoint::ListModels | Endpoint::GetModel(_) => Route::Models,
        };
        let mut r = Req::new(id, head.method, route, head.version, 0);
        r.shadow = true;
        r
    }

    /// Whether the client speaks Anthropic's API (errors in its shape).
    pub fn anthropic(&self) -> bool {
        self.route == Route::Messages
    }
}

/// What the connection does after a request.
#[derive(PartialEq, Eq)]
enum Next {
    Continue,
    Close,
}

/// Which API a path names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    Completions,
    Embeddings,
    ListModels,
    /// `GET /v1/models/{id}`: the id starts at this offset of the path.
    GetModel(usize),
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// Anthropic's `POST /v1/messages/count_tokens`.
    CountTokens,
    /// OpenAI's `POST /v1/responses`: passed through to OpenAI-shaped providers.
    Responses,
}

fn route(method: Method, path: &[u8]) -> (Route, Result<Endpoint, GatewayError>) {
    let p = path
        .strip_prefix(b"/v1")
        .filter(|p| p.starts_with(b"/"))
        .unwrap_or(path);
    let off = path.len() - p.len();
    let (route, endpoint, want) = match p {
        b"/chat/completions" => (Route::ChatCompletions, Endpoint::Chat, Method::Post),
        b"/completions" => (Route::Completions, Endpoint::Completions, Method::Post),
        b"/embeddings" => (Route::Embeddings, Endpoint::Embeddings, Method::Post),
        b"/models" => (Route::Models, Endpoint::ListModels, Method::Get),
        b"/messages" => (Route::Messages, Endpoint::Messages, Method::Post),
        b"/messages/count_tokens" => (Route::Messages, Endpoint::CountTokens, Method::Post),
        b"/responses" => (Route::Responses, Endpoint::Responses, Method::Post),
        _ if p.starts_with(b"/models/") && p.len() > 8 => {
            (Route::Models, Endpoint::GetModel(off + 8), Method::Get)
        }
        _ => return (Route::Unknown, Err(GatewayError::UnknownRoute)),
    };
    if method == want {
        (route, Ok(endpoint))
    } else {
        (route, Err(GatewayError::MethodNotAllowed))
    }
}

/// Serve one client connection until it closes, errs, idles out, or the worker drains.
pub(crate) async fn serve<S: AsyncReadRent + AsyncWriteRent>(
    w: &Rc<Worker>,
    mut io: S,
    peer: SocketAddr,
    fd: RawFd,
) {
    let mut c = Conn {
        w,
        peer,
        fd,
        rbuf: w.take_buf(),
        wbuf: w.take_buf(),
        decoded: Vec::new(),
        tbody: Vec::new(),
        headers: Box::new(EMPTY_HEADERS),
        uheaders: None,
        watch: None,
        name: Vec::new(),
        scratch: Vec::new(),
        error_detail: None,
    };
    while c.request(&mut io).await == Next::Continue {}
    // Best effort: TLS close_notify and FIN, bounded so a stuck peer cannot hold us.
    let _ = monoio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
    w.give_buf(std::mem::take(&mut c.rbuf));
    w.give_buf(std::mem::take(&mut c.wbuf));
}

struct Conn<'w> {
    w: &'w Rc<Worker>,
    peer: SocketAddr,
    fd: RawFd,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// A chunked request body, decoded.
    decoded: Vec<u8>,
    /// A request body translated for a provider that is not OpenAI-shaped.
    tbody: Vec<u8>,
    /// Parsed request headers; boxed (2 KiB) so that the connection's future stays
    /// small, allocated once per connection.
    headers: Box<Headers>,
    /// The upstream response's headers, allocated on the first forwarded request.
    uheaders: Option<Box<Headers>>,
    /// Shared (`Rc`) so that a request's disconnect future can hold it while the
    /// connection's other fields are borrowed mutably; made once per connection.
    watch: Option<Rc<watch::Watch>>,
    /// The current request's model name, unescaped.
    name: Vec<u8>,
    /// Scratch for the upstream model name as a JSON string.
    scratch: Vec<u8>,
    /// Why a request could not be translated for its provider (the parameter, the
    /// member), for the client's error message; taken by the error response.
    error_detail: Option<String>,
}

/// Where the current request's body is.
#[derive(Clone, Copy)]
enum Body {
    /// `rbuf[start..end]`.
    InBuf(usize, usize),
    /// In `decoded`.
    Decoded,
    /// In `tbody` (translated for the provider).
    Translated,
}

impl Conn<'_> {
    async fn request<S: AsyncReadRent + AsyncWriteRent>(&mut self, io: &mut S) -> Next {
        let Some(head) = self.read_head(io).await else {
            return Next::Close;
        };
        let w = self.w;
        let (route, endpoint) = route(head.method, head.path.of(&self.rbuf));
        let mut req = Req::new(
            w.request_id(),
            head.method,
            route,
            head.version,
            head.head_len,
        );
        req.keep_alive = head.keep_alive && !w.draining();
        let next = self.dispatch(io, &head, endpoint, &mut req).await;
        self.finish(&mut req);
        if next == Next::Continue && req.keep_alive {
            Next::Continue
        } else {
            Next::Close
        }
    }

    /// Read until a complete head is buffered. `None`: close quietly (EOF, idle
    /// timeout, drain) or after an error response was sent.
    async fn read_head<S: AsyncReadRent + AsyncWriteRent>(
        &mut self,
        io: &mut S,
    ) -> Option<RequestHead> {
        let w = self.w;
        let server = &w.snap.server;
        let mut deadline: Option<Instant> = None;
        loop {
            if !self.rbuf.is_empty() {
                match parse_request(&self.rbuf, &mut self.headers, &w.snap.limits) {
                    Ok(Status::Complete(h)) => return Some(h),
                    Ok(Status::Partial) => {}
                    Err(e) => {
                        self.reject_head(io, GatewayError::Http(e)).await;
                        return None;
                    }
                }
            }
            let read = if self.rbuf.is_empty() {
                // Between requests: the keep-alive timeout and the drain signal apply.
                if w.draining() {
                    return None;
                }
                monoio::select! {
                    r = monoio::time::timeout(server.keepalive_timeout, read_more(io, &mut self.rbuf, BUF_INITIAL_BYTES)) => r,
                    _ = w.shutdown.wait() => return None,
                }
            } else {
                let d =
                    *deadline.get_or_insert_with(|| Instant::now() + server.header_read_timeout);
                let left = d.saturating_duration_since(Instant::now());
                match monoio::time::timeout(left, read_more(io, &mut self.rbuf, BUF_INITIAL_BYTES))
                    .await
                {
                    Err(_) => {
                        self.reject_head(io, GatewayError::HeadTimeout).await;
                        return None;
                    }
                    r => r,
                }
            };
            match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// Answer a request whose head could not be parsed, and close.
    async fn reject_head<S: AsyncWriteRent>(&mut self, io: &mut S, err: GatewayError) {
        let mut req = self.bare_req();
        req.keep_alive = false;
        self.respond_error(io, err, None, &mut req).await;
        self.finish(&mut req);
    }

    fn bare_req(&self) -> Req {
        let mut r = Req::new(
            self.w.request_id(),
            Method::Other,
            Route::Unknown,
            Version::Http11,
            0,
        );
        r.bytes_in = self.rbuf.len() as u64;
        r
    }

    async fn dispatch<S: AsyncReadRent + AsyncWriteRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
        endpoint: Result<Endpoint, GatewayError>,
        req: &mut Req,
    ) -> Next {
        let endpoint = match endpoint.and_then(|e| self.authenticate(req.route).map(|g| (e, g))) {
            Ok((e, g)) => {
                req.gov = g;
                e
            }
            Err(e) => return self.fail_before_body(io, head, e, None, req).await,
        };
        // The body is read only for requests that got this far.
        if head.expect_continue
            && head.body != BodyFraming::None
            && self.rbuf.len() == head.head_len
        {
            self.wbuf.clear();
            self.wbuf
                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if write_all(io, &mut self.wbuf).await.is_err() {
                return Next::Close;
            }
        }
        let (body, consumed) = match self.read_body(io, head).await {
            Ok(b) => b,
            Err(None) => return Next::Close,
            Err(Some(e)) => {
                req.keep_alive = false;
                self.respond_error(io, e, None, req).await;
                return Next::Close;
            }
        };
        req.bytes_in = consumed as u64;
        let next = match endpoint {
            Endpoint::ListModels => self.list_models(io, req).await,
            Endpoint::GetModel(at) => self.get_model(io, head, at, req).await,
            Endpoint::Chat
            | Endpoint::Completions
            | Endpoint::Embeddings
            | Endpoint::Messages
            | Endpoint::CountTokens
            | Endpoint::Responses => self.completion(io, head, endpoint, body, req).await,
        };
        // Drop this request's bytes; a pipelined next request moves to the front.
        self.rbuf.drain(..consumed);
        next
    }

    /// An error before the body was read: the connection survives only when the whole
    /// body is already buffered (it is skipped); otherwise it is closed.
    async fn fail_before_body<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
        err: GatewayError,
        detail: Option<&[u8]>,
        req: &mut Req,
    ) -> Next {
        let skip = match head.body {
            BodyFraming::None => Some(head.head_len),
            BodyFraming::Length(n) if (self.rbuf.len() - head.head_len) as u64 >= n => {
                Some(head.head_len + n as usize)
            }
            _ => None,
        };
        if skip.is_none() {
            req.keep_alive = false;
        }
        let next = self.respond_error(io, err, detail, req).await;
        if let Some(n) = skip {
            self.rbuf.drain(..n);
        }
        next
    }

    /// Read the request body within the body timeout. Returns where it is and how many
    /// bytes of `rbuf` the request occupies. `Err(None)`: the client went away.
    async fn read_body<S: AsyncReadRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
    ) -> Result<(Body, usize), Option<GatewayError>> {
        let deadline = Instant::now() + self.w.snap.server.body_read_timeout;
        let start = head.head_len;
        match head.body {
            BodyFraming::None | BodyFraming::CloseDelimited => {
                Ok((Body::InBuf(start, start), start))
            }
            BodyFraming::Length(n) => {
                let end = start + n as usize;
                while self.rbuf.len() < end {
                    let want = end - self.rbuf.len();
                    self.read_within(io, deadline, want).await?;
                }
                Ok((Body::InBuf(start, end), end))
            }
            BodyFraming::Chunked => {
                let mut dec = ChunkedDecoder::new(self.w.snap.limits.body_bytes_max);
                self.decoded.clear();
                let mut pos = start;
                loop {
                    match dec.step(&self.rbuf[pos..]) {
                        Err(e) => return Err(Some(GatewayError::Http(e))),
                        Ok((used, ChunkEvent::Data { start: s, end: e })) => {
                            self.decoded.extend_from_slice(&self.rbuf[pos + s..pos + e]);
                            pos += used;
                        }
                        Ok((used, ChunkEvent::Done)) => return Ok((Body::Decoded, pos + used)),
                        Ok((used, ChunkEvent::Partial)) => {
                            pos += used;
                            // Keep the head; drop the framing already decoded.
                            self.rbuf.copy_within(pos.., start);
                            self.rbuf.truncate(self.rbuf.len() - (pos - start));
                            pos = start;
                            self.read_within(io, deadline, BUF_INITIAL_BYTES).await?;
                        }
                    }
                }
            }
        }
    }

    async fn read_within<S: AsyncReadRent>(
        &mut self,
        io: &mut S,
        deadline: Instant,
        want: usize,
    ) -> Result<(), Option<GatewayError>> {
        let left = deadline.saturating_duration_since(Instant::now());
        match monoio::time::timeout(
            left,
            read_more(io, &mut self.rbuf, want.clamp(4096, 1 << 20)),
        )
        .await
        {
            Err(_) => Err(Some(GatewayError::BodyTimeout)),
            Ok(Ok(n)) if n > 0 => Ok(()),
            Ok(_) => Err(None),
        }
    }

    fn body(&self, b: Body) -> &[u8] {
        body_in(&self.rbuf, &self.decoded, &self.tbody, b)
    }

    /// Chat, completions and embeddings: find the model, then the demo provider or the
    /// upstream.
    async fn completion<S: AsyncReadRent + AsyncWriteRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
        endpoint: Endpoint,
        body_at: Body,
        req: &mut Req,
    ) -> Next {
        let w = self.w;
        let mut members = [None; 4];
        let scanned = json::scan_object(
            self.body(body_at),
            &[b"model", b"stream", b"stream_options", b"user"],
            &mut members,
        );
        if let Err(e) = scanned {
            return self
                .respond_error(io, GatewayError::MalformedJson(e.kind), None, req)
                .await;
        }
        let model = match members[0] {
            Some(v) if v.kind == Kind::String => v,
            _ => {
                return self
                    .respond_error(io, GatewayError::MissingModel, None, req)
                    .await
            }
        };
        req.stream = matches!(members[1], Some(v) if v.kind == Kind::Bool && v.bytes(self.body(body_at)) == b"true");
        // The name moves to a connection-owned buffer so that the body can be borrowed
        // again below; the buffer is reused across requests.
        let mut name = std::mem::take(&mut self.name);
        name.clear();
        let raw = model.bytes(self.body(body_at));
        if raw.contains(&b'\\') {
            if !json::unescape_string(raw, &mut name) {
                self.name = name;
                return self
                    .respond_error(io, GatewayError::MissingModel, None, req)
                    .await;
            }
        } else {
            name.extend_from_slice(&raw[1..raw.len() - 1]);
        }
        // `w` is the worker reference itself (not a borrow of `self`), so `resolved`
        // can outlive the `&mut self` calls below without touching the Arc's refcount
        // (a cache line every core would share).
        let Some(found) = w.snap.find(&name) else {
            let next = self
                .respond_error(io, GatewayError::UnknownModel, Some(&name), req)
                .await;
            self.name = name;
            return next;
        };
        req.model = Some(found.index);
        let first = &found.model.deployments[0];
        let first_kind = w.snap.providers[first.provider].kind;
        let hit = if first_kind == ProviderKind::Demo {
            None
        } else {
            let include_usage = cached::asks_usage(self.body(body_at), members[2]);
            self.cache_lookup(head, endpoint, body_at, &name, include_usage, req)
                .await
        };
        let hit_tokens = hit.as_ref().map(|h| {
            let count = w
                .shared
                .cache
                .as_ref()
                .is_some_and(|c| c.cfg.hits_count_tpm);
            if count {
                h.tokens()
            } else {
                0
            }
        });
        let user_member = members[3].map(|v| v.bytes(self.body(body_at)));
        let admitted = self.admit(
            req,
            &found,
            &name,
            endpoint,
            self.body(body_at),
            user_member,
            hit_tokens,
        );
        let output_cap = match admitted {
            Ok(cap) => cap,
            Err((e, detail)) => {
                if req.cache.hit() {
                    req.cache = cached::CacheStatus::Off;
                }
                let next = self
                    .respond_error(io, e, Some(detail.as_bytes()), req)
                    .await;
                self.name = name;
                return next;
            }
        };
        req.output_capped = output_cap.is_some();
        if let Some(hit) = hit {
            let next = self.serve_hit(io, &hit, req).await;
            self.name = name;
            return next;
        }
        let anthropic_ingress = matches!(endpoint, Endpoint::Messages | Endpoint::CountTokens);
        let next = if first_kind == ProviderKind::Demo {
            // INVARIANT (config): a demo deployment is alone in its group.
            if anthropic_ingress {
                let detail = b"the demo provider speaks the OpenAI API; configure a provider";
                self.respond_error(io, GatewayError::UnsupportedEndpoint, Some(detail), req)
                    .await
            } else if endpoint == Endpoint::Responses {
                let detail =
                    b"the demo provider serves chat completions, completions and embeddings";
                self.respond_error(io, GatewayError::UnsupportedEndpoint, Some(detail), req)
                    .await
            } else {
                let resolved = w.snap.deployment(&found, 0);
                demo::respond(self, io, endpoint, body_at, resolved.upstream_name, req).await
            }
        } else if endpoint == Endpoint::CountTokens
            && !found
                .model
                .deployments
                .iter()
                .any(|d| w.snap.providers[d.provider].kind == ProviderKind::Anthropic)
        {
            self.count_tokens_estimate(io, body_at, req).await
        } else {
            let ask = failover::Ask {
                endpoint,
                body_at,
                model_span: model,
                name: &name,
                no_stream_options: members[2].is_none(),
                user_hash: members[3].map(|v| failover::fnv1a(v.bytes(self.body(body_at)))),
                stream: req.stream,
                output_cap,
            };
            self.route_request(io, head, &found, &ask, req).await
        };
        self.name = name;
        next
    }

    /// `count_tokens` for a model whose provider is not Anthropic: the text of the
    /// request at about four bytes a token (`synth::prompt_tokens_estimate`). Until a
    /// tokenizer per model family lands this is an estimate, and the response says so in
    /// `x-sluice-estimate`.
    async fn count_tokens_estimate<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        body_at: Body,
        req: &mut Req,
    ) -> Next {
        let n = proto::openai::synth::prompt_tokens_estimate(self.body(body_at));
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(b"{\"input_tokens\":");
        write_u64(&mut body, u64::from(n));
        body.push(b'}');
        self.respond_json(io, 200, &body, req).await
    }

    async fn list_models<S: AsyncWriteRent>(&mut self, io: &mut S, req: &mut Req) -> Next {
        let snap = &self.w.snap;
        // A key limited to some models lists only those.
        let names: Vec<&[u8]> = snap
            .models
            .iter()
            .filter(|m| !m.pattern)
            .map(|m| m.name.as_bytes())
            .filter(|n| req.gov.as_ref().is_none_or(|g| g.allows_model(n)))
            .collect();
        let mut body = Vec::with_capacity(64 + names.len() * 96);
        proto::openai::synth::models_list(&mut body, &names, started_unix(), b"sluice");
        self.respond_json(io, 200, &body, req).await
    }

    async fn get_model<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        head: &RequestHead,
        at: usize,
        req: &mut Req,
    ) -> Next {
        let id = head.path.of(&self.rbuf)[at..].to_vec();
        let w = self.w;
        let allowed = req.gov.as_ref().is_none_or(|g| g.allows_model(&id));
        match w.snap.resolve(&id) {
            Some(r) if !r.model.pattern && allowed => {
                let mut body = Vec::with_capacity(96 + id.len());
                body.extend_from_slice(b"{\"id\":");
                json::write_string(&mut body, &id);
                body.extend_from_slice(b",\"object\":\"model\",\"created\":");
                write_u64(&mut body, started_unix());
                body.extend_from_slice(b",\"owned_by\":\"sluice\"}");
                req.model = Some(r.index);
                self.respond_json(io, 200, &body, req).await
            }
            _ => {
                self.respond_error(io, GatewayError::UnknownModel, Some(&id), req)
                    .await
            }
        }
    }

    async fn respond_json<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        status: u16,
        body: &[u8],
        req: &mut Req,
    ) -> Next {
        self.wbuf.clear();
        // A drain that began during the request makes this the connection's last response.
        req.keep_alive &= !self.w.draining();
        response::json(
            &mut self.wbuf,
            status,
            body,
            req,
            &self.w.snap.deployment_labels,
        );
        req.status = status;
        self.send(io, req).await
    }

    async fn respond_error<S: AsyncWriteRent>(
        &mut self,
        io: &mut S,
        err: GatewayError,
        detail: Option<&[u8]>,
        req: &mut Req,
    ) -> Next {
        self.wbuf.clear();
        if matches!(
            err,
            GatewayError::Http(_) | GatewayError::HeadTimeout | GatewayError::BodyTimeout
        ) || self.w.draining()
        {
            req.keep_alive = false;
        }
        response::error(
            &mut self.wbuf,
            err,
            detail,
            req,
            &self.w.snap.deployment_labels,
        );
        req.status = err.status();
        req.error = Some(err.code());
        self.send(io, req).await
    }

    /// Write `wbuf` to the client.
    async fn send<S: AsyncWriteRent>(&mut self, io: &mut S, req: &mut Req) -> Next {
        if req.method == Method::Head {
            // A response to HEAD is its head alone (RFC 9110 §9.3.2; Content-Length still
            // says what GET would get): body bytes would be read as the next response.
            if let Some(end) = self.wbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                self.wbuf.truncate(end + 4);
            }
        }
        req.bytes_out += self.wbuf.len() as u64;
        match write_all(io, &mut self.wbuf).await {
            Ok(()) => Next::Continue,
            Err(_) => {
                req.client_aborted = true;
                Next::Close
            }
        }
    }

    /// Settle the request's limits and budgets, then metrics and the access log; never
    /// waits.
    fn finish(&self, req: &mut Req) {
        govern::settle(self.w, req);
        cached::store(self.w, req);
        log_record(self.w, req, Some(self.peer));
    }

    /// The client-disconnect watch, made on the first forwarded request.
    fn watch(&mut self) -> Option<Rc<watch::Watch>> {
        if self.watch.is_none() {
            self.watch = watch::Watch::new(self.fd).ok().map(Rc::new);
        }
        self.watch.clone()
    }
}

/// The bytes `at` names, from the connection's buffers passed one by one (so that a
/// caller can hold them while borrowing another field mutably).
fn body_in<'b>(rbuf: &'b [u8], decoded: &'b [u8], tbody: &'b [u8], at: Body) -> &'b [u8] {
    match at {
        Body::InBuf(s, e) => &rbuf[s..e],
        Body::Decoded => decoded,
        Body::Translated => tbody,
    }
}

/// Count a finished request in the worker's metrics shard and hand its access-log
/// record to the writer. `peer`: `None` for requests the gateway made itself (shadows).
pub(super) fn log_record(w: &Worker, req: &Req, peer: Option<SocketAddr>) {
    let total = req.start.elapsed();
    let added = total.saturating_sub(req.upstream_wait);
    let shard = w.shard();
    if !req.shadow {
        shard.request(
            req.route,
            req.model,
            req.status,
            total.as_micros() as u64,
            added.as_micros() as u64,
        );
    }
    if req.client_aborted {
        shard.inc(&shard.client_aborts);
    }
    let record = Record {
        unix_us: accesslog::now_unix_us(),
        request_id: req.id,
        worker: w.id as u16,
        peer: peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        method: req.method,
        route: req.route,
        model: req.model.map(|m| m as u16),
        status: req.status,
        stream: req.stream,
        bytes_in: req.bytes_in,
        bytes_out: req.bytes_out,
        total_us: total.as_micros() as u64,
        added_us: added.as_micros() as u64,
        ttfb_us: req.ttfb.as_micros() as u64,
        upstream_reused: req.upstream_reused,
        error: req.error,
        client_aborted: req.client_aborted,
        usage: req.usage.map(Into::into),
        cost: req.cost,
        cache: req.cache,
        key: req.gov.as_ref().map(|g| accesslog::KeyId::new(g.key_id())),
        attempts: req.attempts,
        shadow: req.shadow,
    };
    if !w.log.send(record) {
        shard.inc(&shard.access_log_dropped);
    }
}

/// `created` for model objects: when this process started (there is no better truth
/// for a gateway's configured names).
fn started_unix() -> u64 {
    use std::sync::OnceLock;
    static STARTED: OnceLock<u64> = OnceLock::new();
    *STARTED.get_or_init(|| accesslog::now_unix_us() / 1_000_000)
}
