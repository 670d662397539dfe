//! Orders belong to their requester, over the real mail stack: a forged colleague cannot
//! replace an approved order (by reference or by BestillingsID), a form without a
//! BestillingsID never touches an open order, and a stranger's reply is not added to the
//! order. The requester's own correction is tests/resubmission.rs.
//!
//! The tests share one stack; each has its own Helpdesk mailbox and its own requester domain,
//! so their receipts never mix.

mod common;

use std::time::Duration;

use common::MailStack;
use common::daemon::Daemon;
use common::fixtures::{Received, WsForm, docx, form_mail, received};

const CONNECT: Duration = Duration::from_secs(30);
/// Generous: a loaded machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(60);
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";

/// A daemon on its own Helpdesk mailbox, connected; `users` exist on the stack.
async fn daemon(stack: &MailStack, helpdesk: &str, users: &[&str]) -> Daemon {
    let mut all = vec![helpdesk];
    all.extend(users);
    stack.add_users(&all);
    let mut d = Daemon::new(stack, helpdesk);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d
}

/// Like [`daemon`], with the example it-system register and `mx.ownership.test` as our MX,
/// whose Authentication-Results headers count.
async fn daemon_with_register(stack: &MailStack, helpdesk: &str, users: &[&str]) -> Daemon {
    let mut all = vec![helpdesk];
    all.extend(users);
    stack.add_users(&all);
    let mut d = Daemon::new(stack, helpdesk);
    let systems = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systems.csv");
    d.edit_config(|c| {
        c.replace(
            "[rules]\n",
            &format!("[rules]\nsystems_file = \"{}\"\n", systems.display()),
        )
        .replace(
            "trusted_authserv_ids = []",
            "trusted_authserv_ids = [\"mx.ownership.test\"]",
        )
    });
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d
}

