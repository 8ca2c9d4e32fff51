//! What to do with one request, decided once from the config, the `x-mock-*` headers and
//! a few body members, before any byte of the response is written.

use std::time::Duration;

use proto::http1::{HeaderSpan, Span};
use proto::openai::synth::FinishReason;

use super::rng::Rng;
use super::scan;
use super::{MockConfig, CHUNKS_MAX, COMPLETION_TOKENS_MAX, DELAY_MS_MAX, TOOL_CALLS_MAX};

/// A misbehaviour to inject instead of (or into) the normal response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Answer with this status and an OpenAI error body.
    Status(u16),
    /// 429 with `retry-after`.
    RateLimit {
        retry_after_s: u64,
    },
    Reset,
    Stall,
    DieMidStream,
    /// A stream sends half its content frames, then the format's in-stream error event,
    /// and ends cleanly. A non-streaming request gets a 500 in the format's error shape.
    StreamError,
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Plan {
    pub seed: u64,
    pub latency: Duration,
    pub ttft: Duration,
    /// Between content frames.
    pub interval: Duration,
    pub chunks: u32,
    pub completion_tokens: u32,
    pub finish: FinishReason,
    pub fault: Fault,
    /// `x-mock-tool-call`: the tool to call (`auto`: the first declared), as a span of the
    /// request buffer. Acted on only when the request declares tools (see `mock::tools`).
    pub tool_call: Option<Span>,
    /// `x-mock-parallel-tool-calls`, in `1..=TOOL_CALLS_MAX`.
    pub tool_calls: u32,
}

/// Header overrides as read from the request, before they are combined with the config.
#[derive(Default)]
struct Overrides {
    latency_ms: Option<u64>,
    ttft_ms: Option<u64>,
    interval_ms: Option<u64>,
    tokens_per_sec: Option<u64>,
    chunks: Option<u64>,
    completion_tokens: Option<u64>,
    seed: Option<u64>,
    status: Option<u64>,
    fault: Option<Fault>,
    retry_after_s: Option<u64>,
    error_rate: Option<f64>,
    tool_call: Option<Span>,
    tool_calls: Option<u64>,
}

const PREFIX: &[u8] = b"x-mock-";

impl Overrides {
    /// One pass over the headers, looking only at `x-mock-*` names.
    fn read(buf: &[u8], headers: &[HeaderSpan]) -> Overrides {
        let mut o = Overrides::default();
        for h in headers {
            let name = h.name.of(buf);
            if name.len() <= PREFIX.len() || !name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
                continue;
            }
            let value = h.value.of(buf);
            let num = scan::parse_uint(value);
            let name = &name[PREFIX.len()..];
            let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
            if is(b"latency-ms") {
                o.latency_ms = num;
            } else if is(b"ttft-ms") {
                o.ttft_ms = num;
            } else if is(b"chunk-interval-ms") {
                o.interval_ms = num;
            } else if is(b"tokens-per-sec") {
                o.tokens_per_sec = num;
            } else if is(b"chunks") {
                o.chunks = num;
            } else if is(b"completion-tokens") {
                o.completion_tokens = num;
            } else if is(b"seed") {
                o.seed = num;
            } else if is(b"status") {
                o.status = num;
            } else if is(b"retry-after") {
                o.retry_after_s = num;
            } else if is(b"error-rate") {
                o.error_rate = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
            } else if is(b"fault") {
                o.fault = parse_fault(value, num);
            } else if is(b"tool-call") {
                o.tool_call = (!value.is_empty()).then_some(h.value);
            } else if is(b"parallel-tool-calls") {
                o.tool_calls = num;
            }
        }
        o
    }
}

fn parse_fault(value: &[u8], num: Option<u64>) -> Option<Fault> {
    let is = |s: &[u8]| value.eq_ignore_ascii_case(s);
    Some(if is(b"reset") {
        Fault::Reset
    } else if is(b"stall") {
        Fault::Stall
    } else if is(b"die-mid-stream") {
        Fault::DieMidStream
    } else if is(b"close") {
        Fault::Close
    } else if is(b"stream-error") {
        Fault::StreamError
    } else if num == Some(429) {
        Fault::RateLimit { retry_after_s: 1 }
    } else {
        Fault::Status(status(num?)?)
    })
}

/// A status worth injecting: 400..=599.
fn status(n: u64) -> Option<u16> {
    (400..=599).contains(&n).then_some(n as u16)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n.min(DELAY_MS_MAX))
}

