//! Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//!
//! Auth is `x-api-key` (any non-blank value; 401 `authentication_error` without it), and
//! `anthropic-version` is required (400 without it). The body is checked as the API does:
//! unknown top-level members are refused ("Extra inputs are not permitted"), `model` and
//! `max_tokens` (an integer >= 1; not for count_tokens) are required, `messages` is a
//! non-empty list of `user`/`assistant` turns starting with `user`, `system` is a string
//! or a list of text blocks, and content is a string or a list of typed blocks (`text`,
//! `image` with a base64/url/file source, `tool_use` in assistant turns, `tool_result`
//! in user turns, `document`, `thinking`, ...). Consecutive turns of the same role are
//! accepted and read as one turn, as the API reference says the API combines them. A user
//! turn's `tool_result` blocks must come before its other blocks and answer `tool_use`
//! ids of the assistant turn just before it, and every `tool_use` of an assistant turn
//! that is followed by a user turn must be answered there. `temperature` and `top_p` are
//! in `0..=1`. Tools need a name and an `input_schema` of type `object` (server tools,
//! which carry their own `type`, need only a name); `tool_choice` is `{type: auto | any |
//! tool | none}`, `tool` naming a declared tool.
//!
//! Answers are a `message` object, or with `"stream": true` the event stream
//! `message_start`, `content_block_start`, `ping`, `content_block_delta` (`text_delta`,
//! or `input_json_delta` fragments for tool calls), `content_block_stop`,
//! `message_delta` (stop reason and output tokens), `message_stop`. A `stream-error`
//! fault sends `event: error` with an `overloaded_error` in place of the rest.

use serde_json::{json, Map, Value};

use super::check::{
    self, array, boolean, each, known_members, number, object, one_of, required, string, uint,
    Checked, Invalid, Path, Problem,
};
use super::native::{self, id, length, Ctx, Decision, Frames};
use super::tools::{self, Call, Choice, Offer, Tool};
use super::Endpoint;

const TOP_LEVEL: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_k",
    "top_p",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
];
const BLOCKS: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "thinking",
    "redacted_thinking",
    "container_upload",
];
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A checked request: what the answer needs.
struct Request<'a> {
    model: &'a str,
    max_tokens: Option<u64>,
    stream: bool,
    offer: Offer<'a>,
    /// `tool_choice.disable_parallel_tool_use`.
    one_call: bool,
}

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    if !ctx.credential(b"x-api-key") {
        return reject(ctx, 401, "x-api-key header is required");
    }
    if !ctx.credential(b"anthropic-version") {
        return reject(ctx, 400, "anthropic-version: header is required");
    }
    let body = match ctx.json() {
        Ok(v) => v,
        Err(e) => return reject(ctx, 400, &format!("invalid JSON in request body: {e}")),
    };
    let count_only = ctx.route.endpoint == Endpoint::CountTokens;
    let req = match request(&body, count_only) {
        Ok(r) => r,
        Err(invalid) => return reject(ctx, 400, &message(&invalid)),
    };
    if count_only {
        return Decision::json(&json!({ "input_tokens": ctx.prompt_tokens() }));
    }
    let count = if req.one_call { 1 } else { ctx.plan.tool_calls };
    match tools::calls(ctx.tool_ask(), count, &req.offer) {
        Ok(calls) => answer(ctx, &req, &calls),
        Err(e) => reject(ctx, 400, &e),
    }
}

/// The error body for `status`: `{"type":"error","error":{"type","message"},"request_id"}`.
pub(crate) fn error(status: u16, message: &str, seed: u64) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    };
    json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": id("req_", seed),
    })
}

fn reject(ctx: &Ctx, status: u16, message: &str) -> Decision {
    Decision::reject(status, error(status, message, ctx.plan.seed))
}

/// Worded as the API words validation failures: `messages.0.role: ...`.
fn message(invalid: &Invalid) -> String {
    let what = match &invalid.problem {
        Problem::Missing => "Field required".to_owned(),
        Problem::Type(t) => format!(
            "Input should be a valid {}",
            match *t {
                "array" => "list",
                "object" => "dictionary",
                t => t,
            }
        ),
        Problem::Unknown => "Extra inputs are not permitted".to_owned(),
        Problem::Value(s) => s.clone(),
    };
    let path = invalid.path.dotted();
    if path.is_empty() {
        what
    } else {
        format!("{path}: {what}")
    }
}

