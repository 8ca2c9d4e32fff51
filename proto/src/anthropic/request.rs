//! OpenAI chat request → Anthropic Messages request (the egress).
//!
//! | OpenAI | Anthropic | notes |
//! |---|---|---|
//! | `system` / `developer` messages | `system` | wherever they occur, in order (Anthropic has no mid-conversation system turn). One text part without `cache_control` → a string; otherwise one `text` block per part, each keeping its `cache_control`. A non-text part is refused |
//! | `user` / `assistant` | `messages[]` | consecutive turns of one role are merged into one message with several blocks; a turn that is one plain text block is written as a string |
//! | `tool` (and legacy `function`) messages | `tool_result` blocks in a `user` turn | merged with neighbouring user turns (a parallel step's results share one turn, and a user message right after them joins it). `tool_call_id` is required |
//! | text part | `text` block | `cache_control` passed through; empty text is skipped (Anthropic rejects empty text blocks); a message that yields no block is skipped |
//! | `image_url` `data:…;base64,` URL | `image` `source{type:base64,media_type,data}` | |
//! | `image_url` `http(s):` URL | `image` `source{type:url,url}` | `detail` is dropped; any other URL is refused |
//! | `file` with `file_data` data URL | `document` `source{type:base64}` | `file_id` is refused |
//! | `input_audio` | — | refused |
//! | assistant `tool_calls` | `tool_use{id,name,input}` | `arguments` must be a JSON object (empty reads as `{}`), else [`TranslateError::BadJson`]; written byte-for-byte |
//! | `tools` | `tools[{name,description,input_schema}]` | `input_schema` is `parameters` untouched, or `{"type":"object","properties":{}}` when absent; `strict` dropped |
//! | `tool_choice` | `tool_choice` | `auto`→`auto`, `required`→`any`, a function→`tool{name}`, `none`→`none`; only written with tools |
//! | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use: true` | on `auto` when no `tool_choice` was given; nothing for `none` |
//! | `max_completion_tokens` / `max_tokens` | `max_tokens` | required by Anthropic: [`RequestOptions::max_tokens_default`] when the client gave none |
//! | `temperature` | `temperature` | Anthropic's range is 0–1, OpenAI's 0–2: values above 1 are clamped to 1 (the closest Anthropic allows; refusing would break clients that send OpenAI's default range); a negative or non-finite value is refused |
//! | `top_p`, `stop`, `stream`, `user` | `top_p`, `stop_sequences`, `stream`, `metadata.user_id` | `temperature` and `top_p` are both passed when both are given: whether that is allowed depends on the model (newer Claude models refuse it), and Anthropic's error says so |
//! | `response_format` `json_object` / `json_schema` | a forced tool | see below |
//! | `n > 1` | — | refused ([`TranslateError::Unsupported`]`("n")`) |
//! | `logprobs`, `top_logprobs` | — | refused: the client expects data Anthropic cannot return |
//! | `seed`, `presence_penalty`, `frequency_penalty`, `logit_bias`, `reasoning_effort`, `metadata`, `stream_options`, message `name` | — | dropped (no equivalent); Anthropic streams always carry usage |
//!
//! **`response_format`.** Anthropic's reliable way to get JSON matching a schema is a
//! tool the model is forced to call. The request gets one extra tool named
//! [`JSON_TOOL_NAME`] whose `input_schema` is the `json_schema.schema` (for
//! `json_object`: `{"type":"object"}`), and `tool_choice: {"type":"tool","name":
//! JSON_TOOL_NAME}`. [`RequestMeta::json_tool`] tells the response and stream translators
//! to turn that tool's `input` back into the message's text content with finish reason
//! `stop`, so the client sees what OpenAI would have sent. Combining `response_format`
//! with the client's own tools is refused (`Unsupported("response_format")`): forcing one
//! tool would forbid the others.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::types::{
    Block, Blocks, MessageParam, MessagesRequest, Metadata, Source, ToolChoiceParam, ToolDef,
};
use crate::chat::{ChatRequest, Content, ContentPart, Message, Role, ToolChoice, TranslateError};

/// The name of the tool that carries `response_format` (see the module docs).
pub const JSON_TOOL_NAME: &str = "json_response";

