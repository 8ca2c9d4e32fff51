//! The cold path: requests in a provider's native format (Anthropic, Gemini, Azure
//! OpenAI, Bedrock Converse, the OpenAI Responses API) and OpenAI chat requests that ask
//! for a tool call.
//!
//! These are parsed with serde_json and validated the way the provider would, so a
//! gateway that translates wrongly is refused here as it would be in production. A
//! format's module turns a request into a [`Decision`]: a rejection in the provider's
//! error shape, a whole JSON answer, pre-rendered stream [`Frames`], or "answer on the
//! fast OpenAI path" (Azure without tool calls). The connection then applies the plan's
//! latency, faults and pacing to it exactly as to the OpenAI endpoints.
//!
//! Nothing here runs for the plain OpenAI endpoints, which the benchmarks use: they are
//! answered from the request bytes without building a tree (see `conn.rs`).

use proto::http1::{HeaderSpan, RequestHead};
use proto::openai::synth::{chunk_end, FinishReason, Words};
use proto::sse::write_event;
use serde_json::Value;

use super::plan::Plan;
use super::route::{query, Route};
use super::tools::{self, Call};
use super::{anthropic, azure, bedrock, gemini, openai, responses, Endpoint};

/// Whose error shapes and auth rules a route follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    Azure,
    Anthropic,
    Gemini,
    Bedrock,
}

/// One request as the native formats see it.
pub(crate) struct Ctx<'a> {
    /// The request buffer: the head's spans point into it.
    pub buf: &'a [u8],
    pub head: &'a RequestHead,
    pub headers: &'a [HeaderSpan],
    pub body: &'a [u8],
    pub route: Route,
    pub plan: &'a Plan,
    /// Unix seconds written as the response's creation time.
    pub created: u64,
    /// The AWS key id and secret the Bedrock endpoints verify signatures with.
    pub aws: Aws<'a>,
}

/// The one AWS credential pair the mock accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Aws<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
}

impl<'a> Ctx<'a> {
    /// The first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.of(self.buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.of(self.buf))
    }

    /// A header that is present and not blank.
    pub fn credential(&self, name: &[u8]) -> bool {
        self.header(name)
            .is_some_and(|v| v.iter().any(|b| !b.is_ascii_whitespace()))
    }

    pub fn query(&self, name: &[u8]) -> Option<&'a [u8]> {
        query(self.head.target.of(self.buf), name)
    }

    /// The model named by the path (Azure deployment, Gemini model, Bedrock model id as
    /// sent, percent-encoded).
    pub fn path_model(&self) -> String {
        self.route.model.map_or_else(String::new, |s| {
            String::from_utf8_lossy(s.of(self.buf)).into_owned()
        })
    }

    /// The `x-mock-tool-call` value.
    pub fn tool_ask(&self) -> Option<&'a [u8]> {
        self.plan.tool_call.map(|s| s.of(self.buf))
    }

    pub fn prompt_tokens(&self) -> u32 {
        proto::openai::synth::prompt_tokens_estimate(self.body)
    }

    pub fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(self.body)
    }
}

/// What the connection should answer.
pub(crate) enum Decision {
    /// Answer on the fast OpenAI path; the route's model, if any, replaces the body's.
    Fast,
    /// Refuse, before any injected fault applies: the status and the provider's body.
    Reject {
        status: u16,
        body: Vec<u8>,
        /// Bedrock's `x-amzn-errortype` header value.
        error_type: Option<String>,
    },
    /// A whole 200 JSON body.
    Json(Vec<u8>),
    Stream(Frames),
}

impl Decision {
    pub fn reject(status: u16, body: Value) -> Decision {
        Decision::Reject {
            status,
            body: body.to_string().into_bytes(),
            error_type: None,
        }
    }

    pub fn json(body: &Value) -> Decision {
        Decision::Json(body.to_string().into_bytes())
    }
}

