//! The step-8 check of a webservice change (DESIGN.md "Verifying a change") against TLS
//! servers this test starts on loopback, with certificates from a test CA that
//! `rules.trusted_ca_file` (or `probe --ca`) trusts: the ordered certificate served; another
//! one from the same CA (both fingerprints named); an expired one; one for another host name;
//! nothing listening; a server that never answers the handshake (the timeout holds); an HTTP
//! 405 (still an answer); the right certificate only from the third attempt (the retries).
//! Then the flow over the real mail stack and `spdesk run`: an approved certificate order is
//! executed with `orders execute`, which checks first; the gennemført receipt names the
//! fingerprint; with the wrong certificate served the order stays approved and the person is
//! told what failed, and `--unverified --reason` executes it with a receipt that says so.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::daemon::Daemon;
use common::fixtures::WsForm;
use common::{FA, MailStack};
use mail_builder::MessageBuilder;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use spdesk::mail::Mail;
use spdesk::orders::verification::{Expected, Report, Target, fingerprint};
use spdesk::verify::{self, VerifySettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Generous: a loaded machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(60);

/// The test CA: its certificate (PEM) and what signs the leaves.
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new() -> TestCa {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "spdesk verify test CA");
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("CA certificate");
        TestCa { cert, key }
    }

    /// Writes the CA's PEM into `dir`; its path.
    fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, self.cert.pem()).expect("write CA");
        path
    }

    /// A leaf for `host`, valid from `from` to `until` (years).
    fn leaf(&self, host: &str, from: i32, until: i32) -> Leaf {
        let mut p = rcgen::CertificateParams::new(vec![host.to_string()]).expect("params");
        p.distinguished_name.push(rcgen::DnType::CommonName, host);
        p.not_before = rcgen::date_time_ymd(from, 1, 1);
        p.not_after = rcgen::date_time_ymd(until, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &self.cert, &self.key).expect("leaf");
        Leaf {
            der: cert.der().to_vec(),
            key: key.serialize_der(),
            pem: cert.pem(),
        }
    }
}

#[derive(Clone)]
struct Leaf {
    der: Vec<u8>,
    key: Vec<u8>,
    pem: String,
}

impl Leaf {
    fn sha256(&self) -> String {
        fingerprint(&self.der)
    }
}

/// A TLS server on 127.0.0.1 serving `leaves[i]` on its i-th connection (the last one from
/// then on) and answering every request with `status`; status 0: the connection is closed
/// after the request without an answer, status 1: the answer is binary garbage with
/// terminal escapes.
struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
}

async fn serve(leaves: Vec<Leaf>, status: u16) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let i = count.fetch_add(1, Ordering::SeqCst);
            let leaf = leaves[i.min(leaves.len() - 1)].clone();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(&leaf)));
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = match status {
                    0 => String::new(),
                    1 => "\u{1b}]0;owned\u{7}\u{1b}[2J\u{0}\u{ff}\r\n".to_string(),
                    _ => format!(
                        "HTTP/1.1 {status} Status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Server { port, connections }
}

fn server_config(leaf: &Leaf) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.clone())),
        )
        .expect("server config")
}

/// A TCP server that accepts and never says a word.
async fn silent() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    port
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The test harness's config turns the check off (its orders name hosts that must not be
/// looked up); this turns it on with `keys`.
const VERIFY_OFF: &str = "[verify]\nenabled = false\n";

fn verify_on(config: String, keys: &str) -> String {
    assert!(
        config.contains(VERIFY_OFF),
        "the test config has no {VERIFY_OFF:?}:\n{config}"
    );
    config.replace(VERIFY_OFF, &format!("[verify]\n{keys}"))
}

fn settings(ca: &Path, retries: u32) -> VerifySettings {
    VerifySettings {
        enabled: true,
        timeout: Duration::from_secs(2),
        retries,
        retry_interval: Duration::from_millis(100),
        roots: Arc::new(verify::tls::roots(&[ca]).expect("roots")),
    }
}

fn target(port: u16, ordered: &Leaf) -> Target {
    Target {
        url: Some(format!("https://localhost:{port}/ws/v2/sagsopslag")),
        old_url: None,
        expected: Expected::Fingerprint {
            sha256: ordered.sha256(),
        },
    }
}

