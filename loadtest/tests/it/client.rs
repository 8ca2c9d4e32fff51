//! A naive HTTP/1.1 client over std::net, independent of the codec under test.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body; for chunked responses the concatenated chunk data.
    pub body: Vec<u8>,
    /// For chunked responses, each chunk's data in order.
    pub chunks: Vec<Vec<u8>>,
    /// Whether the body ended as framed (false: the connection closed first).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invalid JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The SSE `data:` payloads of the body, checking each frame's shape.
    pub fn sse_data(&self) -> Vec<String> {
        let text = std::str::from_utf8(&self.body).expect("utf-8 stream");
        let mut frames: Vec<String> = text.split("\n\n").map(str::to_owned).collect();
        assert_eq!(
            frames.pop().as_deref(),
            Some(""),
            "stream ends with a blank line"
        );
        frames
            .into_iter()
            .map(|f| {
                f.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data frame: {f:?}"))
                    .to_owned()
            })
            .collect()
    }
}

pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Send one request and read its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> Response {
        self.send(request);
        self.read_response().expect("response")
    }

    /// Read more bytes into the buffer; Ok(0) at EOF. Retries EINTR.
    pub fn fill(&mut self) -> std::io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Bytes received but not yet consumed by a parsed response.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Read one response. EOF before the head is complete is an error; EOF inside the
    /// body gives a response with `complete == false`.
    pub fn read_response(&mut self) -> std::io::Result<Response> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        };
        let head = String::from_utf8(self.buf[..head_end - 4].to_vec()).expect("ascii head");
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status = status_line[9..12].parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("header line {l:?}"));
                (n.to_owned(), v.trim().to_owned())
            })
            .collect();
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
            chunks: Vec::new(),
            complete: false,
        };
        if status == 100 {
            resp.complete = true;
            return Ok(resp);
        }
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                if self.fill()? == 0 {
                    resp.body = std::mem::take(&mut self.buf);
                    return Ok(resp);
                }
            }
            resp.body = self.buf.drain(..len).collect();
            resp.complete = true;
        } else if resp.header("transfer-encoding") == Some("chunked") {
            self.read_chunks(&mut resp)?;
        } else {
            // Close-delimited.
            while self.fill()? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
            resp.complete = true;
        }
        Ok(resp)
    }

    fn read_chunks(&mut self, resp: &mut Response) -> std::io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                if self.fill()? == 0 {
                    return Ok(());
                }
            };
            let size =
                usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap(), 16)
                    .unwrap_or_else(|_| {
                        panic!(
                            "chunk size line {:?}",
                            String::from_utf8_lossy(&self.buf[..line_end])
                        )
                    });
            let need = line_end + 2 + size + 2;
            while self.buf.len() < need {
                if self.fill()? == 0 {
                    return Ok(());
                }
            }
            assert_eq!(
                &self.buf[need - 2..need],
                b"\r\n",
                "chunk data ends with CRLF"
            );
            let data: Vec<u8> = self.buf[line_end + 2..need - 2].to_vec();
            self.buf.drain(..need);
            if size == 0 {
                resp.complete = true;
                return Ok(());
            }
            resp.body.extend_from_slice(&data);
            resp.chunks.push(data);
        }
    }

    /// Read until EOF; returns everything received after what was already consumed.
    pub fn read_to_end(&mut self) -> std::io::Result<Vec<u8>> {
        while self.fill()? > 0 {}
        Ok(std::mem::take(&mut self.buf))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request with a JSON body (or none when `body` is empty).
pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: mock\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        ));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

pub fn chat_body(stream: bool) -> String {
    format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"system","content":"You are terse."}},{{"role":"user","content":"Say something about gateways."}}],"stream":{stream},"stream_options":{{"include_usage":true}}}}"#
    )
}

pub fn chat(headers: &[(&str, &str)], stream: bool) -> Vec<u8> {
    let body = if stream {
        chat_body(true)
    } else {
        chat_body(false).replace(r#","stream_options":{"include_usage":true}"#, "")
    };
    request("POST", "/v1/chat/completions", headers, &body)
}

/// One server-sent event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub name: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {:?}", self.data))
    }
}

impl Response {
    /// The body as SSE events (LF or CRLF line ends), checking that it ends with a blank
    /// line and that every line is an `event:` or `data:` field.
    pub fn sse_events(&self) -> Vec<SseEvent> {
        let text = std::str::from_utf8(&self.body)
            .expect("utf-8 stream")
            .replace("\r\n", "\n");
        let mut frames: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(frames.pop(), Some(""), "stream ends with a blank line");
        frames
            .into_iter()
            .map(|frame| {
                let mut event = SseEvent {
                    name: None,
                    data: String::new(),
                };
                for line in frame.split('\n') {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event.name = Some(name.to_owned());
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        if !event.data.is_empty() {
                            event.data.push('\n');
                        }
                        event.data.push_str(data);
                    } else {
                        panic!("unexpected SSE line {line:?} in {frame:?}");
                    }
                }
                event
            })
            .collect()
    }
}

impl Response {
    /// Assert an error answer: `status`, and a JSON body whose string at `pointer`
    /// contains `needle`. Returns the body for format-specific checks.
    pub fn error(&self, status: u16, pointer: &str, needle: &str) -> Value {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "expected {needle:?}: {text}");
        let v = self.json();
        let message = v.pointer(pointer).and_then(Value::as_str);
        let message = message.unwrap_or_else(|| panic!("no string at {pointer}: {text}"));
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        v
    }
}

/// POST a JSON body on a fresh connection and read the response.
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
    Client::connect(addr).roundtrip(&request("POST", path, headers, &body.to_string()))
}
