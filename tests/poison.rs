//! Poison mail and limits over the real servers (Dovecot + Postfix, the real `spdesk run`): a
//! mail that a reader cannot read (too deep, too large unpacked, too slow), that kills the
//! process, or that is over a `[limits]` bound goes to a person as one `review` order, its
//! sender is told once what to send instead, and nothing is lost or retried in a loop. The
//! malformed MIME of tests/corpus/mime4j goes through the daemon the same way.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use common::MailStack;
use common::daemon::{Daemon, OutboxRow};
use common::fixtures::{DOCX_TYPE, WsForm, docx_package, form_mail, received};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

/// Generous bounds: a loaded machine (two shared cores) must not fail a correct daemon.
const CONNECT: Duration = Duration::from_secs(30);
const DRAIN: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(20);

/// The tests of this file, each with a Helpdesk mailbox and a sender of its own.
const TESTS: &[&str] = &[
    "refused", "slow", "crash", "limits", "mime4j", "nested", "deep",
];

/// The stack shared by this file's tests, with every test's users from the start (a user added
/// later may meet a Postfix process that has not yet reread its tables).
fn stack() -> std::sync::Arc<MailStack> {
    let all: Vec<String> = TESTS
        .iter()
        .flat_map(|t| {
            let (h, s) = users(t);
            [h, s]
        })
        .collect();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    MailStack::shared(&all)
}

/// The Helpdesk mailbox and the sender of one test.
fn users(test: &str) -> (String, String) {
    assert!(TESTS.contains(&test), "{test} is not in TESTS");
    (
        format!("helpdesk-{test}@example.test"),
        format!("fa-{test}@example.test"),
    )
}

/// A Word document whose body is `body` (already XML).
fn document(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    )
}

/// `n` copies of an ordinary paragraph: valid Word XML that deflates to almost nothing.
fn paragraphs(n: usize) -> String {
    "<w:p><w:r><w:t>Ændring af teknisk konfiguration</w:t></w:r></w:p>".repeat(n)
}

fn mid(test: &str, what: &str) -> String {
    format!("{what}.{test}.{}@sender.example.test", std::process::id())
}