impl Plan {
    /// Decide everything about a request. `seed` is the request's default seed (see the
    /// module docs of `mock`); `x-mock-seed` replaces it.
    pub(crate) fn decide(
        cfg: &MockConfig,
        buf: &[u8],
        headers: &[HeaderSpan],
        body: &[u8],
        seed: u64,
    ) -> Plan {
        let o = Overrides::read(buf, headers);
        let seed = o.seed.unwrap_or(seed);
        let mut rng = Rng::new(seed);

        let latency_ms = match o.latency_ms {
            Some(n) => {
                rng.next_u64(); // keep the draw sequence independent of the source
                rng.next_u64();
                n
            }
            None => cfg.latency.sample_ms(&mut rng),
        };

        // A header-injected failure applies always unless a rate is given; the config's
        // applies at the config's rate.
        let header_fault = o.fault.or_else(|| {
            o.status.and_then(status).map(|s| {
                if s == 429 {
                    Fault::RateLimit { retry_after_s: 1 }
                } else {
                    Fault::Status(s)
                }
            })
        });
        let (mut fault, rate) = match header_fault {
            Some(f) => (f, o.error_rate.unwrap_or(1.0)),
            None => match status(cfg.error_status as u64) {
                Some(429) => (
                    Fault::RateLimit { retry_after_s: 1 },
                    o.error_rate.unwrap_or(cfg.error_rate),
                ),
                Some(s) => (Fault::Status(s), o.error_rate.unwrap_or(cfg.error_rate)),
                None => (Fault::None, 0.0),
            },
        };
        if !rng.chance(rate) {
            fault = Fault::None;
        }
        if let (Fault::RateLimit { retry_after_s }, Some(n)) = (&mut fault, o.retry_after_s) {
            *retry_after_s = n;
        }

        let mut finish = FinishReason::Stop;
        let mut completion_tokens = o
            .completion_tokens
            .map_or(cfg.completion_tokens, |n| n.min(u32::MAX as u64) as u32)
            .min(COMPLETION_TOKENS_MAX);
        let max_tokens =
            scan::uint(body, b"max_completion_tokens").or_else(|| scan::uint(body, b"max_tokens"));
        if let Some(max) = max_tokens {
            if (completion_tokens as u64) > max {
                completion_tokens = max as u32;
                finish = FinishReason::Length;
            }
        }
        let chunks = o
            .chunks
            .map_or(cfg.chunks, |n| n.min(u32::MAX as u64) as u32)
            .clamp(1, CHUNKS_MAX);
        let interval = match o.tokens_per_sec {
            Some(tps) if tps > 0 => {
                let words_per_frame = (completion_tokens as f64 / chunks as f64).max(1.0);
                Duration::from_secs_f64(words_per_frame / tps as f64).min(ms(DELAY_MS_MAX))
            }
            _ => ms(o.interval_ms.unwrap_or(cfg.chunk_interval_ms)),
        };

        Plan {
            seed,
            latency: ms(latency_ms),
            ttft: ms(o.ttft_ms.unwrap_or(cfg.ttft_ms)),
            interval,
            chunks,
            completion_tokens,
            finish,
            fault,
            tool_call: o.tool_call,
            tool_calls: o
                .tool_calls
                .map_or(1, |n| n.clamp(1, TOOL_CALLS_MAX as u64) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use proto::http1::{HeaderSpan, Span};

    use super::*;

    /// Lay headers out in one buffer as a parser would, returning (buf, spans).
    fn headers(pairs: &[(&str, &str)]) -> (Vec<u8>, Vec<HeaderSpan>) {
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for (n, v) in pairs {
            let ns = buf.len();
            buf.extend_from_slice(n.as_bytes());
            let vs = buf.len();
            buf.extend_from_slice(v.as_bytes());
            spans.push(HeaderSpan {
                name: Span::new(ns, vs),
                value: Span::new(vs, buf.len()),
            });
        }
        (buf, spans)
    }

    fn plan(cfg: &MockConfig, pairs: &[(&str, &str)], body: &[u8], seed: u64) -> Plan {
        let (buf, spans) = headers(pairs);
        Plan::decide(cfg, &buf, &spans, body, seed)
    }

    #[test]
    fn config_defaults() {
        let cfg = MockConfig {
            ttft_ms: 5,
            chunk_interval_ms: 7,
            chunks: 3,
            completion_tokens: 9,
            ..Default::default()
        };
        let p = plan(&cfg, &[("content-type", "application/json")], b"{}", 42);
        assert_eq!(p.seed, 42);
        assert_eq!(p.latency, Duration::ZERO);
        assert_eq!(
            (p.ttft, p.interval),
            (Duration::from_millis(5), Duration::from_millis(7))
        );
        assert_eq!(
            (p.chunks, p.completion_tokens, p.finish, p.fault),
            (3, 9, FinishReason::Stop, Fault::None)
        );
    }

    #[test]
    fn header_overrides() {
        let cfg = MockConfig::default();
        let p = plan(
            &cfg,
            &[
                ("X-Mock-Latency-Ms", "150"),
                ("x-mock-ttft-ms", "20"),
                ("x-mock-chunk-interval-ms", "3"),
                ("x-mock-chunks", "0"),
                ("x-mock-completion-tokens", "40"),
                ("x-mock-seed", "9"),
            ],
            b"{}",
            1,
        );
        assert_eq!(p.seed, 9);
        assert_eq!(p.latency, Duration::from_millis(150));
        assert_eq!(p.ttft, Duration::from_millis(20));
        assert_eq!(p.interval, Duration::from_millis(3));
        assert_eq!(p.chunks, 1, "at least one content frame");
        assert_eq!(p.completion_tokens, 40);
        assert_eq!((p.tool_call, p.tool_calls), (None, 1));
        let (buf, spans) = headers(&[
            ("x-mock-tool-call", "get_weather"),
            ("x-mock-parallel-tool-calls", "999"),
        ]);
        let p = Plan::decide(&cfg, &buf, &spans, b"{}", 1);
        assert_eq!(p.tool_call.map(|s| s.of(&buf)), Some(&b"get_weather"[..]));
        assert_eq!(p.tool_calls, TOOL_CALLS_MAX);
        // 40 words in 4 frames at 100 tokens/s: 100 ms per frame.
        let p = plan(
            &cfg,
            &[
                ("x-mock-completion-tokens", "40"),
                ("x-mock-chunks", "4"),
                ("x-mock-tokens-per-sec", "100"),
            ],
            b"{}",
            1,
        );
        assert_eq!(p.interval, Duration::from_millis(100));
        let p = plan(&cfg, &[("x-mock-latency-ms", "99999999999")], b"{}", 1);
        assert_eq!(p.latency, Duration::from_millis(DELAY_MS_MAX));
    }

    #[test]
    fn max_tokens_clamps_and_reports_length() {
        let cfg = MockConfig {
            completion_tokens: 100,
            ..Default::default()
        };
        let p = plan(&cfg, &[], br#"{"max_tokens": 10}"#, 1);
        assert_eq!((p.completion_tokens, p.finish), (10, FinishReason::Length));
        let p = plan(&cfg, &[], br#"{"max_completion_tokens": 500}"#, 1);
        assert_eq!((p.completion_tokens, p.finish), (100, FinishReason::Stop));
    }

    #[test]
    fn faults() {
        let cfg = MockConfig::default();
        let f = |pairs: &[(&str, &str)]| plan(&cfg, pairs, b"{}", 5).fault;
        assert_eq!(f(&[("x-mock-status", "503")]), Fault::Status(503));
        assert_eq!(f(&[("x-mock-status", "200")]), Fault::None);
        assert_eq!(
            f(&[("x-mock-status", "429")]),
            Fault::RateLimit { retry_after_s: 1 }
        );
        assert_eq!(
            f(&[("x-mock-fault", "429"), ("x-mock-retry-after", "7")]),
            Fault::RateLimit { retry_after_s: 7 }
        );
        assert_eq!(f(&[("x-mock-fault", "RESET")]), Fault::Reset);
        assert_eq!(f(&[("x-mock-fault", "stall")]), Fault::Stall);
        assert_eq!(
            f(&[("x-mock-fault", "die-mid-stream")]),
            Fault::DieMidStream
        );
        assert_eq!(f(&[("x-mock-fault", "close")]), Fault::Close);
        assert_eq!(f(&[("x-mock-fault", "stream-error")]), Fault::StreamError);
        assert_eq!(f(&[("x-mock-fault", "bogus")]), Fault::None);
        assert_eq!(
            f(&[("x-mock-status", "503"), ("x-mock-error-rate", "0")]),
            Fault::None
        );
    }

    #[test]
    fn error_rate_is_seeded() {
        let cfg = MockConfig {
            error_status: 500,
            error_rate: 0.3,
            ..Default::default()
        };
        let draws = |base: u64| -> Vec<bool> {
            (0..1000)
                .map(|i| plan(&cfg, &[], b"{}", base + i).fault != Fault::None)
                .collect()
        };
        let a = draws(0);
        assert_eq!(a, draws(0), "same seeds, same decisions");
        let failed = a.iter().filter(|&&x| x).count();
        assert!((230..370).contains(&failed), "{failed}");
        let header = |rate: &str| plan(&cfg, &[("x-mock-error-rate", rate)], b"{}", 5).fault;
        assert_eq!(header("1"), Fault::Status(500));
        assert_eq!(header("0"), Fault::None);
    }
}
