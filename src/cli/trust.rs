//! The trust store the certificate rule checks chains against (FORMS.md, SSL certificates):
//! the Helpdesk's own CA bundle (`rules.trusted_ca_file`) or the operating system's store.
//! Reading them is the shell's job; [`crate::rules::cert::TrustStore`] only parses.

use std::path::Path;

use crate::rules::cert::TrustStore;

/// The configured bundle, or the system's store when none is configured. A bundle that cannot
/// be read or holds no certificate stops the start, with the file named.
pub fn trust_store(trusted_ca_file: Option<&Path>) -> anyhow::Result<TrustStore> {
    match trusted_ca_file {
        Some(path) => from_pem_file(path).map_err(anyhow::Error::msg),
        None => Ok(system()),
    }
}

/// A PEM bundle file.
fn from_pem_file(path: &Path) -> Result<TrustStore, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    TrustStore::from_pem(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The operating system's trust store. Certificates it cannot load are skipped (logged): one
/// broken system file must not stop the daemon.
fn system() -> TrustStore {
    let result = rustls_native_certs::load_native_certs();
    for error in &result.errors {
        tracing::warn!(%error, "skipping part of the system trust store");
    }
    TrustStore::from_der(result.certs.into_iter().map(|c| c.to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_file_is_read_and_a_bad_one_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).expect("cert");
        std::fs::write(&path, ca.cert.pem()).expect("write");
        assert_eq!(trust_store(Some(&path)).expect("bundle").len(), 1);

        std::fs::write(&path, "no certificates here").expect("write");
        let e = trust_store(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("ca.pem"), "{e}");
        let missing = dir.path().join("missing.pem");
        let e = trust_store(Some(&missing)).unwrap_err().to_string();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