fn request(body: &Value, count_only: bool) -> Checked<Request<'_>> {
    let root = Path::root();
    let o = object(body, &root)?;
    known_members(o, &root, TOP_LEVEL)?;
    let model = string(required(o, "model", &root)?, &root.key("model"))?;
    let max_tokens = if count_only {
        None
    } else {
        let v = required(o, "max_tokens", &root)?;
        Some(uint(v, &root.key("max_tokens"), 1)?)
    };
    let last_is_user_turn = conversation(o, &root)?;
    system(o, &root)?;
    sampling(o, &root)?;
    let tools = tool_list(o, &root)?;
    let (choice, one_call) = tool_choice(o, &root, &tools)?;
    let stream = match o.get("stream") {
        Some(v) => boolean(v, &root.key("stream"))?,
        None => false,
    };
    Ok(Request {
        model,
        max_tokens,
        stream,
        offer: Offer {
            tools,
            choice,
            user_turn: last_is_user_turn,
        },
        one_call,
    })
}

/// One turn: consecutive messages of one role, as the API combines them.
#[derive(Default)]
struct Turn<'a> {
    user: bool,
    /// Index of the turn's first message, for error paths.
    first: usize,
    tool_uses: Vec<&'a str>,
    tool_results: Vec<(&'a str, Path)>,
}

/// Check `messages`; returns whether the last turn is a user turn without tool results.
fn conversation<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<bool> {
    let p = root.key("messages");
    let messages = array(required(o, "messages", root)?, &p)?;
    if messages.is_empty() {
        return check::value(&p, "at least one message is required");
    }
    let mut turns: Vec<Turn<'a>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let mp = p.at(i);
        let mo = object(m, &mp)?;
        let user = one_of(
            required(mo, "role", &mp)?,
            &mp.key("role"),
            &["user", "assistant"],
        )? == "user";
        if i == 0 && !user {
            return check::value(&p, "first message must use the \"user\" role");
        }
        if turns.last().is_none_or(|t| t.user != user) {
            turns.push(Turn {
                user,
                first: i,
                ..Turn::default()
            });
        }
        let last = i + 1 == messages.len();
        let turn = turns.last_mut().expect("a turn was pushed");
        content(mo, &mp, user, last, turn)?;
    }
    // Nothing precedes the first turn: it may hold no tool results.
    let start = Turn {
        user: true,
        ..Turn::default()
    };
    answered(&start, &turns[0], &p)?;
    for pair in turns.windows(2) {
        answered(&pair[0], &pair[1], &p)?;
    }
    let last = turns.last().expect("messages is not empty");
    Ok(last.user && last.tool_results.is_empty())
}

/// A user turn's tool results answer exactly the tool uses of the assistant turn before.
fn answered(before: &Turn, after: &Turn, p: &Path) -> Checked<()> {
    if before.user {
        if let Some((id, rp)) = after.tool_results.first() {
            return check::value(
                rp,
                format!("unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."),
            );
        }
        return Ok(());
    }
    if let Some((id, rp)) = after
        .tool_results
        .iter()
        .find(|(id, _)| !before.tool_uses.contains(id))
    {
        return check::value(
            rp,
            format!("unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."),
        );
    }
    let missing: Vec<&str> = before
        .tool_uses
        .iter()
        .copied()
        .filter(|id| !after.tool_results.iter().any(|(r, _)| r == id))
        .collect();
    if !missing.is_empty() {
        return check::value(
            &p.at(after.first),
            format!("`tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", missing.join(", ")),
        );
    }
    Ok(())
}

/// A message's `content`: a string or a list of blocks, recorded into its turn.
fn content<'a>(
    mo: &'a Map<String, Value>,
    mp: &Path,
    user: bool,
    last: bool,
    turn: &mut Turn<'a>,
) -> Checked<()> {
    let p = mp.key("content");
    let c = required(mo, "content", mp)?;
    // Only a final assistant turn (a prefill) may be empty.
    let may_be_empty = last && !user;
    if let Some(s) = c.as_str() {
        if s.is_empty() && !may_be_empty {
            return check::value(&p, "text content blocks must be non-empty");
        }
        return Ok(());
    }
    let blocks = array(c, &p)?;
    if blocks.is_empty() && !may_be_empty {
        return check::value(
            &p,
            "all messages must have non-empty content except for the optional final assistant message",
        );
    }
    let mut other_seen = false;
    for (j, b) in blocks.iter().enumerate() {
        let bp = p.at(j);
        let kind = block(b, &bp, user)?;
        let bo = object(b, &bp)?;
        match kind {
            "tool_use" => turn.tool_uses.push(string(&bo["id"], &bp.key("id"))?),
            "tool_result" => {
                if other_seen {
                    return check::value(&bp, "`tool_result` blocks must come first in the content of a user message, before any other block");
                }
                let id = string(&bo["tool_use_id"], &bp.key("tool_use_id"))?;
                turn.tool_results.push((id, bp));
            }
            _ => other_seen = true,
        }
    }
    Ok(())
}

