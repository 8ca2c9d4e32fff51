//! Tests of the HTTP/1.1 codec: unit tests, the smuggling corpus, property tests
//! against the naive reference in `reference.rs`.

use super::*;

const OPENAI_REQUEST: &[u8] = b"POST /v1/chat/completions?stream=true HTTP/1.1\r\n\
Host: api.openai.com\r\n\
Authorization: Bearer sk-test\r\n\
Content-Type: application/json\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

fn req(buf: &[u8]) -> Result<Status<RequestHead>, Error> {
    let mut headers = EMPTY_HEADERS;
    parse_request(buf, &mut headers, &Limits::DEFAULT)
}

fn req_ok(buf: &[u8]) -> RequestHead {
    match req(buf) {
        Ok(Status::Complete(head)) => head,
        other => panic!(
            "expected a complete head, got {other:?} for {:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

fn resp(buf: &[u8], head_request: bool) -> Result<Status<ResponseHead>, Error> {
    let mut headers = EMPTY_HEADERS;
    parse_response(buf, &mut headers, &Limits::DEFAULT, head_request)
}

fn resp_ok(buf: &[u8], head_request: bool) -> ResponseHead {
    match resp(buf, head_request) {
        Ok(Status::Complete(head)) => head,
        other => panic!(
            "expected a complete head, got {other:?} for {:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

#[test]
fn request_head_fields_are_spans_into_the_buffer() {
    let mut headers = EMPTY_HEADERS;
    let Ok(Status::Complete(head)) = parse_request(OPENAI_REQUEST, &mut headers, &Limits::DEFAULT)
    else {
        panic!("not complete");
    };
    assert_eq!(head.method, Method::Post);
    assert_eq!(head.method_span.of(OPENAI_REQUEST), b"POST");
    assert_eq!(
        head.target.of(OPENAI_REQUEST),
        b"/v1/chat/completions?stream=true"
    );
    assert_eq!(head.path.of(OPENAI_REQUEST), b"/v1/chat/completions");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.header_count, 4);
    assert_eq!(&OPENAI_REQUEST[head.head_len..], b"hello");
    assert_eq!(head.body, BodyFraming::Length(5));
    assert!(head.keep_alive);
    assert!(!head.expect_continue);
    let hs = &headers[..head.header_count];
    assert_eq!(hs[1].name.of(OPENAI_REQUEST), b"Authorization");
    assert_eq!(hs[1].value.of(OPENAI_REQUEST), b"Bearer sk-test");
    assert_eq!(
        find_header(OPENAI_REQUEST, hs, b"content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(find_header(OPENAI_REQUEST, hs, b"x-missing"), None);
}

#[test]
fn header_values_are_trimmed() {
    let buf = b"GET / HTTP/1.1\r\nX-A:   padded \t \r\nX-B:\r\nX-C: \r\n\r\n";
    let mut headers = EMPTY_HEADERS;
    let Ok(Status::Complete(head)) = parse_request(buf, &mut headers, &Limits::DEFAULT) else {
        panic!("not complete");
    };
    let values: Vec<&[u8]> = headers[..head.header_count]
        .iter()
        .map(|h| h.value.of(buf))
        .collect();
    assert_eq!(values, [&b"padded"[..], b"", b""]);
}

#[test]
fn methods_map_to_the_enum_case_sensitively() {
    for (token, method) in [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("PATCH", Method::Patch),
        ("OPTIONS", Method::Options),
        ("get", Method::Other),
        ("PROPFIND", Method::Other),
    ] {
        let buf = format!("{token} / HTTP/1.1\r\n\r\n");
        let head = req_ok(buf.as_bytes());
        assert_eq!(head.method, method, "{token}");
        assert_eq!(head.method_span.of(buf.as_bytes()), token.as_bytes());
    }
}

#[test]
fn request_without_length_has_no_body() {
    let head = req_ok(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.body, BodyFraming::None);
    assert_eq!(head.path, head.target);
}

#[test]
fn leading_empty_lines_are_skipped_and_counted() {
    let buf = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    let head = req_ok(buf);
    assert_eq!(head.method_span.of(buf), b"GET");
    assert_eq!(head.head_len, buf.len());
}

#[test]
fn partial_until_the_blank_line() {
    let full = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for cut in 0..full.len() {
        assert_eq!(req(&full[..cut]), Ok(Status::Partial), "cut at {cut}");
    }
    assert_eq!(req_ok(full).head_len, full.len());
}

#[test]
fn keep_alive_rules() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false),
        (b"GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false),
        (
            b"GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: foo ,  keep-alive \r\n\r\n",
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false),
    ];
    for (buf, keep_alive) in cases {
        assert_eq!(
            req_ok(buf).keep_alive,
            *keep_alive,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn expect_continue() {
    let cases: &[(&[u8], bool)] = &[
        (
            b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            true,
        ),
        (
            b"POST / HTTP/1.1\r\nexpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
            true,
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", false),
        (
            b"POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 3\r\n\r\n",
            false,
        ),
        // RFC 9110 §10.1.1: ignored in HTTP/1.0.
        (
            b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            false,
        ),
    ];
    for (buf, expect) in cases {
        assert_eq!(
            req_ok(buf).expect_continue,
            *expect,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn framing_accepted_forms() {
    let cases: &[(&[u8], BodyFraming)] = &[
        (
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            BodyFraming::Length(0),
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n",
            BodyFraming::Length(7),
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            BodyFraming::Length(5),
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
            BodyFraming::Length(5),
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            BodyFraming::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
            BodyFraming::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            BodyFraming::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding:  chunked \r\n\r\n",
            BodyFraming::Chunked,
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip,,chunked,\r\n\r\n",
            BodyFraming::Chunked,
        ),
    ];
    for (buf, body) in cases {
        assert_eq!(
            req_ok(buf).body,
            *body,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn pipelined_requests_parse_one_after_another() {
    let buf = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n\
        POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
    let mut at = 0;
    let mut paths = Vec::new();
    let mut bodies = Vec::new();
    while at < buf.len() {
        let head = req_ok(&buf[at..]);
        paths.push(head.path.of(&buf[at..]).to_vec());
        let body_start = at + head.head_len;
        at = match head.body {
            BodyFraming::None => body_start,
            BodyFraming::Length(n) => {
                bodies.push(buf[body_start..body_start + n as usize].to_vec());
                body_start + n as usize
            }
            BodyFraming::Chunked => {
                let mut out = Vec::new();
                let mut decoder = ChunkedDecoder::new(1024);
                let (used, done) = decoder.decode_into(&buf[body_start..], &mut out).unwrap();
                assert!(done);
                bodies.push(out);
                body_start + used
            }
            BodyFraming::CloseDelimited => unreachable!("requests are never close-delimited"),
        };
    }
    assert_eq!(paths, [&b"/a"[..], b"/b", b"/c", b"/d"]);
    assert_eq!(bodies, [&b"abc"[..], b"xyz"]);
    assert_eq!(at, buf.len());
}

#[test]
fn response_heads() {
    let buf =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    let head = resp_ok(buf, false);
    assert_eq!(head.status, 200);
    assert_eq!(head.reason.of(buf), b"OK");
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.header_count, 2);
    assert_eq!(head.head_len, buf.len());
    assert_eq!(head.body, BodyFraming::Chunked);
    assert!(head.keep_alive);

    let cases: &[(&[u8], bool, BodyFraming, bool)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
            false,
            BodyFraming::Length(12),
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
            true,
            BodyFraming::None,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\n\r\n",
            false,
            BodyFraming::CloseDelimited,
            false,
        ),
        (
            b"HTTP/1.1 204 No Content\r\n\r\n",
            false,
            BodyFraming::None,
            true,
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            false,
            BodyFraming::None,
            true,
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            false,
            BodyFraming::None,
            true,
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            false,
            BodyFraming::None,
            true,
        ),
        (
            b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
            false,
            BodyFraming::Length(2),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
            false,
            BodyFraming::Length(2),
            false,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
            false,
            BodyFraming::Length(2),
            true,
        ),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
            false,
            BodyFraming::CloseDelimited,
            false,
        ),
        // A HEAD response's framing headers describe the GET body and are allowed to be huge.
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
            true,
            BodyFraming::None,
            true,
        ),
    ];
    for (buf, head_request, body, keep_alive) in cases {
        let head = resp_ok(buf, *head_request);
        assert_eq!(
            (head.body, head.keep_alive),
            (*body, *keep_alive),
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn response_reason_phrase_forms() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"HTTP/1.1 404 Not Found\r\n\r\n", b"Not Found"),
        (b"HTTP/1.1 200 \r\n\r\n", b""),
        (b"HTTP/1.1 200\r\n\r\n", b""),
        (
            b"HTTP/1.1 200 d\xc3\xa9j\xc3\xa0 vu\r\n\r\n",
            b"d\xc3\xa9j\xc3\xa0 vu",
        ),
        (b"\r\nHTTP/1.1 201 Created\r\n\r\n", b"Created"),
    ];
    for (buf, reason) in cases {
        assert_eq!(
            resp_ok(buf, false).reason.of(buf),
            *reason,
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}

#[test]
fn response_errors() {
    let cases: &[(&[u8], Error)] = &[
        (b"HTTP/2.0 200 OK\r\n\r\n", Error::UnsupportedVersion),
        (b"HTTP/2 200 OK\r\n\r\n", Error::UnsupportedVersion),
        (b"HTTQ/1.1 200 OK\r\n\r\n", Error::InvalidHead),
        (b"HTTP/1.1 099 Low\r\n\r\n", Error::InvalidHead),
        (b"HTTP/1.1 600 High\r\n\r\n", Error::InvalidHead),
        (b"HTTP/1.1 20 OK\r\n\r\n", Error::InvalidHead),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Error::ContentLengthWithTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            Error::ConflictingContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            Error::TransferEncodingNotChunked,
        ),
        (
            b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Error::ChunkedOnHttp10,
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            Error::ObsoleteLineFolding,
        ),
        (
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
            Error::InvalidHeaderValue,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 33554433\r\n\r\n",
            Error::BodyTooLarge,
        ),
        (b"HTTP/1.1 200 OK\nX: y\r\n\r\n", Error::InvalidHead),
        // Invalid framing headers are rejected even when the response has no body.
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n",
            Error::InvalidContentLength,
        ),
    ];
    for (buf, error) in cases {
        assert_eq!(
            resp(buf, false),
            Err(*error),
            "{:?}",
            String::from_utf8_lossy(buf)
        );
    }
}
