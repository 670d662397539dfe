//! The document readers in their child process, with hostile documents (tests/common/bombs.rs):
//! a PDF that overflows the parser's stack, a decompression bomb and a reader past its time
//! each make that file unreadable while the parent lives on; through the sandbox directly,
//! through `spdesk check` (exit 11, quick, small), and through the real daemon over the real
//! Dovecot and Postfix (the unreadable-form receipt, the same process, nothing quarantined).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::MailStack;
use common::bombs::{deep_pdf, flate_pdf, html_mail, inflating_pdf, quadratic_html, slow_docx};
use common::daemon::{BIN, Daemon};
use common::fixtures::{DOCX_TYPE, WsForm, received};
use mail_builder::MessageBuilder;
use spdesk::forms::raw::{ReadError, ReadLimits};
use spdesk::forms::reader::{DocumentReader, ReadJob, ReadOutput, ReadRequest, ReaderKind};
use spdesk::sandbox::Sandbox;

const MEMORY: u64 = 512 * 1024 * 1024;
/// The inflating PDF's content: twice the reader's memory.
const BOMB_BYTES: usize = 1 << 30;

fn sandbox() -> Sandbox {
    Sandbox::start(BIN.into(), MEMORY).unwrap_or_else(|e| panic!("{e}"))
}

fn job(kind: ReaderKind, timeout: Duration) -> ReadJob {
    ReadJob {
        kind,
        source: "attachment:test".into(),
        limits: ReadLimits::default(),
        max_files: 20,
        timeout,
    }
}

fn read(
    s: &Sandbox,
    kind: ReaderKind,
    timeout: Duration,
    bytes: &[u8],
) -> Result<ReadOutput, ReadError> {
    s.read(ReadRequest {
        job: &job(kind, timeout),
        bytes,
    })
}

/// A valid form is still read by the same sandbox: the failed child was replaced.
fn assert_reads_a_form(s: &Sandbox) {
    let docx = WsForm::new("KMB-SANDBOX-1", "fa@example.test").docx();
    match read(s, ReaderKind::Docx, Duration::from_secs(10), &docx) {
        Ok(ReadOutput::Form(raw)) => assert!(!raw.entries.is_empty(), "{raw:?}"),
        other => panic!("the valid form after a failure: {other:?}"),
    }
}

/// 100,000 nested arrays behind a `%(` comment that blinded the old pre-scan: the PDF reader's
/// lexer now refuses it before lopdf's recursive parser (which overflowed its stack on it and
/// killed the whole daemon) sees it; either way the file is unreadable and the next one read.
#[test]
fn a_pdf_nested_past_the_parsers_stack_is_unreadable() {
    let s = sandbox();
    let got = read(&s, ReaderKind::Pdf, Duration::from_secs(10), &deep_pdf());
    assert!(matches!(got, Err(ReadError::Damaged(_))), "{got:?}");
    assert_reads_a_form(&s);
}

/// A double-FlateDecode bomb is refused by the reader itself (chained inflating filters).
#[test]
fn a_decompression_bomb_is_unreadable() {
    let s = sandbox();
    let bomb = inflating_pdf(BOMB_BYTES);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let got = read(&s, ReaderKind::Pdf, Duration::from_secs(20), &bomb);
    assert!(got.is_err(), "{got:?}");
    assert_reads_a_form(&s);
}

/// With an inflation budget larger than the child's memory (an installation may set it so),
/// a single-Flate bomb exhausts the reader child: the child dies at its memory limit, the file
/// is unreadable with that reason, and a new child reads the next file.
#[test]
fn a_reader_out_of_memory_dies_alone() {
    let s = sandbox();
    let mut job = job(ReaderKind::Pdf, Duration::from_secs(20));
    job.limits.max_pdf_inflated_bytes = 4 << 30;
    let bomb = flate_pdf(BOMB_BYTES, 1);
    let got = s.read(ReadRequest {
        job: &job,
        bytes: &bomb,
    });
    assert!(
        matches!(&got, Err(ReadError::Limit(m)) if m.contains("memory")),
        "{got:?}"
    );
    assert_reads_a_form(&s);
}

