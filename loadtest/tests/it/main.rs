//! End-to-end tests of the mock upstream: start it on 127.0.0.1:0 on each monoio driver
//! and speak raw HTTP/1.1 to it over std::net.
//!
//! The native-format tests (`anthropic`, `gemini`, `azure`, `bedrock`, `responses`,
//! `tool_calls`) check wire shapes, not I/O, so they run on the epoll driver only: their
//! bytes go through the same connection code the OpenAI tests here run on both drivers.

mod anthropic;
mod azure;
mod bedrock;
mod client;
mod gemini;
mod responses;
mod run;
mod tool_calls;

use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use client::{chat, chat_body, request, Client};
use loadtest::mock::{self, Driver, Endpoint, Latency, MockConfig, MockHandle};
use serde_json::Value;

/// epoll always; io_uring when this kernel has it.
fn drivers() -> Vec<Driver> {
    // Probe on a throwaway thread: the probe's ring is torn down with task work queued on
    // the thread that made it, which interrupts that thread's next blocking socket read
    // with EINTR (seen on Linux 6.18).
    static URING: OnceLock<bool> = OnceLock::new();
    let uring = *URING.get_or_init(|| {
        std::thread::spawn(monoio::utils::detect_uring)
            .join()
            .unwrap()
    });
    let mut drivers = vec![Driver::Epoll];
    if uring {
        drivers.push(Driver::IoUring);
    } else {
        eprintln!("io_uring is unavailable here: testing the epoll driver only");
    }
    drivers
}

fn each_driver(test: impl Fn(Driver)) {
    for driver in drivers() {
        eprintln!("--- driver {driver}");
        test(driver);
    }
}

fn start(driver: Driver, configure: impl FnOnce(&mut MockConfig)) -> MockHandle {
    let mut cfg = MockConfig {
        driver,
        ..MockConfig::default()
    };
    configure(&mut cfg);
    let workers = cfg.workers;
    let mock = mock::start(cfg).expect("mock starts");
    assert_eq!(mock.drivers, vec![driver; workers]);
    mock
}

/// A mock on the epoll driver, for the native-format tests.
fn start_epoll(configure: impl FnOnce(&mut MockConfig)) -> MockHandle {
    start(Driver::Epoll, configure)
}

/// An epoll mock answering `words` words in `chunks` stream frames.
fn start_text(words: u32, chunks: u32) -> MockHandle {
    start_epoll(|c| {
        c.completion_tokens = words;
        c.chunks = chunks;
    })
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn content(v: &Value) -> &str {
    v["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
}

#[test]
fn non_streaming_chat() {
    each_driver(|driver| {
        let mock = start(driver, |c| c.completion_tokens = 30);
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[], false));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v = resp.json();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt-4o-mini");
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(content(&v).split(' ').count(), 30);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["completion_tokens"], 30);
        // "You are terse." + "Say something about gateways." = 43 bytes -> 11 tokens.
        assert_eq!(v["usage"]["prompt_tokens"], 11);
        assert_eq!(v["usage"]["total_tokens"], 41);
        assert_eq!(get(&mock.stats.requests_total), 1);
        assert_eq!(mock.stats.requests(Endpoint::ChatCompletions), 1);
        assert!(get(&mock.stats.bytes_in) > 0);
        // The mock counts written bytes when the write completes, which the client may
        // see before the mock's runtime does.
        wait_until("bytes_out counted", || get(&mock.stats.bytes_out) > 0);
        mock.shutdown();
    });
}