/// Starts the daemon and waits until it has read `n` mails: its INBOX empty, and `n` mails
/// between the processed and the quarantine folder.
async fn run_until_drained(stack: &MailStack, d: &mut Daemon, n: usize) {
    if d.pid().is_none() {
        d.start();
    }
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let helpdesk = d.helpdesk().to_string();
    let start = std::time::Instant::now();
    loop {
        let inbox = stack.fetch_all(&helpdesk, "INBOX").await.len();
        let moved = folder_len(stack, &helpdesk, "Processed").await
            + folder_len(stack, &helpdesk, "Quarantine").await;
        if inbox == 0 && moved >= n {
            return;
        }
        assert!(
            start.elapsed() < DRAIN,
            "waited {DRAIN:?} for {n} mails to be moved; INBOX {inbox}, moved {moved}\n{}",
            d.log_tail()
        );
        assert!(d.poll_exit().is_none(), "the daemon died\n{}", d.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Message-IDs in `user`'s `folder` (a missing folder is empty).
async fn ids_in(stack: &MailStack, user: &str, folder: &str) -> Vec<String> {
    stack
        .fetch_or_empty(user, folder)
        .await
        .iter()
        .map(|m| received(m).message_id)
        .collect()
}

async fn folder_len(stack: &MailStack, user: &str, folder: &str) -> usize {
    stack.fetch_or_empty(user, folder).await.len()
}

/// Stops the daemon (its outbox makes a last round) and checks it stopped cleanly.
async fn stop(d: &mut Daemon) {
    d.terminate();
    let status = d.wait_exit(STOP).await;
    assert!(status.success(), "exit {status}\n{}", d.log_tail());
}

/// The order made of the mail with this subject (`orders.thread_subject`), as `orders show`.
async fn order_by_subject(d: &Daemon, subject: &str) -> serde_json::Value {
    let pool = d.pool().await;
    let refs: Vec<String> = sqlx::query_scalar("SELECT ref FROM orders WHERE thread_subject = $1")
        .bind(subject)
        .fetch_all(&pool)
        .await
        .expect("orders");
    pool.close().await;
    assert_eq!(
        refs.len(),
        1,
        "one order for {subject:?}: {refs:?}\n{}",
        d.log_tail()
    );
    d.order(&refs[0])
}

fn rows_of<'a>(outbox: &'a [OutboxRow], reference: &str) -> Vec<&'a OutboxRow> {
    outbox
        .iter()
        .filter(|r| r.order.as_deref() == Some(reference))
        .collect()
}

/// The order is `review` with a `form.unreadable` finding; its sender got exactly the
/// `receipts` (kinds, once each) and the Helpdesk one review mail. Returns the order.
async fn assert_review(
    d: &Daemon,
    subject: &str,
    sender: &str,
    receipts: &[&str],
    finding: &str,
) -> serde_json::Value {
    let order = order_by_subject(d, subject).await;
    let reference = order["ref"].as_str().unwrap_or("").to_string();
    assert_eq!(order["state"], "review", "{order:#}");
    let text = order.to_string();
    assert!(text.contains("form.unreadable"), "{order:#}");
    assert!(
        text.contains(finding),
        "the order says why ({finding:?}): {order:#}"
    );
    let outbox = d.outbox().await;
    let rows = rows_of(&outbox, &reference);
    let mut to_sender: Vec<&str> = rows
        .iter()
        .filter(|r| r.recipients.iter().any(|a| a == sender))
        .map(|r| r.kind.as_str())
        .collect();
    to_sender.sort_unstable();
    let mut want = receipts.to_vec();
    want.sort_unstable();
    assert_eq!(to_sender, want, "receipts to {sender} for {reference}");
    let reviews = rows
        .iter()
        .filter(|r| r.kind == "helpdesk_vurdering" && r.recipients.iter().any(|a| *a == d.staff()))
        .count();
    assert_eq!(
        reviews, 1,
        "one review mail to the Helpdesk for {reference}"
    );
    order
}

/// What each receipt in `user`'s INBOX is: its heading (the body's first line) and subject.
async fn subjects(stack: &MailStack, user: &str) -> Vec<String> {
    stack
        .fetch_all(user, "INBOX")
        .await
        .iter()
        .map(|m| {
            let r = received(m);
            format!("{} | {}", r.heading, r.subject)
        })
        .collect()
}

/// A .docx nested deeper than `max_xml_depth` and one that unpacks to more than
/// `max_docx_unzipped_bytes`: each is a `review` order, the sender gets one "could not read"
/// receipt each, and the Helpdesk sees the reason.
#[tokio::test]
async fn a_docx_the_reader_refuses_is_one_review_order_and_one_receipt() {
    let stack = stack();
    let (helpdesk, sender) = users("refused");
    let mut d = Daemon::new(&stack, &helpdesk);
    d.edit_config(|c| {
        c.replace(
            "max_docx_unzipped_bytes = \"50 MiB\"",
            "max_docx_unzipped_bytes = \"1 MiB\"",
        )
    });

    let deep = document(&format!(
        "{}<w:p><w:r><w:t>dybt</w:t></w:r></w:p>{}",
        "<w:customXml>".repeat(400),
        "</w:customXml>".repeat(400)
    ));
    let big = document(&paragraphs(40_000));
    assert!(
        big.len() > 2_000_000,
        "the big document unpacks to over 1 MiB"
    );
    let cases = [
        (
            "Bestilling dybt dokument",
            "deep",
            docx_package(&deep),
            "deeper than",
        ),
        (
            "Bestilling stort dokument",
            "big",
            docx_package(&big),
            "more than the limit",
        ),
    ];
    for (subject, what, docx, _) in &cases {
        let raw = form_mail(&sender, &helpdesk, subject, &mid("refused", what), docx);
        stack.send(&sender, &helpdesk, &raw).await;
    }
    run_until_drained(&stack, &mut d, cases.len()).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    stop(&mut d).await;

    for (subject, _, _, why) in &cases {
        assert_review(&d, subject, &sender, &["ulaeselig"], why).await;
    }
    let got = subjects(&stack, &sender).await;
    assert_eq!(got.len(), 2, "one receipt per mail: {got:?}");
    assert!(
        got.iter()
            .all(|s| s.starts_with("Formularen kunne ikke læses |")),
        "{got:?}"
    );
    // Both stored and processed, not quarantined (Processed also holds the review mails the
    // daemon sent to the Helpdesk and then read).
    let processed = ids_in(&stack, &helpdesk, "Processed").await;
    for (_, what, _, _) in &cases {
        assert!(
            processed.contains(&mid("refused", what)),
            "{what}: not in Processed: {processed:?}"
        );
    }
    assert!(ids_in(&stack, &helpdesk, "Quarantine").await.is_empty());
}

/// A reader that takes longer than `reader_timeout` (1 ms for a document of 20 MB): the form
/// counts as unreadable, once.
#[tokio::test]
async fn a_reader_timeout_is_one_review_order_and_one_receipt() {
    let stack = stack();
    let (helpdesk, sender) = users("slow");
    let mut d = Daemon::new(&stack, &helpdesk);
    d.edit_config(|c| c.replace("reader_timeout = \"10s\"", "reader_timeout = \"1ms\""));
    let slow = docx_package(&document(&paragraphs(400_000)));
    let subject = "Bestilling langsomt dokument";
    let raw = form_mail(&sender, &helpdesk, subject, &mid("slow", "slow"), &slow);
    stack.send(&sender, &helpdesk, &raw).await;
    run_until_drained(&stack, &mut d, 1).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "a receipt", |n| n >= 1, DRAIN)
        .await;
    stop(&mut d).await;
    assert_review(&d, subject, &sender, &["ulaeselig"], "reading took longer").await;
    assert_eq!(subjects(&stack, &sender).await.len(), 1, "one receipt");
}

