//! The Bedrock provider through the real gateway against the mock's Converse endpoints,
//! which verify every SigV4 signature: what Bedrock receives (path, signed headers,
//! Converse body), and what the client gets back — chat, streams from event-stream
//! frames, usage, tool calls, exceptions before and inside streams.

use std::net::SocketAddr;

use loadtest::mock::MockHandle;

use super::*;

const MODEL_ID: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const MODEL_PATH: &str = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0";
const SESSION_TOKEN: &str = "FQoGZXIvYXdzE-e2e-session-token";

/// Two Bedrock providers at the mock: `aws` (model `m`) signing with `secret`, and
/// `aws-sts` (model `m-sts`) with the right secret and a session token.
fn config(mock: SocketAddr, secret: &str) -> String {
    format!(
        r#"
[log]
access_log = "off"

[auth]
keys = ["{CLIENT_KEY}"]

[[providers]]
name = "aws"
kind = "bedrock"
base_url = "http://{mock}"
region = "us-east-1"
aws_access_key_id = "AKIDMOCK"
aws_secret_access_key = "{secret}"
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}

[[providers]]
name = "aws-sts"
kind = "bedrock"
base_url = "http://{mock}"
region = "us-east-1"
aws_access_key_id = "AKIDMOCK"
aws_secret_access_key = "mock-secret"
aws_session_token = "{SESSION_TOKEN}"
timeouts = {{ first_byte_timeout_ms = 3000, connect_timeout_ms = 1000 }}

[[models]]
name = "m"
provider = "aws"
model = "{MODEL_ID}"

[[models]]
name = "m-sts"
provider = "aws-sts"
model = "{MODEL_ID}"
"#
    )
}

fn start(d: Drv, secret: &str) -> (MockHandle, Gateway) {
    let m = recording_mock(d);
    let gw = Gateway::start(&config(m.addr, secret), d);
    (m, gw)
}

const TOOLS: &str = r#"[{"type":"function","function":{"name":"get_weather","description":"Weather for a city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]"#;

fn chat(model: &str, stream: bool, tools: bool, extra: &str) -> String {
    let tools = if tools {
        format!(r#","tools":{TOOLS}"#)
    } else {
        String::new()
    };
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"system","content":"Be brief."}},{{"role":"user","content":"Weather in Paris?"}}],"max_tokens":1000,"stream":{stream}{tools}{extra}}}"#
    )
}

fn seen(m: &MockHandle, i: usize) -> SeenHead {
    SeenHead::parse(&m.recorded()[i].0)
}

fn sent_body(m: &MockHandle, i: usize) -> serde_json::Value {
    serde_json::from_slice(&m.recorded()[i].1).unwrap()
}

/// The `SignedHeaders` list of a recorded request's `authorization`.
fn signed_headers(h: &SeenHead) -> String {
    let auth = h.one("authorization").expect("signed");
    auth.split(", ")
        .find_map(|p| p.strip_prefix("SignedHeaders="))
        .unwrap_or_else(|| panic!("no SignedHeaders in {auth}"))
        .to_owned()
}

