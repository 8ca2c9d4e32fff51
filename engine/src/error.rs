//! The one gateway error type: where a failure came from, whether it may be retried, and
//! the single mapping to an HTTP status and an OpenAI-shaped error body.

use proto::http1;
use proto::json::JsonErrorKind;

/// Which side of the gateway a failure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Client,
    Upstream,
    Gateway,
}

/// Every failure a client can see. Small and `Copy`: built on the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// The request head or body framing was rejected by the codec.
    Http(http1::Error),
    /// The request head did not arrive within `header_read_timeout_ms`.
    HeadTimeout,
    /// The request body did not arrive within `body_read_timeout_ms`.
    BodyTimeout,
    /// The body is not JSON (or not a JSON object).
    MalformedJson(JsonErrorKind),
    /// The body has no `model`, or it is not a string.
    MissingModel,
    /// No `Authorization: Bearer` where one is required.
    MissingApiKey,
    /// A key was presented and is not valid.
    InvalidApiKey,
    UnknownModel,
    UnknownRoute,
    MethodNotAllowed,
    /// Request body must be `application/json`.
    UnsupportedMediaType,
    UpstreamConnect,
    UpstreamConnectTimeout,
    UpstreamTls,
    /// The upstream closed or reset the connection before a complete response head.
    UpstreamReset,
    /// The upstream sent something that is not a valid HTTP/1.1 response.
    UpstreamBadResponse,
    UpstreamFirstByteTimeout,
    UpstreamIdleTimeout,
    UpstreamTotalTimeout,
    /// The body is not a chat request this provider's translation can read (a missing
    /// or mistyped member). The detail says which.
    InvalidChatRequest,
    /// The request uses a parameter the provider cannot express (the detail names it).
    UnsupportedParameter,
    /// The endpoint is not offered by the model's provider kind.
    UnsupportedEndpoint,
    /// The upstream's answer could not be translated to the client's API.
    UpstreamUntranslatable,
    /// The upstream request could not be signed (Bedrock SigV4: bad credentials text).
    UpstreamSigning,
    /// The gateway is shutting down and takes no new requests.
    Draining,
    /// Every deployment of the group (and its fallbacks) is unhealthy or ejected.
    NoHealthyDeployment,
    /// No deployment carries the tags the request requires (`x-sluice-route-tags`).
    NoMatchingDeployment,
    /// A virtual key past its `expires_at`, or a rotated-out secret past its grace.
    KeyExpired,
    /// The key may not call this endpoint (its `routes`).
    RouteNotAllowed,
    /// The key may not use this model (its `models`).
    ModelNotAllowed,
    /// A requests-per-minute limit on the key's path.
    RateLimitRequests,
    /// A tokens-per-minute limit on the key's path.
    RateLimitTokens,
    /// A max-concurrency limit on the key's path.
    ConcurrencyLimit,
    /// A budget on the key's path cannot cover the request's worst-case cost.
    BudgetExceeded,
    /// A budgeted key asked for a model whose price is unknown.
    PriceUnknown,
}

impl GatewayError {
    pub const fn source(self) -> Source {
        use GatewayError::*;
        match self {
            Http(_) | HeadTimeout | BodyTimeout | MalformedJson(_) | MissingModel
            | MissingApiKey | InvalidApiKey | UnknownModel | UnknownRoute | MethodNotAllowed
            | UnsupportedMediaType | InvalidChatRequest | UnsupportedParameter
            | UnsupportedEndpoint | NoMatchingDeployment | KeyExpired | RouteNotAllowed
            | ModelNotAllowed | RateLimitRequests | RateLimitTokens | ConcurrencyLimit
            | BudgetExceeded | PriceUnknown => Source::Client,
            UpstreamConnect
            | UpstreamConnectTimeout
            | UpstreamTls
            | UpstreamReset
            | UpstreamBadResponse
            | UpstreamFirstByteTimeout
            | UpstreamIdleTimeout
            | UpstreamTotalTimeout
            | UpstreamUntranslatable => Source::Upstream,
            Draining | UpstreamSigning | NoHealthyDeployment => Source::Gateway,
        }
    }

    /// Whether another attempt (on another connection or deployment) could succeed, when
    /// nothing has reached the client yet. An idle timeout counts: before the first byte
    /// it is a stream that went quiet between its head and its first body bytes.
    pub const fn retryable(self) -> bool {
        use GatewayError::*;
        matches!(
            self,
            UpstreamConnect
                | UpstreamConnectTimeout
                | UpstreamTls
                | UpstreamReset
                | UpstreamBadResponse
                | UpstreamFirstByteTimeout
                | UpstreamIdleTimeout
        )
    }

