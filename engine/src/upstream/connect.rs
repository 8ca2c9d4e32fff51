//! Opening an upstream connection within the connect timeout.

use monoio::net::TcpStream;

use crate::config::Upstream;
use crate::error::GatewayError;
use crate::io::{Either, UpstreamIo};

/// TCP connect plus TLS handshake, both inside `timeout`.
pub async fn connect(
    up: &Upstream,
    timeout: std::time::Duration,
) -> Result<UpstreamIo, GatewayError> {
    let attempt = async {
        let tcp = TcpStream::connect_addr(up.addr)
            .await
            .map_err(|_| GatewayError::UpstreamConnect)?;
        // Request heads and SSE frames are small writes that must leave at once.
        let _ = tcp.set_nodelay(true);
        match &up.tls {
            None => Ok(Either::Plain(tcp)),
            Some((config, name)) => monoio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
                .map(|t| Either::Tls(Box::new(t)))
                .map_err(|_| GatewayError::UpstreamTls),
        }
    };
    match monoio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(GatewayError::UpstreamConnectTimeout),
    }
}