both_drivers!(
    fn chat_and_streams_through_signed_converse(d) {
        let (m, gw) = start(d, "mock-secret");
        let seed = "x-mock-seed: 11\r\n";
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m", false, false, ""), seed));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["object"], "chat.completion", "{v}");
        assert_eq!(v["model"], "m");
        assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
        let text = v["choices"][0]["message"]["content"].as_str().unwrap().to_string();
        assert!(!text.is_empty(), "{v}");
        let u = &v["usage"];
        assert!(u["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
        assert!(u["completion_tokens"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
        );

        // What Bedrock received: the model id encoded once in the path, a signature the
        // mock verified, and a Converse body.
        let h = seen(&m, 0);
        assert_eq!(h.request_line, format!("POST {MODEL_PATH}/converse HTTP/1.1"));
        let auth = h.one("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMOCK/") && auth.contains("/us-east-1/bedrock/aws4_request, "),
            "{auth}"
        );
        assert_eq!(signed_headers(&h), "content-type;host;x-amz-date");
        assert_eq!(h.one("x-amz-date").map(str::len), Some(16));
        assert_eq!(h.one("x-amz-security-token"), None);
        assert_eq!(h.one("content-type"), Some("application/json"));
        let sent = sent_body(&m, 0);
        assert_eq!(sent["system"], serde_json::json!([{"text": "Be brief."}]), "{sent}");
        assert_eq!(
            sent["messages"],
            serde_json::json!([{"role": "user", "content": [{"text": "Weather in Paris?"}]}])
        );
        assert_eq!(sent["inferenceConfig"]["maxTokens"], 1000, "{sent}");

        // The same answer streamed: same text, role first, [DONE] last, no usage chunk
        // unless asked.
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m", true, false, ""), seed));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let a = assemble(&r.body, "m");
        assert_eq!(a.role.as_deref(), Some("assistant"));
        assert_eq!(a.content, text, "the same text for the same seed");
        assert_eq!(a.finish.as_deref(), Some("stop"));
        assert!(a.usage.is_none() && a.done && a.errors.is_empty(), "{a:?}");
        let h = seen(&m, 1);
        assert_eq!(h.request_line, format!("POST {MODEL_PATH}/converse-stream HTTP/1.1"));
        assert_eq!(h.one("accept"), Some("application/vnd.amazon.eventstream"));

        let r = gw.client().request(&post(
            "/v1/chat/completions",
            &chat("m", true, false, r#","stream_options":{"include_usage":true}"#),
            seed,
        ));
        let a = assemble(&r.body, "m");
        assert_eq!(a.content, text);
        let su = a.usage.expect("usage chunk when asked");
        assert_eq!(su, v["usage"], "the stream's usage is the whole answer's");
    }
);

both_drivers!(
    fn a_session_token_is_sent_and_signed(d) {
        let (m, gw) = start(d, "mock-secret");
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m-sts", false, false, ""), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["model"], "m-sts");
        let h = seen(&m, 0);
        assert_eq!(h.one("x-amz-security-token"), Some(SESSION_TOKEN));
        assert_eq!(signed_headers(&h), "content-type;host;x-amz-date;x-amz-security-token");
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m-sts", true, false, ""), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let a = assemble(&r.body, "m-sts");
        assert!(a.done && a.errors.is_empty() && !a.content.is_empty(), "{a:?}");
    }
);

both_drivers!(
    fn parallel_tool_calls_streamed_and_not_and_results_back(d) {
        let (m, gw) = start(d, "mock-secret");
        let hdr = "x-mock-tool-call: auto\r\nx-mock-parallel-tool-calls: 2\r\n";
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m", false, true, ""), hdr));
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
        let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
        assert_eq!(calls.len(), 2, "{v}");
        let args: Vec<serde_json::Value> = calls
            .iter()
            .map(|c| {
                assert_eq!(c["type"], "function");
                assert_eq!(c["function"]["name"], "get_weather");
                assert!(c["id"].as_str().unwrap().starts_with("tooluse_"), "{c}");
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap()
            })
            .collect();
        assert_eq!(
            args,
            [serde_json::json!({"location": "Paris"}), serde_json::json!({"location": "London"})]
        );
        let sent = sent_body(&m, 0);
        assert_eq!(sent["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather", "{sent}");
        assert_eq!(
            sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"],
            serde_json::json!(["location"])
        );

        let r = gw.client().request(&post("/v1/chat/completions", &chat("m", true, true, ""), hdr));
        assert_eq!(r.status, 200, "{}", r.text());
        let a = assemble(&r.body, "m");
        assert_eq!(a.finish.as_deref(), Some("tool_calls"), "{a:?}");
        assert_eq!(a.calls.keys().copied().collect::<Vec<_>>(), [0, 1], "{a:?}");
        let streamed: Vec<serde_json::Value> =
            a.calls.values().map(|c| serde_json::from_str(&c.2).unwrap()).collect();
        assert_eq!(streamed, args, "streamed arguments reassemble to the same calls");
        assert!(a.calls.values().all(|c| c.1 == "get_weather" && c.0.starts_with("tooluse_")));
        assert!(a.done && a.errors.is_empty(), "{a:?}");

        // The results go back as toolResult blocks answering the toolUse ids; the answer
        // is text. Both calls are answered, as Converse requires.
        let (id0, id1) = (calls[0]["id"].as_str().unwrap(), calls[1]["id"].as_str().unwrap());
        let history = format!(
            r#"[{{"role":"user","content":"Weather in Paris and London?"}},{{"role":"assistant","content":null,"tool_calls":[{{"id":"{id0}","type":"function","function":{{"name":"get_weather","arguments":"{{\"location\":\"Paris\"}}"}}}},{{"id":"{id1}","type":"function","function":{{"name":"get_weather","arguments":"{{\"location\":\"London\"}}"}}}}]}},{{"role":"tool","tool_call_id":"{id0}","content":"sunny"}},{{"role":"tool","tool_call_id":"{id1}","content":"rain"}}]"#
        );
        let follow_up = format!(r#"{{"model":"m","messages":{history},"tools":{TOOLS}}}"#);
        let r = gw.client().request(&post("/v1/chat/completions", &follow_up, hdr));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["choices"][0]["finish_reason"], "stop", "{}", r.text());
        let sent = sent_body(&m, 2);
        let turns = sent["messages"].as_array().unwrap();
        assert_eq!(turns.len(), 3, "{sent}");
        assert_eq!(turns[2]["role"], "user");
        let results: Vec<&str> = turns[2]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["toolResult"]["toolUseId"].as_str().unwrap())
            .collect();
        assert_eq!(results, [id0, id1], "{sent}");

        // Without `tools` on the follow-up, the gateway declares them from the history
        // (Converse refuses tool blocks without a toolConfig), streamed this time.
        let follow_up = format!(r#"{{"model":"m","messages":{history},"stream":true}}"#);
        let r = gw.client().request(&post("/v1/chat/completions", &follow_up, ""));
        assert_eq!(r.status, 200, "{}", r.text());
        let a = assemble(&r.body, "m");
        assert!(a.errors.is_empty() && !a.content.is_empty() && a.done, "{}", r.text());
        assert_eq!(sent_body(&m, 3)["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather");
    }
);

both_drivers!(
    fn bedrock_exceptions_become_openai_errors(d) {
        let (_m, gw) = start(d, "mock-secret");
        let r = gw.client().request(&post(
            "/v1/chat/completions",
            &chat("m", false, false, ""),
            "x-mock-status: 429\r\n",
        ));
        assert_eq!(r.status, 429, "{}", r.text());
        let e = assert_openai_error(&r.body);
        assert_eq!(e["type"], "rate_limit_error", "{e}");
        assert_eq!(e["code"], "ThrottlingException", "{e}");
        // The same before a stream starts: a JSON error, not a stream.
        let r = gw.client().request(&post(
            "/v1/chat/completions",
            &chat("m", true, false, ""),
            "x-mock-status: 503\r\n",
        ));
        assert_eq!(r.status, 503, "{}", r.text());
        let e = assert_openai_error(&r.body);
        assert_eq!((&e["type"], &e["code"]), (&"server_error".into(), &"ServiceUnavailableException".into()), "{e}");

        // An exception inside a 200 stream: the content so far, then one error event.
        let r = gw.client().request(&post(
            "/v1/chat/completions",
            &chat("m", true, false, ""),
            "x-mock-fault: stream-error\r\n",
        ));
        assert_eq!(r.status, 200, "{}", r.text());
        let a = assemble(&r.body, "m");
        assert!(!a.content.is_empty(), "{}", r.text());
        assert_eq!(a.errors.len(), 1, "{}", r.text());
        let e = &a.errors[0]["error"];
        assert_eq!((&e["type"], &e["code"]), (&"server_error".into(), &"ModelStreamErrorException".into()), "{e}");
        assert!(e["message"].as_str().unwrap().contains("injected"), "{e}");
        assert!(a.finish.is_none(), "{a:?}");
        let r = gw.client().request(&post(
            "/v1/chat/completions",
            &chat("m", true, false, ""),
            "x-mock-fault: stream-error\r\nx-mock-stream-exception: throttlingException\r\n",
        ));
        let a = assemble(&r.body, "m");
        assert_eq!(a.errors.len(), 1, "{}", r.text());
        let e = &a.errors[0]["error"];
        assert_eq!((&e["type"], &e["code"]), (&"rate_limit_error".into(), &"ThrottlingException".into()), "{e}");
    }
);

both_drivers!(
    fn a_wrong_secret_surfaces_as_the_mocks_403(d) {
        let (m, gw) = start(d, "not-the-secret");
        for stream in [false, true] {
            let r = gw.client().request(&post("/v1/chat/completions", &chat("m", stream, false, ""), ""));
            assert_eq!(r.status, 403, "{}", r.text());
            assert_eq!(r.header("content-type"), Some("application/json"));
            let e = assert_openai_error(&r.body);
            assert_eq!(e["type"], "authentication_error", "{e}");
            assert_eq!(e["code"], "InvalidSignatureException", "{e}");
            assert!(
                e["message"].as_str().unwrap().starts_with("The request signature we calculated does not match"),
                "{e}"
            );
        }
        assert_eq!(m.recorded().len(), 2, "one attempt each: an auth failure is not retried");
        // The other provider signs with the right secret.
        let r = gw.client().request(&post("/v1/chat/completions", &chat("m-sts", false, false, ""), ""));
        assert_eq!(r.status, 200, "{}", r.text());
    }
);
