//! Providers that do not speak OpenAI's wire format: the request is parsed into the hub
//! shape (`proto::chat::ChatRequest`), written in the provider's format, and the answer
//! is translated back — frame by frame for streams, whole for JSON bodies and errors.
//!
//! OpenAI-shaped providers (`openai`, `openai-compatible`, `azure-openai`) never come
//! here: their bodies are forwarded with at most `model` spliced, and their answers are
//! relayed byte for byte.
//!
//! The per-provider pieces are in `proto` (request, response, stream and error
//! translators); this module only chooses among them and frames the HTTP around them.

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use monoio::io::AsyncWriteRent;
use proto::anthropic;
use proto::chat::{ChatRequest, ChatResponse, ErrorKind, StreamTranslator, TranslateError, Usage};
use proto::http1::{
    write_chunk, write_header, write_status_line, HeaderSpan, Headers, ResponseHead, LAST_CHUNK,
};

use super::forward::{forward_request_header, percent_encode_segment, StreamError, Streamer};
use super::{response, write_u64, Endpoint};
use crate::config::{Provider, ProviderKind, Resolved, Upstream};
use crate::error::GatewayError;

/// Largest non-streaming upstream body read whole for translation.
pub(super) const TRANSLATED_BODY_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Largest upstream error body read for translation (the rest is not needed).
pub(super) const ERROR_BODY_BYTES_MAX: u64 = 1024 * 1024;

/// What the stream-back phase needs to translate one response.
pub(super) struct Translation {
    pub kind: ProviderKind,
    pub stream: bool,
    /// The client asked for the final usage chunk.
    pub include_usage: bool,
    /// The client-facing model name, written into translated responses.
    pub model: Box<str>,
    /// Request line target (path and query) upstream.
    path: Vec<u8>,
    /// Per-request headers (SigV4 for Bedrock).
    headers: Vec<(&'static str, String)>,
    /// Bedrock: `response_format` was expressed as a forced JSON tool, whose input is
    /// the answer's content.
    json_tool: bool,
    /// The client speaks Anthropic's Messages API (`/v1/messages`): answers go provider →
    /// OpenAI shape → Anthropic shape.
    ingress: bool,
}

/// A request that cannot be translated: the error and a detail for its message.
pub(super) type Refusal = (GatewayError, Option<String>);

/// Parse `body` as a chat request and write the provider's body into `out`.
pub(super) fn request(
    provider: &Provider,
    resolved: &Resolved<'_>,
    endpoint: Endpoint,
    body: &[u8],
    out: &mut Vec<u8>,
    output_cap: Option<u64>,
) -> Result<Translation, Refusal> {
    if endpoint != Endpoint::Chat {
        return Err((
            GatewayError::UnsupportedEndpoint,
            Some(format!(
                "{} providers serve /v1/chat/completions only",
                provider.kind.as_str()
            )),
        ));
    }
    let mut chat: ChatRequest = serde_json::from_slice(body)
        .map_err(|e| (GatewayError::InvalidChatRequest, Some(e.to_string())))?;
    if chat.max_output_tokens().is_none() {
        chat.max_tokens = output_cap;
    }
    let upstream_model = String::from_utf8_lossy(resolved.upstream_name);
    out.clear();
    let mut tr = Translation::new(provider.kind, &chat, false);
    dialect::write_request(provider, &chat, &upstream_model, &mut tr, out).map_err(refusal)?;
    Ok(tr)
}

/// For an `openai-compatible` provider with `drop_params` / `rename_params`: the body
/// with those members removed or renamed, and `model` set to `upstream_model`. Only such
/// providers pay for the parse; the rest keep the zero-copy splice.
pub(super) fn rewrite_params(
    provider: &Provider,
    upstream_model: &[u8],
    body: &[u8],
    out: &mut Vec<u8>,
    output_cap: Option<u64>,
) -> Result<(), Refusal> {
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|e| (GatewayError::InvalidChatRequest, Some(e.to_string())))?;
    if let Some(cap) = output_cap {
        if !obj.contains_key("max_tokens") && !obj.contains_key("max_completion_tokens") {
            obj.insert("max_tokens".into(), cap.into());
        }
    }
    for name in &provider.opts.drop_params {
        obj.remove(&**name);
    }
    for (from, to) in &provider.opts.rename_params {
        if let Some(v) = obj.remove(&**from) {
            obj.insert(to.to_string(), v);
        }
    }
    obj.insert(
        "model".into(),
        String::from_utf8_lossy(upstream_model).into_owned().into(),
    );
    out.clear();
    serde_json::to_writer(&mut *out, &obj)
        .map_err(|e| (GatewayError::InvalidChatRequest, Some(e.to_string())))
}

