//! Prompt-token estimation before the call: the number the budget reservation and TPM
//! admission charge until the provider reports the real usage.
//!
//! Two kinds of count, chosen once per deployment by [`family`]:
//!
//! - **OpenAI tokenizers** ([`Family::O200k`], [`Family::Cl100k`]): the text is encoded
//!   with tiktoken-rs's BPE tables, and the chat framing follows OpenAI's cookbook
//!   ("How to count tokens with tiktoken"): [`TOKENS_PER_MESSAGE`] per message, plus the
//!   role's tokens, plus [`TOKENS_PER_NAME`] for a `name`, plus [`REPLY_PRIMING`] once.
//!   Tool calls add their name and arguments and [`TOOL_CALL_OVERHEAD`] each (the same
//!   heuristic as tiktoken-rs's `num_tokens_from_messages`). Tool definitions and
//!   `response_format` count as the tokens of their JSON text as sent: OpenAI renders
//!   them in a denser internal form, so this errs high.
//! - **[`Family::Estimate`]** (Anthropic, Gemini, Bedrock, and OpenAI-compatible models
//!   that are not OpenAI's): the same structure, with each string counted as
//!   ⌈UTF-8 bytes / [`ESTIMATE_BYTES_PER_TOKEN`]⌉. English averages about four bytes per
//!   token in these providers' tokenizers (Claude's runs a little denser than cl100k), so
//!   three bytes per token over-estimates English by roughly a third. Scripts with
//!   multi-byte characters (CJK) can be *under*-estimated; the provider's reported usage
//!   corrects the charge afterwards. The result is never below
//!   [`proto::openai::synth::prompt_tokens_estimate`] of the same body (what the mock
//!   upstream reports), which the estimate takes as a floor.
//!
//! Non-text inputs: every image part counts [`IMAGE_TOKENS`] whatever its size or
//! `detail` (the most a single image costs on the providers we price, see the constant);
//! other attachments (files, documents, audio) count the larger of [`IMAGE_TOKENS`] and a
//! quarter of their JSON text's length (their base64 payload, about one token per three
//! payload bytes). Neither the image nor the attachment bytes are ever tokenized.
//!
//! Parsing borrows from the body (`Cow` only where a string has escapes, `&RawValue` for
//! schemas and tool inputs) into one flat [`Node`] shape shared by OpenAI content parts,
//! Anthropic content blocks and Responses input items; the members that carry text are
//! counted whatever the part's `type`, so new part types still count their text.
//!
//! Cost: the BPE tables load once ([`warm`]). The parse allocates one `Vec` per JSON
//! array and a `String` per escaped string; tiktoken-rs allocates per regex piece and per
//! encoded string, so an OpenAI-family count is *not* allocation-free: about 150
//! allocations for a 100-word chat body. Measured (`cargo bench -p sluice-bench --bench
//! tokens -- --warm-up-time 1 --measurement-time 3`, release, 2 shared cores):
//!
//! | body                         | O200k   | Cl100k  | Estimate | synth (baseline) |
//! |------------------------------|---------|---------|----------|------------------|
//! | 100 words, 586 B             | 9.3 µs  | 17.9 µs | 0.80 µs  | 0.31 µs          |
//! | 6 turns + tool, 1,036 B      | 24.9 µs | 35.4 µs | 2.7 µs   | 0.67 µs          |
//! | 64 KiB no-space run + spaces | 11.3 ms | 8.6 ms  | 38.5 µs  | 31 µs            |
//!
//! Ordinary English costs about 17 ns per byte with a tokenizer (≈1.5 ms for 80 KiB);
//! a long run without spaces is the tokenizer's bad case (last row). Callers on a
//! per-core event loop should bound the body size they tokenize.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};

use crate::config::ProviderKind;

