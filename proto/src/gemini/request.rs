//! OpenAI chat request → Gemini `GenerateContentRequest`.
//!
//! | OpenAI | Gemini | notes |
//! |---|---|---|
//! | `system` / `developer` messages | `systemInstruction.parts` | wherever they occur, in order; text only (an image is refused) |
//! | `user` / `assistant` | `contents[]` role `user` / `model` | consecutive turns of one role are merged: Gemini expects user and model turns to alternate (two `user` turns in a row are accepted by some models and refused by others) |
//! | text | `{text}` | empty text is skipped (Gemini rejects an empty text part); a message that yields no part is skipped |
//! | `image_url` `data:` URL | `inlineData{mimeType,data}` | |
//! | `image_url` other URL | `fileData{mimeType,fileUri}` | mime type from the extension (png, jpeg, gif, webp, heic, heif, pdf), else `image/jpeg`; Gemini fetches only URLs it supports (Files API, some public URLs) |
//! | `input_audio` | `inlineData` `audio/<format>` | |
//! | `file` with `file_data` data URL | `inlineData` | `file_id` is refused (OpenAI's file store means nothing to Gemini) |
//! | assistant `tool_calls` | `functionCall{name,args}` parts | `arguments` must be a JSON object (or empty, read as `{}`), else [`TranslateError::BadJson`]; written byte-for-byte, never re-serialized; a thought signature carried in the id (see [`super::ids`]) goes back as the part's `thoughtSignature` |
//! | `tool` message | `functionResponse{name,response}` in a `user` turn | `name` from the earlier call with that id (the latest one, if ids repeat), else the message's `name`, else refused; `response` is the result when it is a JSON object, else `{"content": <text>}`; consecutive results (a parallel step) share one turn, and a user message right after them joins it too |
//! | `tools` | `tools[{functionDeclarations}]` | `parameters` narrowed by [`super::schema`]; an object schema without properties is left out; with [`SchemaMode::JsonSchema`] sent untouched as `parametersJsonSchema` |
//! | `tool_choice` | `toolConfig.functionCallingConfig` | `auto`→`AUTO`, `none`→`NONE`, `required`→`ANY`, a named function→`ANY` + `allowedFunctionNames` |
//! | `max_completion_tokens` / `max_tokens` | `maxOutputTokens` | |
//! | `temperature`, `top_p`, `stop`, `n`, `presence_penalty`, `frequency_penalty` | `temperature`, `topP`, `stopSequences`, `candidateCount`, `presencePenalty`, `frequencyPenalty` | `n > 1` with `stream` is refused (the stream carries one candidate) |
//! | `seed` | `seed` | Gemini's is 32-bit: the value wraps (still deterministic) |
//! | `response_format` `json_object` | `responseMimeType: application/json` | |
//! | `response_format` `json_schema` | + `responseSchema` (narrowed) | or `responseJsonSchema` untouched with [`SchemaMode::JsonSchema`] |
//! | `reasoning_effort` | `thinkingConfig` | [`ThinkingMode::Budget`]: none 0, minimal 512, low 1024, medium 8192, high 24576 tokens; [`ThinkingMode::Level`] (Gemini 3): `thinkingLevel` minimal/low/medium/high. `includeThoughts` is set unless the effort is `none`, so thought summaries come back as `reasoning_content` |
//! | `logprobs`, `top_logprobs`, `logit_bias`, `user`, `metadata`, `parallel_tool_calls`, `stream_options` | — | dropped (no equivalent, or nothing in the response translation would use it) |

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::ids;
use super::schema::{is_empty_object, Sanitized};
use crate::chat::{ChatRequest, Content, ContentPart, ImageUrl, Message, Role, ToolChoice};
use crate::chat::{FunctionDef, TranslateError};

/// Which schema fields tools and `json_schema` responses use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemaMode {
    /// `parameters` / `responseSchema`, narrowed to the OpenAPI subset every Gemini model
    /// accepts ([`super::schema`]).
    #[default]
    OpenApi,
    /// `parametersJsonSchema` / `responseJsonSchema`: full JSON Schema, sent untouched
    /// (newer models only).
    JsonSchema,
}