#[test]
fn streaming_chat_matches_the_non_streamed_answer() {
    each_driver(|driver| {
        let mock = start(driver, |c| {
            c.chunks = 5;
            c.completion_tokens = 23;
        });
        let seed = [("x-mock-seed", "77")];
        let whole = Client::connect(mock.addr)
            .roundtrip(&chat(&seed, false))
            .json();

        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&seed, true));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
        assert!(resp.complete, "the stream ends with the last chunk");
        // One HTTP chunk per SSE frame.
        for chunk in &resp.chunks {
            let text = std::str::from_utf8(chunk).unwrap();
            assert!(
                text.starts_with("data: ") && text.ends_with("\n\n"),
                "{text:?}"
            );
            assert_eq!(
                text.matches("\n\n").count(),
                1,
                "one frame per chunk: {text:?}"
            );
        }
        let data = resp.sse_data();
        assert_eq!(
            data.len(),
            1 + 5 + 1 + 1 + 1,
            "role, 5 contents, finish, usage, [DONE]"
        );
        assert_eq!(data.last().unwrap(), "[DONE]");
        let frames: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
        let streamed: String = frames[1..6]
            .iter()
            .map(|f| {
                f["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(streamed, content(&whole));
        assert_eq!(frames[6]["choices"][0]["finish_reason"], "stop");
        assert_eq!(frames[7]["usage"]["completion_tokens"], 23);
        assert_eq!(frames[0]["id"], whole["id"], "the same seed, the same id");
        wait_until("stream completed", || {
            get(&mock.stats.streams_completed) == 1
        });
        assert_eq!(get(&mock.stats.streams_started), 1);
        assert_eq!(get(&mock.stats.streams_aborted), 0);
        mock.shutdown();
    });
}

#[test]
fn legacy_completions_stream_and_whole() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let body =
            r#"{"model":"davinci","prompt":"Once upon a time","max_tokens":12,"stream":true}"#;
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&request(
            "POST",
            "/v1/completions",
            &[("x-mock-seed", "3")],
            body,
        ));
        let data = resp.sse_data();
        assert_eq!(data.last().unwrap(), "[DONE]");
        let frames: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(frames.iter().all(|f| f["object"] == "text_completion"));
        let text: String = frames
            .iter()
            .map(|f| f["choices"][0]["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            frames.last().unwrap()["choices"][0]["finish_reason"],
            "length",
            "clamped by max_tokens"
        );

        let whole = client.roundtrip(&request(
            "POST",
            "/completions",
            &[("x-mock-seed", "3")],
            &body.replace(r#","stream":true"#, ""),
        ));
        let v = whole.json();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["choices"][0]["text"].as_str().unwrap(), text);
        assert_eq!(v["usage"]["completion_tokens"], 12);
        assert_eq!(mock.stats.requests(Endpoint::Completions), 2);
        mock.shutdown();
    });
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        assert_eq!(client.roundtrip(&chat(&[], false)).status, 200);
        assert_eq!(client.roundtrip(&chat(&[], true)).status, 200);
        assert_eq!(client.roundtrip(&chat(&[], false)).status, 200);
        assert_eq!(get(&mock.stats.connections_accepted), 1);
        assert_eq!(get(&mock.stats.requests_total), 3);
        assert_eq!(get(&mock.stats.connections_open), 1);
        drop(client);
        wait_until("connection closed", || {
            get(&mock.stats.connections_open) == 0
        });
        mock.shutdown();
    });
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let mut batch = chat(&[("x-mock-seed", "1")], false);
        batch.extend(request("GET", "/v1/models", &[], ""));
        batch.extend(chat(&[("x-mock-seed", "2")], true));
        batch.extend(request("GET", "/nope", &[], ""));
        batch.extend(chat(
            &[("x-mock-seed", "3"), ("x-mock-status", "500")],
            false,
        ));
        client.send(&batch);
        let first = client.read_response().unwrap();
        assert_eq!(first.json()["id"], "chatcmpl-0000000000000001");
        assert_eq!(client.read_response().unwrap().json()["object"], "list");
        let streamed = client.read_response().unwrap();
        assert!(streamed.complete && streamed.sse_data().last().unwrap() == "[DONE]");
        assert_eq!(client.read_response().unwrap().status, 404);
        assert_eq!(client.read_response().unwrap().status, 500);
        assert_eq!(get(&mock.stats.connections_accepted), 1);
        assert_eq!(get(&mock.stats.requests_total), 5);
        mock.shutdown();
    });
}

#[test]
fn requests_split_across_writes_are_reassembled() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let req = chat(&[], false);
        for piece in req.chunks(7) {
            client.send(piece);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(client.read_response().unwrap().status, 200);
        mock.shutdown();
    });
}

