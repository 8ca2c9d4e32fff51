//! Tests of the Anthropic translation. Fixtures are in `proto/tests/fixtures/anthropic/`,
//! written from Anthropic's Messages API reference (shapes of requests, responses,
//! streaming events and errors).

mod error;
mod ingress;
mod ingress_stream;
mod request;
mod response;
mod roundtrip;
mod stream;

use serde_json::Value;

use crate::chat::{StreamTranslator, TranslateError};
use crate::sse::Decoder;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/anthropic/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// Feed `input` in the given pieces, then finish.
fn run_pieces<T: StreamTranslator>(
    mut t: T,
    pieces: &[&[u8]],
) -> (Vec<u8>, Result<(), TranslateError>, T) {
    let mut out = Vec::new();
    for p in pieces {
        if let Err(e) = t.feed(p, &mut out) {
            return (out, Err(e), t);
        }
    }
    let r = t.finish(&mut out);
    (out, r, t)
}

/// Run `input` whole, split at every byte, and in 1-byte pieces; every way must give
/// the same output and result. Returns the translator of the whole run.
fn every_split<T: StreamTranslator>(
    make: impl Fn() -> T,
    input: &[u8],
) -> (Vec<u8>, Result<(), TranslateError>, T) {
    let whole = run_pieces(make(), &[input]);
    for i in 0..=input.len() {
        let (out, r, _) = run_pieces(make(), &[&input[..i], &input[i..]]);
        assert_eq!(r, whole.1, "split at {i}");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&whole.0),
            "split at {i}"
        );
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let (out, r, _) = run_pieces(make(), &bytes);
    assert_eq!(r, whole.1, "1-byte pieces");
    assert_eq!(out, whole.0, "1-byte pieces");
    whole
}

/// The events of an SSE body: (event name, data parsed as JSON, or the raw data as a JSON
/// string when it is not JSON, as `[DONE]`).
fn events(body: &[u8]) -> Vec<(String, Value)> {
    let mut d = Decoder::new(1 << 20);
    d.push(body).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = d.next_event() {
        let data = serde_json::from_slice(ev.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(ev.data).into_owned()));
        out.push((String::from_utf8_lossy(ev.event).into_owned(), data));
    }
    assert!(!d.finish(), "output ends with a complete event");
    out
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}
