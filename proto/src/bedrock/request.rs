//! OpenAI chat request → Bedrock `Converse` / `ConverseStream` request body.
//!
//! | OpenAI | Bedrock | notes |
//! |---|---|---|
//! | `system` / `developer` messages | `system[{text}]` | wherever they occur, in order; text only (an image is refused); empty text skipped |
//! | `user` / `assistant` | `messages[]` role `user` / `assistant` | consecutive turns of one role are merged (Bedrock requires alternation); a message that yields no block is skipped |
//! | text | `{text}` | empty text is skipped (Bedrock rejects blank text blocks) |
//! | `image_url` base64 `data:` URL | `{image:{format, source:{bytes}}}` | `image/png`, `image/jpeg`, `image/gif`, `image/webp`; other media types are refused; the base64 is copied as is |
//! | `image_url` `https:` URL | — | refused ([`TranslateError::Unsupported`]): Converse takes bytes or S3 locations, and `proto` does no I/O |
//! | `input_audio`, `file`, other part types | — | refused |
//! | assistant `tool_calls` | `{toolUse:{toolUseId, name, input}}` | `arguments` must be a JSON object (blank reads as `{}`), else [`TranslateError::BadJson`]; `input` is the arguments text byte for byte, never re-serialized |
//! | `tool` message | `{toolResult:{toolUseId, content:[{text}]}}` in a `user` turn | `tool_call_id` is required (a legacy `function` message without one is [`TranslateError::BadJson`]); consecutive results share one turn, and a user message right after them joins it; with [`RequestOptions::tool_result_json`] a result that is a JSON object goes as `{json: <object>}` (byte for byte); `status` is never set (OpenAI has no error flag on tool results); empty content is `[]` |
//! | tool call ids | `toolUseId` | Bedrock allows `[a-zA-Z0-9_-]{1,64}`; other ids (from other providers) are rewritten by [`tool_use_id`], the same way in `toolUse` and `toolResult`, so they still pair |
//! | `tools` | `toolConfig.tools[{toolSpec:{name, description, inputSchema:{json}}}]` | the schema untouched; a tool without `parameters` gets `{"type":"object","properties":{}}` (Bedrock requires a schema); `strict` is dropped |
//! | `tool_choice` `auto` / `required` / named | `toolChoice` `{auto:{}}` / `{any:{}}` / `{tool:{name}}` | absent → no `toolChoice` (Bedrock's default is auto) |
//! | `tool_choice` `none` | no `toolConfig` | approximate: Converse has no "none". But Bedrock refuses a history with `toolUse`/`toolResult` blocks unless `toolConfig` is present, so then the tools are sent without `toolChoice` and the model *may* still call one |
//! | history with tool blocks, no `tools` | `toolConfig.tools` declared from the history | each function name called in the history, with an open object schema and no `toolChoice`, so the request is accepted (clients often drop `tools` on a final "summarize" turn) |
//! | `max_completion_tokens` / `max_tokens`, `temperature`, `top_p`, `stop` | `inferenceConfig{maxTokens, temperature, topP, stopSequences}` | |
//! | `response_format` `json_object` / `json_schema` | [`JsonMode::Tool`]: a forced tool [`JSON_TOOL_NAME`] whose input schema is the response schema; the response translation turns its input back into `content`. [`JsonMode::Native`]: `outputConfig.textFormat` (newer models only) | `json_object` uses the schema `{"type":"object"}`; with [`JsonMode::Tool`] and client `tools` it is refused (the forced tool would forbid the client's tools) |
//! | `reasoning_effort` | [`ThinkingMode::AnthropicBudget`]: `additionalModelRequestFields.thinking{type: enabled, budget_tokens}` | minimal 1024, low 2048, medium 8192, high 24576 tokens; `none` sends nothing; [`ThinkingMode::Drop`] (default) drops it |
//! | `n` ≠ 1 | — | refused: Converse returns one message |
//! | `seed`, `presence_penalty`, `frequency_penalty`, `logprobs`, `top_logprobs`, `logit_bias`, `user`, `metadata`, `parallel_tool_calls`, `stream`, `stream_options` | — | dropped (no Converse equivalent; streaming is chosen by [`super::path`]) |
//!
//! Not checked here, left to Bedrock's own 400: a conversation that starts with an
//! assistant turn, tool names outside Bedrock's pattern, more stop sequences than a model
//! accepts.

use std::borrow::Cow;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::chat::{ChatRequest, Content, ContentPart, Message, ResponseFormat, Role, ToolChoice};
use crate::chat::{Tool, TranslateError};

