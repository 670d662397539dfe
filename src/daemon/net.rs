//! Network plumbing shared by IMAP and SMTP: TLS with rustls (ring provider, certificate
//! verification always on, an extra CA file optional) and credentials read at use time.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

/// How to talk TLS to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Tls,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "tls" => Ok(TlsMode::Tls),
            other => Err(format!(
                "\"{other}\" is not a TLS mode; use \"none\", \"starttls\" or \"tls\""
            )),
        }
    }
}

/// Reads a secret (password file, environment, token command) off the async threads.
pub async fn resolve(secret: &crate::config::Secret) -> anyhow::Result<String> {
    let s = secret.clone();
    tokio::task::spawn_blocking(move || s.resolve())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A byte stream to a server, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

/// A rustls client config: the system's trust store plus an optional extra CA file.
pub fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read ca_file {}: {e}", path.display()))?;
        let mut n = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert =
                cert.map_err(|e| anyhow::anyhow!("ca_file {}: bad PEM: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("ca_file {}: {e}", path.display()))?;
            n += 1;
        }
        if n == 0 {
            anyhow::bail!("ca_file {}: no certificate found", path.display());
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Wraps a connected stream in TLS, verifying the server's certificate for `host`.
pub async fn wrap_tls<S>(
    stream: S,
    host: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<tokio_rustls::client::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connector = tokio_rustls::TlsConnector::from(tls_config(ca_file)?);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| anyhow::anyhow!("\"{host}\" is not a valid server name: {e}"))?;
    Ok(connector.connect(name, stream).await?)
}

/// Adds what to fix to a TLS error when the server's certificate could not be verified
/// (`section` is "imap" or "smtp"); other errors pass unchanged. Verification has no off
/// switch: the fix is the CA file.
pub fn with_tls_hint(e: anyhow::Error, section: &str, ca_file: Option<&Path>) -> anyhow::Error {
    match tls_hint(section, ca_file, &format!("{e:#}")) {
        Some(hint) => e.context(hint),
        None => e,
    }
}

fn tls_hint(section: &str, ca_file: Option<&Path>, error: &str) -> Option<String> {
    if !error.contains("certificate") {
        return None;
    }
    let upper = section.to_ascii_uppercase();
    Some(match ca_file {
        None => format!(
            "{upper}: the server's TLS certificate is not trusted by the system's trust store; \
             if a private CA signed it, set [{section}] ca_file to that CA's PEM file"
        ),
        Some(ca) => format!(
            "{upper}: the server's TLS certificate could not be verified with [{section}] ca_file \
             {}: is that the CA that signed it, and is the certificate for [{section}] host?",
            ca.display()
        ),
    })
}

/// The SASL XOAUTH2 initial response (Microsoft 365, Google).
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_errors_get_a_hint_naming_the_section_and_ca_file() {
        let e = anyhow::anyhow!("invalid peer certificate: UnknownIssuer");
        let shown = format!("{:#}", with_tls_hint(e, "imap", None));
        assert!(
            shown.starts_with("IMAP: the server's TLS certificate"),
            "{shown}"
        );
        assert!(shown.contains("set [imap] ca_file"), "{shown}");
        assert!(
            shown.ends_with("invalid peer certificate: UnknownIssuer"),
            "{shown}"
        );
        let e = anyhow::anyhow!("invalid peer certificate: NotValidForName");
        let shown = format!(
            "{:#}",
            with_tls_hint(e, "smtp", Some(Path::new("/etc/spdesk/ca.pem")))
        );
        assert!(
            shown.contains("[smtp] ca_file /etc/spdesk/ca.pem"),
            "{shown}"
        );
        // Other errors are left alone.
        let e = anyhow::anyhow!("connection refused");
        assert_eq!(
            format!("{:#}", with_tls_hint(e, "imap", None)),
            "connection refused"
        );
    }

    #[test]
    fn xoauth2_response_has_the_sasl_layout() {
        assert_eq!(xoauth2("u@x", "t"), "user=u@x\x01auth=Bearer t\x01\x01");
    }
}
