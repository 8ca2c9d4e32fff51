//! rustls configurations: the client-facing server config and per-provider client configs.

use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use toml::Spanned;

use super::compile::Source;
use super::ConfigError;

/// The web PKI roots, built once per compile.
pub(super) fn webpki_roots() -> Arc<rustls::RootCertStore> {
    Arc::new(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

fn read_certs(
    path: &Spanned<String>,
    src: &Source<'_>,
    field: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path.get_ref())
        .map_err(|e| {
            src.err(
                Some(path.span()),
                field,
                format!("cannot read {}: {e}", path.get_ref()),
            )
        })?
        .collect();
    let certs = certs.map_err(|e| {
        src.err(
            Some(path.span()),
            field,
            format!("bad PEM in {}: {e}", path.get_ref()),
        )
    })?;
    if certs.is_empty() {
        return Err(src.err(
            Some(path.span()),
            field,
            format!("no certificates in {}", path.get_ref()),
        ));
    }
    Ok(certs)
}

pub(super) fn server_config(
    cert: &Spanned<String>,
    key: &Spanned<String>,
    src: &Source<'_>,
) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let certs = read_certs(cert, src, "server.tls.cert_file")?;
    let key_der = PrivateKeyDer::from_pem_file(key.get_ref()).map_err(|e| {
        src.err(
            Some(key.span()),
            "server.tls.key_file",
            format!("cannot read a private key from {}: {e}", key.get_ref()),
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| src.err(None, "server.tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| {
            src.err(
                Some(cert.span()),
                "server.tls",
                format!("certificate and key do not work together: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub(super) fn client_config(
    roots: &Arc<rustls::RootCertStore>,
    ca_file: Option<&Spanned<String>>,
    src: &Source<'_>,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let roots = match ca_file {
        None => roots.clone(),
        Some(ca) => {
            let mut store = (**roots).clone();
            for c in read_certs(ca, src, "providers.ca_file")? {
                store.add(c).map_err(|e| {
                    src.err(
                        Some(ca.span()),
                        "providers.ca_file",
                        format!("unusable CA certificate: {e}"),
                    )
                })?;
            }
            Arc::new(store)
        }
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| src.err(None, "providers", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
