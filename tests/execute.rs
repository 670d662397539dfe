//! Step 8 over the real mail stack: a person marks orders executed or failed with the CLI, the
//! executor runs a configured command for due orders, and the receipts and the incident mail
//! arrive where they should.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use common::daemon::Daemon;
use common::{FA, MailStack, fixtures};
use spdesk::mail::Mail;

/// Generous: a loaded machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(60);

/// The person the CLI names for `orders execute/fail/withdraw`.
const OPERATOR: &str = "operatoer";

/// `spdesk run` on its own Helpdesk mailbox `helpdesk` (the tests share one stack), polling
/// every 2 s, with the `[executors]` lines `executors`, a 20 s executor timeout and the example
/// it-system register (without one the executor never runs by itself).
fn start_daemon(stack: &MailStack, helpdesk: &str, executors: &str) -> Daemon {
    start_daemon_with(stack, helpdesk, executors, true)
}

fn start_daemon_with(stack: &MailStack, helpdesk: &str, executors: &str, register: bool) -> Daemon {
    const SECTION: &str = "[executors]\ntimeout = \"5m\"";
    stack.add_users(&[helpdesk]);
    let mut d = Daemon::new(stack, helpdesk);
    let systems = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systems.csv");
    d.edit_config(|c| {
        assert!(
            c.contains(SECTION),
            "no {SECTION:?} in the test config:\n{c}"
        );
        let c = c
            .replace(
                SECTION,
                &format!("[executors]\n{executors}\ntimeout = \"20s\""),
            )
            .replace("poll_interval = \"60s\"", "poll_interval = \"2s\"");
        if register {
            c.replace(
                "[rules]\n",
                &format!("[rules]\nsystems_file = \"{}\"\n", systems.display()),
            )
        } else {
            c
        }
    });
    d.start();
    d
}

