//! The digest and billing end to end: orders made by the real `spdesk run` from form mails
//! over a real Dovecot + Postfix; `spdesk digest --send` mails the digest to digest_to, listing
//! an overdue order under "Overskredet"; two `spdesk billing run`s bill an executed order
//! once, with one CSV mail to billing_to.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Days, Utc};
use common::daemon::Daemon;
use common::fixtures;
use common::{FA, HELPDESK, MailStack};
use spdesk::mail::Mail;

/// Generous: a loaded CI machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(60);

const FORM: &str = "From: Lars Bæk Poulsen <fa@example.test>
To: Serviceplatformens Helpdesk <helpdesk@example.test>
Subject: Bestilling: overvågning af filafhentning for FamilieFlow
Message-ID: <digest-billing.{{STAMP}}@example.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hej Helpdesk

Vi vil gerne have slået overvågning til på vores SFTP-indbakke.

Ændring af overvågning af filafhentning (SFTP-indbakke)

KOMBIT BestillingsID: EX-SFTP-{{STAMP}}
Miljø: Produktion
Ønsket tidspunkt for ændring: {{DESIRED}} kl. 10.00
Organisation: Borgerdata I/S
CVR-nr.: 54921942
Kontaktperson: Lars Bæk Poulsen
E-mail: fa@example.test
It-system: FamilieFlow
It-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2
It-systemrolle: Modtagersystem
SFTP-bruger: bd_familieflow
Overvågning: Til
Tidsgrænse for afhentning (timer): 24
Advisering til: drift@example.test; vagt@example.test

Venlig hilsen
Lars Bæk Poulsen
";

/// The form mail with a valid desired date: the first working day three weeks ahead.
fn form_mail(stamp: &str) -> Vec<u8> {
    let day = fixtures::working_day_on_or_after(fixtures::today() + Days::days(21));
    let desired = format!("{:02}-{:02}-{}", day.day(), day.month(), day.year());
    FORM.replace("{{STAMP}}", stamp)
        .replace("{{DESIRED}}", &desired)
        .into_bytes()
}

/// `spdesk run` against the stack; the shared test config keeps the schedule out of the way,
/// so the test runs the digest and billing jobs itself.
fn start_daemon(stack: &MailStack) -> Daemon {
    let mut d = Daemon::new(stack, HELPDESK);
    d.edit_config(|c| c.replace("poll_interval = \"60s\"", "poll_interval = \"1s\""));
    d.start();
    d
}