#[test]
fn chunked_request_body_and_recording() {
    each_driver(|driver| {
        let mock = start(driver, |c| c.record = 2);
        let mut client = Client::connect(mock.addr);
        let body = chat_body(false);
        let (a, b) = body.split_at(10);
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\nx-trace: abc\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        let resp = client.roundtrip(req.as_bytes());
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json()["model"], "gpt-4o-mini");
        // Three requests; only the last two are kept.
        client.roundtrip(&request("GET", "/v1/models", &[], ""));
        client.roundtrip(&request(
            "POST",
            "/v1/embeddings",
            &[],
            r#"{"model":"e","input":"x"}"#,
        ));
        client.roundtrip(&request("GET", "/v1/models", &[], ""));
        let recorded = mock.recorded();
        assert_eq!(recorded.len(), 2);
        assert!(recorded[0]
            .0
            .starts_with(b"POST /v1/embeddings HTTP/1.1\r\n"));
        assert_eq!(recorded[0].1, br#"{"model":"e","input":"x"}"#);
        assert!(recorded[1].0.ends_with(b"\r\n\r\n"));
        mock.shutdown();

        let mock = start(driver, |c| c.record = 4);
        let mut client = Client::connect(mock.addr);
        client.roundtrip(req.as_bytes());
        let recorded = mock.recorded();
        assert_eq!(recorded.len(), 1);
        assert!(String::from_utf8_lossy(&recorded[0].0).contains("x-trace: abc\r\n"));
        assert_eq!(recorded[0].1, body.as_bytes(), "the decoded body");
        mock.shutdown();
    });
}

#[test]
fn expect_continue_is_answered() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let body = chat_body(false);
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: mock\r\nexpect: 100-continue\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        client.send(head.as_bytes());
        assert_eq!(client.read_response().unwrap().status, 100);
        client.send(body.as_bytes());
        assert_eq!(client.read_response().unwrap().status, 200);
        mock.shutdown();
    });
}

#[test]
fn injected_status_has_an_openai_error_body_and_keeps_the_connection() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[("x-mock-status", "503")], false));
        assert_eq!(resp.status, 503);
        let v = resp.json();
        assert_eq!(v["error"]["type"], "server_error");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("overloaded"));
        assert!(v["error"]["param"].is_null());
        assert_eq!(client.roundtrip(&chat(&[], false)).status, 200);
        assert_eq!(get(&mock.stats.faults_injected), 1);
        mock.shutdown();
    });
}

#[test]
fn rate_limit_fault_has_retry_after() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(
            &[("x-mock-fault", "429"), ("x-mock-retry-after", "7")],
            true,
        ));
        assert_eq!(resp.status, 429);
        assert_eq!(resp.header("retry-after"), Some("7"));
        assert_eq!(resp.json()["error"]["code"], "rate_limit_exceeded");
        let resp = client.roundtrip(&chat(&[("x-mock-status", "429")], false));
        assert_eq!((resp.status, resp.header("retry-after")), (429, Some("1")));
        assert_eq!(get(&mock.stats.streams_started), 0);
        mock.shutdown();
    });
}

#[test]
fn reset_fault_sends_no_bytes() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        client.send(&chat(&[("x-mock-fault", "reset")], false));
        match client.fill() {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
            Ok(n) => assert_eq!(n, 0, "no bytes before the reset"),
        }
        assert!(client.buffered().is_empty());
        mock.shutdown();
    });
}

#[test]
fn die_mid_stream_truncates_the_stream() {
    each_driver(|driver| {
        let mock = start(driver, |c| c.chunks = 6);
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[("x-mock-fault", "die-mid-stream")], true));
        assert_eq!(resp.status, 200);
        assert!(!resp.complete, "no last chunk");
        let frames = resp
            .body
            .split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"data: "))
            .count();
        assert_eq!(frames, 1 + 3, "the role frame and half the content frames");
        assert!(!String::from_utf8_lossy(&resp.body).contains("[DONE]"));
        assert!(client.read_to_end().unwrap_or_default().is_empty());
        // Non-streaming: half a body, then EOF.
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[("x-mock-fault", "die-mid-stream")], false));
        assert!(!resp.complete && !resp.body.is_empty());
        assert!(serde_json::from_slice::<Value>(&resp.body).is_err());
        mock.shutdown();
    });
}

#[test]
fn close_fault_answers_then_closes() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[("x-mock-fault", "close")], false));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), Some("close"));
        resp.json();
        assert_eq!(client.read_to_end().unwrap(), b"", "EOF after the response");
        // A client's own Connection: close is honoured the same way.
        let mut client = Client::connect(mock.addr);
        let resp = client.roundtrip(&chat(&[("connection", "close")], true));
        assert!(resp.complete);
        assert_eq!(resp.header("connection"), Some("close"));
        assert_eq!(client.read_to_end().unwrap(), b"");
        mock.shutdown();
    });
}

