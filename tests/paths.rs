//! Ways through the real binary that the README promises and no other test takes: polling
//! instead of IDLE, a server without IDLE and MOVE, several forms in one mail, the
//! `password_file` and `password_env` logins, SIGINT, `--log-json`, `orders list --state` and
//! `orders reject`, a broken template at start, `check`'s exit codes 10 and 2, and the forms
//! that come as a filled PDF form or in a forwarded mail (attached, and inline).

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::fixtures::{
    DOCX_TYPE, WsForm, attachment_mail, forward_as_attachment, forward_inline, received,
};
use common::{FA, HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);

/// One mail from [`FA`] with a .docx form per BestillingsID in `ids`.
fn mail_with_forms(subject: &str, mid: &str, ids: &[&str]) -> Vec<u8> {
    let mut m = mail_builder::MessageBuilder::new()
        .from(("Karin Holm", FA))
        .to(HELPDESK)
        .subject(subject)
        .message_id(format!("{mid}.{}@fa.example.test", std::process::id()))
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej\n\nHermed vores bestillinger.\n\n/Karin\n");
    for (i, id) in ids.iter().enumerate() {
        m = m.attachment(
            DOCX_TYPE,
            format!("Bestilling{}.docx", i + 1),
            WsForm::new(id, FA).docx(),
        );
    }
    m.write_to_vec().expect("the mail builds")
}

/// A unique Message-ID (without <>) for the mail `name` of this test process.
fn message_id(name: &str) -> String {
    format!("{name}.{}@fa.example.test", std::process::id())
}

/// Waits for one approved order per `(BestillingsID, Message-ID, form source)` in `sent`, each
/// read from that source, and for its *modtaget* and *godkendt* receipts in [`FA`]'s INBOX, in
/// the thread of the mail that carried it.
async fn assert_approved_with_receipts(
    d: &mut Daemon,
    stack: &MailStack,
    sent: &[(&str, &str, &str)],
) {
    let orders = d.wait_orders(sent.len(), WAIT).await;
    assert_eq!(orders.len(), sent.len(), "{orders:#?}\n{}", d.log_tail());
    let inbox = d
        .wait_mailbox(
            stack,
            FA,
            "INBOX",
            "2 receipts per order",
            |n| n >= 2 * sent.len(),
            WAIT,
        )
        .await;
    let receipts: Vec<_> = inbox.iter().map(|m| received(m)).collect();
    for (id, mid, source) in sent {
        let order = orders
            .iter()
            .find(|o| o["bestillings_id"] == *id)
            .unwrap_or_else(|| panic!("no order {id}: {orders:#?}\n{}", d.log_tail()));
        assert_eq!(order["state"], "approved", "{order:#?}\n{}", d.log_tail());
        let reference = order["ref"].as_str().expect("ref");
        let shown = d.order(reference);
        let read_from = shown["versions"]
            .as_array()
            .and_then(|v| v.last())
            .map(|v| v["judgement"]["source"].clone());
        assert_eq!(
            read_from,
            Some(serde_json::json!(source)),
            "{id}: {shown:#?}"
        );
        for label in ["Kvittering for modtagelse", "Bestillingen er godkendt"] {
            assert!(
                receipts
                    .iter()
                    .any(|r| r.in_reply_to.iter().any(|m| m == mid)
                        && r.subject.contains(reference)
                        && r.heading == label),
                "{id}: no \"{label}\" receipt in the thread of {mid}: {receipts:#?}"
            );
        }
    }
}

/// The test config's inline IMAP password replaced by `lines`.
fn imap_login(d: &Daemon, lines: &str) {
    d.edit_config(|c| {
        let old = "password = \"secret\"\n";
        assert_eq!(c.matches(old).count(), 1, "{c}");
        c.replacen(old, lines, 1)
    });
}

fn set(d: &Daemon, old: &str, new: &str) {
    d.edit_config(|c| {
        assert_eq!(c.matches(old).count(), 1, "{old:?} in {c}");
        c.replacen(old, new, 1)
    });
}

