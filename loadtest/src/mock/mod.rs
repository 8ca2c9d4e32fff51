//! The mock upstream: OpenAI-compatible, and speaking Anthropic's, Gemini's, Azure
//! OpenAI's, AWS Bedrock's (Converse) and the OpenAI Responses API's native wire formats.
//!
//! [`start`] binds one `SO_REUSEPORT` listener per worker on the same port, and runs each
//! on its own thread and monoio runtime (io_uring, or epoll when io_uring is unavailable
//! or [`Driver::Epoll`] is asked for). Connections are keep-alive and pipelining-safe;
//! every connection owns a few buffers that it reuses for all its requests, and nothing
//! on the request path takes a lock unless request recording is on.
//!
//! Endpoints (the `/v1` prefix of the OpenAI and Anthropic paths is optional; anything
//! else is an OpenAI-shaped 404):
//!
//! | endpoint | format, auth | module |
//! |---|---|---|
//! | `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `GET /v1/models` | OpenAI; no auth checked (the benchmarks' fast path) | `conn` |
//! | `POST /v1/responses` | OpenAI Responses API; `Authorization: Bearer` | `responses` |
//! | `POST /v1/messages`, `/v1/messages/count_tokens` | Anthropic; `x-api-key` and `anthropic-version` | `anthropic` |
//! | `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent[?alt=sse]`, `:countTokens` (also `/v1/models/...`) | Gemini; `x-goog-api-key` or `?key=` | `gemini` |
//! | `POST /openai/deployments/{deployment}/{chat/completions, completions, embeddings}?api-version=` | Azure OpenAI; `api-key` | `azure` |
//! | `POST /model/{modelId}/converse`, `/model/{modelId}/converse-stream` | Bedrock Converse; SigV4 (`authorization`, `x-amz-date`), verified against [`MockConfig::aws_access_key_id`] and [`MockConfig::aws_secret_access_key`] | `bedrock`, `sigv4` |
//!
//! Streams are requested as each provider requests them (`"stream": true`, Gemini's
//! `:streamGenerateContent`, Bedrock's `/converse-stream`, which answers in
//! `application/vnd.amazon.eventstream` binary frames). The OpenAI endpoints are answered from the request bytes
//! without parsing a tree; the others are parsed with serde_json and checked as the
//! provider checks them, so a malformed request is refused with the provider's status
//! and error shape (the modules' docs list the rules) before any injected fault applies.
//! Every format carries the same text for the same seed, split across stream frames the
//! same way.
//!
//! Behaviour comes from [`MockConfig`] and can be overridden per request by headers, on
//! every endpoint (error bodies take the endpoint's provider shape):
//!
//! | header | effect |
//! |---|---|
//! | `x-mock-latency-ms: N` | delay before the response head (replaces [`MockConfig::latency`]) |
//! | `x-mock-ttft-ms: N` | delay before the first stream frame |
//! | `x-mock-chunk-interval-ms: N` | delay between content frames |
//! | `x-mock-tokens-per-sec: N` | the same, as a token rate (wins over the interval) |
//! | `x-mock-chunks: N` | content frames in a stream |
//! | `x-mock-completion-tokens: N` | words of output (clamped to the request's `max_tokens`) |
//! | `x-mock-seed: N` | the response seed (id, text, vectors) |
//! | `x-mock-status: N` | answer with status N and the format's error body (Bedrock: the exception for N, e.g. 429 `ThrottlingException`, in `x-amzn-errortype` and `{"message"}`) |
//! | `x-mock-fault: 429` | 429 with `retry-after` (`x-mock-retry-after: N`, default 1) |
//! | `x-mock-fault: reset` | close with RST before any byte of the response |
//! | `x-mock-fault: stall` | never answer; hold the connection until the client leaves |
//! | `x-mock-fault: die-mid-stream` | send the head and half the body or frames, then close |
//! | `x-mock-fault: close` | a complete response with `Connection: close`, then close |
//! | `x-mock-fault: stream-error` | a stream sends half its content frames, then the format's in-stream error (Anthropic and Responses `event: error`, OpenAI and Gemini a `data:` error object, Bedrock an `exception` message) and ends cleanly; a non-streaming request gets a 500 |
//! | `x-mock-stream-exception: NAME` | Bedrock: the `:exception-type` of that in-stream error (default `modelStreamErrorException`; also `throttlingException`, `validationException`, `internalServerException`, `serviceUnavailableException`) |
//! | `x-mock-error-rate: P` | apply the status or fault with probability P (seeded) |
//! | `x-mock-tool-call: NAME` | answer with a call to tool NAME (`auto`: the forced or first declared tool) when the request declares tools, allows them and ends with a user turn that is not a tool result; see `tools` for the rule and the arguments |
//! | `x-mock-parallel-tool-calls: N` | that many calls (1..=[`TOOL_CALLS_MAX`]) |
//!
//! Determinism: a request's seed is `x-mock-seed` when given, else a function of
//! [`MockConfig::seed`], the worker, the connection's accept order on that worker and the
//! request's position on the connection. Latency samples and error-rate draws come from
//! the same seed, so one worker serving the same request sequence writes the same bytes.
//! `created` timestamps are [`MockConfig::created`], not the clock.