#[test]
fn a_reader_past_its_time_is_killed() {
    let s = sandbox();
    let start = Instant::now();
    let got = read(
        &s,
        ReaderKind::Docx,
        Duration::from_millis(50),
        &slow_docx(400_000),
    );
    assert!(
        matches!(&got, Err(ReadError::Limit(m)) if m.contains("took longer")),
        "{got:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_reads_a_form(&s);
}

/// A reader binary that cannot be started fails at start, naming it, not on the first mail.
#[test]
fn a_missing_reader_binary_fails_at_start() {
    let err = Sandbox::start("/nonexistent/spdesk".into(), MEMORY).expect_err("no such binary");
    assert!(
        err.contains("/nonexistent/spdesk reader-child") && err.contains("No such file"),
        "{err}"
    );
}

/// A kept child that died between requests (here: killed from outside) costs the next file
/// nothing: it is read by a new child.
#[test]
fn a_kept_child_that_died_is_replaced_unnoticed() {
    let s = sandbox();
    assert_reads_a_form(&s);
    let pids = s.idle_pids();
    assert!(!pids.is_empty(), "a kept child");
    for pid in &pids {
        let killed = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
    }
    assert_reads_a_form(&s);
    assert!(
        s.idle_pids().iter().all(|p| !pids.contains(p)),
        "a new child"
    );
}

/// `spdesk check` on a file, with a config of `limits`: exit code, wall-clock time and peak
/// RSS in kB as `/usr/bin/time -v` reports them (for the process and its reaped children).
fn check(dir: &Path, file: &str, bytes: &[u8], limits: &str) -> (i32, Duration, u64, String) {
    std::fs::write(dir.join(file), bytes).expect("writing the file");
    let config = dir.join("check.toml");
    std::fs::write(&config, format!("[limits]\n{limits}\n")).expect("writing the config");
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(BIN)
        .arg("--config")
        .arg(&config)
        .arg("check")
        .arg(file)
        .current_dir(dir)
        .env_remove("SPDESK_CONFIG")
        .output()
        .expect("running /usr/bin/time -v spdesk check (install the time package)");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let rss = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in {stderr}"));
    let code = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Exit status: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1);
    let report = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    (code, elapsed, rss, report)
}