/// `POST /v1/messages` from an Anthropic client to a provider that is not Anthropic: the
/// Messages request becomes a chat request, then the provider's body.
pub(super) fn ingress_request(
    provider: &Provider,
    resolved: &Resolved<'_>,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<Translation, Refusal> {
    let msgs: anthropic::MessagesRequest = serde_json::from_slice(body)
        .map_err(|e| (GatewayError::InvalidChatRequest, Some(e.to_string())))?;
    let mut chat = anthropic::to_chat_request(msgs).map_err(refusal)?;
    let upstream_model = String::from_utf8_lossy(resolved.upstream_name).into_owned();
    let mut tr = Translation::new(provider.kind, &chat, true);
    out.clear();
    if provider.kind.openai_shaped() {
        if !provider.opts.stream_usage {
            chat.stream_options = None;
        }
        tr.path = openai_path(provider, resolved.upstream_name);
        chat.model = upstream_model.into();
        serde_json::to_writer(&mut *out, &chat)
            .map_err(|e| (GatewayError::InvalidChatRequest, Some(e.to_string())))?;
        Ok(tr)
    } else {
        dialect::write_request(provider, &chat, &upstream_model, &mut tr, out).map_err(refusal)?;
        Ok(tr)
    }
}

/// The chat completions request target of an OpenAI-shaped provider (after its base
/// URL's path): Azure names the deployment and the API version.
fn openai_path(provider: &Provider, upstream_name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(96);
    if provider.kind == ProviderKind::AzureOpenAi {
        path.extend_from_slice(b"/openai/deployments/");
        percent_encode_segment(&mut path, upstream_name);
        path.extend_from_slice(b"/chat/completions?api-version=");
        percent_encode_segment(&mut path, provider.opts.api_version.as_bytes());
    } else {
        path.extend_from_slice(b"/chat/completions");
    }
    path
}

fn refusal(e: TranslateError) -> Refusal {
    match e {
        TranslateError::Unsupported(param) => {
            (GatewayError::UnsupportedParameter, Some(param.to_string()))
        }
        other => (GatewayError::InvalidChatRequest, Some(other.to_string())),
    }
}

impl Translation {
    /// What the chat request says about its answer; the provider's call fills the rest.
    fn new(kind: ProviderKind, chat: &ChatRequest<'_>, ingress: bool) -> Translation {
        Translation {
            kind,
            stream: chat.is_stream(),
            include_usage: chat.wants_stream_usage(),
            model: chat.model.as_ref().into(),
            path: Vec::with_capacity(96),
            headers: Vec::new(),
            json_tool: false,
            ingress,
        }
    }

