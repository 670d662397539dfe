//! The TLS side of the probe: the trust anchors (the system's store, `rules.trusted_ca_file`,
//! `probe --ca`) and a certificate verifier that RECORDS the chain's verdict instead of
//! breaking the handshake on it, so a wrong or expired certificate is still seen (its
//! fingerprint shown) and the HTTP answer still asked for. Handshake signatures are checked
//! as always.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::orders::verification::ChainProblem;

/// The system's trust store plus the PEM bundles named (each must hold a certificate).
pub fn roots(files: &[&Path]) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::warn!(%error, "skipping part of the system trust store");
    }
    roots.add_parsable_certificates(native.certs);
    for path in files {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read it: {e}", path.display()))?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut bytes.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("{}: not a PEM file: {e}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!(
                "{}: holds no CERTIFICATE block; give a PEM bundle of CA certificates",
                path.display()
            );
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!(
                "{}: no certificate in it could be used as a CA",
                path.display()
            );
        }
    }
    Ok(roots)
}

/// What the verifier saw: the served chain's leaf and the verdict on the chain.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub leaf: Option<Vec<u8>>,
    /// Why the chain is not valid for the host today (`None`: valid).
    pub chain_error: Option<(ChainProblem, String)>,
}

/// A verifier that records the WebPKI verdict and lets the handshake go on.
#[derive(Debug)]
pub struct Recorder {
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    pub seen: Mutex<Seen>,
}

impl Recorder {
    pub fn new(roots: Arc<RootCertStore>, provider: Arc<CryptoProvider>) -> Recorder {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .ok();
        Recorder {
            inner,
            provider,
            seen: Mutex::new(Seen::default()),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// rustls' certificate error: its kind, and words a person acts on.
fn chain_words(e: &rustls::Error) -> (ChainProblem, String) {
    use rustls::CertificateError as C;
    let problem = match e {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            ChainProblem::Expired
        }
        rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            ChainProblem::NotYetValid
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => ChainProblem::WrongHost,
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => ChainProblem::Untrusted,
        _ => ChainProblem::Other,
    };
    let words = match e {
        rustls::Error::InvalidCertificate(C::Expired) => "the certificate has expired".into(),
        rustls::Error::InvalidCertificate(C::ExpiredContext { time, not_after }) => format!(
            "the certificate expired at {} (now {})",
            unix(not_after.as_secs()),
            unix(time.as_secs())
        ),
        rustls::Error::InvalidCertificate(C::NotValidYet) => "the certificate is not valid yet".into(),
        rustls::Error::InvalidCertificate(C::NotValidForName) => {
            "the certificate is not valid for the host name".into()
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext { expected, presented }) => {
            format!(
                "the certificate is not valid for {expected:?} (it names {})",
                presented.join(", ")
            )
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the certificate's issuer is not trusted (not in the system's store or rules.trusted_ca_file)".into()
        }
        other => other.to_string(),
    };
    (problem, words)
}

fn unix(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339())
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain_error = match &self.inner {
            Some(v) => v
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                .err()
                .map(|e| chain_words(&e)),
            None => Some((
                ChainProblem::Untrusted,
                "no trusted CA certificates to check the chain against".into(),
            )),
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Seen {
                leaf: Some(end_entity.to_vec()),
                chain_error,
            };
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