/// A mail that kills the process while it is processed (the `before_commit` failpoint):
/// restarted after each crash, the daemon stops trying after `max_attempts` (3), quarantines
/// the mail without reading it again (one `review` order, one receipt), and goes on with the
/// next mail.
#[tokio::test]
async fn a_mail_that_kills_the_daemon_is_quarantined_after_max_attempts() {
    let stack = stack();
    let (helpdesk, sender) = users("crash");
    let mut d = Daemon::new(&stack, &helpdesk);
    let subject = "Bestilling der vælter dæmonen";
    let poison_mid = mid("crash", "poison");
    let raw = form_mail(
        &sender,
        &helpdesk,
        subject,
        &poison_mid,
        &WsForm::new("KMB-IT-4001", &sender).docx(),
    );
    stack.send(&sender, &helpdesk, &raw).await;
    d.wait_mailbox(&stack, &helpdesk, "INBOX", "the mail", |n| n == 1, DRAIN)
        .await;

    for attempt in 1..=3 {
        d.start_with_env(&[("SPDESK_FAILPOINT", "before_commit")]);
        let status = d.wait_exit(DRAIN).await;
        assert_eq!(
            status.signal(),
            Some(6),
            "attempt {attempt}: the failpoint aborts (SIGABRT), got {status}\n{}",
            d.log_tail()
        );
        let inbox = stack.fetch_all(&helpdesk, "INBOX").await;
        assert_eq!(
            inbox.len(),
            1,
            "attempt {attempt}: the mail stays in the INBOX"
        );
        assert!(d.orders().is_empty(), "attempt {attempt}: nothing stored");
        let pool = d.pool().await;
        let attempts: i64 = sqlx::query_scalar("SELECT attempts FROM intake_attempts")
            .fetch_one(&pool)
            .await
            .expect("the attempt is counted before processing");
        assert_eq!(attempts, attempt, "attempts counted");
    }
    assert_eq!(d.log().matches("aborting on purpose").count(), 3);

    // Without the failpoint: quarantined, not read a fourth time.
    d.start();
    run_until_drained(&stack, &mut d, 1).await;
    let quarantined = stack.fetch_all(&helpdesk, "Quarantine").await;
    assert_eq!(quarantined.len(), 1, "the mail is in the quarantine folder");
    assert_eq!(received(&quarantined[0]).message_id, poison_mid);
    assert!(d.log().contains("mail quarantined"), "{}", d.log_tail());
    assert!(
        !d.log().contains("order judged"),
        "the poison mail was not judged again\n{}",
        d.log_tail()
    );

    // The daemon goes on with the next mail.
    let next = "Bestilling efter karantæne";
    let raw = form_mail(
        &sender,
        &helpdesk,
        next,
        &mid("crash", "next"),
        &WsForm::new("KMB-IT-4002", &sender).docx(),
    );
    stack.send(&sender, &helpdesk, &raw).await;
    d.wait_orders(2, DRAIN).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "3 receipts", |n| n >= 3, DRAIN)
        .await;
    stop(&mut d).await;

    let order = assert_review(
        &d,
        subject,
        &sender,
        &["ulaeselig"],
        "processing failed 3 times",
    )
    .await;
    assert!(
        order["bestillings_id"].is_null(),
        "the form was not read: {order:#}"
    );
    let next_order = order_by_subject(&d, next).await;
    assert_eq!(next_order["state"], "approved", "{next_order:#}");
    let pool = d.pool().await;
    let (disposition, note): (String, String) =
        sqlx::query_as("SELECT disposition, note FROM inbound_mail WHERE message_id = $1")
            .bind(&poison_mid)
            .fetch_one(&pool)
            .await
            .expect("the poison mail is stored");
    assert_eq!(disposition, "quarantined");
    assert!(note.contains("processing failed 3 times"), "{note}");
    let attempts: i64 = sqlx::query_scalar("SELECT MAX(attempts) FROM intake_attempts")
        .fetch_one(&pool)
        .await
        .expect("attempts");
    assert_eq!(attempts, 4, "three crashes and the quarantine; no loop");
    assert_eq!(
        subjects(&stack, &sender).await.len(),
        3,
        "one receipt + two for the next"
    );
}

