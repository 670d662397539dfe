//! The test harness itself, over the real Dovecot and Postfix.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{FA, HELPDESK, MailStack};

const WAIT: Duration = Duration::from_secs(20);

fn message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\nTo: <{to}>\nSubject: {subject}\nMessage-ID: <{subject}@harness.test>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\n{body}"
    )
    .into_bytes()
}

/// The body of a fetched message (after the first empty line).
fn body_of(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|i| raw.get(i + 4..))
        .unwrap_or(b"")
}

fn header_has(raw: &[u8], needle: &str) -> bool {
    let head_len = raw.len() - body_of(raw).len();
    String::from_utf8_lossy(&raw[..head_len]).contains(needle)
}

#[tokio::test]
async fn smtp_mail_arrives_in_inbox_with_body_intact() {
    let stack = MailStack::shared(&[]);
    stack.add_users(&["smtp-body@example.test"]);
    let body = "Hej Helpdesk,\n\nBestilling af ændring: æøå ÆØÅ.\n.a line starting with a dot\n\
                ..two dots\n\nMed venlig hilsen\nFA\n";
    let raw = message(FA, "smtp-body@example.test", "smtp-body", body);
    stack.send(FA, "smtp-body@example.test", &raw).await;
    let got = stack
        .wait_for("smtp-body@example.test", "INBOX", 1, WAIT)
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(body_of(&got[0]), body.replace('\n', "\r\n").as_bytes());
    assert!(header_has(&got[0], "Subject: smtp-body"));
    assert!(
        header_has(&got[0], "Received: from"),
        "Postfix adds a Received header"
    );
}

