//! Bedrock Converse (`/model/{modelId}/converse`, `/converse-stream`): SigV4 verified,
//! bodies checked, answers and faults in Bedrock's shapes, streams as event-stream
//! binary messages.

use proto::aws::eventstream::{Decoder, MessageType, Step};
use proto::aws::sigv4::{self, AmzDate, SigningKey};
use serde_json::{json, Value};

use crate::client::{chat, request, Client, Response};
use crate::{content, start_epoll, start_text};

const MODEL: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0";
/// 2024-06-20T12:34:56Z.
const WHEN: u64 = 1_718_886_896;
const CORAL: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

/// How a test signs: the mock's defaults unless changed.
#[derive(Clone, Copy)]
struct Signer<'a> {
    key_id: &'a str,
    secret: &'a str,
    region: &'a str,
    service: &'a str,
    token: Option<&'a str>,
    /// The path signed, when it is not the one sent.
    path: Option<&'a str>,
    /// The body signed, when it is not the one sent.
    body: Option<&'a str>,
    content_type: &'a str,
}

const SIGNER: Signer = Signer {
    key_id: "AKIDMOCK",
    secret: "mock-secret",
    region: "us-east-1",
    service: "bedrock",
    token: None,
    path: None,
    body: None,
    content_type: "application/json",
};

impl Signer<'_> {
    /// `authorization`, `x-amz-date` (and the token) for a POST of `body` to `path`.
    fn headers(&self, path: &str, body: &str) -> Vec<(String, String)> {
        let date = AmzDate::from_unix_secs(WHEN).unwrap();
        let key = SigningKey::derive(self.secret, &date, self.region, self.service).unwrap();
        let request = sigv4::Request {
            method: "POST",
            host: "mock",
            path: self.path.unwrap_or(path),
            query: &[],
            headers: &[("content-type", self.content_type)],
            payload: self.body.unwrap_or(body).as_bytes(),
            content_sha256_header: false,
        };
        let mut auth = Vec::new();
        let signed =
            sigv4::sign(&request, &date, self.key_id, self.token, &key, &mut auth).unwrap();
        let mut h = vec![
            ("authorization".into(), String::from_utf8(auth).unwrap()),
            ("x-amz-date".into(), signed.x_amz_date().into()),
        ];
        if let Some(t) = self.token {
            h.push(("x-amz-security-token".into(), t.into()));
        }
        h
    }
}

/// POST `body` to `{MODEL}/{action}` signed by `signer`, with `extra` headers.
fn send(
    addr: std::net::SocketAddr,
    action: &str,
    signer: Option<Signer>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Response {
    let path = format!("{MODEL}/{action}");
    let body = body.to_string();
    let signed = signer.map(|s| s.headers(&path, &body)).unwrap_or_default();
    let mut headers: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (&**n, &**v)).collect();
    headers.extend_from_slice(extra);
    Client::connect(addr).roundtrip(&request("POST", &path, &headers, &body))
}

fn converse(addr: std::net::SocketAddr, extra: &[(&str, &str)], body: &Value) -> Response {
    send(addr, "converse", Some(SIGNER), extra, body)
}

fn converse_stream(addr: std::net::SocketAddr, extra: &[(&str, &str)], body: &Value) -> Response {
    send(addr, "converse-stream", Some(SIGNER), extra, body)
}

fn body() -> Value {
    json!({
        "messages": [{"role": "user", "content": [{"text": "Say something about gateways."}]}],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {"maxTokens": 1024, "temperature": 0.5},
    })
}