    /// Append the upstream request head for a body of `body_len` bytes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_head(
        &mut self,
        provider: &Provider,
        up: &Upstream,
        client_headers: &[HeaderSpan],
        rbuf: &[u8],
        body: &[u8],
        wbuf: &mut Vec<u8>,
        now: SystemTime,
    ) -> Result<(), GatewayError> {
        if self.kind == ProviderKind::Bedrock {
            dialect::sign(provider, up, self, body, now)?;
        }
        wbuf.extend_from_slice(b"POST ");
        wbuf.extend_from_slice(up.path_prefix.as_bytes());
        wbuf.extend_from_slice(&self.path);
        wbuf.extend_from_slice(b" HTTP/1.1\r\n");
        write_header(wbuf, b"host", up.host_header.as_bytes());
        for (name, value) in &provider.headers {
            write_header(wbuf, name.as_bytes(), value.0.as_bytes());
        }
        for (name, value) in &self.headers {
            write_header(wbuf, name.as_bytes(), value.as_bytes());
        }
        // The client's end-to-end headers go along (tracing, provider betas), as for
        // OpenAI-shaped providers; the body's own headers are the gateway's.
        for h in client_headers {
            let name = h.name.of(rbuf);
            if forward_request_header(name)
                && !name.eq_ignore_ascii_case(b"content-type")
                && !name.eq_ignore_ascii_case(b"accept")
                && !provider
                    .headers
                    .iter()
                    .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                && !self
                    .headers
                    .iter()
                    .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            {
                write_header(wbuf, name, h.value.of(rbuf));
            }
        }
        write_header(wbuf, b"content-type", b"application/json");
        if self.stream {
            write_header(wbuf, b"accept", dialect::stream_accept(self.kind));
        }
        wbuf.extend_from_slice(b"content-length: ");
        write_u64(wbuf, body.len() as u64);
        wbuf.extend_from_slice(b"\r\n\r\n");
        Ok(())
    }

    /// The translator for a streamed 2xx answer. `id` names the stream's chunks.
    pub(super) fn stream_translator(&self, id: &str, created: u64) -> Box<dyn StreamTranslator> {
        if !self.ingress {
            return dialect::stream_translator(self, id, created);
        }
        let to_anthropic = anthropic::MessagesStream::new(id, &self.model);
        if self.kind.openai_shaped() {
            Box::new(to_anthropic)
        } else {
            Box::new(Chain {
                first: dialect::stream_translator(self, id, created),
                second: to_anthropic,
                mid: Vec::with_capacity(1024),
            })
        }
    }

    /// Translate a whole 2xx body into an OpenAI `chat.completion` (an Anthropic
    /// message for the Messages ingress); its usage.
    pub(super) fn response(
        &self,
        body: &[u8],
        id: &str,
        created: u64,
        out: &mut Vec<u8>,
    ) -> Result<Usage, TranslateError> {
        if !self.ingress {
            return dialect::response(self, body, id, created, out);
        }
        let mut openai = Vec::new();
        let body = if self.kind.openai_shaped() {
            body
        } else {
            dialect::response(self, body, id, created, &mut openai)?;
            &openai[..]
        };
        let chat: ChatResponse = serde_json::from_slice(body)
            .map_err(|_| TranslateError::BadJson("an OpenAI chat completion"))?;
        anthropic::write_response(&chat, out)
    }

    /// Translate an error answer into an OpenAI error body; the status is kept.
    /// `error_type` is Bedrock's `x-amzn-errortype` header.
    pub(super) fn error(
        &self,
        status: u16,
        error_type: Option<&[u8]>,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> ErrorKind {
        if !self.ingress {
            return dialect::error(self, status, error_type, body, out);
        }
        let mut openai = Vec::new();
        let body = if self.kind.openai_shaped() {
            body
        } else {
            dialect::error(self, status, error_type, body, &mut openai);
            &openai[..]
        };
        anthropic::translate_openai_error(status, body, out).kind
    }
}

/// Two stream translators in a row (provider → OpenAI → Anthropic).
struct Chain {
    first: Box<dyn StreamTranslator>,
    second: anthropic::MessagesStream,
    /// The OpenAI frames between the two, reused.
    mid: Vec<u8>,
}

impl StreamTranslator for Chain {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.mid.clear();
        self.first.feed(input, &mut self.mid)?;
        self.second.feed(&self.mid, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), TranslateError> {
        self.mid.clear();
        let first = self.first.finish(&mut self.mid);
        self.second.feed(&self.mid, out)?;
        first?;
        self.second.finish(out)
    }

    fn usage(&self) -> Usage {
        self.first.usage()
    }

    fn error(&self) -> Option<&proto::chat::StreamError> {
        self.first.error().or(self.second.error())
    }
}