/// One content block; returns its type.
fn block<'a>(b: &'a Value, p: &Path, user: bool) -> Checked<&'a str> {
    let o = object(b, p)?;
    let kind = one_of(required(o, "type", p)?, &p.key("type"), BLOCKS)?;
    match kind {
        "text" => {
            string(required(o, "text", p)?, &p.key("text"))?;
        }
        "image" => image(o, p)?,
        "tool_use" | "tool_result" if user != (kind == "tool_result") => {
            return check::value(
                p,
                format!(
                    "`{kind}` blocks are only allowed in {} messages",
                    if kind == "tool_use" {
                        "assistant"
                    } else {
                        "user"
                    }
                ),
            );
        }
        "tool_use" => {
            string(required(o, "id", p)?, &p.key("id"))?;
            string(required(o, "name", p)?, &p.key("name"))?;
            object(required(o, "input", p)?, &p.key("input"))?;
        }
        "tool_result" => tool_result(o, p)?,
        _ => {}
    }
    Ok(kind)
}

fn image(o: &Map<String, Value>, p: &Path) -> Checked<()> {
    let sp = p.key("source");
    let source = object(required(o, "source", p)?, &sp)?;
    match one_of(
        required(source, "type", &sp)?,
        &sp.key("type"),
        &["base64", "url", "file"],
    )? {
        "base64" => {
            one_of(
                required(source, "media_type", &sp)?,
                &sp.key("media_type"),
                IMAGE_TYPES,
            )?;
            string(required(source, "data", &sp)?, &sp.key("data"))?;
        }
        "url" => {
            string(required(source, "url", &sp)?, &sp.key("url"))?;
        }
        _ => {
            string(required(source, "file_id", &sp)?, &sp.key("file_id"))?;
        }
    }
    Ok(())
}

fn tool_result(o: &Map<String, Value>, p: &Path) -> Checked<()> {
    string(required(o, "tool_use_id", p)?, &p.key("tool_use_id"))?;
    if let Some(v) = o.get("is_error") {
        boolean(v, &p.key("is_error"))?;
    }
    match o.get("content") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => each(o, "content", p, |b, bp| {
            let kind = block(b, bp, true)?;
            if !matches!(kind, "text" | "image" | "document" | "search_result") {
                return check::value(
                    bp,
                    format!("`{kind}` blocks are not allowed in a tool result"),
                );
            }
            Ok(())
        }),
    }
}

fn system(o: &Map<String, Value>, root: &Path) -> Checked<()> {
    match o.get("system") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => each(o, "system", root, |b, bp| {
            let bo = object(b, bp)?;
            one_of(required(bo, "type", bp)?, &bp.key("type"), &["text"])?;
            string(required(bo, "text", bp)?, &bp.key("text")).map(drop)
        }),
    }
}

fn sampling(o: &Map<String, Value>, root: &Path) -> Checked<()> {
    for k in ["temperature", "top_p"] {
        if let Some(v) = o.get(k) {
            number(v, &root.key(k), 0.0, 1.0)?;
        }
    }
    if let Some(v) = o.get("top_k") {
        uint(v, &root.key("top_k"), 0)?;
    }
    if let Some(v) = o.get("metadata") {
        object(v, &root.key("metadata"))?;
    }
    each(o, "stop_sequences", root, |v, p| string(v, p).map(drop))
}

fn tool_list<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Vec<Tool<'a>>> {
    let mut tools: Vec<Tool<'a>> = Vec::new();
    each(o, "tools", root, |t, tp| {
        let to = object(t, tp)?;
        let server = to
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t != "custom");
        let name = check::tool_name(required(to, "name", tp)?, &tp.key("name"), b"")?;
        if tools.iter().any(|t| t.name == name) {
            return check::value(&root.key("tools"), "Tool names must be unique.");
        }
        if let Some(d) = to.get("description") {
            string(d, &tp.key("description"))?;
        }
        let schema = if server {
            None
        } else {
            let sp = tp.key("input_schema");
            let s = required(to, "input_schema", tp)?;
            one_of(
                required(object(s, &sp)?, "type", &sp)?,
                &sp.key("type"),
                &["object"],
            )?;
            Some(s)
        };
        tools.push(Tool { name, schema });
        Ok(())
    })?;
    Ok(tools)
}