/// Mails over `[limits]`: larger than `max_message_bytes`, with more attachments than
/// `max_attachments`, and with more header fields than `max_header_count`. Each is one
/// `review` order saying why, its sender is told once, and nothing is lost: the over-size and
/// over-header mails wait whole in the quarantine folder (and the latter in the database).
#[tokio::test]
async fn mails_over_the_limits_go_to_a_person_and_lose_nothing() {
    let stack = stack();
    let (helpdesk, sender) = users("limits");
    let mut d = Daemon::new(&stack, &helpdesk);
    d.edit_config(|c| {
        c.replace(
            "max_message_bytes = \"25 MB\"",
            "max_message_bytes = \"200 kB\"",
        )
        .replace("[limits]\n", "[limits]\nmax_header_count = 50\n")
    });
    let form = WsForm::new("KMB-IT-5001", &sender);

    // 300 kB: the form and a 290 kB log file.
    let large_subject = "Bestilling med stor vedhæftning";
    let large_mid = mid("limits", "large");
    let noise: Vec<u8> = (0..290_000u32)
        .map(|i| {
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(i.wrapping_mul(2_654_435_761) % 36) as usize]
        })
        .collect();
    let large = MessageBuilder::new()
        .from(("Karin Holm", sender.as_str()))
        .to(helpdesk.as_str())
        .subject(large_subject)
        .message_id(large_mid.as_str())
        .date(chrono::Utc::now().timestamp())
        .text_body("Hermed bestillingen og loggen.")
        .attachment(DOCX_TYPE, "Bestilling.docx", form.docx())
        .attachment("application/octet-stream", "server.log.bin", noise)
        .write_to_vec()
        .expect("the mail builds");
    assert!(large.len() > 300_000, "{} bytes", large.len());

    // 21 attachments (the limit is 20): the form first, then 20 screenshots.
    let many_subject = "Bestilling med mange vedhæftninger";
    let mut many = MessageBuilder::new()
        .from(("Karin Holm", sender.as_str()))
        .to(helpdesk.as_str())
        .subject(many_subject)
        .message_id(mid("limits", "many"))
        .date(chrono::Utc::now().timestamp())
        .text_body("Hermed bestillingen og skærmbilleder.")
        .attachment(DOCX_TYPE, "Bestilling.docx", form.docx());
    for n in 0..20 {
        many = many.attachment(
            "image/png",
            format!("skaermbillede-{n}.png"),
            vec![0x89, b'P', b'N', b'G'],
        );
    }
    let many = many.write_to_vec().expect("the mail builds");

    // 60 header fields (the limit is 50).
    let headers_subject = "Bestilling med mange felter i hovedet";
    let headers_mid = mid("limits", "headers");
    let mut headers = MessageBuilder::new()
        .from(("Karin Holm", sender.as_str()))
        .to(helpdesk.as_str())
        .subject(headers_subject)
        .message_id(headers_mid.as_str())
        .date(chrono::Utc::now().timestamp())
        .text_body("Hermed bestillingen.")
        .attachment(
            DOCX_TYPE,
            "Bestilling.docx",
            WsForm::new("KMB-IT-5003", &sender).docx(),
        );
    for n in 0..60 {
        headers = headers.header(format!("X-Filler-{n}"), Raw::new(format!("value {n}")));
    }
    let headers = headers.write_to_vec().expect("the mail builds");

    for raw in [&large, &many, &headers] {
        stack.send(&sender, &helpdesk, raw).await;
    }
    run_until_drained(&stack, &mut d, 3).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "4 receipts", |n| n >= 4, DRAIN)
        .await;
    stop(&mut d).await;

    assert_review(
        &d,
        large_subject,
        &sender,
        &["ulaeselig"],
        "more than the limit of 200000 bytes",
    )
    .await;
    assert_review(
        &d,
        many_subject,
        &sender,
        &["modtaget", "til_vurdering"],
        "vi læser højst 20",
    )
    .await;
    assert_review(
        &d,
        headers_subject,
        &sender,
        &["ulaeselig"],
        "more than 50 header fields",
    )
    .await;
    assert_eq!(
        subjects(&stack, &sender).await.len(),
        4,
        "receipts: 1 + 2 + 1"
    );

    // Nothing lost: the over-size and over-header mails wait whole in the quarantine folder.
    let quarantined = stack.fetch_all(&helpdesk, "Quarantine").await;
    let by_id: BTreeMap<String, usize> = quarantined
        .iter()
        .map(|m| (received(m).message_id, m.len()))
        .collect();
    assert_eq!(by_id.len(), 2, "two quarantined: {:?}", by_id.keys());
    assert!(
        by_id.get(&large_mid).is_some_and(|&n| n >= large.len()),
        "{by_id:?}"
    );
    assert!(
        by_id.get(&headers_mid).is_some_and(|&n| n >= headers.len()),
        "{by_id:?}"
    );
    assert!(
        ids_in(&stack, &helpdesk, "Processed")
            .await
            .contains(&mid("limits", "many"))
    );
    let pool = d.pool().await;
    let stored: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT message_id, disposition, length(raw) FROM inbound_mail \
         WHERE message_id LIKE '%.limits.%' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("inbound_mail");
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (id, disposition, len) in &stored {
        if *id == headers_mid {
            assert_eq!(disposition, "quarantined");
            assert!(
                *len as usize >= headers.len(),
                "the whole mail is stored: {len}"
            );
        } else if *id == large_mid {
            // Only its header was fetched: the whole mail is in the quarantine folder.
            assert_eq!(disposition, "quarantined");
        } else {
            assert_eq!(disposition, "order");
        }
    }
}