fn tools() -> Value {
    json!({"tools": [
        {"toolSpec": {"name": "get_weather", "description": "Weather in a city",
            "inputSchema": {"json": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}},
        {"toolSpec": {"name": "get_time",
            "inputSchema": {"json": {"type": "object", "properties": {"zone": {"type": "string"}}}}}},
    ]})
}

/// One decoded event-stream message: `:message-type`, `:event-type` or
/// `:exception-type`, and the JSON payload.
#[derive(Debug)]
struct Event {
    kind: MessageType,
    name: String,
    payload: Value,
}

/// The stream's messages, checking the head, that each HTTP chunk is one whole message,
/// and that every message is JSON.
fn events(resp: &Response) -> Vec<Event> {
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(
        resp.header("content-type"),
        Some("application/vnd.amazon.eventstream")
    );
    assert!(resp.complete);
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for chunk in &resp.chunks {
        let (used, step) = decoder.decode(chunk).expect("a valid event-stream message");
        let Step::Complete(m) = step else {
            panic!("a chunk that is not a whole message: {chunk:?}");
        };
        assert_eq!(used, chunk.len(), "one message per chunk");
        assert_eq!(m.content_type(), Some(&b"application/json"[..]));
        let name = match m.message_type() {
            MessageType::Event => m.event_type(),
            MessageType::Exception => m.exception_type(),
            other => panic!("unexpected message type {other:?}"),
        };
        out.push(Event {
            kind: m.message_type(),
            name: String::from_utf8(name.expect("named").to_vec()).unwrap(),
            payload: serde_json::from_slice(m.payload).expect("JSON payload"),
        });
    }
    out
}

fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// A Bedrock error: status, `x-amzn-errortype` naming `exception`, `{"message"}` holding
/// `needle`.
fn assert_error(resp: &Response, status: u16, exception: &str, needle: &str) {
    let v = resp.error(status, "/message", needle);
    assert_eq!(v.as_object().unwrap().len(), 1, "only a message: {v}");
    let kind = resp.header("x-amzn-errortype").expect("x-amzn-errortype");
    assert_eq!(kind.split(':').next(), Some(exception), "{kind}");
    assert!(
        kind.contains(":http://internal.amazon.com/coral/"),
        "{kind}"
    );
}

#[test]
fn converse_whole_and_streamed() {
    let mock = start_text(23, 5);
    let seed = [("x-mock-seed", "77")];
    let resp = converse(mock.addr, &seed, &body());
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let v = resp.json();
    let message = &v["output"]["message"];
    assert_eq!(message["role"], "assistant");
    let text = message["content"][0]["text"].as_str().unwrap().to_owned();
    assert_eq!(message["content"].as_array().unwrap().len(), 1);
    assert_eq!(text.split(' ').count(), 23);
    let openai = Client::connect(mock.addr)
        .roundtrip(&chat(&seed, false))
        .json();
    assert_eq!(text, content(&openai), "the same words for the same seed");
    assert_eq!(v["stopReason"], "end_turn");
    let u = &v["usage"];
    assert_eq!(u["outputTokens"], 23);
    let input = u["inputTokens"].as_u64().unwrap();
    assert!(input > 0);
    assert_eq!(u["totalTokens"].as_u64(), Some(input + 23));
    assert_eq!(v["metrics"], json!({"latencyMs": 0}));

    let resp = converse_stream(mock.addr, &seed, &body());
    let ev = events(&resp);
    let mut expected = vec!["messageStart"];
    expected.extend(["contentBlockDelta"; 5]);
    expected.extend(["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(names(&ev), expected);
    assert!(ev.iter().all(|e| e.kind == MessageType::Event));
    assert!(
        ev.iter()
            .all(|e| e.payload["p"].as_str().is_some_and(|p| !p.is_empty())),
        "Bedrock's padding member on every event"
    );
    assert_eq!(ev[0].payload["role"], "assistant");
    let streamed: String = ev[1..6]
        .iter()
        .map(|e| {
            assert_eq!(e.payload["contentBlockIndex"], 0);
            e.payload["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(ev[6].payload["contentBlockIndex"], 0);
    assert_eq!(ev[7].payload["stopReason"], "end_turn");
    assert_eq!(ev[8].payload["usage"], v["usage"]);
    assert_eq!(ev[8].payload["metrics"], v["metrics"]);
    assert_eq!(mock.stats.requests(loadtest::mock::Endpoint::Converse), 1);
    assert_eq!(
        mock.stats
            .requests(loadtest::mock::Endpoint::ConverseStream),
        1
    );

    let mut short = body();
    short["inferenceConfig"]["maxTokens"] = json!(7);
    let v = converse(mock.addr, &[], &short).json();
    assert_eq!(
        (&v["stopReason"], &v["usage"]["outputTokens"]),
        (&json!("max_tokens"), &json!(7))
    );
}

#[test]
fn signatures_are_verified() {
    let mock = start_epoll(|_| {});
    let b = body();
    let with = |s: Signer| send(mock.addr, "converse", Some(s), &[], &b);
    assert_eq!(with(SIGNER).status, 200);
    // The region is not checked, nor unsigned headers (the x-mock-* ones go unsigned).
    assert_eq!(
        with(Signer {
            region: "eu-west-3",
            ..SIGNER
        })
        .status,
        200
    );
    let token = Signer {
        token: Some("FQoGZXIvYXdzE-session"),
        ..SIGNER
    };
    assert_eq!(with(token).status, 200, "a signed session token");

    let resp = send(mock.addr, "converse", None, &[], &b);
    assert_error(
        &resp,
        403,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    );
    assert!(resp.header("x-amzn-errortype").unwrap().ends_with(CORAL));
    let wrong_secret = with(Signer {
        secret: "not-the-secret",
        ..SIGNER
    });
    assert_error(
        &wrong_secret,
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match",
    );
    assert_eq!(
        wrong_secret.header("x-amzn-errortype"),
        Some(
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/"
        )
    );
    // The message quotes the canonical request, path encoded twice.
    assert!(
        wrong_secret.json()["message"]
            .as_str()
            .unwrap()
            .contains("/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse"),
        "{}",
        wrong_secret.json()
    );
    // The body changed after signing.
    let tampered = with(Signer {
        body: Some(r#"{"messages":[]}"#),
        ..SIGNER
    });
    assert_error(
        &tampered,
        403,
        "InvalidSignatureException",
        "does not match",
    );
    // The path signed as decoded, not as sent.
    let path = format!("{}/converse", MODEL.replace("%3A", ":"));
    let once = with(Signer {
        path: Some(&path),
        ..SIGNER
    });
    assert_error(&once, 403, "InvalidSignatureException", "does not match");
    // A signed header whose value changed.
    let header = with(Signer {
        content_type: "application/json; charset=utf-8",
        ..SIGNER
    });
    assert_error(&header, 403, "InvalidSignatureException", "does not match");
    assert_error(
        &with(Signer {
            key_id: "AKIDOTHER",
            ..SIGNER
        }),
        403,
        "UnrecognizedClientException",
        "security token included in the request is invalid",
    );
    assert_error(
        &with(Signer {
            service: "s3",
            ..SIGNER
        }),
        403,
        "InvalidSignatureException",
        "scoped to correct service: 'bedrock'",
    );

    // Hand-made headers: a date that is not the scope's, none at all, a token left
    // unsigned, a malformed authorization.
    let path = format!("{MODEL}/converse");
    let raw = |headers: &[(&str, &str)]| {
        Client::connect(mock.addr).roundtrip(&request("POST", &path, headers, &b.to_string()))
    };
    let good = SIGNER.headers(&path, &b.to_string());
    let auth = good[0].1.as_str();
    assert_error(
        &raw(&[("authorization", auth), ("x-amz-date", "20240621T123456Z")]),
        403,
        "InvalidSignatureException",
        "Date in Credential scope does not match",
    );
    assert_error(
        &raw(&[("authorization", auth)]),
        403,
        "IncompleteSignatureException",
        "X-Amz-Date",
    );
    assert_error(
        &raw(&[
            ("authorization", auth),
            ("x-amz-date", "2024-06-20T12:34:56Z"),
        ]),
        403,
        "IncompleteSignatureException",
        "ISO-8601",
    );
    assert_error(
        &raw(&[
            ("authorization", auth),
            ("x-amz-date", "20240620T123456Z"),
            ("x-amz-security-token", "unsigned"),
        ]),
        403,
        "IncompleteSignatureException",
        "x-amz-security-token",
    );
    assert_error(
        &raw(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDMOCK/20240620/us-east-1/bedrock/aws4_request",
            ),
            ("x-amz-date", "20240620T123456Z"),
        ]),
        403,
        "IncompleteSignatureException",
        "requires 'SignedHeaders' parameter",
    );
    assert_error(
        &raw(&[
            ("authorization", "Bearer sk-123"),
            ("x-amz-date", "20240620T123456Z"),
        ]),
        403,
        "IncompleteSignatureException",
        "Unsupported authorization",
    );
    let no_host = auth.replace(
        "SignedHeaders=content-type;host;x-amz-date",
        "SignedHeaders=content-type;x-amz-date",
    );
    assert_error(
        &raw(&[
            ("authorization", &no_host),
            ("x-amz-date", "20240620T123456Z"),
        ]),
        403,
        "IncompleteSignatureException",
        "'host' must be a 'SignedHeader'",
    );
    // Authentication comes before any injected fault.
    let resp = send(mock.addr, "converse", None, &[("x-mock-status", "429")], &b);
    assert_eq!(resp.status, 403);
}

#[test]
fn malformed_requests_are_refused_like_converse() {
    let mock = start_epoll(|_| {});
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut b = body();
        edit(&mut b);
        b
    };
    let user = |text: &str| json!({"role": "user", "content": [{"text": text}]});
    let assistant = |text: &str| json!({"role": "assistant", "content": [{"text": text}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|b| b["modelId"] = json!("m")),
            "extraneous key [modelId] is not permitted",
        ),
        (
            with(&|b| b["max_tokens"] = json!(5)),
            "extraneous key [max_tokens]",
        ),
        (
            with(&|b| drop(b.as_object_mut().unwrap().remove("messages"))),
            "Value null at 'messages'",
        ),
        (
            with(&|b| b["messages"] = json!([])),
            "must start with a user message",
        ),
        (
            with(&|b| b["messages"] = json!([assistant("x"), user("y")])),
            "must start with a user message",
        ),
        (
            with(&|b| b["messages"] = json!([user("x"), user("y")])),
            "must alternate between user and assistant",
        ),
        (
            with(&|b| b["messages"][0]["role"] = json!("system")),
            "messages.0.role",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!("a string")),
            "messages.0.content: expected type: array",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!([])),
            "is empty",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!([{"text": ""}])),
            "The text field in the ContentBlock object at messages.0.content.0 is blank",
        ),
        (
            with(&|b| b["messages"][0]["content"] = json!([{"type": "text", "text": "x"}])),
            "extraneous key [type]",
        ),
        (
            with(&|b| {
                b["messages"][0]["content"] =
                    json!([{"text": "x", "cachePoint": {"type": "default"}}])
            }),
            "exactly one of",
        ),
        (
            with(&|b| {
                b["messages"][0]["content"] =
                    json!([{"image": {"format": "bmp", "source": {"bytes": "AA=="}}}])
            }),
            "messages.0.content.0.image.format",
        ),
        (
            with(&|b| {
                b["messages"][0]["content"] =
                    json!([{"image": {"format": "png", "source": {"bytes": "not base64!"}}}])
            }),
            "base64",
        ),
        (
            with(&|b| {
                b["messages"][0]["content"] =
                    json!([{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}])
            }),
            "a user message cannot hold",
        ),
        (
            with(&|b| b["system"] = json!("be brief")),
            "system: expected type: array",
        ),
        (
            with(&|b| b["inferenceConfig"]["maxTokens"] = json!(0)),
            "inferenceConfig.maxTokens",
        ),
        (
            with(&|b| b["inferenceConfig"]["temperature"] = json!(1.5)),
            "inferenceConfig.temperature",
        ),
        (
            with(&|b| b["inferenceConfig"]["max_tokens"] = json!(5)),
            "inferenceConfig: extraneous key [max_tokens]",
        ),
        (
            with(&|b| b["toolConfig"] = json!({"tools": []})),
            "toolConfig.tools",
        ),
        (
            with(&|b| {
                b["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"type": "object"}}}]})
            }),
            "extraneous key [type]",
        ),
        (
            with(
                &|b| b["toolConfig"] = json!({"tools": [{"toolSpec": {"name": "bad name", "inputSchema": {"json": {"type": "object"}}}}]}),
            ),
            "toolConfig.tools.0.toolSpec.name",
        ),
        (
            with(&|b| {
                b["toolConfig"] = tools();
                b["toolConfig"]["toolChoice"] = json!({"tool": {"name": "nope"}});
            }),
            "toolConfig.toolChoice.tool.name",
        ),
        (
            with(&|b| {
                b["toolConfig"] = tools();
                b["toolConfig"]["toolChoice"] = json!({"type": "auto"});
            }),
            "extraneous key [type]",
        ),
        (
            with(&|b| b["performanceConfig"] = json!({"latency": "fast"})),
            "performanceConfig.latency",
        ),
        (json!([1, 2]), "expected type: object"),
    ];
    for (b, needle) in cases {
        assert_error(
            &converse(mock.addr, &[], &b),
            400,
            "ValidationException",
            needle,
        );
    }
    let path = format!("{MODEL}/converse");
    let junk = "{not json";
    let mut headers = SIGNER.headers(&path, junk);
    headers.push(("x-mock-seed".into(), "1".into()));
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (&**n, &**v)).collect();
    let resp = Client::connect(mock.addr).roundtrip(&request("POST", &path, &headers, junk));
    assert_error(&resp, 400, "ValidationException", "Malformed input request");
    // Validation comes before any injected fault.
    let bad = with(&|b| b["messages"] = json!([]));
    assert_eq!(
        converse(mock.addr, &[("x-mock-status", "500")], &bad).status,
        400
    );
}

/// The history an agent sends back after the call `id`.
fn tool_round(id: &str, result_id: &str) -> Value {
    let mut b = body();
    b["toolConfig"] = tools();
    b["messages"] = json!([
        {"role": "user", "content": [{"text": "Weather in Paris?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"location": "Paris"}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": result_id, "content": [{"json": {"c": 18}}], "status": "success"}}, {"text": "and?"}]},
    ]);
    b
}

