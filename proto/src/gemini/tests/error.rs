use crate::chat::ErrorKind;
use crate::gemini::{parse_error, translate_error};

fn body(code: u16, status: &str, message: &str) -> String {
    serde_json::json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}

#[test]
fn statuses_map_to_kinds() {
    for (http, status, message, kind) in [
        (400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ErrorKind::InvalidRequest),
        (400, "FAILED_PRECONDITION", "User location is not supported for the API use.", ErrorKind::InvalidRequest),
        (400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).", ErrorKind::ContextLength),
        (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", ErrorKind::Authentication),
        (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", ErrorKind::Authentication),
        (403, "PERMISSION_DENIED", "Permission denied on resource project.", ErrorKind::PermissionDenied),
        (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta", ErrorKind::NotFound),
        (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", ErrorKind::RateLimit),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ErrorKind::Overloaded),
        (500, "INTERNAL", "An internal error has occurred.", ErrorKind::Server),
        (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", ErrorKind::Server),
        (418, "", "teapot", ErrorKind::InvalidRequest),
        (502, "SOMETHING_NEW", "?", ErrorKind::Server),
    ] {
        let e = parse_error(http, body(http, status, message).as_bytes());
        assert_eq!(e.kind, kind, "{status} {message}");
        assert_eq!(e.message, message);
    }
}

#[test]
fn api_key_invalid_is_found_in_details() {
    let body = r#"{"error":{"code":400,"message":"Bad key.","status":"INVALID_ARGUMENT",
        "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#;
    assert_eq!(
        parse_error(400, body.as_bytes()).kind,
        ErrorKind::Authentication
    );
}

#[test]
fn the_openai_body_carries_kind_code_and_message() {
    let mut out = Vec::new();
    let msg =
        "The input token count (134123) exceeds the maximum number of tokens allowed (131072).";
    // Gemini CLI-style array wrapper.
    let wrapped = format!("[{}]", body(400, "INVALID_ARGUMENT", msg));
    let e = translate_error(400, wrapped.as_bytes(), &mut out);
    assert_eq!(e.kind, ErrorKind::ContextLength);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["message"], msg);
    assert_eq!(v["error"]["param"], serde_json::Value::Null);

    out.clear();
    let e = translate_error(
        429,
        body(429, "RESOURCE_EXHAUSTED", "quota").as_bytes(),
        &mut out,
    );
    assert!(e.kind.retryable());
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "RESOURCE_EXHAUSTED");
}

#[test]
fn bodies_that_are_not_gemini_errors() {
    let e = parse_error(502, b"<html>Bad Gateway</html>");
    assert_eq!(e.kind, ErrorKind::Server);
    assert_eq!(e.code, "http_502");
    assert_eq!(e.message, "<html>Bad Gateway</html>");
    let e = parse_error(429, b"");
    assert_eq!(e.kind, ErrorKind::RateLimit);
    assert!(e.message.contains("429"));
    let long = vec![b'x'; 5000];
    assert_eq!(
        parse_error(500, &long).message.len(),
        crate::gemini::error::RAW_MESSAGE_BYTES_MAX
    );
    // Invalid UTF-8 and a cut multi-byte character are replaced, not a panic.
    let e = parse_error(500, b"\xff\xfe ok \xc3");
    assert!(e.message.contains("ok"));
    // An error with no status uses the HTTP status (or, in a stream, its own code).
    let e = parse_error(0, br#"{"error":{"code":503,"message":"busy"}}"#);
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Overloaded, "http_503")
    );
}
