//! Anthropic Messages request → OpenAI chat request (the ingress).
//!
//! | Anthropic | OpenAI | notes |
//! |---|---|---|
//! | `system` string / text blocks | one `system` message, text or text parts | `cache_control` kept on the parts; a non-text block is refused |
//! | `user` turn | `user` message | one plain `text` block or a string → text content; otherwise parts |
//! | `tool_result` blocks in a `user` turn | `tool` messages (`tool_call_id`), in place | the user content before and after a result becomes separate `user` messages so the order holds; `content` string or text/image blocks; missing content → `""`; `is_error` is dropped (OpenAI has no flag) |
//! | `assistant` turn | `assistant` message | text → content; `tool_use` → `tool_calls` with `arguments` the `input` JSON text byte-for-byte; `thinking` / `redacted_thinking` dropped (no OpenAI input for them) |
//! | `image` `base64` / `url` source | `image_url` with a `data:` URL / the URL | |
//! | `document`, server tool blocks, other block types | — | refused (`Unsupported`) |
//! | `tools` (custom) | function tools, `parameters` = `input_schema` untouched | server tools (`type` other than `custom`) are refused; `cache_control` dropped |
//! | `tool_choice` `auto` / `any` / `tool` / `none` | `auto` / `required` / function / `none` | `disable_parallel_tool_use: true` → `parallel_tool_calls: false` |
//! | `max_tokens`, `stop_sequences`, `temperature`, `top_p`, `metadata.user_id` | `max_tokens`, `stop`, `temperature`, `top_p`, `user` | |
//! | `stream: true` | `stream: true`, `stream_options.include_usage: true` | so the stream can end with Anthropic's usage |
//! | `top_k`, `thinking` | — | dropped (no OpenAI equivalent) |

use std::borrow::Cow;

use crate::anthropic::types::{Block, Blocks, MessagesRequest, ToolChoiceParam, ToolDef};
use crate::chat::{
    ChatRequest, Content, ContentPart, FunctionDef, Message, Role, StreamOptions, Tool, ToolCall,
    ToolCallFunction, ToolChoice, TranslateError,
};

/// Turn a parsed Messages request into the hub's [`ChatRequest`], moving the borrows.
pub fn to_chat_request(req: MessagesRequest<'_>) -> Result<ChatRequest<'_>, TranslateError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system {
        messages.push(system_message(system)?);
    }
    for m in req.messages {
        match &*m.role {
            "user" => user_turn(m.content, &mut messages)?,
            "assistant" => messages.push(assistant_turn(m.content)?),
            _ => return Err(TranslateError::BadJson("messages.role user or assistant")),
        }
    }
    let parallel = req
        .tool_choice
        .as_ref()
        .and_then(|c| c.disable_parallel_tool_use)
        .filter(|&d| d)
        .map(|_| false);
    let stream = req.stream == Some(true);
    Ok(ChatRequest {
        model: req.model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        max_tokens: Some(req.max_tokens),
        max_completion_tokens: None,
        temperature: req.temperature,
        top_p: req.top_p,
        n: None,
        stop: req.stop_sequences.filter(|s| !s.is_empty()),
        tools: req.tools.map(tools).transpose()?,
        tool_choice: req.tool_choice.map(tool_choice).transpose()?,
        parallel_tool_calls: parallel,
        response_format: None,
        user: req.metadata.and_then(|m| m.user_id),
        seed: None,
        presence_penalty: None,
        frequency_penalty: None,
        logprobs: None,
        top_logprobs: None,
        logit_bias: None,
        reasoning_effort: None,
        metadata: None,
    })
}

