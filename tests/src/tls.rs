//! TLS for the tests: certificates made at run time with rcgen (ring), a rustls client,
//! and a tiny blocking TLS upstream that answers every request with one fixed chat
//! completion.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::http1::{parse_request, BodyFraming, Limits, Status, EMPTY_HEADERS};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::crypto::ring::default_provider;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use crate::client::Client;

/// A leaf certificate and its key, and (for a CA-issued one) the CA.
pub struct Certs {
    /// PEM of the certificate clients must trust: the CA, or the self-signed leaf.
    pub trust_pem: String,
    pub trust_der: CertificateDer<'static>,
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl Certs {
    /// A self-signed certificate for `localhost` and 127.0.0.1.
    pub fn self_signed() -> Certs {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        let der = ck.cert.der().clone();
        Certs {
            trust_pem: ck.cert.pem(),
            trust_der: der.clone(),
            cert_pem: ck.cert.pem(),
            cert_der: der,
            key_pem: ck.signing_key.serialize_pem(),
            key_der: ck.signing_key.serialize_der(),
        }
    }

    /// A private CA and a leaf for `localhost` and 127.0.0.1 issued by it.
    pub fn from_ca() -> Certs {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sluice e2e test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &*ca)
            .unwrap();
        Certs {
            trust_pem: ca.pem(),
            trust_der: ca.der().clone(),
            cert_pem: leaf.pem(),
            cert_der: leaf.der().clone(),
            key_pem: leaf_key.serialize_pem(),
            key_der: leaf_key.serialize_der(),
        }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// A rustls server config with this certificate, ALPN http/1.1.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let mut c = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], self.key())
            .unwrap();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }

    /// A rustls client config that trusts only this certificate's trust anchor, ALPN
    /// http/1.1.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.trust_der.clone()).unwrap();
        let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(c)
    }
}

/// Connect to `addr`, complete a TLS handshake for `name`, and return the client and the
/// negotiated ALPN protocol.
pub fn connect(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> (Client, Option<Vec<u8>>) {
    let tls = connect_stream(addr, name, config);
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    let sock = tls.sock.try_clone().unwrap();
    (Client::over(Box::new(tls), sock), alpn)
}

/// A TLS stream with the handshake done, for tests that need the rustls connection
/// (e.g. to send close_notify).
pub fn connect_stream(
    addr: SocketAddr,
    name: &str,
    config: Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.set_read_timeout(Some(crate::WAIT)).unwrap();
    tcp.set_write_timeout(Some(crate::WAIT)).unwrap();
    let mut conn =
        rustls::ClientConnection::new(config, ServerName::try_from(name.to_string()).unwrap())
            .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
    }
    rustls::StreamOwned::new(conn, tcp)
}

/// The body every [`TlsUpstream`] response carries.
pub const FIXED_BODY: &str = r#"{"id":"chatcmpl-tls","object":"chat.completion","created":1700000000,"model":"tls-model","choices":[{"index":0,"message":{"role":"assistant","content":"hello over TLS"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}"#;

/// A blocking TLS upstream on its own thread: accepts connections one at a time, answers
/// each request with [`FIXED_BODY`], and closes. Stopped on drop.
pub struct TlsUpstream {
    pub addr: SocketAddr,
    /// Requests answered.
    pub served: Arc<AtomicU64>,
    /// Handshakes that failed (e.g. the client did not trust the certificate).
    pub handshakes_failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsUpstream {
    /// Listen on `ip`:0 with `certs`.
    pub fn start(ip: std::net::IpAddr, certs: &Certs) -> TlsUpstream {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let config = certs.server_config();
        let (served, failed, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, f, st) = (served.clone(), failed.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => match serve_one(tcp, config.clone()) {
                        Ok(()) => {
                            s.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TlsUpstream {
            addr,
            served,
            handshakes_failed: failed,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> std::io::Result<()> {
    tcp.set_nonblocking(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(3)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(3)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let limits = Limits::DEFAULT;
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut hs = EMPTY_HEADERS;
        if let Ok(Status::Complete(h)) = parse_request(&buf, &mut hs, &limits) {
            let body_len = match h.body {
                BodyFraming::Length(n) => n as usize,
                _ => 0,
            };
            if buf.len() >= h.head_len + body_len {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        let n = tls.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{FIXED_BODY}",
        FIXED_BODY.len()
    );
    tls.write_all(resp.as_bytes())?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(())
}
