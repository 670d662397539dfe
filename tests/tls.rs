//! The daemon over TLS against the real servers: implicit TLS (IMAPS, SMTPS) and STARTTLS on
//! IMAP and SMTP, each verifying the servers' certificate against the configured CA.
//!
//! The test stack also takes plaintext (logins without TLS, SMTP without STARTTLS), so a
//! receipt arriving proves nothing about TLS: the servers' own logs must show that the
//! daemon's IMAP login and every SMTP session that handed over a receipt were encrypted. And
//! a certificate the daemon must not trust (another CA, another name, expired) must stop it
//! before it logs in or hands over a mail, on each of the four ways in.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::fixtures::received;
use common::{FA, HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(30);

/// How the daemon reaches a server: `"tls"` (implicit) or `"starttls"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Implicit,
    StartTls,
}

impl Way {
    fn config(self) -> &'static str {
        match self {
            Way::Implicit => "tls",
            Way::StartTls => "starttls",
        }
    }
}

/// Rewrites one section's (`imap` or `smtp`) connection lines of the test config for TLS
/// `way`, trusting `ca`.
fn use_tls(d: &Daemon, stack: &MailStack, section: &str, way: Way, ca: &std::path::Path) {
    let (plain_port, port) = match (section, way) {
        ("imap", Way::Implicit) => (stack.imap_port(), stack.imaps_port().expect("IMAPS port")),
        ("imap", Way::StartTls) => (stack.imap_port(), stack.imap_port()),
        (_, Way::Implicit) => (stack.smtp_port(), stack.smtps_port().expect("SMTPS port")),
        (_, Way::StartTls) => (stack.smtp_port(), stack.smtp_port()),
    };
    d.edit_config(|text| {
        let old = format!("port = {plain_port}\ntls = \"none\"");
        assert_eq!(text.matches(&old).count(), 1, "[{section}] in:\n{text}");
        text.replacen(
            &old,
            &format!(
                "port = {port}\ntls = \"{}\"\nca_file = \"{}\"",
                way.config(),
                ca.display()
            ),
            1,
        )
    });
}

