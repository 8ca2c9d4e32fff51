//! Gemini (Generative Language API): `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent` and `:countTokens` (`/v1/models/...` too).
//!
//! Auth is the `x-goog-api-key` header or the `key` query parameter (any non-blank
//! value). Without either the API answers 403 `PERMISSION_DENIED` ("Method doesn't allow
//! unregistered callers"), not 401, and so does the mock.
//!
//! The body is protobuf JSON, checked as the API checks it: members are accepted in
//! lowerCamelCase or snake_case, and an unknown member anywhere (including inside a
//! function's `parameters` schema, e.g. `additionalProperties`) is refused with `Invalid
//! JSON payload received. Unknown name ...`. `contents` is a non-empty list of turns with
//! role `user` or `model` and non-empty `parts`, each part holding exactly one of `text`,
//! `inlineData`, `fileData`, `functionCall`, `functionResponse`, `executableCode`,
//! `codeExecutionResult`. `systemInstruction`, `tools[].functionDeclarations`,
//! `toolConfig.functionCallingConfig` and `generationConfig` (`maxOutputTokens` >= 1,
//! `temperature` in 0..=2, `topP` in 0..=1, at most 5 `stopSequences`, a supported
//! `responseMimeType`, `responseSchema` only with a JSON or enum MIME type) are checked.
//!
//! Answers are `GenerateContentResponse`s. Streams with `alt=sse` are SSE `data:` frames
//! ended by CRLF CRLF, as Google's front end writes them; without `alt=sse` the stream is
//! one JSON array written element by element, as the API does. Each frame carries the
//! next piece of text and the usage so far; the last adds `finishReason`. A tool call is
//! one frame of `functionCall` parts (`finishReason: STOP`, as the API reports calls).

use serde_json::{json, Map, Value};

use super::check::{
    self, array, each, number, object, one_of, string, uint, Checked, Invalid, Path, Problem,
};
use super::native::{self, id, length, Ctx, Decision, Frames};
use super::tools::{self, Call, Choice, Offer, Tool};
use super::Endpoint;

const REQUEST: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
    "model",
];
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];
const PART_META: &[&str] = &[
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
];
const TOOL: &[&str] = &[
    "functionDeclarations",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "computerUse",
    "fileSearch",
    "googleMaps",
];
const FUNCTION: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];
const SCHEMA: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const GENERATION: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
];
const MIME_TYPES: &[&str] = &[
    "text/plain",
    "application/json",
    "application/xml",
    "application/yaml",
    "text/x.enum",
];

/// The error body: `{"error":{"code","message","status"}}`.
pub(crate) fn error(status: u16, message: &str) -> Value {
    let name = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "NOT_IMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    };
    json!({"error": {"code": status, "message": message, "status": name}})
}

fn reject(status: u16, message: &str) -> Decision {
    Decision::reject(status, error(status, message))
}

/// Worded as the API words them.
fn message(invalid: &Invalid) -> String {
    let p = invalid.path.indexed();
    match &invalid.problem {
        Problem::Unknown => {
            let name = invalid.path.last_key().unwrap_or_default();
            let at = invalid.path.parent().indexed();
            if at.is_empty() {
                format!(
                    "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
                )
            } else {
                format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.")
            }
        }
        Problem::Missing => format!("* GenerateContentRequest.{p}: field is not specified"),
        Problem::Type(t) => format!("Invalid value at '{p}' (TYPE_{})", t.to_uppercase()),
        Problem::Value(s) => format!("* GenerateContentRequest.{p}: {s}"),
    }
}

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    let key = ctx.query(b"key").is_some_and(|k| !k.is_empty());
    if !key && !ctx.credential(b"x-goog-api-key") {
        return reject(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
    }
    let body = match ctx.json() {
        Ok(v) => v,
        Err(e) => return reject(400, &format!("Invalid JSON payload received. {e}")),
    };
    if ctx.route.endpoint == Endpoint::GeminiCountTokens {
        return match count_request(&body) {
            Ok(()) => {
                let n = ctx.prompt_tokens();
                Decision::json(&json!({
                    "totalTokens": n,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}],
                }))
            }
            Err(i) => reject(400, &message(&i)),
        };
    }
    let req = match request(&body, &Path::root()) {
        Ok(r) => r,
        Err(i) => return reject(400, &message(&i)),
    };
    match tools::calls(ctx.tool_ask(), ctx.plan.tool_calls, &req.offer) {
        Ok(calls) => answer(ctx, &req, &calls),
        Err(e) => reject(400, &e),
    }
}

