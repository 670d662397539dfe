//! The daemon end to end: the real `spdesk run` against a real Dovecot + Postfix (each test
//! its own stack), fed over SMTP, checked through the mailboxes and `spdesk orders ... --json`.
//! Intake must answer every form exactly once, never answer a bounce or an auto-reply, lose
//! and duplicate nothing across a crash between the commit and the IMAP move, survive a
//! Dovecot restart and stop cleanly on SIGTERM.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, kill_imap_sessions, started};
use common::fixtures::{
    Received, WsForm, auto_reply, bounce, form_mail, outlook_rtf_mail, received, winmail_dat,
};
use common::{FA, HELPDESK, MailStack};

/// Generous bounds: a loaded CI machine must not fail a correct daemon.
const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(10);

/// Waits until the Helpdesk INBOX is empty and `processed` mails are in Processed: every
/// mail was committed (the move comes after the commit) and moved.
async fn wait_all_processed(stack: &MailStack, d: &mut Daemon, processed: usize) -> Vec<Vec<u8>> {
    d.wait_inbox_empty(stack, RECEIPTS).await;
    d.wait_mailbox(
        stack,
        HELPDESK,
        "Processed",
        &format!("{processed} processed mail(s)"),
        |n| n >= processed,
        RECEIPTS,
    )
    .await
}

fn the_only_order(d: &Daemon) -> serde_json::Value {
    let orders = d.orders();
    assert_eq!(
        orders.len(),
        1,
        "exactly one order expected: {orders:#?}\n{}",
        d.log_tail()
    );
    orders.into_iter().next().unwrap_or_default()
}

fn reference_of(order: &serde_json::Value) -> String {
    order["ref"]
        .as_str()
        .unwrap_or_else(|| panic!("an order without ref: {order}"))
        .to_string()
}

/// Checks that `receipts` are exactly the modtaget and godkendt receipts of `reference`, as
/// replies in the thread of `original_mid` with the loop-safety headers, and returns them.
fn assert_receipt_pair(
    receipts: &[Vec<u8>],
    reference: &str,
    original_mid: &str,
    original_subject: &str,
) -> Vec<Received> {
    let parsed: Vec<Received> = receipts.iter().map(|r| received(r)).collect();
    let subjects: Vec<&str> = parsed.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(parsed.len(), 2, "two receipts expected: {subjects:?}");
    // One subject for every receipt of the order; the kind is the body's first line.
    for s in &subjects {
        assert_eq!(
            *s,
            format!("SV: [{reference}] {original_subject}"),
            "receipt subject"
        );
    }
    let want: BTreeSet<String> = ["Kvittering for modtagelse", "Bestillingen er godkendt"]
        .map(str::to_string)
        .into();
    let got: BTreeSet<String> = parsed.iter().map(|r| r.heading.clone()).collect();
    assert_eq!(got, want, "receipt headings");
    for r in &parsed {
        assert_eq!(
            r.in_reply_to,
            vec![original_mid.to_string()],
            "In-Reply-To of {:?}",
            r.subject
        );
        assert!(
            r.references.iter().any(|m| m == original_mid),
            "References of {:?} lack the original: {:?}",
            r.subject,
            r.references
        );
        assert_eq!(
            r.auto_submitted.as_deref(),
            Some("auto-replied"),
            "Auto-Submitted of {:?}",
            r.subject
        );
        assert!(r.x_loop.is_some(), "no X-Loop on {:?}", r.subject);
        assert!(
            r.message_id.ends_with("@spdesk.example.test"),
            "Message-ID {:?} of {:?}",
            r.message_id,
            r.subject
        );
        assert!(r.text.contains(reference), "the text names {reference}");
    }
    let ids: BTreeSet<&str> = parsed.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        2,
        "the receipts' Message-IDs must differ: {ids:?}"
    );
    parsed
}

fn message_ids(mails: &[Vec<u8>]) -> Vec<String> {
    mails.iter().map(|m| received(m).message_id).collect()
}

