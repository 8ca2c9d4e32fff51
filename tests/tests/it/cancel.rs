//! A client that goes away cancels its upstream request: the upstream connection is
//! closed at once, mid-stream or while the model is still "thinking".

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use loadtest::mock::MockConfig;

use crate::*;

both_drivers!(
    fn client_disconnect_mid_stream_aborts_the_upstream_stream(d) {
        let m = start_mock(MockConfig { chunk_interval_ms: 100, chunks: 40, ..mock_config(d) });
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(MODEL, true), ""));
        let got = c.read_until_contains(b"data: ", WAIT);
        assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
        drop(c);
        let t0 = Instant::now();
        assert!(wait_until(Duration::from_secs(2), || m.stats.streams_aborted.load(Relaxed) == 1), "{}", m.stats.summary());
        // The 40-frame stream would have run for 4 s.
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert_eq!(m.stats.streams_completed.load(Relaxed), 0);
        assert!(wait_until(Duration::from_secs(2), || gw.metric("sluice_client_aborts_total") == 1.0), "{}", gw.metrics());
        assert!(wait_until(Duration::from_secs(2), || m.stats.connections_open.load(Relaxed) == 0));
    }
);

both_drivers!(
    fn client_disconnect_while_upstream_thinks_closes_the_upstream_connection(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-latency-ms: 5000\r\n"));
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));
        let established = || tcp_states(m.addr.port()).iter().filter(|s| *s == "01").count();
        assert_eq!(established(), 1, "the mock holds one upstream connection");
        let t0 = Instant::now();
        drop(c);
        // The mock sleeps through its 5 s latency without reading, so its side of the
        // connection shows the gateway's close as CLOSE_WAIT.
        assert!(wait_until(Duration::from_secs(1), || established() == 0), "{:?}", tcp_states(m.addr.port()));
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert!(wait_until(Duration::from_secs(1), || gw.metric("sluice_client_aborts_total") == 1.0), "{}", gw.metrics());
    }
);

both_drivers!(
    fn client_disconnect_while_upstream_stalls_ends_the_upstream_connection(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(MODEL, true), "x-mock-fault: stall\r\n"));
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));
        assert_eq!(m.stats.connections_open.load(Relaxed), 1);
        let t0 = Instant::now();
        drop(c);
        // A stalled mock reads until EOF: the gateway's close ends its connection.
        assert!(wait_until(Duration::from_secs(1), || m.stats.connections_open.load(Relaxed) == 0), "{}", m.stats.summary());
        assert!(t0.elapsed() < Duration::from_secs(1));
        // The next request opens a fresh upstream connection and succeeds.
        let r = gw.client().request(&post("/v1/chat/completions", &chat_body(MODEL, false), ""));
        assert_eq!(r.status, 200);
        assert_eq!(m.stats.connections_accepted.load(Relaxed), 2);
    }
);

both_drivers!(
    fn client_that_pipelines_then_disconnects_still_cancels_the_upstream(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        let mut c = gw.client();
        c.send(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-fault: stall\r\n"));
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));
        // A second request waits unread in the socket while the first is upstream ...
        c.send(&get("/v1/models"));
        std::thread::sleep(Duration::from_millis(50));
        // ... and then the client goes away.
        let t0 = Instant::now();
        drop(c);
        assert!(wait_until(Duration::from_secs(2), || m.stats.connections_open.load(Relaxed) == 0), "{}", m.stats.summary());
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(wait_until(Duration::from_secs(1), || gw.metric("sluice_client_aborts_total") == 1.0));
    }
);
