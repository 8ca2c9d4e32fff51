//! A raw HTTP/1.1 client over a blocking socket (plain TCP, or TLS through rustls), with
//! read timeouts. It sends whatever bytes a test gives it and parses responses with
//! `proto::http1`, keeping each chunk of a chunked body apart with the time it arrived,
//! so that a test can prove a stream was relayed incrementally.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use proto::http1::{
    parse_response, BodyFraming, ChunkEvent, ChunkedDecoder, Limits, Status, EMPTY_HEADERS,
    HEADER_SLOTS,
};

use crate::WAIT;

/// What a response from the gateway may carry: no body limit, generous heads.
const LIMITS: Limits = Limits {
    head_bytes_max: 64 * 1024,
    header_count_max: HEADER_SLOTS,
    uri_bytes_max: 8192,
    body_bytes_max: u64::MAX,
};

/// A byte stream the client can speak over.
pub trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// One chunk of a chunked body and when its last byte was read.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub at: Instant,
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
    pub framing: BodyFraming,
    /// For a chunked body: each chunk as framed on the wire.
    pub chunks: Vec<Chunk>,
    /// When the head was complete, and when the body was.
    pub head_at: Instant,
    pub done_at: Instant,
    /// The response allows another request on the connection.
    pub keep_alive: bool,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or reset) the connection; the bytes of the unfinished message.
    Closed(Vec<u8>),
    Timeout,
    Parse(proto::http1::Error),
    Io(io::Error),
}