/// How `reasoning_effort` is expressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThinkingMode {
    /// `thinkingBudget` in tokens (Gemini 2.5).
    #[default]
    Budget,
    /// `thinkingLevel` (Gemini 3).
    Level,
}

/// Per-deployment choices, decided once from configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub schema: SchemaMode,
    pub thinking: ThinkingMode,
    /// Give the first function call of each model turn that carries no thought signature
    /// the placeholder [`SIGNATURE_PLACEHOLDER`], which Gemini 3 documents for histories
    /// it did not produce (another provider's tool calls, or a client that rewrote ids).
    /// Without it Gemini 3 answers such a history with 400.
    pub signature_placeholder: bool,
}

/// The thought signature Gemini documents as "skip validation" for function calls it did
/// not generate.
pub const SIGNATURE_PLACEHOLDER: &str = "context_engineering_is_the_way_to_go";

/// Write `req` as a `GenerateContentRequest` JSON body into `out`.
pub fn write_request(
    req: &ChatRequest<'_>,
    opts: &RequestOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranslateError> {
    let mut system = Vec::new();
    let contents = contents(&req.messages, opts, &mut system)?;
    let n = req.n.filter(|&n| n != 1);
    if n.is_some() && req.is_stream() {
        return Err(TranslateError::Unsupported("n"));
    }
    let body = Body {
        contents,
        system_instruction: (!system.is_empty()).then_some(Turn {
            role: None,
            parts: system,
        }),
        tools: tools(req, opts)?,
        tool_config: req.tool_choice.as_ref().map(tool_config),
        generation_config: generation_config(req, opts, n)?,
    };
    serde_json::to_writer(out, &body).map_err(|_| TranslateError::BadJson("a tool schema"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'r> {
    contents: Vec<Turn<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<Turn<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[Tools<'r>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'r>>,
    #[serde(skip_serializing_if = "GenerationConfig::is_empty")]
    generation_config: GenerationConfig<'r>,
}

#[derive(Serialize)]
struct Turn<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    parts: Vec<Part<'r>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Part<'r> {
    Text {
        text: &'r str,
    },
    Inline {
        #[serde(rename = "inlineData")]
        inline_data: Blob<'r>,
    },
    File {
        #[serde(rename = "fileData")]
        file_data: FileData<'r>,
    },
    Call {
        #[serde(rename = "functionCall")]
        function_call: Call<'r>,
        #[serde(rename = "thoughtSignature", skip_serializing_if = "Option::is_none")]
        thought_signature: Option<Cow<'r, str>>,
    },
    Response {
        #[serde(rename = "functionResponse")]
        function_response: FnResponse<'r>,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Blob<'r> {
    mime_type: Cow<'r, str>,
    data: &'r str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'r> {
    mime_type: &'static str,
    file_uri: &'r str,
}

#[derive(Serialize)]
struct Call<'r> {
    name: &'r str,
    args: &'r RawValue,
}

#[derive(Serialize)]
struct FnResponse<'r> {
    name: &'r str,
    response: ToolResult<'r>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ToolResult<'r> {
    Object(&'r RawValue),
    OwnedObject(Box<RawValue>),
    Text { content: Cow<'r, str> },
}

// --- contents ---

fn push<'r>(turns: &mut Vec<Turn<'r>>, role: &'static str, part: Part<'r>) {
    match turns.last_mut() {
        Some(t) if t.role == Some(role) => t.parts.push(part),
        _ => turns.push(Turn {
            role: Some(role),
            parts: vec![part],
        }),
    }
}

fn contents<'r>(
    messages: &'r [Message<'_>],
    opts: &RequestOptions,
    system: &mut Vec<Part<'r>>,
) -> Result<Vec<Turn<'r>>, TranslateError> {
    let mut turns = Vec::with_capacity(messages.len());
    // (call id without signature, function name) of every assistant tool call so far.
    let mut calls: Vec<(&'r str, &'r str)> = Vec::new();
    for m in messages {
        match m.role {
            Role::System | Role::Developer => system_parts(m, system)?,
            Role::User => user_parts(m, &mut turns)?,
            Role::Assistant => assistant_parts(m, opts, &mut calls, &mut turns)?,
            Role::Tool | Role::Function => {
                let part = tool_result(m, &calls)?;
                push(&mut turns, "user", part);
            }
        }
    }
    Ok(turns)
}

fn system_parts<'r>(m: &'r Message<'_>, system: &mut Vec<Part<'r>>) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) => push_text(system, t),
        Some(Content::Parts(parts)) => {
            for p in parts {
                match (&*p.kind, &p.text) {
                    ("text", Some(t)) => push_text(system, t),
                    ("text", None) => {}
                    _ => return Err(TranslateError::Unsupported("messages[].content")),
                }
            }
        }
    }
    Ok(())
}

