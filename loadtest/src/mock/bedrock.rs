//! AWS Bedrock Runtime Converse: `POST /model/{modelId}/converse` and
//! `POST /model/{modelId}/converse-stream`.
//!
//! Auth is SigV4, verified against the configured key pair (see `sigv4` for the checks
//! and their exceptions). The model id is the path segment, percent-decoded
//! (`anthropic.claude-3-5-sonnet-20240620-v1%3A0` is `...-v1:0`); any id of 1 to 2048
//! bytes is accepted.
//!
//! Errors are AWS's `restJson1` shape: the status, `x-amzn-errortype:
//! {Exception}:{namespace}` and a body `{"message": "..."}`. Validation failures are
//! 400 `ValidationException`, worded after the API: unknown members anywhere the mock
//! checks are refused (`Malformed input request: ...: extraneous key [x] is not
//! permitted`; `modelId` belongs in the path, not the body), missing ones are `Value null
//! at '...'`. The body is checked as Converse checks it:
//! - `messages`: a non-empty list of `{role, content}`, starting with `user` and
//!   alternating `user`/`assistant` strictly (Converse, unlike Anthropic's API, does not
//!   merge consecutive turns); `content` a non-empty list of content blocks, each an
//!   object with exactly one member: `text` (not blank), `image` (`format` png, jpeg,
//!   gif or webp; `source` `bytes` in base64 or `s3Location`), `toolUse` (assistant
//!   turns; `toolUseId` `[a-zA-Z0-9_-]{1,64}`, `name`, `input` an object),
//!   `toolResult` (user turns; `toolUseId`, `content` a list of `text`/`json`/`image`/
//!   `document`/`video` blocks, `status` success or error), `document`, `video`,
//!   `cachePoint`, `guardContent`, `reasoningContent`, `citationsContent`;
//! - a user turn's `toolResult` ids answer exactly the `toolUse` ids of the assistant
//!   turn before it, and a history with `toolUse` or `toolResult` blocks needs a
//!   `toolConfig` (the rule that makes a gateway declare tools on a follow-up turn);
//! - `system`: a list of `text` (not blank), `guardContent` or `cachePoint` blocks;
//! - `inferenceConfig`: `maxTokens` >= 1, `temperature` and `topP` in 0..=1,
//!   `stopSequences` strings;
//! - `toolConfig`: `tools` a non-empty list of `toolSpec{name, description,
//!   inputSchema{json}}` (the schema an object of type `object`; names unique) or
//!   `cachePoint`; `toolChoice` exactly one of `auto{}`, `any{}`, `tool{name}` naming a
//!   declared tool;
//! - `additionalModelRequestFields`, `guardrailConfig`, `promptVariables`,
//!   `requestMetadata`, `outputConfig`, `serviceTier` objects;
//!   `additionalModelResponseFieldPaths` strings; `performanceConfig.latency` standard or
//!   optimized.
//!
//! Answers: `converse` a JSON `{output:{message:{role, content}}, stopReason, usage,
//! metrics}`; `converse-stream` an `application/vnd.amazon.eventstream` body of binary
//! messages (`:message-type: event`, `:event-type`, `:content-type: application/json`):
//! `messageStart`, then text as `contentBlockDelta{delta:{text}}` (text blocks have no
//! `contentBlockStart`, as on Bedrock) or each tool call as `contentBlockStart{start:
//! {toolUse}}` and `contentBlockDelta{delta:{toolUse:{input}}}` fragments of the
//! arguments' JSON text, `contentBlockStop`, `messageStop{stopReason}` and
//! `metadata{usage, metrics}`. Every event payload carries Bedrock's `p` padding member
//! (letters, a seeded length), which clients must ignore. `latencyMs` is the plan's
//! latency and TTFT, not a measurement, so answers stay deterministic.
//!
//! Faults take Bedrock's shape: an injected status is the exception for it (429
//! `ThrottlingException`, 500 `InternalServerException`, 503
//! `ServiceUnavailableException`, ...); `stream-error` ends the stream with an
//! `exception` message (`:exception-type` from `x-mock-stream-exception`, default
//! `modelStreamErrorException`) carrying `{"message"}`.