#[tokio::test]
async fn a_docx_form_over_smtp_gets_one_order_and_its_two_receipts() {
    let (stack, mut d) = started(CONNECT).await;
    let subject = "Bestilling: ny URL til SagsOpslag";
    let sent = Instant::now();
    let mid = stack.send_form("KMB-IT-0001", subject).await;

    let first = d
        .wait_mailbox(
            &stack,
            FA,
            "INBOX",
            "the first receipt",
            |n| n >= 1,
            RECEIPTS,
        )
        .await;
    let first_at = sent.elapsed();
    let receipts = d
        .wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;
    eprintln!(
        "receipt latency (SMTP send -> in fa's INBOX): first receipt ({}) {first_at:?}, both {:?}",
        received(&first[0]).subject,
        sent.elapsed()
    );

    let processed = wait_all_processed(&stack, &mut d, 1).await;
    assert_eq!(
        message_ids(&processed),
        vec![mid.clone()],
        "Processed holds the original"
    );

    let order = the_only_order(&d);
    let reference = reference_of(&order);
    assert!(
        regex::Regex::new(r"^SP-\d{4}-\d{5}$")
            .unwrap()
            .is_match(&reference),
        "order reference {reference:?}"
    );
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(order["kind"], "webservice", "{order:#}");
    assert_eq!(order["bestillings_id"], "KMB-IT-0001", "{order:#}");
    assert_eq!(order["requester"], FA, "{order:#}");
    // A new order has the form's summary, the desired time included, from its first INSERT.
    assert_eq!(order["org_name"], "Fjordsoft ApS", "{order:#}");
    assert!(order["planned_at"].is_string(), "{order:#}");

    assert_receipt_pair(&receipts, &reference, &mid, subject);
    assert_eq!(
        d.receipts_queued(&reference),
        2,
        "receipts queued for {reference}"
    );
    // The modtaget receipt is queued first and says so.
    let first = received(&first[0]);
    assert!(
        first.heading == "Kvittering for modtagelse",
        "first receipt: {:?}",
        first.heading
    );
}

#[tokio::test]
async fn the_same_message_twice_is_one_order_with_one_set_of_receipts() {
    let (stack, mut d) = started(CONNECT).await;
    let subject = "Bestilling sendt to gange";
    let form = WsForm::new("KMB-IT-0002", FA);
    let mid = format!("twice.{}@fa.example.test", std::process::id());
    let raw = form_mail(FA, HELPDESK, subject, &mid, &form.docx());
    // Delivered twice, as a sender's retry or a redelivering server would.
    stack.send(FA, HELPDESK, &raw).await;
    stack.send(FA, HELPDESK, &raw).await;

    let receipts = d
        .wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;
    let processed = wait_all_processed(&stack, &mut d, 2).await;
    assert_eq!(message_ids(&processed), vec![mid.clone(), mid.clone()]);
    let reference = reference_of(&the_only_order(&d));
    assert_eq!(
        d.receipts_queued(&reference),
        2,
        "receipts queued for {reference}"
    );

    // Once more, long after the first was answered.
    stack.send(FA, HELPDESK, &raw).await;
    wait_all_processed(&stack, &mut d, 3).await;
    the_only_order(&d);
    assert_eq!(
        d.receipts_queued(&reference),
        2,
        "receipts queued for {reference}"
    );
    let order = d.order(&reference);
    assert_eq!(
        order["versions"].as_array().map(Vec::len),
        Some(1),
        "one version: {order:#}"
    );

    // Nothing more arrives for fa: stop the daemon (its outbox makes a last round) and look.
    d.terminate();
    assert!(d.wait_exit(STOP).await.success());
    let all = stack.fetch_all(FA, "INBOX").await;
    assert_eq!(all.len(), 2, "fa got more than one set of receipts");
    assert_receipt_pair(&all, &reference, &mid, subject);
    drop(receipts);
}

