//! Many streams at once, each checked byte for byte against the mock answering alone.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use loadtest::mock::MockConfig;

use crate::*;

const STREAMS: usize = 100;

both_drivers!(
    fn a_hundred_concurrent_streams_complete_correctly(d) {
        // Frames 20 ms apart: every stream is open at the same time as the others.
        let behind = start_mock(MockConfig { chunk_interval_ms: 20, chunks: 5, ..mock_config(d) });
        // Same frame count, no pauses: the bytes do not depend on the cadence.
        let direct = start_mock(MockConfig { chunks: 5, ..mock_config(d) });
        let gw = Gateway::start_workers(&config(behind.addr, "", ""), d, 2);
        let request = |i: usize| post("/v1/chat/completions", &chat_body(MODEL, true), &format!("x-mock-seed: {}\r\n", 1000 + i));
        let upstream_request =
            |i: usize| post("/v1/chat/completions", &chat_body(UPSTREAM_MODEL, true), &format!("x-mock-seed: {}\r\n", 1000 + i));

        // With an explicit seed the mock's answer depends only on the request.
        let mut straight = Client::connect(direct.addr);
        let expected: Vec<Vec<u8>> = (0..STREAMS).map(|i| straight.request(&upstream_request(i)).body).collect();
        assert_ne!(expected[0], expected[1], "seeds make different streams");

        let barrier = Arc::new(Barrier::new(STREAMS));
        let addr = gw.addr;
        let threads: Vec<_> = (0..STREAMS)
            .map(|i| {
                let (barrier, bytes) = (barrier.clone(), request(i));
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    barrier.wait();
                    c.request(&bytes)
                })
            })
            .collect();
        for (i, t) in threads.into_iter().enumerate() {
            let r = t.join().expect("client thread");
            assert_eq!(r.status, 200, "stream {i}: {}", r.text());
            assert_eq!(r.text(), String::from_utf8_lossy(&expected[i]), "stream {i}");
            assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
        }
        assert_eq!(behind.stats.streams_completed.load(Relaxed), STREAMS as u64, "{}", behind.stats.summary());
        // They really overlapped: far more upstream connections than one at a time needs.
        assert!(behind.stats.connections_accepted.load(Relaxed) > 10, "{}", behind.stats.summary());
        let series = format!(r#"sluice_requests_total{{route="chat_completions",model="{MODEL}",status="200"}}"#);
        assert!(gw.wait_metric(&series, STREAMS as f64), "{}", gw.metrics());
        assert!(wait_until(Duration::from_secs(2), || gw.metric("sluice_open_connections") == 0.0));
    }
);
