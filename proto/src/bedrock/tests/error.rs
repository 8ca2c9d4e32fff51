use proptest::prelude::*;
use serde_json::Value;

use crate::bedrock::{exception_kind, parse_error, translate_error};
use crate::chat::ErrorKind;

fn translate(status: u16, header: Option<&str>, body: &str) -> (ErrorKind, Value) {
    let mut out = Vec::new();
    let e = translate_error(status, header.map(str::as_bytes), body.as_bytes(), &mut out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["message"], e.message.as_str());
    assert_eq!(v["error"]["code"], e.code.as_str());
    assert_eq!(v["error"]["type"], e.kind.openai_type());
    assert_eq!(v["error"]["param"], Value::Null);
    (e.kind, v)
}

#[test]
fn documented_exceptions_by_header() {
    const NS: &str = ":http://internal.amazon.com/coral/com.amazon.bedrock/";
    for (status, name, message, want) in [
        (
            400,
            "ValidationException",
            "Malformed input request: #: extraneous key [foo] is not permitted",
            ErrorKind::InvalidRequest,
        ),
        (
            400,
            "ValidationException",
            "Input is too long for requested model.",
            ErrorKind::ContextLength,
        ),
        (
            400,
            "ValidationException",
            "prompt is too long: 201234 tokens > 200000 maximum",
            ErrorKind::ContextLength,
        ),
        (
            400,
            "ServiceQuotaExceededException",
            "Your request exceeds the service quota",
            ErrorKind::RateLimit,
        ),
        (
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
            ErrorKind::PermissionDenied,
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            ErrorKind::Authentication,
        ),
        (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            ErrorKind::Authentication,
        ),
        (
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
            ErrorKind::Authentication,
        ),
        (
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Signature' parameter.",
            ErrorKind::Authentication,
        ),
        (
            404,
            "ResourceNotFoundException",
            "Could not resolve the foundation model from the provided model identifier.",
            ErrorKind::NotFound,
        ),
        (
            408,
            "ModelTimeoutException",
            "Model has timed out in processing the request.",
            ErrorKind::Server,
        ),
        (
            424,
            "ModelErrorException",
            "The model returned an error.",
            ErrorKind::Server,
        ),
        (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
            ErrorKind::RateLimit,
        ),
        (
            429,
            "ModelNotReadyException",
            "Model is not ready.",
            ErrorKind::Overloaded,
        ),
        (
            500,
            "InternalServerException",
            "The system encountered an unexpected error during processing.",
            ErrorKind::Server,
        ),
        (
            503,
            "ServiceUnavailableException",
            "Bedrock is unable to process your request.",
            ErrorKind::Overloaded,
        ),
    ] {
        let header = format!("{name}{NS}");
        let body = serde_json::json!({"message": message}).to_string();
        let (kind, v) = translate(status, Some(&header), &body);
        assert_eq!(kind, want, "{name}: {message}");
        assert_eq!(v["error"]["message"], message);
        let code = if want == ErrorKind::ContextLength {
            "context_length_exceeded"
        } else {
            name
        };
        assert_eq!(v["error"]["code"], code);
    }
}

#[test]
fn name_from_the_body_type_and_capitalized_message() {
    let (kind, v) = translate(
        400,
        None,
        r#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"1 validation error detected"}"#,
    );
    assert_eq!(kind, ErrorKind::InvalidRequest);
    assert_eq!(v["error"]["code"], "ValidationException");
    assert_eq!(v["error"]["message"], "1 validation error detected");
    // The header wins over the body.
    let (kind, _) = translate(
        429,
        Some("ThrottlingException"),
        r#"{"__type":"ValidationException","message":"x"}"#,
    );
    assert_eq!(kind, ErrorKind::RateLimit);
}

#[test]
fn unknown_names_and_bodies_fall_back_to_the_status() {
    let (kind, v) = translate(502, None, "<html>Bad Gateway</html>");
    assert_eq!(kind, ErrorKind::Server);
    assert_eq!(v["error"]["code"], "http_502");
    assert_eq!(v["error"]["message"], "<html>Bad Gateway</html>");
    let (kind, v) = translate(429, Some("SomethingNew"), "");
    assert_eq!(kind, ErrorKind::RateLimit);
    assert_eq!(v["error"]["code"], "SomethingNew");
    assert_eq!(v["error"]["message"], "Bedrock answered HTTP 429");
    assert_eq!(
        translate(400, None, r#"{"message":"Input is too long"}"#).0,
        ErrorKind::ContextLength
    );
    assert_eq!(translate(404, None, "[]").0, ErrorKind::NotFound);
    assert_eq!(translate(408, None, "{}").0, ErrorKind::Server);
    // A long raw body is cut.
    let long = "x".repeat(5000);
    let e = parse_error(500, None, long.as_bytes());
    assert_eq!(
        e.message.len(),
        crate::bedrock::error::RAW_MESSAGE_BYTES_MAX
    );
}

#[test]
fn stream_member_names_read_like_the_header_names() {
    assert_eq!(
        exception_kind("throttlingException", ""),
        Some(ErrorKind::RateLimit)
    );
    assert_eq!(
        exception_kind("ThrottlingException", ""),
        Some(ErrorKind::RateLimit)
    );
    assert_eq!(exception_kind("throttlingexception", ""), None);
    assert_eq!(exception_kind("", ""), None);
    assert_eq!(exception_kind("é", ""), None);
    assert_eq!(exception_kind("éhrottlingException", ""), None);
}

proptest! {
    #[test]
    fn never_panics(status in 0u16..1000, header in proptest::collection::vec(any::<u8>(), 0..40),
                    body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut out = Vec::new();
        let e = translate_error(status, Some(&header), &body, &mut out);
        prop_assert!(!e.message.is_empty());
        prop_assert!(!e.code.is_empty());
        let v: Value = serde_json::from_slice(&out).unwrap();
        prop_assert!(v["error"]["type"].is_string());
    }
}
