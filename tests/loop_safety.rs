//! Loop safety over the real servers (Dovecot + Postfix, the real `spdesk run`): the daemon
//! never answers a bounce, a DSN, an abuse report or an auto-reply (every mail of
//! tests/corpus/bounces), never sends more receipts to one address in an hour than
//! `limits.receipts_per_address_per_hour` (and the Helpdesk sees what it held back), and never
//! sends a receipt to its own address, one of `helpdesk.own_domains` or a mailing list.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::Daemon;
use common::fixtures::{DOCX_TYPE, WsForm, form_mail, received};
use common::{FA, HELPDESK, MailStack};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

/// Generous bounds: a loaded machine (two shared cores) must not fail a correct daemon.
const CONNECT: Duration = Duration::from_secs(30);
const DRAIN: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(20);

/// The envelope sender of a corpus mail that does not record its own (no Return-Path): an
/// ordinary address, so the daemon must recognise the mail by its content.
const RELAY: &str = "relay@example.test";

/// The envelope sender a corpus mail was delivered with, as its first Return-Path records it
/// (`""` for the null sender of bounces), else [`RELAY`]: replayed as the last MTA got it.
/// Dovecot writes it as the new first `Return-Path`, as on the Helpdesk's real server.
fn envelope_sender(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("Return-Path")
        {
            let v = value.trim().trim_start_matches('<').trim_end_matches('>');
            return v.trim().to_string();
        }
    }
    RELAY.to_string()
}

/// The ordinary mails among the bounces (tests/corpus/README.md): processed as orders.
const NOT_BOUNCES: &[&str] = &["is-not-bounce-01.eml", "is-not-bounce-02.eml"];
/// Their senders (From).
const NOT_BOUNCE_SENDERS: &[&str] = &["shironeko@example.com", "dummy@example.com"];
/// Where their receipts go (Reply-To, else From); stack users here, so the receipts stay on
/// the machine.
const NOT_BOUNCE_REPLY_TO: &[&str] = &["mikeneko@example.org", "dummy@example.com"];

fn corpus(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(dir)
}

/// Every .eml under `dir`, sorted, with its path relative to it.
fn eml_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
                out.push((rel, bytes));
            }
        }
    }
    out.sort();
    out
}

/// Every `to=<...>` address Postfix logged a delivery attempt for.
fn postfix_recipients(stack: &MailStack) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\bto=<([^>]*)>").expect("regex");
    re.captures_iter(&stack.postfix_log())
        .map(|c| c[1].to_lowercase())
        .collect()
}

/// All of tests/corpus/bounces through the daemon: none is answered, none is lost; the two
/// ordinary mails among them are processed normally (so the daemon did read the corpus).
#[tokio::test]
async fn no_bounce_or_auto_reply_of_the_corpus_is_ever_answered() {
    let stack = MailStack::start(&[RELAY]);
    stack.add_users(NOT_BOUNCE_REPLY_TO);
    let mut d = Daemon::new(&stack, HELPDESK);
    let files = eml_files(&corpus("bounces"));
    assert_eq!(files.len(), 117, "tests/corpus/bounces: 117 mails expected");

    // Delivered before the daemon starts: one backlog, as after an outage.
    let mut appended = Vec::new();
    for (rel, raw) in &files {
        if let Err(e) = stack
            .try_send(&envelope_sender(raw), &[HELPDESK], raw)
            .await
        {
            // Postfix refuses it: the IMAP server takes it as it is.
            eprintln!("{rel}: not taken over SMTP ({e}); appended over IMAP");
            stack.append(HELPDESK, "INBOX", raw).await;
            appended.push(rel.clone());
        }
    }
    d.wait_mailbox(
        &stack,
        HELPDESK,
        "INBOX",
        "the whole corpus",
        |n| n >= files.len(),
        DRAIN,
    )
    .await;
    let delivered: Vec<Vec<u8>> = stack.fetch_all(HELPDESK, "INBOX").await;
    let corpus_ids: BTreeSet<String> = delivered
        .iter()
        .map(|m| received(m).message_id)
        .filter(|m| !m.is_empty())
        .collect();

    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    // The receipts to the two ordinary mails arrive: the outbox has made its rounds.
    for sender in NOT_BOUNCE_REPLY_TO {
        d.wait_mailbox(&stack, sender, "INBOX", "a receipt", |n| n >= 1, DRAIN)
            .await;
    }
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    // None lost: every mail is in Processed (none quarantined), stored once per Message-ID.
    let processed = stack.fetch_all(HELPDESK, "Processed").await;
    assert!(
        processed.len() >= files.len(),
        "{} of {} corpus mails in Processed",
        processed.len(),
        files.len()
    );
    let processed_ids: BTreeSet<String> =
        processed.iter().map(|m| received(m).message_id).collect();
    let missing: Vec<&String> = corpus_ids.difference(&processed_ids).collect();
    assert!(missing.is_empty(), "not in Processed: {missing:?}");
    let quarantined = stack.try_fetch_all(HELPDESK, "Quarantine").await;
    assert_eq!(
        quarantined.map(|q| q.len()).unwrap_or(0),
        0,
        "no corpus mail is quarantined"
    );
    let pool = d.pool().await;
    let stored: Vec<(Option<String>, String)> =
        sqlx::query_as("SELECT message_id, disposition FROM inbound_mail")
            .fetch_all(&pool)
            .await
            .expect("inbound_mail");
    let stored_ids: BTreeSet<String> = stored.iter().filter_map(|(m, _)| m.clone()).collect();
    let not_stored: Vec<&String> = corpus_ids.difference(&stored_ids).collect();
    assert!(not_stored.is_empty(), "not stored: {not_stored:?}");
    // Every bounce ignored: the only orders are the two ordinary mails'.
    let as_orders = stored.iter().filter(|(_, disp)| disp != "ignored").count();
    assert_eq!(
        as_orders,
        NOT_BOUNCES.len(),
        "only the ordinary mails become orders: {stored:?}"
    );
    let orders = d.orders();
    let requesters: BTreeSet<String> = orders
        .iter()
        .map(|o| o["requester"].as_str().unwrap_or("").to_lowercase())
        .collect();
    let want: BTreeSet<String> = NOT_BOUNCE_SENDERS.iter().map(|s| s.to_string()).collect();
    assert_eq!(requesters, want, "orders: {orders:#?}");

    // Zero receipts for the bounces: nothing queued to anyone else, nothing sent elsewhere.
    let outbox = d.outbox().await;
    let allowed: BTreeSet<String> = NOT_BOUNCE_REPLY_TO
        .iter()
        .map(|s| s.to_string())
        .chain([HELPDESK.to_string()])
        .collect();
    for row in &outbox {
        for r in &row.recipients {
            assert!(
                allowed.contains(&r.to_lowercase()),
                "{} queued to {r} (order {:?}): {outbox:#?}",
                row.kind,
                row.order
            );
        }
    }
    let logged = postfix_recipients(&stack);
    let elsewhere: Vec<&String> = logged.difference(&allowed).collect();
    assert!(
        elsewhere.is_empty(),
        "Postfix delivered to {elsewhere:?}\n{}",
        stack.postfix_log()
    );
    for sender in NOT_BOUNCE_REPLY_TO {
        let got = stack.fetch_all(sender, "INBOX").await;
        assert_eq!(
            got.len(),
            1,
            "{sender}: one receipt (no form in the mail) expected"
        );
    }
    eprintln!(
        "bounces: {} mails ({} appended over IMAP), {} stored, {} orders, {} outbox rows",
        files.len(),
        appended.len(),
        stored.len(),
        orders.len(),
        outbox.len()
    );
}