/// Whether a request takes the cold path.
pub(crate) fn is_native(endpoint: Endpoint, plan: &Plan) -> bool {
    match endpoint.dialect() {
        Dialect::OpenAi => {
            endpoint == Endpoint::Responses
                || (endpoint == Endpoint::ChatCompletions && plan.tool_call.is_some())
        }
        Dialect::Azure | Dialect::Anthropic | Dialect::Gemini | Dialect::Bedrock => true,
    }
}

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    match ctx.route.endpoint.dialect() {
        Dialect::Anthropic => anthropic::decide(ctx),
        Dialect::Gemini => gemini::decide(ctx),
        Dialect::Azure => azure::decide(ctx),
        Dialect::Bedrock => bedrock::decide(ctx),
        Dialect::OpenAi if ctx.route.endpoint == Endpoint::Responses => responses::decide(ctx),
        Dialect::OpenAi => openai::decide_chat(ctx, None),
    }
}

/// The body `dialect` answers an injected `status` with, into `out`; and Bedrock's
/// `x-amzn-errortype` header value.
pub(crate) fn fault_body(
    out: &mut Vec<u8>,
    dialect: Dialect,
    status: u16,
    seed: u64,
) -> Option<String> {
    const MESSAGE: &str = "Injected by sluice mock.";
    let mut error_type = None;
    let body = match dialect {
        Dialect::OpenAi => {
            super::respond::error_body(out, status);
            return None;
        }
        Dialect::Azure => azure::error(status, MESSAGE),
        Dialect::Anthropic => anthropic::error(status, MESSAGE, seed),
        Dialect::Gemini => gemini::error(status, MESSAGE),
        Dialect::Bedrock => {
            let (kind, body) = bedrock::fault(status, MESSAGE);
            error_type = Some(kind);
            body
        }
    };
    out.extend_from_slice(body.to_string().as_bytes());
    error_type
}

/// How long the text answer is: the plan's words, clamped to the request's own output
/// limit (`max`), and whether that limit cut it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Length {
    pub words: u32,
    pub truncated: bool,
}

pub(crate) fn length(plan: &Plan, max: Option<u64>) -> Length {
    let mut len = Length {
        words: plan.completion_tokens,
        truncated: plan.finish == FinishReason::Length,
    };
    if let Some(max) = max {
        if len.words as u64 > max {
            len = Length {
                words: max as u32,
                truncated: true,
            };
        }
    }
    len
}

/// How an answer ends, in a format's words, and its output tokens. `names` are the
/// format's words for (tool calls, cut by the output limit, complete).
pub(crate) fn ending<'a>(len: Length, calls: &[Call], names: [&'a str; 3]) -> (&'a str, u32) {
    if !calls.is_empty() {
        (names[0], tools::tokens(calls))
    } else if len.truncated {
        (names[1], len.words)
    } else {
        (names[2], len.words)
    }
}

/// The whole synthetic text: the same words the OpenAI endpoints write for this seed.
pub(crate) fn text(seed: u64, words: u32) -> String {
    let mut out = Vec::new();
    Words::new(seed, words).write_until(&mut out, words);
    String::from_utf8(out).expect("synthetic text is ASCII")
}

/// The text cut into `chunks` stream pieces, as the OpenAI streams cut it.
pub(crate) fn text_pieces(seed: u64, words: u32, chunks: u32) -> Vec<String> {
    let mut w = Words::new(seed, words);
    (1..=chunks.max(1))
        .map(|k| {
            let mut out = Vec::new();
            w.write_until(&mut out, chunk_end(k, words, chunks));
            String::from_utf8(out).expect("synthetic text is ASCII")
        })
        .collect()
}

/// An `event: error` SSE frame carrying `body`: what Anthropic and the Responses API
/// send inside a 200 stream that fails.
pub(crate) fn error_event(body: &Value) -> Vec<u8> {
    let mut frame = Vec::new();
    write_event(&mut frame, Some(b"error"), body.to_string().as_bytes());
    frame
}

/// `prefix` and 24 hex digits of the response seed: an id in the provider's style.
pub(crate) fn id(prefix: &str, seed: u64) -> String {
    tools::call_id(prefix, seed, usize::MAX)
}

/// Where a cut stream (`die-mid-stream`, `stream-error`) stops: after the frames before
/// the content and half the content frames.
pub(crate) fn cut(first_content: u32, content: u32) -> u32 {
    first_content + content.div_ceil(2)
}