use proto::aws::eventstream::{write_message, Header, HeaderValue};
use serde_json::{json, Map, Value};

use super::check::{
    self, array, each, known_members, number, object, one_of, required, string, uint, Checked,
    Invalid, Path, Problem,
};
use super::native::{self, length, Ctx, Decision, Frames};
use super::plan::Plan;
use super::rng::mix;
use super::sigv4::{self, Refusal, CORAL_SERVICE};
use super::tools::{self, Call, Choice, Offer, Tool};
use super::Endpoint;

/// Bedrock's namespace suffix in `x-amzn-errortype` for its own exceptions.
const NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";
/// Bedrock's model id length limit.
const MODEL_ID_BYTES_MAX: usize = 2048;
const EVENT_STREAM: &[u8] = b"application/vnd.amazon.eventstream";

const TOP_LEVEL: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
    "outputConfig",
    "serviceTier",
];
const BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "video",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
];
const RESULT_BLOCKS: &[&str] = &["text", "json", "image", "document", "video"];
const IMAGE_FORMATS: &[&str] = &["png", "jpeg", "gif", "webp"];
const START: &str = "A conversation must start with a user message. Try again with a conversation that starts with a user message.";
const ALTERNATE: &str = "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.";

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    if let Err(r) = sigv4::verify(ctx, &ctx.aws) {
        return refused(r);
    }
    let model = ctx
        .route
        .model
        .map_or_else(String::new, |s| sigv4::decode(s.of(ctx.buf)));
    if model.is_empty() || model.len() > MODEL_ID_BYTES_MAX {
        return validation(&format!("1 validation error detected: Value at 'modelId' failed to satisfy constraint: Member must have length between 1 and {MODEL_ID_BYTES_MAX}"));
    }
    let body = match ctx.json() {
        Ok(v) => v,
        Err(_) => {
            return validation("Malformed input request, please reformat your input and try again.")
        }
    };
    let req = match request(&body) {
        Ok(r) => r,
        Err(invalid) => return validation(&message(&invalid)),
    };
    match tools::calls(ctx.tool_ask(), ctx.plan.tool_calls, &req.offer) {
        Ok(calls) => answer(ctx, &req, &calls),
        Err(e) => validation(&e),
    }
}

fn reject(status: u16, exception: &str, namespace: &str, message: &str) -> Decision {
    Decision::Reject {
        status,
        body: json!({ "message": message }).to_string().into_bytes(),
        error_type: Some(format!("{exception}:{namespace}")),
    }
}

fn refused(r: Refusal) -> Decision {
    reject(r.status, r.exception, CORAL_SERVICE, &r.message)
}

fn validation(message: &str) -> Decision {
    reject(400, "ValidationException", NAMESPACE, message)
}

/// An injected `status`: the `x-amzn-errortype` value and the body.
pub(crate) fn fault(status: u16, message: &str) -> (String, Value) {
    let exception = match status {
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        409 => "ConflictException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        s if s >= 500 => "InternalServerException",
        _ => "ValidationException",
    };
    (
        format!("{exception}:{NAMESPACE}"),
        json!({ "message": message }),
    )
}

/// Worded after the API's validation messages.
fn message(invalid: &Invalid) -> String {
    let path = invalid.path.dotted();
    match &invalid.problem {
        Problem::Missing => format!(
            "1 validation error detected: Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ),
        Problem::Type(t) => format!("Malformed input request: {path}: expected type: {t}"),
        Problem::Unknown => {
            let key = invalid.path.last_key().unwrap_or_default();
            let at = invalid.path.parent().dotted();
            let at = if at.is_empty() { "#".into() } else { at };
            format!("Malformed input request: {at}: extraneous key [{key}] is not permitted")
        }
        Problem::Value(s) if path.is_empty() => s.clone(),
        Problem::Value(s) => format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: {s}"
        ),
    }
}

/// A message that names its own place: refused as is, without a path prefix.
fn plain<T>(message: String) -> Checked<T> {
    check::value(&Path::root(), message)
}