/// A form mail from `from` with its own BestillingsID.
fn form_from(from: &str, id: &str, subject: &str) -> (String, Vec<u8>) {
    let mid = format!(
        "{}.{}@sender.example.test",
        id.to_lowercase(),
        std::process::id()
    );
    let raw = form_mail(from, HELPDESK, subject, &mid, &WsForm::new(id, from).docx());
    (mid, raw)
}

/// Eight forms from one address with a limit of 10 receipts an hour: ten receipts reach the
/// sender, the other six are held back and each is in its order's history; every order is
/// created and judged.
#[tokio::test]
async fn receipts_to_one_address_stop_at_the_hourly_limit() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| {
        c.replace(
            "receipts_per_address_per_hour = 1000",
            "receipts_per_address_per_hour = 10",
        )
    });
    const FORMS: usize = 8;
    for n in 0..FORMS {
        let id = format!("KMB-IT-{:04}", 2001 + n);
        let (_, raw) = form_from(FA, &id, &format!("Bestilling {id}"));
        stack.send(FA, HELPDESK, &raw).await;
    }
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_orders(FORMS, DRAIN).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.wait_mailbox(&stack, FA, "INBOX", "10 receipts", |n| n >= 10, DRAIN)
        .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    let got = stack.fetch_all(FA, "INBOX").await;
    assert_eq!(got.len(), 10, "receipts delivered to {FA}");
    let outbox = d.outbox().await;
    let to_fa = outbox
        .iter()
        .filter(|r| r.recipients.iter().any(|a| a == FA))
        .count();
    assert_eq!(to_fa, 10, "receipts queued to {FA}: {outbox:#?}");

    let orders = d.orders();
    assert_eq!(orders.len(), FORMS, "every form is an order: {orders:#?}");
    let mut queued = 0;
    let mut withheld = Vec::new();
    for o in &orders {
        assert_eq!(o["state"], "approved", "{o:#}");
        let reference = o["ref"].as_str().expect("ref");
        let order = d.order(reference);
        for e in order["events"].as_array().expect("events") {
            match e["action"].as_str() {
                Some("receipt queued") => queued += 1,
                Some("receipt suppressed") => withheld.push(e["detail"].to_string()),
                _ => {}
            }
        }
    }
    assert_eq!(queued, 10, "receipt queued events");
    assert_eq!(
        withheld.len(),
        2 * FORMS - 10,
        "each withheld receipt is in its order's history: {withheld:#?}"
    );
    for w in &withheld {
        assert!(
            w.contains(FA) && w.contains("10 receipts"),
            "the event says to whom and why: {w}"
        );
    }
    assert!(
        d.log().contains("receipt rate limit reached"),
        "the daemon logs it\n{}",
        d.log_tail()
    );
}