/// A stream rendered ahead: its frames back to back, which of them carry content (paced
/// by the plan and halved by cut faults), and the frame a `stream-error` fault sends.
pub(crate) struct Frames {
    bytes: Vec<u8>,
    /// Frame `i` is `bytes[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<usize>,
    first_content: u32,
    content: u32,
    error: Vec<u8>,
    content_type: &'static [u8],
    next: usize,
}

impl Frames {
    pub fn new(content_type: &'static [u8]) -> Frames {
        Frames {
            bytes: Vec::new(),
            ends: Vec::new(),
            first_content: 0,
            content: 0,
            error: Vec::new(),
            content_type,
            next: 0,
        }
    }

    pub fn sse() -> Frames {
        Frames::new(b"text/event-stream")
    }

    /// One SSE event: an optional `event:` line and the JSON data.
    pub fn event(&mut self, name: Option<&str>, data: &Value) {
        write_event(
            &mut self.bytes,
            name.map(str::as_bytes),
            data.to_string().as_bytes(),
        );
        self.ends.push(self.bytes.len());
    }

    /// One frame of raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.ends.push(self.bytes.len());
    }

    /// Frames pushed from here to [`content_end`](Frames::content_end) carry content.
    pub fn content_start(&mut self) {
        self.first_content = self.ends.len() as u32;
    }

    pub fn content_end(&mut self) {
        self.content = self.ends.len() as u32 - self.first_content;
    }

    /// The index of the frame a cut fault stops before, for formats that number events.
    pub fn cut(&self) -> u32 {
        cut(self.first_content, self.content)
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Frames pushed so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn set_error(&mut self, frame: Vec<u8>) {
        self.error = frame;
    }

    pub fn error(&self) -> &[u8] {
        &self.error
    }

    /// `(first content frame, content frames)`.
    pub fn shape(&self) -> (u32, u32) {
        (self.first_content, self.content)
    }

    pub fn content_type(&self) -> &'static [u8] {
        self.content_type
    }

    /// Append the next frame; false once all were given.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(&end) = self.ends.get(self.next) else {
            return false;
        };
        let start = if self.next == 0 {
            0
        } else {
            self.ends[self.next - 1]
        };
        out.extend_from_slice(&self.bytes[start..end]);
        self.next += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_text() {
        for (words, chunks) in [(23, 5), (3, 8), (0, 2), (40, 1)] {
            let pieces = text_pieces(9, words, chunks);
            assert_eq!(pieces.len(), chunks as usize);
            assert_eq!(
                pieces.concat(),
                text(9, words),
                "{words} words, {chunks} chunks"
            );
        }
        assert_eq!(text(9, 5).split(' ').count(), 5);
    }

    #[test]
    fn frames_replay_in_order_with_their_shape() {
        let mut f = Frames::sse();
        f.event(Some("start"), &serde_json::json!({"a": 1}));
        f.content_start();
        f.raw(b"x");
        f.raw(b"yz");
        f.content_end();
        f.raw(b"end");
        assert_eq!(f.shape(), (1, 2));
        assert_eq!(f.cut(), 2);
        let mut out = Vec::new();
        let mut n = 0;
        while f.next_frame(&mut out) {
            n += 1;
        }
        assert_eq!(n, 4);
        assert_eq!(out, b"event: start\ndata: {\"a\":1}\n\nxyzend");
    }

    #[test]
    fn length_clamps_to_the_request_limit() {
        let plan = Plan {
            seed: 0,
            latency: Default::default(),
            ttft: Default::default(),
            interval: Default::default(),
            chunks: 1,
            completion_tokens: 50,
            finish: FinishReason::Stop,
            fault: super::super::plan::Fault::None,
            tool_call: None,
            tool_calls: 1,
        };
        assert_eq!(
            length(&plan, Some(10)),
            Length {
                words: 10,
                truncated: true
            }
        );
        assert_eq!(
            length(&plan, None),
            Length {
                words: 50,
                truncated: false
            }
        );
    }
}
