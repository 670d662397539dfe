//! Outages (issue 6): the IMAP server down and back, the SMTP server down for minutes and back,
//! the database locked by another writer, the database's disk full. Through each the real
//! `spdesk run` keeps running and says what is wrong in its log; afterwards it catches up:
//! every form gets its order and its receipts exactly once, nothing is quarantined for the
//! outage's sake, and the Helpdesk INBOX ends empty.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;

use sqlx::{AnyConnection, Connection};

use common::daemon::{Daemon, kill_imap_sessions};
use common::fixtures::{WsForm, form_mail, received};
use common::postgres::Postgres;
use common::{FA, HELPDESK, MailStack};

/// Generous bounds: other test suites share the two cores.
const CONNECT: Duration = Duration::from_secs(60);
const CATCH_UP: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(20);
/// How long the database is locked: well beyond the store's busy timeout of 10 s.
const LOCKED_FOR: Duration = Duration::from_secs(25);
/// How long the PostgreSQL server stays down.
const PG_DOWN_FOR: Duration = Duration::from_secs(120);
/// After PostgreSQL is back, every receipt has arrived within this.
const PG_CATCH_UP: Duration = Duration::from_secs(60);
/// How long the IMAP server and the database's disk stay down.
const DOWN_FOR: Duration = Duration::from_secs(20);
/// After SMTP is back, every held receipt arrives within this.
const SMTP_CATCH_UP: Duration = Duration::from_secs(90);

/// A form sent in (its Message-ID and subject), to match the receipts against.
struct Sent {
    mid: String,
    subject: String,
}