/// Runs a CLI command with the daemon's config; panics unless it exits 0.
fn cli(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "spdesk {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Mails in the Helpdesk mailbox (the daemon reads it and moves our own mails to Processed)
/// whose subject starts with `prefix`.
async fn helpdesk_mails(stack: &MailStack, staff: &str, prefix: &str) -> Vec<Mail> {
    let mut out = Vec::new();
    for folder in ["INBOX", "Processed"] {
        for raw in stack.fetch_or_empty(staff, folder).await {
            if let Some(m) = Mail::parse(&raw, 1)
                && m.subject.starts_with(prefix)
            {
                out.push(m);
            }
        }
    }
    out
}

async fn wait_helpdesk_mails(stack: &MailStack, d: &Daemon, prefix: &str, n: usize) -> Vec<Mail> {
    let start = Instant::now();
    loop {
        let got = helpdesk_mails(stack, &d.staff(), prefix).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited {WAIT:?} for {n} mail(s) \"{prefix}...\" to {}; got {}\n{}",
            d.staff(),
            got.len(),
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_orders(d: &Daemon, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let orders = d.orders();
        if orders.len() >= n && orders.iter().all(|o| o["state"] == "approved") {
            return orders;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited {WAIT:?} for {n} approved orders; got {orders:#?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn billed_at(pool: &sqlx::AnyPool, reference: &str) -> Option<String> {
    sqlx::query_scalar("SELECT billed_at FROM orders WHERE ref = $1")
        .bind(reference)
        .fetch_one(pool)
        .await
        .expect("billed_at")
}

fn text_between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in {text}"));
    let rest = &text[start..];
    let end = rest.find(to).unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test]
async fn digest_lists_an_overdue_order_and_billing_bills_once() {
    let stack = MailStack::start(&[]);
    let mut d = start_daemon(&stack);
    let stamp = format!("{}", std::process::id());
    for n in 1..=2 {
        let raw = form_mail(&format!("{stamp}-{n}"));
        stack.send(FA, HELPDESK, &raw).await;
    }
    let orders = wait_orders(&d, 2).await;
    let refs: Vec<String> = orders
        .iter()
        .map(|o| o["ref"].as_str().expect("ref").to_string())
        .collect();
    let (overdue, executed) = (&refs[0], &refs[1]);

    let store = spdesk::store::Store::open(&d.db_url()).await.expect("db");
    let pool = &store.pool;
    // The first order's planned time has passed; the second one is done.
    let past = spdesk::store::ts(Utc::now() - Days::days(2));
    sqlx::query("UPDATE orders SET planned_at = $1 WHERE ref = $2")
        .bind(&past)
        .bind(overdue)
        .execute(pool)
        .await
        .expect("make overdue");
    let list = d.orders();
    let o = list
        .iter()
        .find(|o| o["ref"] == overdue.as_str())
        .expect("order");
    assert_eq!(o["overdue"], true, "{o}");

    // The digest: printed, then sent once even when asked twice.
    let printed = cli(&d, &["digest"]);
    assert!(printed.contains("1 overskredet"), "{printed}");
    let out = cli(&d, &["digest", "--send"]);
    assert!(out.contains("digest queued"), "{out}");
    let again = cli(&d, &["digest", "--send"]);
    assert!(again.contains("already queued"), "{again}");
    let digests = wait_helpdesk_mails(&stack, &d, "Daglig oversigt", 1).await;
    let digest = &digests[0];
    assert!(
        digest.subject.contains("1 overskredet"),
        "{}",
        digest.subject
    );
    let text = digest.text.clone().unwrap_or_default();
    let section = text_between(&text, "\nOverskredet", "Fejlet / incident");
    assert!(
        section.contains(overdue.as_str()),
        "{overdue} not under Overskredet:\n{text}"
    );
    assert!(!section.contains(executed.as_str()), "{text}");
    let html = digest.html.clone().unwrap_or_default();
    assert!(html.contains("<table"), "{html}");
    assert!(html.contains(overdue.as_str()), "{html}");

    // Billing: one executed order, two runs, one mail with one line.
    sqlx::query("UPDATE orders SET state = 'executed', executed_at = $1 WHERE ref = $2")
        .bind(spdesk::store::ts(Utc::now()))
        .bind(executed)
        .execute(pool)
        .await
        .expect("mark executed");
    let first = cli(&d, &["billing", "run"]);
    assert!(first.contains("1 order(s) billed"), "{first}");
    let stamp1 = billed_at(pool, executed)
        .await
        .expect("billed_at after the first run");
    let second = cli(&d, &["billing", "run"]);
    assert!(second.contains("no executed, unbilled orders"), "{second}");
    assert_eq!(
        billed_at(pool, executed).await,
        Some(stamp1),
        "billed_at set once"
    );
    assert_eq!(
        billed_at(pool, overdue).await,
        None,
        "an approved order is not billed"
    );

    let bills = wait_helpdesk_mails(&stack, &d, "Fakturering", 1).await;
    // All the daemon queued is delivered: a wrongly queued second mail is there by now.
    d.wait_all_delivered(&stack, WAIT).await;
    let bills_later = helpdesk_mails(&stack, &d.staff(), "Fakturering").await;
    assert_eq!(bills_later.len(), 1, "exactly one billing mail");
    let csv_att = bills[0]
        .attachments
        .iter()
        .find(|a| a.name.as_deref().is_some_and(|n| n.ends_with(".csv")))
        .expect("the CSV attachment");
    let csv = String::from_utf8(csv_att.bytes.clone()).expect("UTF-8 CSV");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    // DESIGN.md's header, written out: not the constant of the code under test.
    assert_eq!(
        rows[0],
        "bestillings_id,ref,kind,org_name,org_cvr,system_name,executed_at,price,currency,billed_at"
    );
    assert!(rows[1].contains(executed.as_str()), "{csv}");
    assert!(rows[1].contains(",sftp,"), "{csv}");
    assert!(rows[1].contains(",2500.00,DKK,"), "{csv}");

    // The export of this month lists the order with its billed_at.
    let month = fixtures::today().format("%Y-%m").to_string();
    let export = cli(&d, &["billing", "export", "--period", &month]);
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 2, "{export}");
    assert!(
        lines[1].contains(executed.as_str()) && !lines[1].ends_with(','),
        "{export}"
    );
    let file = d.dir().join("export.csv");
    cli(
        &d,
        &[
            "billing",
            "export",
            "--period",
            &month,
            "--out",
            file.to_str().expect("path"),
        ],
    );
    assert_eq!(std::fs::read_to_string(&file).expect("export file"), export);
    assert!(Path::new(&file).exists());
}
