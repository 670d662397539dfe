//! Several instances of `spdesk run` on one mailbox and one PostgreSQL database (issue 16):
//! when one dies, another answers a form within seconds; side by side on a backlog, they share
//! the work through their claims and still make one order per mail and one set of receipts.
//! (The crash harness with three instances is tests/crash_instances.rs.)

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::crash::{MailKind, build_mail, delivered, fetch_headers};
use common::daemon::Daemon;
use common::postgres::Postgres;
use common::{FA, HELPDESK, MailStack};

/// Generous: other test suites share the two cores.
const CONNECT: Duration = Duration::from_secs(60);
/// The lease the instances run with (`database.lease_timeout`): short, so that a claim whose
/// holder died is taken over quickly.
const LEASE: &str = "3s";

/// `n` instances of one installation: the same mailbox, the same PostgreSQL database, each with
/// its own config file (so its own name in the claims) and log, each connected to IMAP.
async fn instances(stack: &MailStack, pg: &Arc<Postgres>, n: usize) -> Vec<Daemon> {
    let url = pg.new_database();
    let mut daemons: Vec<Daemon> = (0..n)
        .map(|_| {
            let d = Daemon::on_postgres(stack, HELPDESK, pg, &url);
            d.edit_config(|c| {
                c.replace(
                    "password_file = \"pg.password\"",
                    &format!("password_file = \"pg.password\"\nlease_timeout = \"{LEASE}\""),
                )
            });
            d
        })
        .collect();
    for d in &mut daemons {
        d.start();
    }
    for d in &mut daemons {
        d.wait_log("IMAP connected", 1, CONNECT).await;
    }
    daemons
}

fn count_lines(d: &Daemon, needle: &str) -> usize {
    d.log().lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test]
async fn a_form_mailed_a_second_after_one_instance_was_killed_is_answered_within_five_seconds() {
    let pg = Postgres::shared();
    let stack = MailStack::start(&[]);
    let mut ds = instances(&stack, &pg, 2).await;
    // Both work: a first form is answered (by either).
    stack
        .send_form("KMB-FO-00001", "Bestilling KMB-FO-00001")
        .await;
    ds[1].wait_form_receipts(&stack, CONNECT).await;
    let stored_by_survivor = count_lines(&ds[1], "mail stored");

    ds[0].kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent_at = Instant::now();
    stack
        .send_form("KMB-FO-00002", "Bestilling KMB-FO-00002")
        .await;
    let got = ds[1]
        .wait_mailbox(
            &stack,
            FA,
            "INBOX",
            "the second form's 2 receipts",
            |n| n >= 4,
            Duration::from_secs(60),
        )
        .await;
    let took = sent_at.elapsed();
    eprintln!(
        "failover: one of two instances SIGKILLed; a form mailed 1 s later had its receipts in \
         fa's INBOX {:.2} s after it was mailed (lease_timeout = {LEASE})",
        took.as_secs_f64()
    );
    assert!(
        took <= Duration::from_secs(5),
        "the receipts took {took:?}, more than 5 s\n{}",
        ds[1].log_tail()
    );
    assert_eq!(got.len(), 4, "two receipts per form, no more");
    assert_eq!(
        count_lines(&ds[1], "mail stored"),
        stored_by_survivor + 1,
        "the surviving instance stored the second form\n{}",
        ds[1].log_tail()
    );
    let orders = ds[1].orders();
    let ids: BTreeSet<&str> = orders
        .iter()
        .filter_map(|o| o["bestillings_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["KMB-FO-00001", "KMB-FO-00002"]),
        "{orders:#?}"
    );
    assert_eq!(orders.len(), 2, "one order per form: {orders:#?}");
}

#[tokio::test]
async fn two_instances_share_a_backlog_and_make_one_order_and_one_set_of_receipts_per_mail() {
    const MAILS: usize = 100;
    let pg = Postgres::shared();
    let stack = MailStack::start(&[]);
    let mut ds = instances(&stack, &pg, 2).await;
    // The backlog arrives while both wait for news.
    let raws: Vec<Vec<u8>> = (0..MAILS)
        .map(|i| build_mail(i, 0x51de, MailKind::Docx).1)
        .collect();
    stack.deliver_lmtp_many(FA, HELPDESK, &raws).await;
    let started = Instant::now();
    ds[0]
        .wait_mailbox(
            &stack,
            FA,
            "INBOX",
            "two receipts per mail",
            |n| n >= 2 * MAILS,
            Duration::from_secs(600),
        )
        .await;
    eprintln!(
        "two instances: the last of {MAILS} mails answered {:.1} s after the backlog was delivered",
        started.elapsed().as_secs_f64()
    );
    ds[0].wait_inbox_empty(&stack, CONNECT).await;
    ds[0].wait_all_delivered(&stack, CONNECT).await;
    for d in &mut ds {
        d.terminate();
        let status = d.wait_exit(Duration::from_secs(60)).await;
        assert!(status.success(), "{status}\n{}", d.log_tail());
    }

    let orders = ds[0].orders();
    let ids: BTreeSet<&str> = orders
        .iter()
        .filter_map(|o| o["bestillings_id"].as_str())
        .collect();
    assert_eq!(
        (orders.len(), ids.len()),
        (MAILS, MAILS),
        "one order per mail"
    );
    let receipts: Vec<String> = fetch_headers(&stack, FA)
        .await
        .iter()
        .map(|h| delivered(h).message_id)
        .collect();
    let distinct: BTreeSet<&String> = receipts.iter().collect();
    assert_eq!(
        (receipts.len(), distinct.len()),
        (2 * MAILS, 2 * MAILS),
        "two receipts per mail, no Message-ID twice"
    );
    let outbox = ds[0].outbox().await;
    assert!(outbox.iter().all(|r| r.sent), "every outbox row sent");
    let stored: Vec<usize> = ds.iter().map(|d| count_lines(d, "mail stored")).collect();
    let sent: Vec<usize> = ds.iter().map(|d| count_lines(d, "mail sent")).collect();
    eprintln!("two instances: stored {stored:?}, sent {sent:?} (per instance)");
    assert_eq!(stored.iter().sum::<usize>(), MAILS, "each mail stored once");
    assert_eq!(
        sent.iter().sum::<usize>(),
        outbox.len(),
        "each outbox row sent once"
    );
    assert!(
        stored.iter().all(|&n| n > 0) && sent.iter().all(|&n| n > 0),
        "both instances did some of the work: stored {stored:?}, sent {sent:?}"
    );
}

/// An instance that starts while PostgreSQL is down (a server restarting, a failover in
/// progress) waits for it instead of exiting, says so in its log, and answers forms once the
/// server is back.
#[tokio::test]
async fn an_instance_started_while_postgres_is_down_waits_for_it() {
    let pg = Arc::new(Postgres::start());
    let url = pg.new_database();
    let stack = MailStack::start(&[]);
    let mut d = Daemon::on_postgres(&stack, HELPDESK, &pg, &url);
    pg.stop();
    d.start();
    d.wait_log("database unavailable at start; retrying", 1, CONNECT)
        .await;
    assert!(
        d.poll_exit().is_none(),
        "the instance exited instead of waiting\n{}",
        d.log_tail()
    );
    pg.start_again();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack
        .send_form("KMB-WAIT-00001", "Bestilling KMB-WAIT-00001")
        .await;
    d.wait_form_receipts(&stack, CONNECT).await;
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["bestillings_id"], "KMB-WAIT-00001");
}
