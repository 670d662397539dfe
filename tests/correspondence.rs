//! Mails that belong to an order without a whole form, end to end over the real Dovecot +
//! Postfix and the real `spdesk run`: a requester's messages reach a person at `review_to`
//! (the original attached, Reply-To the requester), the requester is acknowledged once a day,
//! the digest lists the order under "Ubesvarede beskeder", `orders show` shows the text,
//! `orders reply` answers in the requester's thread and `orders handled` clears it; an
//! auto-reply to our acknowledgement starts nothing; a stranger's message is new mail for a
//! person.

mod common;

use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::fixtures::{Received, WsForm, form_mail, received};
use common::{FA, HELPDESK, MailStack};
use mail_parser::MimeHeaders;

const CONNECT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(60);
/// Where the test config sends the Helpdesk's copies: a person's mailbox, not the one the
/// daemon reads.
const REVIEW: &str = "review@example.test";
const STRANGER: &str = "fremmed@example.test";

fn mid(tag: &str) -> String {
    format!("corr-{tag}.{}@example.test", std::process::id())
}

/// A daemon whose `review_to` is [`REVIEW`].
async fn daemon(stack: &MailStack) -> Daemon {
    stack.add_users(&[REVIEW, STRANGER]);
    let mut d = Daemon::new(stack, HELPDESK);
    let staff = format!("review_to = [\"{}\"]", d.staff());
    d.edit_config(|c| {
        assert!(c.contains(&staff), "the harness config has {staff}");
        c.replace(&staff, &format!("review_to = [\"{REVIEW}\"]"))
    });
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    d
}

/// A plain-text mail from `from` in reply to `parent`, as a mail client writes one.
fn reply_mail(from: &str, subject: &str, message_id: &str, parent: &str, text: &str) -> Vec<u8> {
    mail_builder::MessageBuilder::new()
        .from(("Karin Holm", from))
        .to(HELPDESK)
        .subject(subject)
        .message_id(message_id)
        .in_reply_to(parent)
        .references(parent)
        .date(chrono::Utc::now().timestamp())
        .text_body(text)
        .write_to_vec()
        .expect("the mail builds")
}

