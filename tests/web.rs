//! The daemon's web server (`[web]`) over HTTP against the real `spdesk run` and the real mail
//! stack: `/healthz` is 200 `ok` while the stack is up and turns 503 naming IMAP once Dovecot
//! has been down longer than `health_imap_grace`; `/metrics` counts a form mail taken in, its
//! receipts sent and its approved order; every response carries the security headers;
//! `/metrics` is 404 unless `metrics = true`; `tls_cert`/`tls_key` serve HTTPS; a `listen`
//! address in use stops the start. Plain HTTP/1.1 over a TcpStream: one request per
//! connection, exactly what a monitoring probe sends.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::daemon::{Daemon, kill_imap_sessions};
use common::{FA, HELPDESK, MailStack};

/// Generous bounds: other test suites share the two cores.
const CONNECT: Duration = Duration::from_secs(60);
const RECEIPTS: Duration = Duration::from_secs(120);
const HEALTH_TURNS: Duration = Duration::from_secs(90);

/// One HTTP response: status, headers (names in lower case), body.
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// `GET path` on 127.0.0.1:`port`; `None` while nothing listens there.
async fn try_get(port: u16, path: &str) -> Option<Reply> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

async fn get(port: u16, path: &str) -> Reply {
    try_get(port, path)
        .await
        .unwrap_or_else(|| panic!("GET {path} on 127.0.0.1:{port}: no HTTP answer"))
}

/// A loopback port nothing listens on right now.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// A daemon reading `helpdesk` on `stack` with `[web]` on a free loopback port; started and
/// connected to IMAP. Returns it and the port.
async fn with_web(stack: &MailStack, helpdesk: &str, web: &str) -> (Daemon, u16) {
    let port = free_port();
    let mut d = Daemon::new(stack, helpdesk);
    d.edit_config(|t| format!("{t}\n[web]\nlisten = \"127.0.0.1:{port}\"\n{web}\n"));
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_log("web server listening", 1, CONNECT).await;
    (d, port)
}