struct Request<'a> {
    max_tokens: Option<u64>,
    offer: Offer<'a>,
}

fn request(body: &Value) -> Checked<Request<'_>> {
    let root = Path::root();
    let o = object(body, &root)?;
    known_members(o, &root, TOP_LEVEL)?;
    let history = conversation(o, &root)?;
    each(o, "system", &root, |b, bp| {
        let (kind, v) = union(b, bp, &["text", "guardContent", "cachePoint"])?;
        match kind {
            "text" => text(v, bp, "SystemContentBlock"),
            _ => object(v, &bp.key(kind)).map(drop),
        }
    })?;
    let max_tokens = inference(o, &root)?;
    let (tools, choice) = tool_config(o, &root)?;
    if history.tool_blocks && !o.contains_key("toolConfig") {
        return plain(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                .into(),
        );
    }
    others(o, &root)?;
    Ok(Request {
        max_tokens,
        offer: Offer {
            tools,
            choice,
            user_turn: history.user_turn,
        },
    })
}

/// What the conversation says about tools.
struct History {
    /// The last turn is a user turn without tool results.
    user_turn: bool,
    /// Some turn holds a `toolUse` or `toolResult` block.
    tool_blocks: bool,
}

#[derive(Default)]
struct Turn<'a> {
    user: bool,
    /// The message's path, for messages about it.
    path: Path,
    tool_uses: Vec<&'a str>,
    tool_results: Vec<&'a str>,
}

fn conversation<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<History> {
    let p = root.key("messages");
    let messages = array(required(o, "messages", root)?, &p)?;
    if messages.is_empty() {
        return plain(START.into());
    }
    let mut turns: Vec<Turn<'a>> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let mp = p.at(i);
        let mo = object(m, &mp)?;
        known_members(mo, &mp, &["role", "content"])?;
        let role = required(mo, "role", &mp)?;
        let user = one_of(role, &mp.key("role"), &["user", "assistant"])? == "user";
        if i == 0 && !user {
            return plain(START.into());
        }
        if turns.last().is_some_and(|t| t.user == user) {
            return plain(ALTERNATE.into());
        }
        let mut turn = Turn {
            user,
            path: mp.clone(),
            ..Turn::default()
        };
        content(mo, &mp, &mut turn)?;
        turns.push(turn);
    }
    let none = Turn::default();
    for (i, t) in turns.iter().enumerate().filter(|(_, t)| t.user) {
        answered(if i == 0 { &none } else { &turns[i - 1] }, t)?;
    }
    let last = turns.last().expect("messages is not empty");
    Ok(History {
        user_turn: last.user && last.tool_results.is_empty(),
        tool_blocks: turns
            .iter()
            .any(|t| !t.tool_uses.is_empty() || !t.tool_results.is_empty()),
    })
}