impl<S: AsyncWriteRent> Streamer<'_, S> {
    /// The stream-back phase for a translated provider: a 2xx stream is translated frame
    /// by frame as it arrives; anything else (a JSON answer, an error) is read whole,
    /// translated, and sent with a Content-Length. Ok(reusable).
    pub(super) async fn translated(
        &mut self,
        tr: &Translation,
        resp: &ResponseHead,
        uheaders: &Headers,
        client_chunked: bool,
        mut closed: Pin<&mut impl Future<Output = ()>>,
    ) -> Result<bool, StreamError> {
        let ok = (200..300).contains(&resp.status);
        let id = format!(
            "chatcmpl-{}",
            std::str::from_utf8(&response::hex_id(self.req.id)).unwrap_or("0")
        );
        let created = unix_now();
        self.wbuf.clear();
        if ok && tr.stream {
            write_status_line(self.wbuf, 200);
            write_header(self.wbuf, b"content-type", b"text/event-stream");
            write_header(self.wbuf, b"cache-control", b"no-cache");
            self.common_headers(&uheaders[..resp.header_count]);
            if client_chunked {
                write_header(self.wbuf, b"transfer-encoding", b"chunked");
            }
            response::write_connection(self.wbuf, self.req);
            self.wbuf.extend_from_slice(b"\r\n");
            self.req.status = 200;
            self.flush().await?;
            let mut t = tr.stream_translator(&id, created);
            let mut frame = Vec::with_capacity(1024);
            // The client's (translated) stream is what the cache keeps.
            let mut capture = self.req.capture.take();
            let mut sink = |data: &[u8], wbuf: &mut Vec<u8>| {
                frame.clear();
                t.feed(data, &mut frame)?;
                if let Some(c) = capture.as_deref_mut() {
                    c.push(&frame);
                }
                put(wbuf, &frame, client_chunked);
                Ok(())
            };
            let pumped = self
                .pump(resp, u64::MAX, true, closed.as_mut(), &mut sink)
                .await;
            self.req.capture = capture;
            let reusable = pumped?;
            frame.clear();
            let finished = t.finish(&mut frame);
            self.req.usage = Some(t.usage());
            if let Some(c) = self.req.capture.as_deref_mut() {
                c.push(&frame);
            }
            put(self.wbuf, &frame, client_chunked);
            match finished {
                Ok(()) => {
                    if client_chunked {
                        self.wbuf.extend_from_slice(LAST_CHUNK);
                    }
                    self.flush().await?;
                    Ok(reusable)
                }
                Err(e) => {
                    // What was translated goes out; the caller ends the stream with an
                    // error event.
                    self.flush().await?;
                    Err(StreamError::Upstream(match e {
                        TranslateError::Truncated => GatewayError::UpstreamReset,
                        _ => GatewayError::UpstreamUntranslatable,
                    }))
                }
            }
        } else {
            let limit = if ok {
                TRANSLATED_BODY_BYTES_MAX
            } else {
                ERROR_BODY_BYTES_MAX
            };
            let mut body = Vec::new();
            let mut sink = |data: &[u8], _: &mut Vec<u8>| {
                body.extend_from_slice(data);
                Ok(())
            };
            let reusable = self
                .pump(resp, limit, false, closed.as_mut(), &mut sink)
                .await?;
            let mut out = Vec::with_capacity(body.len() + 256);
            let status = if ok {
                let usage = tr
                    .response(&body, &id, created, &mut out)
                    .map_err(|_| StreamError::Upstream(GatewayError::UpstreamUntranslatable))?;
                self.req.usage = Some(usage);
                if let Some(c) = self.req.capture.as_deref_mut() {
                    c.push(&out);
                }
                200
            } else {
                let error_type = uheaders[..resp.header_count]
                    .iter()
                    .find(|h| {
                        h.name
                            .of(self.ubuf)
                            .eq_ignore_ascii_case(b"x-amzn-errortype")
                    })
                    .map(|h| h.value.of(self.ubuf));
                tr.error(resp.status, error_type, &body, &mut out);
                resp.status
            };
            write_status_line(self.wbuf, status);
            write_header(self.wbuf, b"content-type", b"application/json");
            self.common_headers(&uheaders[..resp.header_count]);
            self.wbuf.extend_from_slice(b"content-length: ");
            write_u64(self.wbuf, out.len() as u64);
            self.wbuf.extend_from_slice(b"\r\n");
            response::write_connection(self.wbuf, self.req);
            self.wbuf.extend_from_slice(b"\r\n");
            self.wbuf.extend_from_slice(&out);
            self.req.status = status;
            self.flush().await?;
            Ok(reusable)
        }
    }

    /// Headers every translated answer carries: the request id, and the upstream's
    /// `retry-after` and request ids (what a client needs to back off and to report).
    fn common_headers(&mut self, uheaders: &[HeaderSpan]) {
        write_header(
            self.wbuf,
            b"x-sluice-request-id",
            &response::hex_id(self.req.id),
        );
        response::write_route_headers(self.wbuf, self.req, self.labels);
        for h in uheaders {
            let name = h.name.of(self.ubuf);
            if name.eq_ignore_ascii_case(b"retry-after")
                || name.eq_ignore_ascii_case(b"request-id")
                || name.eq_ignore_ascii_case(b"x-request-id")
                || name.eq_ignore_ascii_case(b"x-amzn-requestid")
            {
                write_header(self.wbuf, name, h.value.of(self.ubuf));
            }
        }
    }
}

