use serde_json::json;

use crate::anthropic::{parse_error, parse_openai_error, translate_error, translate_openai_error};
use crate::chat::ErrorKind;

fn anthropic_body(kind: &str, message: &str) -> String {
    format!(
        r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}}"#
    )
}

#[test]
fn anthropic_error_types_map_to_kinds() {
    for (status, kind, want) in [
        (400, "invalid_request_error", ErrorKind::InvalidRequest),
        (401, "authentication_error", ErrorKind::Authentication),
        (402, "billing_error", ErrorKind::RateLimit),
        (403, "permission_error", ErrorKind::PermissionDenied),
        (404, "not_found_error", ErrorKind::NotFound),
        (413, "request_too_large", ErrorKind::InvalidRequest),
        (429, "rate_limit_error", ErrorKind::RateLimit),
        (500, "api_error", ErrorKind::Server),
        (504, "timeout_error", ErrorKind::Server),
        (529, "overloaded_error", ErrorKind::Overloaded),
        (529, "api_error", ErrorKind::Overloaded),
        (418, "new_kind_of_error", ErrorKind::InvalidRequest),
        (503, "new_kind_of_error", ErrorKind::Overloaded),
    ] {
        let e = parse_error(status, anthropic_body(kind, "msg").as_bytes());
        assert_eq!(e.kind, want, "{status} {kind}");
        assert_eq!(e.code, kind);
        assert_eq!(e.message, "msg");
    }
}

#[test]
fn prompt_too_long_is_context_length_in_openai_terms() {
    let mut out = Vec::new();
    let e = translate_error(
        400,
        anthropic_body(
            "invalid_request_error",
            "prompt is too long: 208656 tokens > 200000 maximum",
        )
        .as_bytes(),
        &mut out,
    );
    assert_eq!(e.kind, ErrorKind::ContextLength);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "prompt is too long: 208656 tokens > 200000 maximum",
            "type": "invalid_request_error", "param": null, "code": "context_length_exceeded"}})
    );
    let e = parse_error(
        400,
        anthropic_body(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 197626 + 8192 > 200000, decrease input length or `max_tokens` and try again",
        )
        .as_bytes(),
    );
    assert_eq!(e.kind, ErrorKind::ContextLength);
}

#[test]
fn overloaded_keeps_the_message_in_the_openai_body() {
    let mut out = Vec::new();
    let e = translate_error(
        529,
        anthropic_body("overloaded_error", "Overloaded").as_bytes(),
        &mut out,
    );
    assert!(e.kind.retryable());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded_error"}})
    );
}

#[test]
fn bodies_that_are_not_error_json_are_classified_by_status() {
    let e = parse_error(502, b"<html>Bad Gateway</html>");
    assert_eq!(
        (e.kind, e.code.as_str(), e.message.as_str()),
        (ErrorKind::Server, "http_502", "<html>Bad Gateway</html>")
    );
    let e = parse_error(429, b"");
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert_eq!(e.message, "Anthropic answered HTTP 429");
    let e = parse_error(400, b"[{\"error\":{}}]");
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    // A long body is cut at a character boundary.
    let long = "é".repeat(400);
    let e = parse_error(500, long.as_bytes());
    assert!(e.message.len() <= crate::anthropic::error::RAW_MESSAGE_BYTES_MAX);
    assert!(e.message.chars().all(|c| c == 'é'));
}

#[test]
fn openai_errors_become_anthropic_errors() {
    for (status, body, kind, anthropic_type) in [
        (
            429,
            r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            ErrorKind::RateLimit,
            "rate_limit_error",
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
            ErrorKind::ContextLength,
            "invalid_request_error",
        ),
        (
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
            ErrorKind::Authentication,
            "authentication_error",
        ),
        (
            404,
            r#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
            ErrorKind::NotFound,
            "not_found_error",
        ),
        (
            500,
            r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#,
            ErrorKind::Server,
            "api_error",
        ),
        (
            503,
            r#"{"error":{"message":"busy","type":"server_error","code":503}}"#,
            ErrorKind::Overloaded,
            "overloaded_error",
        ),
        (502, "upstream exploded", ErrorKind::Server, "api_error"),
    ] {
        let mut out = Vec::new();
        let e = translate_openai_error(status, body.as_bytes(), &mut out);
        assert_eq!(e.kind, kind, "{body}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], anthropic_type, "{body}");
        assert_eq!(v["error"]["message"], e.message.as_str());
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
    let e = parse_openai_error(
        400,
        br#"{"error":{"message":"bad","type":"invalid_request_error","code":null}}"#,
    );
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::InvalidRequest, "invalid_request_error")
    );
}
