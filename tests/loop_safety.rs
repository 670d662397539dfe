//! Loop safety over the real servers (Dovecot + Postfix, the real `spdesk run`): the daemon
//! never answers a bounce, a DSN, an abuse report or an auto-reply (every mail of
//! tests/corpus/bounces), never sends more receipts to one address (without +tag, case-folded)
//! or in all in an hour than `limits.receipts_per_address_per_hour` and `receipts_per_hour`
//! allow (the rest are deferred and sent later, never dropped), answers Reply-To only in
//! From's domain, gathers a sender's forms over `orders_per_sender_per_hour` on one review
//! order, collapses a burst of review mails into one summary, and never sends a receipt to its
//! own address, one of `helpdesk.own_domains` or a mailing list.

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
/// Their senders (From), who get their receipts: is-not-bounce-01's Reply-To is in another
/// domain than its From and is not honoured. Stack users, so the receipts stay on the machine.
const NOT_BOUNCE_SENDERS: &[&str] = &["shironeko@example.com", "dummy@example.com"];
/// is-not-bounce-01's Reply-To: a stack user, so a receipt wrongly sent there would arrive.
const NOT_BOUNCE_FOREIGN_REPLY_TO: &str = "mikeneko@example.org";

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
    stack.add_users(NOT_BOUNCE_SENDERS);
    stack.add_users(&[NOT_BOUNCE_FOREIGN_REPLY_TO]);
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
    for sender in NOT_BOUNCE_SENDERS {
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
    let quarantined = stack.fetch_or_empty(HELPDESK, "Quarantine").await;
    assert_eq!(quarantined.len(), 0, "no corpus mail is quarantined");
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
    let allowed: BTreeSet<String> = NOT_BOUNCE_SENDERS
        .iter()
        .map(|s| s.to_string())
        .chain([HELPDESK.to_string(), d.staff()])
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
    for sender in NOT_BOUNCE_SENDERS {
        let got = stack.fetch_all(sender, "INBOX").await;
        assert_eq!(
            got.len(),
            1,
            "{sender}: one receipt (no form in the mail) expected"
        );
    }
    assert!(
        stack
            .fetch_all(NOT_BOUNCE_FOREIGN_REPLY_TO, "INBOX")
            .await
            .is_empty(),
        "a Reply-To in another domain than From gets nothing"
    );
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

/// One outbox row as the rate-limit tests look at it.
#[derive(Debug)]
struct Queued {
    recipients: Vec<String>,
    sent: bool,
    next_attempt_at: chrono::DateTime<chrono::Utc>,
    last_error: String,
}

impl Queued {
    /// Held back by an hourly limit: unsent, not before a later time, and saying why.
    fn deferred(&self) -> bool {
        !self.sent && self.last_error.starts_with("deferred: ")
    }
}

/// Every outbox row, oldest first, with its not-before time and why it waits.
async fn queued(d: &Daemon) -> Vec<Queued> {
    let pool = d.pool().await;
    // Any driver: a boolean only from PostgreSQL, so the test asks for a number on both.
    let rows: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT recipients, CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END, next_attempt_at, last_error
         FROM outbox ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("the outbox");
    pool.close().await;
    rows.into_iter()
        .map(|(recipients, sent, next, last_error)| Queued {
            recipients: serde_json::from_str(&recipients).expect("recipients JSON"),
            sent: sent == 1,
            next_attempt_at: chrono::DateTime::parse_from_rfc3339(&next)
                .expect("next_attempt_at")
                .with_timezone(&chrono::Utc),
            last_error,
        })
        .collect()
}

/// The window opens: what an hour's wait does to the deferred rows, done at once (their
/// not-before time moved to now; the daemon keeps running and must send them by itself).
async fn open_the_window(d: &Daemon) -> u64 {
    let pool = d.pool().await;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let r = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1 WHERE sent_at IS NULL AND last_error LIKE 'deferred: %'",
    )
    .bind(now)
    .execute(&pool)
    .await
    .expect("ageing the deferred receipts");
    pool.close().await;
    r.rows_affected()
}