/// A user turn's tool results answer exactly the tool uses of the turn before.
fn answered(before: &Turn, after: &Turn) -> Checked<()> {
    let at = after.path.key("content").dotted();
    if after.tool_results.len() > before.tool_uses.len() {
        return plain(format!("The number of toolResult blocks at {at} exceeds the number of toolUse blocks of previous turn."));
    }
    if let Some(id) = after
        .tool_results
        .iter()
        .find(|id| !before.tool_uses.contains(id))
    {
        return plain(format!("The toolUseId {id} of a toolResult block at {at} does not match any toolUse block of the previous turn."));
    }
    let missing: Vec<&str> = before
        .tool_uses
        .iter()
        .copied()
        .filter(|id| !after.tool_results.contains(id))
        .collect();
    if !missing.is_empty() {
        return plain(format!(
            "Expected toolResult blocks at {at} for the following Ids: {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// A message's content blocks, recorded into its turn.
fn content<'a>(mo: &'a Map<String, Value>, mp: &Path, turn: &mut Turn<'a>) -> Checked<()> {
    let p = mp.key("content");
    let blocks = array(required(mo, "content", mp)?, &p)?;
    if blocks.is_empty() {
        return plain(format!("The content field in the Message object at {} is empty. Add a ContentBlock object to the content field and try again.", mp.dotted()));
    }
    for (j, b) in blocks.iter().enumerate() {
        let bp = p.at(j);
        let (kind, v) = union(b, &bp, BLOCKS)?;
        let vp = bp.key(kind);
        let wrong_role = match kind {
            "toolUse" | "reasoningContent" => turn.user,
            "toolResult" => !turn.user,
            _ => false,
        };
        if wrong_role {
            let role = if turn.user { "user" } else { "assistant" };
            return plain(format!(
                "The ContentBlock at {} holds a {kind} block, which a {role} message cannot hold.",
                bp.dotted()
            ));
        }
        match kind {
            "text" => text(v, &bp, "ContentBlock")?,
            "image" => image(v, &vp)?,
            "toolUse" => turn.tool_uses.push(tool_use(v, &vp)?),
            "toolResult" => turn.tool_results.push(tool_result(v, &vp)?),
            _ => {
                object(v, &vp)?;
            }
        }
    }
    Ok(())
}

/// An object with exactly one member, one of `allowed`: that member's name and value.
fn union<'a>(v: &'a Value, p: &Path, allowed: &[&str]) -> Checked<(&'a str, &'a Value)> {
    let o = object(v, p)?;
    known_members(o, p, allowed)?;
    let mut members = o.iter();
    match (members.next(), members.next()) {
        (Some((k, v)), None) => Ok((k, v)),
        _ => check::value(
            p,
            format!(
                "Member must have exactly one of {} set, got {}",
                allowed.join(", "),
                o.len()
            ),
        ),
    }
}

/// A `text` member (of the block at `p`) that is a non-blank string.
fn text(v: &Value, p: &Path, what: &str) -> Checked<()> {
    if string(v, &p.key("text"))?.trim().is_empty() {
        return plain(format!(
            "The text field in the {what} object at {} is blank. Add text to the text field, and try again.",
            p.dotted()
        ));
    }
    Ok(())
}

fn image(v: &Value, p: &Path) -> Checked<()> {
    let o = object(v, p)?;
    known_members(o, p, &["format", "source"])?;
    one_of(required(o, "format", p)?, &p.key("format"), IMAGE_FORMATS)?;
    let sp = p.key("source");
    let (kind, source) = union(required(o, "source", p)?, &sp, &["bytes", "s3Location"])?;
    if kind == "s3Location" {
        return object(source, &sp.key(kind)).map(drop);
    }
    let bytes = string(source, &sp.key("bytes"))?;
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if bytes.is_empty() || !bytes.bytes().all(base64) {
        return check::value(
            &sp.key("bytes"),
            "Member must be base64-encoded image bytes",
        );
    }
    Ok(())
}

/// `[a-zA-Z0-9_-]{1,64}`.
fn tool_use_id<'a>(o: &'a Map<String, Value>, p: &Path) -> Checked<&'a str> {
    let ip = p.key("toolUseId");
    let id = string(required(o, "toolUseId", p)?, &ip)?;
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if id.is_empty() || id.len() > 64 || !id.bytes().all(ok) {
        return check::value(
            &ip,
            format!("Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length between 1 and 64, got {id:?}"),
        );
    }
    Ok(id)
}

fn tool_use<'a>(v: &'a Value, p: &Path) -> Checked<&'a str> {
    let o = object(v, p)?;
    known_members(o, p, &["toolUseId", "name", "input", "type"])?;
    let id = tool_use_id(o, p)?;
    check::tool_name(required(o, "name", p)?, &p.key("name"), b"")?;
    object(required(o, "input", p)?, &p.key("input"))?;
    Ok(id)
}

fn tool_result<'a>(v: &'a Value, p: &Path) -> Checked<&'a str> {
    let o = object(v, p)?;
    known_members(o, p, &["toolUseId", "content", "status", "type"])?;
    let id = tool_use_id(o, p)?;
    array(required(o, "content", p)?, &p.key("content"))?;
    each(o, "content", p, |b, bp| {
        let (kind, v) = union(b, bp, RESULT_BLOCKS)?;
        match kind {
            "text" => string(v, &bp.key(kind)).map(drop),
            "json" => Ok(()),
            "image" => image(v, &bp.key(kind)),
            _ => object(v, &bp.key(kind)).map(drop),
        }
    })?;
    if let Some(s) = o.get("status") {
        one_of(s, &p.key("status"), &["success", "error"])?;
    }
    Ok(id)
}