/// Append translated client bytes, as one chunk when the client reads chunked.
pub(super) fn put(wbuf: &mut Vec<u8>, frame: &[u8], client_chunked: bool) {
    if frame.is_empty() {
        return;
    }
    if client_chunked {
        write_chunk(wbuf, frame);
    } else {
        wbuf.extend_from_slice(frame);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The provider-specific calls, one arm per kind.
mod dialect {
    use std::time::SystemTime;

    use proto::aws::sigv4;
    use proto::chat::{ChatRequest, ErrorKind, StreamTranslator, TranslateError, Usage};
    use proto::{anthropic, bedrock, gemini};

    use super::Translation;
    use crate::config::{Provider, ProviderKind, Upstream};
    use crate::error::GatewayError;

    /// The provider's body into `out`, its request target into `tr.path`.
    pub(super) fn write_request(
        provider: &Provider,
        chat: &ChatRequest<'_>,
        model: &str,
        tr: &mut Translation,
        out: &mut Vec<u8>,
    ) -> Result<(), TranslateError> {
        match tr.kind {
            ProviderKind::Anthropic => {
                tr.path = b"/v1/messages".to_vec();
                let opts = anthropic::RequestOptions {
                    max_tokens_default: provider.opts.max_tokens_default,
                };
                let meta = anthropic::write_request(chat, model, &opts, out)?;
                tr.json_tool = meta.json_tool;
                Ok(())
            }
            ProviderKind::Gemini => {
                tr.path = gemini::path(model, tr.stream).into_bytes();
                gemini::write_request(chat, &gemini::RequestOptions::default(), out)
            }
            ProviderKind::Bedrock => {
                tr.path = bedrock::path(model, tr.stream).into_bytes();
                let opts = bedrock::RequestOptions::default();
                // In the default JSON mode a JSON response format travels as a forced
                // tool; the answer's translation must know to unwrap it.
                tr.json_tool = opts.json_mode == bedrock::JsonMode::Tool
                    && chat
                        .response_format
                        .as_ref()
                        .is_some_and(|f| f.kind != "text");
                bedrock::write_request(chat, &opts, out)
            }
            _ => Err(TranslateError::Unsupported("provider kind")),
        }
    }

    pub(super) fn stream_accept(kind: ProviderKind) -> &'static [u8] {
        match kind {
            ProviderKind::Bedrock => b"application/vnd.amazon.eventstream",
            _ => b"text/event-stream",
        }
    }

    thread_local! {
        /// This worker's SigV4 signing keys by (secret access key, region) — what a key is
        /// derived from besides the day — so it is derived (four HMACs and an allocation) once a day, not per
        /// request. Per thread: workers share nothing.
        static KEYS: std::cell::RefCell<Vec<CachedKey>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }

    /// (secret access key, region, the day's key).
    type CachedKey = (Box<str>, Box<str>, sigv4::SigningKey);

    /// Per-request signing headers (Bedrock's SigV4) into `tr.headers`. The signed
    /// headers are `host`, `x-amz-date`, `content-type` (and the session token): the
    /// ones whose values are fixed before the body is sent.
    pub(super) fn sign(
        provider: &Provider,
        up: &Upstream,
        tr: &mut Translation,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), GatewayError> {
        let aws = provider
            .opts
            .aws
            .as_ref()
            .ok_or(GatewayError::UpstreamSigning)?;
        let secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let date = sigv4::AmzDate::from_unix_secs(secs).ok_or(GatewayError::UpstreamSigning)?;
        KEYS.with(|keys| -> Result<(), GatewayError> {
            let mut keys = keys.borrow_mut();
            let slot = keys.iter().position(|(secret, region, _)| {
                **secret == *aws.secret_access_key.0 && **region == *aws.region
            });
            let fresh = slot.is_some_and(|i| keys[i].2.is_for(&date));
            if !fresh {
                let key = sigv4::SigningKey::derive(
                    &aws.secret_access_key.0,
                    &date,
                    &aws.region,
                    "bedrock",
                )
                .map_err(|_| GatewayError::UpstreamSigning)?;
                match slot {
                    Some(i) => keys[i].2 = key,
                    None => keys.push((aws.secret_access_key.0.clone(), aws.region.clone(), key)),
                }
            }
            Ok(())
        })?;
        let mut path = String::with_capacity(up.path_prefix.len() + tr.path.len());
        path.push_str(&up.path_prefix);
        path.push_str(std::str::from_utf8(&tr.path).map_err(|_| GatewayError::UpstreamSigning)?);
        let token = aws.session_token.as_ref().map(|t| &*t.0);
        let request = sigv4::Request {
            method: "POST",
            host: &up.host_header,
            path: &path,
            query: &[],
            headers: &[("content-type", "application/json")],
            payload: body,
            content_sha256_header: false,
        };
        let mut authorization = Vec::with_capacity(256);
        let signed = KEYS
            .with(|keys| {
                let keys = keys.borrow();
                let (_, _, key) = keys
                    .iter()
                    .find(|(secret, region, _)| {
                        **secret == *aws.secret_access_key.0 && **region == *aws.region
                    })
                    .expect("derived above");
                sigv4::sign(
                    &request,
                    &date,
                    &aws.access_key_id.0,
                    token,
                    key,
                    &mut authorization,
                )
            })
            .map_err(|_| GatewayError::UpstreamSigning)?;
        tr.headers.clear();
        tr.headers.push((
            "authorization",
            String::from_utf8(authorization).map_err(|_| GatewayError::UpstreamSigning)?,
        ));
        tr.headers
            .push(("x-amz-date", signed.x_amz_date().to_string()));
        if let Some(t) = token {
            tr.headers.push(("x-amz-security-token", t.to_string()));
        }
        Ok(())
    }

    /// `id` is the client-facing `chatcmpl-<hex>`; its hex part makes invented tool call
    /// ids unique.
    pub(super) fn stream_translator(
        tr: &Translation,
        id: &str,
        created: u64,
    ) -> Box<dyn StreamTranslator> {
        match tr.kind {
            ProviderKind::Anthropic => Box::new(anthropic::AnthropicStream::new(
                id,
                &tr.model,
                created,
                tr.include_usage,
                tr.json_tool,
            )),
            ProviderKind::Gemini => Box::new(gemini::GeminiStream::new(
                id,
                &tr.model,
                created,
                call_prefix(id),
                tr.include_usage,
            )),
            ProviderKind::Bedrock => Box::new(bedrock::BedrockStream::new(
                id,
                &tr.model,
                created,
                tr.include_usage,
                tr.json_tool,
            )),
            other => unreachable!("{} is not a translated provider kind", other.as_str()),
        }
    }

    pub(super) fn response(
        tr: &Translation,
        body: &[u8],
        id: &str,
        created: u64,
        out: &mut Vec<u8>,
    ) -> Result<Usage, TranslateError> {
        let (resp, usage) = match tr.kind {
            ProviderKind::Anthropic => anthropic::parse_response(
                body,
                &anthropic::ResponseMeta {
                    id,
                    model: &tr.model,
                    created,
                    json_tool: tr.json_tool,
                },
            )?,
            ProviderKind::Gemini => gemini::parse_response(
                body,
                &gemini::ResponseMeta {
                    id,
                    model: &tr.model,
                    created,
                    call_prefix: call_prefix(id),
                },
            )?,
            ProviderKind::Bedrock => bedrock::parse_response(
                body,
                &bedrock::ResponseMeta {
                    id,
                    model: &tr.model,
                    created,
                    json_tool: tr.json_tool,
                },
            )?,
            other => unreachable!("{} is not a translated provider kind", other.as_str()),
        };
        serde_json::to_writer(&mut *out, &resp)
            .map_err(|_| TranslateError::BadJson("a serializable response"))?;
        Ok(usage)
    }

    pub(super) fn error(
        tr: &Translation,
        status: u16,
        error_type: Option<&[u8]>,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> ErrorKind {
        match tr.kind {
            ProviderKind::Anthropic => anthropic::translate_error(status, body, out).kind,
            ProviderKind::Gemini => gemini::translate_error(status, body, out).kind,
            ProviderKind::Bedrock => bedrock::translate_error(status, error_type, body, out).kind,
            other => unreachable!("{} is not a translated provider kind", other.as_str()),
        }
    }

    fn call_prefix(id: &str) -> &str {
        id.strip_prefix("chatcmpl-").unwrap_or(id)
    }
}