/// Polls `GET path` until `done` holds for the reply; the last reply.
async fn wait_reply(
    d: &Daemon,
    port: u16,
    path: &str,
    what: &str,
    wait: Duration,
    done: impl Fn(&Reply) -> bool,
) -> Reply {
    let start = Instant::now();
    loop {
        let r = get(port, path).await;
        if done(&r) {
            return r;
        }
        assert!(
            start.elapsed() < wait,
            "{what}: GET {path} still answers {} {:?}\n{}",
            r.status,
            r.body,
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The value of the sample `name` (with its labels, as written) in a `/metrics` body.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn assert_security_headers(r: &Reply, what: &str) {
    for (name, value) in [
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(
            r.headers.get(name).map(String::as_str),
            Some(value),
            "{what}: header {name}; all: {:?}",
            r.headers
        );
    }
}

#[tokio::test]
async fn healthz_and_metrics_follow_the_mail_and_the_imap_server() {
    let stack = MailStack::start(&[]);
    let (mut d, port) = with_web(
        &stack,
        HELPDESK,
        "metrics = true\nhealth_imap_grace = \"2s\"",
    )
    .await;

    let ok = wait_reply(&d, port, "/healthz", "healthy stack", CONNECT, |r| {
        r.status == 200
    })
    .await;
    assert_eq!(ok.body, "ok\n");
    assert_security_headers(&ok, "/healthz");
    let missing = get(port, "/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "a 404");

    let before = wait_reply(
        &d,
        port,
        "/metrics",
        "the mailbox read once",
        CONNECT,
        |r| sample(&r.body, "spdesk_imap_last_poll_timestamp_seconds").unwrap_or(0.0) > 0.0,
    )
    .await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_security_headers(&before, "/metrics");
    assert!(
        before.headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{:?}",
        before.headers
    );
    let m = &before.body;
    assert_eq!(sample(m, "spdesk_mails_taken_total"), Some(0.0), "{m}");
    assert_eq!(sample(m, "spdesk_receipts_sent_total"), Some(0.0), "{m}");
    assert_eq!(sample(m, "spdesk_orders{state=\"approved\"}"), None, "{m}");
    assert_eq!(sample(m, "spdesk_imap_connected"), Some(1.0), "{m}");
    assert!(
        sample(m, "spdesk_imap_last_poll_timestamp_seconds").unwrap_or(0.0) > 1.7e9,
        "{m}"
    );
    assert_eq!(sample(m, "spdesk_reader_failures_total"), Some(0.0), "{m}");
    assert!(
        sample(m, "spdesk_web_requests_total{status=\"200\"}").unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert_eq!(
        sample(m, "spdesk_web_requests_total{status=\"404\"}"),
        Some(1.0),
        "{m}"
    );

    stack
        .send_form("KMB-WEB-0001", "Bestilling via web-test")
        .await;
    d.wait_state("KMB-WEB-0001", "approved", RECEIPTS).await;
    let after = wait_reply(&d, port, "/metrics", "both receipts sent", RECEIPTS, |r| {
        sample(&r.body, "spdesk_receipts_sent_total").unwrap_or(0.0) >= 2.0
    })
    .await;
    let m = &after.body;
    assert_eq!(sample(m, "spdesk_mails_taken_total"), Some(1.0), "{m}");
    assert_eq!(
        sample(m, "spdesk_orders{state=\"approved\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(m, "spdesk_outbox_length"), Some(0.0), "{m}");
    assert_eq!(
        sample(m, "spdesk_outbox_oldest_unsent_seconds"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(sample(m, "spdesk_receipts_failed_total"), Some(0.0), "{m}");
    assert_eq!(
        sample(m, "spdesk_receipts_deferred_total"),
        Some(0.0),
        "{m}"
    );
    d.wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;

    stack.stop_dovecot();
    kill_imap_sessions(&stack);
    let down = wait_reply(&d, port, "/healthz", "IMAP down", HEALTH_TURNS, |r| {
        r.status == 503
    })
    .await;
    assert!(
        down.body.starts_with("IMAP not connected for "),
        "{:?}",
        down.body
    );
    assert_security_headers(&down, "a 503");
    let m = get(port, "/metrics").await.body;
    assert_eq!(sample(&m, "spdesk_imap_connected"), Some(0.0), "{m}");

    stack.start_dovecot();
    wait_reply(&d, port, "/healthz", "IMAP back", HEALTH_TURNS, |r| {
        r.status == 200
    })
    .await;
}

#[tokio::test]
async fn metrics_is_not_served_unless_asked_for() {
    let stack = MailStack::shared(&["web.off@example.test"]);
    let (mut d, port) = with_web(&stack, "web.off@example.test", "").await;
    wait_reply(&d, port, "/healthz", "healthy stack", CONNECT, |r| {
        r.status == 200
    })
    .await;
    let r = get(port, "/metrics").await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_security_headers(&r, "/metrics when off");
    // The web server stops with the daemon, which still exits cleanly.
    d.terminate();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.poll_exit() {
            break s;
        }
        assert!(
            start.elapsed() < CONNECT,
            "no exit after SIGTERM\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}\n{}", d.log_tail());
    assert!(d.log().contains("web server stopped"), "{}", d.log_tail());
    assert!(
        try_get(port, "/healthz").await.is_none(),
        "still served after the stop"
    );
}

#[tokio::test]
async fn a_listen_address_in_use_stops_the_start() {
    let stack = MailStack::shared(&["web.busy@example.test"]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let mut d = Daemon::new(&stack, "web.busy@example.test");
    d.edit_config(|t| format!("{t}\n[web]\nlisten = \"127.0.0.1:{port}\"\n"));
    d.start();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.poll_exit() {
            break s;
        }
        assert!(
            start.elapsed() < CONNECT,
            "the daemon runs without its web server\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    let log = d.log();
    assert!(
        log.contains(&format!("[web] listen: cannot listen on 127.0.0.1:{port}")),
        "{log}"
    );
    drop(taken);
}

/// `GET path` over HTTPS on 127.0.0.1:`port`, trusting only `ca_der` for `localhost`.
async fn tls_get(port: u16, path: &str, ca_der: &[u8]) -> Reply {
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca_der.to_vec()))
        .expect("trust the test certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the daemon's certificate");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    // A peer that closes without close_notify is an error for rustls; the bytes are there.
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

#[tokio::test]
async fn tls_cert_and_key_serve_https() {
    let stack = MailStack::shared(&["web.tls@example.test"]);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("web.crt"), dir.path().join("web.key"));
    std::fs::write(&cert, ck.cert.pem()).expect("write the certificate");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write the key");
    let web = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    );
    let (d, port) = with_web(&stack, "web.tls@example.test", &web).await;
    let start = Instant::now();
    let r = loop {
        let r = tls_get(port, "/healthz", ck.cert.der()).await;
        if r.status == 200 || start.elapsed() > CONNECT {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ok\n"),
        "{}",
        d.log_tail()
    );
    assert_security_headers(&r, "/healthz over HTTPS");
    assert_eq!(
        r.headers
            .get("strict-transport-security")
            .map(String::as_str),
        Some("max-age=31536000"),
        "browsers keep to https: {:?}",
        r.headers
    );
    // Over https the console's cookies are Secure (and HttpOnly, SameSite=Strict).
    let login = tls_get(port, "/login", ck.cert.der()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.headers.get("set-cookie").cloned().unwrap_or_default();
    for part in ["spdesk_login=", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = try_get(port, "/healthz").await;
    assert!(
        plain.is_none_or(|p| p.status != 200),
        "plain HTTP answered 200"
    );
}

/// A client that never finishes its headers is cut off (after 30 seconds), so slow senders
/// cannot hold the console's connections.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let stack = MailStack::shared(&["web.slow@example.test"]);
    let (d, port) = with_web(&stack, "web.slow@example.test", "").await;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .expect("write part of the headers");
    let start = Instant::now();
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(90), s.read_to_end(&mut raw)).await;
    assert!(
        read.is_ok(),
        "the connection is still open after 90 s\n{}",
        d.log_tail()
    );
    assert!(
        start.elapsed() >= Duration::from_secs(25),
        "cut off too early: {:?}",
        start.elapsed()
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "no page for half a request: {text}"
    );
    // The server still answers everyone else.
    assert_eq!(get(port, "/healthz").await.status, 200);
}