fn form(test: &str, n: usize) -> (String, Vec<u8>, Sent) {
    let id = format!("KMB-IT-{test}{n:03}");
    let mid = format!(
        "{}.{}.{}@fa.example.test",
        id.to_lowercase(),
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let subject = format!("Bestilling {id} under udfald");
    let raw = form_mail(FA, HELPDESK, &subject, &mid, &WsForm::new(&id, FA).docx());
    (id, raw, Sent { mid, subject })
}

/// Sends `n` forms over SMTP (Postfix).
async fn send_forms(stack: &MailStack, test: &str, n: usize) -> Vec<Sent> {
    let mut out = Vec::new();
    for i in 0..n {
        let (_, raw, sent) = form(test, i);
        stack.send(FA, HELPDESK, &raw).await;
        out.push(sent);
    }
    out
}

/// Puts `n` forms straight into the Helpdesk INBOX with IMAP APPEND (no Postfix). Not LMTP:
/// its empty envelope sender becomes `Return-Path: <>`, and the daemon rightly treats such a
/// mail as a bounce and never answers it.
async fn deliver_forms(stack: &MailStack, test: &str, n: usize) -> Vec<Sent> {
    let mut out = Vec::new();
    for i in 0..n {
        let (_, raw, sent) = form(test, i);
        stack.append(HELPDESK, "INBOX", &raw).await;
        out.push(sent);
    }
    out
}

async fn started(stack: &MailStack) -> Daemon {
    let mut d = Daemon::new(stack, HELPDESK);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d
}

/// Panics with the log when the daemon has exited.
fn assert_running(d: &mut Daemon, during: &str) {
    if let Some(status) = d.poll_exit() {
        panic!(
            "the daemon exited ({status}) during {during}\n{}",
            d.log_tail()
        );
    }
}

/// Sleeps until `until`, checking every second that the daemon still runs.
async fn stay_alive_until(d: &mut Daemon, until: Instant, during: &str) {
    while Instant::now() < until {
        assert_running(d, during);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_running(d, during);
}

/// Opens the daemon's database beside the daemon (read and write; SQLite's WAL lets both in).
async fn db(url: &str) -> AnyConnection {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot open the daemon's database {url}: {e}"))
}

async fn scalar(url: &str, sql: &'static str) -> i64 {
    let mut c = db(url).await;
    let v: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = c.close().await;
    v
}

/// Everything after the outage: `sent.len()` approved orders, the INBOX empty, Quarantine
/// empty and no mail stored as quarantined, each mail's attempt counted once only (an outage
/// is not the mail's fault), and exactly the two receipts per form in fa's INBOX once the
/// daemon has stopped (its outbox makes a last round first).
async fn assert_caught_up(stack: &MailStack, d: &mut Daemon, db_url: &str, sent: &[Sent]) {
    let receipts = d
        .wait_mailbox(
            stack,
            FA,
            "INBOX",
            &format!("{} receipts", 2 * sent.len()),
            |n| n >= 2 * sent.len(),
            CATCH_UP,
        )
        .await;
    drop(receipts);
    d.wait_inbox_empty(stack, CATCH_UP).await;
    let orders = d.wait_orders(sent.len(), CATCH_UP).await;
    assert_eq!(orders.len(), sent.len(), "one order per form: {orders:#?}");
    for o in &orders {
        assert_eq!(o["state"], "approved", "{o:#}");
        let reference = o["ref"].as_str().unwrap_or_default();
        assert_eq!(
            d.receipts_queued(reference),
            2,
            "receipts queued for {reference}"
        );
    }
    let quarantined = stack.fetch_all(HELPDESK, "Quarantine").await;
    assert!(
        quarantined.is_empty(),
        "{} mail(s) quarantined\n{}",
        quarantined.len(),
        d.log_tail()
    );
    assert_eq!(
        scalar(
            db_url,
            "SELECT COUNT(*) FROM inbound_mail WHERE disposition = 'quarantined'"
        )
        .await,
        0,
        "no mail stored as quarantined"
    );
    assert_eq!(
        scalar(db_url, "SELECT COUNT(*) FROM inbound_mail").await,
        sent.len() as i64,
        "every mail stored once"
    );
    let most = scalar(
        db_url,
        "SELECT COALESCE(MAX(attempts), 0) FROM intake_attempts",
    )
    .await;
    assert!(
        most <= 1,
        "a mail was charged {most} attempts for an outage\n{}",
        d.log_tail()
    );

    d.terminate();
    assert!(d.wait_exit(STOP).await.success(), "{}", d.log_tail());
    assert_receipts_once(&stack.fetch_all(FA, "INBOX").await, sent);
}

/// fa's INBOX holds exactly a modtaget and a godkendt receipt per form, nothing twice.
fn assert_receipts_once(all: &[Vec<u8>], sent: &[Sent]) {
    let parsed: Vec<_> = all.iter().map(|m| received(m)).collect();
    let subjects: Vec<&str> = parsed.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(
        parsed.len(),
        2 * sent.len(),
        "two receipts per form, each once: {subjects:#?}"
    );
    let ids: BTreeSet<&str> = parsed.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        parsed.len(),
        "a receipt came twice: {subjects:#?}"
    );
    // "heading | subject": the kind is the body's first line, the subject the same for both.
    let mut per_form: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in &parsed {
        for s in sent {
            if r.in_reply_to.contains(&s.mid) {
                per_form
                    .entry(&s.mid)
                    .or_default()
                    .push(format!("{} | {}", r.heading, r.subject));
            }
        }
    }
    for s in sent {
        let got = per_form.get(s.mid.as_str()).cloned().unwrap_or_default();
        assert_eq!(got.len(), 2, "receipts for {:?}: {got:?}", s.subject);
        assert!(
            got.iter()
                .any(|x| x.starts_with("Kvittering for modtagelse |") && x.ends_with(&s.subject)),
            "no modtaget receipt for {:?}: {got:?}",
            s.subject
        );
        assert!(
            got.iter()
                .any(|x| x.starts_with("Bestillingen er godkendt |") && x.ends_with(&s.subject)),
            "no godkendt receipt for {:?}: {got:?}",
            s.subject
        );
    }
}

#[tokio::test]
async fn imap_down_and_back() {
    let stack = MailStack::start(&[]);
    let mut d = started(&stack).await;
    let db_url = d.db_url();

    let down = Instant::now();
    stack.stop_dovecot();
    let killed = kill_imap_sessions(&stack);
    eprintln!("Dovecot stopped; IMAP sessions ended: {killed}");
    // Postfix takes them and keeps them queued: LMTP is down too.
    let sent = send_forms(&stack, "2", 3).await;
    d.wait_log("IMAP connection lost; reconnecting", 1, CONNECT)
        .await;
    stay_alive_until(&mut d, down + DOWN_FOR, "the IMAP outage").await;
    assert_eq!(
        d.orders().len(),
        0,
        "no mail can have been read while IMAP was down"
    );

    stack.start_dovecot();
    stack.flush_queue();
    let back = Instant::now();
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        "all receipts",
        |n| n >= 2 * sent.len(),
        CATCH_UP,
    )
    .await;
    eprintln!(
        "IMAP down for {:?}; all receipts {:?} after it was back; reconnects: {}",
        back - down,
        back.elapsed(),
        d.log().matches("IMAP connected").count() - 1
    );
    assert_caught_up(&stack, &mut d, &db_url, &sent).await;
}