/// `spdesk check` on each bomb: exit 11 (review, the file unreadable), and small (how long
/// each takes is measured by `cargo bench --bench bombs`, not asserted here):
/// `/usr/bin/time` reports the largest peak RSS of the parent and its reaped children, so
/// with `reader_memory = "200 MiB"` it bounds the reader child too.
#[test]
fn check_on_each_bomb_is_a_quick_review() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cases = [
        ("deep.pdf", deep_pdf()),
        ("bomb.pdf", inflating_pdf(BOMB_BYTES)),
        ("slow.docx", slow_docx(400_000)),
        ("slow-html.eml", html_mail(&quadratic_html(800_000))),
    ];
    let limits = "reader_timeout = \"1s\"\nreader_memory = \"200 MiB\"";
    for (file, bytes) in &cases {
        let (code, elapsed, rss_kb, report) = check(dir.path(), file, bytes, limits);
        eprintln!(
            "spdesk check {file} ({} bytes): exit {code}, {:.2} s, peak RSS {} MB",
            bytes.len(),
            elapsed.as_secs_f64(),
            rss_kb / 1024
        );
        assert_eq!(code, 11, "{file}: review\n{report}");
        assert!(report.contains("form.unreadable"), "{file}\n{report}");
        assert!(
            rss_kb <= 256 * 1024,
            "{file}: peak RSS {rss_kb} kB\n{report}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// The daemon over the real servers

const HELPDESK: &str = "helpdesk-sandbox@example.test";
const SENDER: &str = "fa-sandbox@example.test";
const DRAIN: Duration = Duration::from_secs(180);

fn mail_with(
    subject: &str,
    message_id: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Vec<u8> {
    MessageBuilder::new()
        .from(("Karin Holm", SENDER))
        .to(("Serviceplatformens Helpdesk", HELPDESK))
        .subject(subject)
        .message_id(message_id)
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej\n\nHermed vores bestilling, se vedhæftede formular.\n\n/Karin\n")
        .attachment(content_type, name, bytes)
        .write_to_vec()
        .expect("building the mail")
}

/// The crashing PDF and a decompression bomb, mailed to the running daemon: each is one
/// `review` order whose sender gets the "could not read the form" receipt; the daemon is the
/// same process throughout, nothing is quarantined, and the valid form after them is approved.
/// The PDF reader refuses the deep PDF itself; the bomb inflates within an inflation budget
/// set larger than the reader's memory (an installation may do so), so it kills the reader
/// child: the daemon lives through a reader that really dies.
#[tokio::test]
async fn the_daemon_answers_a_crashing_pdf_and_lives_on() {
    let stack: Arc<MailStack> = MailStack::shared(&[HELPDESK, SENDER]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| {
        c.replace(
            "reader_timeout = \"10s\"",
            "reader_timeout = \"10s\"\nreader_memory = \"64 MiB\"\nmax_pdf_inflated_bytes = \"4 GiB\"",
        )
    });
    let tag = std::process::id();
    let mails = [
        (
            "Bestilling med dyb PDF",
            format!("deep.{tag}@sender.example.test"),
            mail_with(
                "Bestilling med dyb PDF",
                &format!("deep.{tag}@sender.example.test"),
                "Bestilling.pdf",
                "application/pdf",
                deep_pdf(),
            ),
        ),
        (
            "Bestilling med PDF-bombe",
            format!("bomb.{tag}@sender.example.test"),
            mail_with(
                "Bestilling med PDF-bombe",
                &format!("bomb.{tag}@sender.example.test"),
                "Bestilling.pdf",
                "application/pdf",
                flate_pdf(256 << 20, 1),
            ),
        ),
        (
            "Bestilling efter bomberne",
            format!("valid.{tag}@sender.example.test"),
            mail_with(
                "Bestilling efter bomberne",
                &format!("valid.{tag}@sender.example.test"),
                "Bestilling.docx",
                DOCX_TYPE,
                WsForm::new("KMB-SANDBOX-2", SENDER).docx(),
            ),
        ),
    ];
    d.start();
    d.wait_log("IMAP connected", 1, Duration::from_secs(30))
        .await;
    let pid = d.pid().expect("the daemon runs");
    for (_, _, raw) in &mails {
        stack.send(SENDER, HELPDESK, raw).await;
    }
    let orders = d.wait_orders(mails.len(), DRAIN).await;
    // The unreadable-form receipt for each bomb, received + approved for the valid form.
    d.wait_mailbox(&stack, SENDER, "INBOX", "the receipts", |n| n >= 4, DRAIN)
        .await;
    assert!(d.poll_exit().is_none(), "the daemon died\n{}", d.log_tail());
    assert_eq!(d.pid(), Some(pid), "the same daemon process");
    assert_eq!(d.starts(), 1);

    assert_eq!(orders.len(), mails.len(), "one order per mail: {orders:#?}");
    let pool = d.pool().await;
    for (i, (subject, _, _)) in mails.iter().enumerate() {
        let reference: String =
            sqlx::query_scalar("SELECT ref FROM orders WHERE thread_subject = $1")
                .bind(subject)
                .fetch_one(&pool)
                .await
                .unwrap_or_else(|e| panic!("the order of {subject:?}: {e}"));
        let order = d.order(&reference);
        if i < 2 {
            assert_eq!(order["state"], "review", "{order:#}");
            assert!(order.to_string().contains("form.unreadable"), "{order:#}");
        } else {
            assert_eq!(order["state"], "approved", "{order:#}");
        }
    }
    let dispositions: Vec<String> = sqlx::query_scalar("SELECT disposition FROM inbound_mail")
        .fetch_all(&pool)
        .await
        .expect("inbound mail");
    pool.close().await;
    assert!(
        !dispositions.iter().any(|d| d == "quarantined"),
        "{dispositions:?}"
    );

    let receipts = stack.fetch_all(SENDER, "INBOX").await;
    let unreadable = receipts
        .iter()
        .map(|m| received(m))
        .filter(|r| r.text.contains("Vi kunne ikke læse bestillingsformularen"))
        .count();
    assert_eq!(unreadable, 2, "one unreadable-form receipt per bomb");
    let quarantined = stack.fetch_or_empty(HELPDESK, "Quarantine").await;
    assert!(quarantined.is_empty(), "nothing quarantined");
    assert!(
        d.log().contains("document reader failed"),
        "the failure is logged\n{}",
        d.log_tail()
    );
    d.terminate();
    let status = d.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit {status}\n{}", d.log_tail());
}