/// `inferenceConfig`; its `maxTokens`.
fn inference(o: &Map<String, Value>, root: &Path) -> Checked<Option<u64>> {
    let Some(v) = o.get("inferenceConfig") else {
        return Ok(None);
    };
    let p = root.key("inferenceConfig");
    let c = object(v, &p)?;
    known_members(
        c,
        &p,
        &["maxTokens", "temperature", "topP", "stopSequences"],
    )?;
    for k in ["temperature", "topP"] {
        if let Some(x) = c.get(k) {
            number(x, &p.key(k), 0.0, 1.0)?;
        }
    }
    each(c, "stopSequences", &p, |s, sp| string(s, sp).map(drop))?;
    c.get("maxTokens")
        .map(|m| uint(m, &p.key("maxTokens"), 1))
        .transpose()
}

fn tool_config<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<(Vec<Tool<'a>>, Choice<'a>)> {
    let Some(v) = o.get("toolConfig") else {
        return Ok((Vec::new(), Choice::Auto));
    };
    let p = root.key("toolConfig");
    let c = object(v, &p)?;
    known_members(c, &p, &["tools", "toolChoice"])?;
    let tp = p.key("tools");
    if array(required(c, "tools", &p)?, &tp)?.is_empty() {
        return check::value(&tp, "Member must have length greater than or equal to 1");
    }
    let mut tools: Vec<Tool<'a>> = Vec::new();
    each(c, "tools", &p, |t, tp| {
        let (kind, v) = union(t, tp, &["toolSpec", "cachePoint", "systemTool"])?;
        let sp = tp.key(kind);
        if kind != "toolSpec" {
            return object(v, &sp).map(drop);
        }
        let spec = object(v, &sp)?;
        known_members(spec, &sp, &["name", "description", "inputSchema", "strict"])?;
        let name = check::tool_name(required(spec, "name", &sp)?, &sp.key("name"), b"")?;
        if tools.iter().any(|t| t.name == name) {
            return plain(format!(
                "The tool name {name} is not unique in toolConfig.tools."
            ));
        }
        if let Some(d) = spec.get("description") {
            if string(d, &sp.key("description"))?.is_empty() {
                return check::value(
                    &sp.key("description"),
                    "Member must have length greater than or equal to 1",
                );
            }
        }
        let ip = sp.key("inputSchema");
        let (_, schema) = union(required(spec, "inputSchema", &sp)?, &ip, &["json"])?;
        let jp = ip.key("json");
        let so = object(schema, &jp)?;
        one_of(required(so, "type", &jp)?, &jp.key("type"), &["object"])?;
        tools.push(Tool {
            name,
            schema: Some(schema),
        });
        Ok(())
    })?;
    let choice = match c.get("toolChoice") {
        None => Choice::Auto,
        Some(v) => {
            let cp = p.key("toolChoice");
            let (kind, inner) = union(v, &cp, &["auto", "any", "tool"])?;
            let ip = cp.key(kind);
            let io = object(inner, &ip)?;
            match kind {
                "auto" | "any" => {
                    known_members(io, &ip, &[])?;
                    if kind == "any" {
                        Choice::Required
                    } else {
                        Choice::Auto
                    }
                }
                _ => {
                    known_members(io, &ip, &["name"])?;
                    let name = string(required(io, "name", &ip)?, &ip.key("name"))?;
                    if !tools.iter().any(|t| t.name == name) {
                        return check::value(
                            &ip.key("name"),
                            format!("the tool {name:?} is not declared in toolConfig.tools"),
                        );
                    }
                    Choice::Named(name)
                }
            }
        }
    };
    Ok((tools, choice))
}

