//! Tests of the Bedrock translation. Fixtures are in `proto/tests/fixtures/bedrock/`,
//! written from the Bedrock Runtime API reference (Converse, ConverseStream, TokenUsage,
//! the exception list); stream fixtures are built here with
//! [`crate::aws::eventstream::write_message`].

mod error;
mod request;
mod response;
mod roundtrip;
mod stream;

use serde_json::Value;

use crate::bedrock::{write_request, RequestOptions};
use crate::chat::{ChatRequest, TranslateError};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bedrock/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// Translate an OpenAI request body, returning the Bedrock body as text.
fn bedrock_text(openai: &str, opts: &RequestOptions) -> Result<String, TranslateError> {
    let req: ChatRequest = serde_json::from_str(openai).unwrap();
    let mut out = Vec::new();
    write_request(&req, opts, &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

/// Translate an OpenAI request body, returning the Bedrock body as a tree.
fn bedrock_body(openai: &str, opts: &RequestOptions) -> Value {
    serde_json::from_str(&bedrock_text(openai, opts).unwrap()).unwrap()
}