/// Per-deployment choices, decided once from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestOptions {
    /// `max_tokens` when the client gave neither `max_completion_tokens` nor `max_tokens`
    /// (Anthropic requires it).
    pub max_tokens_default: u64,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            max_tokens_default: 4096,
        }
    }
}

/// What the response and stream translators must know about the request written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// `response_format` became the forced [`JSON_TOOL_NAME`] tool: its input is the
    /// answer's text.
    pub json_tool: bool,
}

const EMPTY_OBJECT_SCHEMA: &str = r#"{"type":"object","properties":{}}"#;
const OBJECT_SCHEMA: &str = r#"{"type":"object"}"#;

fn raw(s: &'static str) -> &'static RawValue {
    // INVARIANT: only called with the constant JSON texts above.
    serde_json::from_str(s).expect("constant JSON")
}

/// Write `req` as a Messages API body for `model` (the provider's name for it, mapped by
/// the gateway) into `out`.
pub fn write_request(
    req: &ChatRequest<'_>,
    model: &str,
    opts: &RequestOptions,
    out: &mut Vec<u8>,
) -> Result<RequestMeta, TranslateError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(TranslateError::Unsupported("n"));
    }
    if req.logprobs == Some(true) || req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(TranslateError::Unsupported("logprobs"));
    }
    let temperature = match req.temperature {
        Some(t) if !(t >= 0.0 && t.is_finite()) => {
            return Err(TranslateError::Unsupported("temperature"))
        }
        t => t.map(|t| t.min(1.0)),
    };
    let mut system = Vec::new();
    let messages = messages(&req.messages, &mut system)?;
    let (tools, tool_choice, meta) = tools(req)?;
    let body = MessagesRequest {
        model: Cow::Borrowed(model),
        max_tokens: req.max_output_tokens().unwrap_or(opts.max_tokens_default),
        system: system_blocks(system),
        messages,
        stop_sequences: req
            .stop
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| s.iter().map(|s| Cow::Borrowed(&**s)).collect()),
        temperature,
        top_p: req.top_p,
        top_k: None,
        tools,
        tool_choice,
        metadata: req.user.as_ref().map(|u| Metadata {
            user_id: Some(Cow::Borrowed(u)),
        }),
        stream: req.is_stream().then_some(true),
        thinking: None,
    };
    serde_json::to_writer(out, &body).map_err(|_| TranslateError::BadJson("a tool schema"))?;
    Ok(meta)
}

/// A single plain text part is a string; anything else stays blocks.
fn system_blocks(mut parts: Vec<Block<'_>>) -> Option<Blocks<'_>> {
    match parts.len() {
        0 => None,
        1 if parts[0].cache_control.is_none() => parts.pop().and_then(|b| b.text).map(Blocks::Text),
        _ => Some(Blocks::Blocks(parts)),
    }
}

fn messages<'r>(
    msgs: &'r [Message<'_>],
    system: &mut Vec<Block<'r>>,
) -> Result<Vec<MessageParam<'r>>, TranslateError> {
    let mut turns: Vec<(&'static str, Vec<Block<'r>>)> = Vec::with_capacity(msgs.len());
    let mut blocks = Vec::new();
    for m in msgs {
        let role = match m.role {
            Role::System | Role::Developer => {
                system_parts(m, system)?;
                continue;
            }
            Role::User => {
                content_blocks(m.content.as_ref(), &mut blocks)?;
                "user"
            }
            Role::Assistant => {
                content_blocks(m.content.as_ref(), &mut blocks)?;
                for call in m.tool_calls.iter().flatten() {
                    blocks.push(Block {
                        kind: Cow::Borrowed("tool_use"),
                        id: Some(Cow::Borrowed(&call.id)),
                        name: Some(Cow::Borrowed(&call.function.name)),
                        input: Some(call.function.arguments_object()?),
                        ..Block::default()
                    });
                }
                "assistant"
            }
            Role::Tool | Role::Function => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .ok_or(TranslateError::BadJson("tool_call_id on a tool message"))?;
                blocks.push(tool_result(id, m.content.as_ref())?);
                "user"
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, b)) if *last == role => b.append(&mut blocks),
            _ => turns.push((role, std::mem::take(&mut blocks))),
        }
    }
    Ok(turns
        .into_iter()
        .map(|(role, mut blocks)| MessageParam {
            role: Cow::Borrowed(role),
            content: if blocks.len() == 1 && is_plain_text(&blocks[0]) {
                Blocks::Text(blocks.pop().and_then(|b| b.text).unwrap_or_default())
            } else {
                Blocks::Blocks(blocks)
            },
        })
        .collect())
}

