//! One client connection: connect when needed, write a request, read its response with
//! `proto::http1` (and `proto::sse` for streams), time it, keep the connection for the
//! next request when the response allows.
//!
//! Buffers belong to the [`Client`] and are reused for every request. The head is
//! parsed in place; body bytes are consumed where they were read (Content-Length bodies
//! are skipped, chunked bodies go through the zero-copy `ChunkedDecoder`, stream payloads
//! are pushed to the SSE decoder) and the read buffer is then emptied, so it never holds
//! more than one head and one read.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use proto::http1::{
    parse_response, BodyFraming, ChunkEvent, ChunkedDecoder, Headers, Limits, ResponseHead, Status,
    EMPTY_HEADERS,
};
use proto::sse;

use crate::report::ErrorKind;

/// Response heads are bounded as usual; bodies may be large (long completions, many
/// embeddings), so allow up to 1 GiB.
const LIMITS: Limits = Limits {
    body_bytes_max: 1 << 30,
    ..Limits::DEFAULT
};
/// The read buffer: a head and a good part of a typical body in one read.
const RBUF_BYTES: usize = 64 * 1024;
/// The write buffer's starting size; it grows to the largest request and stays there.
const WBUF_BYTES: usize = 16 * 1024;
/// The largest SSE event accepted.
const SSE_EVENT_BYTES_MAX: usize = 1024 * 1024;

/// A request that got a complete response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exchange {
    pub status: u16,
    /// When the response head was complete.
    pub head_at: Instant,
    /// The body was read as an event stream.
    pub stream: bool,
    pub first_token: Option<Instant>,
    pub tokens: u32,
}

/// How one request went.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub result: Result<Exchange, ErrorKind>,
    /// When the response ended or the request failed.
    pub end: Instant,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// A connection was opened for this request.
    pub connected: bool,
}

pub(crate) struct Client {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// INVARIANT: between requests, empty. Taken by in-flight reads and writes, so a
    /// timed-out request can leave it (and `wbuf`) without capacity; `request` restores.
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    headers: Headers,
    sse: sse::Decoder,
    bytes_in: u64,
    bytes_out: u64,
}