mod anthropic;
mod azure;
mod bedrock;
mod check;
mod conn;
mod gemini;
mod native;
mod openai;
mod plan;
mod respond;
mod responses;
mod rng;
mod route;
mod scan;
mod server;
mod sigv4;
mod tools;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which monoio driver the workers run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// io_uring when the kernel supports it, else epoll.
    #[default]
    Auto,
    IoUring,
    Epoll,
}

impl std::str::FromStr for Driver {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Driver::Auto),
            "io_uring" | "iouring" | "uring" => Ok(Driver::IoUring),
            "epoll" | "legacy" => Ok(Driver::Epoll),
            _ => Err(format!(
                "unknown driver {s:?} (expected auto, io_uring or epoll)"
            )),
        }
    }
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::Auto => "auto",
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

/// Delay before each response head, sampled per request from the request's seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    Fixed {
        ms: u64,
    },
    /// Uniform over `min_ms..=max_ms`.
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
    /// Normal, truncated at zero.
    Normal {
        mean_ms: f64,
        stddev_ms: f64,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Fixed { ms: 0 }
    }
}

/// The longest delay a config or header may ask for; longer values are clamped.
pub const DELAY_MS_MAX: u64 = 600_000;
/// The most words a response may carry.
pub const COMPLETION_TOKENS_MAX: u32 = 1_000_000;
/// The most content frames a stream may carry.
pub const CHUNKS_MAX: u32 = 100_000;
/// The most embedding inputs, and dimensions, answered per request.
pub const EMBEDDING_INPUTS_MAX: u32 = 2048;
pub const EMBEDDING_DIMS_MAX: u32 = 8192;
/// The most tool calls one answer carries (`x-mock-parallel-tool-calls`).
pub const TOOL_CALLS_MAX: u32 = 16;
/// The AWS credentials the Bedrock endpoints accept unless configured otherwise.
pub const AWS_ACCESS_KEY_ID_DEFAULT: &str = "AKIDMOCK";
pub const AWS_SECRET_ACCESS_KEY_DEFAULT: &str = "mock-secret";