fn check_named<'r>(r: &'r Report, name: &str) -> &'r spdesk::orders::verification::Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check in {r:#?}"))
}

#[tokio::test]
async fn the_checks_of_an_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let right = ca.leaf("localhost", 2026, 2030);
    let other = ca.leaf("localhost", 2026, 2030);
    let s = settings(&ca_file, 0);

    // The ordered certificate, answering 200: every check passes.
    let ok = serve(vec![right.clone()], 200).await;
    let r = verify::check(&target(ok.port, &right), &s).await;
    assert!(r.passed, "{r:#?}");
    assert_eq!(r.attempts, 1);
    assert!(
        check_named(&r, "certificate")
            .detail
            .contains(&right.sha256())
    );

    // Another certificate of the same CA: a mismatch naming both fingerprints.
    let r = verify::check(&target(ok.port, &other), &s).await;
    assert!(!r.passed);
    let c = check_named(&r, "certificate");
    assert_eq!(c.passed, Some(false));
    assert!(
        c.detail.contains(&right.sha256()) && c.detail.contains(&other.sha256()),
        "{c:?}"
    );
    assert_eq!(check_named(&r, "chain").passed, Some(true));

    // Expired: the chain fails although the leaf is the ordered one.
    let expired = ca.leaf("localhost", 2024, 2025);
    let srv = serve(vec![expired.clone()], 200).await;
    let r = verify::check(&target(srv.port, &expired), &s).await;
    let c = check_named(&r, "chain");
    assert!(!r.passed && c.passed == Some(false), "{r:#?}");
    assert!(c.detail.contains("expired"), "{c:?}");

    // Issued for another host name.
    let elsewhere = ca.leaf("ws.other.test", 2026, 2030);
    let srv = serve(vec![elsewhere.clone()], 200).await;
    let r = verify::check(&target(srv.port, &elsewhere), &s).await;
    let c = check_named(&r, "chain");
    assert!(!r.passed && c.passed == Some(false), "{r:#?}");
    assert!(c.detail.contains("not valid for"), "{c:?}");

    // A SOAP endpoint that says 405 to GET still answers.
    let srv = serve(vec![right.clone()], 405).await;
    let r = verify::check(&target(srv.port, &right), &s).await;
    assert!(r.passed, "{r:#?}");
    assert!(check_named(&r, "http").detail.contains("405"));

    // A handshake but no HTTP answer, or garbage instead of one: not answering.
    for (status, why) in [(0, "without an HTTP answer"), (1, "not HTTP")] {
        let srv = serve(vec![right.clone()], status).await;
        let r = verify::check(&target(srv.port, &right), &s).await;
        let c = check_named(&r, "http");
        assert!(!r.passed && c.passed == Some(false), "{r:#?}");
        assert!(c.detail.contains(why), "{c:?}");
        assert_eq!(check_named(&r, "certificate").passed, Some(true));
    }

    // A `url` change: the old URL's state is reported, not judged.
    let old = format!("https://localhost:{}/old", closed_port().await);
    let t = Target {
        old_url: Some(old.clone()),
        ..target(ok.port, &right)
    };
    let r = verify::check(&t, &s).await;
    assert!(r.passed, "{r:#?}");
    let c = check_named(&r, "old_url");
    assert_eq!(c.passed, None);
    assert!(
        c.detail.contains(&format!("{old} does not answer (TCP:")),
        "{c:?}"
    );
}

#[tokio::test]
async fn nothing_listening_and_a_silent_server_fail_within_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let right = ca.leaf("localhost", 2026, 2030);
    let s = settings(&ca.write(dir.path()), 0);

    let r = verify::check(&target(closed_port().await, &right), &s).await;
    let c = check_named(&r, "reachable");
    assert!(!r.passed && c.passed == Some(false));
    assert!(c.detail.starts_with("TCP:"), "{c:?}");

    // Closed at once (a reset, as a load balancer without a backend does).
    let closing = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = closing.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = closing.accept().await {
            drop(tcp);
        }
    });
    let r = verify::check(&target(port, &right), &s).await;
    let c = check_named(&r, "reachable");
    assert!(!r.passed && c.detail.starts_with("TLS:"), "{c:?}");

    let port = silent().await;
    let start = Instant::now();
    let r = verify::check(&target(port, &right), &s).await;
    let took = start.elapsed();
    let c = check_named(&r, "reachable");
    assert!(!r.passed, "{r:#?}");
    assert!(c.detail.contains("no TLS handshake within 2s"), "{c:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "the 2 s timeout took {took:?}"
    );
}