pub struct Client {
    io: Box<dyn Io>,
    /// The socket under `io`, for timeouts and shutdown.
    tcp: TcpStream,
    /// Bytes received and not yet consumed.
    buf: Vec<u8>,
    last_read: Instant,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        tcp.set_nodelay(true).unwrap();
        let io = Box::new(tcp.try_clone().unwrap());
        Client::over(io, tcp)
    }

    /// A client over `io` (e.g. a TLS stream) whose socket is `tcp`.
    pub fn over(io: Box<dyn Io>, tcp: TcpStream) -> Client {
        tcp.set_write_timeout(Some(WAIT)).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            io,
            tcp,
            buf: Vec::new(),
            last_read: Instant::now(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().unwrap()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.io
            .write_all(bytes)
            .and_then(|()| self.io.flush())
            .expect("send to the gateway");
    }

    /// Send a request and read its response.
    pub fn request(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// The next response (an interim 1xx included), or panic.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(WAIT)
            .unwrap_or_else(|e| panic!("reading a response: {e:?}"))
    }

    /// Read more bytes into `buf` before `deadline`; Ok(0) is EOF.
    fn fill(&mut self, deadline: Instant) -> Result<usize, ReadError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        self.tcp
            .set_read_timeout(Some(left))
            .map_err(ReadError::Io)?;
        let mut tmp = [0u8; 16 * 1024];
        match self.io.read(&mut tmp) {
            Ok(n) => {
                self.last_read = Instant::now();
                self.buf.extend_from_slice(&tmp[..n]);
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(ReadError::Timeout)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::BrokenPipe
                ) =>
            {
                Ok(0)
            }
            // rustls reports a peer that closed without close_notify as UnexpectedEof.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    fn fill_or_closed(&mut self, deadline: Instant, from: usize) -> Result<(), ReadError> {
        match self.fill(deadline)? {
            0 => Err(ReadError::Closed(self.buf[from..].to_vec())),
            _ => Ok(()),
        }
    }

    pub fn try_read_response(&mut self, timeout: Duration) -> Result<Response, ReadError> {
        self.read_response_to(timeout, false)
    }

    /// The response to a HEAD request: no body, whatever its headers say.
    pub fn read_head_response(&mut self) -> Response {
        self.read_response_to(WAIT, true)
            .unwrap_or_else(|e| panic!("reading a response to HEAD: {e:?}"))
    }

    fn read_response_to(
        &mut self,
        timeout: Duration,
        head_request: bool,
    ) -> Result<Response, ReadError> {
        let deadline = Instant::now() + timeout;
        let mut hs = EMPTY_HEADERS;
        let head = loop {
            match parse_response(&self.buf, &mut hs, &LIMITS, head_request) {
                Ok(Status::Complete(h)) => break h,
                Ok(Status::Partial) => self.fill_or_closed(deadline, 0)?,
                Err(e) => return Err(ReadError::Parse(e)),
            }
        };
        let head_at = self.last_read;
        let headers = hs[..head.header_count]
            .iter()
            .map(|h| {
                let name = String::from_utf8_lossy(h.name.of(&self.buf)).to_ascii_lowercase();
                (
                    name,
                    String::from_utf8_lossy(h.value.of(&self.buf)).into_owned(),
                )
            })
            .collect();
        self.buf.drain(..head.head_len);
        let mut chunks = Vec::new();
        let body = match head.body {
            BodyFraming::None => Vec::new(),
            BodyFraming::Length(n) => {
                let n = n as usize;
                while self.buf.len() < n {
                    self.fill_or_closed(deadline, 0)?;
                }
                self.buf.drain(..n).collect()
            }
            BodyFraming::Chunked => self.read_chunked(deadline, &mut chunks)?,
            BodyFraming::CloseDelimited => {
                while self.fill(deadline)? > 0 {}
                std::mem::take(&mut self.buf)
            }
        };
        Ok(Response {
            status: head.status,
            headers,
            body,
            framing: head.body,
            chunks,
            head_at,
            done_at: self.last_read,
            keep_alive: head.keep_alive,
        })
    }

    /// Decode a chunked body from `buf`, reading as needed. A chunk begins when the
    /// decoder's declared byte count grows (one size line per step at most).
    fn read_chunked(
        &mut self,
        deadline: Instant,
        chunks: &mut Vec<Chunk>,
    ) -> Result<Vec<u8>, ReadError> {
        let mut dec = ChunkedDecoder::new(u64::MAX);
        let mut body = Vec::new();
        let mut pos = 0;
        // (declared size, bytes so far) of the chunk being read.
        let mut current: Option<(u64, Vec<u8>)> = None;
        loop {
            let declared = dec.body_bytes();
            let (used, ev) = dec.step(&self.buf[pos..]).map_err(ReadError::Parse)?;
            let grown = dec.body_bytes() - declared;
            if grown > 0 {
                assert!(
                    current.is_none(),
                    "a chunk began before the previous one ended"
                );
                current = Some((grown, Vec::new()));
            }
            match ev {
                ChunkEvent::Data { start, end } => {
                    let data = &self.buf[pos + start..pos + end];
                    body.extend_from_slice(data);
                    let (want, got) = current.as_mut().expect("data outside a chunk");
                    got.extend_from_slice(data);
                    if got.len() as u64 == *want {
                        let (_, data) = current.take().unwrap();
                        chunks.push(Chunk {
                            data,
                            at: self.last_read,
                        });
                    }
                    pos += used;
                }
                ChunkEvent::Partial => {
                    self.buf.drain(..pos + used);
                    pos = 0;
                    self.fill_or_closed(deadline, 0)?;
                }
                ChunkEvent::Done => {
                    self.buf.drain(..pos + used);
                    return Ok(body);
                }
            }
        }
    }

    /// Read until the bytes received (and not yet consumed) contain `needle`; returns
    /// them and consumes them. Panics after `timeout`.
    pub fn read_until_contains(&mut self, needle: &[u8], timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        while !self.buf.windows(needle.len()).any(|w| w == needle) {
            match self.fill(deadline) {
                Ok(n) if n > 0 => {}
                other => panic!(
                    "waiting for {:?}: {other:?}, got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Read until the peer closes the connection (EOF or reset). Ok: every byte received
    /// first. Err: the bytes so far, when `timeout` passed with the connection open.
    pub fn read_to_close(&mut self, timeout: Duration) -> Result<Vec<u8>, Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(_) => {}
                Err(ReadError::Timeout) => return Err(std::mem::take(&mut self.buf)),
                Err(_) => return Ok(std::mem::take(&mut self.buf)),
            }
        }
    }

    /// Close the sending side (FIN), keep reading.
    pub fn shutdown_write(&self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
    }

    /// Abort the connection with an RST (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the fd is open (we own `tcp`), `linger` is a valid struct linger and
        // its size is passed.
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&self.tcp),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
        drop(self);
    }
}
