//! The daemon as a library call: `spdesk::daemon::run(parts, shutdown)` inside the test's own
//! process, against a real Dovecot + Postfix, with the parts built by `cli::setup::parts` as
//! `spdesk run` builds them and a shutdown the test triggers. The binary-level tests (signals,
//! SIGKILL, failpoints) stay in intake.rs and crash.rs; this one holds the library to the
//! same contract: a form gets its receipts, and `run` returns cleanly when asked to stop,
//! after which no further mail is touched.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::daemon::{BIN, Daemon};
use common::fixtures::received;
use common::{FA, HELPDESK, MailStack};
use spdesk::cli::setup;
use spdesk::config::Config;
use spdesk::daemon;
use spdesk::sandbox::Sandbox;

const RECEIPTS: Duration = Duration::from_secs(30);
const STOP: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_runs_in_process_answers_a_form_and_returns_when_shut_down() {
    let stack = MailStack::start(&[]);
    // The test config (checked by `spdesk config check`), loaded here as `spdesk run` loads it.
    let config = Daemon::new(&stack, HELPDESK);
    let cfg = Config::load(&config.config_path()).expect("the test config loads");
    // The reader children run the spdesk binary, as in the daemon (this process is the test).
    let reader = Sandbox::start(PathBuf::from(BIN), cfg.limits.reader_memory)
        .expect("the reader child starts");
    let parts = setup::parts(cfg, Arc::new(reader))
        .await
        .expect("the parts build from the test config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon::run(parts, async {
        let _ = stopped.await;
    }));

    let mid = stack
        .send_form("KMB-IP-0001", "Bestilling i processen")
        .await;
    let receipts = stack.wait_for(FA, "INBOX", 2, RECEIPTS).await;
    let receipts: Vec<_> = receipts.iter().map(|r| received(r)).collect();
    assert!(
        receipts
            .iter()
            .any(|r| r.heading == "Kvittering for modtagelse"),
        "{:?}",
        receipts.iter().map(|r| &r.heading).collect::<Vec<_>>()
    );
    for r in &receipts {
        assert!(
            r.in_reply_to.iter().any(|id| id.contains(&mid)),
            "a receipt outside the form's thread: {:?} (form {mid})",
            r.in_reply_to
        );
    }
    stack.wait_for(HELPDESK, "Processed", 1, RECEIPTS).await;

    let _ = stop.send(());
    let result = tokio::time::timeout(STOP, running)
        .await
        .expect("run returns within the stop time once shut down")
        .expect("the daemon task did not panic");
    assert!(result.is_ok(), "run returned an error: {result:?}");

    // Stopped means stopped: a form sent now stays in the inbox, unanswered.
    stack.send_form("KMB-IP-0002", "Efter stop").await;
    stack.wait_for(HELPDESK, "INBOX", 1, RECEIPTS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.fetch_all(HELPDESK, "INBOX").await.len(), 1);
    assert_eq!(
        stack.fetch_all(FA, "INBOX").await.len(),
        2,
        "no receipt after the stop"
    );
}