    pub const fn status(self) -> u16 {
        use GatewayError::*;
        match self {
            Http(e) => e.status(),
            HeadTimeout | BodyTimeout => 408,
            MalformedJson(_) | MissingModel | InvalidChatRequest | UnsupportedParameter
            | UnsupportedEndpoint | NoMatchingDeployment | PriceUnknown => 400,
            MissingApiKey | InvalidApiKey | KeyExpired => 401,
            RouteNotAllowed | ModelNotAllowed => 403,
            RateLimitRequests | RateLimitTokens | ConcurrencyLimit | BudgetExceeded => 429,
            UnknownModel | UnknownRoute => 404,
            MethodNotAllowed => 405,
            UnsupportedMediaType => 415,
            UpstreamConnect
            | UpstreamTls
            | UpstreamReset
            | UpstreamBadResponse
            | UpstreamUntranslatable => 502,
            UpstreamConnectTimeout
            | UpstreamFirstByteTimeout
            | UpstreamIdleTimeout
            | UpstreamTotalTimeout => 504,
            Draining | NoHealthyDeployment => 503,
            UpstreamSigning => 500,
        }
    }

    /// OpenAI's `error.type`.
    pub const fn kind(self) -> &'static str {
        match self.source() {
            Source::Client => match self {
                GatewayError::MissingApiKey
                | GatewayError::InvalidApiKey
                | GatewayError::KeyExpired => "authentication_error",
                GatewayError::RouteNotAllowed | GatewayError::ModelNotAllowed => "permission_error",
                GatewayError::RateLimitRequests => "requests",
                GatewayError::RateLimitTokens => "tokens",
                GatewayError::ConcurrencyLimit => "rate_limit_error",
                GatewayError::BudgetExceeded => "insufficient_quota",
                _ => "invalid_request_error",
            },
            Source::Upstream => "upstream_error",
            Source::Gateway => "server_error",
        }
    }

    /// OpenAI's `error.code`.
    pub const fn code(self) -> &'static str {
        use GatewayError::*;
        match self {
            Http(e) => match e.status() {
                413 => "request_too_large",
                414 => "uri_too_long",
                431 => "headers_too_large",
                _ => "bad_request",
            },
            HeadTimeout | BodyTimeout => "request_timeout",
            MalformedJson(_) => "invalid_json",
            MissingModel => "missing_model",
            MissingApiKey => "missing_api_key",
            InvalidApiKey => "invalid_api_key",
            UnknownModel => "model_not_found",
            UnknownRoute => "unknown_url",
            MethodNotAllowed => "method_not_allowed",
            UnsupportedMediaType => "unsupported_media_type",
            UpstreamConnect | UpstreamTls => "upstream_unreachable",
            UpstreamReset => "upstream_connection_closed",
            UpstreamBadResponse => "upstream_bad_response",
            InvalidChatRequest => "invalid_request",
            UnsupportedParameter => "unsupported_parameter",
            UnsupportedEndpoint => "unsupported_endpoint",
            UpstreamUntranslatable => "upstream_untranslatable",
            UpstreamConnectTimeout
            | UpstreamFirstByteTimeout
            | UpstreamIdleTimeout
            | UpstreamTotalTimeout => "upstream_timeout",
            Draining => "shutting_down",
            UpstreamSigning => "upstream_signing_failed",
            NoHealthyDeployment => "no_healthy_deployment",
            NoMatchingDeployment => "no_matching_deployment",
            KeyExpired => "expired_api_key",
            RouteNotAllowed => "route_not_allowed",
            ModelNotAllowed => "model_not_allowed",
            RateLimitRequests | RateLimitTokens | ConcurrencyLimit => "rate_limit_exceeded",
            BudgetExceeded => "budget_exceeded",
            PriceUnknown => "price_unknown",
        }
    }

    pub const fn param(self) -> Option<&'static str> {
        match self {
            GatewayError::MissingModel | GatewayError::UnknownModel => Some("model"),
            _ => None,
        }
    }

    pub fn message(self) -> &'static str {
        use GatewayError::*;
        match self {
            Http(e) => e.message(),
            HeadTimeout => "timed out reading the request head",
            BodyTimeout => "timed out reading the request body",
            MalformedJson(k) => match k {
                JsonErrorKind::NotAnObject => "the request body must be a JSON object",
                JsonErrorKind::TooDeep => "the request body nests JSON too deeply",
                JsonErrorKind::DuplicateKey => {
                    "the request body repeats a member the gateway routes on (model or stream)"
                }
                _ => "the request body is not valid JSON",
            },
            MissingModel => "you must provide a model parameter (a string)",
            MissingApiKey => "missing API key: send Authorization: Bearer <key> (or x-api-key)",
            InvalidApiKey => "incorrect API key provided",
            UnknownModel => "the model does not exist or you do not have access to it",
            UnknownRoute => "unknown request URL",
            MethodNotAllowed => "method not allowed for this URL",
            UnsupportedMediaType => "the request body must be application/json",
            UpstreamConnect => "could not connect to the upstream provider",
            UpstreamConnectTimeout => "timed out connecting to the upstream provider",
            UpstreamTls => "TLS handshake with the upstream provider failed",
            UpstreamReset => "the upstream provider closed the connection before responding",
            UpstreamBadResponse => "the upstream provider sent an invalid HTTP response",
            UpstreamFirstByteTimeout => "timed out waiting for the upstream provider to respond",
            UpstreamIdleTimeout => "the upstream provider stopped sending data",
            UpstreamTotalTimeout => "the upstream request exceeded its total time limit",
            InvalidChatRequest => "the request is not a valid chat completion request",
            UnsupportedParameter => "this model's provider does not support the parameter",
            UnsupportedEndpoint => "this model's provider does not offer this endpoint",
            UpstreamUntranslatable => "the upstream provider's response could not be translated",
            Draining => "the gateway is shutting down; retry on another instance",
            UpstreamSigning => "the gateway could not sign the request to the provider",
            NoHealthyDeployment => {
                "no deployment of this model is healthy right now; retry later"
            }
            NoMatchingDeployment => {
                "no deployment of this model satisfies the request's route constraints (x-sluice-route-tags)"
            }
            KeyExpired => "this API key has expired",
            RouteNotAllowed => "this API key may not call this endpoint",
            ModelNotAllowed => "this API key may not use the model",
            RateLimitRequests => "rate limit reached for requests",
            RateLimitTokens => "rate limit reached for tokens",
            ConcurrencyLimit => "too many requests in flight",
            BudgetExceeded => "budget exceeded",
            PriceUnknown => "this key has a budget and no price is known for the model",
        }
    }

    /// Append the Anthropic-shaped body (`{"type":"error","error":{"type","message"}}`),
    /// for clients of the Messages API; the type follows the status as Anthropic's do.
    pub fn write_anthropic_body(self, out: &mut Vec<u8>, detail: Option<&[u8]>) {
        use proto::chat::ErrorKind;
        let kind = match self.status() {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimit,
            503 => ErrorKind::Overloaded,
            s if s >= 500 => ErrorKind::Server,
            _ => ErrorKind::InvalidRequest,
        };
        let mut message = String::from(self.message());
        if let Some(d) = detail {
            message.push_str(": ");
            message.push_str(&String::from_utf8_lossy(&d[..d.len().min(480)]));
        }
        proto::anthropic::write_error(out, kind, &message);
    }

    /// Append the OpenAI-shaped body. `detail`, when given, is added to the message
    /// (for example the unknown model's name).
    pub fn write_body(self, out: &mut Vec<u8>, detail: Option<&[u8]>) {
        let mut msg = [0u8; 512];
        let base = self.message().as_bytes();
        let mut n = base.len().min(msg.len());
        msg[..n].copy_from_slice(&base[..n]);
        if let Some(d) = detail {
            for part in [&b": "[..], d] {
                let take = part.len().min(msg.len() - n);
                msg[n..n + take].copy_from_slice(&part[..take]);
                n += take;
            }
        }
        let message = String::from_utf8_lossy(&msg[..n]);
        proto::openai::error::write_error(
            out,
            &message,
            self.kind(),
            self.param(),
            Some(self.code()),
        );
    }
}

/// Upstream failure classes counted in metrics (`sluice_upstream_errors_total{kind}`).
pub const UPSTREAM_ERROR_KINDS: [&str; 9] = [
    "connect",
    "connect_timeout",
    "tls",
    "reset",
    "bad_response",
    "first_byte_timeout",
    "idle_timeout",
    "total_timeout",
    "untranslatable",
];

impl GatewayError {
    /// Index into [`UPSTREAM_ERROR_KINDS`], for upstream errors.
    pub const fn upstream_kind(self) -> Option<usize> {
        use GatewayError::*;
        Some(match self {
            UpstreamConnect => 0,
            UpstreamConnectTimeout => 1,
            UpstreamTls => 2,
            UpstreamReset => 3,
            UpstreamBadResponse => 4,
            UpstreamFirstByteTimeout => 5,
            UpstreamIdleTimeout => 6,
            UpstreamTotalTimeout => 7,
            UpstreamUntranslatable => 8,
            _ => return None,
        })
    }
}
