//! Which endpoint a request is for, and what its path carries (the Azure deployment, the
//! Gemini model, the Bedrock model id). Pure; spans point into the request buffer.

use proto::http1::{Method, RequestHead, Span};

use super::Endpoint;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    pub endpoint: Endpoint,
    /// The model named by the path: the Azure deployment, the Gemini model or the Bedrock
    /// model id (still percent-encoded).
    pub model: Option<Span>,
}

const AZURE: &[u8] = b"/openai/deployments/";
const GEMINI: [&[u8]; 2] = [b"/v1beta/models/", b"/v1/models/"];
const BEDROCK: &[u8] = b"/model/";

/// Route a parsed request. The OpenAI routes are matched first and cost what they did
/// before the native formats existed: one prefix strip and a few slice compares.
pub(crate) fn route(buf: &[u8], head: &RequestHead) -> Route {
    let path = head.path.of(buf);
    let plain = |endpoint| Route {
        endpoint,
        model: None,
    };
    let short = path.strip_prefix(b"/v1").unwrap_or(path);
    match (head.method, short) {
        (Method::Post, b"/chat/completions") => return plain(Endpoint::ChatCompletions),
        (Method::Post, b"/completions") => return plain(Endpoint::Completions),
        (Method::Post, b"/embeddings") => return plain(Endpoint::Embeddings),
        (Method::Get, b"/models") => return plain(Endpoint::Models),
        (Method::Post, b"/responses") => return plain(Endpoint::Responses),
        (Method::Post, b"/messages") => return plain(Endpoint::Messages),
        (Method::Post, b"/messages/count_tokens") => return plain(Endpoint::CountTokens),
        (Method::Post, _) => {}
        _ => return plain(Endpoint::Other),
    }
    let base = head.path.start as usize;
    if let Some(rest) = path.strip_prefix(AZURE) {
        return named(base + AZURE.len(), rest, b'/', &AZURE_ACTIONS);
    }
    for prefix in GEMINI {
        if let Some(rest) = path.strip_prefix(prefix) {
            return named(base + prefix.len(), rest, b':', &GEMINI_ACTIONS);
        }
    }
    if let Some(rest) = path.strip_prefix(BEDROCK) {
        // The model id is one segment: `/` inside an ARN travels as `%2F`.
        return named(base + BEDROCK.len(), rest, b'/', &BEDROCK_ACTIONS);
    }
    plain(Endpoint::Other)
}

const AZURE_ACTIONS: [(&[u8], Endpoint); 3] = [
    (b"chat/completions", Endpoint::AzureChatCompletions),
    (b"completions", Endpoint::AzureCompletions),
    (b"embeddings", Endpoint::AzureEmbeddings),
];
const GEMINI_ACTIONS: [(&[u8], Endpoint); 3] = [
    (b"generateContent", Endpoint::GenerateContent),
    (b"streamGenerateContent", Endpoint::StreamGenerateContent),
    (b"countTokens", Endpoint::GeminiCountTokens),
];
const BEDROCK_ACTIONS: [(&[u8], Endpoint); 2] = [
    (b"converse", Endpoint::Converse),
    (b"converse-stream", Endpoint::ConverseStream),
];

/// `rest` is `{model}{sep}{action}`, starting at `start` in the buffer: the action's
/// endpoint with the model's span, or `Other` for an empty model or unknown action.
fn named(start: usize, rest: &[u8], sep: u8, actions: &[(&[u8], Endpoint)]) -> Route {
    let other = Route {
        endpoint: Endpoint::Other,
        model: None,
    };
    let Some(at) = rest.iter().position(|&b| b == sep).filter(|&at| at > 0) else {
        return other;
    };
    match actions
        .iter()
        .find(|(action, _)| *action == &rest[at + 1..])
    {
        Some(&(_, endpoint)) => Route {
            endpoint,
            model: Some(Span::new(start, start + at)),
        },
        None => other,
    }
}

/// The raw (still percent-encoded) value of query parameter `name` in `target`, the
/// first when it repeats. `Some(b"")` for `?name` or `?name=`.
pub(crate) fn query<'a>(target: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let at = target.iter().position(|&b| b == b'?')?;
    target[at + 1..].split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use proto::http1::{parse_request, Limits, Status, EMPTY_HEADERS};

    use super::*;

    fn routed(request: &str) -> (Endpoint, Option<String>) {
        let mut headers = EMPTY_HEADERS;
        let buf = request.as_bytes();
        let Ok(Status::Complete(head)) = parse_request(buf, &mut headers, &Limits::DEFAULT) else {
            panic!("unparsed {request:?}");
        };
        let r = route(buf, &head);
        let model = r
            .model
            .map(|s| String::from_utf8_lossy(s.of(buf)).into_owned());
        (r.endpoint, model)
    }

    #[test]
    fn routes() {
        let post = |path: &str| routed(&format!("POST {path} HTTP/1.1\r\n\r\n"));
        assert_eq!(post("/v1/chat/completions").0, Endpoint::ChatCompletions);
        assert_eq!(post("/chat/completions?x=1").0, Endpoint::ChatCompletions);
        assert_eq!(post("/v1/responses").0, Endpoint::Responses);
        assert_eq!(post("/v1/messages").0, Endpoint::Messages);
        assert_eq!(post("/v1/messages/count_tokens").0, Endpoint::CountTokens);
        assert_eq!(
            post("/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"),
            (Endpoint::AzureChatCompletions, Some("gpt4o-prod".into()))
        );
        assert_eq!(
            post("/openai/deployments/e/embeddings").0,
            Endpoint::AzureEmbeddings
        );
        assert_eq!(post("/openai/deployments//completions").0, Endpoint::Other);
        assert_eq!(post("/openai/deployments/x/images").0, Endpoint::Other);
        assert_eq!(
            post("/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"),
            (
                Endpoint::StreamGenerateContent,
                Some("gemini-2.0-flash".into())
            )
        );
        assert_eq!(
            post("/v1/models/g:generateContent").0,
            Endpoint::GenerateContent
        );
        assert_eq!(
            post("/v1beta/models/g:countTokens").0,
            Endpoint::GeminiCountTokens
        );
        assert_eq!(post("/v1beta/models/g:embed").0, Endpoint::Other);
        assert_eq!(post("/v1beta/models/:generateContent").0, Endpoint::Other);
        assert_eq!(
            post("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"),
            (
                Endpoint::Converse,
                Some("anthropic.claude-3-5-sonnet-20240620-v1%3A0".into())
            )
        );
        assert_eq!(post("/model/m/converse-stream").0, Endpoint::ConverseStream);
        assert_eq!(post("/model/m/invoke").0, Endpoint::Other);
        assert_eq!(post("/model//converse").0, Endpoint::Other);
        assert_eq!(post("/model/a/b/converse").0, Endpoint::Other);
        assert_eq!(
            routed("GET /v1/messages HTTP/1.1\r\n\r\n").0,
            Endpoint::Other
        );
    }

    #[test]
    fn queries() {
        let t = b"/p?alt=sse&key=abc&flag&empty=";
        assert_eq!(query(t, b"alt"), Some(&b"sse"[..]));
        assert_eq!(query(t, b"key"), Some(&b"abc"[..]));
        assert_eq!(query(t, b"flag"), Some(&b""[..]));
        assert_eq!(query(t, b"empty"), Some(&b""[..]));
        assert_eq!(query(t, b"ke"), None);
        assert_eq!(query(b"/p", b"alt"), None);
    }
}
