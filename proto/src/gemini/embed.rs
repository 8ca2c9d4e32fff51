//! OpenAI `POST /v1/embeddings` ↔ Gemini `batchEmbedContents`.
//!
//! | OpenAI | Gemini | notes |
//! |---|---|---|
//! | `input` string or array of strings | `requests[i].content.parts[0].text`, one request per string | token-array inputs are refused (Gemini tokenizes itself) |
//! | `model` | `requests[i].model` = `models/<model>` | the path carries it too ([`super::embed_path`]) |
//! | `dimensions` | `outputDimensionality` | |
//! | `encoding_format` `float` / `base64` | — | applied on the way back: `base64` is little-endian `f32`s, as OpenAI sends |
//! | `user` | — | dropped |
//! | `embeddings[i].values` | `data[i].embedding` | float values copied as Gemini wrote them |
//! | — | `usage` | zeros: `batchEmbedContents` reports no token counts |

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::chat::TranslateError;
use crate::json::write_string;

/// How the client wants vectors encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

/// Largest number of inputs in one request (Gemini's `batchEmbedContents` limit).
pub const INPUTS_MAX: usize = 100;

#[derive(Deserialize)]
struct EmbeddingsRequest<'a> {
    #[serde(borrow)]
    input: &'a RawValue,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default, borrow)]
    encoding_format: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Batch<'a> {
    requests: Vec<EmbedRequest<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedRequest<'a> {
    model: &'a str,
    content: EmbedContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimensionality: Option<u32>,
}

#[derive(Serialize)]
struct EmbedContent<'a> {
    parts: [TextPart<'a>; 1],
}

#[derive(Serialize)]
struct TextPart<'a> {
    text: &'a str,
}

/// Write the `batchEmbedContents` body for an OpenAI embeddings request `body` to
/// `model` (without the `models/` prefix; it is added). Returns the encoding the answer
/// must be given in ([`write_embeddings_response`]).
pub fn write_embeddings_request(
    body: &[u8],
    model: &str,
    out: &mut Vec<u8>,
) -> Result<EncodingFormat, TranslateError> {
    let req: EmbeddingsRequest = serde_json::from_slice(body)
        .map_err(|_| TranslateError::BadJson("an embeddings request"))?;
    let format = match req.encoding_format.as_deref() {
        None | Some("float") => EncodingFormat::Float,
        Some("base64") => EncodingFormat::Base64,
        Some(_) => return Err(TranslateError::Unsupported("encoding_format")),
    };
    let inputs: Vec<Cow<str>> = match serde_json::from_str::<Cow<str>>(req.input.get()) {
        Ok(one) => vec![one],
        Err(_) => serde_json::from_str(req.input.get())
            .map_err(|_| TranslateError::Unsupported("input"))?,
    };
    if inputs.is_empty() || inputs.len() > INPUTS_MAX {
        return Err(TranslateError::Unsupported("input"));
    }
    let model = model.strip_prefix("models/").unwrap_or(model);
    let full = format!("models/{model}");
    let batch = Batch {
        requests: inputs
            .iter()
            .map(|text| EmbedRequest {
                model: &full,
                content: EmbedContent {
                    parts: [TextPart { text }],
                },
                output_dimensionality: req.dimensions,
            })
            .collect(),
    };
    serde_json::to_writer(out, &batch).map_err(|_| TranslateError::BadJson("input"))?;
    Ok(format)
}

#[derive(Deserialize)]
struct BatchResponse<'a> {
    #[serde(borrow)]
    embeddings: Vec<Embedding<'a>>,
}

#[derive(Deserialize)]
struct Embedding<'a> {
    #[serde(borrow)]
    values: &'a RawValue,
}

/// Write the OpenAI embeddings answer for a `batchEmbedContents` answer `body`.
pub fn write_embeddings_response(
    body: &[u8],
    model: &str,
    format: EncodingFormat,
    out: &mut Vec<u8>,
) -> Result<(), TranslateError> {
    let resp: BatchResponse = serde_json::from_slice(body)
        .map_err(|_| TranslateError::BadJson("a Gemini BatchEmbedContentsResponse"))?;
    out.extend_from_slice(b"{\"object\":\"list\",\"data\":[");
    for (i, e) in resp.embeddings.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"object\":\"embedding\",\"index\":");
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(b",\"embedding\":");
        match format {
            EncodingFormat::Float => {
                if !e.values.get().starts_with('[') {
                    return Err(TranslateError::BadJson("embedding values (an array)"));
                }
                out.extend_from_slice(e.values.get().as_bytes());
            }
            EncodingFormat::Base64 => {
                let floats = serde_json::from_str::<Vec<f32>>(e.values.get())
                    .map_err(|_| TranslateError::BadJson("embedding values (numbers)"))?;
                out.push(b'"');
                base64_f32_le(&floats, out);
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"model\":");
    write_string(out, model.as_bytes());
    out.extend_from_slice(b",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}");
    Ok(())
}

/// Standard base64 (with padding) of the little-endian bytes of `v`.
fn base64_f32_le(v: &[f32], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
}