impl Client {
    pub(crate) fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            stream: None,
            rbuf: Vec::with_capacity(RBUF_BYTES),
            wbuf: Vec::with_capacity(WBUF_BYTES),
            headers: EMPTY_HEADERS,
            sse: sse::Decoder::new(SSE_EVENT_BYTES_MAX),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// Send one request, written by `render` into the connection's buffer, and read its
    /// response. `stream`: read a 2xx body as server-sent events and time the tokens;
    /// `gap` is called with each inter-token gap. Never fails: errors are in the outcome.
    pub(crate) async fn request(
        &mut self,
        timeout: Duration,
        stream: bool,
        render: impl FnOnce(&mut Vec<u8>),
        gap: &mut dyn FnMut(Duration),
    ) -> Outcome {
        if self.rbuf.capacity() < RBUF_BYTES {
            self.rbuf = Vec::with_capacity(RBUF_BYTES);
        }
        self.rbuf.clear();
        self.wbuf.clear();
        render(&mut self.wbuf);
        self.bytes_in = 0;
        self.bytes_out = 0;
        let mut connected = false;
        if self.stream.is_none() {
            match monoio::time::timeout(timeout, TcpStream::connect(self.addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    self.stream = Some(s);
                    connected = true;
                }
                Ok(Err(_)) | Err(_) => return self.outcome(Err(ErrorKind::Connect), false),
            }
        }
        let result = match monoio::time::timeout(timeout, self.exchange(stream, gap)).await {
            Ok(Ok((ex, keep_alive))) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(ex)
            }
            Ok(Err(kind)) => {
                self.stream = None;
                Err(kind)
            }
            Err(_) => {
                self.stream = None;
                // The cancelled read or write kept its buffer.
                if self.wbuf.capacity() == 0 {
                    self.wbuf = Vec::with_capacity(WBUF_BYTES);
                }
                Err(ErrorKind::Timeout)
            }
        };
        self.outcome(result, connected)
    }

    fn outcome(&mut self, result: Result<Exchange, ErrorKind>, connected: bool) -> Outcome {
        Outcome {
            result,
            end: Instant::now(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            connected,
        }
    }

    /// Write the request and read the whole response. Returns whether the connection
    /// may carry the next request.
    async fn exchange(
        &mut self,
        want_stream: bool,
        gap: &mut dyn FnMut(Duration),
    ) -> Result<(Exchange, bool), ErrorKind> {
        let Some(conn) = self.stream.as_mut() else {
            return Err(ErrorKind::Connect);
        };
        let (res, buf) = conn.write_all(std::mem::take(&mut self.wbuf)).await;
        self.wbuf = buf;
        self.bytes_out += res.map_err(|_| ErrorKind::Reset)? as u64;

        let head = self.read_head().await?;
        let head_at = Instant::now();
        let sse = want_stream && (200..300).contains(&head.status);
        if sse {
            // A stream cut short earlier may have left a partial event behind.
            self.sse.finish();
        }
        let mut r = Reading {
            ex: Exchange {
                status: head.status,
                head_at,
                stream: sse,
                first_token: None,
                tokens: 0,
            },
            sse,
            last_token: None,
            read_at: head_at,
        };
        let start = head.head_len;
        let (end, keep_alive) = match head.body {
            BodyFraming::None => (start, head.keep_alive),
            BodyFraming::Length(n) => (
                self.read_length(start, n, &mut r, gap).await?,
                head.keep_alive,
            ),
            BodyFraming::Chunked => (
                self.read_chunked(start, &mut r, gap).await?,
                head.keep_alive,
            ),
            BodyFraming::CloseDelimited => (self.read_to_close(start, &mut r, gap).await?, false),
        };
        // Bytes after the response answer nothing we asked (no pipelining): do not trust
        // the connection with another request.
        let keep_alive = keep_alive && end == self.rbuf.len();
        self.rbuf.clear();
        Ok((r.ex, keep_alive))
    }

    /// Read up to a final response head (skipping interim 1xx heads); it starts `rbuf`.
    async fn read_head(&mut self) -> Result<ResponseHead, ErrorKind> {
        loop {
            match parse_response(&self.rbuf, &mut self.headers, &LIMITS, false) {
                Ok(Status::Complete(h)) if h.status == 101 => return Err(ErrorKind::BadResponse),
                Ok(Status::Complete(h)) if h.status < 200 => {
                    // An interim response (100 Continue, 103 Early Hints): skip it.
                    self.rbuf.drain(..h.head_len);
                }
                Ok(Status::Complete(h)) => return Ok(h),
                Ok(Status::Partial) => {
                    self.read().await?;
                }
                Err(_) => return Err(ErrorKind::BadResponse),
            }
        }
    }

    /// A Content-Length body of `n` bytes starting at `rbuf[pos..]`; returns where it
    /// ended in `rbuf`.
    async fn read_length(
        &mut self,
        mut pos: usize,
        n: u64,
        r: &mut Reading,
        gap: &mut dyn FnMut(Duration),
    ) -> Result<usize, ErrorKind> {
        let mut left = n;
        loop {
            let take = ((self.rbuf.len() - pos) as u64).min(left) as usize;
            if r.sse {
                self.push_sse(pos, pos + take, r, gap)?;
            }
            pos += take;
            left -= take as u64;
            if left == 0 {
                return Ok(pos);
            }
            self.rbuf.clear();
            pos = 0;
            self.read().await?;
            r.read_at = Instant::now();
        }
    }

    /// A chunked body starting at `rbuf[pos..]`; returns where it ended in `rbuf`.
    async fn read_chunked(
        &mut self,
        mut pos: usize,
        r: &mut Reading,
        gap: &mut dyn FnMut(Duration),
    ) -> Result<usize, ErrorKind> {
        let mut dec = ChunkedDecoder::new(LIMITS.body_bytes_max);
        loop {
            let (used, event) = dec
                .step(&self.rbuf[pos..])
                .map_err(|_| ErrorKind::BadResponse)?;
            match event {
                ChunkEvent::Data { start, end } => {
                    if r.sse {
                        self.push_sse(pos + start, pos + end, r, gap)?;
                    }
                    pos += used;
                }
                ChunkEvent::Done => return Ok(pos + used),
                ChunkEvent::Partial => {
                    self.rbuf.clear();
                    pos = 0;
                    self.read().await?;
                    r.read_at = Instant::now();
                }
            }
        }
    }

    /// A body that ends when the peer closes, starting at `rbuf[pos..]`.
    async fn read_to_close(
        &mut self,
        pos: usize,
        r: &mut Reading,
        gap: &mut dyn FnMut(Duration),
    ) -> Result<usize, ErrorKind> {
        let mut pos = pos;
        loop {
            if r.sse {
                let end = self.rbuf.len();
                self.push_sse(pos, end, r, gap)?;
            }
            self.rbuf.clear();
            pos = 0;
            match self.read().await {
                Ok(_) => r.read_at = Instant::now(),
                Err(ErrorKind::Closed) => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Read more bytes after `rbuf`'s contents. EOF is [`ErrorKind::Closed`].
    async fn read(&mut self) -> Result<usize, ErrorKind> {
        let Some(conn) = self.stream.as_mut() else {
            return Err(ErrorKind::Closed);
        };
        if self.rbuf.len() == self.rbuf.capacity() {
            // Only a head that has not ended grows the buffer; the codec bounds heads.
            self.rbuf.reserve(RBUF_BYTES);
        }
        let (len, cap) = (self.rbuf.len(), self.rbuf.capacity());
        let (res, buf) = conn
            .read(std::mem::take(&mut self.rbuf).slice_mut(len..cap))
            .await;
        self.rbuf = buf.into_inner();
        match res {
            Ok(0) => Err(ErrorKind::Closed),
            Ok(n) => {
                self.bytes_in += n as u64;
                Ok(n)
            }
            Err(_) => Err(ErrorKind::Reset),
        }
    }

    /// Feed `rbuf[start..end]` to the SSE decoder and time the token events it completes.
    fn push_sse(
        &mut self,
        start: usize,
        end: usize,
        r: &mut Reading,
        gap: &mut dyn FnMut(Duration),
    ) -> Result<(), ErrorKind> {
        self.sse
            .push(&self.rbuf[start..end])
            .map_err(|_| ErrorKind::BadResponse)?;
        while let Some(event) = self.sse.next_event() {
            if !carries_token(event.data) {
                continue;
            }
            r.ex.tokens += 1;
            match r.last_token {
                Some(last) => gap(r.read_at - last),
                None => r.ex.first_token = Some(r.read_at),
            }
            r.last_token = Some(r.read_at);
        }
        Ok(())
    }
}

/// The response being read.
struct Reading {
    ex: Exchange,
    /// Decode the body as server-sent events.
    sse: bool,
    last_token: Option<Instant>,
    /// When the read that delivered the bytes being decoded returned.
    read_at: Instant,
}

/// Whether an SSE `data` payload carries a token: a `"content"` or `"text"` member with a
/// non-empty string value (OpenAI chat deltas and completion chunks). `[DONE]`, role-only
/// deltas, finish and usage chunks carry none.
pub(crate) fn carries_token(data: &[u8]) -> bool {
    data != b"[DONE]"
        && (non_empty_string(data, b"\"content\"") || non_empty_string(data, b"\"text\""))
}

fn non_empty_string(data: &[u8], key: &[u8]) -> bool {
    let skip_ws = |mut i: usize| {
        while data.get(i).is_some_and(|b| b" \t\r\n".contains(b)) {
            i += 1;
        }
        i
    };
    let mut from = 0;
    while let Some(at) = find(&data[from..], key) {
        let mut i = skip_ws(from + at + key.len());
        if data.get(i) == Some(&b':') {
            i = skip_ws(i + 1);
            if data.get(i) == Some(&b'"') && data.get(i + 1).is_some_and(|&b| b != b'"') {
                return true;
            }
        }
        from += at + 1;
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::carries_token;

    #[test]
    fn token_events() {
        let yes: &[&[u8]] = &[
            br#"{"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#,
            br#"{"choices":[{"delta": {"content" : " x"}}]}"#,
            br#"{"object":"text_completion","choices":[{"text":"word","index":0}]}"#,
        ];
        let no: &[&[u8]] = &[
            b"[DONE]",
            br#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            br#"{"choices":[{"delta":{"role":"assistant"}}]}"#,
            br#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":5}}"#,
            br#"{"choices":[{"delta":{"content":null}}]}"#,
            br#"{"choices":[{"delta":{"reasoning_content":""}}]}"#,
        ];
        for d in yes {
            assert!(carries_token(d), "{}", String::from_utf8_lossy(d));
        }
        for d in no {
            assert!(!carries_token(d), "{}", String::from_utf8_lossy(d));
        }
    }
}