/// The notes on an order's history that name another mail with its Message-ID.
fn reused_id_notes(d: &Daemon, reference: &str) -> Vec<String> {
    d.order(reference)["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["detail"].as_str())
                .filter(|detail| detail.starts_with("samme Message-ID som en anden mail ("))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A gateway, a broken client or a resend with a new form reuses a Message-ID: the second,
/// different mail is a mail of its own (an order, its receipts), and both mails' orders and
/// inbound rows say that another mail has the same Message-ID, naming it.
#[tokio::test]
async fn a_different_mail_reusing_a_message_id_is_a_new_order_noted_on_both() {
    let (stack, mut d) = started(CONNECT).await;
    let mid = format!("reused.{}@fa.example.test", std::process::id());
    let first = WsForm::new("KMB-IT-0031", FA);
    let second = WsForm::new("KMB-IT-0032", FA);
    let raw = |form: &WsForm, subject: &str| form_mail(FA, HELPDESK, subject, &mid, &form.docx());
    let first_raw = raw(&first, "Bestilling et");
    stack.send(FA, HELPDESK, &first_raw).await;
    wait_all_processed(&stack, &mut d, 1).await;
    stack
        .send(FA, HELPDESK, &raw(&second, "Bestilling to"))
        .await;
    wait_all_processed(&stack, &mut d, 2).await;

    let orders = d.wait_orders(2, RECEIPTS).await;
    assert_eq!(orders.len(), 2, "two orders: {orders:#?}");
    let by_id = |id: &str| {
        orders
            .iter()
            .find(|o| o["bestillings_id"] == id)
            .map(reference_of)
            .unwrap_or_else(|| panic!("no order for {id}: {orders:#?}"))
    };
    let (one, two) = (by_id("KMB-IT-0031"), by_id("KMB-IT-0032"));
    for reference in [&one, &two] {
        assert_eq!(d.receipts_queued(reference), 2, "receipts of {reference}");
    }
    let notes_one = reused_id_notes(&d, &one);
    let notes_two = reused_id_notes(&d, &two);
    assert_eq!(notes_one.len(), 1, "{one}: {:#}", d.order(&one));
    assert_eq!(notes_two.len(), 1, "{two}: {:#}", d.order(&two));
    assert!(notes_one[0].contains(&two), "{notes_one:?} names {two}");
    assert!(notes_one[0].contains("Bestilling to"), "{notes_one:?}");
    assert!(notes_two[0].contains(&one), "{notes_two:?} names {one}");

    let pool = d.pool().await;
    let notes: Vec<String> = sqlx::query_scalar("SELECT note FROM inbound_mail ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|n| n.contains("samme Message-ID som en anden mail")),
        "{notes:?}"
    );
    pool.close().await;
    let receipts = d
        .wait_mailbox(&stack, FA, "INBOX", "four receipts", |n| n >= 4, RECEIPTS)
        .await;
    assert_eq!(receipts.len(), 4, "two receipts per order");

    // The first mail again, by other ways (Dovecot's LMTP adds its own trace headers, an
    // IMAP APPEND none): the same mail, no third order, no new note.
    stack
        .deliver_lmtp_many(FA, HELPDESK, std::slice::from_ref(&first_raw))
        .await;
    stack.append(HELPDESK, "INBOX", &first_raw).await;
    wait_all_processed(&stack, &mut d, 4).await;
    assert_eq!(d.orders().len(), 2, "{:#?}", d.orders());
    assert_eq!(reused_id_notes(&d, &one).len(), 1, "{:#}", d.order(&one));
    assert_eq!(reused_id_notes(&d, &two).len(), 1, "{:#}", d.order(&two));
}

#[tokio::test]
async fn a_crash_between_commit_and_move_loses_and_duplicates_nothing() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let subject = "Bestilling før et nedbrud";
    let mid = stack.send_form("KMB-IT-0003", subject).await;
    d.wait_mailbox(
        &stack,
        HELPDESK,
        "INBOX",
        "the form mail",
        |n| n == 1,
        RECEIPTS,
    )
    .await;

    // Aborts right after the commit, before the IMAP move.
    d.start_with_env(&[("SPDESK_FAILPOINT", "after_commit")]);
    let status = d.wait_exit(RECEIPTS).await;
    assert_eq!(
        status.signal(),
        Some(6),
        "the failpoint aborts (SIGABRT), got {status}\n{}",
        d.log_tail()
    );
    assert!(d.log().contains("SPDESK_FAILPOINT"), "{}", d.log_tail());
    let inbox = stack.fetch_all(HELPDESK, "INBOX").await;
    assert_eq!(
        message_ids(&inbox),
        vec![mid.clone()],
        "the mail stays in the INBOX"
    );
    let reference = reference_of(&the_only_order(&d));

    d.start();
    let processed = wait_all_processed(&stack, &mut d, 1).await;
    assert_eq!(message_ids(&processed), vec![mid.clone()]);
    d.wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;
    let order = the_only_order(&d);
    assert_eq!(reference_of(&order), reference, "still the same order");
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(
        d.receipts_queued(&reference),
        2,
        "receipts queued for {reference}"
    );

    d.terminate();
    assert!(d.wait_exit(STOP).await.success());
    let all = stack.fetch_all(FA, "INBOX").await;
    assert_receipt_pair(&all, &reference, &mid, subject);
}

#[tokio::test]
async fn bounces_and_auto_replies_get_no_receipt_and_leave_the_inbox() {
    let (stack, mut d) = started(CONNECT).await;
    // A receipt to the bounce would land here.
    stack.add_users(&["mailer-daemon@example.test"]);
    let quoted = WsForm::new("KMB-IT-0004", FA);
    let pid = std::process::id();
    let auto_mid = format!("ooo.{pid}@fa.example.test");
    stack
        .send(FA, HELPDESK, &auto_reply(FA, HELPDESK, &auto_mid, &quoted))
        .await;
    let bounce_mid = format!("dsn.{pid}@mx.example.test");
    stack
        .send(
            "",
            HELPDESK,
            &bounce("MAILER-DAEMON@example.test", HELPDESK, &bounce_mid, &quoted),
        )
        .await;
    // Then a real form: once its receipts are in, the two before it were handled too.
    let subject = "Bestilling efter autosvar";
    let mid = stack.send_form("KMB-IT-0005", subject).await;

    let processed = wait_all_processed(&stack, &mut d, 3).await;
    let got: BTreeSet<String> = message_ids(&processed).into_iter().collect();
    let want: BTreeSet<String> = [auto_mid, bounce_mid, mid.clone()].into();
    assert_eq!(got, want, "all three moved to Processed");
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        "the form's receipts",
        |n| n >= 2,
        RECEIPTS,
    )
    .await;

    let order = the_only_order(&d);
    let reference = reference_of(&order);
    assert_eq!(order["bestillings_id"], "KMB-IT-0005", "{order:#}");
    assert_eq!(d.receipts_queued(&reference), 2);

    d.terminate();
    assert!(d.wait_exit(STOP).await.success());
    let all = stack.fetch_all(FA, "INBOX").await;
    assert_receipt_pair(&all, &reference, &mid, subject);
    let to_daemon = stack.fetch_all("mailer-daemon@example.test", "INBOX").await;
    assert!(
        to_daemon.is_empty(),
        "a receipt went to the bounce's sender"
    );
}