/// The actions in every order's history, counted.
fn event_actions(d: &Daemon) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in d.orders() {
        let reference = o["ref"].as_str().expect("ref");
        for e in d.order(reference)["events"].as_array().expect("events") {
            out.push((
                e["action"].as_str().unwrap_or("").to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out
}

/// Eight forms from one address with a limit of 10 receipts an hour: ten receipts reach the
/// sender at once, the other six are deferred (queued, not before a later hour, each in its
/// order's history), none is dropped; once the window allows, the running daemon sends them.
#[tokio::test]
async fn receipts_over_the_hourly_limit_are_deferred_and_sent_when_the_window_allows() {
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
    // The outbox has decided on every receipt (sent or deferred) and Postfix has delivered
    // all it took: only then is "still only ten" a finding.
    let start = std::time::Instant::now();
    loop {
        let rows = queued(&d).await;
        let decided = rows
            .iter()
            .filter(|r| r.recipients.iter().any(|a| a == FA))
            .filter(|r| r.sent || r.deferred())
            .count();
        if decided == 2 * FORMS && stack.queued() == 0 {
            break;
        }
        assert!(
            start.elapsed() < DRAIN,
            "the outbox did not decide on all {} receipts: {rows:#?}\n{}",
            2 * FORMS,
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        stack.fetch_all(FA, "INBOX").await.len(),
        10,
        "receipts delivered to {FA}"
    );

    let rows = queued(&d).await;
    let to_fa: Vec<&Queued> = rows
        .iter()
        .filter(|r| r.recipients.iter().any(|a| a == FA))
        .collect();
    assert_eq!(to_fa.len(), 2 * FORMS, "every receipt is queued: {rows:#?}");
    assert_eq!(to_fa.iter().filter(|r| r.sent).count(), 10, "{rows:#?}");
    let deferred: Vec<&&Queued> = to_fa.iter().filter(|r| r.deferred()).collect();
    assert_eq!(deferred.len(), 2 * FORMS - 10, "{rows:#?}");
    let now = chrono::Utc::now();
    for r in &deferred {
        assert!(r.next_attempt_at > now, "not before a later hour: {r:#?}");
        assert!(
            r.last_error
                .contains("more than 10 receipts an hour to fa@example.test"),
            "{r:#?}"
        );
    }

    let orders = d.orders();
    assert_eq!(orders.len(), FORMS, "every form is an order: {orders:#?}");
    for o in &orders {
        assert_eq!(o["state"], "approved", "{o:#}");
    }
    let events = event_actions(&d);
    let count = |action: &str| events.iter().filter(|(a, _)| a == action).count();
    assert_eq!(count("receipt queued"), 2 * FORMS, "{events:#?}");
    assert_eq!(
        count("receipt suppressed"),
        0,
        "nothing is dropped: {events:#?}"
    );
    let deferral_events: Vec<&String> = events
        .iter()
        .filter(|(a, _)| a == "receipt deferred")
        .map(|(_, detail)| detail)
        .collect();
    assert_eq!(deferral_events.len(), 2 * FORMS - 10, "{events:#?}");
    for w in &deferral_events {
        assert!(
            w.contains(FA) && w.contains("deferred until") && w.contains("10 receipts"),
            "the event says to whom, until when and why: {w}"
        );
    }
    assert!(
        d.log().contains("receipt rate limit reached"),
        "the daemon logs it\n{}",
        d.log_tail()
    );

    // The Helpdesk's digest counts them.
    let digest = d.cli(&["digest"]);
    let digest = String::from_utf8_lossy(&digest.stdout);
    assert!(
        digest.contains("6 kvitteringer udskudt af en grænse pr. time"),
        "{digest}"
    );

    assert_eq!(open_the_window(&d).await, (2 * FORMS - 10) as u64);
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        "all 16 receipts",
        |n| n >= 2 * FORMS,
        DRAIN,
    )
    .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());
    assert_eq!(stack.fetch_all(FA, "INBOX").await.len(), 2 * FORMS);
    assert!(queued(&d).await.iter().all(|r| r.sent));
}

/// Waits until the clock hour has more than `needed` left: the limits count per clock hour,
/// and a test that expects two batches in the same hour must not straddle a boundary.
async fn clear_of_the_next_hour(needed: Duration) {
    let into_hour = chrono::Utc::now().timestamp().rem_euclid(3600) as u64;
    let left = 3600 - into_hour;
    if left <= needed.as_secs() {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}

/// `fa+1@`, `FA+2@` and `Fa@` are one person: with a limit of 4 receipts an hour, their three
/// forms (six receipts) get four at once and two deferred. The overall cap (here 6) defers a
/// second sender's receipts once six are counted this hour, whoever they went to.
#[tokio::test]
async fn tagged_and_case_folded_addresses_share_one_limit_and_the_overall_cap_defers_too() {
    const TAGGED: [&str; 3] = ["fa+1@example.test", "FA+2@example.test", "Fa@example.test"];
    const OTHER: &str = "other@example.test";
    clear_of_the_next_hour(Duration::from_secs(300)).await;
    let stack = MailStack::start(&["fa+1@example.test", "fa+2@example.test", OTHER]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| {
        c.replace(
            "receipts_per_address_per_hour = 1000",
            "receipts_per_address_per_hour = 4",
        )
        .replace("receipts_per_hour = 10000000", "receipts_per_hour = 6")
    });
    for (n, from) in TAGGED.iter().enumerate() {
        let id = format!("KMB-IT-{:04}", 4001 + n);
        let (_, raw) = form_from(from, &id, &format!("Bestilling {id}"));
        stack.send(FA, HELPDESK, &raw).await;
    }
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_orders(TAGGED.len(), DRAIN).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    // The second sender comes after: the tagged receipts filled the overall cap to four.
    for n in 0..2 {
        let id = format!("KMB-IT-{:04}", 4101 + n);
        let (_, raw) = form_from(OTHER, &id, &format!("Bestilling {id}"));
        stack.send(OTHER, HELPDESK, &raw).await;
    }
    d.wait_orders(TAGGED.len() + 2, DRAIN).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    let rows = queued(&d).await;
    let to = |who: &dyn Fn(&str) -> bool| -> Vec<&Queued> {
        rows.iter()
            .filter(|r| r.recipients.iter().any(|a| who(a)))
            .collect()
    };
    let tagged = to(&|a: &str| a != OTHER);
    assert_eq!(tagged.len(), 6, "{rows:#?}");
    let late: Vec<&&Queued> = tagged.iter().filter(|r| r.deferred()).collect();
    assert_eq!(late.len(), 2, "four at once, two deferred: {rows:#?}");
    for r in &late {
        assert!(
            r.last_error
                .contains("more than 4 receipts an hour to fa@example.test"),
            "counted as one address: {r:#?}"
        );
    }
    let other = to(&|a: &str| a == OTHER);
    assert_eq!(other.len(), 4, "{rows:#?}");
    let late: Vec<&&Queued> = other.iter().filter(|r| r.deferred()).collect();
    assert_eq!(
        late.len(),
        2,
        "the cap of six leaves room for two: {rows:#?}"
    );
    for r in &late {
        assert!(
            r.last_error.contains("more than 6 receipts an hour in all")
                && !r.last_error.contains("receipts an hour to"),
            "held back by the overall cap only: {r:#?}"
        );
    }
    assert!(rows.iter().all(|r| r.sent || r.deferred()), "{rows:#?}");
}

/// Five form mails from one sender with a cap of three orders an hour: three orders are made
/// and judged; the fourth and fifth mail are kept and gathered on ONE review order for a
/// person (its history names both mails), their forms are not made into orders, and the sender
/// gets one receipt saying a person looks at it.
#[tokio::test]
async fn forms_over_the_hourly_order_cap_go_to_one_review_order() {
    // One review order per sender and clock hour: the five mails must land in one hour.
    clear_of_the_next_hour(Duration::from_secs(300)).await;
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| {
        c.replace(
            "orders_per_sender_per_hour = 10000000",
            "orders_per_sender_per_hour = 3",
        )
    });
    const MAILS: usize = 5;
    let ids: Vec<String> = (0..MAILS)
        .map(|n| format!("KMB-IT-{:04}", 6001 + n))
        .collect();
    for id in &ids {
        let (_, raw) = form_from(FA, id, &format!("Bestilling {id}"));
        stack.send(FA, HELPDESK, &raw).await;
    }
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.wait_mailbox(
        &stack,
        HELPDESK,
        "Processed",
        "5 processed mails",
        |n| n >= MAILS,
        DRAIN,
    )
    .await;
    // 3 orders x 2 receipts, and one til_vurdering for the held mails.
    d.wait_mailbox(&stack, FA, "INBOX", "7 receipts", |n| n >= 7, DRAIN)
        .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    let orders = d.orders();
    assert_eq!(
        orders.len(),
        4,
        "three orders and one review order: {orders:#?}"
    );
    // Postfix may deliver them in any order: whichever three came first are orders.
    let made: Vec<&String> = ids
        .iter()
        .filter(|id| orders.iter().any(|o| o["bestillings_id"] == id.as_str()))
        .collect();
    assert_eq!(made.len(), 3, "{orders:#?}");
    for o in orders.iter().filter(|o| o["state"] != "review") {
        assert_eq!(o["state"], "approved", "{o:#}");
    }
    let over: Vec<&String> = ids.iter().filter(|id| !made.contains(id)).collect();
    let held = orders
        .iter()
        .find(|o| o["state"] == "review")
        .unwrap_or_else(|| panic!("a review order: {orders:#?}"));
    let reference = held["ref"].as_str().expect("ref");
    let order = d.order(reference);
    let events = order["events"].as_array().expect("events");
    let judged: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["action"] == "judged").collect();
    assert_eq!(judged.len(), 1, "{order:#}");
    let first = judged[0]["detail"].as_str().unwrap_or("");
    assert!(first.contains("mere end 3 bestillinger"), "{order:#}");
    let later: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["action"] == "mail held")
        .collect();
    assert_eq!(
        later.len(),
        1,
        "the fifth mail joins the same order: {order:#}"
    );
    let second = later[0]["detail"].as_str().unwrap_or("");
    // The two held mails, one named where the order was made, the other where it joined.
    let named = |t: &str| over.iter().filter(|id| t.contains(id.as_str())).count();
    assert_eq!((named(first), named(second)), (1, 1), "{order:#}");
    assert!(
        over.iter()
            .all(|id| first.contains(id.as_str()) || second.contains(id.as_str()))
    );
    // Every mail is kept.
    let pool = d.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbound_mail")
        .fetch_one(&pool)
        .await
        .expect("inbound_mail");
    assert!(stored >= MAILS as i64, "{stored} mails stored");
    assert_eq!(stack.fetch_all(FA, "INBOX").await.len(), 7);
}