/// Every message of tests/corpus/mime4j (malformed and tricky MIME) through the daemon: each
/// ends up processed or quarantined (one `review` order at most), none is lost, none is tried
/// more than `max_attempts` times, and the daemon still answers the next form.
#[tokio::test]
async fn the_mime4j_corpus_goes_through_the_daemon_without_loss_or_loops() {
    let stack = stack();
    let (helpdesk, sender) = users("mime4j");
    let mut d = Daemon::new(&stack, &helpdesk);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/mime4j");
    let mut files = Vec::new();
    for sub in ["mimetools-testmsgs", "testmsgs", "other"] {
        for entry in std::fs::read_dir(dir.join(sub)).expect("the mime4j corpus") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "msg") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert_eq!(files.len(), 78, "tests/corpus/mime4j: 78 messages expected");
    // IMAP APPEND stores them as they are (line ends aside); SMTP would add headers to some.
    let mut sent = Vec::new();
    for path in &files {
        let raw = std::fs::read(path).expect("a corpus file");
        stack.append(&helpdesk, "INBOX", &raw).await;
        sent.push((
            path.strip_prefix(&dir)
                .unwrap_or(path)
                .display()
                .to_string(),
            raw,
        ));
    }

    run_until_drained(&stack, &mut d, files.len()).await;
    // The daemon is alive and still answers the next form.
    let subject = "Bestilling efter mime4j";
    let raw = form_mail(
        &sender,
        &helpdesk,
        subject,
        &mid("mime4j", "after"),
        &WsForm::new("KMB-IT-6001", &sender).docx(),
    );
    stack.send(&sender, &helpdesk, &raw).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    stop(&mut d).await;
    let after = order_by_subject(&d, subject).await;
    assert_eq!(after["state"], "approved", "{after:#}");

    // None lost: each corpus message is in exactly one of the two folders.
    let norm = |m: &[u8]| -> Vec<u8> { m.iter().copied().filter(|&b| b != b'\r').collect() };
    let processed: Vec<Vec<u8>> = stack.fetch_all(&helpdesk, "Processed").await;
    let quarantine: Vec<Vec<u8>> = stack.fetch_or_empty(&helpdesk, "Quarantine").await;
    let mut pool_p: Vec<Vec<u8>> = processed.iter().map(|m| norm(m)).collect();
    let mut pool_q: Vec<Vec<u8>> = quarantine.iter().map(|m| norm(m)).collect();
    let mut in_quarantine = Vec::new();
    for (rel, raw) in &sent {
        let want = norm(raw);
        // The server may end the last line; compare without trailing line ends.
        let same = |m: &Vec<u8>| m.trim_ascii_end() == want.trim_ascii_end();
        if let Some(i) = pool_p.iter().position(same) {
            pool_p.swap_remove(i);
        } else if let Some(i) = pool_q.iter().position(same) {
            pool_q.swap_remove(i);
            in_quarantine.push(rel.clone());
        } else {
            panic!("{rel}: in neither Processed nor Quarantine");
        }
    }

    let db = d.pool().await;
    let max_attempts: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(attempts), 0) FROM intake_attempts")
            .fetch_one(&db)
            .await
            .expect("attempts");
    assert!(
        max_attempts <= 3,
        "a message was tried {max_attempts} times"
    );
    let quarantined: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, note FROM inbound_mail WHERE disposition = 'quarantined'")
            .fetch_all(&db)
            .await
            .expect("inbound_mail");
    assert_eq!(
        quarantined.len(),
        in_quarantine.len(),
        "each quarantined message is stored once as quarantined: {quarantined:?} vs {in_quarantine:?}"
    );
    for (id, note) in &quarantined {
        let states: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT o.state FROM orders o JOIN order_versions v ON v.order_id = o.id WHERE v.inbound_id = $1",
        )
        .bind(id)
        .fetch_all(&db)
        .await
        .expect("orders");
        assert!(
            states.is_empty() || states == ["review"],
            "quarantined mail {id} ({note}): orders in {states:?}"
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_mail")
        .fetch_one(&db)
        .await
        .expect("count");
    eprintln!(
        "mime4j: {} messages, {} quarantined ({in_quarantine:?}), {stored} stored rows (duplicate Message-IDs share one)",
        sent.len(),
        in_quarantine.len()
    );
}