fn tool_choice<'a>(
    o: &'a Map<String, Value>,
    root: &Path,
    tools: &[Tool],
) -> Checked<(Choice<'a>, bool)> {
    let Some(v) = o.get("tool_choice") else {
        return Ok((Choice::Auto, false));
    };
    let p = root.key("tool_choice");
    let co = object(v, &p)?;
    let kind = one_of(
        required(co, "type", &p)?,
        &p.key("type"),
        &["auto", "any", "tool", "none"],
    )?;
    let one_call = match co.get("disable_parallel_tool_use") {
        Some(b) => boolean(b, &p.key("disable_parallel_tool_use"))?,
        None => false,
    };
    if tools.is_empty() && matches!(kind, "any" | "tool") {
        return check::value(
            &p,
            "tool_choice may only be specified while providing tools",
        );
    }
    let choice = match kind {
        "none" => Choice::None,
        "any" => Choice::Required,
        "tool" => {
            let name = string(required(co, "name", &p)?, &p.key("name"))?;
            if !tools.iter().any(|t| t.name == name) {
                return check::value(
                    &p.key("name"),
                    format!("tool {name:?} is not among the provided tools"),
                );
            }
            Choice::Named(name)
        }
        _ => Choice::Auto,
    };
    Ok((choice, one_call))
}

fn usage(input: u32, output: u32) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

fn tool_use(call: &Call, seed: u64, i: usize, input: Value) -> Value {
    json!({
        "type": "tool_use",
        "id": tools::call_id("toolu_", seed, i),
        "name": call.name,
        "input": input,
    })
}

fn answer(ctx: &Ctx, req: &Request, calls: &[Call]) -> Decision {
    let plan = ctx.plan;
    let len = length(plan, req.max_tokens);
    let (stop_reason, output) = native::ending(len, calls, ["tool_use", "max_tokens", "end_turn"]);
    let mut message = json!({
        "id": id("msg_", plan.seed),
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": [],
        "stop_reason": Value::Null,
        "stop_sequence": Value::Null,
        "usage": usage(ctx.prompt_tokens(), 1),
    });
    if req.stream {
        return Decision::Stream(stream(ctx, message, calls, len.words, stop_reason, output));
    }
    message["content"] = if calls.is_empty() {
        json!([{"type": "text", "text": native::text(plan.seed, len.words)}])
    } else {
        let blocks = calls.iter().enumerate();
        blocks
            .map(|(i, c)| tool_use(c, plan.seed, i, c.arguments.clone()))
            .collect()
    };
    message["stop_reason"] = json!(stop_reason);
    message["usage"] = usage(ctx.prompt_tokens(), output);
    Decision::json(&message)
}

fn stream(
    ctx: &Ctx,
    message: Value,
    calls: &[Call],
    words: u32,
    stop_reason: &str,
    output: u32,
) -> Frames {
    let plan = ctx.plan;
    let mut e = Events(Frames::sse());
    e.send("message_start", json!({"message": message}));
    if calls.is_empty() {
        e.block_start(0, json!({"type": "text", "text": ""}));
        e.send("ping", json!({}));
        e.0.content_start();
        for piece in native::text_pieces(plan.seed, words, plan.chunks) {
            e.block_delta(0, json!({"type": "text_delta", "text": piece}));
        }
        e.0.content_end();
        e.send("content_block_stop", json!({"index": 0}));
    } else {
        for (i, call) in calls.iter().enumerate() {
            e.block_start(i, tool_use(call, plan.seed, i, json!({})));
            if i == 0 {
                e.send("ping", json!({}));
                e.0.content_start();
            }
            for piece in tools::fragments(&call.arguments_json(), plan.chunks) {
                e.block_delta(
                    i,
                    json!({"type": "input_json_delta", "partial_json": piece}),
                );
            }
            if i + 1 == calls.len() {
                e.0.content_end();
            }
            e.send("content_block_stop", json!({"index": i}));
        }
    }
    e.send(
        "message_delta",
        json!({
            "delta": {"stop_reason": stop_reason, "stop_sequence": Value::Null},
            "usage": {"output_tokens": output},
        }),
    );
    e.send("message_stop", json!({}));
    let error =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    e.0.set_error(native::error_event(&error));
    e.0
}

/// Named events whose data carries the same name as `type`.
struct Events(Frames);

impl Events {
    fn send(&mut self, name: &str, mut data: Value) {
        data["type"] = json!(name);
        self.0.event(Some(name), &data);
    }

    fn block_start(&mut self, index: usize, block: Value) {
        self.send(
            "content_block_start",
            json!({"index": index, "content_block": block}),
        );
    }

    fn block_delta(&mut self, index: usize, delta: Value) {
        self.send(
            "content_block_delta",
            json!({"index": index, "delta": delta}),
        );
    }
}
