//! Graceful shutdown: in-flight requests finish, idle and new connections are closed,
//! readiness drops, and `join` returns within the drain deadline.

use std::io::ErrorKind;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::*;

both_drivers!(
    fn graceful_shutdown_finishes_the_request_in_flight(d) {
        let m = mock(d);
        let gw = Gateway::start(&config(m.addr, "", ""), d);
        assert_eq!(gw.admin_get("/readyz").status, 200);
        assert_eq!(gw.admin_get("/healthz").status, 200);

        let mut idle = gw.client();
        assert_eq!(idle.request(&get("/v1/models")).status, 200);
        let mut slow = gw.client();
        slow.send(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-latency-ms: 600\r\n"));
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));

        let t0 = Instant::now();
        gw.shutdown();
        let ready = gw.admin_get("/readyz");
        assert_eq!(ready.status, 503, "{}", ready.text());
        assert_eq!(gw.metric("sluice_draining"), 1.0);

        // The idle keep-alive connection is closed without a response.
        let rest = idle.read_to_close(Duration::from_secs(1)).expect("idle connection closed by the drain");
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));

        // New connections are refused, or closed without a response.
        std::thread::sleep(Duration::from_millis(50));
        match std::net::TcpStream::connect_timeout(&gw.addr, Duration::from_secs(1)) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
            Ok(s) => {
                let mut c = Client::over(Box::new(s.try_clone().unwrap()), s);
                c.send(&get("/v1/models"));
                let rest = c.read_to_close(Duration::from_secs(2)).expect("a new connection is closed");
                assert!(rest.is_empty(), "a new connection got a response: {}", String::from_utf8_lossy(&rest));
            }
        }

        // The request in flight completes, and says the connection ends.
        let r = slow.read_response();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["object"], "chat.completion");
        assert_eq!(r.header("connection"), Some("close"));
        assert!(slow.read_to_close(Duration::from_secs(1)).expect("closed after the last response").is_empty());

        gw.join().expect("join");
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(400), "join returned before the request finished: {took:?}");
        assert!(took < Duration::from_millis(2500), "drain took {took:?} (deadline 3 s)");
    }
);

both_drivers!(
    fn drain_deadline_bounds_a_stuck_request(d) {
        let m = mock(d);
        let toml = config(m.addr, "", "").replace("drain_timeout_ms = 3000", "drain_timeout_ms = 300");
        let gw = Gateway::start(&toml, d);
        let mut stuck = gw.client();
        stuck.send(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-fault: stall\r\n"));
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));
        let t0 = Instant::now();
        gw.stop().expect("stop");
        let took = t0.elapsed();
        assert!(took < Duration::from_millis(1500), "stop took {took:?} with a 300 ms drain deadline");
        // The stuck request's connection does not outlive the gateway.
        assert!(stuck.read_to_close(Duration::from_secs(2)).is_ok());
    }
);
