//! `[web]`: the daemon's HTTP server (`/healthz`, `/metrics`, the web console). Without
//! `listen` there is no web server, whatever else the section says.

use std::time::Duration;

use super::reader::{Sect, toml_str};
use super::types::{ProxyNet, Web, WebTls};

/// The default `session_hours`: a working day.
const SESSION_HOURS: i64 = 8;
/// The longest `session_hours`: a week.
const MAX_SESSION_HOURS: i64 = 168;

pub(super) fn read_web(s: &mut Sect) -> Option<Web> {
    let listen = read_listen(s);
    let public_url = read_public_url(s);
    let session_hours = s.positive("session_hours", MAX_SESSION_HOURS);
    let tls = read_tls(s);
    let trusted_proxy_header = s.optional_text("trusted_proxy_header");
    let trusted_proxies = read_proxies(s);
    let metrics = s.boolean("metrics").unwrap_or(false);
    let health_imap_grace = s
        .duration("health_imap_grace")
        .unwrap_or(Duration::from_secs(300));
    Some(Web {
        listen: listen?,
        public_url,
        session_hours: u32::try_from(session_hours.unwrap_or(SESSION_HOURS)).unwrap_or(8),
        tls,
        trusted_proxy_header,
        trusted_proxies,
        metrics,
        health_imap_grace,
    })
}

/// `listen`: an IP address and a port, e.g. `"127.0.0.1:8480"`.
fn read_listen(s: &mut Sect) -> Option<std::net::SocketAddr> {
    let (text, line) = s.string("listen")?;
    match text.trim().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            s.problem_at(
                "listen",
                Some(toml_str(&text)),
                line,
                "must be an IP address and a port, e.g. \"127.0.0.1:8480\" (or \"[::1]:8480\"); remove listen for no web console",
            );
            None
        }
    }
}

/// `public_url`: an absolute http(s) URL with a host.
fn read_public_url(s: &mut Sect) -> Option<String> {
    let (text, line) = s.string("public_url")?;
    match url::Url::parse(text.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(text),
        _ => {
            s.problem_at(
                "public_url",
                Some(toml_str(&text)),
                line,
                "must be an http:// or https:// address, e.g. \"https://helpdesk.example.test\"",
            );
            None
        }
    }
}

/// `tls_cert` / `tls_key`: both or neither; each a readable PEM file holding a certificate
/// (chain) or a private key, so a wrong file stops the start rather than the first request.
fn read_tls(s: &mut Sect) -> Option<WebTls> {
    let cert = s.existing_file("tls_cert");
    let key = s.existing_file("tls_key");
    let cert = cert.filter(|c| pem_holds(s, "tls_cert", c, PemKind::Certificate));
    let key = key.filter(|k| pem_holds(s, "tls_key", k, PemKind::Key));
    match (cert, key, s.has("tls_cert"), s.has("tls_key")) {
        (Some(cert), Some(key), _, _) => Some(WebTls { cert, key }),
        (_, _, true, false) => {
            s.missing("tls_key", "tls_cert needs its private key: add tls_key = \"/etc/spdesk/web.key\", or remove tls_cert");
            None
        }
        (_, _, false, true) => {
            s.missing("tls_cert", "tls_key needs its certificate: add tls_cert = \"/etc/spdesk/web.crt\", or remove tls_key");
            None
        }
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum PemKind {
    Certificate,
    Key,
}

/// Whether the PEM file at `path` holds what `kind` needs; a problem on `key` when not.
fn pem_holds(s: &mut Sect, key: &'static str, path: &std::path::Path, kind: PemKind) -> bool {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!(
                "cannot be read: {} ({e}); spdesk must be able to read it",
                path.display()
            );
            s.problem(key, Some(toml_str(&path.to_string_lossy())), &msg);
            return false;
        }
    };
    let mut reader = std::io::BufReader::new(text.as_slice());
    let ok = match kind {
        PemKind::Certificate => rustls_pemfile::certs(&mut reader).any(|c| c.is_ok()),
        PemKind::Key => matches!(rustls_pemfile::private_key(&mut reader), Ok(Some(_))),
    };
    if !ok {
        let what = match kind {
            PemKind::Certificate => "a PEM certificate (-----BEGIN CERTIFICATE-----)",
            PemKind::Key => "a PEM private key (-----BEGIN PRIVATE KEY----- or RSA/EC)",
        };
        let msg = format!("must be {what}: {}", path.display());
        s.problem(key, Some(toml_str(&path.to_string_lossy())), &msg);
    }
    ok
}

/// `trusted_proxies`: IP addresses or networks in CIDR notation.
fn read_proxies(s: &mut Sect) -> Vec<ProxyNet> {
    let Some((items, line)) = s.strings_at("trusted_proxies") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        match ProxyNet::parse(item.trim()) {
            Some(n) => out.push(n),
            None => s.problem_at(
                "trusted_proxies",
                Some(toml_str(&item)),
                line,
                "must be an IP address or a network in CIDR notation, e.g. \"127.0.0.1\" or \"10.0.0.0/8\"",
            ),
        }
    }
    out
}
