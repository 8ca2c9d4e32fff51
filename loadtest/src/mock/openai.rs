//! OpenAI chat requests on the cold path: those asking for a tool call
//! (`x-mock-tool-call`) on `/v1/chat/completions`, and every Azure request; plus the
//! OpenAI-shaped validation errors that the Responses API and Azure share.
//!
//! A tool-call answer is a `chat.completion` whose message has `content: null` and
//! `tool_calls`, `finish_reason: "tool_calls"`; streamed, the first chunk carries the
//! role and the first call's `index`, `id`, `type` and `name` with empty `arguments`, the
//! arguments follow in fragments over several chunks (each later call opens with its own
//! header chunk), then the finishing chunk, the usage chunk when
//! `stream_options.include_usage`, and `[DONE]`. `parallel_tool_calls: false` means one
//! call.

use proto::openai::error::write_error;
use serde_json::{json, Map, Value};

use super::check::{
    self, array, boolean, each, object, one_of, required, string, Checked, Invalid, Path, Problem,
};
use super::native::{Ctx, Decision, Frames};
use super::tools::{self, Call, Choice, Offer, Tool};

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// `{"error":{"message","type":"invalid_request_error","param","code"}}`.
pub(crate) fn error(message: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }})
}

/// A validation failure worded as OpenAI words them, with `param` and `code`.
pub(crate) fn invalid(invalid: &Invalid) -> Value {
    let p = invalid.path.indexed();
    let (message, code) = match &invalid.problem {
        Problem::Missing => (
            format!("Missing required parameter: '{p}'."),
            "missing_required_parameter",
        ),
        Problem::Type(t) => (
            format!("Invalid type for '{p}': expected {t}."),
            "invalid_type",
        ),
        Problem::Unknown => (format!("Unknown parameter: '{p}'."), "unknown_parameter"),
        Problem::Value(s) => (format!("Invalid value for '{p}': {s}"), "invalid_value"),
    };
    error(&message, Some(&p), Some(code))
}

pub(crate) fn reject_invalid(i: &Invalid) -> Decision {
    Decision::reject(400, invalid(i))
}

pub(crate) fn reject_json(e: &serde_json::Error) -> Decision {
    let message = format!(
        "We could not parse the JSON body of your request. ({e}) (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
    );
    Decision::reject(400, error(&message, None, None))
}

/// The frame an OpenAI stream ends with under a `stream-error` fault.
pub(crate) fn stream_error(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    write_error(
        out,
        "The server had an error while processing your request (injected by sluice mock).",
        "server_error",
        None,
        None,
    );
    out.extend_from_slice(b"\n\n");
}