#[tokio::test]
async fn the_right_certificate_after_the_second_retry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let right = ca.leaf("localhost", 2026, 2030);
    let other = ca.leaf("localhost", 2026, 2030);
    let leaves = vec![other.clone(), other, right.clone()];

    let srv = serve(leaves.clone(), 200).await;
    let r = verify::check(&target(srv.port, &right), &settings(&ca_file, 2)).await;
    assert!(r.passed, "{r:#?}");
    assert_eq!(r.attempts, 3);
    assert_eq!(srv.connections.load(Ordering::SeqCst), 3);

    // One retry is not enough.
    let srv = serve(leaves, 200).await;
    let r = verify::check(&target(srv.port, &right), &settings(&ca_file, 1)).await;
    assert!(!r.passed);
    assert_eq!(r.attempts, 2);
}

/// `spdesk probe` without a config: --ca trusts the test CA, --cert names the ordered
/// certificate; exit 0 passed, 1 failed, 2 usage error; --json is the report.
#[tokio::test(flavor = "multi_thread")]
async fn probe_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new();
    let ca_file = ca.write(dir.path());
    let right = ca.leaf("localhost", 2026, 2030);
    let other = ca.leaf("localhost", 2026, 2030);
    let cert = dir.path().join("ordered.pem");
    std::fs::write(&cert, &right.pem).expect("write");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, &other.pem).expect("write");
    let srv = serve(vec![right.clone()], 200).await;
    let url = format!("https://localhost:{}/ws", srv.port);
    let probe = |args: &[&str]| {
        let dir = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_spdesk"))
                    .arg("probe")
                    .args(&args)
                    .current_dir(&dir)
                    .env_remove("SPDESK_CONFIG")
                    .output()
                    .expect("spdesk runs")
            })
            .await
            .expect("join")
        }
    };
    let ca_arg = ca_file.to_string_lossy().to_string();
    let cert_arg = cert.to_string_lossy().to_string();
    let out = probe(&[&url, "--ca", &ca_arg, "--cert", &cert_arg]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("PASSED") && stdout.contains(&right.sha256()),
        "{stdout}"
    );

    let other_arg = other_file.to_string_lossy().to_string();
    let out = probe(&[&url, "--ca", &ca_arg, "--cert", &other_arg, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["passed"], false);
    assert_eq!(json["observation"]["leaf"]["sha256"], right.sha256());

    // Without --ca the test CA is not trusted: the chain fails.
    let out = probe(&[&url]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not trusted"));

    // Usage errors.
    assert_eq!(probe(&["http://localhost/"]).await.status.code(), Some(2));
    let missing = dir.path().join("missing.pem").to_string_lossy().to_string();
    assert_eq!(
        probe(&[&url, "--cert", &missing]).await.status.code(),
        Some(2)
    );
}

// ----- the flow: orders execute checks first -----

/// The webservice form ordering a new certificate for `url` in production, the certificate
/// attached as ny.cer.
fn certificate_order(id: &str, helpdesk: &str, url: &str, cert_pem: &str) -> Vec<u8> {
    let form = WsForm::new(id, FA);
    let mut text =
        String::from("Ændring af teknisk konfiguration for serviceudbyders webservice\n\n");
    for (label, lines) in form.rows() {
        let value = match label {
            "Miljø" => "Produktion".to_string(),
            "Ændringer" => "☒ SSL-certifikat ☐ URL ☐ Datatype (InfRef) ☐ Sikkerhedsmodel".into(),
            "Nuværende URL" => url.to_string(),
            "Ny URL" => continue,
            _ => lines.join(" "),
        };
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str("Nyt SSL-certifikat: ny.cer\n");
    MessageBuilder::new()
        .from(("Karin Holm", FA))
        .to(("Serviceplatformens Helpdesk", helpdesk))
        .subject(format!("Bestilling: nyt certifikat {id}"))
        .message_id(format!("{id}@example.test"))
        .date(Utc::now().timestamp())
        .text_body(text)
        .attachment(
            "application/x-x509-ca-cert",
            "ny.cer",
            cert_pem.as_bytes().to_vec(),
        )
        .write_to_vec()
        .expect("the mail builds")
}

/// The gennemført receipt about `id` in the requester's mailbox.
async fn receipt(stack: &MailStack, reference: &str, id: &str) -> String {
    mail_text(stack, FA, reference, id, "Ændringen er gennemført").await
}

/// The text of the mail to `user` about `reference` and `id` whose subject or first line
/// starts with `what`.
async fn mail_text(stack: &MailStack, user: &str, reference: &str, id: &str, what: &str) -> String {
    let start = Instant::now();
    loop {
        for raw in stack.fetch_or_empty(user, "INBOX").await {
            if let Some(m) = Mail::parse(&raw, 2)
                && m.subject.contains(reference)
                && let Some(text) = m.text
                && text.contains(id)
                && (text.starts_with(what) || m.subject.contains(what))
            {
                return text;
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no mail {what:?} about {id} to {user}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn events(d: &Daemon, reference: &str, action: &str) -> Vec<serde_json::Value> {
    let order = d.order(reference);
    let all = order["events"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|e| e["action"] == action).collect()
}

/// Mails two certificate orders for `url` to the daemon's Helpdesk, one with the right
/// certificate and one with a wrong one (each with its BestillingsID), and waits until both are
/// approved; their references.
async fn order_both(
    stack: &MailStack,
    d: &Daemon,
    (ok_id, right): (&str, &Leaf),
    (bad_id, wrong): (&str, &Leaf),
    url: &str,
) -> (String, String) {
    let hd = d.helpdesk();
    stack
        .send(FA, hd, &certificate_order(ok_id, hd, url, &right.pem))
        .await;
    stack
        .send(FA, hd, &certificate_order(bad_id, hd, url, &wrong.pem))
        .await;
    (
        d.wait_state(ok_id, "approved", WAIT).await,
        d.wait_state(bad_id, "approved", WAIT).await,
    )
}

fn unique(tag: &str) -> String {
    format!(
        "VER-{tag}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn executing_a_certificate_order_checks_it_first() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-verify@example.test";
    stack.add_users(&[hd]);
    let mut d = Daemon::new(&stack, hd);
    let ca = TestCa::new();
    let ca_file = ca.write(d.dir());
    d.edit_config(|c| {
        verify_on(
            c.replace(
                "[rules]\n",
                &format!("[rules]\ntrusted_ca_file = \"{}\"\n", ca_file.display()),
            )
            .replace("poll_interval = \"60s\"", "poll_interval = \"2s\""),
            "enabled = true\ntimeout = \"2s\"\nretries = 1\nretry_interval = \"1s\"\n",
        )
    });
    d.start();
    let right = ca.leaf("localhost", 2026, 2030);
    let wrong = ca.leaf("localhost", 2026, 2030);
    let srv = serve(vec![right.clone()], 405).await;
    let url = format!("https://localhost:{}/ws/v2/sagsopslag", srv.port);
    let (ok_id, bad_id) = (unique("OK"), unique("BAD"));
    let (ok, bad) = order_both(&stack, &d, (&ok_id, &right), (&bad_id, &wrong), &url).await;
    let early = ["--early", "--reason", "aftalt"];

    // The ordered certificate is served: executed, and the receipt names its fingerprint.
    let out = d.cli_as(
        "operatoer",
        &[&["orders", "execute", &ok][..], &early].concat(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("approved -> executed"), "{stdout}");
    let text = receipt(&stack, &ok, &ok_id).await;
    let line = format!(
        "Vi har kontrolleret, at {url} svarer og præsenterer det bestilte certifikat (SHA-256 {}).",
        right.sha256()
    );
    assert!(text.contains(&line), "{text}");
    let passed = events(&d, &ok, "verified");
    assert_eq!(passed.len(), 1, "{passed:#?}");
    assert!(
        passed[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains(&right.sha256())
    );

    // Another certificate is served than ordered: the order stays approved and the person
    // reads what failed, both fingerprints.
    let out = d.cli_as(
        "operatoer",
        &[&["orders", "execute", &bad][..], &early].concat(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the check of the change failed")
            && stderr.contains(&right.sha256())
            && stderr.contains(&wrong.sha256())
            && stderr.contains("--unverified --reason"),
        "{stderr}"
    );
    assert_eq!(d.order(&bad)["state"], "approved");
    let failed = events(&d, &bad, "verification failed");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("2 forsøg")
    );
    let shown = d.cli(&["orders", "show", &bad]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("operatoer  kontrol ikke bestået: https://localhost:"),
        "{shown}"
    );

    // `spdesk verify` of the executed order: exit 0, the report as JSON, recorded; no such
    // order is a usage error.
    let out = d.cli_as("operatoer", &["verify", &ok, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["passed"], true);
    assert_eq!(json["expected"]["sha256"], right.sha256());
    assert_eq!(events(&d, &ok, "verified").len(), 2);
    assert_eq!(d.cli(&["verify", "SP-1999-00001"]).status.code(), Some(2));

    // `spdesk verify` says the same, exit 1, and records it too.
    let out = d.cli_as("operatoer", &["verify", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL certificate"));
    assert_eq!(events(&d, &bad, "verification failed").len(), 2);

    // Executed anyway, on purpose: the receipt says the change could not be confirmed.
    let out = d.cli_as(
        "operatoer",
        &[
            "orders",
            "execute",
            &bad,
            "--early",
            "--unverified",
            "--reason",
            "kunden har bekræftet",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = receipt(&stack, &bad, &bad_id).await;
    assert!(
        text.contains("Vi har ikke kunnet bekræfte ændringen automatisk:")
            && text.contains(&wrong.sha256()),
        "{text}"
    );
    let executed = events(&d, &bad, "execute");
    assert!(
        executed[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("udført uden bestået kontrol: kunden har bekræftet"),
        "{executed:#?}"
    );
    d.terminate();
    d.wait_exit(WAIT).await;
}

/// The executor: its command succeeds, then the change is checked; the ordered certificate
/// served → executed with the fingerprint in the receipt; another one → a failure, and the
/// incident mail says what failed and carries the check in the history.
#[tokio::test(flavor = "multi_thread")]
async fn the_executor_checks_the_change_its_command_made() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-verify-exec@example.test";
    stack.add_users(&[hd]);
    let mut d = Daemon::new(&stack, hd);
    let ca = TestCa::new();
    let ca_file = ca.write(d.dir());
    let systems = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systems.csv");
    d.edit_config(|c| {
        verify_on(
            c.replace(
                "[rules]\n",
                &format!(
                    "[rules]\ntrusted_ca_file = \"{}\"\nsystems_file = \"{}\"\n",
                    ca_file.display(),
                    systems.display()
                ),
            )
            .replace(
                "[executors]\n",
                "[executors]\nwebservice = \"echo Certifikatet er installeret\"\n",
            )
            .replace("poll_interval = \"60s\"", "poll_interval = \"2s\""),
            "timeout = \"2s\"\nretries = 1\nretry_interval = \"1s\"\n",
        )
    });
    d.start();
    let right = ca.leaf("localhost", 2026, 2030);
    let wrong = ca.leaf("localhost", 2026, 2030);
    let srv = serve(vec![right.clone()], 200).await;
    let url = format!("https://localhost:{}/ws", srv.port);
    let (ok_id, bad_id) = (unique("EXOK"), unique("EXBAD"));
    let (ok, bad) = order_both(&stack, &d, (&ok_id, &right), (&bad_id, &wrong), &url).await;

    // Due in a moment; the executor's round at the next start takes them.
    let soon = (Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    for r in [&ok, &bad] {
        let out = d.cli(&["orders", "reschedule", r, "--at", &soon, "--reason", "nu"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    d.terminate();
    d.wait_exit(WAIT).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    d.start();

    let text = receipt(&stack, &ok, &ok_id).await;
    assert!(text.contains("Certifikatet er installeret"), "{text}");
    assert!(
        text.contains(&format!(
            "præsenterer det bestilte certifikat (SHA-256 {})",
            right.sha256()
        )),
        "{text}"
    );
    let incident = mail_text(&stack, &d.staff(), &bad, &bad_id, "Incident").await;
    assert!(
        incident.contains("the check of the change failed")
            && incident.contains(&wrong.sha256())
            && incident.contains("kontrol ikke bestået"),
        "{incident}"
    );
    let orders = d.orders();
    let state = |r: &str| {
        orders
            .iter()
            .find(|o| o["ref"] == r)
            .map(|o| o["state"].clone())
    };
    assert_eq!(state(&ok), Some("executed".into()));
    assert_eq!(state(&bad), Some("failed".into()));
    assert_eq!(events(&d, &bad, "verification failed").len(), 1);
    d.terminate();
    d.wait_exit(WAIT).await;
}

/// "Gennemført" in the web console checks first: another certificate served → refused (409)
/// in Danish with what failed, the order still approved and the check in its timeline; with
/// "Uden bestået kontrol" and a reason → executed.
#[tokio::test(flavor = "multi_thread")]
async fn gennemfoert_in_the_web_console_checks_first() {
    use common::console::Console;
    let stack = MailStack::shared(&[]);
    let hd = "hd-verify-web@example.test";
    stack.add_users(&[hd]);
    let mut c = Console::start(&stack, hd, "").await;
    c.add_user("hanne", "operator");
    let ca = TestCa::new();
    let ca_file = ca.write(c.daemon.dir());
    c.daemon.terminate();
    c.daemon.wait_exit(WAIT).await;
    c.daemon.edit_config(|t| {
        verify_on(
            t.replace(
                "[rules]\n",
                &format!("[rules]\ntrusted_ca_file = \"{}\"\n", ca_file.display()),
            )
            .replace("poll_interval = \"60s\"", "poll_interval = \"2s\""),
            "timeout = \"2s\"\nretries = 3\nretry_interval = \"10s\"\n",
        )
    });
    c.daemon.start();
    c.daemon.wait_log("web server listening", 2, WAIT).await;

    let right = ca.leaf("localhost", 2026, 2030);
    let wrong = ca.leaf("localhost", 2026, 2030);
    let srv = serve(vec![right.clone()], 200).await;
    let url = format!("https://localhost:{}/ws", srv.port);
    let id = unique("WEB");
    stack
        .send(FA, hd, &certificate_order(&id, hd, &url, &wrong.pem))
        .await;
    let reference = c.daemon.wait_state(&id, "approved", WAIT).await;

    let b = c.signed_in_without_redirects("hanne").await;
    let action = format!("/orders/{reference}/gennemfoert");
    let early = [("tidlig", "ja"), ("begrundelse", "aftalt")];
    let start = Instant::now();
    let page = b.submit("/", &action, &early).await;
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "the console tries once, not with the retries"
    );
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        page.body
            .contains("Kontrollen af ændringen er ikke bestået")
            && page.body.contains(&wrong.sha256())
            && page.body.contains(&right.sha256()),
        "{}",
        page.body
    );
    assert_eq!(c.daemon.order(&reference)["state"], "approved");
    let order_page = b.get(&format!("/orders/{reference}")).await;
    assert!(
        order_page.body.contains("kontrol ikke bestået")
            && order_page.body.contains("Uden bestået kontrol"),
        "{}",
        order_page.body
    );

    let mut anyway = early.to_vec();
    anyway.extend([
        ("ukontrolleret", "ja"),
        ("ukontrolleret_begrundelse", "kunden har bekræftet"),
    ]);
    let page = b.submit("/", &action, &anyway).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(c.daemon.order(&reference)["state"], "executed");
    let text = receipt(&stack, &reference, &id).await;
    assert!(
        text.contains("Vi har ikke kunnet bekræfte ændringen automatisk"),
        "{text}"
    );
    c.daemon.terminate();
    c.daemon.wait_exit(WAIT).await;
}