/// `idle = false`: the daemon polls (here every second) and still reads a mail that arrives
/// after it connected; it logs in with a `password_file`; one mail with two forms makes two
/// orders with their receipts; SIGINT stops it cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_with_a_password_file_reads_two_forms_of_one_mail_and_stops_on_sigint() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let pw = d.dir().join("imap.pw");
    std::fs::write(&pw, format!("{}\n", stack.password())).expect("password file");
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    imap_login(&d, "password_file = \"imap.pw\"\n");
    set(&d, "idle = true", "idle = false");
    set(&d, "poll_interval = \"60s\"", "poll_interval = \"1s\"");
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack
        .send(
            FA,
            HELPDESK,
            &mail_with_forms(
                "To bestillinger",
                "two",
                &["KMB-PATH-0001", "KMB-PATH-0002"],
            ),
        )
        .await;
    let orders = d.wait_orders(2, WAIT).await;
    assert_eq!(orders.len(), 2, "{orders:#?}");
    let mut ids: Vec<&str> = orders
        .iter()
        .map(|o| o["bestillings_id"].as_str().unwrap_or(""))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["KMB-PATH-0001", "KMB-PATH-0002"]);
    assert!(
        orders.iter().all(|o| o["state"] == "approved"),
        "{orders:#?}"
    );
    d.wait_mailbox(&stack, FA, "INBOX", "4 receipts", |n| n >= 4, WAIT)
        .await;
    d.wait_inbox_empty(&stack, WAIT).await;
    assert_eq!(d.log().matches("IMAP connected").count(), 1);

    d.interrupt();
    let status = d.wait_exit(WAIT).await;
    assert!(
        status.success(),
        "exit on SIGINT: {status}\n{}",
        d.log_tail()
    );
    assert!(d.log().contains("SIGINT: stopping"), "{}", d.log_tail());
}

/// A server that announces neither IDLE nor MOVE: the daemon polls, and moves a mail out of
/// the INBOX by COPY, STORE \Deleted and EXPUNGE (Dovecot counts the deleted mails of the
/// session when it logs out; MOVE would set no \Deleted flag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_idle_or_move_is_polled_and_mail_is_moved_by_copy() {
    let stack = MailStack::start_basic_imap(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    set(&d, "poll_interval = \"60s\"", "poll_interval = \"1s\"");
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("KMB-PATH-0101", "Ny URL").await;
    d.wait_form_receipts(&stack, WAIT).await;
    d.wait_inbox_empty(&stack, WAIT).await;
    assert_eq!(stack.fetch_all(HELPDESK, "Processed").await.len(), 1);
    d.terminate();
    assert!(d.wait_exit(WAIT).await.success(), "{}", d.log_tail());
    let needle = format!("imap({HELPDESK})");
    let dovecot = stack.dovecot_log();
    let logouts: Vec<&str> = dovecot
        .lines()
        .filter(|l| l.contains(&needle) && l.contains("Disconnected"))
        .collect();
    assert!(
        logouts.iter().any(|l| l.contains(" deleted=1 ")),
        "no session of the daemon deleted the mail it moved: {logouts:#?}"
    );
}

/// `password_env` login and `--log-json`: every line the daemon writes is a JSON object. With
/// `max_forms_per_mail = 1` a two-form mail is an order in review beside an approved one;
/// `orders list --state` tells them apart, and `orders reject` rejects the one in review,
/// with a receipt that gives the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_env_json_logs_and_a_person_rejects_an_order_in_review() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    imap_login(&d, "password_env = \"SPDESK_TEST_IMAP_PW\"\n");
    set(&d, "[limits]\n", "[limits]\nmax_forms_per_mail = 1\n");
    d.start_with(
        &["--log-json"],
        &[("SPDESK_TEST_IMAP_PW", stack.password())],
    );
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("KMB-PATH-0201", "Ny URL").await;
    stack
        .send(
            FA,
            HELPDESK,
            &mail_with_forms("To på en gang", "many", &["KMB-PATH-0202", "KMB-PATH-0203"]),
        )
        .await;
    d.wait_orders(2, WAIT).await;
    d.wait_mailbox(&stack, FA, "INBOX", "4 receipts", |n| n >= 4, WAIT)
        .await;

    let listed = |state: &str| -> Vec<serde_json::Value> {
        let out = d.cli(&["orders", "list", "--state", state, "--json"]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let review = listed("review");
    let approved = listed("approved");
    assert_eq!(review.len(), 1, "{review:#?}");
    assert_eq!(approved.len(), 1, "{approved:#?}");
    assert_eq!(approved[0]["bestillings_id"], "KMB-PATH-0201");
    let reference = review[0]["ref"].as_str().expect("ref").to_string();

    let reason = "Send én formular pr. mail.";
    let out = d.cli_as(
        "operatoer",
        &["orders", "reject", &reference, "--reason", reason],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(listed("review").is_empty());
    assert_eq!(listed("rejected").len(), 1);
    let got = d
        .wait_mailbox(&stack, FA, "INBOX", "the rejection", |n| n >= 5, WAIT)
        .await;
    let rejection = got
        .iter()
        .map(|m| received(m))
        .find(|r| r.in_reply_to.iter().any(|m| m.starts_with("many.")) && r.text.contains(reason))
        .unwrap_or_else(|| panic!("no receipt with the reason\n{}", d.log_tail()));
    assert!(
        rejection.subject.contains(&reference),
        "{}",
        rejection.subject
    );

    d.terminate();
    assert!(d.wait_exit(WAIT).await.success(), "{}", d.log_tail());
    let log = d.log();
    let mut lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        lines += 1;
    }
    assert!(lines > 5 && log.contains("IMAP connected"), "{log}");
}

/// A template that does not parse stops `spdesk run` at start, naming the template, before it
/// reads any mail.
#[tokio::test]
async fn a_broken_template_is_reported_at_start() {
    let stack = MailStack::shared(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let templates = d.dir().join("templates");
    std::fs::remove_file(&templates).expect("the templates link");
    std::fs::create_dir(&templates).expect("a templates dir");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for entry in std::fs::read_dir(&shipped).expect("templates").flatten() {
        std::fs::copy(entry.path(), templates.join(entry.file_name())).expect("copy");
    }
    std::fs::write(
        templates.join("godkendt.txt.j2"),
        "Kære {{ contact_name }\n{% if %}\n",
    )
    .expect("break a template");
    d.start();
    let status = d.wait_exit(WAIT).await;
    assert!(!status.success(), "started with a broken template");
    let log = d.log();
    assert!(
        log.contains("godkendt"),
        "the template is not named:\n{log}"
    );
    assert!(!log.contains("IMAP connected"), "{log}");
}

/// `spdesk check`: exit 10 for a form it rejects (a desired date tomorrow), 2 for a file it
/// cannot read as a mail or form at all (one that is not there, named on stderr, and bytes
/// that are neither a mail nor a form, which a script must not take for a mail to review).
#[test]
fn check_exits_10_for_a_rejected_form_and_2_for_a_file_it_cannot_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut form = WsForm::new("KMB-PATH-0301", FA);
    form.desired = common::fixtures::today().succ_opt().expect("a next day");
    let early = dir.path().join("early.docx");
    std::fs::write(&early, form.docx()).expect("write");
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"\x00\x01\x02 this is neither a mail nor a form").expect("write");
    let missing = dir.path().join("missing.eml");
    let check = |path: &std::path::Path| {
        std::process::Command::new(common::daemon::BIN)
            .arg("check")
            .arg(path)
            .env_remove("SPDESK_CONFIG")
            .current_dir(dir.path())
            .output()
            .expect("run spdesk check")
    };
    let out = check(&early);
    assert_eq!(out.status.code(), Some(10), "{out:?}");
    let out = check(&junk);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = check(&missing);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing.eml"),
        "{out:?}"
    );
}

