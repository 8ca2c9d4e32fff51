//! OpenAI Responses API: `POST /v1/responses`.
//!
//! Auth is `Authorization: Bearer <key>` (any non-blank key; OpenAI's 401 without it).
//! The body is checked as the API checks it, with OpenAI-shaped errors (`param`, `code`):
//! unknown top-level parameters are refused, `model` is required, `input` is a string or
//! a list of items (messages with role `user`/`assistant`/`system`/`developer` and
//! string or typed content parts, `function_call`, `function_call_output`, ...), every
//! `function_call_output` answers a `function_call` earlier in `input` (unless
//! `previous_response_id` is given), `max_output_tokens` is at least 16, `temperature` is
//! in 0..=2 and `top_p` in 0..=1, and `tools`/`tool_choice` are well formed.
//!
//! The answer is a `response` object (`status` `completed`, or `incomplete` with
//! `incomplete_details.reason: max_output_tokens`) whose `output` holds one `message`
//! item with an `output_text` part, or `function_call` items. Streamed, it is the typed
//! event sequence `response.created`, `response.in_progress`, then per output item
//! `response.output_item.added`, (`response.content_part.added`,
//! `response.output_text.delta`..., `response.output_text.done`,
//! `response.content_part.done`) or (`response.function_call_arguments.delta`...,
//! `response.function_call_arguments.done`), `response.output_item.done`, and finally
//! `response.completed` (or `response.incomplete`); every event carries its
//! `sequence_number`. A `stream-error` fault sends an `error` event.

use serde_json::{json, Map, Value};

use super::check::{
    self, array, boolean, each, known_members, number, object, one_of, required, string, uint,
    Checked, Path,
};
use super::native::{id, length, Ctx, Decision, Frames, Length};
use super::openai::{error, reject_invalid, reject_json};
use super::tools::{self, Call, Choice, Offer, Tool};

const TOP_LEVEL: &[&str] = &[
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "previous_response_id",
    "conversation",
    "reasoning",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_p",
    "top_logprobs",
    "truncation",
    "user",
    "include",
    "background",
    "service_tier",
    "prompt",
    "prompt_cache_key",
    "safety_identifier",
];
const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
    "file_search_call",
    "web_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
    "mcp_call",
    "custom_tool_call",
    "custom_tool_call_output",
];
const PART_TYPES: &[&str] = &[
    "input_text",
    "input_image",
    "input_file",
    "input_audio",
    "output_text",
    "refusal",
];
const TOOL_TYPES: &[&str] = &[
    "function",
    "web_search",
    "web_search_preview",
    "file_search",
    "computer_use_preview",
    "code_interpreter",
    "image_generation",
    "mcp",
    "local_shell",
    "custom",
];

struct Request<'a> {
    o: &'a Map<String, Value>,
    model: &'a str,
    max_tokens: Option<u64>,
    stream: bool,
    one_call: bool,
    offer: Offer<'a>,
}

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    let bearer = ctx
        .header(b"authorization")
        .and_then(|v| v.strip_prefix(b"Bearer "))
        .is_some_and(|k| k.iter().any(|b| !b.is_ascii_whitespace()));
    if !bearer {
        return Decision::reject(401, error("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", None, None));
    }
    let body = match ctx.json() {
        Ok(v) => v,
        Err(e) => return reject_json(&e),
    };
    let req = match request(&body) {
        Ok(r) => r,
        Err(i) => return reject_invalid(&i),
    };
    let count = if req.one_call { 1 } else { ctx.plan.tool_calls };
    match tools::calls(ctx.tool_ask(), count, &req.offer) {
        Ok(calls) => answer(ctx, &req, &calls),
        Err(e) => Decision::reject(400, error(&e, Some("tools"), None)),
    }
}

fn request(body: &Value) -> Checked<Request<'_>> {
    let root = Path::root();
    let o = object(body, &root)?;
    known_members(o, &root, TOP_LEVEL)?;
    let model = string(required(o, "model", &root)?, &root.key("model"))?;
    let user_turn = match o.get("input") {
        None => false,
        Some(Value::String(_)) => true,
        Some(v) => input(
            v,
            &root.key("input"),
            o.contains_key("previous_response_id"),
        )?,
    };
    if let Some(v) = o.get("instructions") {
        string(v, &root.key("instructions"))?;
    }
    let max_tokens = match o.get("max_output_tokens") {
        Some(v) => Some(uint(v, &root.key("max_output_tokens"), 16)?),
        None => None,
    };
    if let Some(v) = o.get("temperature") {
        number(v, &root.key("temperature"), 0.0, 2.0)?;
    }
    if let Some(v) = o.get("top_p") {
        number(v, &root.key("top_p"), 0.0, 1.0)?;
    }
    let flag = |k: &str| o.get(k).map(|v| boolean(v, &root.key(k))).transpose();
    let stream = flag("stream")?.unwrap_or(false);
    let one_call = !flag("parallel_tool_calls")?.unwrap_or(true);
    let tools = tool_list(o, &root)?;
    let choice = tool_choice(o, &root)?;
    Ok(Request {
        o,
        model,
        max_tokens,
        stream,
        one_call,
        offer: Offer {
            tools,
            choice,
            user_turn,
        },
    })
}