#[tokio::test]
async fn smtp_down_for_minutes_and_back() {
    let down_for = std::env::var("OUTAGE_SMTP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(120));
    let stack = MailStack::start(&[]);
    let mut d = started(&stack).await;
    let db_url = d.db_url();

    let down = Instant::now();
    stack.stop_postfix();
    let sent = deliver_forms(&stack, "3", 3).await;
    // Intake goes on: the orders are made and the receipts queued.
    let orders = d.wait_orders(sent.len(), CATCH_UP).await;
    assert!(
        orders.iter().all(|o| o["state"] == "approved"),
        "{orders:#?}"
    );
    d.wait_log("SMTP server unavailable; the mail stays queued", 1, CONNECT)
        .await;
    stay_alive_until(&mut d, down + down_for, "the SMTP outage").await;

    let unsent = scalar(&db_url, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").await;
    assert_eq!(
        unsent,
        2 * sent.len() as i64,
        "every receipt waits in the outbox"
    );
    let tries = scalar(
        &db_url,
        "SELECT CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM outbox",
    )
    .await;
    assert!(
        tries >= 3,
        "the outbox kept trying while SMTP was down: {tries} tries"
    );
    eprintln!(
        "SMTP down for {:?}: {unsent} receipts queued, {tries} tries",
        down.elapsed()
    );

    stack.start_postfix();
    let back = Instant::now();
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        "all receipts within 90 s of SMTP's return",
        |n| n >= 2 * sent.len(),
        SMTP_CATCH_UP,
    )
    .await;
    eprintln!("all receipts {:?} after SMTP was back", back.elapsed());
    assert_eq!(
        scalar(&db_url, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").await,
        0,
        "the outbox is empty"
    );
    assert_caught_up(&stack, &mut d, &db_url, &sent).await;
}

#[tokio::test]
async fn database_locked_by_another_writer() {
    let stack = MailStack::start(&[]);
    let mut d = started(&stack).await;
    let db_url = d.db_url();

    // Another process takes the write lock and keeps it past the daemon's busy timeout.
    let mut locker = db(&db_url).await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("BEGIN EXCLUSIVE: {e}"));
    sqlx::query("UPDATE jobs SET last_run = last_run")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("a write under the lock: {e}"));
    let locked = Instant::now();

    let sent = send_forms(&stack, "4", 3).await;
    d.wait_log("database unavailable; retrying", 1, CONNECT)
        .await;
    assert!(
        d.log().contains("database is locked"),
        "the log names the error\n{}",
        d.log_tail()
    );
    stay_alive_until(&mut d, locked + LOCKED_FOR, "the database lock").await;
    let inbox = stack.fetch_all(HELPDESK, "INBOX").await;
    assert_eq!(
        inbox.len(),
        sent.len(),
        "the mails wait in the INBOX while the database is locked"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap_or_else(|e| panic!("ROLLBACK: {e}"));
    let _ = locker.close().await;
    let released = Instant::now();
    d.wait_orders(sent.len(), CATCH_UP).await;
    eprintln!(
        "database locked for {:?}; all orders {:?} after the release",
        released - locked,
        released.elapsed()
    );
    assert_caught_up(&stack, &mut d, &db_url, &sent).await;
}

/// A small tmpfs for the database, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("spdesk-fulldisk-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "the disk-full test needs to mount a small tmpfs (run as root, with mount \
             permitted), and `mount -t tmpfs` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the free space with one file; returns its path and size.
    fn fill(&self) -> (PathBuf, u64) {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let mut written = 0u64;
        for chunk in [1 << 20, 4096, 512, 1] {
            let buf = vec![0xa5u8; chunk];
            while f.write_all(&buf).is_ok() {
                written += chunk as u64;
            }
        }
        let _ = f.sync_all();
        (path, written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

#[tokio::test]
async fn database_disk_full() {
    let stack = MailStack::start(&[]);
    let tmpfs = Tmpfs::mount("16m");
    let db_file = tmpfs.path().join("spdesk.db");
    let db_url = format!("sqlite://{}?mode=rwc", db_file.display());
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|text| {
        text.lines()
            .map(|l| {
                if l.starts_with("url = \"sqlite:") {
                    format!("url = \"{db_url}\"")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    assert!(
        db_file.exists(),
        "the daemon's database is on the tmpfs\n{}",
        d.log_tail()
    );

    let (filler, size) = tmpfs.fill();
    let full = Instant::now();
    eprintln!("filled the database's disk with {size} bytes");
    let sent = send_forms(&stack, "5", 3).await;
    d.wait_log("database unavailable", 1, CONNECT).await;
    assert!(
        d.log().contains("database or disk is full"),
        "the log names the error\n{}",
        d.log_tail()
    );
    stay_alive_until(&mut d, full + DOWN_FOR, "the full disk").await;
    assert!(
        !d.log().contains("mail quarantined"),
        "a mail was quarantined for the full disk\n{}",
        d.log_tail()
    );
    // SQLite may squeeze a commit into space a failed write left behind, so a mail may get
    // through; none is lost: each waits in the INBOX or was stored and moved.
    let inbox = stack.fetch_all(HELPDESK, "INBOX").await.len();
    let processed = stack.fetch_or_empty(HELPDESK, "Processed").await.len();
    assert_eq!(
        inbox + processed,
        sent.len(),
        "every mail waits in the INBOX or was processed ({inbox} + {processed})"
    );

    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("cannot remove the filler: {e}"));
    let freed = Instant::now();
    d.wait_orders(sent.len(), CATCH_UP).await;
    eprintln!(
        "disk full for {:?}; all orders {:?} after space was freed",
        freed - full,
        freed.elapsed()
    );
    assert_caught_up(&stack, &mut d, &db_url, &sent).await;
    drop(d);
    drop(tmpfs);
}

/// PostgreSQL down for two minutes (a server restart, a failover that takes long): the daemon
/// keeps running and says so, the mails wait in the INBOX, and within a minute after the server
/// is back every form has its order and both receipts, exactly once.
#[tokio::test]
async fn postgres_down_for_two_minutes_and_back() {
    let stack = MailStack::start(&[]);
    let pg = Arc::new(Postgres::start());
    let url = pg.new_database();
    let mut d = Daemon::on_postgres(&stack, HELPDESK, &pg, &url);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let db_url = d.db_url();
    let mut sent = send_forms(&stack, "pg-up", 2).await;
    d.wait_orders(sent.len(), CATCH_UP).await;

    pg.stop();
    let down = Instant::now();
    sent.extend(send_forms(&stack, "pg-down", 4).await);
    d.wait_log("database unavailable; retrying", 1, CONNECT)
        .await;
    stay_alive_until(&mut d, down + PG_DOWN_FOR, "the PostgreSQL outage").await;
    let inbox = stack.fetch_all(HELPDESK, "INBOX").await;
    assert_eq!(
        inbox.len(),
        4,
        "the mails wait in the INBOX while PostgreSQL is down"
    );

    pg.start_again();
    let back = Instant::now();
    d.wait_mailbox(
        &stack,
        FA,
        "INBOX",
        &format!("{} receipts", 2 * sent.len()),
        |n| n >= 2 * sent.len(),
        PG_CATCH_UP,
    )
    .await;
    let caught_up = back.elapsed();
    eprintln!(
        "PostgreSQL down for {PG_DOWN_FOR:?}; every receipt arrived {caught_up:?} after it was back"
    );
    assert!(
        caught_up <= PG_CATCH_UP,
        "receipts caught up {caught_up:?} after PostgreSQL returned"
    );
    assert_caught_up(&stack, &mut d, &db_url, &sent).await;
}