#[tokio::test]
async fn default_users_exchange_mail() {
    let stack = MailStack::shared(&[]);
    let subject = format!("default-users-{}", std::process::id());
    let raw = message(FA, HELPDESK, &subject, "to the helpdesk\n");
    stack.send(FA, HELPDESK, &raw).await;
    // other tests may use the default users too: look for our message only
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let msgs = stack.fetch_all(HELPDESK, "INBOX").await;
        if msgs
            .iter()
            .any(|m| header_has(m, &format!("Subject: {subject}")))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mail from {FA} never reached {HELPDESK}:\n{}",
            stack.postfix_log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn lmtp_fills_a_backlog_in_order() {
    let stack = MailStack::shared(&["lmtp-backlog@example.test"]);
    for i in 0..25 {
        let raw = message(FA, "lmtp-backlog@example.test", &format!("n{i}"), "x\n");
        stack.deliver_lmtp("lmtp-backlog@example.test", &raw).await;
    }
    // LMTP is synchronous: everything is there at once
    let got = stack.fetch_all("lmtp-backlog@example.test", "INBOX").await;
    assert_eq!(got.len(), 25);
    for (i, m) in got.iter().enumerate() {
        assert!(header_has(m, &format!("Subject: n{i}\r\n")), "message {i}");
    }
}

#[tokio::test]
async fn unknown_recipients_are_refused_not_queued() {
    let stack = MailStack::shared(&[]);
    let raw = message(FA, "nobody@example.test", "unknown", "x\n");
    let err = stack
        .try_send(FA, &["nobody@example.test"], &raw)
        .await
        .expect_err("unknown user in our domain");
    assert!(err.contains("550"), "{err}");
    let err = stack
        .try_send(FA, &["someone@elsewhere.invalid"], &raw)
        .await
        .expect_err("foreign domain");
    assert!(err.contains("554"), "{err}");
    let err = stack
        .try_send(FA, &[HELPDESK, "nobody@example.test"], &raw)
        .await
        .expect_err("one bad recipient fails the transaction");
    assert!(err.contains("nobody@example.test"), "{err}");
}

#[tokio::test]
async fn users_can_be_added_in_new_domains() {
    let stack = MailStack::shared(&[]);
    stack.add_users(&["someone@kommune.test"]);
    assert!(stack.users().iter().any(|u| u == "someone@kommune.test"));
    let raw = message(FA, "someone@kommune.test", "new-domain", "hello\n");
    stack.send(FA, "someone@kommune.test", &raw).await;
    let got = stack
        .wait_for("someone@kommune.test", "INBOX", 1, WAIT)
        .await;
    assert!(header_has(&got[0], "Subject: new-domain"));
}

#[tokio::test]
async fn append_creates_mailboxes_and_list_shows_them() {
    let stack = MailStack::shared(&["folders@example.test"]);
    let raw = message(FA, "folders@example.test", "filed", "kept\n");
    stack
        .append("folders@example.test", "Behandlet", &raw)
        .await;
    stack
        .append("folders@example.test", "Behandlet", &raw)
        .await;
    let boxes = stack.list_mailboxes("folders@example.test").await;
    assert!(boxes.iter().any(|b| b == "INBOX"), "{boxes:?}");
    assert!(boxes.iter().any(|b| b == "Behandlet"), "{boxes:?}");
    assert_eq!(
        stack
            .fetch_all("folders@example.test", "Behandlet")
            .await
            .len(),
        2
    );
    assert!(
        stack
            .try_fetch_all("folders@example.test", "NoSuchBox")
            .await
            .is_err()
    );
    // only a mailbox the server does not list reads as empty; a failed login is an error
    assert_eq!(
        stack
            .try_fetch_existing("folders@example.test", "NoSuchBox")
            .await,
        Ok(None)
    );
    assert!(
        stack
            .fetch_or_empty("folders@example.test", "NoSuchBox")
            .await
            .is_empty()
    );
    assert!(
        stack
            .try_fetch_existing("nobody@example.test", "INBOX")
            .await
            .is_err()
    );
    assert!(
        stack
            .fetch_all("folders@example.test", "INBOX")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn shared_stack_is_one_while_held() {
    let a = MailStack::shared(&[]);
    let b = MailStack::shared(&["shared-extra@example.test"]);
    assert!(Arc::ptr_eq(&a, &b));
    assert!(a.users().iter().any(|u| u == "shared-extra@example.test"));
}

fn master_pids(stack: &MailStack) -> Vec<String> {
    ["DOVECOT_PID_FILE", "POSTFIX_PID_FILE"]
        .iter()
        .map(|k| {
            let file = stack.env().get(*k).expect(k);
            std::fs::read_to_string(file)
                .expect("pid file")
                .trim()
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn two_stacks_run_side_by_side_and_stop_cleanly() {
    let one = MailStack::start(&[]);
    let two = MailStack::start(&["only-two@example.test"]);
    let ports = |s: &MailStack| [s.imap_port(), s.smtp_port(), s.lmtp_port()];
    for p in ports(&one) {
        assert!(!ports(&two).contains(&p), "port {p} used twice");
    }
    assert_ne!(one.dir(), two.dir());

    one.send(FA, HELPDESK, &message(FA, HELPDESK, "one", "1\n"))
        .await;
    two.send(FA, HELPDESK, &message(FA, HELPDESK, "two", "2\n"))
        .await;
    let got_one = one.wait_for(HELPDESK, "INBOX", 1, WAIT).await;
    let got_two = two.wait_for(HELPDESK, "INBOX", 1, WAIT).await;
    assert_eq!(got_one.len(), 1);
    assert_eq!(got_two.len(), 1);
    assert!(header_has(&got_one[0], "Subject: one"));
    assert!(header_has(&got_two[0], "Subject: two"));
    // users are per stack
    assert!(
        one.try_send(FA, &["only-two@example.test"], b"Subject: x\n\nx\n")
            .await
            .is_err()
    );

    let pids: Vec<String> = master_pids(&one)
        .into_iter()
        .chain(master_pids(&two))
        .collect();
    let dirs = [one.dir().to_path_buf(), two.dir().to_path_buf()];
    drop(one);
    drop(two);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "master {pid} still runs"
        );
    }
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[tokio::test]
async fn outages_keep_mail() {
    let stack = MailStack::start(&[]);
    stack
        .deliver_lmtp(HELPDESK, &message(FA, HELPDESK, "before", "kept\n"))
        .await;

    // Dovecot restart: the mail is still there
    stack.restart_dovecot();
    let got = stack.fetch_all(HELPDESK, "INBOX").await;
    assert_eq!(got.len(), 1);
    assert!(header_has(&got[0], "Subject: before"));

    // Dovecot down: Postfix queues, and delivers once Dovecot is back
    stack.stop_dovecot();
    assert!(stack.try_fetch_all(HELPDESK, "INBOX").await.is_err());
    // a server that does not answer is an error, never "no such mailbox" (empty)
    assert!(
        stack
            .try_fetch_existing(HELPDESK, "Quarantine")
            .await
            .is_err()
    );
    assert_eq!(stack.queued(), 0);
    stack
        .send(FA, HELPDESK, &message(FA, HELPDESK, "queued", "q\n"))
        .await;
    assert_eq!(stack.queued(), 1, "Postfix holds it while LMTP is down");
    stack.start_dovecot();
    stack.flush_queue();
    let got = stack.wait_for(HELPDESK, "INBOX", 2, WAIT).await;
    assert!(header_has(&got[1], "Subject: queued"));
    assert_eq!(stack.queued(), 0, "delivered, so no longer queued");

    // Postfix down: SMTP is refused; back up, it works again
    stack.stop_postfix();
    let err = stack
        .try_send(FA, &[HELPDESK], &message(FA, HELPDESK, "refused", "r\n"))
        .await
        .expect_err("postfix is down");
    assert!(err.contains("connect"), "{err}");
    stack.start_postfix();
    stack
        .send(FA, HELPDESK, &message(FA, HELPDESK, "after", "a\n"))
        .await;
    let got = stack.wait_for(HELPDESK, "INBOX", 3, WAIT).await;
    assert!(header_has(&got[2], "Subject: after"));
    assert!(stack.dovecot_log().contains("starting up"));
    assert!(stack.postfix_log().contains("status=sent"));
}

#[tokio::test]
async fn tls_stack_serves_a_certificate_rustls_trusts() {
    use tokio::io::AsyncReadExt;
    let stack = MailStack::start_tls(&[]);
    let imaps = stack.imaps_port().expect("IMAPS port");
    let ca = stack.tls_ca().expect("CA file");
    let pem = std::fs::read(&ca).expect("read CA");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.expect("CA pem")).expect("add CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    for name in ["localhost", "127.0.0.1"] {
        let tcp = tokio::net::TcpStream::connect((common::HOST, imaps))
            .await
            .expect("connect IMAPS");
        let server_name = rustls::pki_types::ServerName::try_from(name)
            .expect("name")
            .to_owned();
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake as {name}: {e}"));
        let mut greeting = [0u8; 4];
        tls.read_exact(&mut greeting).await.expect("greeting");
        assert_eq!(&greeting, b"* OK");
    }
    // plain IMAP and SMTP still work on a TLS stack
    stack
        .send(FA, HELPDESK, &message(FA, HELPDESK, "tls", "t\n"))
        .await;
    stack.wait_for(HELPDESK, "INBOX", 1, WAIT).await;
}

/// The fixtures' own holiday table (the dates every daemon test orders for) and the daemon's
/// calendar agree on every day of the years the table covers: a wrong row in either shows.
#[test]
fn the_fixtures_calendar_agrees_with_the_daemons() {
    let calendar =
        spdesk::rules::calendar::Calendar::new(&["12-24", "12-31"]).expect("closed days");
    let mut day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    let end = chrono::NaiveDate::from_ymd_opt(2035, 12, 31).expect("a date");
    let mut closed = 0;
    while day <= end {
        assert_eq!(
            common::fixtures::is_working_day(day),
            calendar.is_working_day(day),
            "{day}"
        );
        closed += usize::from(!calendar.is_working_day(day));
        day = day.succ_opt().expect("a next day");
    }
    // 10 years of weekends (1043 or 1044 days) plus the weekday holidays and closed days
    assert!(closed > 1100, "{closed} closed days");
}

/// An OAuth stack takes mail from the daemon's address only after a login as that user (so a
/// receipt that arrives proves the daemon logged in); other senders need none.
#[tokio::test]
async fn an_oauth_stack_wants_a_login_for_the_helpdesk_address() {
    let stack = MailStack::start_oauth(&[]);
    let refused = stack
        .try_send(HELPDESK, &[FA], &message(HELPDESK, FA, "nologin", "x\n"))
        .await
        .expect_err("mail from the Helpdesk without a login");
    assert!(
        refused.contains("553") || refused.contains("554"),
        "{refused}"
    );
    stack
        .send(FA, HELPDESK, &message(FA, HELPDESK, "fromfa", "y\n"))
        .await;
    stack.wait_for(HELPDESK, "INBOX", 1, WAIT).await;
}