fn push_text<'r>(parts: &mut Vec<Part<'r>>, text: &'r str) {
    if !text.is_empty() {
        parts.push(Part::Text { text });
    }
}

fn user_parts<'r>(m: &'r Message<'_>, turns: &mut Vec<Turn<'r>>) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) if !t.is_empty() => push(turns, "user", Part::Text { text: t }),
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                if let Some(part) = user_part(p)? {
                    push(turns, "user", part);
                }
            }
        }
    }
    Ok(())
}

fn user_part<'r>(p: &'r ContentPart<'_>) -> Result<Option<Part<'r>>, TranslateError> {
    Ok(match &*p.kind {
        "text" => p
            .text
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|text| Part::Text { text }),
        "image_url" => {
            let img = p
                .image_url
                .as_ref()
                .ok_or(TranslateError::BadJson("image_url.url"))?;
            Some(image(img)?)
        }
        "input_audio" => Some(audio(p.input_audio)?),
        "file" => Some(file(p.file)?),
        _ => return Err(TranslateError::Unsupported("messages[].content[].type")),
    })
}

fn image<'r>(img: &'r ImageUrl<'_>) -> Result<Part<'r>, TranslateError> {
    if let Some((media, data)) = data_url(&img.url) {
        return Ok(Part::Inline {
            inline_data: Blob {
                mime_type: Cow::Borrowed(media),
                data,
            },
        });
    }
    if img.url.starts_with("data:") {
        // A data URL that is not base64: Gemini's inlineData is base64 only.
        return Err(TranslateError::Unsupported("image_url"));
    }
    Ok(Part::File {
        file_data: FileData {
            mime_type: guess_mime(&img.url),
            file_uri: &img.url,
        },
    })
}

/// `(media type, base64 data)` of a base64 `data:` URL (as [`ImageUrl::as_data`], but
/// borrowing from the string itself).
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

/// The media type of a URL from its extension; `image/jpeg` when unknown (image URLs are
/// the common case and Gemini sniffs the bytes anyway for images).
pub fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext,
        None => return "image/jpeg",
    };
    const TABLE: &[(&str, &str)] = &[
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("heic", "image/heic"),
        ("heif", "image/heif"),
        ("pdf", "application/pdf"),
    ];
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or("image/jpeg", |&(_, m)| m)
}

fn audio(raw: Option<&RawValue>) -> Result<Part<'_>, TranslateError> {
    #[derive(serde::Deserialize)]
    struct Audio<'a> {
        data: &'a str,
        format: &'a str,
    }
    let raw = raw.ok_or(TranslateError::BadJson("input_audio"))?;
    let a: Audio = serde_json::from_str(raw.get())
        .map_err(|_| TranslateError::BadJson("input_audio {data, format}"))?;
    let mime = match a.format {
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        _ => return Err(TranslateError::Unsupported("input_audio.format")),
    };
    Ok(Part::Inline {
        inline_data: Blob {
            mime_type: Cow::Borrowed(mime),
            data: a.data,
        },
    })
}

fn file(raw: Option<&RawValue>) -> Result<Part<'_>, TranslateError> {
    #[derive(serde::Deserialize)]
    struct File<'a> {
        #[serde(default, borrow)]
        file_data: Option<&'a str>,
    }
    let raw = raw.ok_or(TranslateError::BadJson("file"))?;
    let f: File =
        serde_json::from_str(raw.get()).map_err(|_| TranslateError::BadJson("file {file_data}"))?;
    let url = f
        .file_data
        .ok_or(TranslateError::Unsupported("file.file_id"))?;
    let (media, data) = data_url(url).ok_or(TranslateError::Unsupported("file.file_data"))?;
    Ok(Part::Inline {
        inline_data: Blob {
            mime_type: Cow::Borrowed(media),
            data,
        },
    })
}