#[test]
fn tool_use_whole_and_streamed() {
    let mock = start_epoll(|c| c.chunks = 4);
    let mut b = body();
    b["toolConfig"] = tools();
    let ask = [
        ("x-mock-tool-call", "auto"),
        ("x-mock-parallel-tool-calls", "2"),
        ("x-mock-seed", "5"),
    ];
    let v = converse(mock.addr, &ask, &b).json();
    assert_eq!(v["stopReason"], "tool_use", "{v}");
    let blocks = v["output"]["message"]["content"].as_array().unwrap();
    let calls: Vec<(&str, &str, Value)> = blocks
        .iter()
        .map(|c| {
            let t = &c["toolUse"];
            (
                t["toolUseId"].as_str().unwrap(),
                t["name"].as_str().unwrap(),
                t["input"].clone(),
            )
        })
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].1, &calls[0].2, calls[1].1, &calls[1].2),
        (
            "get_weather",
            &json!({"location": "Paris"}),
            "get_time",
            &json!({"zone": "London"})
        )
    );
    assert!(calls.iter().all(|c| c.0.starts_with("tooluse_")));
    assert_ne!(calls[0].0, calls[1].0);
    assert!(v["usage"]["outputTokens"].as_u64().unwrap() > 0);

    let ev = events(&converse_stream(mock.addr, &ask, &b));
    let n = names(&ev);
    assert_eq!(n[0], "messageStart");
    assert_eq!(&n[n.len() - 2..], ["messageStop", "metadata"]);
    assert_eq!(ev[n.len() - 2].payload["stopReason"], "tool_use");
    for (i, (id, name, input)) in calls.iter().enumerate() {
        let start = ev
            .iter()
            .find(|e| e.name == "contentBlockStart" && e.payload["contentBlockIndex"] == i)
            .expect("a start per call");
        assert_eq!(
            start.payload["start"]["toolUse"],
            json!({"toolUseId": id, "name": name})
        );
        let fragments: Vec<&str> = ev
            .iter()
            .filter(|e| e.name == "contentBlockDelta" && e.payload["contentBlockIndex"] == i)
            .map(|e| e.payload["delta"]["toolUse"]["input"].as_str().unwrap())
            .collect();
        assert_eq!(fragments.len(), 4, "split over the plan's chunks");
        let streamed: Value = serde_json::from_str(&fragments.concat()).unwrap();
        assert_eq!(&streamed, input);
        assert!(ev
            .iter()
            .any(|e| e.name == "contentBlockStop" && e.payload["contentBlockIndex"] == i));
    }

    // A forced tool.
    b["toolConfig"]["toolChoice"] = json!({"tool": {"name": "get_time"}});
    let v = converse(mock.addr, &[("x-mock-tool-call", "auto")], &b).json();
    assert_eq!(
        v["output"]["message"]["content"][0]["toolUse"]["name"],
        "get_time"
    );
    // An undeclared tool named by the header.
    let resp = converse(mock.addr, &[("x-mock-tool-call", "nope")], &b);
    assert_error(&resp, 400, "ValidationException", "nope");

    // The results go back; the answer is text, so the agent loop ends.
    let v = converse(mock.addr, &ask, &tool_round("tooluse_1", "tooluse_1")).json();
    assert_eq!(v["stopReason"], "end_turn", "{v}");
    assert!(v["output"]["message"]["content"][0]["text"].is_string());
    let resp = converse(mock.addr, &ask, &tool_round("tooluse_1", "tooluse_2"));
    assert_error(&resp, 400, "ValidationException", "tooluse_2");
    let mut no_config = tool_round("tooluse_1", "tooluse_1");
    no_config.as_object_mut().unwrap().remove("toolConfig");
    let resp = converse(mock.addr, &[], &no_config);
    assert_error(
        &resp,
        400,
        "ValidationException",
        "toolConfig field must be defined",
    );
}