/// A filled PDF form (AcroForm: text fields named by their tooltips, check boxes for the
/// changes) attached to a mail is read by the daemon's PDF reader and approved, with both
/// receipts in the requester's thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filled_pdf_form_is_approved_with_its_receipts() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let mid = message_id("pdf");
    let pdf = WsForm::new("KMB-PATH-0401", FA).pdf();
    let mail = attachment_mail(
        (FA, HELPDESK, "Bestilling som PDF", &mid),
        ("application/pdf", "Bestilling.pdf", &pdf),
    );
    stack.send(FA, HELPDESK, &mail).await;
    assert_approved_with_receipts(
        &mut d,
        &stack,
        &[("KMB-PATH-0401", &mid, "attachment:Bestilling.pdf")],
    )
    .await;
}

/// A requester forwards a colleague's mail with the form, once as an attached mail
/// (message/rfc822 holding the .docx) and once inline as Gmail writes it ("---------- Forwarded
/// message ---------" and the original's headers above its text): each forwarded form is an
/// approved order, answered in the forwarding mail's thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_forms_attached_and_inline_are_approved() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    let colleague = "peter@example.test";

    let original = mail_builder::MessageBuilder::new()
        .from(("Peter Lund", colleague))
        .to(("Karin Holm", FA))
        .subject("Bestilling")
        .message_id(message_id("original"))
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej Karin\n\nVil du sende vores bestilling til Helpdesk?\n\n/Peter\n")
        .attachment(
            DOCX_TYPE,
            "Bestilling.docx",
            WsForm::new("KMB-PATH-0501", FA).docx(),
        )
        .write_to_vec()
        .expect("the mail builds");
    let attached = message_id("fwd-attached");
    stack
        .send(
            FA,
            HELPDESK,
            &forward_as_attachment(FA, HELPDESK, "VS: Bestilling", &attached, &original),
        )
        .await;

    let inline = message_id("fwd-inline");
    let text = WsForm::new("KMB-PATH-0502", FA).as_text();
    stack
        .send(
            FA,
            HELPDESK,
            &forward_inline(
                FA,
                HELPDESK,
                "Fwd: Bestilling",
                &inline,
                (&format!("Peter Lund <{colleague}>"), "Bestilling", &text),
            ),
        )
        .await;

    assert_approved_with_receipts(
        &mut d,
        &stack,
        &[
            ("KMB-PATH-0501", &attached, "attachment:Bestilling.docx"),
            ("KMB-PATH-0502", &inline, "body"),
        ],
    )
    .await;
}