/// A chat request: answer with tool calls when asked and allowed, else on the fast path.
/// `deployment` (Azure) replaces the body's `model`.
pub(crate) fn decide_chat(ctx: &Ctx, deployment: Option<&str>) -> Decision {
    let body = match ctx.json() {
        Ok(v) => v,
        Err(e) => return reject_json(&e),
    };
    let (offer, one_call) = match chat_offer(&body) {
        Ok(o) => o,
        Err(i) => return reject_invalid(&i),
    };
    let count = if one_call { 1 } else { ctx.plan.tool_calls };
    let calls = match tools::calls(ctx.tool_ask(), count, &offer) {
        Ok(calls) if calls.is_empty() => return Decision::Fast,
        Ok(calls) => calls,
        Err(e) => return Decision::reject(400, error(&e, Some("tools"), None)),
    };
    let o = body.as_object().expect("checked by chat_offer");
    let model = deployment
        .or_else(|| o.get("model").and_then(Value::as_str))
        .unwrap_or("mock-gpt");
    let stream = o.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = o
        .get("stream_options")
        .and_then(|s| s.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    let answer = Answer {
        ctx,
        model,
        calls: &calls,
    };
    if stream {
        Decision::Stream(answer.stream(include_usage))
    } else {
        Decision::json(&answer.whole())
    }
}

/// Check `messages`, `tools` and `tool_choice`; returns the offer and whether
/// `parallel_tool_calls` is false.
fn chat_offer(body: &Value) -> Checked<(Offer<'_>, bool)> {
    let root = Path::root();
    let o = object(body, &root)?;
    let p = root.key("messages");
    let messages = array(required(o, "messages", &root)?, &p)?;
    if messages.is_empty() {
        return check::value(&p, "empty array. Expected an array with minimum length 1.");
    }
    let mut last_role = "";
    for (i, m) in messages.iter().enumerate() {
        let mp = p.at(i);
        last_role = one_of(
            required(object(m, &mp)?, "role", &mp)?,
            &mp.key("role"),
            ROLES,
        )?;
    }
    let mut tools: Vec<Tool> = Vec::new();
    each(o, "tools", &root, |t, tp| {
        let to = object(t, tp)?;
        one_of(required(to, "type", tp)?, &tp.key("type"), &["function"])?;
        let fp = tp.key("function");
        let f = object(required(to, "function", tp)?, &fp)?;
        let name = check::tool_name(required(f, "name", &fp)?, &fp.key("name"), b"")?;
        tools.push(Tool {
            name,
            schema: f.get("parameters"),
        });
        Ok(())
    })?;
    let choice = chat_choice(o, &root)?;
    let one_call = match o.get("parallel_tool_calls") {
        Some(v) => !boolean(v, &root.key("parallel_tool_calls"))?,
        None => false,
    };
    let offer = Offer {
        tools,
        choice,
        user_turn: last_role == "user",
    };
    Ok((offer, one_call))
}

fn chat_choice<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Choice<'a>> {
    let p = root.key("tool_choice");
    Ok(match o.get("tool_choice") {
        None => Choice::Auto,
        Some(Value::String(_)) => {
            match one_of(&o["tool_choice"], &p, &["none", "auto", "required"])? {
                "none" => Choice::None,
                "required" => Choice::Required,
                _ => Choice::Auto,
            }
        }
        Some(v) => {
            let co = object(v, &p)?;
            one_of(required(co, "type", &p)?, &p.key("type"), &["function"])?;
            let fp = p.key("function");
            let f = object(required(co, "function", &p)?, &fp)?;
            Choice::Named(string(required(f, "name", &fp)?, &fp.key("name"))?)
        }
    })
}

/// A tool-call answer to render.
struct Answer<'a> {
    ctx: &'a Ctx<'a>,
    model: &'a str,
    calls: &'a [Call],
}

impl Answer<'_> {
    fn id(&self) -> String {
        format!("chatcmpl-{:016x}", self.ctx.plan.seed)
    }

    fn call_id(&self, i: usize) -> String {
        tools::call_id("call_", self.ctx.plan.seed, i)
    }

    fn usage(&self) -> Value {
        let (prompt, completion) = (self.ctx.prompt_tokens(), tools::tokens(self.calls));
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    }

    fn head(&self, object: &str) -> Value {
        json!({
            "id": self.id(),
            "object": object,
            "created": self.ctx.created,
            "model": self.model,
        })
    }

    fn whole(&self) -> Value {
        let calls: Vec<Value> = self
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "id": self.call_id(i),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                })
            })
            .collect();
        let mut v = self.head("chat.completion");
        v["choices"] = json!([{
            "index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": calls, "refusal": null},
            "logprobs": null,
            "finish_reason": "tool_calls",
        }]);
        v["usage"] = self.usage();
        v
    }

    fn stream(&self, include_usage: bool) -> Frames {
        let mut f = Frames::sse();
        let chunk = |f: &mut Frames, delta: Value, finish: Value| {
            let mut c = self.head("chat.completion.chunk");
            c["choices"] =
                json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
            if include_usage {
                c["usage"] = Value::Null;
            }
            f.event(None, &c);
        };
        for (i, call) in self.calls.iter().enumerate() {
            let header = json!({
                "index": i,
                "id": self.call_id(i),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            });
            let delta = if i == 0 {
                json!({"role": "assistant", "content": null, "tool_calls": [header]})
            } else {
                json!({"tool_calls": [header]})
            };
            chunk(&mut f, delta, Value::Null);
            if i == 0 {
                f.content_start();
            }
            let args = call.arguments_json();
            for piece in tools::fragments(&args, self.ctx.plan.chunks) {
                let delta = json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]});
                chunk(&mut f, delta, Value::Null);
            }
        }
        f.content_end();
        chunk(&mut f, json!({}), json!("tool_calls"));
        if include_usage {
            let mut c = self.head("chat.completion.chunk");
            c["choices"] = json!([]);
            c["usage"] = self.usage();
            f.event(None, &c);
        }
        f.raw(proto::sse::DONE);
        let mut error = Vec::new();
        stream_error(&mut error);
        f.set_error(error);
        f
    }
}