fn assistant_parts<'r>(
    m: &'r Message<'_>,
    opts: &RequestOptions,
    calls: &mut Vec<(&'r str, &'r str)>,
    turns: &mut Vec<Turn<'r>>,
) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) if !t.is_empty() => push(turns, "model", Part::Text { text: t }),
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                match (&*p.kind, &p.text) {
                    ("text" | "refusal", Some(t)) if !t.is_empty() => {
                        push(turns, "model", Part::Text { text: t });
                    }
                    ("text" | "refusal", _) => {}
                    _ => return Err(TranslateError::Unsupported("messages[].content[].type")),
                }
            }
        }
    }
    let Some(tool_calls) = &m.tool_calls else {
        return Ok(());
    };
    for (i, call) in tool_calls.iter().enumerate() {
        let (base, sig) = ids::split(&call.id);
        calls.push((base, &call.function.name));
        let thought_signature = match sig {
            Some(s) => Some(Cow::Owned(s)),
            None if i == 0 && opts.signature_placeholder => {
                Some(Cow::Borrowed(SIGNATURE_PLACEHOLDER))
            }
            None => None,
        };
        let part = Part::Call {
            function_call: Call {
                name: &call.function.name,
                args: call.function.arguments_object()?,
            },
            thought_signature,
        };
        push(turns, "model", part);
    }
    Ok(())
}

fn tool_result<'r>(
    m: &'r Message<'_>,
    calls: &[(&'r str, &'r str)],
) -> Result<Part<'r>, TranslateError> {
    let by_id = m.tool_call_id.as_deref().and_then(|id| {
        let (base, _) = ids::split(id);
        calls
            .iter()
            .rev()
            .find(|(c, _)| *c == base)
            .map(|&(_, n)| n)
    });
    let name = by_id
        .or(m.name.as_deref())
        .ok_or(TranslateError::Unsupported("tool_call_id"))?;
    let text: Cow<'r, str> = match &m.content {
        None => Cow::Borrowed(""),
        Some(c) => c.joined_text(),
    };
    let response = json_object(text);
    Ok(Part::Response {
        function_response: FnResponse { name, response },
    })
}

/// A tool result that is a JSON object goes to Gemini as the object itself (Gemini's
/// `response` is a Struct); anything else is wrapped as `{"content": text}`.
fn json_object(text: Cow<'_, str>) -> ToolResult<'_> {
    if !text.trim_start().starts_with('{') {
        return ToolResult::Text { content: text };
    }
    match text {
        Cow::Borrowed(t) => match serde_json::from_str::<&RawValue>(t) {
            Ok(raw) => ToolResult::Object(raw),
            Err(_) => ToolResult::Text { content: text },
        },
        Cow::Owned(t) => match serde_json::from_str::<&RawValue>(&t) {
            Ok(raw) => ToolResult::OwnedObject(raw.to_owned()),
            Err(_) => ToolResult::Text {
                content: Cow::Owned(t),
            },
        },
    }
}

// --- tools ---

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tools<'r> {
    function_declarations: Vec<FnDecl<'r>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FnDecl<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<OwnedSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<&'r RawValue>,
}

/// A parsed JSON Schema, written narrowed to Gemini's subset.
struct OwnedSchema(Value);

impl Serialize for OwnedSchema {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Sanitized::new(&self.0).serialize(s)
    }
}

fn parse_schema(raw: &RawValue) -> Result<Value, TranslateError> {
    serde_json::from_str(raw.get()).map_err(|_| TranslateError::BadJson("a JSON Schema"))
}

fn tools<'r>(
    req: &'r ChatRequest<'_>,
    opts: &RequestOptions,
) -> Result<Option<[Tools<'r>; 1]>, TranslateError> {
    let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut decls = Vec::with_capacity(tools.len());
    for t in tools {
        if t.kind != "function" {
            return Err(TranslateError::Unsupported("tools[].type"));
        }
        decls.push(declaration(&t.function, opts)?);
    }
    Ok(Some([Tools {
        function_declarations: decls,
    }]))
}