/// The order once it has `n` versions.
async fn with_versions(d: &Daemon, reference: &str, n: usize) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let order = d.order(reference);
        let have = order["versions"].as_array().map_or(0, Vec::len);
        if have >= n {
            return order;
        }
        assert!(
            start.elapsed() < WAIT,
            "{reference} has {have} versions, waited for {n}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `user`'s INBOX once it holds at least `n` mails.
async fn mails(stack: &MailStack, d: &mut Daemon, user: &str, n: usize) -> Vec<Received> {
    d.wait_mailbox(
        stack,
        user,
        "INBOX",
        &format!("{n} mails"),
        |c| c >= n,
        WAIT,
    )
    .await
    .iter()
    .map(|raw| received(raw))
    .collect()
}

/// The form's rows with `label` replaced by `value`, or dropped when `value` is `None`.
fn rows_with(form: &WsForm, label: &str, value: Option<&str>) -> Vec<(&'static str, Vec<String>)> {
    form.rows()
        .into_iter()
        .filter_map(|(l, v)| match (l == label, value) {
            (true, Some(new)) => Some((l, vec![new.to_string()])),
            (true, None) => None,
            (false, _) => Some((l, v)),
        })
        .collect()
}

fn mid(tag: &str) -> String {
    format!("{tag}.{}@ownership.test", std::process::id())
}

/// The orders (from `orders list`) other than `except`.
fn other_orders(d: &Daemon, except: &[&str]) -> Vec<serde_json::Value> {
    d.orders()
        .into_iter()
        .filter(|o| !except.contains(&o["ref"].as_str().unwrap_or("")))
        .collect()
}

fn actions(order: &serde_json::Value) -> Vec<String> {
    order["events"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["action"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The Helpdesk's review mails (in the staff mailbox, `helpdesk.review_to`).
async fn review_mails(stack: &MailStack, d: &mut Daemon, n: usize) -> Vec<Received> {
    let helpdesk = d.staff();
    let want = |all: &[Vec<u8>]| {
        all.iter()
            .filter(|r| received(r).subject.contains("Til vurdering"))
            .count()
    };
    let start = std::time::Instant::now();
    loop {
        let all = stack.fetch_or_empty(&helpdesk, "INBOX").await;
        if want(&all) >= n {
            return all
                .iter()
                .map(|r| received(r))
                .filter(|r| r.subject.contains("Til vurdering"))
                .collect();
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} review mails in {helpdesk}/INBOX; got {}\n{}",
            want(&all),
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends a valid form from `requester` and waits for its two receipts: the order, approved.
async fn approved_order(
    stack: &MailStack,
    d: &mut Daemon,
    requester: &str,
    form: &WsForm,
) -> serde_json::Value {
    let raw = form_mail(requester, d.helpdesk(), "Ny URL", &mid("v1"), &form.docx());
    stack.send(requester, d.helpdesk(), &raw).await;
    mails(stack, d, requester, 2).await;
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved", "{order:#}");
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_colleague_cannot_replace_an_approved_order() {
    const REQUESTER: &str = "fa@hijack.test";
    const FORGER: &str = "chef@hijack.test";
    let stack = MailStack::shared(&[]);
    let mut d = daemon(&stack, "helpdesk-hijack@example.test", &[REQUESTER, FORGER]).await;
    let form = WsForm::new("OW-HIJACK-0001", REQUESTER);
    let before = approved_order(&stack, &mut d, REQUESTER, &form).await;
    let reference = before["ref"].as_str().unwrap_or_default().to_string();

    // The attacker's URL, once with the order's reference in the subject, once with only the
    // same BestillingsID; From is the colleague's (forged: nothing verifies it).
    let attackers = WsForm {
        contact_email: FORGER.to_string(),
        ..form.clone()
    };
    let evil = docx(
        TITLE,
        &rows_with(
            &attackers,
            "Ny URL",
            Some("https://exttest.attacker.example/ws/v2/sagsopslag"),
        ),
    );
    for (i, subject) in [
        format!("Re: [{reference}] Kvittering for modtagelse: Ny URL"),
        "Rettet bestilling".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let raw = form_mail(
            FORGER,
            d.helpdesk(),
            subject,
            &mid(&format!("hijack{i}")),
            &evil,
        );
        stack.send(FORGER, d.helpdesk(), &raw).await;
    }

    // The forger's address gets modtaget + til vurdering for each; the real requester is told
    // once (a day, so a stream of forgeries cannot bury it), in a mail of its own in its
    // order's thread, on top of the two receipts of its own order. Neither side learns the
    // other's address or form: the forger's receipts do not name the requester, and the
    // requester's notice names neither the forger nor the attacker's URL.
    let forger_got = mails(&stack, &mut d, FORGER, 4).await;
    let told = mails(&stack, &mut d, REQUESTER, 3).await;
    let warnings: Vec<&Received> = told
        .iter()
        .filter(|r| {
            r.subject.contains(&format!("[{reference}]")) && r.text.contains("anden afsender")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{told:#?}");
    let warning = warnings[0];
    assert!(
        warning.text.contains("din bestilling") && warning.text.contains("OW-HIJACK-0001"),
        "the requester learns of the attempt on its order: {}",
        warning.text
    );
    for secret in [FORGER, "attacker.example"] {
        assert!(
            !warning.text.contains(secret),
            "{secret} in {}",
            warning.text
        );
    }
    assert_eq!(forger_got.len(), 4, "{forger_got:#?}");
    for raw in stack.fetch_all(FORGER, "INBOX").await {
        assert!(
            !String::from_utf8_lossy(&raw).contains(REQUESTER),
            "the requester's address in a mail to the forger: {}",
            String::from_utf8_lossy(&raw)
        );
    }
    // Even the requester cannot change the approved order by mail: a person decides.
    let changed = docx(
        TITLE,
        &rows_with(
            &form,
            "Ny URL",
            Some("https://exttest3.fjordsoft.example/ws/v2/sagsopslag"),
        ),
    );
    let subject = format!("Re: [{reference}] Bestillingen er godkendt: Ny URL");
    let raw = form_mail(REQUESTER, d.helpdesk(), &subject, &mid("own"), &changed);
    stack.send(REQUESTER, d.helpdesk(), &raw).await;
    let told = mails(&stack, &mut d, REQUESTER, 5).await;
    assert!(
        told.iter()
            .any(|r| r.heading == "Bestillingen vurderes manuelt"
                && r.text.contains(&format!(
                    "Bestillingen {reference} med KOMBIT BestillingsID"
                ))
                && r.text.contains("allerede godkendt")),
        "{told:#?}"
    );

    // The approved order: same state, one version, same planned time; every attempt is on its
    // history.
    let after = d.order(&reference);
    assert_eq!(after["state"], "approved", "{after:#}");
    assert_eq!(after["versions"], before["versions"], "{after:#}");
    assert_eq!(after["planned_at"], before["planned_at"]);
    let refused = actions(&after)
        .iter()
        .filter(|a| *a == "change refused")
        .count();
    assert_eq!(refused, 3, "{after:#}");

    // The attempts went to a person, form.ambiguous: the forger's first mail made a review
    // order, its second is a version of that one (still review), the requester's is its own.
    let others = other_orders(&d, &[&reference]);
    assert_eq!(others.len(), 2, "{others:#?}");
    let mut versions = 0;
    for o in &others {
        assert_eq!(o["state"], "review", "{o:#}");
        let full = d.order(o["ref"].as_str().unwrap_or_default());
        for v in full["versions"].as_array().cloned().unwrap_or_default() {
            versions += 1;
            assert_eq!(v["decision"], "review", "{full:#}");
            assert!(v.to_string().contains("form.ambiguous"), "{full:#}");
        }
    }
    assert_eq!(versions, 3);
    // Nothing more reached the requester: one warning for the two forgeries.
    let all = stack.fetch_all(REQUESTER, "INBOX").await;
    assert_eq!(
        all.iter()
            .filter(|r| received(r).text.contains("anden afsender"))
            .count(),
        1
    );
    assert_eq!(all.len(), 5);
    // And the Helpdesk's review mails name the approved order.
    let reviews = review_mails(&stack, &mut d, 3).await;
    assert_eq!(
        reviews
            .iter()
            .filter(|r| r.text.contains(&format!("bestillingen {reference}"))
                || r.text.contains(&format!("Bestillingen {reference}")))
            .count(),
        3,
        "{reviews:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_a_bestillings_id_never_touches_an_open_order() {
    const REQUESTER: &str = "fa@noid.test";
    const STRANGER: &str = "kollega@noid.test";
    let stack = MailStack::shared(&[]);
    let mut d = daemon(&stack, "helpdesk-noid@example.test", &[REQUESTER, STRANGER]).await;
    // An open order: the CVR fails its check, so it is rejected and waits for a correction.
    let form = WsForm::new("OW-NOID-0001", REQUESTER);
    let v1 = docx(TITLE, &rows_with(&form, "CVR-nr.", Some("12345678")));
    let raw = form_mail(REQUESTER, d.helpdesk(), "Ny URL", &mid("noid-v1"), &v1);
    stack.send(REQUESTER, d.helpdesk(), &raw).await;
    mails(&stack, &mut d, REQUESTER, 2).await;
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    let before = d.order(&reference);
    assert_eq!(before["state"], "rejected", "{before:#}");

    // A form without its BestillingsID, in the order's thread, from someone else and from the
    // requester.
    let no_id = docx(TITLE, &rows_with(&form, "KOMBIT BestillingsID", None));
    for (who, tag) in [(STRANGER, "noid-stranger"), (REQUESTER, "noid-requester")] {
        let subject = format!("Re: [{reference}] Bestillingen skal rettes: Ny URL");
        let raw = form_mail(who, d.helpdesk(), &subject, &mid(tag), &no_id);
        stack.send(who, d.helpdesk(), &raw).await;
    }
    mails(&stack, &mut d, STRANGER, 2).await;
    mails(&stack, &mut d, REQUESTER, 4).await;

    let after = d.order(&reference);
    assert_eq!(after["state"], "rejected", "{after:#}");
    assert_eq!(after["versions"], before["versions"], "{after:#}");
    assert_eq!(actions(&after), actions(&before), "{after:#}");
    let others = other_orders(&d, &[&reference]);
    assert_eq!(others.len(), 2, "each form is a new order: {others:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_reply_is_not_added_to_the_order() {
    const REQUESTER: &str = "fa@reply.test";
    const STRANGER: &str = "x@stranger.test";
    const FORGER: &str = "chef@reply.test";
    let stack = MailStack::shared(&[]);
    let mut d = daemon(
        &stack,
        "helpdesk-reply@example.test",
        &[REQUESTER, STRANGER, FORGER],
    )
    .await;
    let form = WsForm::new("OW-REPLY-0001", REQUESTER);
    let before = approved_order(&stack, &mut d, REQUESTER, &form).await;
    let reference = before["ref"].as_str().unwrap_or_default().to_string();

    let helpdesk = d.helpdesk().to_string();
    let reply = |from: &str, tag: &str| {
        mail_builder::MessageBuilder::new()
            .from(from)
            .to(helpdesk.as_str())
            .subject(format!("Re: [{reference}] Spørgsmål"))
            .message_id(mid(tag))
            .date(chrono::Utc::now().timestamp())
            .text_body("Hej\n\nSkift venligst også kontaktpersonen.\n\n/X\n")
            .write_to_vec()
            .expect("the mail builds")
    };
    for (from, tag) in [(STRANGER, "reply-stranger"), (FORGER, "reply-forger")] {
        stack.send(from, &helpdesk, &reply(from, tag)).await;
    }
    // Each is new mail for a person: a review order, and the Helpdesk's review mail says which
    // order it named.
    let reviews = review_mails(&stack, &mut d, 2).await;
    let named = format!("henviser til bestillingen {reference}");
    assert_eq!(
        reviews.iter().filter(|r| r.text.contains(&named)).count(),
        2,
        "{reviews:#?}"
    );
    let after = d.order(&reference);
    assert!(
        !actions(&after).contains(&"correspondence".to_string()),
        "{after:#}"
    );
    assert_eq!(other_orders(&d, &[&reference]).len(), 2);

    // The requester's own reply is correspondence on the order.
    stack
        .send(
            REQUESTER,
            d.helpdesk(),
            &reply(REQUESTER, "reply-requester"),
        )
        .await;
    let start = std::time::Instant::now();
    while !actions(&d.order(&reference)).contains(&"correspondence".to_string()) {
        assert!(start.elapsed() < WAIT, "{:#}", d.order(&reference));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        other_orders(&d, &[&reference]).len(),
        2,
        "no new order for it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_colleague_and_a_registered_address_may_correct() {
    // examples/systems.csv lists fa@example.test and drift@leverandoer.test for SagsPilot, the
    // form's it-system.
    const REQUESTER: &str = "fa@example.test";
    const COLLEAGUE: &str = "chef@example.test";
    const SUPPLIER: &str = "drift@leverandoer.test";
    let stack = MailStack::shared(&[]);
    let mut d = daemon_with_register(
        &stack,
        "helpdesk-colleague@example.test",
        &[COLLEAGUE, SUPPLIER],
    )
    .await;
    let form = WsForm::new("OW-COLLEAGUE-0001", REQUESTER);
    let wrong = docx(TITLE, &rows_with(&form, "CVR-nr.", Some("12345678")));
    let raw = form_mail(REQUESTER, d.helpdesk(), "Ny URL", &mid("col-v1"), &wrong);
    stack.send(REQUESTER, d.helpdesk(), &raw).await;
    let orders = d.wait_orders(1, WAIT).await;
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    let first = with_versions(&d, &reference, 1).await;
    assert_eq!(first["state"], "rejected", "{first:#}");

    let subject = format!("Re: [{reference}] Bestillingen skal rettes: Ny URL");
    let verified = |raw: Vec<u8>| {
        let mut out =
            b"Authentication-Results: mx.ownership.test; spf=pass smtp.mailfrom=example.test;\r\n dmarc=pass (p=reject) header.from=example.test\r\n".to_vec();
        out.extend(raw);
        out
    };
    // The colleague without a verdict from our MX: a person decides, the order stays.
    let raw = form_mail(
        COLLEAGUE,
        d.helpdesk(),
        &subject,
        &mid("col-forged"),
        &wrong,
    );
    stack.send(COLLEAGUE, d.helpdesk(), &raw).await;
    d.wait_orders(2, WAIT).await;
    // Verified by our MX: a version of the order (still wrong, so rejected again).
    let raw = form_mail(
        COLLEAGUE,
        d.helpdesk(),
        &subject,
        &mid("col-verified"),
        &wrong,
    );
    stack.send(COLLEAGUE, d.helpdesk(), &verified(raw)).await;
    let second = with_versions(&d, &reference, 2).await;
    assert_eq!(second["state"], "rejected", "{second:#}");
    // The supplier's address the register lists: the corrected version, approved.
    let raw = form_mail(
        SUPPLIER,
        d.helpdesk(),
        &subject,
        &mid("col-supplier"),
        &form.docx(),
    );
    stack.send(SUPPLIER, d.helpdesk(), &raw).await;
    let third = with_versions(&d, &reference, 3).await;
    assert_eq!(third["state"], "approved", "{third:#}");
    assert_eq!(
        d.orders().len(),
        2,
        "only the unverified mail made an order"
    );
}

/// `spdesk check --json` on a mail, with `context` options: the exit code and the judgement.
fn check_forged(
    d: &Daemon,
    eml: &std::path::Path,
    context: &[&str],
) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["check", "--json"];
    args.extend(context);
    let path = eml.to_string_lossy();
    args.push(&path);
    let out = d.cli(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "spdesk {}: not JSON ({e}): {stdout}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), j)
}

/// The `form.ambiguous` messages of a judgement's (or a stored version's) first form.
fn ambiguous_messages(form: &serde_json::Value) -> Vec<String> {
    form["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|x| x["rule"] == "form.ambiguous")
                .map(|x| x["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdesk_check_given_the_known_orders_shows_the_refusal_the_daemon_makes() {
    const REQUESTER: &str = "fa@checkctx.test";
    const FORGER: &str = "chef@checkctx.test";
    let stack = MailStack::shared(&[]);
    let mut d = daemon(
        &stack,
        "helpdesk-checkctx@example.test",
        &[REQUESTER, FORGER],
    )
    .await;
    let form = WsForm::new("OW-CHECK-0001", REQUESTER);
    let approved = approved_order(&stack, &mut d, REQUESTER, &form).await;
    let reference = approved["ref"].as_str().unwrap_or_default().to_string();

    // The same form from someone the order does not belong to.
    let forged = form_mail(
        FORGER,
        d.helpdesk(),
        "Rettet bestilling",
        &mid("check"),
        &form.docx(),
    );
    let eml = d.dir().join("forged.eml");
    std::fs::write(&eml, &forged).unwrap_or_else(|e| panic!("{}: {e}", eml.display()));
    let expected = format!(
        "KOMBIT BestillingsID: \"OW-CHECK-0001\" bruges allerede i bestillingen {reference}, som er sendt fra en anden adresse. Kun bestilleren kan rette en bestilling med en mail. Helpdesk afklarer, hvilken bestilling ID'et hører til."
    );

    // Without context, check cannot know the order: the form is approved.
    let (code, j) = check_forged(&d, &eml, &[]);
    assert_eq!(
        (code, &j["decision"]),
        (Some(0), &serde_json::json!("approved")),
        "{j:#}"
    );
    assert!(ambiguous_messages(&j["forms"][0]).is_empty(), "{j:#}");

    // With the daemon's database, read while the daemon runs: a person decides (exit 11).
    let db = d.db_url();
    let (code, j) = check_forged(&d, &eml, &["--db", &db]);
    assert_eq!(code, Some(11), "{j:#}");
    assert_eq!(j["decision"], "review", "{j:#}");
    assert_eq!(
        ambiguous_messages(&j["forms"][0]),
        std::slice::from_ref(&expected),
        "{j:#}"
    );

    // With a file of the orders as `orders list --json` shows them.
    let listed: Vec<serde_json::Value> = d
        .orders()
        .iter()
        .map(|o| {
            serde_json::json!({
                "reference": o["ref"], "bestillings_id": o["bestillings_id"],
                "state": o["state"], "requester": o["requester"],
            })
        })
        .collect();
    let file = d.dir().join("known-orders.json");
    std::fs::write(&file, serde_json::to_vec(&listed).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let known = file.to_string_lossy();
    let (code, j) = check_forged(&d, &eml, &["--known-orders", &known]);
    assert_eq!(code, Some(11), "{j:#}");
    assert_eq!(
        ambiguous_messages(&j["forms"][0]),
        std::slice::from_ref(&expected),
        "{j:#}"
    );

    // The daemon, given the same mail, stores the same finding on the review order it makes.
    stack.send(FORGER, d.helpdesk(), &forged).await;
    mails(&stack, &mut d, FORGER, 2).await;
    let others = other_orders(&d, &[&reference]);
    assert_eq!(others.len(), 1, "{others:#?}");
    let made = d.order(others[0]["ref"].as_str().unwrap_or_default());
    assert_eq!(made["state"], "review", "{made:#}");
    // (A version stores its form's judgement.)
    assert_eq!(
        ambiguous_messages(&made["versions"][0]["judgement"]),
        [expected],
        "{made:#}"
    );
}
