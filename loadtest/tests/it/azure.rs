//! Azure OpenAI deployments.

use loadtest::mock::Endpoint;
use serde_json::{json, Value};

use crate::client::{post, Response};
use crate::start_epoll;

const KEY: [(&str, &str); 1] = [("api-key", "azure-test-key")];
const CHAT: &str = "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21";

fn chat_body(stream: bool) -> Value {
    json!({
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say something about gateways."}],
        "stream": stream,
    })
}

fn assert_azure_error(resp: &Response, status: u16, needle: &str) {
    let v = resp.error(status, "/error/message", needle);
    assert_eq!(v["error"]["code"], status.to_string());
}

#[test]
fn the_deployment_is_the_model() {
    let mock = start_epoll(|c| c.chunks = 3);
    let mut b = chat_body(false);
    b["model"] = json!("ignored-by-azure");
    let resp = post(mock.addr, CHAT, &KEY, &b);
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(v["usage"]["prompt_tokens"], 11);

    let data = post(mock.addr, CHAT, &KEY, &chat_body(true)).sse_data();
    assert_eq!(data.len(), 1 + 3 + 1 + 1, "role, contents, finish, [DONE]");
    let first: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(first["model"], "gpt4o-prod");

    let path = "/openai/deployments/emb-small/embeddings?api-version=2024-10-21";
    let v = post(
        mock.addr,
        path,
        &KEY,
        &json!({"input": ["a", "b"], "dimensions": 4}),
    )
    .json();
    assert_eq!(
        (v["model"].as_str(), v["data"].as_array().unwrap().len()),
        (Some("emb-small"), 2)
    );
    let path = "/openai/deployments/davinci/completions?api-version=2024-10-21";
    let v = post(
        mock.addr,
        path,
        &KEY,
        &json!({"prompt": "Once", "max_tokens": 3}),
    )
    .json();
    assert_eq!(
        (
            v["model"].as_str(),
            v["choices"][0]["finish_reason"].as_str()
        ),
        (Some("davinci"), Some("length"))
    );
    assert_eq!(mock.stats.requests(Endpoint::AzureChatCompletions), 2);
    assert_eq!(mock.stats.requests(Endpoint::AzureEmbeddings), 1);
    assert_eq!(mock.stats.requests(Endpoint::AzureCompletions), 1);
}

#[test]
fn api_key_and_api_version_are_required() {
    let mock = start_epoll(|_| {});
    let resp = post(mock.addr, CHAT, &[], &chat_body(false));
    assert_azure_error(&resp, 401, "Access denied");
    let bearer = [("authorization", "Bearer azure-test-key")];
    assert_azure_error(
        &post(mock.addr, CHAT, &bearer, &chat_body(false)),
        401,
        "Access denied",
    );
    let unversioned = "/openai/deployments/gpt4o-prod/chat/completions";
    assert_azure_error(
        &post(mock.addr, unversioned, &KEY, &chat_body(false)),
        404,
        "Resource not found",
    );
    let empty = format!("{unversioned}?api-version=");
    assert_eq!(post(mock.addr, &empty, &KEY, &chat_body(false)).status, 404);
}

#[test]
fn malformed_bodies_get_openai_errors() {
    let mock = start_epoll(|_| {});
    let check = |path: &str, body: Value, param: &str, code: &str| {
        let resp = post(mock.addr, path, &KEY, &body);
        assert_eq!(resp.status, 400, "{}", String::from_utf8_lossy(&resp.body));
        let e = resp.json()["error"].clone();
        assert_eq!(
            (e["type"].as_str(), e["param"].as_str(), e["code"].as_str()),
            (Some("invalid_request_error"), Some(param), Some(code)),
            "{e}"
        );
    };
    check(
        CHAT,
        json!({"prompt": "x"}),
        "messages",
        "missing_required_parameter",
    );
    check(CHAT, json!({"messages": []}), "messages", "invalid_value");
    check(
        CHAT,
        json!({"messages": [{"role": "robot", "content": "x"}]}),
        "messages[0].role",
        "invalid_value",
    );
    check(CHAT, json!({"messages": "hi"}), "messages", "invalid_type");
    let emb = "/openai/deployments/e/embeddings?api-version=1";
    check(
        emb,
        json!({"text": "x"}),
        "input",
        "missing_required_parameter",
    );
}

#[test]
fn tool_calls_and_faults() {
    let mock = start_epoll(|_| {});
    let mut b = chat_body(false);
    b["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]);
    let v = post(mock.addr, CHAT, &[KEY[0], ("x-mock-tool-call", "auto")], &b).json();
    assert_eq!(v["model"], "gpt4o-prod");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );
    let resp = post(mock.addr, CHAT, &[KEY[0], ("x-mock-status", "429")], &b);
    assert_azure_error(&resp, 429, "sluice mock");
    assert_eq!(resp.header("retry-after"), Some("1"));
}
