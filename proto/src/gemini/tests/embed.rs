use serde_json::{json, Value};

use crate::chat::TranslateError;
use crate::gemini::{write_embeddings_request, write_embeddings_response, EncodingFormat};

#[test]
fn request_one_and_many_inputs() {
    let mut out = Vec::new();
    let f = write_embeddings_request(
        br#"{"model":"text-embedding-004","input":"hello","dimensions":256}"#,
        "text-embedding-004",
        &mut out,
    )
    .unwrap();
    assert_eq!(f, EncodingFormat::Float);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({"requests": [{"model": "models/text-embedding-004",
            "content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256}]})
    );
    out.clear();
    let f = write_embeddings_request(
        br#"{"model":"e","input":["a","b\u00e9"],"encoding_format":"base64"}"#,
        "models/e",
        &mut out,
    )
    .unwrap();
    assert_eq!(f, EncodingFormat::Base64);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["requests"][1]["content"]["parts"][0]["text"], "bé");
    assert_eq!(v["requests"][1]["model"], "models/e");
    assert!(v["requests"][0].get("outputDimensionality").is_none());

    for body in [
        r#"{"model":"e","input":[1,2,3]}"#,
        r#"{"model":"e","input":[]}"#,
        r#"{"model":"e","input":"x","encoding_format":"int8"}"#,
    ] {
        assert!(
            matches!(
                write_embeddings_request(body.as_bytes(), "e", &mut out),
                Err(TranslateError::Unsupported(_))
            ),
            "{body}"
        );
    }
    assert!(matches!(
        write_embeddings_request(b"{}", "e", &mut out),
        Err(TranslateError::BadJson(_))
    ));
}

#[test]
fn response_float_and_base64() {
    let body = br#"{"embeddings":[{"values":[0.25, -1.5e-3, 3]},{"values":[1]}]}"#;
    let mut out = Vec::new();
    write_embeddings_response(body, "e", EncodingFormat::Float, &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("[0.25, -1.5e-3, 3]"),
        "values copied as written"
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "e");
    assert_eq!(
        v["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [1]})
    );
    assert_eq!(v["usage"]["prompt_tokens"], 0);

    out.clear();
    write_embeddings_response(body, "e", EncodingFormat::Base64, &mut out).unwrap();
    let v: Value = serde_json::from_slice(&out).unwrap();
    // 0.25f32 = 00 00 80 3E, 1.0f32 = 00 00 80 3F (little-endian).
    assert_eq!(v["data"][1]["embedding"], "AACAPw==");
    // [0.25, -1.5e-3, 3.0] as f32, little-endian (checked with Python's struct and base64).
    assert_eq!(v["data"][0]["embedding"], "AACAPqabxLoAAEBA");

    assert!(matches!(
        write_embeddings_response(
            br#"{"embeddings":[{"values":5}]}"#,
            "e",
            EncodingFormat::Float,
            &mut out
        ),
        Err(TranslateError::BadJson(_))
    ));
}