fn is_plain_text(b: &Block<'_>) -> bool {
    b.kind == "text" && b.cache_control.is_none()
}

fn system_parts<'r>(m: &'r Message<'_>, out: &mut Vec<Block<'r>>) -> Result<(), TranslateError> {
    match &m.content {
        Some(Content::Text(t)) if !t.is_empty() => out.push(Block::text(&**t, None)),
        None | Some(Content::Text(_)) => {}
        Some(Content::Parts(parts)) => {
            for p in parts {
                if p.kind != "text" {
                    return Err(TranslateError::Unsupported("system message content"));
                }
                match p.text.as_deref() {
                    Some(t) if !t.is_empty() => out.push(Block::text(t, p.cache_control)),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// Append the blocks of a user or assistant message's content (empty text skipped).
fn content_blocks<'r>(
    content: Option<&'r Content<'_>>,
    out: &mut Vec<Block<'r>>,
) -> Result<(), TranslateError> {
    match content {
        None => Ok(()),
        Some(Content::Text(t)) => {
            if !t.is_empty() {
                out.push(Block::text(&**t, None));
            }
            Ok(())
        }
        Some(Content::Parts(parts)) => {
            for p in parts {
                if let Some(b) = part(p)? {
                    out.push(b);
                }
            }
            Ok(())
        }
    }
}

fn part<'r>(p: &'r ContentPart<'_>) -> Result<Option<Block<'r>>, TranslateError> {
    let block = match &*p.kind {
        "text" => match p.text.as_deref() {
            Some(t) if !t.is_empty() => Block::text(t, None),
            _ => return Ok(None),
        },
        "image_url" => {
            let img = p
                .image_url
                .as_ref()
                .ok_or(TranslateError::BadJson("image_url on an image_url part"))?;
            let source = if let Some((media, data)) = img.as_data() {
                base64_source(media, data)
            } else if img.url.starts_with("https://") || img.url.starts_with("http://") {
                Source {
                    kind: Cow::Borrowed("url"),
                    url: Some(Cow::Borrowed(&img.url)),
                    ..Source::default()
                }
            } else {
                return Err(TranslateError::Unsupported("image_url"));
            };
            Block {
                kind: Cow::Borrowed("image"),
                source: Some(source),
                ..Block::default()
            }
        }
        "file" => {
            let file = p
                .file
                .ok_or(TranslateError::BadJson("file on a file part"))?;
            let file: FilePart = serde_json::from_str(file.get())
                .map_err(|_| TranslateError::BadJson("a file part"))?;
            let source = match file.file_data {
                Some(Cow::Borrowed(url)) => data_url(url).map(|(m, d)| base64_source(m, d)),
                // An escaped string (`data:application\/pdf...`) was decoded: own it.
                Some(Cow::Owned(url)) => data_url(&url).map(|(m, d)| Source {
                    kind: Cow::Borrowed("base64"),
                    media_type: Some(Cow::Owned(m.to_owned())),
                    data: Some(Cow::Owned(d.to_owned())),
                    url: None,
                }),
                None => None,
            };
            Block {
                kind: Cow::Borrowed("document"),
                source: Some(source.ok_or(TranslateError::Unsupported("file"))?),
                ..Block::default()
            }
        }
        "input_audio" => return Err(TranslateError::Unsupported("input_audio")),
        _ => return Err(TranslateError::Unsupported("messages.content")),
    };
    Ok(Some(Block {
        cache_control: p.cache_control,
        ..block
    }))
}

#[derive(Deserialize)]
struct FilePart<'a> {
    #[serde(default, borrow)]
    file_data: Option<Cow<'a, str>>,
}

fn data_url(url: &str) -> Option<(&str, &str)> {
    let (meta, data) = url.strip_prefix("data:")?.split_once(',')?;
    Some((meta.strip_suffix(";base64")?, data))
}

fn base64_source<'r>(media: &'r str, data: &'r str) -> Source<'r> {
    Source {
        kind: Cow::Borrowed("base64"),
        media_type: Some(Cow::Borrowed(media)),
        data: Some(Cow::Borrowed(data)),
        url: None,
    }
}

fn tool_result<'r>(
    id: &'r str,
    content: Option<&'r Content<'_>>,
) -> Result<Block<'r>, TranslateError> {
    let content = match content {
        None => None,
        Some(Content::Text(t)) if t.is_empty() => None,
        Some(Content::Text(t)) => Some(Blocks::Text(Cow::Borrowed(t))),
        Some(Content::Parts(_)) => {
            let mut blocks = Vec::new();
            content_blocks(content, &mut blocks)?;
            (!blocks.is_empty()).then_some(Blocks::Blocks(blocks))
        }
    };
    Ok(Block {
        kind: Cow::Borrowed("tool_result"),
        tool_use_id: Some(Cow::Borrowed(id)),
        content,
        ..Block::default()
    })
}

type Tools<'r> = (
    Option<Vec<ToolDef<'r>>>,
    Option<ToolChoiceParam<'r>>,
    RequestMeta,
);