/// SIGTERM, and waits until the daemon has stopped.
async fn stop(d: &mut Daemon) {
    d.terminate();
    d.wait_exit(WAIT).await;
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command as [`OPERATOR`] that must succeed; returns its stdout.
fn run(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli_as(OPERATOR, args);
    assert!(out.status.success(), "spdesk {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command as [`OPERATOR`] that must be refused (exit 1); returns its stderr.
fn refused(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli_as(OPERATOR, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "spdesk {args:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `d-m-yyyy`: a desired date the time rules accept (weeks ahead, a working day).
fn desired_date() -> String {
    fixtures::desired_date().format("%d-%m-%Y").to_string()
}

/// The SFTP form of examples/01 as a mail from fa@example.test to `helpdesk`.
fn form_mail(helpdesk: &str, id: &str, desired: &str) -> Vec<u8> {
    format!(
        "From: Lars Bæk Poulsen <{FA}>\n\
         To: Serviceplatformens Helpdesk <{helpdesk}>\n\
         Subject: Bestilling: overvågning af filafhentning {id}\n\
         Message-ID: <{id}@example.test>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\
         \n\
         Hej Helpdesk\n\
         \n\
         Ændring af overvågning af filafhentning (SFTP-indbakke)\n\
         \n\
         KOMBIT BestillingsID: {id}\n\
         Miljø: Produktion\n\
         Ønsket tidspunkt for ændring: {desired} kl. 10.00\n\
         Organisation: Borgerdata I/S\n\
         CVR-nr.: 54921942\n\
         Kontaktperson: Lars Bæk Poulsen\n\
         E-mail: {FA}\n\
         It-system: FamilieFlow\n\
         It-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2\n\
         It-systemrolle: Modtagersystem\n\
         SFTP-bruger: bd_familieflow\n\
         Overvågning: Til\n\
         Tidsgrænse for afhentning (timer): 24\n\
         Advisering til: drift@example.test\n\
         \n\
         Venlig hilsen\n\
         Lars Bæk Poulsen\n"
    )
    .into_bytes()
}

/// A unique BestillingsID per test run.
fn unique_id(tag: &str) -> String {
    format!(
        "EX-{tag}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}

/// Waits until the order with this BestillingsID is in `state`; returns its reference.
async fn wait_state(d: &Daemon, bestillings_id: &str, state: &str) -> String {
    d.wait_state(bestillings_id, state, WAIT).await
}

/// Waits for a mail to `user` (in INBOX, or in Processed where the daemon files mail from its
/// own address) whose subject starts with "[`reference`] `subject`" and whose text names `id`
/// (order references repeat across the tests' databases; BestillingsIDs do not).
async fn wait_mail(
    stack: &MailStack,
    user: &str,
    reference: &str,
    subject: &str,
    id: &str,
) -> Mail {
    // A staff mail's subject names what it is; a receipt's subject is the order's one
    // subject, and what it is stands as the body's first line.
    let prefix = format!("[{reference}] {subject}");
    let receipt = format!("SV: [{reference}] ");
    let start = Instant::now();
    loop {
        for mb in ["INBOX", "Processed"] {
            for raw in stack.fetch_or_empty(user, mb).await {
                if let Some(m) = Mail::parse(&raw, 2)
                    && (m.subject.starts_with(&prefix)
                        || (m.subject.starts_with(&receipt)
                            && m.text
                                .as_deref()
                                .is_some_and(|t| t.lines().next() == Some(subject))))
                    && m.text.as_deref().is_some_and(|t| t.contains(id))
                {
                    return m;
                }
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no mail \"{prefix}…\" about {id} for {user}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What the executor logs after each round (at start, then every 30 s).
const ROUND_DONE: &str = "executor: round done";

/// How many executor rounds the daemon's log shows so far (all runs).
fn rounds(d: &Daemon) -> usize {
    d.log().matches(ROUND_DONE).count()
}

/// (Re)starts the daemon and waits for the executor's round at start to end: what a "nothing
/// ran" check needs before it looks.
async fn start_and_wait_round(d: &mut Daemon) {
    let before = rounds(d);
    d.start();
    d.wait_log(ROUND_DONE, before + 1, WAIT).await;
}

/// The state of the order `reference` in `orders`.
fn state_of(orders: &[serde_json::Value], reference: &str) -> serde_json::Value {
    orders
        .iter()
        .find(|o| o["ref"] == reference)
        .map(|o| o["state"].clone())
        .unwrap_or_default()
}

/// The order's events whose action is `action` (`spdesk orders show --json`).
fn events(d: &Daemon, reference: &str, action: &str) -> Vec<serde_json::Value> {
    let order = d.order(reference);
    let all = order["events"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|e| e["action"] == action).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_executes_and_fails_orders() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-cli@example.test";
    let mut daemon = start_daemon(&stack, hd, "");
    let desired = desired_date();
    let (ok_id, fail_id, late_id) = (unique_id("OK"), unique_id("FAIL"), unique_id("LATE"));
    for id in [&ok_id, &fail_id] {
        stack.send(FA, hd, &form_mail(hd, id, &desired)).await;
    }
    // Tomorrow is too early: rejected.
    let tomorrow = Utc::now().date_naive() + Days::new(1);
    let tomorrow = tomorrow.format("%d-%m-%Y").to_string();
    stack
        .send(FA, hd, &form_mail(hd, &late_id, &tomorrow))
        .await;
    let ok = wait_state(&daemon, &ok_id, "approved").await;
    let failing = wait_state(&daemon, &fail_id, "approved").await;
    let late = wait_state(&daemon, &late_id, "rejected").await;

    let note = "Overvågningen er slået til.";
    // Weeks before the planned time: only on purpose, with a reason.
    let err = refused(&daemon, &["orders", "execute", &ok, "--note", note]);
    assert!(err.contains("--early --reason"), "{err}");
    let early = ["--early", "--reason", "aftalt med kommunen"];
    let out = run(
        &daemon,
        &[&["orders", "execute", &ok, "--note", note][..], &early].concat(),
    );
    assert!(out.contains("approved -> executed (by operatoer)"), "{out}");
    let reason = "SFTP-serveren afviste ændringen (fejl 553).";
    run(&daemon, &["orders", "fail", &failing, "--reason", reason]);

    // Wrong states are refused with a clear message and change nothing.
    let err = refused(&daemon, &["orders", "execute", &late]);
    assert!(
        err.contains("cannot execute an order in state rejected")
            && err.contains("only orders in state approved"),
        "{err}"
    );
    let err = refused(&daemon, &["orders", "fail", &ok, "--reason", "x"]);
    assert!(err.contains("state executed"), "{err}");
    let err = refused(&daemon, &["orders", "execute", "SP-1999-00001"]);
    assert!(err.contains("no order SP-1999-00001"), "{err}");

    // The requester's receipts.
    let done = wait_mail(&stack, FA, &ok, "Ændringen er gennemført", &ok_id).await;
    let body = done.text.unwrap_or_default();
    assert!(body.contains("er gennemført"), "{body}");
    assert!(body.contains(note), "{body}");
    assert!(body.contains(&ok_id), "{body}");
    assert_eq!(done.in_reply_to, vec![format!("{ok_id}@example.test")]);
    let failed = wait_mail(&stack, FA, &failing, "Fejl ved ændringen", &fail_id).await;
    let body = failed.text.unwrap_or_default();
    assert!(body.contains("oprettet en hændelse (incident)"), "{body}");
    assert!(
        !body.contains("553"),
        "the reason is for the Helpdesk: {body}"
    );

    // The incident mail to helpdesk.incident_to (a person's mailbox, not the one spdesk reads).
    let subject = "Incident: fejl ved ændring af teknisk konfiguration – FamilieFlow";
    let incident = wait_mail(&stack, &daemon.staff(), &failing, subject, &fail_id).await;
    let body = incident.text.clone().unwrap_or_default();
    for want in [
        reason,
        "Markeret som fejlet af: operatoer",
        "Planlagt tidspunkt:",
        "SFTP-bruger: bd_familieflow",
        "Historik:",
        "fa@example.test: modtaget (til modtaget)",
        "daemon: vurderet efter reglerne (fra modtaget til godkendt)",
        "operatoer: markeret som fejlet (fra godkendt til fejlet)",
        &fail_id,
    ] {
        assert!(body.contains(want), "incident mail lacks {want:?}:\n{body}");
    }
    let original = incident
        .attachments
        .iter()
        .find(|a| a.name.as_deref() == Some("original.eml"))
        .expect("the original mail attached");
    assert_eq!(original.content_type, "message/rfc822");
    let attached_id = original.message.as_ref().and_then(|m| m.message_id.clone());
    assert!(
        attached_id == Some(format!("{fail_id}@example.test"))
            || String::from_utf8_lossy(&original.bytes).contains(&fail_id),
        "{original:?}"
    );

    // States and facts; our own incident mail made no order.
    let orders = daemon.orders();
    assert_eq!(state_of(&orders, &ok), "executed");
    assert_eq!(state_of(&orders, &failing), "failed");
    let failed_order = orders.iter().find(|o| o["ref"] == failing.as_str());
    assert!(
        failed_order.is_some_and(|o| o["incident_at"].is_string()),
        "{orders:#?}"
    );
    assert_eq!(state_of(&orders, &late), "rejected");
    let executed = events(&daemon, &ok, "execute");
    assert!(
        executed
            .iter()
            .any(|e| e["actor"] == OPERATOR
                && e["detail"].as_str().is_some_and(|d| d.ends_with(note))),
        "{executed:#?}"
    );
    // The incident mail (seen above) has been read, stored and moved out of the INBOX.
    daemon.wait_inbox_empty(&stack, WAIT).await;
    assert_eq!(
        daemon.orders().len(),
        3,
        "the incident mail must not become an order"
    );

    // Withdrawal: any open order; the requester is told.
    run(
        &daemon,
        &[
            "orders",
            "withdraw",
            &late,
            "--reason",
            "Efter aftale med jer.",
        ],
    );
    let gone = wait_mail(
        &stack,
        FA,
        &late,
        "Bestillingen er trukket tilbage",
        &late_id,
    )
    .await;
    assert!(
        gone.text
            .unwrap_or_default()
            .contains("Efter aftale med jer.")
    );
    let err = refused(&daemon, &["orders", "withdraw", &ok, "--reason", "x"]);
    assert!(err.contains("only open orders"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_executor_runs_due_orders_once() {
    let stack = MailStack::shared(&[]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().display().to_string();
    // Saves its input; fails (exit 3) for a BestillingsID with FAIL in it.
    let command = format!(
        "sftp = \"cat > {out}/$SPDESK_REF.json; if grep -q 'EX-FAIL' {out}/$SPDESK_REF.json; then echo 'login refused' >&2; exit 3; fi; echo 'Overvågning slået til af robotten'\""
    );
    let hd = "hd-exec@example.test";
    let mut daemon = start_daemon(&stack, hd, &command);
    let desired = desired_date();
    let (ok_id, fail_id, lost_id) = (unique_id("OK"), unique_id("FAIL"), unique_id("LOST"));
    for id in [&ok_id, &fail_id, &lost_id] {
        stack.send(FA, hd, &form_mail(hd, id, &desired)).await;
    }
    let ok = wait_state(&daemon, &ok_id, "approved").await;
    let failing = wait_state(&daemon, &fail_id, "approved").await;
    let lost = wait_state(&daemon, &lost_id, "approved").await;
    // Planned weeks ahead: a round (at a restart) runs nothing yet.
    stop(&mut daemon).await;
    start_and_wait_round(&mut daemon).await;
    assert!(!Path::new(&format!("{out}/{ok}.json")).exists());

    // Make them due (and one claimed long ago by an executor that died), then start again:
    // the executor looks at once.
    stop(&mut daemon).await;
    let pool = daemon.pool().await;
    sqlx::query(
        "UPDATE orders SET planned_at = '2020-01-06T09:00:00.000Z' WHERE ref IN ($1, $2, $3)",
    )
    .bind(&ok)
    .bind(&failing)
    .bind(&lost)
    .execute(&pool)
    .await
    .expect("make the orders due");
    sqlx::query("UPDATE orders SET updated_at = '2020-01-06T09:00:00.000Z', executing_at = '2020-01-06T10:00:00.000Z' WHERE ref = $1")
        .bind(&lost)
        .execute(&pool)
        .await
        .expect("claim an order long ago");
    pool.close().await;
    daemon.start();

    let done = wait_mail(&stack, FA, &ok, "Ændringen er gennemført", &ok_id).await;
    assert!(
        done.text
            .unwrap_or_default()
            .contains("Overvågning slået til af robotten")
    );
    let input: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{out}/{ok}.json")).expect("the command saved its input"),
    )
    .expect("JSON on stdin");
    assert_eq!(input["ref"], ok.as_str());
    assert_eq!(input["state"], "approved");
    assert_eq!(input["bestillings_id"], ok_id.as_str());
    assert_eq!(input["fields"]["sftp_user"], "bd_familieflow");
    assert!(input["events"].as_array().is_some_and(|e| !e.is_empty()));

    wait_mail(&stack, FA, &failing, "Fejl ved ændringen", &fail_id).await;
    let incident = wait_mail(&stack, &daemon.staff(), &failing, "Incident:", &fail_id).await;
    let body = incident.text.unwrap_or_default();
    assert!(
        body.contains("the executor command exited with status 3"),
        "{body}"
    );
    assert!(body.contains("login refused"), "{body}");
    assert!(body.contains("Markeret som fejlet af: executor"), "{body}");

    // The interrupted one is failed, never run.
    let lost_incident = wait_mail(&stack, &daemon.staff(), &lost, "Incident:", &lost_id).await;
    assert!(
        lost_incident
            .text
            .unwrap_or_default()
            .contains("the executor was interrupted")
    );
    assert!(!Path::new(&format!("{out}/{lost}.json")).exists());

    let orders = daemon.orders();
    assert_eq!(state_of(&orders, &ok), "executed");
    assert_eq!(state_of(&orders, &failing), "failed");
    assert_eq!(state_of(&orders, &lost), "failed");

    // Once: another round (a restart) runs nothing again.
    stop(&mut daemon).await;
    std::fs::remove_file(format!("{out}/{ok}.json")).expect("remove");
    start_and_wait_round(&mut daemon).await;
    assert!(!Path::new(&format!("{out}/{ok}.json")).exists());
    let started = events(&daemon, &ok, "execution started");
    assert_eq!(started.len(), 1, "{started:#?}");
    stop(&mut daemon).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_register_the_executor_waits_for_a_person() {
    let stack = MailStack::shared(&[]);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = out_dir.path().display().to_string();
    let command = format!("sftp = \"cat > {out}/$SPDESK_REF.json\"");
    let hd = "hd-noregister@example.test";
    let mut daemon = start_daemon_with(&stack, hd, &command, false);
    let id = unique_id("NOREG");
    stack
        .send(FA, hd, &form_mail(hd, &id, &desired_date()))
        .await;
    let reference = wait_state(&daemon, &id, "approved").await;

    // Due now; the executor looks at once when the daemon starts.
    stop(&mut daemon).await;
    let pool = daemon.pool().await;
    sqlx::query("UPDATE orders SET planned_at = '2020-01-06T09:00:00.000Z' WHERE ref = $1")
        .bind(&reference)
        .execute(&pool)
        .await
        .expect("make the order due");
    pool.close().await;
    start_and_wait_round(&mut daemon).await;
    assert!(
        !Path::new(&format!("{out}/{reference}.json")).exists(),
        "the command ran\n{}",
        daemon.log_tail()
    );
    assert_eq!(state_of(&daemon.orders(), &reference), "approved");
    assert!(events(&daemon, &reference, "execution started").is_empty());
    // The log says why.
    daemon
        .wait_log("no it-system register (rules.systems_file)", 2, WAIT)
        .await;

    // A person executes it.
    run(
        &daemon,
        &[
            "orders",
            "execute",
            &reference,
            "--note",
            "gjort i hånden",
            "--early",
            "--reason",
            "gjort i hånden før tid",
        ],
    );
    assert_eq!(state_of(&daemon.orders(), &reference), "executed");
    stop(&mut daemon).await;
}