#[test]
fn stall_never_answers_until_the_client_leaves() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        client
            .stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        client.send(&chat(&[("x-mock-fault", "stall")], false));
        let err = client.fill().expect_err("no bytes within 300 ms");
        assert!(
            matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{err}"
        );
        assert!(client.buffered().is_empty());
        assert_eq!(get(&mock.stats.connections_open), 1);
        drop(client);
        wait_until("stalled connection closed", || {
            get(&mock.stats.connections_open) == 0
        });
        mock.shutdown();
    });
}

#[test]
fn client_closing_mid_stream_counts_an_abort() {
    each_driver(|driver| {
        let mock = start(driver, |c| {
            c.chunks = 200;
            c.chunk_interval_ms = 10;
        });
        let mut client = Client::connect(mock.addr);
        client.send(&chat(&[], true));
        while !client.buffered().windows(6).any(|w| w == b"data: ") {
            assert!(client.fill().unwrap() > 0);
        }
        drop(client);
        wait_until("aborted stream", || get(&mock.stats.streams_aborted) == 1);
        assert_eq!(get(&mock.stats.streams_completed), 0);
        wait_until("connection closed", || {
            get(&mock.stats.connections_open) == 0
        });
        mock.shutdown();
    });
}

#[test]
fn latency_and_ttft_delay_the_head_and_the_first_frame() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let t = Instant::now();
        client.roundtrip(&chat(&[("x-mock-latency-ms", "150")], false));
        assert!(
            t.elapsed() >= Duration::from_millis(150),
            "{:?}",
            t.elapsed()
        );

        let t = Instant::now();
        client.send(&chat(&[("x-mock-ttft-ms", "250")], true));
        while !client.buffered().windows(4).any(|w| w == b"\r\n\r\n") {
            client.fill().unwrap();
        }
        let head_at = t.elapsed();
        while !client.buffered().windows(6).any(|w| w == b"data: ") {
            client.fill().unwrap();
        }
        let first_frame_at = t.elapsed();
        assert!(
            head_at < Duration::from_millis(200),
            "head after {head_at:?}"
        );
        assert!(
            first_frame_at >= Duration::from_millis(250),
            "first frame after {first_frame_at:?}"
        );
        mock.shutdown();
    });
}

#[test]
fn chunk_interval_paces_content_frames() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let t = Instant::now();
        let resp = client.roundtrip(&chat(
            &[("x-mock-chunks", "4"), ("x-mock-chunk-interval-ms", "40")],
            true,
        ));
        assert!(resp.complete);
        // Three gaps between four content frames.
        assert!(
            t.elapsed() >= Duration::from_millis(120),
            "{:?}",
            t.elapsed()
        );
        let t = Instant::now();
        let resp = client.roundtrip(&chat(
            &[
                ("x-mock-chunks", "3"),
                ("x-mock-completion-tokens", "30"),
                ("x-mock-tokens-per-sec", "200"),
            ],
            true,
        ));
        assert!(resp.complete);
        // 10 words a frame at 200 tokens/s: 50 ms per gap, two gaps.
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        mock.shutdown();
    });
}

#[test]
fn models_not_found_and_malformed() {
    each_driver(|driver| {
        let mock = start(driver, |c| {
            c.models = vec!["a".into(), "b".into(), "c".into()]
        });
        let mut client = Client::connect(mock.addr);
        let v = client
            .roundtrip(&request("GET", "/v1/models", &[], ""))
            .json();
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);

        let resp = client.roundtrip(&request("POST", "/v1/unknown", &[], "{}"));
        assert_eq!(resp.status, 404);
        assert_eq!(resp.json()["error"]["code"], "unknown_url");
        let resp = client.roundtrip(&request("GET", "/v1/chat/completions", &[], ""));
        assert_eq!(resp.status, 404, "wrong method");
        assert_eq!(mock.stats.requests(Endpoint::Other), 2);
        assert_eq!(mock.stats.requests(Endpoint::Models), 1);

        let resp = client.roundtrip(b"BROKEN\r\n\r\n");
        assert_eq!(resp.status, 400);
        assert_eq!(resp.header("connection"), Some("close"));
        resp.json();
        assert_eq!(client.read_to_end().unwrap(), b"");
        mock.shutdown();
    });
}