/// Member `camel` of `o`, under its lowerCamelCase or its snake_case name.
fn get<'a>(o: &'a Map<String, Value>, camel: &str) -> Option<&'a Value> {
    o.get(camel).or_else(|| o.get(&snake(camel)))
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Refuse members not in `known` (compared in lowerCamelCase).
fn known(o: &Map<String, Value>, p: &Path, known: &[&str]) -> Checked<()> {
    match o.keys().find(|k| !known.contains(&camel(k).as_str())) {
        Some(k) => check::fail(&p.key(k), Problem::Unknown),
        None => Ok(()),
    }
}

/// Run `f` on each element of list member `camel` of `o`, when present.
fn each_of<'a>(
    o: &'a Map<String, Value>,
    camel: &str,
    p: &Path,
    f: impl FnMut(&'a Value, &Path) -> Checked<()>,
) -> Checked<()> {
    let name = if o.contains_key(camel) {
        camel.to_owned()
    } else {
        snake(camel)
    };
    each(o, &name, p, f)
}

struct Request<'a> {
    max_tokens: Option<u64>,
    offer: Offer<'a>,
}

fn request<'a>(body: &'a Value, root: &Path) -> Checked<Request<'a>> {
    let o = object(body, root)?;
    known(o, root, REQUEST)?;
    let cp = root.key("contents");
    let contents = match get(o, "contents") {
        Some(v) => array(v, &cp)?,
        None => return check::value(&cp, "contents is not specified"),
    };
    if contents.is_empty() {
        return check::value(&cp, "contents is not specified");
    }
    let mut user_turn = false;
    for (i, c) in contents.iter().enumerate() {
        user_turn = content(c, &cp.at(i), false)?;
    }
    if let Some(s) = get(o, "systemInstruction") {
        content(s, &root.key("systemInstruction"), true)?;
    }
    let tools = tool_list(o, root)?;
    let choice = tool_config(o, root)?;
    let max_tokens = generation(o, root)?;
    each_of(o, "safetySettings", root, |s, sp| {
        let so = object(s, sp)?;
        known(so, sp, &["category", "threshold", "method"])
    })?;
    Ok(Request {
        max_tokens,
        offer: Offer {
            tools,
            choice,
            user_turn,
        },
    })
}

/// Check one `Content`; returns whether it is a user turn without function responses.
/// The role of a system instruction is not checked (the API ignores it).
fn content(v: &Value, p: &Path, system: bool) -> Checked<bool> {
    let o = object(v, p)?;
    known(o, p, &["role", "parts"])?;
    let user = match o.get("role") {
        None => true,
        Some(r) => match string(r, &p.key("role"))? {
            "user" => true,
            "model" => false,
            _ if system => false,
            _ => return check::value(&p.key("role"), "Please use a valid role: user, model."),
        },
    };
    let pp = p.key("parts");
    let parts = match o.get("parts") {
        Some(v) => array(v, &pp)?,
        None => &Vec::new(),
    };
    if parts.is_empty() {
        return check::value(&pp, "contents.parts must not be empty.");
    }
    let mut responses = false;
    for (i, part) in parts.iter().enumerate() {
        responses |= self::part(part, &pp.at(i))? == "functionResponse";
    }
    Ok(user && !responses)
}

/// Check one `Part`; returns which data field it holds.
fn part(v: &Value, p: &Path) -> Checked<&'static str> {
    let o = object(v, p)?;
    let all: Vec<&str> = PART_DATA.iter().chain(PART_META).copied().collect();
    known(o, p, &all)?;
    let held: Vec<&'static str> = PART_DATA
        .iter()
        .copied()
        .filter(|k| get(o, k).is_some())
        .collect();
    let [kind] = held[..] else {
        return check::value(
            &p.key("data"),
            "required oneof field 'data' must have one initialized field",
        );
    };
    let dp = p.key(kind);
    let d = get(o, kind).expect("held");
    match kind {
        "text" => {
            string(d, &dp)?;
        }
        "inlineData" => fields(d, &dp, &["mimeType", "data"], &["mimeType", "data"])?,
        "fileData" => fields(d, &dp, &["mimeType", "fileUri"], &["fileUri"])?,
        "functionCall" => fields(d, &dp, &["id", "name", "args"], &["name"])?,
        "functionResponse" => fields(
            d,
            &dp,
            &[
                "id",
                "name",
                "response",
                "parts",
                "willContinue",
                "scheduling",
            ],
            &["name", "response"],
        )?,
        _ => {
            object(d, &dp)?;
        }
    }
    Ok(kind)
}