/// How `response_format` JSON modes are expressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum JsonMode {
    /// A tool named [`JSON_TOOL_NAME`] with the response schema, forced with
    /// `toolChoice.tool`; works on every model with tool use. The response and stream
    /// translations must be told ([`super::ResponseMeta::json_tool`],
    /// [`super::BedrockStream::new`]) to turn its input back into text.
    #[default]
    Tool,
    /// `outputConfig.textFormat` `json_schema` (Bedrock structured outputs; newer models).
    Native,
}

/// How `reasoning_effort` is expressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThinkingMode {
    /// Dropped: Converse has no model-independent reasoning switch.
    #[default]
    Drop,
    /// Anthropic Claude's extended thinking, through `additionalModelRequestFields`.
    AnthropicBudget,
}

/// Per-deployment choices, decided once from configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub json_mode: JsonMode,
    pub thinking: ThinkingMode,
    /// Send a tool result that is a JSON object as a `json` block rather than `text`
    /// (Claude and Nova accept it; some models take text only).
    pub tool_result_json: bool,
}

/// The name of the tool [`JsonMode::Tool`] forces.
pub const JSON_TOOL_NAME: &str = "json_response";

/// The schema of a tool declared without `parameters`, and of `json_object`.
const OPEN_OBJECT_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;
const ANY_OBJECT_SCHEMA: &str = r#"{"type":"object"}"#;

/// Bedrock's `toolUseId` length limit.
pub const TOOL_USE_ID_BYTES_MAX: usize = 64;

/// Write `req` as a Converse request body into `out`.
pub fn write_request(
    req: &ChatRequest<'_>,
    opts: &RequestOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranslateError> {
    if req.n.is_some_and(|n| n != 1) {
        return Err(TranslateError::Unsupported("n"));
    }
    let mut system = Vec::new();
    let mut history = History::default();
    let messages = messages(&req.messages, opts, &mut system, &mut history)?;
    let json = json_format(req.response_format.as_ref())?;
    let body = Body {
        messages,
        system,
        inference_config: InferenceConfig {
            max_tokens: req.max_output_tokens(),
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences: req.stop.as_deref().filter(|s| !s.is_empty()),
        },
        tool_config: tool_config(req, opts, &history, json.as_ref())?,
        output_config: match (&json, opts.json_mode) {
            (Some(j), JsonMode::Native) => Some(OutputConfig::new(j)),
            _ => None,
        },
        additional_model_request_fields: thinking(req, opts)?,
    };
    serde_json::to_writer(out, &body).map_err(|_| TranslateError::BadJson("a tool schema"))
}

// --- the wire shape ---

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'r> {
    messages: Vec<Turn<'r>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<SystemBlock<'r>>,
    #[serde(skip_serializing_if = "InferenceConfig::is_empty")]
    inference_config: InferenceConfig<'r>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<OutputConfig<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_model_request_fields: Option<Additional>,
}

#[derive(Serialize)]
struct Turn<'r> {
    role: &'static str,
    content: Vec<Block<'r>>,
}

#[derive(Serialize)]
struct SystemBlock<'r> {
    text: &'r str,
}