/// Framing tokens per chat message (`<|start|>{role}<|message|>…<|end|>`), per OpenAI's
/// cookbook for every model since gpt-3.5-turbo-0613.
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra tokens when a message carries `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Tokens priming the reply (`<|start|>assistant<|message|>`), once per request.
pub const REPLY_PRIMING: u64 = 3;
/// Extra tokens per tool call in the history (tiktoken-rs's heuristic).
pub const TOOL_CALL_OVERHEAD: u64 = 1;
/// Tokens charged for one image, whatever its size or detail. The largest single-image
/// counts among the priced providers: Anthropic about 1,600 (w·h/750 at its 1.15 MP
/// limit); OpenAI gpt-4o high detail at most 1,445 (85 + 170 per 512 px tile, 8 tiles
/// for 768×2048). Known under-count: gpt-4o-mini and gpt-4.1-mini/nano bill images at a
/// multiple of this; the reported usage corrects it.
pub const IMAGE_TOKENS: u64 = 1_600;
/// Bytes of UTF-8 text per token in the [`Family::Estimate`] rule (see the module docs).
pub const ESTIMATE_BYTES_PER_TOKEN: u64 = 3;
/// JSON bytes of an inline attachment per token (base64: 4 characters carry 3 bytes).
const ATTACHMENT_BYTES_PER_TOKEN: u64 = 4;

/// Which body shape the request came in as (the endpoint it was sent to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// OpenAI `/v1/chat/completions`.
    Chat,
    /// OpenAI legacy `/v1/completions`.
    Completions,
    /// OpenAI `/v1/embeddings`.
    Embeddings,
    /// Anthropic `/v1/messages`.
    Messages,
    /// OpenAI `/v1/responses`.
    Responses,
}

impl Shape {
    fn what(self) -> &'static str {
        match self {
            Shape::Chat => "chat completions body",
            Shape::Completions => "completions body",
            Shape::Embeddings => "embeddings body",
            Shape::Messages => "messages body",
            Shape::Responses => "responses body",
        }
    }
}

/// How prompt text is counted for one upstream model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's `o200k_base` (gpt-4o and later, o-series, gpt-oss).
    O200k,
    /// OpenAI's `cl100k_base` (gpt-4, gpt-3.5, the embedding models).
    Cl100k,
    /// No tokenizer: the byte rule of the module docs.
    Estimate,
}

/// The tokenizer family for a deployment: OpenAI's table (tiktoken-rs's own
/// `get_tokenizer`, which tracks tiktoken's `model.py`) for OpenAI-shaped providers'
/// upstream model names, [`Family::Estimate`] for everything else. A routing prefix
/// (`openai/gpt-4o`) is ignored; Azure deployment names that are not model names get
/// the estimate.
pub fn family(kind: ProviderKind, upstream_model: &str) -> Family {
    if !kind.openai_shaped() {
        return Family::Estimate;
    }
    let name = upstream_model.rsplit('/').next().unwrap_or(upstream_model);
    match get_tokenizer(name) {
        Some(Tokenizer::O200kBase | Tokenizer::O200kHarmony) => Family::O200k,
        Some(Tokenizer::Cl100kBase) => Family::Cl100k,
        // Pre-2023 completion models: tables we do not load; the estimate errs high.
        Some(_) => Family::Estimate,
        // Names tiktoken's table lacks but whose tokenizer OpenAI documents.
        None if name.starts_with("omni-moderation") || name.starts_with("gpt-4.5") => Family::O200k,
        None if name.starts_with("text-embedding-3-") => Family::Cl100k,
        None => Family::Estimate,
    }
}

/// Tokens a request's prompt is estimated at, and the output cap it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub prompt: u64,
    /// `max_completion_tokens` | `max_tokens` (chat), `max_tokens` (completions,
    /// messages), `max_output_tokens` (responses); `None` when the request sets none (the
    /// caller applies its default allowance). Embeddings produce no output: `Some(0)`.
    pub max_output: Option<u64>,
}

/// Estimate the prompt tokens of `body` as `shape`, counted as `family` (module docs).
/// A body that is not the shape's JSON is an `Err` naming what is wrong.
pub fn estimate(shape: Shape, family: Family, body: &[u8]) -> Result<Estimate, String> {
    let mut t = Tally { family, tokens: 0 };
    let max_output = match shape {
        Shape::Chat => chat(&mut t, parse(shape, body)?),
        Shape::Completions => {
            let b: CompletionsBody = parse(shape, body)?;
            t.prompt(&b.prompt);
            if let Some(s) = &b.suffix {
                t.text(s);
            }
            b.max_tokens
        }
        Shape::Embeddings => {
            let b: EmbeddingsBody = parse(shape, body)?;
            t.prompt(&b.input);
            Some(0)
        }
        Shape::Messages => messages(&mut t, parse(shape, body)?),
        Shape::Responses => responses(&mut t, parse(shape, body)?),
    };
    let mut prompt = t.tokens;
    if family == Family::Estimate {
        prompt = prompt.max(proto::openai::synth::prompt_tokens_estimate(body).into());
    }
    Ok(Estimate { prompt, max_output })
}

/// Load the BPE tables now (each loads once per process, a few hundred milliseconds in
/// release), so that the first request does not pay for it: the engine calls this on a
/// background thread at start.
pub fn warm() {
    let _ = tiktoken_rs::o200k_base_singleton();
    let _ = tiktoken_rs::cl100k_base_singleton();
}

fn parse<'a, T: Deserialize<'a>>(shape: Shape, body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("{}: {e}", shape.what()))
}

/// The running count.
struct Tally {
    family: Family,
    tokens: u64,
}

impl Tally {
    fn add(&mut self, n: u64) {
        self.tokens = self.tokens.saturating_add(n);
    }

    fn text(&mut self, s: &str) {
        let n = match self.family {
            // `count_ordinary`: text that looks like a special token (`<|endoftext|>`)
            // is plain text to the API, not a control token.
            Family::O200k => tiktoken_rs::o200k_base_singleton().count_ordinary(s) as u64,
            Family::Cl100k => tiktoken_rs::cl100k_base_singleton().count_ordinary(s) as u64,
            Family::Estimate => (s.len() as u64).div_ceil(ESTIMATE_BYTES_PER_TOKEN),
        };
        self.add(n);
    }

    fn opt(&mut self, s: &Option<Cow<'_, str>>) {
        if let Some(s) = s {
            self.text(s);
        }
    }

    fn raw(&mut self, r: Option<&RawValue>) {
        if let Some(r) = r {
            self.text(r.get());
        }
    }

    fn attachment(&mut self, r: &RawValue) {
        let inline = (r.get().len() as u64).div_ceil(ATTACHMENT_BYTES_PER_TOKEN);
        self.add(inline.max(IMAGE_TOKENS));
    }

    /// One turn of a conversation: framing, role, name, and everything in it.
    fn message(&mut self, n: &Node<'_>) {
        self.add(TOKENS_PER_MESSAGE);
        // A chat message's `name` (a role-less item's `name` is a function's).
        if n.name.is_some() && n.role.is_some() {
            self.add(TOKENS_PER_NAME);
        }
        self.node(n);
    }

    /// Every text-carrying member of a part, block or item, whatever its `type`.
    fn node(&mut self, n: &Node<'_>) {
        for s in [
            &n.role,
            &n.text,
            &n.name,
            &n.refusal,
            &n.thinking,
            &n.arguments,
        ] {
            self.opt(s);
        }
        self.raw(n.input);
        // A Responses `function_call` item or an Anthropic `tool_use` block: a tool call.
        if n.arguments.is_some() || n.input.is_some() {
            self.add(TOOL_CALL_OVERHEAD);
        }
        for c in [&n.content, &n.output].into_iter().flatten() {
            self.content(c);
        }
        for s in n.summary.iter().flatten() {
            self.node(s);
        }
        for call in n.tool_calls.iter().flatten() {
            self.call(&call.function);
        }
        if let Some(f) = &n.function_call {
            self.call(f);
        }
        if n.image_url.is_some() || n.image.is_some() || is_image(&n.kind) {
            self.add(IMAGE_TOKENS);
        } else if let Some(src) = &n.source {
            match &src.data {
                Some(d) if src.kind.as_deref() == Some("text") => self.text(d),
                _ => self.add(IMAGE_TOKENS),
            }
        }
        for a in [n.file, n.input_audio, n.file_data].into_iter().flatten() {
            self.attachment(a);
        }
    }

    fn call(&mut self, f: &FunctionCall<'_>) {
        self.text(&f.name);
        self.text(&f.arguments);
        self.add(TOOL_CALL_OVERHEAD);
    }

    fn content(&mut self, c: &OneOrMany<'_, Node<'_>>) {
        match c {
            OneOrMany::One(s) => self.text(s),
            OneOrMany::Many(parts) => parts.iter().for_each(|p| self.node(p)),
        }
    }

    fn tools(&mut self, tools: &Option<Vec<&RawValue>>) {
        for tool in tools.iter().flatten() {
            self.text(tool.get());
        }
    }

    fn prompt(&mut self, p: &OneOrMany<'_, PromptItem<'_>>) {
        match p {
            OneOrMany::One(s) => self.text(s),
            OneOrMany::Many(items) => {
                for item in items {
                    match item {
                        PromptItem::Text(s) => self.text(s),
                        PromptItem::Tokens(n) => self.add(*n),
                    }
                }
            }
        }
    }
}

fn is_image(kind: &Option<Cow<'_, str>>) -> bool {
    matches!(kind.as_deref(), Some("image" | "image_url" | "input_image"))
}

fn chat(t: &mut Tally, b: ChatBody<'_>) -> Option<u64> {
    b.messages.iter().for_each(|m| t.message(m));
    t.add(REPLY_PRIMING);
    t.tools(&b.tools);
    t.tools(&b.functions);
    t.raw(b.response_format);
    b.max_completion_tokens.or(b.max_tokens)
}

fn messages(t: &mut Tally, b: MessagesBody<'_>) -> Option<u64> {
    if let Some(system) = &b.system {
        // Framed like a system message.
        t.add(TOKENS_PER_MESSAGE);
        t.content(system);
    }
    b.messages.iter().for_each(|m| t.message(m));
    t.add(REPLY_PRIMING);
    t.tools(&b.tools);
    b.max_tokens
}

fn responses(t: &mut Tally, b: ResponsesBody<'_>) -> Option<u64> {
    if let Some(i) = &b.instructions {
        t.add(TOKENS_PER_MESSAGE);
        t.text(i);
    }
    match &b.input {
        Some(OneOrMany::One(s)) => {
            // A bare string is one user message.
            t.add(TOKENS_PER_MESSAGE);
            t.text("user");
            t.text(s);
        }
        Some(OneOrMany::Many(items)) => items.iter().for_each(|i| t.message(i)),
        None => {}
    }
    t.add(REPLY_PRIMING);
    t.tools(&b.tools);
    t.raw(b.text);
    b.max_output_tokens
}

// --- the borrowed wire shapes: only the members the count reads ---

#[derive(Deserialize)]
#[serde(expecting = "a chat completions request object")]
struct ChatBody<'a> {
    #[serde(borrow)]
    messages: Vec<Node<'a>>,
    #[serde(default, borrow)]
    tools: Option<Vec<&'a RawValue>>,
    /// Legacy function definitions.
    #[serde(default, borrow)]
    functions: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow)]
    response_format: Option<&'a RawValue>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(expecting = "a completions request object")]
struct CompletionsBody<'a> {
    #[serde(borrow)]
    prompt: OneOrMany<'a, PromptItem<'a>>,
    #[serde(default, borrow)]
    suffix: Option<Cow<'a, str>>,
    #[serde(default)]
    max_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(expecting = "an embeddings request object")]
struct EmbeddingsBody<'a> {
    #[serde(borrow)]
    input: OneOrMany<'a, PromptItem<'a>>,
}

#[derive(Deserialize)]
#[serde(expecting = "a messages request object")]
struct MessagesBody<'a> {
    #[serde(default, borrow)]
    system: Option<OneOrMany<'a, Node<'a>>>,
    #[serde(borrow)]
    messages: Vec<Node<'a>>,
    #[serde(default, borrow)]
    tools: Option<Vec<&'a RawValue>>,
    #[serde(default)]
    max_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(expecting = "a responses request object")]
struct ResponsesBody<'a> {
    #[serde(default, borrow)]
    input: Option<OneOrMany<'a, Node<'a>>>,
    #[serde(default, borrow)]
    instructions: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tools: Option<Vec<&'a RawValue>>,
    /// Output configuration, including a structured-output schema.
    #[serde(default, borrow)]
    text: Option<&'a RawValue>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
}

/// A chat message or content part, an Anthropic message or content block, a Responses
/// input item or content part: one flat shape, since each member means the same in all
/// of them. Which members are set depends on `type` (and the API).
#[derive(Deserialize)]
#[serde(expecting = "a message, content part or item object")]
struct Node<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    /// A string or an array of parts; `null` on tool-calling assistant turns.
    #[serde(default, borrow)]
    content: Option<OneOrMany<'a, Node<'a>>>,
    /// Responses `function_call_output`.
    #[serde(default, borrow)]
    output: Option<OneOrMany<'a, Node<'a>>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    /// Anthropic `thinking` blocks sent back in the history.
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    /// Responses `function_call` items.
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
    /// Anthropic `tool_use` input (an object).
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    /// Responses `reasoning` items.
    #[serde(default, borrow)]
    summary: Option<Vec<Node<'a>>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(default, borrow)]
    function_call: Option<FunctionCall<'a>>,
    /// Chat `{url, detail}`, Responses a URL string: counted, never read.
    #[serde(default, borrow)]
    image_url: Option<&'a RawValue>,
    #[serde(default, borrow)]
    image: Option<&'a RawValue>,
    /// Anthropic `image` / `document` source.
    #[serde(default, borrow)]
    source: Option<Source<'a>>,
    #[serde(default, borrow)]
    file: Option<&'a RawValue>,
    #[serde(default, borrow)]
    file_data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    input_audio: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Source<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    /// Plain text for `type: "text"` documents; base64 otherwise (never tokenized).
    #[serde(default, borrow)]
    data: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow)]
    function: FunctionCall<'a>,
}

#[derive(Deserialize)]
struct FunctionCall<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    /// The arguments as JSON text.
    #[serde(default, borrow)]
    arguments: Cow<'a, str>,
}

/// A string, or an array of `T` (serde's untagged enums would buffer and lose borrows).
enum OneOrMany<'a, T> {
    One(Cow<'a, str>),
    Many(Vec<T>),
}

impl<'de: 'a, 'a, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<'a, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a, T>(PhantomData<(&'a (), T)>);
        impl<'de: 'a, 'a, T: Deserialize<'de>> Visitor<'de> for V<'a, T> {
            type Value = OneOrMany<'a, T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // Bounded: the hint is the parser's, the body is already size-limited.
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(64));
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(OneOrMany::Many(v))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// One element of a `prompt` / embeddings `input` array: a string, a token id (the
/// array is then one tokenized prompt), or an array of token ids.
enum PromptItem<'a> {
    Text(Cow<'a, str>),
    /// Tokens given as ids: their number.
    Tokens(u64),
}

impl<'de: 'a, 'a> Deserialize<'de> for PromptItem<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = PromptItem<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a token id, or an array of token ids")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(PromptItem::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(PromptItem::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(PromptItem::Tokens(1))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut n = 0u64;
                while seq.next_element::<u64>()?.is_some() {
                    n += 1;
                }
                Ok(PromptItem::Tokens(n))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests;
