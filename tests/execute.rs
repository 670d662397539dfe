//! Step 8 over the real mail stack: a person marks orders executed or failed with the CLI, the
//! executor runs a configured command for due orders, and the receipts and the incident mail
//! arrive where they should.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use common::{FA, HOST, MailStack, PASSWORD};
use spdesk::calendar::Calendar;
use spdesk::mail::Mail;

const WAIT: Duration = Duration::from_secs(60);

/// A `spdesk run` with its own config, database and Helpdesk mailbox; killed on drop.
struct Daemon {
    dir: tempfile::TempDir,
    helpdesk: String,
    child: Option<Child>,
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_spdesk")
}

impl Daemon {
    /// Writes the config (Helpdesk `helpdesk`, extra `[executors]` lines) and starts the daemon.
    fn start(stack: &MailStack, helpdesk: &str, executors: &str) -> Daemon {
        stack.add_users(&[helpdesk]);
        let dir = tempfile::Builder::new()
            .prefix("spdesk-execute-")
            .tempdir()
            .expect("temp dir");
        let config = format!(
            r#"
[imap]
host = "{HOST}"
port = {imap}
tls = "none"
username = "{helpdesk}"
password = "{PASSWORD}"
idle = true
poll_interval = "2s"

[smtp]
host = "{HOST}"
port = {smtp}
tls = "none"
auth = "none"
from = "{helpdesk}"

[database]
url = "sqlite://spdesk.db?mode=rwc"

[helpdesk]
address = "{helpdesk}"
review_to = ["{helpdesk}"]
digest_to = ["{helpdesk}"]
incident_to = ["{helpdesk}"]
billing_to = ["{helpdesk}"]

[limits]
receipts_per_address_per_hour = 1000

[executors]
{executors}
timeout = "20s"

[rules]
trusted_authserv_ids = []

[schedule]
timezone = "Europe/Copenhagen"

[billing]
prices = {{ webservice = 4500.0, sftp = 2500.0 }}
currency = "DKK"
"#,
            imap = stack.imap_port(),
            smtp = stack.smtp_port(),
        );
        std::fs::write(dir.path().join("spdesk.toml"), config).expect("write config");
        let mut d = Daemon {
            dir,
            helpdesk: helpdesk.to_string(),
            child: None,
        };
        let check = d.cli(&["config", "check"]);
        assert!(check.status.success(), "config check: {}", text(&check));
        d.spawn();
        d
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("spdesk.toml")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("spdesk.db")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("spdesk.log"))
            .expect("log file");
        let child = Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start spdesk run");
        self.child = Some(child);
    }

    /// Stops the daemon with SIGTERM and waits for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                // SAFETY: signals our own child process.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("spdesk.log")).unwrap_or_default()
    }

    /// Runs the CLI with this daemon's config.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .env("USER", "operatoer")
            .env_remove("SUDO_USER")
            .output()
            .expect("run spdesk")
    }

    fn orders(&self) -> Vec<serde_json::Value> {
        let out = self.cli(&["orders", "list", "--json"]);
        assert!(out.status.success(), "orders list: {}", text(&out));
        serde_json::from_slice(&out.stdout).expect("orders list --json")
    }

    /// Waits until the order with this BestillingsID is in `state`; returns it.
    async fn wait_state(&self, bestillings_id: &str, state: &str) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let orders = self.orders();
            if let Some(o) = orders
                .iter()
                .find(|o| o["bestillings_id"] == bestillings_id && o["state"] == state)
            {
                return o.clone();
            }
            assert!(
                start.elapsed() < WAIT,
                "no order {bestillings_id} in state {state}; orders: {orders:#?}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sql(&self, statement: &str) {
        let url = format!("sqlite://{}", self.db().display());
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open the db");
        sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
            .execute(&pool)
            .await
            .expect("update the db");
        pool.close().await;
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `d.m.yyyy`: a working day three weeks ahead (the form's desired date).
fn desired_date() -> String {
    let cal = Calendar::new(&["12-24", "12-31"]).expect("calendar");
    let start = Utc::now().date_naive() + Days::new(21);
    let d = cal
        .next_working_day_on_or_after(start)
        .expect("a working day");
    d.format("%d-%m-%Y").to_string()
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

/// Waits for a mail in `user`'s `mailboxes` whose subject starts with `prefix` and whose text
/// names `id` (order references repeat across the tests' databases; BestillingsIDs do not).
async fn wait_mail(
    stack: &MailStack,
    user: &str,
    mailboxes: &[&str],
    prefix: &str,
    id: &str,
) -> Mail {
    let start = Instant::now();
    loop {
        for mb in mailboxes {
            if let Ok(msgs) = stack.try_fetch_all(user, mb).await {
                for raw in msgs {
                    if let Some(m) = Mail::parse(&raw, 2)
                        && m.subject.starts_with(prefix)
                        && m.text.as_deref().is_some_and(|t| t.contains(id))
                    {
                        return m;
                    }
                }
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no mail \"{prefix}…\" about {id} for {user} in {mailboxes:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn reference(order: &serde_json::Value) -> String {
    order["ref"].as_str().expect("ref").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_executes_and_fails_orders() {
    let stack = MailStack::shared(&[]);
    let daemon = Daemon::start(&stack, "hd-cli@example.test", "");
    let hd = daemon.helpdesk.clone();
    let desired = desired_date();
    let (ok_id, fail_id, late_id) = (unique_id("OK"), unique_id("FAIL"), unique_id("LATE"));
    stack.send(FA, &hd, &form_mail(&hd, &ok_id, &desired)).await;
    stack
        .send(FA, &hd, &form_mail(&hd, &fail_id, &desired))
        .await;
    // Tomorrow is too early: rejected.
    let tomorrow = Utc::now().date_naive() + Days::new(1);
    let tomorrow = tomorrow.format("%d-%m-%Y").to_string();
    stack
        .send(FA, &hd, &form_mail(&hd, &late_id, &tomorrow))
        .await;
    let ok = reference(&daemon.wait_state(&ok_id, "approved").await);
    let failing = reference(&daemon.wait_state(&fail_id, "approved").await);
    let late = reference(&daemon.wait_state(&late_id, "rejected").await);

    let out = daemon.cli(&[
        "orders",
        "execute",
        &ok,
        "--note",
        "Overvågningen er slået til.",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("approved -> executed (by operatoer)"));
    let out = daemon.cli(&[
        "orders",
        "fail",
        &failing,
        "--reason",
        "SFTP-serveren afviste ændringen (fejl 553).",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // Wrong states are refused with a clear message and change nothing.
    let out = daemon.cli(&["orders", "execute", &late]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot execute an order in state rejected")
            && err.contains("only orders in state approved"),
        "{err}"
    );
    let out = daemon.cli(&["orders", "fail", &ok, "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("state executed"));
    let out = daemon.cli(&["orders", "execute", "SP-1999-00001"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no order SP-1999-00001"));

    // The requester's receipts.
    let done = wait_mail(
        &stack,
        FA,
        &["INBOX"],
        &format!("[{ok}] Ændringen er gennemført"),
        &ok_id,
    )
    .await;
    let body = done.text.unwrap_or_default();
    assert!(body.contains("er gennemført"), "{body}");
    assert!(body.contains("Overvågningen er slået til."), "{body}");
    assert!(body.contains(&ok_id), "{body}");
    assert_eq!(done.in_reply_to, vec![format!("{ok_id}@example.test")]);
    let failed = wait_mail(
        &stack,
        FA,
        &["INBOX"],
        &format!("[{failing}] Fejl ved ændringen"),
        &fail_id,
    )
    .await;
    let body = failed.text.unwrap_or_default();
    assert!(body.contains("oprettet en hændelse (incident)"), "{body}");
    assert!(
        !body.contains("553"),
        "the reason is for the Helpdesk: {body}"
    );

    // The incident mail to helpdesk.incident_to (the daemon files it in Processed: our own mail).
    let incident = wait_mail(
        &stack,
        &hd,
        &["INBOX", "Processed"],
        &format!("[{failing}] Incident: fejl ved ændring af teknisk konfiguration – FamilieFlow"),
        &fail_id,
    )
    .await;
    let body = incident.text.clone().unwrap_or_default();
    for want in [
        "SFTP-serveren afviste ændringen (fejl 553).",
        "Markeret som fejlet af: operatoer",
        "Planlagt tidspunkt:",
        "SFTP-bruger: bd_familieflow",
        "Historik:",
        "fa@example.test: received (-> received)",
        "daemon: judged (received -> approved)",
        "operatoer: fail (approved -> failed)",
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
    let find = |r: &str| {
        orders
            .iter()
            .find(|o| o["ref"] == r)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(find(&ok)["state"], "executed");
    assert_eq!(find(&failing)["state"], "failed");
    assert!(find(&failing)["incident_at"].is_string());
    assert_eq!(find(&late)["state"], "rejected");
    let show = daemon.cli(&["orders", "show", &ok, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show --json");
    let events = show["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events.iter().any(|e| e["actor"] == "operatoer"
            && e["action"] == "execute"
            && e["detail"] == "Overvågningen er slået til."),
        "{events:#?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        daemon.orders().len(),
        3,
        "the incident mail must not become an order"
    );

    // Withdrawal: any open order; the requester is told.
    let out = daemon.cli(&[
        "orders",
        "withdraw",
        &late,
        "--reason",
        "Efter aftale med jer.",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let gone = wait_mail(
        &stack,
        FA,
        &["INBOX"],
        &format!("[{late}] Bestillingen er trukket tilbage"),
        &late_id,
    )
    .await;
    assert!(
        gone.text
            .unwrap_or_default()
            .contains("Efter aftale med jer.")
    );
    let out = daemon.cli(&["orders", "withdraw", &ok, "--reason", "x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only open orders"));
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
    let mut daemon = Daemon::start(&stack, "hd-exec@example.test", &command);
    let hd = daemon.helpdesk.clone();
    let desired = desired_date();
    let (ok_id, fail_id, lost_id) = (unique_id("OK"), unique_id("FAIL"), unique_id("LOST"));
    for id in [&ok_id, &fail_id, &lost_id] {
        stack.send(FA, &hd, &form_mail(&hd, id, &desired)).await;
    }
    let ok = reference(&daemon.wait_state(&ok_id, "approved").await);
    let failing = reference(&daemon.wait_state(&fail_id, "approved").await);
    let lost = reference(&daemon.wait_state(&lost_id, "approved").await);
    // Planned three weeks ahead: nothing runs yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!Path::new(&format!("{out}/{ok}.json")).exists());

    // Make them due (and one claimed long ago by an executor that died), then start again:
    // the executor looks at once.
    daemon.stop();
    daemon
        .sql(&format!(
            "UPDATE orders SET planned_at = '2020-01-06T09:00:00.000Z' WHERE ref IN ('{ok}', '{failing}', '{lost}')"
        ))
        .await;
    daemon
        .sql(&format!(
            "UPDATE orders SET updated_at = '2020-01-06T09:00:00.000Z', executing_at = '2020-01-06T10:00:00.000Z' WHERE ref = '{lost}'"
        ))
        .await;
    daemon.spawn();

    let done = wait_mail(
        &stack,
        FA,
        &["INBOX"],
        &format!("[{ok}] Ændringen er gennemført"),
        &ok_id,
    )
    .await;
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

    wait_mail(
        &stack,
        FA,
        &["INBOX"],
        &format!("[{failing}] Fejl ved ændringen"),
        &fail_id,
    )
    .await;
    let incident = wait_mail(
        &stack,
        &hd,
        &["INBOX", "Processed"],
        &format!("[{failing}] Incident:"),
        &fail_id,
    )
    .await;
    let body = incident.text.unwrap_or_default();
    assert!(
        body.contains("the executor command exited with status 3"),
        "{body}"
    );
    assert!(body.contains("login refused"), "{body}");
    assert!(body.contains("Markeret som fejlet af: executor"), "{body}");

    // The interrupted one is failed, never run.
    let lost_incident = wait_mail(
        &stack,
        &hd,
        &["INBOX", "Processed"],
        &format!("[{lost}] Incident:"),
        &lost_id,
    )
    .await;
    assert!(
        lost_incident
            .text
            .unwrap_or_default()
            .contains("the executor was interrupted")
    );
    assert!(!Path::new(&format!("{out}/{lost}.json")).exists());

    let orders = daemon.orders();
    let state = |r: &str| {
        orders
            .iter()
            .find(|o| o["ref"] == r)
            .map(|o| o["state"].clone())
            .unwrap_or_default()
    };
    assert_eq!(state(&ok), "executed");
    assert_eq!(state(&failing), "failed");
    assert_eq!(state(&lost), "failed");

    // Once: another round (a restart) runs nothing again.
    daemon.stop();
    std::fs::remove_file(format!("{out}/{ok}.json")).expect("remove");
    daemon.spawn();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!Path::new(&format!("{out}/{ok}.json")).exists());
    let show = daemon.cli(&["orders", "show", &ok, "--json"]);
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).expect("show --json");
    let started = show["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["action"] == "execution started")
                .count()
        })
        .unwrap_or(0);
    assert_eq!(started, 1, "{show:#}");
    daemon.stop();
}
