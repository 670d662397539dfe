//! Header injection over the real Dovecot + Postfix: a mail whose Subject decodes (RFC 2047)
//! to a line break followed by a Bcc header and a body, and whose Message-ID carries a bare
//! CR, is answered with receipts whose header block holds exactly spdesk's headers (the
//! loop-safety ones among them) and the attacker's text only inside the Subject.

mod common;

use std::time::Duration;

use common::daemon::started;
use common::fixtures::{WsForm, form_mail};
use common::{FA, HELPDESK};

const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(30);

/// The headers every receipt carries, and nothing else (no In-Reply-To/References: the
/// original's Message-ID is not a valid one, so the receipt is not threaded).
const RECEIPT_HEADERS: [&str; 10] = [
    "auto-submitted",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "subject",
    "to",
    "x-auto-response-suppress",
    "x-loop",
];

#[tokio::test]
async fn an_encoded_line_break_in_the_subject_adds_no_header_to_the_receipts() {
    let (stack, mut d) = started(CONNECT).await;
    let evil = "evil@example.test";
    stack.add_users(&[evil]);
    let form = WsForm::new("KMB-IT-0666", FA);
    let plain = form_mail(
        FA,
        HELPDESK,
        "SUBJECT-PLACEHOLDER",
        "MID-PLACEHOLDER@fa.example.test",
        &form.docx(),
    );
    let raw = String::from_utf8(plain)
        .expect("the fixture is ASCII")
        .replacen(
            "SUBJECT-PLACEHOLDER",
            "=?utf-8?q?x=0D=0ABcc:_evil@example.test=0D=0A=0D=0Abody?=",
            1,
        )
        .replacen("MID-PLACEHOLDER", "abc\rdef", 1);
    stack.send(FA, HELPDESK, raw.as_bytes()).await;

    let receipts = d
        .wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;
    assert_eq!(receipts.len(), 2, "{}", d.log_tail());
    for r in &receipts {
        let m = mail_parser::MessageParser::default()
            .parse(r)
            .expect("a receipt parses");
        // Postfix and Dovecot add their trace headers on delivery; the rest is ours.
        let mut names: Vec<String> = m
            .headers_raw()
            .map(|(n, _)| n.to_ascii_lowercase())
            .filter(|n| !matches!(n.as_str(), "return-path" | "received" | "delivered-to"))
            .collect();
        names.sort();
        assert_eq!(names, RECEIPT_HEADERS, "{}", String::from_utf8_lossy(r));
        let subject = m.subject().unwrap_or("");
        assert!(
            subject.starts_with("SV: [SP-") && subject.ends_with("] x Bcc: evil@example.test body"),
            "{subject:?}"
        );
    }
    // The daemon sent nothing else: no copy reached the would-be Bcc.
    let outbox = d.outbox().await;
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert!(
        stack.fetch_all(evil, "INBOX").await.is_empty(),
        "a receipt reached the injected Bcc"
    );
}