/// A `ContentBlock` union: serde's external tagging writes `{"text": ...}`,
/// `{"toolUse": {...}}`, ...
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Block<'r> {
    Text(&'r str),
    Image(Image<'r>),
    ToolUse(ToolUse<'r>),
    ToolResult(ToolResult<'r>),
}

#[derive(Serialize)]
struct Image<'r> {
    format: &'static str,
    source: ImageSource<'r>,
}

#[derive(Serialize)]
struct ImageSource<'r> {
    /// A blob: base64 in Bedrock's JSON protocol.
    bytes: &'r str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolUse<'r> {
    tool_use_id: Cow<'r, str>,
    name: &'r str,
    input: &'r RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolResult<'r> {
    tool_use_id: Cow<'r, str>,
    content: Vec<ResultBlock<'r>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum ResultBlock<'r> {
    Text(Cow<'r, str>),
    Json(JsonRef<'r>),
}

/// JSON text written as is: borrowed from the request, or from a string the request
/// owned (an escaped tool result).
enum JsonRef<'r> {
    Borrowed(&'r RawValue),
    Owned(Box<RawValue>),
}

impl Serialize for JsonRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonRef::Borrowed(r) => r.serialize(s),
            JsonRef::Owned(r) => r.serialize(s),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig<'r> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'r [Cow<'r, str>]>,
}

impl InferenceConfig<'_> {
    fn is_empty(&self) -> bool {
        self.max_tokens.is_none()
            && self.temperature.is_none()
            && self.top_p.is_none()
            && self.stop_sequences.is_none()
    }
}

// --- messages ---

/// What the history says about tools, for `toolConfig`.
#[derive(Default)]
struct History<'r> {
    /// A `toolUse` or `toolResult` block was written.
    tool_blocks: bool,
    /// Function names called in the history, first occurrence order, no repeats.
    names: Vec<&'r str>,
}

fn push<'r>(turns: &mut Vec<Turn<'r>>, role: &'static str, block: Block<'r>) {
    match turns.last_mut() {
        Some(t) if t.role == role => t.content.push(block),
        _ => turns.push(Turn {
            role,
            content: vec![block],
        }),
    }
}

fn messages<'r>(
    messages: &'r [Message<'_>],
    opts: &RequestOptions,
    system: &mut Vec<SystemBlock<'r>>,
    history: &mut History<'r>,
) -> Result<Vec<Turn<'r>>, TranslateError> {
    let mut turns = Vec::with_capacity(messages.len());
    for m in messages {
        match m.role {
            Role::System | Role::Developer => system_blocks(m, system)?,
            Role::User => user_blocks(m, &mut turns)?,
            Role::Assistant => assistant_blocks(m, history, &mut turns)?,
            Role::Tool | Role::Function => {
                let block = tool_result(m, opts)?;
                history.tool_blocks = true;
                push(&mut turns, "user", block);
            }
        }
    }
    Ok(turns)
}

fn system_blocks<'r>(
    m: &'r Message<'_>,
    system: &mut Vec<SystemBlock<'r>>,
) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) if !t.is_empty() => system.push(SystemBlock { text: t }),
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                match (&*p.kind, p.text.as_deref()) {
                    ("text", Some(t)) if !t.is_empty() => system.push(SystemBlock { text: t }),
                    ("text", _) => {}
                    _ => return Err(TranslateError::Unsupported("messages[].content")),
                }
            }
        }
    }
    Ok(())
}

fn user_blocks<'r>(m: &'r Message<'_>, turns: &mut Vec<Turn<'r>>) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) if !t.is_empty() => push(turns, "user", Block::Text(t)),
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                if let Some(block) = user_block(p)? {
                    push(turns, "user", block);
                }
            }
        }
    }
    Ok(())
}

fn user_block<'r>(p: &'r ContentPart<'_>) -> Result<Option<Block<'r>>, TranslateError> {
    Ok(match &*p.kind {
        "text" => p.text.as_deref().filter(|t| !t.is_empty()).map(Block::Text),
        "image_url" => {
            let url = &p
                .image_url
                .as_ref()
                .ok_or(TranslateError::BadJson("image_url.url"))?
                .url;
            Some(Block::Image(image(url)?))
        }
        _ => return Err(TranslateError::Unsupported("messages[].content[].type")),
    })
}

/// A base64 `data:` URL as an image block. Anything else is refused: Converse reads
/// images from bytes or S3 only.
fn image(url: &str) -> Result<Image<'_>, TranslateError> {
    let (meta, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .ok_or(TranslateError::Unsupported("image_url"))?;
    let media = meta
        .strip_suffix(";base64")
        .ok_or(TranslateError::Unsupported("image_url"))?;
    let format = match media.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return Err(TranslateError::Unsupported("image_url")),
    };
    Ok(Image {
        format,
        source: ImageSource { bytes: data },
    })
}

fn assistant_blocks<'r>(
    m: &'r Message<'_>,
    history: &mut History<'r>,
    turns: &mut Vec<Turn<'r>>,
) -> Result<(), TranslateError> {
    match &m.content {
        None => {}
        Some(Content::Text(t)) if !t.is_empty() => push(turns, "assistant", Block::Text(t)),
        Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                match (&*p.kind, p.text.as_deref()) {
                    ("text" | "refusal", Some(t)) if !t.is_empty() => {
                        push(turns, "assistant", Block::Text(t));
                    }
                    ("text" | "refusal", _) => {}
                    _ => return Err(TranslateError::Unsupported("messages[].content[].type")),
                }
            }
        }
    }
    for call in m.tool_calls.iter().flatten() {
        let name: &'r str = &call.function.name;
        if !history.names.contains(&name) {
            history.names.push(name);
        }
        history.tool_blocks = true;
        let block = Block::ToolUse(ToolUse {
            tool_use_id: tool_use_id(&call.id),
            name,
            input: call.function.arguments_object()?,
        });
        push(turns, "assistant", block);
    }
    Ok(())
}