/// Every mail in `user`'s INBOX whose subject contains `needle`, once there are `n`.
async fn wait_subjects(
    stack: &MailStack,
    d: &mut Daemon,
    user: &str,
    needle: &str,
    n: usize,
) -> Vec<Vec<u8>> {
    let start = Instant::now();
    loop {
        let all = stack.fetch_or_empty(user, "INBOX").await;
        let hits: Vec<Vec<u8>> = all
            .into_iter()
            .filter(|r| {
                // A receipt says its kind in its heading; a staff mail in its subject.
                let m = received(r);
                m.heading.contains(needle) || m.subject.contains(needle)
            })
            .collect();
        if hits.len() >= n {
            return hits;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} mails \"{needle}\" in {user}; got {}\n{}",
            hits.len(),
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn events(order: &serde_json::Value) -> Vec<serde_json::Value> {
    order["events"].as_array().cloned().unwrap_or_default()
}

fn count_action(order: &serde_json::Value, action: &str) -> usize {
    events(order)
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

/// Waits until the order's history has `n` events `action`.
async fn wait_events(d: &Daemon, reference: &str, action: &str, n: usize) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let order = d.order(reference);
        if count_action(&order, action) >= n {
            return order;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} \"{action}\" events: {order:#}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A valid form from [`FA`], approved: its reference and the *godkendt* receipt.
async fn approved_order(stack: &MailStack, d: &mut Daemon, id: &str) -> (String, Received) {
    let form = WsForm::new(id, FA);
    let raw = form_mail(
        FA,
        HELPDESK,
        "Ny URL til SagsOpslag",
        &mid("form"),
        &form.docx(),
    );
    stack.send(FA, HELPDESK, &raw).await;
    let got = wait_subjects(stack, d, FA, "godkendt", 1).await;
    let approved = received(&got[0]);
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0]["state"], "approved");
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    (reference, approved)
}

/// The Helpdesk's copy: Reply-To is the requester, the original mail is attached whole.
fn assert_forward(raw: &[u8], original_id: &str, text: &str) {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a mail");
    let reply_to = m
        .reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_string();
    assert_eq!(reply_to, FA, "Reply-To is the requester");
    let attached = m
        .attachments()
        .filter_map(|a| a.message())
        .map(|inner| inner.message_id().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    assert_eq!(attached, [original_id], "the original is attached");
    let body = m.body_text(0).unwrap_or_default();
    assert!(body.contains(text), "the copy quotes the message: {body}");
    assert!(
        body.contains("spdesk orders reply"),
        "and says how to answer: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replies_reach_a_person_and_an_answer_arrives_threaded() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    let (reference, approved) = approved_order(&stack, &mut d, "CO-2026-0001").await;
    let subject = format!("SV: {}", approved.subject);

    // The three replies of the issue, each to the approval receipt.
    let messages = [
        (
            "cvr",
            "Rettelse:\n\nCVR-nr.: 29189846\nØnsket tidspunkt for ændring: 15-12-2026 kl. 10:00\n\n/Karin\nTelefon: 12345678\n".to_string(),
            "CVR-nr.: 29189846",
        ),
        (
            "time",
            "Hej\n\nKan ændringen rykkes til kl. 13.00?\n\n/Karin\n".to_string(),
            "Kan ændringen rykkes til kl. 13.00?",
        ),
        (
            "withdraw",
            format!("Hej\n\nTræk venligst {reference} tilbage.\n\n/Karin\n"),
            "Træk venligst",
        ),
    ];
    // The last one after the others are stored, so that it is the requester's last mail.
    for (n, (tag, text, _)) in messages.iter().enumerate() {
        if n == messages.len() - 1 {
            wait_events(&d, &reference, "correspondence", n).await;
        }
        let mut raw = reply_mail(FA, &subject, &mid(tag), &approved.message_id, text);
        if *tag == "time" {
            // A Reply-To outside the requester's domain is never where the copy's answer goes.
            raw.splice(0..0, b"Reply-To: x@evil.example\r\n".iter().copied());
        }
        stack.send(FA, HELPDESK, &raw).await;
    }
    let order = wait_events(&d, &reference, "correspondence", 3).await;
    assert_eq!(order["state"], "approved", "a message changes no state");
    assert_eq!(d.orders().len(), 1, "no new order for a message");

    // Each reaches review_to with the original attached and Reply-To the requester.
    let copies = wait_subjects(&stack, &mut d, REVIEW, "Besked om bestillingen", 3).await;
    assert_eq!(copies.len(), 3);
    for (tag, _, text) in &messages {
        let copy = copies
            .iter()
            .find(|c| received(c).text.contains(text))
            .unwrap_or_else(|| panic!("no copy with {text:?}"));
        assert!(received(copy).subject.contains(&format!("[{reference}]")));
        assert_forward(copy, &mid(tag), text);
    }

    // The requester is acknowledged once for the three.
    d.wait_all_delivered(&stack, WAIT).await;
    let acks = wait_subjects(&stack, &mut d, FA, "Besked modtaget", 1).await;
    assert_eq!(acks.len(), 1, "one acknowledgement per order per day");
    let ack = received(&acks[0]);
    assert!(ack.text.contains(&reference), "{}", ack.text);
    assert!(ack.subject.contains(&format!("[{reference}]")));
    assert_eq!(ack.auto_submitted.as_deref(), Some("auto-replied"));

    // An out-of-office answer to the acknowledgement starts nothing.
    let auto = mail_builder::MessageBuilder::new()
        .from(("Karin Holm", FA))
        .to(HELPDESK)
        .subject(format!("Automatisk svar: {}", ack.subject))
        .message_id(mid("ooo"))
        .in_reply_to(ack.message_id.as_str())
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-replied"),
        )
        .date(chrono::Utc::now().timestamp())
        .text_body("Jeg er på ferie.")
        .write_to_vec()
        .expect("the mail builds");
    stack.send(FA, HELPDESK, &auto).await;
    d.wait_log("an auto-reply", 1, WAIT).await;
    d.wait_inbox_empty(&stack, WAIT).await;
    d.wait_all_delivered(&stack, WAIT).await;
    let forwards = stack.fetch_or_empty(REVIEW, "INBOX").await;
    assert_eq!(forwards.len(), 3, "no copy of an auto-reply");
    let fa_mails = stack.fetch_or_empty(FA, "INBOX").await;
    assert_eq!(
        fa_mails
            .iter()
            .filter(|r| received(r).heading.contains("Besked modtaget"))
            .count(),
        1,
        "no acknowledgement of an auto-reply"
    );
    assert_eq!(count_action(&d.order(&reference), "correspondence"), 3);

    // `orders show` shows the texts; the digest lists the order.
    let shown = stdout(&d.cli(&["orders", "show", &reference]));
    for (_, _, text) in &messages {
        assert!(shown.contains(text), "{text:?} in {shown}");
    }
    let digest = stdout(&d.cli(&["digest"]));
    assert!(
        digest.contains("1 ubesvarede beskeder"),
        "the digest counts it: {digest}"
    );
    let section = digest
        .split("Ubesvarede beskeder (1)")
        .nth(1)
        .unwrap_or_else(|| panic!("no section: {digest}"));
    assert!(
        section
            .split("\n\n")
            .next()
            .unwrap_or("")
            .contains(&reference),
        "{digest}"
    );

    // A person answers with a file: in the requester's thread, recorded.
    let file = d.dir().join("vejledning.txt");
    std::fs::write(&file, "Sådan gør du.\n").expect("the file is written");
    let out = stdout(&d.cli_as(
        "mette",
        &[
            "orders",
            "reply",
            &reference,
            "--text",
            "Ja, kl. 13.00 passer fint.",
            "--attach",
            &file.display().to_string(),
        ],
    ));
    assert!(out.contains("svar to fa@example.test"), "{out}");
    let answers = wait_subjects(&stack, &mut d, FA, "Svar fra Helpdesk", 1).await;
    let answer = received(&answers[0]);
    let last = mid("withdraw");
    assert_eq!(
        answer.in_reply_to,
        std::slice::from_ref(&last),
        "a reply to the last mail"
    );
    assert!(answer.references.contains(&last), "{answer:?}");
    assert!(answer.references.contains(&approved.message_id));
    assert!(answer.subject.contains(&format!("[{reference}]")));
    assert!(answer.text.contains("Ja, kl. 13.00 passer fint."));
    let parsed = mail_parser::MessageParser::default()
        .parse(&answers[0])
        .expect("a mail");
    assert!(
        parsed
            .attachments()
            .any(|a| a.attachment_name() == Some("vejledning.txt")),
        "the file is attached"
    );
    let order = d.order(&reference);
    let replies: Vec<_> = events(&order)
        .into_iter()
        .filter(|e| e["action"] == "reply")
        .collect();
    assert_eq!(replies.len(), 1, "{order:#}");
    assert_eq!(replies[0]["actor"], "mette");
    assert!(stdout(&d.cli(&["digest"])).contains("0 ubesvarede beskeder"));

    // A fourth message, marked handled: gone from the digest; nothing left to handle.
    let raw = reply_mail(FA, &subject, &mid("thanks"), &answer.message_id, "Tak!");
    stack.send(FA, HELPDESK, &raw).await;
    wait_events(&d, &reference, "correspondence", 4).await;
    assert!(stdout(&d.cli(&["digest"])).contains("1 ubesvarede beskeder"));
    stdout(&d.cli(&[
        "orders",
        "handled",
        &reference,
        "--note",
        "ingen svar nødvendigt",
    ]));
    assert!(stdout(&d.cli(&["digest"])).contains("0 ubesvarede beskeder"));
    let again = d.cli(&["orders", "handled", &reference]);
    assert!(!again.status.success(), "nothing left to handle");
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unanswered message"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_message_about_an_order_is_new_mail_for_a_person() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    let (reference, approved) = approved_order(&stack, &mut d, "CO-2026-0002").await;
    let raw = reply_mail(
        STRANGER,
        &format!("SV: {}", approved.subject),
        &mid("stranger"),
        &approved.message_id,
        "Kan ændringen rykkes til kl. 13.00?",
    );
    stack.send(STRANGER, HELPDESK, &raw).await;
    let orders = d.wait_orders(2, WAIT).await;
    let other = orders
        .iter()
        .find(|o| o["ref"] != reference.as_str())
        .expect("a new order");
    assert_eq!(other["state"], "review");
    let order = d.order(&reference);
    assert_eq!(count_action(&order, "correspondence"), 0, "{order:#}");
    d.wait_all_delivered(&stack, WAIT).await;
    let copies = stack.fetch_or_empty(REVIEW, "INBOX").await;
    assert!(
        copies
            .iter()
            .all(|c| !received(c).subject.contains("Besked om bestillingen")),
        "not the order's message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_correction_replaces_only_the_named_field() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    // Version 1: the CVR fails its check; the rejection names CVR-nr.
    let form = WsForm::new("CO-2026-0003", FA);
    let rows: Vec<(&str, Vec<String>)> = form
        .rows()
        .into_iter()
        .map(|(l, v)| {
            if l == "CVR-nr." {
                (l, vec!["12345678".to_string()])
            } else {
                (l, v)
            }
        })
        .collect();
    let raw = form_mail(
        FA,
        HELPDESK,
        "Ny URL til SagsOpslag",
        &mid("partial-v1"),
        &common::fixtures::docx(
            "Ændring af teknisk konfiguration for serviceudbyders webservice",
            &rows,
        ),
    );
    stack.send(FA, HELPDESK, &raw).await;
    let got = wait_subjects(&stack, &mut d, FA, "skal rettes", 1).await;
    let rejected = received(&got[0]);
    assert!(rejected.text.contains("CVR-nr."), "{}", rejected.text);
    let reference = d.orders()[0]["ref"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // The reply gives the CVR alone; the signature has a phone number.
    let text = "Hej\n\nCVR-nr.: 12345674\n\nMed venlig hilsen\nKarin Holm\nTelefon: 12345678\n";
    let raw = reply_mail(
        FA,
        &format!("SV: {}", rejected.subject),
        &mid("partial-v2"),
        &rejected.message_id,
        text,
    );
    stack.send(FA, HELPDESK, &raw).await;
    wait_subjects(&stack, &mut d, FA, "godkendt", 1).await;
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(d.orders().len(), 1, "the same order");
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "{order:#}");
    assert_eq!(versions[1]["decision"], "approved");
    let before = versions[0]["judgement"]["fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let after = versions[1]["judgement"]["fields"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(
        !after.contains_key("contact_phone"),
        "the signature is not read"
    );
    let changed: std::collections::BTreeSet<&String> = after
        .keys()
        .chain(before.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        ["org_cvr"],
        "only the named field: {before:#?}\n{after:#?}"
    );
    assert_eq!(after["org_cvr"], "12345674");
    assert_eq!(count_action(&order, "partial correction"), 1, "{order:#}");
    assert_eq!(count_action(&order, "correspondence"), 0, "{order:#}");
}

/// The certificate's host: the form's new URL.
const CERT_HOST: &str = "exttest2.fjordsoft.example";

/// A self-signed certificate for [`CERT_HOST`], PEM, valid until 2030.
fn certificate() -> Vec<u8> {
    let mut p = rcgen::CertificateParams::new(vec![CERT_HOST.to_string()]).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CountryName, "DK");
    dn.push(rcgen::DnType::CommonName, CERT_HOST);
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2026, 1, 15);
    p.not_after = rcgen::date_time_ymd(2030, 7, 1);
    let key = rcgen::KeyPair::generate().expect("key");
    p.self_signed(&key).expect("certificate").pem().into_bytes()
}

/// A webservice form typed in the mail, ordering a new SSL certificate (attached) and URL,
/// with a CVR that fails its check.
fn certificate_order(id: &str) -> Vec<u8> {
    certificate_order_from(FA, "cert-v1", id, certificate())
}

/// [`certificate_order`] from `from`, with Message-ID tag `tag` and the certificate file
/// holding `cert`.
fn certificate_order_from(from: &str, tag: &str, id: &str, cert: Vec<u8>) -> Vec<u8> {
    let form = WsForm::new(id, FA);
    let mut text =
        String::from("Ændring af teknisk konfiguration for serviceudbyders webservice\n\n");
    for (label, lines) in form.rows() {
        let value = match label {
            "Ændringer" => "☒ SSL-certifikat ☒ URL ☐ Datatype (InfRef) ☐ Sikkerhedsmodel".into(),
            "CVR-nr." => "12345678".to_string(),
            _ => lines.join(" "),
        };
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str("Nyt SSL-certifikat: ny-sagsopslag.cer\n");
    mail_builder::MessageBuilder::new()
        .from(("Karin Holm", from))
        .to(HELPDESK)
        .subject("Nyt certifikat og ny URL til SagsOpslag")
        .message_id(mid(tag))
        .date(chrono::Utc::now().timestamp())
        .text_body(text)
        .attachment("application/x-x509-ca-cert", "ny-sagsopslag.cer", cert)
        .write_to_vec()
        .expect("the mail builds")
}

/// The fields of version `n` (0-based) of an order as `orders show --json` gives them.
fn version_fields(
    order: &serde_json::Value,
    n: usize,
) -> serde_json::Map<String, serde_json::Value> {
    order["versions"][n]["judgement"]["fields"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Whether version `n` (0-based) was judged without a certificate (`field.missing`).
fn lacks_certificate(order: &serde_json::Value, n: usize) -> bool {
    order["versions"][n]["judgement"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f["rule"] == "field.missing" && f["field"] == "certificate")
}

/// Waits until the order has `n` versions.
async fn wait_versions(d: &Daemon, reference: &str, n: usize) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let order = d.order(reference);
        if order["versions"].as_array().map_or(0, Vec::len) >= n {
            return order;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} versions: {order:#}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The fields that differ between two versions.
fn changed(
    before: &serde_json::Map<String, serde_json::Value>,
    after: &serde_json::Map<String, serde_json::Value>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_keeps_the_id_corrects_only_the_named_field_and_the_certificate_stays() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    let id = format!("CO-CERT-{}", std::process::id());
    stack.send(FA, HELPDESK, &certificate_order(&id)).await;
    let got = wait_subjects(&stack, &mut d, FA, "skal rettes", 1).await;
    let rejected = received(&got[0]);
    let reference = d.orders()[0]["ref"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let v1 = version_fields(&d.order(&reference), 0);
    assert_eq!(v1["certificate"], "ny-sagsopslag.cer", "{v1:#?}");

    // The BestillingsID kept as the rejection asks, a CVR that is still wrong, a signature
    // with a phone number: three labels, yet no whole form.
    let text = format!(
        "KOMBIT BestillingsID: {id}\nCVR-nr.: 12345679\n\nKarin Holm, Fjordsoft\nTelefon: 12345678\n"
    );
    let subject = format!("SV: {}", rejected.subject);
    let raw = reply_mail(FA, &subject, &mid("cert-v2"), &rejected.message_id, &text);
    stack.send(FA, HELPDESK, &raw).await;
    let got = wait_subjects(&stack, &mut d, FA, "skal rettes", 2).await;
    let order = d.order(&reference);
    assert_eq!(d.orders().len(), 1, "the same order");
    let v2 = version_fields(&order, 1);
    assert_eq!(changed(&v1, &v2), ["org_cvr"], "{v1:#?}\n{v2:#?}");
    assert_eq!(count_action(&order, "partial correction"), 1, "{order:#}");

    // The CVR corrected in a second reply: the certificate of the first mail still counts.
    let again = got
        .iter()
        .map(|r| received(r))
        .find(|r| r.message_id != rejected.message_id)
        .expect("the second rejection");
    let raw = reply_mail(
        FA,
        &subject,
        &mid("cert-v3"),
        &again.message_id,
        "Hej\n\nCVR-nr.: 12345674\n",
    );
    stack.send(FA, HELPDESK, &raw).await;
    let order = wait_versions(&d, &reference, 3).await;
    // The (self-signed) certificate was found and judged: a person looks at it.
    assert_eq!(order["state"], "review", "{order:#}");
    assert!(!lacks_certificate(&order, 2), "{order:#}");
    let v3 = version_fields(&order, 2);
    assert_eq!(changed(&v2, &v3), ["org_cvr"], "{v2:#?}\n{v3:#?}");
    assert_eq!(v3["certificate"], "ny-sagsopslag.cer");

    // A new time agreed, then a typo fixed by the Helpdesk: judged with the certificate of the
    // first mail as before, and the agreed time stays.
    let day = common::fixtures::add_working_days(common::fixtures::desired_date(), 2);
    let at = format!("{} 13:00", day.format("%Y-%m-%d"));
    stdout(&d.cli(&[
        "orders",
        "reschedule",
        &reference,
        "--at",
        &at,
        "--reason",
        "aftalt",
    ]));
    let planned = d.order(&reference)["planned_at"].clone();
    assert!(
        planned
            .as_str()
            .is_some_and(|p| p.starts_with(&format!("{}T13:00:00", day.format("%Y-%m-%d")))),
        "{planned}"
    );
    stdout(&d.cli(&[
        "orders",
        "edit",
        &reference,
        "--set",
        "contact_phone=12345678",
        "--reason",
        "telefonnummer",
    ]));
    let order = d.order(&reference);
    assert_eq!(order["state"], "review", "{order:#}");
    assert!(!lacks_certificate(&order, 3), "{order:#}");
    assert_eq!(order["planned_at"], planned, "the agreed time stays");
    let v4 = version_fields(&order, 3);
    assert_eq!(changed(&v3, &v4), ["contact_phone"], "{v3:#?}\n{v4:#?}");
    assert_eq!(v4["certificate"], "ny-sagsopslag.cer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bestillings_id_corrects_the_same_order() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    // An order carried out: its BestillingsID is used.
    let id = format!("CO-USED-{}", std::process::id());
    let (first, _) = approved_order(&stack, &mut d, &id).await;
    stdout(&d.cli(&["orders", "execute", &first, "--early", "--reason", "aftalt"]));
    // A new form with the same ID: rejected for it.
    let form = WsForm::new(&id, FA);
    let raw = form_mail(FA, HELPDESK, "Igen: ny URL", &mid("used-v1"), &form.docx());
    stack.send(FA, HELPDESK, &raw).await;
    let got = wait_subjects(&stack, &mut d, FA, "skal rettes", 1).await;
    let rejected = received(&got[0]);
    let second = d
        .orders()
        .iter()
        .find(|o| o["ref"] != first.as_str())
        .and_then(|o| o["ref"].as_str().map(str::to_string))
        .expect("the second order");
    assert_eq!(d.order(&second)["state"], "rejected");

    // The reply names the new ID: a new version of the same order, not a third order.
    let new_id = format!("{id}-NY");
    let raw = reply_mail(
        FA,
        &format!("SV: {}", rejected.subject),
        &mid("used-v2"),
        &rejected.message_id,
        &format!("Hej\n\nKOMBIT BestillingsID: {new_id}\n"),
    );
    stack.send(FA, HELPDESK, &raw).await;
    wait_subjects(&stack, &mut d, FA, "godkendt", 2).await;
    assert_eq!(d.orders().len(), 2, "{:#?}", d.orders());
    let order = d.order(&second);
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(order["bestillings_id"], new_id.as_str());
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "{order:#}");
    assert_eq!(
        changed(&version_fields(&order, 0), &version_fields(&order, 1)),
        ["bestillings_id"]
    );
    assert_eq!(count_action(&order, "partial correction"), 1, "{order:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_certificate_is_no_evidence_for_the_order() {
    let stack = MailStack::start(&[]);
    let mut d = daemon(&stack).await;
    let id = format!("CO-EVID-{}", std::process::id());
    stack.send(FA, HELPDESK, &certificate_order(&id)).await;
    let got = wait_subjects(&stack, &mut d, FA, "skal rettes", 1).await;
    let rejected = received(&got[0]);
    let reference = d.orders()[0]["ref"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // Someone else sends a form for the same BestillingsID with a file of the same name: it
    // goes to a person and is noted in the order's history.
    let forged =
        certificate_order_from(STRANGER, "evid-forged", &id, b"ikke et certifikat".to_vec());
    stack.send(STRANGER, HELPDESK, &forged).await;
    wait_events(&d, &reference, "change refused", 1).await;

    // The requester's correction is judged with the requester's own certificate.
    let raw = reply_mail(
        FA,
        &format!("SV: {}", rejected.subject),
        &mid("evid-v2"),
        &rejected.message_id,
        "Hej\n\nCVR-nr.: 12345674\n",
    );
    stack.send(FA, HELPDESK, &raw).await;
    let order = wait_versions(&d, &reference, 2).await;
    let findings = order["versions"][1]["judgement"]["findings"].clone();
    let messages = findings.to_string();
    assert!(!lacks_certificate(&order, 1), "{order:#}");
    assert!(
        messages.contains("selvsigneret"),
        "the requester's file: {findings:#}"
    );
    assert_eq!(order["state"], "review", "{order:#}");
}