/// How the mock behaves; per-request headers override most fields (see the module docs).
#[derive(Clone, Debug)]
pub struct MockConfig {
    pub listen: SocketAddr,
    /// Worker threads, each with its own listener and runtime. At least 1.
    pub workers: usize,
    pub driver: Driver,
    pub seed: u64,
    pub latency: Latency,
    /// Delay before the first stream frame.
    pub ttft_ms: u64,
    /// Delay between content frames.
    pub chunk_interval_ms: u64,
    /// Content frames per stream.
    pub chunks: u32,
    /// Words per completion.
    pub completion_tokens: u32,
    /// Dimensions of embedding vectors unless the request asks for `dimensions`.
    pub embedding_dims: u32,
    /// Status to fail requests with (0: none), with probability `error_rate`.
    pub error_status: u16,
    pub error_rate: f64,
    /// The `created` timestamp written in every response.
    pub created: u64,
    /// What `GET /v1/models` lists. Any model name is accepted in requests.
    pub models: Vec<String>,
    /// Keep the last `record` requests (head and body) for [`MockHandle::recorded`].
    /// 0 (the default) keeps none and takes no lock.
    pub record: usize,
    /// The one AWS credential pair the Bedrock endpoints accept: requests must be signed
    /// (SigV4, service `bedrock`, any region) with this key id and secret.
    pub aws_access_key_id: String,
    pub aws_secret_access_key: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            workers: 1,
            driver: Driver::Auto,
            seed: 0,
            latency: Latency::default(),
            ttft_ms: 0,
            chunk_interval_ms: 0,
            chunks: 8,
            completion_tokens: 64,
            embedding_dims: 1536,
            error_status: 0,
            error_rate: 1.0,
            created: 1_700_000_000,
            models: vec!["mock-gpt".into(), "mock-embedding".into()],
            record: 0,
            aws_access_key_id: AWS_ACCESS_KEY_ID_DEFAULT.into(),
            aws_secret_access_key: AWS_SECRET_ACCESS_KEY_DEFAULT.into(),
        }
    }
}

/// The routes the mock answers, for per-endpoint request counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    ChatCompletions,
    Completions,
    Embeddings,
    Models,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    CountTokens,
    /// Gemini `POST /v1beta/models/{model}:generateContent`.
    GenerateContent,
    /// Gemini `POST /v1beta/models/{model}:streamGenerateContent`.
    StreamGenerateContent,
    /// Gemini `POST /v1beta/models/{model}:countTokens`.
    GeminiCountTokens,
    /// Azure OpenAI `POST /openai/deployments/{deployment}/chat/completions`.
    AzureChatCompletions,
    AzureCompletions,
    AzureEmbeddings,
    /// Bedrock `POST /model/{modelId}/converse`.
    Converse,
    /// Bedrock `POST /model/{modelId}/converse-stream`.
    ConverseStream,
    /// Anything answered with 404.
    Other,
}

impl Endpoint {
    pub const COUNT: usize = 16;

    /// Whose error shape and auth rules apply.
    pub(crate) fn dialect(self) -> native::Dialect {
        use native::Dialect;
        match self {
            Endpoint::ChatCompletions
            | Endpoint::Completions
            | Endpoint::Embeddings
            | Endpoint::Models
            | Endpoint::Responses
            | Endpoint::Other => Dialect::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Dialect::Anthropic,
            Endpoint::GenerateContent
            | Endpoint::StreamGenerateContent
            | Endpoint::GeminiCountTokens => Dialect::Gemini,
            Endpoint::AzureChatCompletions
            | Endpoint::AzureCompletions
            | Endpoint::AzureEmbeddings => Dialect::Azure,
            Endpoint::Converse | Endpoint::ConverseStream => Dialect::Bedrock,
        }
    }
}

/// Counters shared by all workers and the caller. Relaxed atomics: each is exact once the
/// traffic that moved it has finished; read them after the client saw its responses.
#[derive(Debug, Default)]
pub struct MockStats {
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicU64,
    pub requests_total: AtomicU64,
    /// Indexed by `Endpoint as usize`; see [`MockStats::requests`].
    pub requests_by_endpoint: [AtomicU64; Endpoint::COUNT],
    pub streams_started: AtomicU64,
    /// Streams whose last chunk was written.
    pub streams_completed: AtomicU64,
    /// Streams cut short because the client went away (a write failed).
    pub streams_aborted: AtomicU64,
    /// Requests answered with an injected status or fault.
    pub faults_injected: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

impl MockStats {
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        self.requests_by_endpoint[endpoint as usize].load(Ordering::Relaxed)
    }

