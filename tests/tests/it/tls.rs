//! TLS on both sides: a rustls client against the gateway's `[server.tls]`, and the
//! gateway against an https upstream behind a private CA (`ca_file`).

use std::net::ToSocketAddrs;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use sluice_tests::tls::{Certs, TlsUpstream, FIXED_BODY};

use crate::*;

both_drivers!(
    fn client_facing_tls_round_trip(d) {
        let m = mock(d);
        let certs = Certs::self_signed();
        let dir = TempDir::new("server-tls");
        let cert = dir.write("cert.pem", certs.cert_pem.as_bytes());
        let key = dir.write("key.pem", certs.key_pem.as_bytes());
        let toml = format!(
            "{}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            config(m.addr, "", ""),
            cert.display(),
            key.display()
        );
        let gw = Gateway::start(&toml, d);

        let (mut c, alpn) = sluice_tests::tls::connect(gw.addr, "localhost", certs.client_config());
        assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
        let r = c.request(&post("/v1/chat/completions", &chat_body(MODEL, false), ""));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["model"], UPSTREAM_MODEL);
        // Keep-alive and streaming over the same TLS connection.
        let s = c.request(&post("/v1/chat/completions", &chat_body(MODEL, true), ""));
        assert_eq!(s.status, 200);
        assert_eq!(sse_data(&s.body).last().map(String::as_str), Some("[DONE]"));
        assert_eq!(gw.metric("sluice_connections_total"), 1.0);

        // Plain HTTP on the TLS port gets no HTTP response.
        let mut plain = gw.client();
        plain.send(&get("/v1/models"));
        let got = plain.read_to_close(Duration::from_secs(3)).expect("plain text on a TLS port is closed");
        assert!(!got.starts_with(b"HTTP/"), "{}", String::from_utf8_lossy(&got));
    }
);

both_drivers!(
    fn tls_client_closing_with_close_notify_cancels_the_upstream(d) {
        use std::io::Write;
        let m = mock(d);
        let certs = Certs::self_signed();
        let dir = TempDir::new("server-tls-cancel");
        let cert = dir.write("cert.pem", certs.cert_pem.as_bytes());
        let key = dir.write("key.pem", certs.key_pem.as_bytes());
        let toml = format!(
            "{}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            config(m.addr, "", ""),
            cert.display(),
            key.display()
        );
        let gw = Gateway::start(&toml, d);
        let mut tls = sluice_tests::tls::connect_stream(gw.addr, "localhost", certs.client_config());
        tls.write_all(&post("/v1/chat/completions", &chat_body(MODEL, false), "x-mock-fault: stall\r\n")).unwrap();
        tls.flush().unwrap();
        assert!(wait_until(WAIT, || m.stats.requests_total.load(Relaxed) == 1));
        assert_eq!(m.stats.connections_open.load(Relaxed), 1);
        // A well-behaved TLS client says goodbye (close_notify), then closes.
        tls.conn.send_close_notify();
        tls.flush().unwrap();
        drop(tls);
        assert!(
            wait_until(Duration::from_secs(2), || m.stats.connections_open.load(Relaxed) == 0),
            "the upstream request outlived its TLS client: {}",
            m.stats.summary()
        );
        assert!(wait_until(Duration::from_secs(1), || gw.metric("sluice_client_aborts_total") == 1.0));
    }
);

/// A config with two providers at the same https upstream: one trusting the test CA
/// through `ca_file`, one with only the public roots.
fn https_upstream_config(port: u16, ca_file: &std::path::Path) -> String {
    format!(
        r#"
[log]
access_log = "off"

[[providers]]
name = "private"
kind = "openai-compatible"
base_url = "https://localhost:{port}/v1"
api_key = "sk-tls"
ca_file = "{ca}"
timeouts = {{ connect_timeout_ms = 2000, first_byte_timeout_ms = 2000 }}

[[providers]]
name = "public-roots"
kind = "openai-compatible"
base_url = "https://localhost:{port}/v1"
timeouts = {{ connect_timeout_ms = 2000, first_byte_timeout_ms = 2000 }}

[[models]]
name = "trusted"
provider = "private"

[[models]]
name = "untrusted"
provider = "public-roots"
"#,
        ca = ca_file.display()
    )
}

both_drivers!(
    fn https_upstream_needs_its_ca(d) {
        let certs = Certs::from_ca();
        // The gateway resolves `localhost` the same way at config time.
        let ip = ("localhost", 0).to_socket_addrs().unwrap().next().unwrap().ip();
        let up = TlsUpstream::start(ip, &certs);
        let dir = TempDir::new("upstream-tls");
        let ca = dir.write("ca.pem", certs.trust_pem.as_bytes());
        let gw = Gateway::start(&https_upstream_config(up.addr.port(), &ca), d);

        for i in 0..2 {
            let r = gw.client().request(&post("/v1/chat/completions", &chat_body("trusted", false), ""));
            assert_eq!(r.status, 200, "request {i}: {}", r.text());
            assert_eq!(r.text(), FIXED_BODY);
        }
        // The upstream counts a connection once it has closed it, after the response.
        assert!(wait_until(Duration::from_secs(2), || up.served.load(Relaxed) == 2));

        let r = gw.client().request(&post("/v1/chat/completions", &chat_body("untrusted", false), ""));
        assert_eq!(r.status, 502, "{}", r.text());
        let e = assert_openai_error(&r.body);
        assert_eq!(e["type"], "upstream_error");
        assert!(wait_until(Duration::from_secs(2), || up.handshakes_failed.load(Relaxed) == 1));
        assert_eq!(up.served.load(Relaxed), 2, "nothing was sent over the untrusted connection");
        assert_eq!(gw.metric(r#"sluice_upstream_errors_total{kind="tls"}"#), 1.0);
    }
);