/// An OpenAI tool call id as a Bedrock `toolUseId` (`[a-zA-Z0-9_-]{1,64}`): unchanged
/// when it fits, else every other byte becomes `_` and an id over 64 bytes keeps its
/// first 47 bytes, `_`, and 16 hex digits of a 64-bit FNV-1a hash of the whole id. The
/// rewrite is a pure function of the id, so a `toolUse` and its `toolResult` still pair.
pub fn tool_use_id(id: &str) -> Cow<'_, str> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    if !id.is_empty() && id.len() <= TOOL_USE_ID_BYTES_MAX && id.bytes().all(ok) {
        return Cow::Borrowed(id);
    }
    let mut s: String = id
        .bytes()
        .map(|b| if ok(b) { b as char } else { '_' })
        .collect();
    if s.len() > TOOL_USE_ID_BYTES_MAX || s.is_empty() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in id.as_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        s.truncate(TOOL_USE_ID_BYTES_MAX - 17);
        use std::fmt::Write as _;
        // INVARIANT: writing to a String cannot fail.
        let _ = write!(s, "_{h:016x}");
    }
    debug_assert!(s.len() <= TOOL_USE_ID_BYTES_MAX);
    Cow::Owned(s)
}

fn tool_result<'r>(m: &'r Message<'_>, opts: &RequestOptions) -> Result<Block<'r>, TranslateError> {
    let id = m
        .tool_call_id
        .as_deref()
        .ok_or(TranslateError::BadJson("tool_call_id on a tool message"))?;
    let text: Cow<'r, str> = match &m.content {
        None => Cow::Borrowed(""),
        Some(c) => c.joined_text(),
    };
    let content = if text.is_empty() {
        Vec::new()
    } else if opts.tool_result_json {
        vec![json_or_text(text)]
    } else {
        vec![ResultBlock::Text(text)]
    };
    Ok(Block::ToolResult(ToolResult {
        tool_use_id: tool_use_id(id),
        content,
    }))
}

fn json_or_text(text: Cow<'_, str>) -> ResultBlock<'_> {
    if !text.trim_start().starts_with('{') {
        return ResultBlock::Text(text);
    }
    match text {
        Cow::Borrowed(t) => match serde_json::from_str::<&RawValue>(t) {
            Ok(raw) => ResultBlock::Json(JsonRef::Borrowed(raw)),
            Err(_) => ResultBlock::Text(text),
        },
        Cow::Owned(t) => match serde_json::from_str::<&RawValue>(&t) {
            Ok(raw) => ResultBlock::Json(JsonRef::Owned(raw.to_owned())),
            Err(_) => ResultBlock::Text(Cow::Owned(t)),
        },
    }
}

// --- tools ---

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig<'r> {
    tools: Vec<ToolEntry<'r>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Choice<'r>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolEntry<'r> {
    tool_spec: ToolSpec<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolSpec<'r> {
    name: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
    input_schema: InputSchema<'r>,
}

#[derive(Serialize)]
struct InputSchema<'r> {
    json: &'r RawValue,
}

/// `ToolChoice` union: `{"auto":{}}`, `{"any":{}}`, `{"tool":{"name":..}}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Choice<'r> {
    Auto {},
    Any {},
    Tool { name: &'r str },
}

/// A `response_format` that asks for JSON: its schema, name and description.
struct JsonFormat<'r> {
    schema: &'r RawValue,
    name: Option<&'r str>,
    description: Option<&'r str>,
}

fn static_raw(json: &'static str) -> &'static RawValue {
    // INVARIANT: only called with the constant schemas above, which are valid JSON.
    serde_json::from_str(json).expect("constant schema is valid JSON")
}

fn json_format<'r>(
    rf: Option<&'r ResponseFormat<'_>>,
) -> Result<Option<JsonFormat<'r>>, TranslateError> {
    let Some(rf) = rf else { return Ok(None) };
    Ok(match &*rf.kind {
        "text" => None,
        "json_object" => Some(JsonFormat {
            schema: static_raw(ANY_OBJECT_SCHEMA),
            name: None,
            description: None,
        }),
        "json_schema" => {
            let js = rf.json_schema.as_ref();
            Some(JsonFormat {
                schema: js
                    .and_then(|j| j.schema)
                    .unwrap_or_else(|| static_raw(ANY_OBJECT_SCHEMA)),
                name: js.map(|j| &*j.name),
                description: js.and_then(|j| j.description.as_deref()),
            })
        }
        _ => return Err(TranslateError::Unsupported("response_format.type")),
    })
}