/// The top-level members the mock only type-checks.
fn others(o: &Map<String, Value>, root: &Path) -> Checked<()> {
    for k in [
        "additionalModelRequestFields",
        "guardrailConfig",
        "promptVariables",
        "requestMetadata",
        "outputConfig",
        "serviceTier",
    ] {
        if let Some(v) = o.get(k) {
            object(v, &root.key(k))?;
        }
    }
    each(o, "additionalModelResponseFieldPaths", root, |s, sp| {
        string(s, sp).map(drop)
    })?;
    if let Some(v) = o.get("performanceConfig") {
        let p = root.key("performanceConfig");
        let c = object(v, &p)?;
        known_members(c, &p, &["latency"])?;
        if let Some(l) = c.get("latency") {
            one_of(l, &p.key("latency"), &["standard", "optimized"])?;
        }
    }
    Ok(())
}

fn answer(ctx: &Ctx, req: &Request, calls: &[Call]) -> Decision {
    let plan = ctx.plan;
    let len = length(plan, req.max_tokens);
    let (stop_reason, output) = native::ending(len, calls, ["tool_use", "max_tokens", "end_turn"]);
    let input = ctx.prompt_tokens();
    let tail = Tail {
        stop_reason,
        usage: json!({
            "inputTokens": input,
            "outputTokens": output,
            "totalTokens": input + output,
        }),
        metrics: json!({ "latencyMs": (plan.latency + plan.ttft).as_millis() as u64 }),
    };
    if ctx.route.endpoint == Endpoint::ConverseStream {
        return Decision::Stream(stream(ctx, calls, len.words, tail));
    }
    let content: Vec<Value> = if calls.is_empty() {
        vec![json!({ "text": native::text(plan.seed, len.words) })]
    } else {
        let blocks = calls.iter().enumerate();
        blocks
            .map(|(i, c)| {
                json!({"toolUse": {
                    "toolUseId": call_id(plan, i),
                    "name": c.name,
                    "input": c.arguments,
                }})
            })
            .collect()
    };
    Decision::json(&json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": tail.stop_reason,
        "usage": tail.usage,
        "metrics": tail.metrics,
    }))
}

/// What ends an answer, whole or streamed.
struct Tail<'a> {
    stop_reason: &'a str,
    usage: Value,
    metrics: Value,
}

fn call_id(plan: &Plan, i: usize) -> String {
    tools::call_id("tooluse_", plan.seed, i)
}

fn stream(ctx: &Ctx, calls: &[Call], words: u32, tail: Tail) -> Frames {
    let plan = ctx.plan;
    let mut e = Events {
        frames: Frames::new(EVENT_STREAM),
        seed: plan.seed,
    };
    e.send("messageStart", json!({"role": "assistant"}));
    if calls.is_empty() {
        e.frames.content_start();
        for piece in native::text_pieces(plan.seed, words, plan.chunks) {
            e.send(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
            );
        }
        e.frames.content_end();
        e.send("contentBlockStop", json!({"contentBlockIndex": 0}));
    } else {
        for (i, call) in calls.iter().enumerate() {
            e.send(
                "contentBlockStart",
                json!({"contentBlockIndex": i, "start": {"toolUse": {
                    "toolUseId": call_id(plan, i),
                    "name": call.name,
                }}}),
            );
            if i == 0 {
                e.frames.content_start();
            }
            for piece in tools::fragments(&call.arguments_json(), plan.chunks) {
                e.send(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"toolUse": {"input": piece}}}),
                );
            }
            if i + 1 == calls.len() {
                e.frames.content_end();
            }
            e.send("contentBlockStop", json!({"contentBlockIndex": i}));
        }
    }
    e.send("messageStop", json!({"stopReason": tail.stop_reason}));
    e.send(
        "metadata",
        json!({"usage": tail.usage, "metrics": tail.metrics}),
    );
    let exception = ctx
        .header(b"x-mock-stream-exception")
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("modelStreamErrorException");
    let mut frame = Vec::new();
    exception_message(exception, &mut frame);
    e.frames.set_error(frame);
    e.frames
}