/// A mail whose text is a form (as base64 UTF-8) and which forwards `width` such mails,
/// `depth` levels deep: sum(width^k) forms, never more than `width` attachments on one level.
fn nested_forwards(
    from: &str,
    to: &str,
    subject: &str,
    id: &str,
    width: usize,
    depth: usize,
) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(
        WsForm::new(&format!("KMB-NEST-{id}"), from)
            .as_text()
            .replace('\n', "\r\n"),
    );
    let boundary = format!("nest{}", id.replace('-', "x"));
    let mut raw = format!(
        "From: Karin Holm <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{}>\r\nDate: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        mid("nested", id),
        chrono::Utc::now().to_rfc2822(),
    );
    for line in body.as_bytes().chunks(76) {
        raw.push_str(std::str::from_utf8(line).unwrap_or(""));
        raw.push_str("\r\n");
    }
    if depth > 0 {
        for k in 0..width {
            raw.push_str(&format!(
                "--{boundary}\r\nContent-Type: message/rfc822\r\n\
                 Content-Disposition: attachment; filename=\"videresendt-{k}.eml\"\r\n\r\n{}",
                nested_forwards(
                    from,
                    to,
                    "Videresendt bestilling",
                    &format!("{id}-{k}"),
                    width,
                    depth - 1
                )
            ));
        }
    }
    raw.push_str(&format!("--{boundary}--\r\n"));
    raw
}