/// Outlook in Rich Text mode sends the form only inside winmail.dat (TNEF): it is unpacked,
/// read and approved like a plain attachment, and the order says where the form came from.
#[tokio::test]
async fn a_form_inside_outlooks_winmail_dat_is_approved() {
    let (stack, mut d) = started(CONNECT).await;
    let subject = "Bestilling sendt fra Outlook i RTF";
    let form = WsForm::new("KMB-IT-0101", FA);
    let mid = format!("tnef.{}@fa.example.test", std::process::id());
    let winmail = winmail_dat("Bestilling ny URL.docx", &form.docx());
    stack
        .send(
            FA,
            HELPDESK,
            &outlook_rtf_mail(FA, HELPDESK, subject, &mid, &winmail),
        )
        .await;

    let receipts = d
        .wait_mailbox(&stack, FA, "INBOX", "both receipts", |n| n >= 2, RECEIPTS)
        .await;
    let processed = wait_all_processed(&stack, &mut d, 1).await;
    assert_eq!(message_ids(&processed), vec![mid.clone()]);

    let order = the_only_order(&d);
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(order["kind"], "webservice", "{order:#}");
    assert_eq!(order["bestillings_id"], "KMB-IT-0101", "{order:#}");
    let reference = reference_of(&order);
    let shown = d.order(&reference).to_string();
    assert!(
        shown.contains("attachment:winmail.dat/Bestilling ny URL.docx"),
        "the order names the form's source inside winmail.dat: {shown}"
    );
    assert_receipt_pair(&receipts, &reference, &mid, subject);
    assert_eq!(d.receipts_queued(&reference), 2);
}

