//! Azure OpenAI: `POST /openai/deployments/{deployment}/{chat/completions | completions |
//! embeddings}?api-version=...`.
//!
//! Auth is the `api-key` header (any non-blank value); without it Azure's 401
//! `{"error":{"code":"401","message":"Access denied ..."}}`. An `Authorization: Bearer`
//! header is not accepted in its place: Azure reads bearer tokens as Entra ID tokens, so
//! a gateway that sends the OpenAI header to Azure is refused here as there. Without an
//! `api-version` query parameter Azure answers 404 `Resource not found` (its routing
//! layer finds no handler), and so does the mock. The deployment is the model: answers
//! say `"model": "<deployment>"`, whatever the body's `model`. Bodies are OpenAI's,
//! checked lightly (chat `messages`, completions `prompt`, embeddings `input`) with
//! OpenAI-shaped errors, then answered by the OpenAI writers.

use serde_json::{json, Value};

use super::check::{object, required, Path};
use super::native::{Ctx, Decision};
use super::openai;
use super::Endpoint;

/// Azure's own error shape, for what its gateway layer refuses (auth, routing, quota).
pub(crate) fn error(status: u16, message: &str) -> Value {
    json!({"error": {"code": status.to_string(), "message": message}})
}

pub(crate) fn decide(ctx: &Ctx) -> Decision {
    if !ctx.credential(b"api-key") {
        return Decision::reject(
            401,
            error(
                401,
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            ),
        );
    }
    if ctx.query(b"api-version").is_none_or(<[u8]>::is_empty) {
        return Decision::reject(404, error(404, "Resource not found"));
    }
    let deployment = ctx.path_model();
    let member = match ctx.route.endpoint {
        Endpoint::AzureChatCompletions => return openai::decide_chat(ctx, Some(&deployment)),
        Endpoint::AzureCompletions => "prompt",
        _ => "input",
    };
    let body: Value = match ctx.json() {
        Ok(v) => v,
        Err(e) => return openai::reject_json(&e),
    };
    let root = Path::root();
    match object(&body, &root).and_then(|o| required(o, member, &root)) {
        Ok(_) => Decision::Fast,
        Err(i) => openai::reject_invalid(&i),
    }
}
