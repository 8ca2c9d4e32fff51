//! Tests of the Gemini translation. Fixtures are in `proto/tests/fixtures/gemini/`,
//! written from Google's Gemini API reference.

mod embed;
mod error;
mod ids;
mod request;
mod response;
mod roundtrip;
mod schema;
mod stream;

use serde_json::Value;

use crate::chat::ChatRequest;
use crate::gemini::{write_request, RequestOptions};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gemini/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// Translate an OpenAI request body with `opts`, returning the Gemini body as a tree.
fn gemini_body(openai: &str, opts: &RequestOptions) -> Value {
    let req: ChatRequest = serde_json::from_str(openai).unwrap();
    let mut out = Vec::new();
    write_request(&req, opts, &mut out).unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn gemini_text(openai: &str, opts: &RequestOptions) -> String {
    let req: ChatRequest = serde_json::from_str(openai).unwrap();
    let mut out = Vec::new();
    write_request(&req, opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}