fn message(role: Role, content: Option<Content<'_>>) -> Message<'_> {
    Message {
        role,
        content,
        name: None,
        tool_calls: None,
        tool_call_id: None,
        refusal: None,
    }
}

fn system_message(system: Blocks<'_>) -> Result<Message<'_>, TranslateError> {
    let mut parts = Vec::new();
    match system {
        Blocks::Text(t) => return Ok(Message::text(Role::System, t)),
        Blocks::Blocks(blocks) => {
            for b in blocks {
                if b.kind != "text" {
                    return Err(TranslateError::Unsupported("system"));
                }
                parts.push(text_part(b));
            }
        }
    }
    Ok(message(Role::System, Some(content(parts))))
}

fn text_part(b: Block<'_>) -> ContentPart<'_> {
    ContentPart {
        cache_control: b.cache_control,
        ..ContentPart::text(b.text.unwrap_or_default())
    }
}

/// One plain text part reads as a string; anything else stays parts.
fn content(mut parts: Vec<ContentPart<'_>>) -> Content<'_> {
    if parts.len() == 1 && parts[0].kind == "text" && parts[0].cache_control.is_none() {
        if let Some(t) = parts.pop().and_then(|p| p.text) {
            return Content::Text(t);
        }
    }
    Content::Parts(parts)
}

/// A user turn: its tool results become `tool` messages where they stand; the content
/// around them becomes `user` messages.
fn user_turn<'a>(c: Blocks<'a>, out: &mut Vec<Message<'a>>) -> Result<(), TranslateError> {
    let blocks = match c {
        Blocks::Text(t) => {
            out.push(Message::text(Role::User, t));
            return Ok(());
        }
        Blocks::Blocks(b) => b,
    };
    let mut parts = Vec::new();
    for b in blocks {
        if b.kind == "tool_result" {
            if !parts.is_empty() {
                out.push(message(
                    Role::User,
                    Some(content(std::mem::take(&mut parts))),
                ));
            }
            out.push(tool_message(b)?);
        } else {
            parts.push(part(b)?);
        }
    }
    if !parts.is_empty() {
        out.push(message(Role::User, Some(content(parts))));
    }
    Ok(())
}

fn tool_message(b: Block<'_>) -> Result<Message<'_>, TranslateError> {
    let id = b.tool_use_id.ok_or(TranslateError::BadJson(
        "tool_use_id on a tool_result block",
    ))?;
    let body = match b.content {
        None => Content::Text(Cow::Borrowed("")),
        Some(Blocks::Text(t)) => Content::Text(t),
        Some(Blocks::Blocks(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for b in blocks {
                parts.push(part(b)?);
            }
            content(parts)
        }
    };
    Ok(Message {
        tool_call_id: Some(id),
        ..message(Role::Tool, Some(body))
    })
}

/// A text or image block as an OpenAI part.
fn part(b: Block<'_>) -> Result<ContentPart<'_>, TranslateError> {
    match &*b.kind {
        "text" => Ok(text_part(b)),
        "image" => {
            let src = b
                .source
                .ok_or(TranslateError::BadJson("source on an image block"))?;
            let url = match (&*src.kind, src.url, src.data) {
                ("url", Some(url), _) => url,
                ("base64", _, Some(data)) => {
                    let media = src.media_type.as_deref().unwrap_or("image/png");
                    let mut url = String::with_capacity(media.len() + data.len() + 13);
                    url.push_str("data:");
                    url.push_str(media);
                    url.push_str(";base64,");
                    url.push_str(&data);
                    Cow::Owned(url)
                }
                _ => return Err(TranslateError::Unsupported("image source")),
            };
            Ok(ContentPart {
                cache_control: b.cache_control,
                ..ContentPart::image(url)
            })
        }
        "document" => Err(TranslateError::Unsupported("document")),
        _ => Err(TranslateError::Unsupported("messages.content")),
    }
}

fn assistant_turn(c: Blocks<'_>) -> Result<Message<'_>, TranslateError> {
    let blocks = match c {
        Blocks::Text(t) => return Ok(Message::text(Role::Assistant, t)),
        Blocks::Blocks(b) => b,
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for b in blocks {
        match &*b.kind {
            "text" => parts.push(text_part(b)),
            "tool_use" => calls.push(ToolCall {
                id: b
                    .id
                    .ok_or(TranslateError::BadJson("id on a tool_use block"))?,
                kind: Cow::Borrowed("function"),
                function: ToolCallFunction {
                    name: b
                        .name
                        .ok_or(TranslateError::BadJson("name on a tool_use block"))?,
                    arguments: Cow::Borrowed(b.input.map_or("{}", |r| r.get())),
                },
            }),
            "thinking" | "redacted_thinking" => {}
            _ => return Err(TranslateError::Unsupported("messages.content")),
        }
    }
    Ok(Message {
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..message(Role::Assistant, (!parts.is_empty()).then(|| content(parts)))
    })
}

fn tools(defs: Vec<ToolDef<'_>>) -> Result<Vec<Tool<'_>>, TranslateError> {
    let mut out = Vec::with_capacity(defs.len());
    for t in defs {
        if t.kind.as_deref().is_some_and(|k| k != "custom") || t.input_schema.is_none() {
            return Err(TranslateError::Unsupported("tools"));
        }
        out.push(Tool {
            kind: Cow::Borrowed("function"),
            function: FunctionDef {
                name: t.name,
                description: t.description,
                parameters: t.input_schema,
                strict: None,
            },
        });
    }
    Ok(out)
}

fn tool_choice(c: ToolChoiceParam<'_>) -> Result<ToolChoice<'_>, TranslateError> {
    Ok(match &*c.kind {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Function(
            c.name
                .ok_or(TranslateError::BadJson("name on a tool tool_choice"))?,
        ),
        _ => {
            return Err(TranslateError::BadJson(
                "tool_choice type auto, any, tool or none",
            ))
        }
    })
}