/// An object with only `allowed` members, and `needed` among them.
fn fields(v: &Value, p: &Path, allowed: &[&str], needed: &[&str]) -> Checked<()> {
    let o = object(v, p)?;
    known(o, p, allowed)?;
    match needed.iter().find(|k| get(o, k).is_none()) {
        Some(k) => check::value(&p.key(k), format!("{} is not specified", snake(k))),
        None => Ok(()),
    }
}

fn tool_list<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Vec<Tool<'a>>> {
    let mut tools: Vec<Tool<'a>> = Vec::new();
    each_of(o, "tools", root, |t, tp| {
        let to = object(t, tp)?;
        known(to, tp, TOOL)?;
        each_of(to, "functionDeclarations", tp, |f, fp| {
            let fo = object(f, fp)?;
            known(fo, fp, FUNCTION)?;
            let name = match get(fo, "name") {
                Some(n) => check::tool_name(n, &fp.key("name"), b".:")?,
                None => return check::value(&fp.key("name"), "name is not specified"),
            };
            if let Some(s) = get(fo, "parameters") {
                schema(s, &fp.key("parameters"))?;
            }
            let params = get(fo, "parameters").or_else(|| get(fo, "parametersJsonSchema"));
            tools.push(Tool {
                name,
                schema: params,
            });
            Ok(())
        })
    })?;
    Ok(tools)
}

/// An OpenAPI-subset `Schema`: unknown keywords (`additionalProperties`, `$schema`, ...)
/// are refused, as the API refuses them.
fn schema(v: &Value, p: &Path) -> Checked<()> {
    let o = object(v, p)?;
    known(o, p, SCHEMA)?;
    if let Some(t) = o.get("type") {
        let t = string(t, &p.key("type"))?;
        let types = [
            "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
        ];
        if !types.iter().any(|k| k.eq_ignore_ascii_case(t)) {
            return check::value(&p.key("type"), format!("invalid type {t:?}"));
        }
    }
    if let Some(props) = o.get("properties") {
        let pp = p.key("properties");
        for (k, s) in object(props, &pp)? {
            schema(s, &pp.key(k))?;
        }
    }
    if let Some(items) = o.get("items") {
        schema(items, &p.key("items"))?;
    }
    each(o, "anyOf", p, schema)
}

fn tool_config<'a>(o: &'a Map<String, Value>, root: &Path) -> Checked<Choice<'a>> {
    let Some(tc) = get(o, "toolConfig") else {
        return Ok(Choice::Auto);
    };
    let p = root.key("toolConfig");
    let to = object(tc, &p)?;
    known(to, &p, &["functionCallingConfig", "retrievalConfig"])?;
    let Some(fc) = get(to, "functionCallingConfig") else {
        return Ok(Choice::Auto);
    };
    let fp = p.key("functionCallingConfig");
    let fo = object(fc, &fp)?;
    known(fo, &fp, &["mode", "allowedFunctionNames"])?;
    let mode = match get(fo, "mode") {
        Some(m) => one_of(
            m,
            &fp.key("mode"),
            &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"],
        )?,
        None => "AUTO",
    };
    let mut allowed = Vec::new();
    each_of(fo, "allowedFunctionNames", &fp, |n, np| {
        allowed.push(string(n, np)?);
        Ok(())
    })?;
    Ok(match (mode, &allowed[..]) {
        ("NONE", _) => Choice::None,
        ("ANY", [only]) => Choice::Named(only),
        ("ANY", _) => Choice::Required,
        _ => Choice::Auto,
    })
}