#[test]
fn faults_take_bedrocks_shape() {
    let mock = start_text(20, 4);
    let b = body();
    let resp = converse(mock.addr, &[("x-mock-status", "429")], &b);
    assert_error(&resp, 429, "ThrottlingException", "Injected");
    assert_eq!(
        resp.header("x-amzn-errortype"),
        Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
    );
    let resp = converse_stream(mock.addr, &[("x-mock-status", "503")], &b);
    assert_error(&resp, 503, "ServiceUnavailableException", "Injected");
    let resp = converse(mock.addr, &[("x-mock-status", "400")], &b);
    assert_error(&resp, 400, "ValidationException", "Injected");
    // stream-error on a whole answer is a 500.
    let resp = converse(mock.addr, &[("x-mock-fault", "stream-error")], &b);
    assert_error(&resp, 500, "InternalServerException", "Injected");

    // In a stream: half the content, then the exception, and the body ends cleanly.
    let ev = events(&converse_stream(
        mock.addr,
        &[("x-mock-fault", "stream-error")],
        &b,
    ));
    assert_eq!(
        names(&ev),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "modelStreamErrorException"
        ]
    );
    let last = ev.last().unwrap();
    assert_eq!(last.kind, MessageType::Exception);
    assert!(last.payload["message"]
        .as_str()
        .unwrap()
        .contains("injected"));
    assert_eq!(last.payload["originalStatusCode"], 500);
    let ev = events(&converse_stream(
        mock.addr,
        &[
            ("x-mock-fault", "stream-error"),
            ("x-mock-stream-exception", "throttlingException"),
        ],
        &b,
    ));
    let last = ev.last().unwrap();
    assert_eq!(
        (last.kind, last.name.as_str()),
        (MessageType::Exception, "throttlingException")
    );
    assert_eq!(last.payload, json!({"message": "Injected by sluice mock."}));

    // die-mid-stream: the connection closes after half the content.
    let resp = converse_stream(mock.addr, &[("x-mock-fault", "die-mid-stream")], &b);
    assert!(!resp.complete);
}
