//! HTTPS for the web server: the certificate and key of `[web] tls_cert`/`tls_key` with the
//! one rustls provider the project uses (ring), so no second crypto library is linked.

use std::io::BufReader;
use std::sync::Arc;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::WebTls;

/// The rustls server config for `tls`: TLS 1.2 and 1.3, HTTP/1.1.
pub fn server_config(tls: &WebTls) -> anyhow::Result<RustlsConfig> {
    let cert_pem = std::fs::read(&tls.cert)
        .with_context(|| format!("[web] tls_cert: cannot read {}", tls.cert.display()))?;
    let key_pem = std::fs::read(&tls.key)
        .with_context(|| format!("[web] tls_key: cannot read {}", tls.key.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(cert_pem.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| {
            format!(
                "[web] tls_cert: not a PEM certificate: {}",
                tls.cert.display()
            )
        })?;
    let key = rustls_pemfile::private_key(&mut BufReader::new(key_pem.as_slice()))
        .with_context(|| {
            format!(
                "[web] tls_key: not a PEM private key: {}",
                tls.key.display()
            )
        })?
        .with_context(|| format!("[web] tls_key: no private key in {}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("[web] tls_cert and tls_key do not make a usable certificate (does the key belong to the certificate?)")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
