//! Mails whose sender cannot be answered, end to end against the real Dovecot + Postfix: a
//! From that does not parse as an address, a recipient Postfix refuses with 5xx, a mail with
//! no sender at all. Each still makes its order; no receipt is retried for ever; the order's
//! history says why no receipt went out.

mod common;

use std::time::{Duration, Instant};

use common::daemon::{Daemon, started};
use common::fixtures::{WsForm, auto_reply, form_mail};
use common::{FA, HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(30);

/// The kind of the staff mail that tells the Helpdesk an order is to be reviewed.
const REVIEW_MAIL: &str = "helpdesk_vurdering";

/// Waits until the inbox is empty and `n` orders exist; returns them.
async fn orders_after_intake(
    stack: &MailStack,
    d: &mut Daemon,
    n: usize,
) -> Vec<serde_json::Value> {
    d.wait_inbox_empty(stack, WAIT).await;
    d.wait_orders(n, WAIT).await
}

fn reference(order: &serde_json::Value) -> String {
    order["ref"].as_str().unwrap_or_default().to_string()
}

/// The details of an order's events with `action`.
fn events(d: &Daemon, reference: &str, action: &str) -> Vec<String> {
    d.order(reference)["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["action"] == action)
                .filter_map(|e| e["detail"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// One outbox row of an order: kind, attempts, sent, failed.
type Row = (String, i64, bool, bool);

async fn outbox_of(d: &Daemon, reference: &str) -> Vec<Row> {
    let pool = d.pool().await;
    let rows: Vec<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT x.kind, x.attempts, x.sent_at, x.failed_at FROM outbox x
         JOIN orders o ON o.id = x.order_id WHERE o.ref = $1 ORDER BY x.id",
    )
    .bind(reference)
    .fetch_all(&pool)
    .await
    .unwrap_or_else(|e| panic!("reading the outbox: {e}"));
    pool.close().await;
    rows.into_iter()
        .map(|(kind, attempts, sent, failed)| (kind, attempts, sent.is_some(), failed.is_some()))
        .collect()
}

/// A form mail from `from` (the From header exactly as written), put into the Helpdesk's
/// INBOX as it arrived (IMAP APPEND: no MTA rewrites the header on the way).
fn form_mail_from(from_header: &str, id: &str) -> Vec<u8> {
    let mid = format!("{id}.{}@kommune.example.dk", std::process::id());
    let raw = form_mail(
        FA,
        HELPDESK,
        "Bestilling",
        &mid,
        &WsForm::new(id, FA).docx(),
    );
    let text = String::from_utf8(raw).expect("the fixture mail is ASCII");
    let written = "From: \"Karin Holm\" <fa@example.test>";
    assert!(
        text.contains(written),
        "the fixture's From changed: {text:.300}"
    );
    text.replacen(written, &format!("From: {from_header}"), 1)
        .into_bytes()
}

/// A From that does not parse as an address (a space inside it, a stray `>`): the order is
/// made and judged, no receipt to that address is queued (so none can be retried every ten
/// minutes for ever), and the history says "kvittering kunne ikke sendes" and why.
#[tokio::test]
async fn a_sender_address_that_does_not_parse_gets_its_order_and_a_note_not_a_retry_loop() {
    let (stack, mut d) = started(CONNECT).await;
    let senders = [
        (
            "\"Jens Hansen\" <jens hansen@example.dk>",
            "KMB-IT-0041",
            "jens hansen@example.dk",
        ),
        ("x@example.dk>", "KMB-IT-0042", "x@example.dk>"),
    ];
    for (from, id, _) in senders {
        stack
            .append(HELPDESK, "INBOX", &form_mail_from(from, id))
            .await;
    }
    let orders = orders_after_intake(&stack, &mut d, senders.len()).await;
    assert_eq!(orders.len(), senders.len(), "{orders:#?}");
    for (_, id, as_read) in senders {
        let order = orders
            .iter()
            .find(|o| o["bestillings_id"] == id)
            .unwrap_or_else(|| panic!("no order for {id}: {orders:#?}"));
        let reference = reference(order);
        let failed = events(&d, &reference, "receipt failed");
        assert_eq!(failed.len(), 1, "{reference}: {:#}", d.order(&reference));
        assert!(
            failed[0].starts_with("kvittering kunne ikke sendes: ") && failed[0].contains(as_read),
            "{failed:?}"
        );
        // Only the staff's review mail, if any: nothing to the sender to fail or retry.
        let rows = outbox_of(&d, &reference).await;
        assert!(
            rows.iter().all(|(kind, ..)| kind == REVIEW_MAIL),
            "{reference}: {rows:?}"
        );
        assert!(
            events(&d, &reference, "receipt queued")
                .iter()
                .all(|what| what.starts_with(REVIEW_MAIL)),
            "{:#}",
            d.order(&reference)
        );
    }
}

/// A recipient Postfix refuses with 5xx (an unknown user in its own domain): the receipt ends
/// failed at once (one attempt, never again), and the order's history says why.
#[tokio::test]
async fn a_receipt_refused_with_5xx_ends_failed_at_once() {
    let (stack, mut d) = started(CONNECT).await;
    let unknown = "ukendt@example.test";
    let mid = format!("unknown.{}@example.test", std::process::id());
    let form = WsForm::new("KMB-IT-0043", unknown);
    let raw = form_mail(unknown, HELPDESK, "Bestilling", &mid, &form.docx());
    stack.append(HELPDESK, "INBOX", &raw).await;
    let orders = orders_after_intake(&stack, &mut d, 1).await;
    let reference = reference(&orders[0]);

    let start = Instant::now();
    let receipts = loop {
        let rows = outbox_of(&d, &reference).await;
        let receipts: Vec<Row> = rows.into_iter().filter(|r| r.0 != REVIEW_MAIL).collect();
        if !receipts.is_empty() && receipts.iter().all(|r| r.3) {
            break receipts;
        }
        assert!(
            start.elapsed() < WAIT,
            "receipts not failed: {receipts:?}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(receipts.len(), 2, "modtaget and the verdict: {receipts:?}");
    // Several outbox rounds later: still one attempt each, none sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again: Vec<Row> = outbox_of(&d, &reference)
        .await
        .into_iter()
        .filter(|r| r.0 != REVIEW_MAIL)
        .collect();
    assert!(
        again
            .iter()
            .all(|(_, attempts, sent, failed)| *attempts == 1 && !sent && *failed),
        "{again:?}"
    );
    let failed = events(&d, &reference, "receipt failed");
    assert_eq!(failed.len(), 2, "{:#}", d.order(&reference));
    for detail in &failed {
        assert!(
            detail.starts_with("kvittering kunne ikke sendes: permanent") && detail.contains("550"),
            "{detail}"
        );
    }
    let show = d.cli(&["orders", "show", &reference]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains("kvittering kunne ikke sendes"), "{text}");
    // The digest lists the order in its section (and counts it).
    let digest = String::from_utf8_lossy(&d.cli(&["digest"]).stdout).into_owned();
    let section = digest
        .find("Kvitteringer der ikke kunne sendes (1)")
        .unwrap_or_else(|| panic!("{digest}"));
    let next = digest[section..]
        .find("Afvist uden rettelse")
        .map_or(digest.len(), |n| section + n);
    assert!(digest[section..next].contains(&reference), "{digest}");
    assert!(
        digest.contains("1 med kvitteringer der ikke kunne sendes"),
        "{digest}"
    );
}

/// Mail stored but never answered is counted by reason at the end of the digest.
#[tokio::test]
async fn the_digest_counts_mail_without_a_reply_by_reason() {
    let (stack, mut d) = started(CONNECT).await;
    let form = WsForm::new("KMB-IT-0044", FA);
    for n in 0..2 {
        let mid = format!("away{n}.{}@example.test", std::process::id());
        stack
            .append(HELPDESK, "INBOX", &auto_reply(FA, HELPDESK, &mid, &form))
            .await;
    }
    d.wait_inbox_empty(&stack, WAIT).await;
    d.wait_log("mail stored; not answered", 2, WAIT).await;
    let digest = String::from_utf8_lossy(&d.cli(&["digest"]).stdout).into_owned();
    let tail = digest
        .find("Post uden svar (spam, lister, autosvar)")
        .map(|at| &digest[at..])
        .unwrap_or_else(|| panic!("{digest}"));
    assert!(tail.contains("Autosvar: 2"), "{digest}");
}

/// A mail with no header block at all: a review order, and its history says why no receipt
/// went out.
#[tokio::test]
async fn a_mail_without_any_sender_says_why_no_receipt_went_out() {
    let (stack, mut d) = started(CONNECT).await;
    let raw = b"Hej Helpdesk\r\n\r\nVi vil gerne bestille en ny URL til SagsOpslag.\r\n\r\nMed venlig hilsen\r\nKarin\r\n";
    stack.append(HELPDESK, "INBOX", raw).await;
    let orders = orders_after_intake(&stack, &mut d, 1).await;
    assert_eq!(orders.len(), 1, "{orders:#?}");
    let reference = reference(&orders[0]);
    assert_eq!(orders[0]["state"], "review", "{:#}", orders[0]);
    let why = events(&d, &reference, "no receipt");
    assert_eq!(
        why,
        vec!["ingen kvittering: mailen har ingen afsender".to_string()],
        "{:#}",
        d.order(&reference)
    );
    let rows = outbox_of(&d, &reference).await;
    assert!(
        rows.iter().all(|(kind, ..)| kind == REVIEW_MAIL),
        "{rows:?}"
    );
}