fn tools<'r>(req: &'r ChatRequest<'_>) -> Result<Tools<'r>, TranslateError> {
    let defs = req.tools.as_deref().unwrap_or_default();
    let json = req
        .response_format
        .as_ref()
        .filter(|f| f.kind == "json_object" || f.kind == "json_schema");
    if let Some(f) = json {
        if !defs.is_empty() {
            return Err(TranslateError::Unsupported("response_format"));
        }
        let schema = f.json_schema.as_ref();
        let tool = ToolDef {
            kind: None,
            name: Cow::Borrowed(JSON_TOOL_NAME),
            description: Some(
                schema
                    .and_then(|s| s.description.as_deref())
                    .map_or(Cow::Borrowed("Respond with the JSON value."), Cow::Borrowed),
            ),
            input_schema: Some(schema.and_then(|s| s.schema).unwrap_or(raw(OBJECT_SCHEMA))),
            cache_control: None,
        };
        let choice = ToolChoiceParam {
            kind: Cow::Borrowed("tool"),
            name: Some(Cow::Borrowed(JSON_TOOL_NAME)),
            disable_parallel_tool_use: None,
        };
        return Ok((
            Some(vec![tool]),
            Some(choice),
            RequestMeta { json_tool: true },
        ));
    }
    if defs.is_empty() {
        return Ok((None, None, RequestMeta::default()));
    }
    let mut out = Vec::with_capacity(defs.len());
    for t in defs {
        if t.kind != "function" {
            return Err(TranslateError::Unsupported("tools"));
        }
        out.push(ToolDef {
            kind: None,
            name: Cow::Borrowed(&t.function.name),
            description: t.function.description.as_deref().map(Cow::Borrowed),
            input_schema: Some(t.function.parameters.unwrap_or(raw(EMPTY_OBJECT_SCHEMA))),
            cache_control: None,
        });
    }
    let disable = (req.parallel_tool_calls == Some(false)).then_some(true);
    let choice = match req.tool_choice.as_ref() {
        Some(ToolChoice::None) => Some(choice("none", None, None)),
        Some(ToolChoice::Auto) => Some(choice("auto", None, disable)),
        Some(ToolChoice::Required) => Some(choice("any", None, disable)),
        Some(ToolChoice::Function(name)) => Some(choice("tool", Some(name), disable)),
        None => disable.map(|d| choice("auto", None, Some(d))),
    };
    Ok((Some(out), choice, RequestMeta::default()))
}

fn choice<'r>(
    kind: &'static str,
    name: Option<&'r str>,
    disable: Option<bool>,
) -> ToolChoiceParam<'r> {
    ToolChoiceParam {
        kind: Cow::Borrowed(kind),
        name: name.map(Cow::Borrowed),
        disable_parallel_tool_use: disable,
    }
}