fn tool_config<'r>(
    req: &'r ChatRequest<'_>,
    opts: &RequestOptions,
    history: &History<'r>,
    json: Option<&JsonFormat<'r>>,
) -> Result<Option<ToolConfig<'r>>, TranslateError> {
    let declared: &'r [Tool<'_>] = req.tools.as_deref().unwrap_or_default();
    let json_tool = json.filter(|_| opts.json_mode == JsonMode::Tool);
    if json_tool.is_some() && !declared.is_empty() {
        return Err(TranslateError::Unsupported("response_format"));
    }
    let none = req.tool_choice == Some(ToolChoice::None);
    let mut tools = Vec::new();
    if !declared.is_empty() && (!none || history.tool_blocks) {
        for t in declared {
            if t.kind != "function" {
                return Err(TranslateError::Unsupported("tools[].type"));
            }
            let f = &t.function;
            tools.push(ToolEntry {
                tool_spec: ToolSpec {
                    name: &f.name,
                    description: f.description.as_deref().filter(|d| !d.is_empty()),
                    input_schema: InputSchema {
                        json: f
                            .parameters
                            .unwrap_or_else(|| static_raw(OPEN_OBJECT_SCHEMA)),
                    },
                },
            });
        }
    } else if declared.is_empty() && history.tool_blocks {
        for &name in &history.names {
            tools.push(ToolEntry {
                tool_spec: ToolSpec {
                    name,
                    description: None,
                    input_schema: InputSchema {
                        json: static_raw(ANY_OBJECT_SCHEMA),
                    },
                },
            });
        }
    }
    // Only the client's own tools can be chosen: never force a placeholder.
    let mut choice = match &req.tool_choice {
        _ if declared.is_empty() => None,
        Some(ToolChoice::Auto) => Some(Choice::Auto {}),
        Some(ToolChoice::Required) => Some(Choice::Any {}),
        Some(ToolChoice::Function(name)) => Some(Choice::Tool { name }),
        Some(ToolChoice::None) | None => None,
    };
    if let Some(j) = json_tool {
        tools.push(ToolEntry {
            tool_spec: ToolSpec {
                name: JSON_TOOL_NAME,
                description: Some(j.description.unwrap_or(
                    "Give the final answer as this tool's input, a JSON value matching the schema.",
                )),
                input_schema: InputSchema { json: j.schema },
            },
        });
        choice = Some(Choice::Tool {
            name: JSON_TOOL_NAME,
        });
    }
    if tools.is_empty() {
        return Ok(None);
    }
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

// --- outputConfig (JsonMode::Native) ---

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutputConfig<'r> {
    text_format: TextFormat<'r>,
}

#[derive(Serialize)]
struct TextFormat<'r> {
    #[serde(rename = "type")]
    kind: &'static str,
    structure: Structure<'r>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Structure<'r> {
    json_schema: JsonSchemaDefinition<'r>,
}

#[derive(Serialize)]
struct JsonSchemaDefinition<'r> {
    /// Bedrock takes the schema as a JSON *string*.
    schema: &'r str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'r str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'r str>,
}

impl<'r> OutputConfig<'r> {
    fn new(j: &JsonFormat<'r>) -> OutputConfig<'r> {
        OutputConfig {
            text_format: TextFormat {
                kind: "json_schema",
                structure: Structure {
                    json_schema: JsonSchemaDefinition {
                        schema: j.schema.get(),
                        name: j.name,
                        description: j.description,
                    },
                },
            },
        }
    }
}

// --- additionalModelRequestFields ---

#[derive(Serialize)]
struct Additional {
    thinking: Thinking,
}

#[derive(Serialize)]
struct Thinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}

fn thinking(
    req: &ChatRequest<'_>,
    opts: &RequestOptions,
) -> Result<Option<Additional>, TranslateError> {
    let Some(effort) = req.reasoning_effort.as_deref() else {
        return Ok(None);
    };
    if opts.thinking == ThinkingMode::Drop {
        return Ok(None);
    }
    let budget_tokens = match effort {
        "none" => return Ok(None),
        // Claude's minimum budget is 1024.
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" | "xhigh" => 24576,
        _ => return Err(TranslateError::Unsupported("reasoning_effort")),
    };
    Ok(Some(Additional {
        thinking: Thinking {
            kind: "enabled",
            budget_tokens,
        },
    }))
}
