//! One probe of one URL: DNS, TCP, the TLS handshake and an HTTP request for the URL's path,
//! each step under the timeout; the facts go into an [`Observation`] that
//! [`crate::orders::verification::report`] judges. Never panics on what a server sends.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::orders::verification::{Leaf, Observation, Step, fingerprint, normal_serial};
use crate::verify::tls::Recorder;

/// The most of the HTTP answer read: its status line is all the check needs.
const MAX_HEAD: usize = 8 * 1024;

/// What a probe runs with.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    /// For each step: DNS, TCP connect, TLS handshake, HTTP answer.
    pub timeout: Duration,
    pub roots: Arc<RootCertStore>,
}

/// Where to connect: the URL's host, port and the request line's target.
#[derive(Debug)]
struct Endpoint {
    host: String,
    port: u16,
    target: String,
}

fn endpoint(url: &str) -> Result<Endpoint, String> {
    let u = url::Url::parse(url.trim())
        .map_err(|e| format!("not a URL ({e}); give an absolute https:// address"))?;
    if u.scheme() != "https" {
        return Err(format!(
            "the scheme is {:?}; only https:// is checked",
            u.scheme()
        ));
    }
    let host = match u.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err("the URL has no host".into()),
    };
    let mut target = u.path().to_string();
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok(Endpoint {
        host,
        port: u.port_or_known_default().unwrap_or(443),
        target,
    })
}

/// Probes `url` once.
pub async fn probe(url: &str, s: &ProbeSettings) -> Observation {
    let mut o = Observation {
        url: url.trim().to_string(),
        ..Observation::default()
    };
    let e = match endpoint(url) {
        Ok(e) => e,
        Err(why) => {
            o.failed = Some((Step::Url, why));
            return o;
        }
    };
    let stream = match connect(&e, s.timeout, &mut o).await {
        Some(stream) => stream,
        None => return o,
    };
    let Some(mut tls) = handshake(&e, stream, s, &mut o).await else {
        return o;
    };
    match http_status(&mut tls, &e, s.timeout).await {
        Ok(status) => o.http_status = Some(status),
        Err(why) => o.failed = Some((Step::Http, why)),
    }
    o
}

/// DNS, then TCP to each address in turn until one connects.
async fn connect(e: &Endpoint, t: Duration, o: &mut Observation) -> Option<TcpStream> {
    let addrs: Vec<std::net::SocketAddr> =
        match timeout(t, tokio::net::lookup_host((e.host.as_str(), e.port))).await {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(err)) => {
                o.failed = Some((Step::Dns, format!("{}: {err}", e.host)));
                return None;
            }
            Err(_) => {
                o.failed = Some((Step::Dns, format!("{}: no answer within {t:?}", e.host)));
                return None;
            }
        };
    o.addresses = addrs.iter().map(ToString::to_string).collect();
    let mut errors = Vec::new();
    for addr in addrs {
        match timeout(t, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                o.connected = Some(addr.to_string());
                return Some(stream);
            }
            Ok(Err(err)) => errors.push(format!("{addr}: {err}")),
            Err(_) => errors.push(format!("{addr}: no connection within {t:?}")),
        }
    }
    let why = if errors.is_empty() {
        format!("{} resolved to no address", e.host)
    } else {
        errors.join("; ")
    };
    o.failed = Some((Step::Tcp, why));
    None
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// The TLS handshake, recording the served leaf and the chain's verdict.
async fn handshake(
    e: &Endpoint,
    stream: TcpStream,
    s: &ProbeSettings,
    o: &mut Observation,
) -> Option<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder::new(s.roots.clone(), provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(recorder.clone())
                .with_no_client_auth()
        });
    let config = match config {
        Ok(c) => c,
        Err(err) => {
            o.failed = Some((Step::Tls, err.to_string()));
            return None;
        }
    };
    let Ok(name) = ServerName::try_from(e.host.clone()) else {
        o.failed = Some((Step::Tls, format!("{:?} is no server name", e.host)));
        return None;
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let result = timeout(s.timeout, connector.connect(name, stream)).await;
    let seen = recorder.seen();
    o.chain_problem = seen.chain_error.as_ref().map(|c| c.0);
    o.chain_error = seen.chain_error.map(|c| c.1);
    o.leaf = seen.leaf.as_deref().map(leaf);
    match result {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(err)) => {
            o.failed = Some((Step::Tls, err.to_string()));
            None
        }
        Err(_) => {
            o.failed = Some((
                Step::Tls,
                format!("no TLS handshake within {:?}", s.timeout),
            ));
            None
        }
    }
}

/// The served leaf's fingerprint, serial, issuer, subject and end of validity.
fn leaf(der: &[u8]) -> Leaf {
    let mut l = Leaf {
        sha256: fingerprint(der),
        ..Leaf::default()
    };
    if let Ok((_, c)) = x509_parser::parse_x509_certificate(der) {
        l.serial = normal_serial(&hex::encode_upper(c.raw_serial()));
        l.issuer = c.issuer().to_string();
        l.subject = c.subject().to_string();
        l.not_after = c
            .validity()
            .not_after
            .to_rfc2822()
            .unwrap_or_else(|_| c.validity().not_after.to_string());
    }
    l
}

/// Asks for the URL's path and reads the status line: any status is an answer.
async fn http_status(tls: &mut Tls, e: &Endpoint, t: Duration) -> Result<u16, String> {
    let host = if e.host.contains(':') {
        format!("[{}]", e.host)
    } else {
        e.host.clone()
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: spdesk-verify\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        e.target, e.port
    );
    let exchange = async {
        tls.write_all(request.as_bytes()).await?;
        tls.flush().await?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_HEAD {
            let n = tls.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<Vec<u8>, std::io::Error>(head)
    };
    let head = match timeout(t, exchange).await {
        Ok(Ok(head)) => head,
        Ok(Err(err)) => return Err(format!("no HTTP answer: {err}")),
        Err(_) => return Err(format!("no HTTP answer within {t:?}")),
    };
    status_of(&head)
}

/// The status of an HTTP/1.x status line.
fn status_of(head: &[u8]) -> Result<u16, String> {
    if head.is_empty() {
        return Err("the server closed the connection without an HTTP answer".into());
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") && (100..=999).contains(&code) => Ok(code),
        _ => Err(format!(
            "the answer is not HTTP: {:?}",
            line.chars().take(60).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_gives_its_code_and_anything_else_is_no_answer() {
        assert_eq!(status_of(b"HTTP/1.1 405 Method Not Allowed\r\n"), Ok(405));
        assert_eq!(status_of(b"HTTP/1.0 200\r\n"), Ok(200));
        assert!(status_of(b"").unwrap_err().contains("closed"));
        assert!(
            status_of(b"SSH-2.0-OpenSSH\r\n")
                .unwrap_err()
                .contains("not HTTP")
        );
        assert!(status_of(&[0xff; 100]).is_err());
    }

    #[test]
    fn only_https_urls_with_a_host_are_probed() {
        let e = endpoint("https://localhost:8443/ws/v2?wsdl").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.target.as_str()),
            ("localhost", 8443, "/ws/v2?wsdl")
        );
        assert_eq!(endpoint("https://ws.example.test").unwrap().port, 443);
        assert!(
            endpoint("http://ws.example.test/")
                .unwrap_err()
                .contains("https")
        );
        assert!(endpoint("not a url").is_err());
    }
}