#[tokio::test]
async fn intake_reconnects_after_a_dovecot_restart() {
    let (stack, mut d) = started(CONNECT).await;
    stack
        .send_form("KMB-IT-0006", "Bestilling før genstart")
        .await;
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        "the first receipts",
        |n| n >= 2,
        RECEIPTS,
    )
    .await;
    // The daemon now idles on its IMAP connection; the restart (and, should its session
    // outlive the restart, the end of that session) takes the connection away.
    stack.restart_dovecot();
    let killed = kill_imap_sessions(&stack);
    eprintln!("IMAP sessions still alive after the Dovecot restart, now ended: {killed}");
    let restarted = Instant::now();
    let subject = "Bestilling efter genstart";
    let mid = stack.send_form("KMB-IT-0007", subject).await;
    let all = d
        .wait_mailbox(
            &stack,
            FA,
            "INBOX",
            "the receipts after the restart",
            |n| n >= 4,
            RECEIPTS,
        )
        .await;
    eprintln!(
        "receipts after the Dovecot restart arrived {:?} after it",
        restarted.elapsed()
    );
    assert!(
        d.log().matches("IMAP connected").count() >= 2,
        "the daemon reconnected\n{}",
        d.log_tail()
    );
    let orders = d.orders();
    assert_eq!(orders.len(), 2, "{orders:#?}");
    let second = orders
        .iter()
        .find(|o| o["bestillings_id"] == "KMB-IT-0007")
        .unwrap_or_else(|| panic!("no order for the second form: {orders:#?}"));
    let reference = reference_of(second);
    let replies: Vec<Vec<u8>> = all
        .into_iter()
        .filter(|m| received(m).in_reply_to.contains(&mid))
        .collect();
    assert_receipt_pair(&replies, &reference, &mid, subject);
}

#[tokio::test]
async fn sigterm_stops_the_daemon_cleanly() {
    let (_stack, mut d) = started(CONNECT).await;
    let asked = Instant::now();
    d.terminate();
    let status = d.wait_exit(STOP).await;
    eprintln!("stopped {:?} after SIGTERM", asked.elapsed());
    assert!(
        status.success(),
        "exit status {status} after SIGTERM\n{}",
        d.log_tail()
    );
    assert!(d.log().contains("spdesk stopped"), "{}", d.log_tail());
}

/// The fixture itself: `spdesk check` reads the .docx as a complete, approved form, so a
/// failure in the tests above is the daemon's, not the fixture's.
#[test]
fn the_docx_fixture_reads_as_an_approved_webservice_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Bestilling.docx");
    std::fs::write(&path, WsForm::new("KMB-IT-0000", FA).docx()).unwrap();
    let out = std::process::Command::new(common::daemon::BIN)
        .arg("check")
        .arg("--json")
        .arg(&path)
        .env_remove("SPDESK_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("spdesk check --json: {e}: {stdout}"));
    assert_eq!(j["decision"], "approved", "{j:#}");
    assert_eq!(j["forms"][0]["kind"], "webservice", "{j:#}");
    assert_eq!(
        j["forms"][0]["fields"]["new_url"], "https://exttest2.fjordsoft.example/ws/v2/sagsopslag",
        "{j:#}"
    );
    assert_eq!(out.status.code(), Some(0), "{j:#}");
}