/// Check a list `input`; returns whether it ends with a user message.
fn input(v: &Value, p: &Path, continued: bool) -> Checked<bool> {
    let items = array(v, p)?;
    let mut calls: Vec<&str> = Vec::new();
    let mut user_turn = false;
    for (i, item) in items.iter().enumerate() {
        let ip = p.at(i);
        let io = object(item, &ip)?;
        let kind = match io.get("type") {
            Some(t) => one_of(t, &ip.key("type"), ITEM_TYPES)?,
            None => "message",
        };
        user_turn = false;
        match kind {
            "message" => user_turn = message(io, &ip)?,
            "function_call" => {
                calls.push(string(required(io, "call_id", &ip)?, &ip.key("call_id"))?);
                string(required(io, "name", &ip)?, &ip.key("name"))?;
                string(required(io, "arguments", &ip)?, &ip.key("arguments"))?;
            }
            "function_call_output" => {
                let id = string(required(io, "call_id", &ip)?, &ip.key("call_id"))?;
                required(io, "output", &ip)?;
                if !continued && !calls.contains(&id) {
                    return check::value(
                        p,
                        format!("No tool call found for function call output with call_id {id}."),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(user_turn)
}

/// Check a message item; returns whether it is a user message.
fn message(io: &Map<String, Value>, p: &Path) -> Checked<bool> {
    let role = one_of(
        required(io, "role", p)?,
        &p.key("role"),
        &["user", "assistant", "system", "developer"],
    )?;
    let cp = p.key("content");
    match required(io, "content", p)? {
        Value::String(_) => {}
        c => {
            for (j, part) in array(c, &cp)?.iter().enumerate() {
                let pp = cp.at(j);
                let po = object(part, &pp)?;
                match one_of(required(po, "type", &pp)?, &pp.key("type"), PART_TYPES)? {
                    "input_text" | "output_text" => {
                        string(required(po, "text", &pp)?, &pp.key("text"))?;
                    }
                    "input_image"
                        if !po.contains_key("image_url") && !po.contains_key("file_id") =>
                    {
                        return check::value(&pp, "one of 'image_url' or 'file_id' is required");
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(role == "user")
}

fn tool_list<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Vec<Tool<'a>>> {
    let mut tools = Vec::new();
    each(o, "tools", root, |t, tp| {
        let to = object(t, tp)?;
        if one_of(required(to, "type", tp)?, &tp.key("type"), TOOL_TYPES)? != "function" {
            return Ok(());
        }
        let name = check::tool_name(required(to, "name", tp)?, &tp.key("name"), b"")?;
        let schema = to.get("parameters");
        if let Some(s) = schema.filter(|s| !s.is_null()) {
            object(s, &tp.key("parameters"))?;
        }
        tools.push(Tool { name, schema });
        Ok(())
    })?;
    Ok(tools)
}

fn tool_choice<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Choice<'a>> {
    let p = root.key("tool_choice");
    Ok(match o.get("tool_choice") {
        None => Choice::Auto,
        Some(v @ Value::String(_)) => match one_of(v, &p, &["none", "auto", "required"])? {
            "none" => Choice::None,
            "required" => Choice::Required,
            _ => Choice::Auto,
        },
        Some(v) => {
            let co = object(v, &p)?;
            match string(required(co, "type", &p)?, &p.key("type"))? {
                "function" => Choice::Named(string(required(co, "name", &p)?, &p.key("name"))?),
                _ => Choice::Auto,
            }
        }
    })
}

/// The `response` object: the request's settings echoed, `output` and `usage` as given.
fn response(ctx: &Ctx, req: &Request, status: &str, output: Value, usage: Value) -> Value {
    let echo = |k: &str, default: Value| req.o.get(k).cloned().unwrap_or(default);
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({
        "id": id("resp_", ctx.plan.seed),
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "model": req.model,
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "store": echo("store", json!(true)),
        "temperature": echo("temperature", json!(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_p": echo("top_p", json!(1.0)),
        "truncation": echo("truncation", json!("disabled")),
        "usage": usage,
        "user": echo("user", Value::Null),
        "metadata": echo("metadata", json!({})),
    })
}

fn usage(input: u32, output: u32) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

/// An output item, complete (`done`) or as first announced.
fn item(ctx: &Ctx, calls: &[Call], i: usize, text: Option<&str>, status: &str) -> Value {
    let seed = ctx.plan.seed;
    match calls.get(i) {
        None => {
            let content: Vec<Value> = text.map(output_text).into_iter().collect();
            json!({"id": id("msg_", seed), "type": "message", "status": status, "role": "assistant", "content": content})
        }
        Some(call) => json!({
            "id": tools::call_id("fc_", seed, i),
            "type": "function_call",
            "status": status,
            "arguments": if text.is_some() { call.arguments_json() } else { String::new() },
            "call_id": tools::call_id("call_", seed, i),
            "name": call.name,
        }),
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn answer(ctx: &Ctx, req: &Request, calls: &[Call]) -> Decision {
    let len = length(ctx.plan, req.max_tokens);
    let (status, output) =
        super::native::ending(len, calls, ["completed", "incomplete", "completed"]);
    let text = super::native::text(ctx.plan.seed, len.words);
    let item_status = if status == "incomplete" {
        "incomplete"
    } else {
        "completed"
    };
    let items: Vec<Value> = (0..calls.len().max(1))
        .map(|i| item(ctx, calls, i, Some(&text), item_status))
        .collect();
    let usage = usage(ctx.prompt_tokens(), output);
    let done = response(ctx, req, status, json!(items), usage);
    if !req.stream {
        return Decision::json(&done);
    }
    let mut s = Stream {
        frames: Frames::sse(),
        seq: 0,
    };
    let started = response(ctx, req, "in_progress", json!([]), Value::Null);
    s.event("response.created", json!({"response": started}));
    s.event("response.in_progress", json!({"response": started}));
    s.frames.content_start();
    if calls.is_empty() {
        s.message(ctx, len, &items[0]);
    } else {
        for (i, done_item) in items.iter().enumerate() {
            s.call(ctx, calls, i, done_item);
        }
    }
    s.frames.content_end();
    let last = if status == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    s.event(last, json!({"response": done}));
    let error = json!({"type": "error", "code": "server_error", "message": "The server had an error while processing your request (injected by sluice mock).", "param": null, "sequence_number": s.frames.cut()});
    s.frames.set_error(super::native::error_event(&error));
    Decision::Stream(s.frames)
}

/// Typed events with their sequence numbers.
struct Stream {
    frames: Frames,
    seq: u64,
}

impl Stream {
    fn event(&mut self, kind: &str, mut data: Value) {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        self.frames.event(Some(kind), &data);
    }

    fn message(&mut self, ctx: &Ctx, len: Length, done: &Value) {
        let item_id = done["id"].clone();
        let added = item(ctx, &[], 0, None, "in_progress");
        self.event(
            "response.output_item.added",
            json!({"output_index": 0, "item": added}),
        );
        let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        let with = |extra: Value| {
            let mut v = at.clone();
            v.as_object_mut()
                .expect("an object")
                .extend(extra.as_object().expect("an object").clone());
            v
        };
        self.event(
            "response.content_part.added",
            with(json!({"part": output_text("")})),
        );
        for piece in super::native::text_pieces(ctx.plan.seed, len.words, ctx.plan.chunks) {
            self.event(
                "response.output_text.delta",
                with(json!({"delta": piece, "logprobs": []})),
            );
        }
        let part = done["content"][0].clone();
        self.event(
            "response.output_text.done",
            with(json!({"text": part["text"], "logprobs": []})),
        );
        self.event("response.content_part.done", with(json!({"part": part})));
        self.event(
            "response.output_item.done",
            json!({"output_index": 0, "item": done}),
        );
    }

    fn call(&mut self, ctx: &Ctx, calls: &[Call], i: usize, done: &Value) {
        let added = item(ctx, calls, i, None, "in_progress");
        self.event(
            "response.output_item.added",
            json!({"output_index": i, "item": added}),
        );
        let args = calls[i].arguments_json();
        for piece in tools::fragments(&args, ctx.plan.chunks) {
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": done["id"], "output_index": i, "delta": piece}),
            );
        }
        self.event(
            "response.function_call_arguments.done",
            json!({"item_id": done["id"], "output_index": i, "arguments": args}),
        );
        self.event(
            "response.output_item.done",
            json!({"output_index": i, "item": done}),
        );
    }
}