/// An `exception` message named `name`, as ConverseStream sends a failure mid-stream.
fn exception_message(name: &str, out: &mut Vec<u8>) {
    let payload = if name == "modelStreamErrorException" {
        json!({
            "message": "The model stream failed (injected by sluice mock).",
            "originalStatusCode": 500,
            "originalMessage": "Injected by sluice mock.",
        })
    } else {
        json!({"message": "Injected by sluice mock."})
    };
    let headers = [
        string_header(b":exception-type", name.as_bytes()),
        string_header(b":content-type", b"application/json"),
        string_header(b":message-type", b"exception"),
    ];
    write_message(&headers, payload.to_string().as_bytes(), out);
}

fn string_header<'a>(name: &'a [u8], value: &'a [u8]) -> Header<'a> {
    Header {
        name,
        value: HeaderValue::String(value),
    }
}

/// Bedrock's padding alphabet: `p` is a prefix of it.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Event messages, each one frame.
struct Events {
    frames: Frames,
    seed: u64,
}

impl Events {
    fn send(&mut self, event_type: &str, mut payload: Value) {
        let n = self.frames.len() as u64;
        let pad = (mix(self.seed ^ mix(n + 1)) % PADDING.len() as u64) as usize + 1;
        payload["p"] = json!(&PADDING[..pad]);
        let headers = [
            string_header(b":event-type", event_type.as_bytes()),
            string_header(b":content-type", b"application/json"),
            string_header(b":message-type", b"event"),
        ];
        let mut out = Vec::new();
        write_message(&headers, payload.to_string().as_bytes(), &mut out);
        self.frames.raw(&out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(body: Value) -> String {
        message(&request(&body).err().expect("refused"))
    }

    fn user(text: &str) -> Value {
        json!({"role": "user", "content": [{"text": text}]})
    }

    #[test]
    fn conversations() {
        let ok = json!({"messages": [user("hi")]});
        assert!(request(&ok).unwrap().offer.user_turn);
        assert!(refused(json!({"messages": []})).starts_with("A conversation must start"));
        assert!(refused(json!({"messages": [user("a"), user("b")]})).contains("alternate"));
        assert!(refused(json!({"messages": [user(" ")]})).contains("is blank"));
        assert_eq!(
            refused(json!({"messages": [user("a")], "modelId": "m"})),
            "Malformed input request: #: extraneous key [modelId] is not permitted"
        );
        assert_eq!(
            refused(json!({"system": []})),
            "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null"
        );
        assert!(refused(
            json!({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]})
        )
        .contains("exactly one of"));
    }

    #[test]
    fn tool_histories() {
        let tools = json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]});
        let call = |id: &str| json!({"role": "assistant", "content": [{"toolUse": {"toolUseId": id, "name": "f", "input": {}}}]});
        let result = |id: &str| json!({"role": "user", "content": [{"toolResult": {"toolUseId": id, "content": [{"text": "ok"}]}}]});
        let good = json!({"messages": [user("q"), call("a"), result("a")], "toolConfig": tools});
        let r = request(&good).unwrap();
        assert!(!r.offer.user_turn, "ends with a tool result");
        let mut no_config = good.clone();
        no_config.as_object_mut().unwrap().remove("toolConfig");
        assert!(refused(no_config).contains("toolConfig field must be defined"));
        let wrong = json!({"messages": [user("q"), call("a"), result("b")], "toolConfig": tools});
        assert!(refused(wrong).contains("toolUseId b"));
        let unanswered =
            json!({"messages": [user("q"), call("a"), user("more")], "toolConfig": tools});
        assert_eq!(
            refused(unanswered),
            "Expected toolResult blocks at messages.2.content for the following Ids: a"
        );
        let first = json!({"messages": [result("a")], "toolConfig": tools});
        assert!(refused(first).contains("exceeds the number of toolUse blocks"));
        let bad_id =
            json!({"messages": [user("q"), call("call:1"), result("call:1")], "toolConfig": tools});
        assert!(refused(bad_id).contains("messages.1.content.0.toolUse.toolUseId"));
    }

    #[test]
    fn faults_name_the_exception() {
        assert!(fault(429, "x").0.starts_with("ThrottlingException:"));
        assert!(fault(502, "x").0.starts_with("InternalServerException:"));
        assert_eq!(fault(400, "x").1, json!({"message": "x"}));
    }
}
