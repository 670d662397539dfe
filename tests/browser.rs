//! The web console in a real browser: Chromium (Debian's), driven by Playwright for Python
//! (tests/browser/console.py), against the real `spdesk run` with `[web]` and the real mail
//! stack. A Helpdesk operator logs in, finds a review order that came in over SMTP, downloads
//! its original mail, approves it with a note; the approval receipt reaches the requester over
//! IMAP and the history names the operator with the note. A `<script>` subject shows as text;
//! axe-core finds no serious or critical violation on any page; screenshots of the queue and
//! an order page are written to target/browser/.
//!
//! What it needs beyond the mail stack (scripts/test.sh installs all of it): Debian `chromium`,
//! PyPI `playwright` (its browser download is not used) and `npm ci --prefix tests/browser`
//! (axe-core). Missing, the test fails and says which command installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::MailStack;
use common::console::{Console, PASSWORD};
use common::fixtures::{WsForm, docx, form_mail, received};

const WAIT: Duration = Duration::from_secs(60);
const HELPDESK: &str = "browser.helpdesk@example.test";
/// The requester of the review order: the approval receipt must arrive here.
const REQUESTER: &str = "browser.requester@example.test";
/// The sender of the mail with the `<script>` subject (its receipts stay out of REQUESTER's).
const XSS_SENDER: &str = "browser.xss@example.test";
const XSS_SUBJECT: &str = "<script>alert(1)</script> XSS";
const REVIEW_SUBJECT: &str = "Ny URL til SagsOpslag (browsertest)";
const NOTE: &str = "Aftalt med Karin Holm i telefonen";
const OPERATOR: &str = "karin";
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) when something the browser test runs with is missing, naming the
/// command that installs it.
fn require_tools() {
    let missing = |what: &str, install: &str| -> ! {
        panic!(
            "browser test: {what} is missing; install it with: {install} (or run scripts/test.sh, which installs it)"
        )
    };
    if !Path::new("/usr/bin/chromium").exists() {
        missing("/usr/bin/chromium", "apt-get install -y chromium");
    }
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output();
    match playwright {
        Ok(out) if out.status.success() => {}
        Ok(_) => missing(
            "Python's playwright",
            "python3 -m pip install playwright==1.65.2",
        ),
        Err(_) => missing("python3", "apt-get install -y python3 python3-pip"),
    }
    if !root()
        .join("tests/browser/node_modules/axe-core/axe.min.js")
        .is_file()
    {
        missing(
            "tests/browser/node_modules/axe-core",
            "npm ci --prefix tests/browser",
        );
    }
}

/// A unique BestillingsID for this run.
fn unique(tag: &str) -> String {
    format!("BR-{tag}-{}", std::process::id())
}

/// An exttest host ordered for produktion (url.env_mismatch): a person decides.
fn review_mail(id: &str, message_id: &str) -> Vec<u8> {
    let form = WsForm::new(id, REQUESTER);
    let rows: Vec<(&str, Vec<String>)> = form
        .rows()
        .into_iter()
        .map(|(label, v)| match label {
            "Miljø" => (label, vec!["Produktion".to_string()]),
            _ => (label, v),
        })
        .collect();
    form_mail(
        REQUESTER,
        HELPDESK,
        REVIEW_SUBJECT,
        message_id,
        &docx(TITLE, &rows),
    )
}

/// Waits until an order with this BestillingsID exists, in whatever state; its reference.
async fn wait_order(c: &Console, id: &str) -> String {
    let start = Instant::now();
    loop {
        let orders = c.daemon.orders();
        if let Some(o) = orders.iter().find(|o| o["bestillings_id"] == id) {
            return o["ref"].as_str().expect("ref").to_string();
        }
        assert!(
            start.elapsed() < WAIT,
            "no order {id}; orders: {orders:#?}\n{}",
            c.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs tests/browser/console.py against the console; panics with its output unless it
/// exits 0.
fn run_browser(c: &Console, review: &str, xss: &str, out: &Path) {
    let script = root().join("tests/browser/console.py");
    let result = Command::new("python3")
        .arg(&script)
        .env("SPDESK_URL", c.url(""))
        .env("SPDESK_USER", OPERATOR)
        .env("SPDESK_PASSWORD", PASSWORD)
        .env("SPDESK_REVIEW_REF", review)
        .env("SPDESK_REVIEW_SUBJECT", REVIEW_SUBJECT)
        .env("SPDESK_XSS_REF", xss)
        .env("SPDESK_XSS_SUBJECT", XSS_SUBJECT)
        .env("SPDESK_NOTE", NOTE)
        .env("SPDESK_OUT", out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(
        result.status.success(),
        "{} failed ({}):\n{}\n{}",
        script.display(),
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr),
    );
    println!("{}", String::from_utf8_lossy(&result.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_approves_a_review_order_in_the_browser() {
    require_tools();
    let stack = MailStack::shared(&[HELPDESK, REQUESTER, XSS_SENDER]);
    let mut c = Console::start(&stack, HELPDESK, "").await;
    c.add_user(OPERATOR, "operator");

    let review_id = unique("REVIEW");
    let mid = format!("{}@browser.example.test", review_id.to_lowercase());
    stack
        .send(REQUESTER, HELPDESK, &review_mail(&review_id, &mid))
        .await;
    let xss_id = unique("XSS");
    let xss_mid = format!("{}@browser.example.test", xss_id.to_lowercase());
    let xss_form = WsForm::new(&xss_id, XSS_SENDER);
    let raw = form_mail(
        XSS_SENDER,
        HELPDESK,
        XSS_SUBJECT,
        &xss_mid,
        &xss_form.docx(),
    );
    stack.send(XSS_SENDER, HELPDESK, &raw).await;
    let review = c.daemon.wait_state(&review_id, "review", WAIT).await;
    let xss = wait_order(&c, &xss_id).await;

    let out: PathBuf = root().join("target/browser");
    run_browser(&c, &review, &xss, &out);
    for shot in ["queue.png", "order.png"] {
        let len = std::fs::metadata(out.join(shot)).map_or(0, |m| m.len());
        assert!(len > 1000, "screenshot {shot}: {len} bytes");
    }

    // The approval receipt reaches the requester.
    let tag = format!("[{review}]");
    let mails = c
        .daemon
        .wait_mailbox(
            &stack,
            REQUESTER,
            "INBOX",
            "the approval receipt",
            |n| n >= 3,
            WAIT,
        )
        .await;
    let receipts: Vec<_> = mails.iter().map(|m| received(m)).collect();
    assert!(
        receipts
            .iter()
            .any(|r| r.heading == "Bestillingen er godkendt" && r.subject.contains(&tag)),
        "no approval receipt for {review}: {:?}",
        receipts
            .iter()
            .map(|r| (&r.subject, &r.heading))
            .collect::<Vec<_>>()
    );

    // The history names the person and their note.
    let order = c.daemon.order(&review);
    assert_eq!(order["state"], "approved", "{order:#}");
    let events = order["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "approve" && e["actor"] == OPERATOR),
        "the approval names {OPERATOR}: {events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == OPERATOR
                && e["detail"].as_str().is_some_and(|d| d.contains(NOTE))),
        "the history holds {OPERATOR}'s note {NOTE:?}: {events:#?}"
    );
}