/// Finding 6 over the real servers: a mail of nested forwarded mails, each carrying a form,
/// with few attachments on every level (21 forms, 4 attachments per level) makes at most
/// `max_forms_per_mail` orders (and their receipts), each in review; a mail of thousands of
/// empty MIME parts is not parsed at all but kept whole for a person. The daemon never stops.
#[tokio::test]
async fn nested_forwards_make_at_most_the_configured_orders_and_part_bombs_are_not_parsed() {
    let stack = stack();
    let (helpdesk, sender) = users("nested");
    let mut d = Daemon::new(&stack, &helpdesk);
    d.edit_config(|c| c.replace("[limits]\n", "[limits]\nmax_forms_per_mail = 3\n"));

    let nested_subject = "Bestilling med videresendte bestillinger";
    let nested = nested_forwards(&sender, &helpdesk, nested_subject, "top", 4, 2);

    let parts_subject = "Bestilling med tusindvis af dele";
    let parts_mid = mid("nested", "parts");
    let mut parts = format!(
        "From: Karin Holm <{sender}>\r\nTo: {helpdesk}\r\nSubject: {parts_subject}\r\n\
         Message-ID: <{parts_mid}>\r\nDate: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
        chrono::Utc::now().to_rfc2822(),
    );
    for _ in 0..5000 {
        parts.push_str("--p\r\n\r\n");
    }
    parts.push_str("--p--\r\n");

    stack.send(&sender, &helpdesk, nested.as_bytes()).await;
    stack.send(&sender, &helpdesk, parts.as_bytes()).await;
    run_until_drained(&stack, &mut d, 2).await;
    d.wait_orders(4, DRAIN).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "7 receipts", |n| n >= 7, DRAIN)
        .await;
    // Stopped (its outbox makes a last round) and all it queued delivered: nothing more comes.
    stop(&mut d).await;
    d.wait_all_delivered(&stack, DRAIN).await;

    let orders = d.orders();
    let nested_orders: Vec<&serde_json::Value> = orders
        .iter()
        .filter(|o| {
            o["ref"]
                .as_str()
                .is_some_and(|r| d.order(r).to_string().contains("KMB-NEST-"))
        })
        .collect();
    assert_eq!(
        nested_orders.len(),
        3,
        "max_forms_per_mail orders: {orders:#?}"
    );
    for o in &nested_orders {
        let full = d.order(o["ref"].as_str().unwrap_or(""));
        assert_eq!(full["state"], "review", "{full:#}");
        assert!(full.to_string().contains("højst 3"), "{full:#}");
    }
    // Two receipts per order (received, in review) and one for the part bomb: nothing more.
    let got = subjects(&stack, &sender).await;
    assert_eq!(got.len(), 7, "{got:?}");

    assert_review(
        &d,
        parts_subject,
        &sender,
        &["ulaeselig"],
        "more than 1000 MIME parts",
    )
    .await;
    let quarantined = ids_in(&stack, &helpdesk, "Quarantine").await;
    assert_eq!(quarantined, vec![parts_mid.clone()]);
    assert_eq!(orders.len(), 4, "{orders:#?}");
}

/// Over the real servers: a 6.4 MB mail of 200,000 forwarded mails nested in each other, with
/// no boundary line for a pre-scan to count, overflowed the stack of the daemon's own process
/// when the parsed mail was dropped (a crash on every start). It is now counted as over
/// max_mime_parts, kept whole for a person and answered as unreadable; the daemon never stops.
#[tokio::test]
async fn a_mail_of_deeply_nested_forwards_is_kept_for_a_person_and_the_daemon_lives() {
    let stack = stack();
    let (helpdesk, sender) = users("deep");
    let mut d = Daemon::new(&stack, &helpdesk);
    let subject = "Bestilling i mange lag";
    let message_id = mid("deep", "nested");
    let mut raw = format!(
        "From: Karin Holm <{sender}>\r\nTo: {helpdesk}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: {}\r\nMIME-Version: 1.0\r\n",
        chrono::Utc::now().to_rfc2822(),
    );
    raw.push_str(&"Content-Type: message/rfc822\r\n\r\n".repeat(200_000));
    raw.push_str("Subject: inderst\r\n\r\nCVR-nr.: 12345678\r\n");

    stack.send(&sender, &helpdesk, raw.as_bytes()).await;
    run_until_drained(&stack, &mut d, 1).await;
    d.wait_mailbox(&stack, &sender, "INBOX", "1 receipt", |n| n >= 1, DRAIN)
        .await;
    stop(&mut d).await;

    assert_review(
        &d,
        subject,
        &sender,
        &["ulaeselig"],
        "more than 1000 MIME parts",
    )
    .await;
    // Counted, not parsed: the test's own mail parser would overflow its stack the same way.
    assert_eq!(folder_len(&stack, &helpdesk, "Quarantine").await, 1);
}