    /// A one-line human summary.
    pub fn summary(&self) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "connections {} (open {}), requests {} (chat {}, completions {}, embeddings {}, models {}, \
             responses {}, anthropic {}, gemini {}, azure {}, bedrock {}, other {}), \
             streams {} started / {} completed / {} aborted, faults {}, bytes in {} out {}",
            get(&self.connections_accepted),
            get(&self.connections_open),
            get(&self.requests_total),
            self.requests(Endpoint::ChatCompletions),
            self.requests(Endpoint::Completions),
            self.requests(Endpoint::Embeddings),
            self.requests(Endpoint::Models),
            self.requests(Endpoint::Responses),
            self.requests(Endpoint::Messages) + self.requests(Endpoint::CountTokens),
            self.requests(Endpoint::GenerateContent)
                + self.requests(Endpoint::StreamGenerateContent)
                + self.requests(Endpoint::GeminiCountTokens),
            self.requests(Endpoint::AzureChatCompletions)
                + self.requests(Endpoint::AzureCompletions)
                + self.requests(Endpoint::AzureEmbeddings),
            self.requests(Endpoint::Converse) + self.requests(Endpoint::ConverseStream),
            self.requests(Endpoint::Other),
            get(&self.streams_started),
            get(&self.streams_completed),
            get(&self.streams_aborted),
            get(&self.faults_injected),
            get(&self.bytes_in),
            get(&self.bytes_out),
        )
    }
}

/// A running mock. Dropping it shuts it down too.
pub struct MockHandle {
    /// Where it listens (the real port when [`MockConfig::listen`] had port 0).
    pub addr: SocketAddr,
    pub stats: Arc<MockStats>,
    /// The driver each worker ended up on.
    pub drivers: Vec<Driver>,
    shared: Arc<server::Shared>,
    workers: Vec<JoinHandle<()>>,
    done: mpsc::Receiver<usize>,
}

/// How long [`MockHandle::shutdown`] waits for workers before leaving them behind.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

impl MockHandle {
    /// Stop accepting, close every connection (stalled ones included) and join the
    /// workers. Bounded: a worker that has not finished after a few seconds is detached.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// The recorded requests, oldest first: (head bytes, decoded body).
    pub fn recorded(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        match &self.shared.recorder {
            Some(r) => r
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
            None => Vec::new(),
        }
    }

    fn stop(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        self.shared.stop.store(true, Ordering::Release);
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        let mut workers: Vec<Option<JoinHandle<()>>> = self.workers.drain(..).map(Some).collect();
        let mut left = workers.len();
        while left > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match self.done.recv_timeout(deadline - now) {
                Ok(id) => {
                    if let Some(h) = workers.get_mut(id).and_then(Option::take) {
                        let _ = h.join();
                        left -= 1;
                    }
                }
                Err(_) => break,
            }
        }
        // Workers still running after the deadline are detached with their handles.
    }
}

impl Drop for MockHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start the mock: bind, spawn the workers, and return once every worker is accepting.
pub fn start(cfg: MockConfig) -> std::io::Result<MockHandle> {
    let listeners = server::bind(cfg.listen, cfg.workers.max(1))?;
    let addr = listeners[0].local_addr()?;
    let recorder = (cfg.record > 0).then(|| Mutex::new(VecDeque::with_capacity(cfg.record)));
    let shared = Arc::new(server::Shared::new(cfg, recorder));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let mut workers = Vec::with_capacity(listeners.len());
    for (id, listener) in listeners.into_iter().enumerate() {
        let (worker_shared, ready, worker_done) =
            (shared.clone(), ready_tx.clone(), done_tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("mock-{id}"))
            .spawn(move || server::worker(id, listener, worker_shared, ready, worker_done));
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                let mut handle = MockHandle {
                    addr,
                    stats: shared.stats.clone(),
                    drivers: Vec::new(),
                    shared,
                    workers,
                    done,
                };
                handle.stop();
                return Err(e);
            }
        }
    }
    drop(ready_tx);
    let stats = shared.stats.clone();
    let mut handle = MockHandle {
        addr,
        stats,
        drivers: vec![Driver::Auto; workers.len()],
        shared,
        workers,
        done,
    };
    for _ in 0..handle.workers.len() {
        match ready_rx.recv() {
            Ok((id, Ok(driver))) => handle.drivers[id] = driver,
            Ok((_, Err(e))) => {
                handle.stop();
                return Err(e);
            }
            Err(_) => {
                handle.stop();
                return Err(std::io::Error::other(
                    "a mock worker exited before it was ready",
                ));
            }
        }
    }
    Ok(handle)
}

/// Whether `stop` was set; polled by sleeps and the accept loop's watcher.
pub(crate) fn stopping(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Acquire)
}
