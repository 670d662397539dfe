//! Staff carry any order to its end, over the real mail stack (the real `spdesk run` and the
//! CLI): a failed order is reopened, executed, receipted and billed once; a formless order is
//! filled in with `orders edit` before it can be approved and executed; execute before the
//! planned time needs `--early --reason`; a new time, an overridden decision and a reopening
//! are told to the requester; the person is `--as`, else `$SUDO_USER`, else `$USER`; orders
//! are found by reference in any case and by `orders list --search`.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::daemon::Daemon;
use common::{FA, MailStack, fixtures};
use spdesk::mail::Mail;

/// Generous: a loaded machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(90);

/// The person `$USER` names in these tests.
const USER: &str = "operatoer";

fn start_daemon(stack: &MailStack, helpdesk: &str) -> Daemon {
    stack.add_users(&[helpdesk]);
    let mut d = Daemon::new(stack, helpdesk);
    d.edit_config(|c| c.replace("poll_interval = \"60s\"", "poll_interval = \"1s\""));
    d.start();
    d
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The CLI with `$USER` = [`USER`] and `$SUDO_USER` as given (none: unset).
fn cli_env(d: &Daemon, sudo_user: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spdesk"));
    cmd.arg("--config")
        .arg(d.config_path())
        .args(args)
        .env("USER", USER)
        .env("SPDESK_LOG", "warn")
        .env_remove("SPDESK_FAILPOINT")
        .stdin(Stdio::null());
    match sudo_user {
        Some(s) => cmd.env("SUDO_USER", s),
        None => cmd.env_remove("SUDO_USER"),
    };
    cmd.output().expect("run spdesk")
}

/// A command that must succeed; its stdout.
fn run(d: &Daemon, args: &[&str]) -> String {
    let out = cli_env(d, None, args);
    assert!(out.status.success(), "spdesk {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command that must be refused (exit 1); its stderr.
fn refused(d: &Daemon, args: &[&str]) -> String {
    let out = cli_env(d, None, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "spdesk {args:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A unique BestillingsID per test run.
fn unique_id(tag: &str) -> String {
    format!(
        "LC-{tag}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}

/// The SFTP form of examples/01, typed in the mail, from FA to `helpdesk`.
fn form_mail(helpdesk: &str, id: &str) -> Vec<u8> {
    fixtures::sftp_typed_mail(helpdesk, id, fixtures::desired_date())
}

/// Waits until an order with this BestillingsID is in `state`; its reference.
async fn wait_state(d: &Daemon, bestillings_id: &str, state: &str) -> String {
    d.wait_state(bestillings_id, state, WAIT).await
}

/// The state of the order `reference`.
fn state(d: &Daemon, reference: &str) -> String {
    d.order(reference)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The mails to the requester about `reference` whose subject or text says `what` and whose
/// text names `id` (references repeat across the tests' databases; BestillingsIDs do not).
async fn requester_mails(stack: &MailStack, reference: &str, what: &str, id: &str) -> Vec<Mail> {
    let mut out = Vec::new();
    for raw in stack.fetch_or_empty(FA, "INBOX").await {
        if let Some(m) = Mail::parse(&raw, 2) {
            let body = m.text.clone().unwrap_or_default();
            if m.subject.contains(&format!("[{reference}]"))
                && (m.subject.contains(what) || body.contains(what))
                && body.contains(id)
            {
                out.push(m);
            }
        }
    }
    out
}

/// Waits for `n` such mails; returns them.
async fn wait_requester_mails(
    stack: &MailStack,
    reference: &str,
    what: &str,
    id: &str,
    n: usize,
) -> Vec<Mail> {
    let start = Instant::now();
    loop {
        let got = requester_mails(stack, reference, what, id).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} mail(s) \"{what}\" about {reference} ({id}); got {}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The order's events whose action is `action`.
fn events(d: &Daemon, reference: &str, action: &str) -> Vec<serde_json::Value> {
    let all = d.order(reference)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.into_iter().filter(|e| e["action"] == action).collect()
}

/// The references `orders list --search TEXT --json` finds.
fn search(d: &Daemon, needle: &str) -> Vec<String> {
    let out = run(d, &["orders", "list", "--search", needle, "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    rows.as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["ref"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_order_is_reopened_executed_and_billed_once() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-lifecycle@example.test";
    let mut d = start_daemon(&stack, hd);
    let (id, other_id) = (unique_id("FAIL"), unique_id("MOVE"));
    stack.send(FA, hd, &form_mail(hd, &id)).await;
    stack.send(FA, hd, &form_mail(hd, &other_id)).await;
    let failing = wait_state(&d, &id, "approved").await;
    let moving = wait_state(&d, &other_id, "approved").await;

    // Weeks before the planned time: refused without --early, done with it.
    let err = refused(&d, &["orders", "execute", &failing]);
    assert!(err.contains("--early --reason"), "{err}");
    let early = ["--early", "--reason", "kommunen bad om det i dag"];
    let fail = [
        "orders",
        "fail",
        &failing,
        "--reason",
        "SFTP-serveren svarede ikke",
    ];
    run(&d, &fail);
    assert_eq!(state(&d, &failing), "failed");
    // Failed is no dead end: reopened after the incident is fixed.
    let out = run(
        &d,
        &[
            "orders",
            "reopen",
            &failing,
            "--reason",
            "Fejlen er rettet",
            "--as",
            "Hanne Holm",
        ],
    );
    assert!(out.contains("failed -> approved (by Hanne Holm)"), "{out}");
    // It may fail again, and be reopened again, with a new time: each told as its own mail.
    run(&d, &fail);
    let planned_before = d.order(&failing)["planned_at"].clone();
    let new_time = fixtures::add_working_days(fixtures::desired_date(), 3);
    let new_time = format!("{} 11:17", new_time.format("%Y-%m-%d"));
    run(
        &d,
        &[
            "orders",
            "reopen",
            &failing,
            "--reason",
            "Fejlen er rettet igen",
            "--at",
            &new_time,
        ],
    );
    assert_ne!(d.order(&failing)["planned_at"], planned_before);
    let reopened = wait_requester_mails(&stack, &failing, "genåbnet", &id, 2).await;
    let bodies: Vec<String> = reopened.iter().filter_map(|m| m.text.clone()).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.lines().any(|l| l.ends_with("Fejlen er rettet")))
            && bodies.iter().any(|b| b.contains("Fejlen er rettet igen")),
        "{bodies:#?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("gennemføres igen") && b.contains("kl. 11.17")),
        "{bodies:#?}"
    );
    wait_requester_mails(&stack, &failing, "Fejl ved ændringen", &id, 2).await;
    let execute = [&["orders", "execute", &failing][..], &early].concat();
    let out = run(&d, &execute);
    assert!(out.contains("approved -> executed"), "{out}");
    wait_requester_mails(&stack, &failing, "Ændringen er gennemført", &id, 1).await;
    let reopen = events(&d, &failing, "reopen");
    assert_eq!(reopen.len(), 2, "{reopen:#?}");
    assert_eq!(reopen[0]["actor"], "Hanne Holm");
    assert_eq!(reopen[1]["actor"], USER);
    assert_eq!(events(&d, &failing, "execute")[0]["actor"], USER);

    // Billed once, however often billing runs.
    let first = run(&d, &["billing", "run"]);
    assert!(first.contains("1 order(s) billed"), "{first}");
    let billed = d.order(&failing)["billed_at"].clone();
    assert!(billed.is_string(), "{billed}");
    let second = run(&d, &["billing", "run"]);
    assert!(second.contains("no executed, unbilled orders"), "{second}");
    assert_eq!(d.order(&failing)["billed_at"], billed);

    // A new time: the planned time moves and the requester reads it; $SUDO_USER names the
    // person behind sudo.
    let at = fixtures::add_working_days(fixtures::desired_date(), 2);
    let at_text = format!("{} 13:00", at.format("%Y-%m-%d"));
    let args = [
        "orders",
        "reschedule",
        &moving,
        "--at",
        &at_text,
        "--reason",
        "Aftalt med Lars",
    ];
    let out = cli_env(&d, Some("karin"), &args);
    assert!(out.status.success(), "{}", text(&out));
    let planned = d.order(&moving)["planned_at"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        planned.starts_with(&format!("{}T13:00:00", at.format("%Y-%m-%d"))),
        "{planned}"
    );
    let moved = wait_requester_mails(&stack, &moving, "Nyt tidspunkt", &other_id, 1).await;
    let body = moved[0].text.clone().unwrap_or_default();
    assert!(
        body.contains("kl. 13.00") && body.contains("Aftalt med Lars"),
        "{body}"
    );
    assert_eq!(events(&d, &moving, "reschedule")[0]["actor"], "karin");
    assert_eq!(state(&d, &moving), "approved");

    // An approved order rejected, then approved again by override: each told as "Afgørelse
    // ændret"; an override needs its reason.
    let out = cli_env(&d, None, &["orders", "approve", &moving, "--override"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap wants --reason: {}",
        text(&out)
    );
    run(
        &d,
        &[
            "orders",
            "reject",
            &moving,
            "--reason",
            "Serveren flyttes først i januar",
        ],
    );
    assert_eq!(state(&d, &moving), "rejected");
    let out = run(
        &d,
        &[
            "orders",
            "approve",
            &moving,
            "--override",
            "--reason",
            "Flytningen er fremrykket",
        ],
    );
    assert!(out.contains("rejected -> approved"), "{out}");
    let changed = wait_requester_mails(&stack, &moving, "Afgørelse ændret", &other_id, 2).await;
    let bodies: Vec<String> = changed.iter().filter_map(|m| m.text.clone()).collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Serveren flyttes først i januar")),
        "{bodies:#?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Flytningen er fremrykket")),
        "{bodies:#?}"
    );

    // Found in any case, and by what a person remembers of it.
    let show = run(&d, &["orders", "show", &failing.to_lowercase(), "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&show).expect("JSON");
    assert_eq!(shown["ref"], failing.as_str());
    assert_eq!(search(&d, &id.to_lowercase()), [failing.as_str()]);
    assert_eq!(search(&d, &moving.to_lowercase()), [moving.as_str()]);
    for needle in ["5492 1942", "borgerdata", "FAMILIEFLOW", "fa@example"] {
        let found = search(&d, needle);
        assert!(
            found.contains(&failing) && found.contains(&moving),
            "{needle}: {found:?}"
        );
    }
    assert!(search(&d, "Vestby Kommune").is_empty());
    d.terminate();
    d.wait_exit(WAIT).await;
}

/// An .odt "form" from the requester: a person must look.
fn odt_mail(helpdesk: &str, id: &str) -> Vec<u8> {
    fixtures::attachment_mail(
        (
            FA,
            helpdesk,
            &format!("Bestilling {id}"),
            &format!("{id}@example.test"),
        ),
        (
            "application/vnd.oasis.opendocument.text",
            "Bestilling.odt",
            b"PK\x03\x04mimetypeapplication/vnd.oasis.opendocument.text",
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_formless_order_is_filled_in_before_it_is_approved_and_executed() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-lifecycle-edit@example.test";
    let mut d = start_daemon(&stack, hd);
    let id = unique_id("ODT");
    stack.send(FA, hd, &odt_mail(hd, &id)).await;
    let start = Instant::now();
    let reference = loop {
        let orders = d.orders();
        if let Some(o) = orders.iter().find(|o| o["state"] == "review") {
            break o["ref"].as_str().expect("ref").to_string();
        }
        assert!(start.elapsed() < WAIT, "{orders:#?}\n{}", d.log_tail());
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Nothing to approve or carry out yet.
    let err = refused(&d, &["orders", "approve", &reference]);
    assert!(
        err.contains("required fields") && err.contains("spdesk orders edit"),
        "{err}"
    );
    // A field name that does not exist is a usage error naming the codes.
    let out = cli_env(
        &d,
        None,
        &[
            "orders",
            "edit",
            &reference,
            "--set",
            "farve=blå",
            "--reason",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bestillings_id"));

    // A person types in what the .odt said (codes and Danish labels alike).
    let desired = fixtures::desired_date()
        .format("%d-%m-%Y kl. 10.00")
        .to_string();
    let sets = [
        format!("bestillings_id={id}"),
        "Miljø=Produktion".into(),
        format!("desired_at={desired}"),
        "org_name=Borgerdata I/S".into(),
        "CVR-nr.=DK 5492 1942".into(),
        "contact_name=Lars Bæk Poulsen".into(),
        format!("contact_email={FA}"),
        "system_name=FamilieFlow".into(),
        "system_uuid=d67050fa-52d6-4bd4-89b8-94ba72dcd5a2".into(),
        "system_role=Modtagersystem".into(),
        "sftp_user=bd_familieflow".into(),
        "monitoring=Til".into(),
        "pickup_deadline_hours=24".into(),
        "alert_emails=drift@example.test".into(),
    ];
    let edit_args = |sets: &[String]| {
        let mut args: Vec<String> = ["orders", "edit", &reference].map(String::from).to_vec();
        for s in sets {
            args.extend(["--set".to_string(), s.clone()]);
        }
        args
    };
    // A typing error is refused and changes nothing: the requester never sees it.
    let typo_sets: Vec<String> = sets
        .iter()
        .map(|s| {
            if s.starts_with("CVR-nr.=") {
                "CVR-nr.=12345678".to_string()
            } else {
                s.clone()
            }
        })
        .collect();
    let mut typo = edit_args(&typo_sets);
    typo.extend(["--reason", "x"].map(String::from));
    let typo: Vec<&str> = typo.iter().map(String::as_str).collect();
    let err = refused(&d, &typo);
    assert!(err.contains("CVR-nr. (org_cvr)"), "{err}");
    assert_eq!(state(&d, &reference), "review");
    assert_eq!(
        d.order(&reference)["versions"].as_array().map(Vec::len),
        Some(1)
    );
    let args = edit_args(&sets);
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend([
        "--reason",
        "Udfyldt efter den vedhæftede .odt",
        "--as",
        "Hanne Holm",
    ]);
    let out = run(&d, &args);
    assert!(out.contains("review -> approved (by Hanne Holm)"), "{out}");
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved");
    assert_eq!(order["bestillings_id"], id.as_str());
    assert_eq!(order["org_cvr"], "54921942", "normalised as a read form's");
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "{versions:#?}");
    assert_eq!(versions[1]["decision"], "approved");
    let edit = events(&d, &reference, "edit");
    assert_eq!(edit[0]["actor"], "Hanne Holm");
    assert!(
        edit[0]["detail"]
            .as_str()
            .is_some_and(|t| t.contains("CVR-nr.: (ikke angivet) → 54921942")),
        "{edit:#?}"
    );

    // The requester reads what was filled in, then the verdict.
    let fixed = wait_requester_mails(&stack, &reference, "Rettet af Helpdesk", &id, 1).await;
    let body = fixed[0].text.clone().unwrap_or_default();
    assert!(
        body.contains("CVR-nr.: (ikke angivet) → 54921942")
            && body.contains("Udfyldt efter den vedhæftede .odt"),
        "{body}"
    );
    wait_requester_mails(&stack, &reference, "godkendt", &id, 1).await;

    // Carried out (early, on purpose) and receipted.
    let out = run(
        &d,
        &[
            "orders", "execute", &reference, "--early", "--reason", "Aftalt",
        ],
    );
    assert!(out.contains("approved -> executed"), "{out}");
    wait_requester_mails(&stack, &reference, "Ændringen er gennemført", &id, 1).await;
    // A closed order takes no staff version.
    let err = refused(
        &d,
        &[
            "orders",
            "edit",
            &reference,
            "--set",
            "org_name=X",
            "--reason",
            "x",
        ],
    );
    assert!(err.contains("cannot edit"), "{err}");
    d.terminate();
    d.wait_exit(WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typo_fix_keeps_an_approved_order_and_its_agreed_time() {
    let stack = MailStack::shared(&[]);
    let hd = "hd-lifecycle-typo@example.test";
    let mut d = start_daemon(&stack, hd);
    let id = unique_id("TYPO");
    stack.send(FA, hd, &form_mail(hd, &id)).await;
    let reference = wait_state(&d, &id, "approved").await;

    // A new time agreed with the requester.
    let day = fixtures::add_working_days(fixtures::desired_date(), 3);
    let at = format!("{} 13:00", day.format("%Y-%m-%d"));
    run(
        &d,
        &[
            "orders",
            "reschedule",
            &reference,
            "--at",
            &at,
            "--reason",
            "Aftalt med Lars",
        ],
    );
    let planned = d.order(&reference)["planned_at"].clone();
    let want = format!("{}T13:00:00", day.format("%Y-%m-%d"));
    assert!(
        planned.as_str().is_some_and(|p| p.starts_with(&want)),
        "{planned}"
    );

    // A phone number fixed by the Helpdesk: still approved, still at the agreed time.
    let out = run(
        &d,
        &[
            "orders",
            "edit",
            &reference,
            "--set",
            "contact_phone=12345678",
            "--reason",
            "Telefonnummer tilføjet",
        ],
    );
    assert!(out.contains("approved"), "{out}");
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(order["planned_at"], planned, "the agreed time stays");

    // The desired time edited: a new request, planned anew at the window's start.
    let later = fixtures::add_working_days(fixtures::desired_date(), 4);
    let desired = format!("{} kl. 10.00", later.format("%d-%m-%Y"));
    run(
        &d,
        &[
            "orders",
            "edit",
            &reference,
            "--set",
            &format!("desired_at={desired}"),
            "--reason",
            "Nyt ønsket tidspunkt",
        ],
    );
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved", "{order:#}");
    let replanned = order["planned_at"].as_str().unwrap_or_default().to_string();
    assert!(
        replanned.starts_with(&format!("{}T", later.format("%Y-%m-%d"))),
        "{replanned}"
    );
    d.terminate();
    d.wait_exit(WAIT).await;
}