fn declaration<'r>(
    f: &'r FunctionDef<'_>,
    opts: &RequestOptions,
) -> Result<FnDecl<'r>, TranslateError> {
    let mut decl = FnDecl {
        name: &f.name,
        description: f.description.as_deref(),
        parameters: None,
        parameters_json_schema: None,
    };
    if let Some(raw) = f.parameters {
        match opts.schema {
            SchemaMode::JsonSchema => decl.parameters_json_schema = Some(raw),
            SchemaMode::OpenApi => {
                let v = parse_schema(raw)?;
                if !is_empty_object(&v) {
                    decl.parameters = Some(OwnedSchema(v));
                }
            }
        }
    }
    Ok(decl)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'r> {
    function_calling_config: CallingConfig<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallingConfig<'r> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'r str; 1]>,
}

fn tool_config<'r>(choice: &'r ToolChoice<'_>) -> ToolConfig<'r> {
    let (mode, allowed) = match choice {
        ToolChoice::None => ("NONE", None),
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Function(name) => ("ANY", Some([&**name])),
    };
    ToolConfig {
        function_calling_config: CallingConfig {
            mode,
            allowed_function_names: allowed,
        },
    }
}

// --- generationConfig ---

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct GenerationConfig<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'r [Cow<'r, str>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_schema: Option<OwnedSchema>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<&'r RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_output_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_none()
            && self.candidate_count.is_none()
            && self.seed.is_none()
            && self.presence_penalty.is_none()
            && self.frequency_penalty.is_none()
            && self.response_mime_type.is_none()
            && self.response_schema.is_none()
            && self.response_json_schema.is_none()
            && self.thinking_config.is_none()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    include_thoughts: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_budget: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_level: Option<&'static str>,
}

fn thinking(effort: &str, mode: ThinkingMode) -> Result<ThinkingConfig, TranslateError> {
    let (budget, level) = match effort {
        "none" => (0, "minimal"),
        "minimal" => (512, "minimal"),
        "low" => (1024, "low"),
        "medium" => (8192, "medium"),
        "high" | "xhigh" => (24576, "high"),
        _ => return Err(TranslateError::Unsupported("reasoning_effort")),
    };
    let mut cfg = ThinkingConfig {
        include_thoughts: (effort != "none").then_some(true),
        thinking_budget: None,
        thinking_level: None,
    };
    match mode {
        ThinkingMode::Budget => cfg.thinking_budget = Some(budget),
        ThinkingMode::Level => cfg.thinking_level = Some(level),
    }
    Ok(cfg)
}

fn generation_config<'r>(
    req: &'r ChatRequest<'_>,
    opts: &RequestOptions,
    n: Option<u32>,
) -> Result<GenerationConfig<'r>, TranslateError> {
    let mut g = GenerationConfig {
        max_output_tokens: req.max_output_tokens(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_deref().filter(|s| !s.is_empty()),
        candidate_count: n,
        // INVARIANT: Gemini's seed is an int32; wrapping keeps equal seeds equal.
        seed: req.seed.map(|s| s as i32),
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        ..GenerationConfig::default()
    };
    if let Some(rf) = &req.response_format {
        match &*rf.kind {
            "text" => {}
            "json_object" => g.response_mime_type = Some("application/json"),
            "json_schema" => {
                g.response_mime_type = Some("application/json");
                let schema = rf.json_schema.as_ref().and_then(|j| j.schema);
                match (schema, opts.schema) {
                    (None, _) => {}
                    (Some(raw), SchemaMode::JsonSchema) => g.response_json_schema = Some(raw),
                    (Some(raw), SchemaMode::OpenApi) => {
                        g.response_schema = Some(OwnedSchema(parse_schema(raw)?));
                    }
                }
            }
            _ => return Err(TranslateError::Unsupported("response_format.type")),
        }
    }
    if let Some(effort) = &req.reasoning_effort {
        g.thinking_config = Some(thinking(effort, opts.thinking)?);
    }
    Ok(g)
}