#[test]
fn embeddings_have_one_unit_vector_per_input() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let body =
            r#"{"model":"text-embedding-3-small","input":["first text","second"],"dimensions":16}"#;
        let v = client
            .roundtrip(&request("POST", "/v1/embeddings", &[], body))
            .json();
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        for (i, e) in data.iter().enumerate() {
            assert_eq!(e["index"], i);
            let xs: Vec<f64> = e["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            assert_eq!(xs.len(), 16);
            assert!((xs.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-5);
        }
        assert_eq!(v["model"], "text-embedding-3-small");
        assert_eq!(v["usage"]["prompt_tokens"], 4);
        mock.shutdown();
    });
}

/// The same seed and request sequence give the same bytes; another seed does not.
#[test]
fn responses_are_deterministic_under_a_seed() {
    each_driver(|driver| {
        let run = |seed: u64| -> Vec<u8> {
            let mock = start(driver, |c| {
                c.seed = seed;
                c.latency = Latency::Uniform {
                    min_ms: 0,
                    max_ms: 2,
                };
                c.error_status = 500;
                c.error_rate = 0.4;
            });
            let mut client = Client::connect(mock.addr);
            let mut all = Vec::new();
            for i in 0..12 {
                let stream = i % 3 == 0;
                client.send(&chat(&[], stream));
                let resp = client.read_response().unwrap();
                all.extend(resp.status.to_string().into_bytes());
                all.extend(resp.body);
            }
            let emb = client.roundtrip(&request(
                "POST",
                "/v1/embeddings",
                &[],
                r#"{"model":"e","input":"abc"}"#,
            ));
            all.extend(emb.body);
            mock.shutdown();
            all
        };
        let a = run(11);
        assert_eq!(a, run(11));
        assert_ne!(a, run(12));
        let text = String::from_utf8_lossy(&a);
        assert!(
            text.contains("500{") && text.contains("200{"),
            "a 0.4 error rate over 12 requests hits and misses"
        );
    });
}

#[test]
fn several_workers_share_one_port() {
    each_driver(|driver| {
        let mock = start(driver, |c| c.workers = 3);
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let addr = mock.addr;
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    for _ in 0..5 {
                        assert_eq!(client.roundtrip(&chat(&[], true)).status, 200);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(get(&mock.stats.connections_accepted), 12);
        assert_eq!(get(&mock.stats.requests_total), 60);
        wait_until("all streams completed", || {
            get(&mock.stats.streams_completed) == 60
        });
        mock.shutdown();
    });
}

#[test]
fn http10_streams_are_close_delimited() {
    each_driver(|driver| {
        let mock = start(driver, |_| {});
        let mut client = Client::connect(mock.addr);
        let body = chat_body(true);
        let req = format!(
            "POST /v1/chat/completions HTTP/1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let resp = client.roundtrip(req.as_bytes());
        assert_eq!(resp.header("transfer-encoding"), None);
        assert_eq!(resp.sse_data().last().unwrap(), "[DONE]");
        mock.shutdown();
    });
}

/// Shutdown returns promptly with idle, stalled, sleeping and streaming connections open,
/// and closes them all.
#[test]
fn shutdown_is_bounded_and_closes_connections() {
    each_driver(|driver| {
        let mock = start(driver, |c| c.workers = 2);
        let mut idle = Client::connect(mock.addr);
        idle.roundtrip(&chat(&[], false));
        let mut stalled = Client::connect(mock.addr);
        stalled.send(&chat(&[("x-mock-fault", "stall")], false));
        let mut sleeping = Client::connect(mock.addr);
        sleeping.send(&chat(&[("x-mock-latency-ms", "60000")], false));
        let mut streaming = Client::connect(mock.addr);
        streaming.send(&chat(
            &[
                ("x-mock-chunks", "1000"),
                ("x-mock-chunk-interval-ms", "50"),
            ],
            true,
        ));
        streaming.fill().unwrap();
        wait_until("four connections", || {
            get(&mock.stats.connections_open) == 4
        });
        wait_until("four requests", || get(&mock.stats.requests_total) == 4);

        let (stats, addr) = (mock.stats.clone(), mock.addr);
        let t = Instant::now();
        mock.shutdown();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "shutdown took {:?}",
            t.elapsed()
        );
        assert_eq!(get(&stats.connections_open), 0);
        for mut client in [idle, stalled, sleeping] {
            assert!(client.read_to_end().map_or(true, |rest| rest.is_empty()));
        }
        let rest = streaming.read_to_end().unwrap_or_default();
        assert!(!String::from_utf8_lossy(&rest).contains("[DONE]"));
        let refused = std::net::TcpStream::connect(addr).expect_err("listeners are closed");
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    });
}