/// Five mails that each go to review with a limit of two review mails an hour: the Helpdesk
/// gets two review mails, and the other three orders are named in ONE summary mail that waits
/// for the next clock hour; once it comes, the running daemon sends it.
#[tokio::test]
async fn a_burst_of_review_mails_collapses_into_one_summary() {
    // The summary is per clock hour: the five mails must land in one hour.
    clear_of_the_next_hour(Duration::from_secs(300)).await;
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| {
        c.replace(
            "review_mails_per_hour = 10000000",
            "review_mails_per_hour = 2",
        )
    });
    const MAILS: usize = 5;
    for n in 0..MAILS {
        let raw = MessageBuilder::new()
            .from(("Fagansvarlig", FA))
            .to(HELPDESK)
            .subject(format!("Spørgsmål {n}"))
            .message_id(format!("noform.{n}.{}@example.test", std::process::id()))
            .date(chrono::Utc::now().timestamp())
            .text_body("Hej, hvordan bestiller jeg et nyt certifikat?")
            .write_to_vec()
            .expect("the mail builds");
        stack.send(FA, HELPDESK, &raw).await;
    }
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let orders = d.wait_orders(MAILS, DRAIN).await;
    d.wait_mailbox(&stack, FA, "INBOX", "5 receipts", |n| n >= MAILS, DRAIN)
        .await;

    let outbox = d.outbox().await;
    let of_kind = |k: &str| outbox.iter().filter(|r| r.kind == k).collect::<Vec<_>>();
    assert_eq!(of_kind("helpdesk_vurdering").len(), 2, "{outbox:#?}");
    let summary = of_kind("helpdesk_samlet");
    assert_eq!(summary.len(), 1, "one summary: {outbox:#?}");
    assert!(!summary[0].sent, "it waits for the next hour: {outbox:#?}");
    assert_eq!(summary[0].recipients, vec![d.staff()]);
    let pool = d.pool().await;
    let (raw, next): (Vec<u8>, String) =
        sqlx::query_as("SELECT raw, next_attempt_at FROM outbox WHERE kind = 'helpdesk_samlet'")
            .fetch_one(&pool)
            .await
            .expect("the summary row");
    let next = chrono::DateTime::parse_from_rfc3339(&next).expect("next_attempt_at");
    assert!(
        next > chrono::Utc::now(),
        "not before the next hour: {next}"
    );
    assert_eq!(next.timestamp() % 3600, 0, "the start of an hour: {next}");
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("3 bestillinger til vurdering"), "{text}");
    let gathered: Vec<String> = orders
        .iter()
        .filter_map(|o| o["ref"].as_str())
        .filter(|r| {
            d.order(r)["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["action"] == "review mail gathered"))
        })
        .map(str::to_string)
        .collect();
    assert_eq!(gathered.len(), 3, "{orders:#?}");
    for r in &gathered {
        assert!(
            text.contains(r.as_str()),
            "{r} named in the summary: {text}"
        );
    }

    // The next hour comes: the summary is sent.
    sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE kind = 'helpdesk_samlet'")
        .bind(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .execute(&pool)
        .await
        .expect("ageing the summary");
    pool.close().await;
    let start = std::time::Instant::now();
    while !d
        .outbox()
        .await
        .iter()
        .any(|r| r.kind == "helpdesk_samlet" && r.sent)
    {
        assert!(
            start.elapsed() < DRAIN,
            "the summary was not sent\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());
}

/// A Reply-To in another domain than From gets nothing (From gets the receipts); a Reply-To in
/// From's own domain is honoured.
#[tokio::test]
async fn receipts_go_to_a_reply_to_only_in_the_senders_domain() {
    const VICTIM: &str = "victim@other.test";
    const CASE: &str = "sag@example.test";
    let stack = MailStack::start(&[VICTIM, CASE]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let mail = |id: &str, reply_to: &str| {
        MessageBuilder::new()
            .from(("Fagansvarlig", FA))
            .reply_to(reply_to)
            .to(HELPDESK)
            .subject(format!("Bestilling {id}"))
            .message_id(format!(
                "{}.{}@example.test",
                id.to_lowercase(),
                std::process::id()
            ))
            .date(chrono::Utc::now().timestamp())
            .text_body("Hermed bestillingen.")
            .attachment(DOCX_TYPE, "Bestilling.docx", WsForm::new(id, FA).docx())
            .write_to_vec()
            .expect("the mail builds")
    };
    stack.send(FA, HELPDESK, &mail("KMB-IT-5001", VICTIM)).await;
    stack
        .send(FA, HELPDESK, &mail("KMB-IT-5002", "Sag@Example.TEST"))
        .await;
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_orders(2, DRAIN).await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.wait_mailbox(&stack, FA, "INBOX", "4 receipts", |n| n >= 4, DRAIN)
        .await;
    d.wait_mailbox(&stack, CASE, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    assert!(
        stack.fetch_all(VICTIM, "INBOX").await.is_empty(),
        "{VICTIM} got mail"
    );
    // FA: both receipts of the first mail, and of the second as the form's contact.
    assert_eq!(stack.fetch_all(FA, "INBOX").await.len(), 4);
    assert_eq!(stack.fetch_all(CASE, "INBOX").await.len(), 2);
    for row in d.outbox().await {
        assert!(
            !row.recipients.iter().any(|a| a == VICTIM),
            "queued to {VICTIM}: {row:#?}"
        );
    }
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

/// `raw` with `header` (a whole line) put in front, as the receiving MTA's filter adds it.
fn with_header(header: &str, raw: &[u8]) -> Vec<u8> {
    let mut out = format!("{header}\r\n").into_bytes();
    out.extend_from_slice(raw);
    out
}

/// The inbound rows and the `ignored` events of the mails whose Message-ID starts `prefix`.
async fn ignored_as(d: &Daemon, prefix: &str) -> Vec<(String, String)> {
    let pool = d.pool().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.disposition, e.detail FROM inbound_mail m \
         JOIN events e ON e.inbound_id = m.id AND e.action = 'ignored' \
         WHERE m.message_id LIKE $1 ORDER BY m.id",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&pool)
    .await
    .expect("the inbound mails");
    pool.close().await;
    rows
}

/// Spam by the receiving MTA's verdict (`helpdesk.spam_headers`, DESIGN.md "Loop safety"): a
/// form mail flagged by SpamAssassin (`X-Spam-Flag: YES`) or by Exchange Online (SCL 9) is
/// stored and moved out of the inbox, marked ignored as spam, and makes no order and no
/// receipt: no backscatter to a forged sender. With `spam_headers = []` the same mail is an
/// ordinary order again.
#[tokio::test]
async fn spam_by_the_mtas_verdict_is_stored_and_never_answered() {
    const FORGED: &str = "forged@example.test";
    const SCL: &str = "scl@example.test";
    let stack = MailStack::start(&[FORGED, SCL]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let (_, flagged) = form_from(FORGED, "KMB-IT-4001", "Bestilling");
    let flagged = with_header("X-Spam-Flag: YES", &flagged);
    stack.send(FORGED, HELPDESK, &flagged).await;
    let (_, scl) = form_from(SCL, "KMB-IT-4002", "Bestilling");
    let scl = with_header("X-MS-Exchange-Organization-SCL: 9", &scl);
    stack.send(SCL, HELPDESK, &scl).await;
    // A control form: once its receipts are in, the outbox has sent whatever it had before.
    let (_, control) = form_from(FA, "KMB-IT-4003", "Almindelig bestilling");
    stack.send(FA, HELPDESK, &control).await;

    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_mailbox(&stack, FA, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    d.wait_inbox_empty(&stack, DRAIN).await;
    d.wait_mailbox(
        &stack,
        HELPDESK,
        "Processed",
        "3 processed mails",
        |n| n >= 3,
        DRAIN,
    )
    .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());

    let orders = d.orders();
    assert_eq!(
        orders.len(),
        1,
        "only the control form is an order: {orders:#?}"
    );
    assert_eq!(orders[0]["bestillings_id"], "KMB-IT-4003");
    for prefix in ["kmb-it-4001.", "kmb-it-4002."] {
        let rows = ignored_as(&d, prefix).await;
        assert_eq!(rows.len(), 1, "{prefix}: {rows:?}");
        let (disposition, detail) = &rows[0];
        assert_eq!(disposition, "ignored");
        assert!(detail.starts_with("spam from "), "{detail}");
    }
    for user in [FORGED, SCL] {
        assert!(
            stack.fetch_all(user, "INBOX").await.is_empty(),
            "{user} got a receipt"
        );
    }
    for row in d.outbox().await {
        assert_eq!(row.recipients, vec![FA.to_string()], "{}", row.kind);
    }

    // Turned off: a new daemon (its own database) answers the flagged sender.
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| c.replace("own_domains = []", "own_domains = []\nspam_headers = []"));
    let (_, again) = form_from(FORGED, "KMB-IT-4004", "Bestilling");
    stack
        .send(FORGED, HELPDESK, &with_header("X-Spam-Flag: YES", &again))
        .await;
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d.wait_mailbox(&stack, FORGED, "INBOX", "2 receipts", |n| n >= 2, DRAIN)
        .await;
    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["bestillings_id"], "KMB-IT-4004");
}