/// Check `generationConfig`; returns `maxOutputTokens`.
fn generation(o: &Map<String, Value>, root: &Path) -> Checked<Option<u64>> {
    let Some(g) = get(o, "generationConfig") else {
        return Ok(None);
    };
    let p = root.key("generationConfig");
    let go = object(g, &p)?;
    known(go, &p, GENERATION)?;
    let max = match get(go, "maxOutputTokens") {
        Some(v) => Some(uint(v, &p.key("maxOutputTokens"), 1)?),
        None => None,
    };
    if let Some(v) = get(go, "temperature") {
        number(v, &p.key("temperature"), 0.0, 2.0)?;
    }
    if let Some(v) = get(go, "topP") {
        number(v, &p.key("topP"), 0.0, 1.0)?;
    }
    if let Some(v) = get(go, "topK") {
        uint(v, &p.key("topK"), 1)?;
    }
    let sp = p.key("stopSequences");
    if let Some(v) = get(go, "stopSequences") {
        let stops = array(v, &sp)?;
        if stops.len() > 5 {
            return check::value(&sp, "stop_sequences must have at most 5 entries");
        }
        for (i, s) in stops.iter().enumerate() {
            string(s, &sp.at(i))?;
        }
    }
    let mime = match get(go, "responseMimeType") {
        Some(v) => {
            let mp = p.key("responseMimeType");
            let m = string(v, &mp)?;
            if !MIME_TYPES.contains(&m) {
                return check::value(&mp, "allowed mimetypes are text/plain, application/json, application/xml, application/yaml and text/x.enum.");
            }
            m
        }
        None => "text/plain",
    };
    if let Some(s) = get(go, "responseSchema") {
        let rp = p.key("responseSchema");
        schema(s, &rp)?;
        if !matches!(mime, "application/json" | "text/x.enum") {
            return check::value(&rp, "response_mime_type must be application/json or text/x.enum when response_schema is set.");
        }
    }
    Ok(max)
}

fn count_request(body: &Value) -> Checked<()> {
    let root = Path::root();
    let o = object(body, &root)?;
    known(o, &root, &["contents", "generateContentRequest"])?;
    if let Some(r) = get(o, "generateContentRequest") {
        request(r, &root.key("generateContentRequest"))?;
    }
    each_of(o, "contents", &root, |c, cp| {
        content(c, cp, false).map(drop)
    })
}

/// One response: the candidate's parts, and its finish reason when it is the last.
fn response(ctx: &Ctx, parts: Value, finish: Option<&str>, output: u32) -> Value {
    let prompt = ctx.prompt_tokens();
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        },
        "modelVersion": ctx.path_model(),
        "responseId": id("", ctx.plan.seed),
    })
}

fn call_parts(calls: &[Call]) -> Value {
    calls
        .iter()
        .map(|c| json!({"functionCall": {"name": c.name, "args": c.arguments}}))
        .collect()
}

fn answer(ctx: &Ctx, req: &Request, calls: &[Call]) -> Decision {
    let plan = ctx.plan;
    let len = length(plan, req.max_tokens);
    let (finish, output) = native::ending(len, calls, ["STOP", "MAX_TOKENS", "STOP"]);
    if ctx.route.endpoint != Endpoint::StreamGenerateContent {
        let parts = if calls.is_empty() {
            json!([{ "text": native::text(plan.seed, len.words) }])
        } else {
            call_parts(calls)
        };
        return Decision::json(&response(ctx, parts, Some(finish), output));
    }
    let sse = ctx.query(b"alt") == Some(b"sse");
    let mut f = if sse {
        Frames::sse()
    } else {
        Frames::new(b"application/json")
    };
    let frame = |f: &mut Frames, v: &Value| {
        let (open, close): (&[u8], &[u8]) = match sse {
            true => (b"data: ", b"\r\n\r\n"),
            false if f.is_empty() => (b"[", b""),
            false => (b",\r\n", b""),
        };
        f.raw(&[open, v.to_string().as_bytes(), close].concat());
    };
    f.content_start();
    if calls.is_empty() {
        let pieces = native::text_pieces(plan.seed, len.words, plan.chunks);
        let last = pieces.len();
        for (k, piece) in pieces.into_iter().enumerate() {
            let so_far = proto::openai::synth::chunk_end(k as u32 + 1, len.words, plan.chunks);
            let done = (k + 1 == last).then_some(finish);
            frame(
                &mut f,
                &response(ctx, json!([{ "text": piece }]), done, so_far),
            );
        }
    } else {
        let v = response(ctx, call_parts(calls), Some(finish), output);
        frame(&mut f, &v);
    }
    f.content_end();
    let err = error(
        500,
        "An internal error has occurred (injected by sluice mock).",
    )
    .to_string();
    if sse {
        f.set_error(format!("data: {err}\r\n\r\n").into_bytes());
    } else {
        f.raw(b"]");
        f.set_error(format!(",\r\n{err}]").into_bytes());
    }
    Decision::Stream(f)
}