/// Forms from the Helpdesk's own address, from a domain in `own_domains`, from an outside
/// sender whose Reply-To (and the form's contact e-mail) is the Helpdesk, and a form sent to a mailing list (List-Id): orders
/// are made of the first three, the list mail is stored, and no receipt goes to any of them.
#[tokio::test]
async fn no_receipt_to_our_own_addresses_or_to_a_mailing_list() {
    const OWN: &str = "fa@kombit.test";
    const OUTSIDE: &str = "outside@example.test";
    const MEMBER: &str = "member@example.test";
    const LIST: &str = "bestillinger@lists.example.test";
    let stack = MailStack::start(&[OWN, OUTSIDE, MEMBER, LIST]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| c.replace("own_domains = []", "own_domains = [\"kombit.test\"]"));

    let (_, from_helpdesk) = form_from(HELPDESK, "KMB-IT-3001", "Bestilling fra os selv");
    stack.send(HELPDESK, HELPDESK, &from_helpdesk).await;
    let (_, from_own_domain) = form_from(OWN, "KMB-IT-3002", "Bestilling fra eget domæne");
    stack.send(OWN, HELPDESK, &from_own_domain).await;
    let reply_to_us = MessageBuilder::new()
        .from(("Udefra", OUTSIDE))
        .reply_to(HELPDESK)
        .to(HELPDESK)
        .subject("Bestilling med svar til Helpdesk")
        .message_id(format!("replyto.{}@example.test", std::process::id()))
        .date(chrono::Utc::now().timestamp())
        .text_body("Hermed bestillingen.")
        .attachment(
            DOCX_TYPE,
            "Bestilling.docx",
            // The form's contact is the Helpdesk too: neither address gets a receipt.
            WsForm::new("KMB-IT-3003", HELPDESK).docx(),
        )
        .write_to_vec()
        .expect("the mail builds");
    stack.send(OUTSIDE, HELPDESK, &reply_to_us).await;
    let list_mail = MessageBuilder::new()
        .from(("Medlem", MEMBER))
        .to(LIST)
        .subject("[bestillinger] Bestilling")
        .message_id(format!("list.{}@lists.example.test", std::process::id()))
        .date(chrono::Utc::now().timestamp())
        .header(
            "List-Id",
            Raw::new("Bestillinger <bestillinger.lists.example.test>"),
        )
        .header(
            "List-Post",
            Raw::new("<mailto:bestillinger@lists.example.test>"),
        )
        .text_body("Hermed bestillingen.")
        .attachment(
            DOCX_TYPE,
            "Bestilling.docx",
            WsForm::new("KMB-IT-3004", MEMBER).docx(),
        )
        .write_to_vec()
        .expect("the mail builds");
    stack.send(LIST, HELPDESK, &list_mail).await;

    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let orders = d.wait_orders(3, DRAIN).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.wait_mailbox(
        &stack,
        HELPDESK,
        "Processed",
        "4 processed mails",
        |n| n >= 4,
        DRAIN,
    )
    .await;
    // A control form from an ordinary sender: once its receipts are in, the outbox has sent
    // whatever it had for the mails before it.
    let (_, control) = form_from(FA, "KMB-IT-3005", "Almindelig bestilling");
    stack.send(FA, HELPDESK, &control).await;
    d.wait_mailbox(&stack, FA, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    let orders_now = d.orders();
    assert_eq!(orders_now.len(), 4, "{orders_now:#?}");
    let by_id = |id: &str| {
        orders_now
            .iter()
            .find(|o| o["bestillings_id"] == id)
            .unwrap_or_else(|| panic!("no order for {id}: {orders_now:#?}"))
    };
    for id in ["KMB-IT-3001", "KMB-IT-3002", "KMB-IT-3003"] {
        let o = by_id(id);
        assert_eq!(o["state"], "approved", "{o:#}");
        let reference = o["ref"].as_str().expect("ref");
        assert_eq!(d.receipts_queued(reference), 0, "receipts for {id}");
    }
    assert!(
        !orders_now
            .iter()
            .any(|o| o["bestillings_id"] == "KMB-IT-3004"),
        "the list mail is not an order: {orders:#?}"
    );

    let outbox = d.outbox().await;
    for row in &outbox {
        for r in &row.recipients {
            assert!(
                r == FA,
                "only the control sender gets mail, not {r} ({}): {outbox:#?}",
                row.kind
            );
        }
    }
    for user in [OWN, OUTSIDE, MEMBER, LIST] {
        assert!(
            stack.fetch_all(user, "INBOX").await.is_empty(),
            "{user} got mail"
        );
    }
    // The list mail is stored, marked as one that is never answered.
    let pool = d.pool().await;
    let list_disposition: String =
        sqlx::query_scalar("SELECT disposition FROM inbound_mail WHERE message_id LIKE 'list.%'")
            .fetch_one(&pool)
            .await
            .expect("the list mail is stored");
    assert_eq!(list_disposition, "ignored");
}