/// Dovecot's log lines of `user`'s IMAP logins.
fn imap_logins(stack: &MailStack, user: &str) -> Vec<String> {
    let needle = format!(" Login: user=<{user}>");
    stack
        .dovecot_log()
        .lines()
        .filter(|l| l.contains("imap-login:") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Every receipt in fa's INBOX came through an SMTP session that Postfix logged as TLS, and
/// every IMAP login of the Helpdesk's user was over TLS (Dovecot says so per login).
async fn assert_tls_on_the_wire(stack: &MailStack, d: &Daemon) {
    let logins = imap_logins(stack, HELPDESK);
    assert!(
        !logins.is_empty(),
        "no IMAP login of {HELPDESK} in Dovecot's log\n{}",
        stack.dovecot_log()
    );
    for l in &logins {
        assert!(l.contains(", TLS"), "an IMAP login without TLS: {l}");
    }
    let receipts = stack.fetch_all(FA, "INBOX").await;
    assert!(!receipts.is_empty(), "no receipts\n{}", d.log_tail());
    for raw in &receipts {
        let mid = received(raw).message_id;
        let sessions = stack.smtp_sessions_for(&mid);
        assert!(
            !sessions.is_empty(),
            "Postfix's log has no session that took {mid}:\n{}",
            stack.postfix_log()
        );
        for s in &sessions {
            assert!(
                s.iter().any(|l| l.contains("TLS connection established")),
                "{mid} came over SMTP without TLS: {s:#?}"
            );
        }
    }
}

async fn receipts_over_tls(way: Way) {
    let stack = MailStack::start_tls(&[]);
    let ca = stack.tls_ca().expect("a TLS stack has a CA");
    let mut d = Daemon::new(&stack, HELPDESK);
    use_tls(&d, &stack, "imap", way, &ca);
    use_tls(&d, &stack, "smtp", way, &ca);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack
        .send_form(&format!("TLS-{}-1", way.config()), "Ny URL")
        .await;
    d.wait_form_receipts(&stack, RECEIPTS).await;
    assert_tls_on_the_wire(&stack, &d).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_imap_and_smtp() {
    receipts_over_tls(Way::Implicit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_imap_and_smtp() {
    receipts_over_tls(Way::StartTls).await;
}

/// What the daemon must refuse, and what rustls calls it in the daemon's log.
#[derive(Debug, Clone, Copy)]
enum BadCert {
    /// The server's certificate is fine, but the daemon trusts another CA.
    UntrustedCa,
    /// Signed by the trusted CA, for another host name.
    WrongName,
    /// Signed by the trusted CA, expired.
    Expired,
}

impl BadCert {
    fn stack(self) -> MailStack {
        match self {
            BadCert::UntrustedCa => MailStack::start_tls(&[]),
            BadCert::WrongName => MailStack::start_tls_bad(&[], "wrong-name"),
            BadCert::Expired => MailStack::start_tls_bad(&[], "expired"),
        }
    }
    fn ca(self, stack: &MailStack) -> std::path::PathBuf {
        match self {
            BadCert::UntrustedCa => stack.tls_other_ca(),
            BadCert::WrongName | BadCert::Expired => stack.tls_ca(),
        }
        .expect("a TLS stack has its CAs")
    }
    /// rustls's words for it (its Display of the certificate error).
    fn reason(self) -> &'static [&'static str] {
        match self {
            BadCert::UntrustedCa => &["UnknownIssuer", "unknown issuer"],
            BadCert::WrongName => &["NotValidForName", "not valid for name"],
            BadCert::Expired => &["Expired", "expired"],
        }
    }
}

/// The daemon's log names the certificate failure of `section` ("IMAP" or "SMTP") with
/// rustls's reason; waits for it (the positive signal before checking what did not happen).
async fn wait_refusal(d: &mut Daemon, section: &str, bad: BadCert) {
    let hint = format!("{section}: the server's TLS certificate could not be verified");
    d.wait_log(&hint, 1, CONNECT).await;
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains(&hint))
        .expect("the line just seen");
    assert!(
        bad.reason().iter().any(|r| line.contains(r)),
        "{bad:?}: the refusal does not say why ({:?}): {line}",
        bad.reason()
    );
}

/// IMAP over `way` with a certificate the daemon must refuse: it never logs in (Dovecot saw
/// no login of the Helpdesk's user), says why, and keeps trying.
async fn imap_refuses(stack: &MailStack, bad: BadCert, way: Way) {
    let mut d = Daemon::new(stack, HELPDESK);
    use_tls(&d, stack, "imap", way, &bad.ca(stack));
    d.start();
    wait_refusal(&mut d, "IMAP", bad).await;
    assert!(
        !d.log().contains("IMAP connected"),
        "{bad:?} over {way:?}: connected anyway\n{}",
        d.log_tail()
    );
    assert_eq!(
        imap_logins(stack, HELPDESK),
        Vec::<String>::new(),
        "{bad:?} over {way:?}: Dovecot saw a login"
    );
    assert!(d.poll_exit().is_none(), "the daemon keeps running");
}

/// SMTP over `way` with a certificate the daemon must refuse (IMAP plain): the form is read
/// and its receipts queued, but none is handed to Postfix; the outbox keeps them unsent.
async fn smtp_refuses(stack: &MailStack, bad: BadCert, way: Way, form: &str) {
    let mut d = Daemon::new(stack, HELPDESK);
    use_tls(&d, stack, "smtp", way, &bad.ca(stack));
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form(form, "Ny URL").await;
    d.wait_orders(1, CONNECT).await;
    wait_refusal(&mut d, "SMTP", bad).await;
    let outbox = d.outbox().await;
    assert!(
        !outbox.is_empty() && outbox.iter().all(|r| !r.sent),
        "{bad:?} over {way:?}: {outbox:?}"
    );
    let log = stack.postfix_log();
    assert!(
        !log.contains("message-id=<SP-"),
        "{bad:?} over {way:?}: Postfix took a receipt:\n{log}"
    );
    d.kill();
}

/// Every way in refuses `bad`: IMAP with STARTTLS and implicit TLS (first, so that Dovecot's
/// log shows no login of the Helpdesk at all), then SMTP with both.
async fn every_way_refuses(bad: BadCert) {
    let stack = bad.stack();
    for way in [Way::StartTls, Way::Implicit] {
        imap_refuses(&stack, bad, way).await;
    }
    for way in [Way::StartTls, Way::Implicit] {
        let form = format!("TLS-BAD-{bad:?}-{}", way.config());
        smtp_refuses(&stack, bad, way, &form).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused() {
    every_way_refuses(BadCert::UntrustedCa).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused() {
    every_way_refuses(BadCert::WrongName).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_refused() {
    every_way_refuses(BadCert::Expired).await;
}
