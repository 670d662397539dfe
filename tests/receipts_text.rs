//! Every receipt spdesk sends, as the requester's mail program receives it over the real
//! Dovecot + Postfix (RECEIPTS.md): one subject per order `SV: [ref] original subject` that
//! never stacks, the kind as the body's first line (and the HTML heading), the greeting by the
//! From display name, `To:` with that name, In-Reply-To/References to the requester's mail,
//! Outlook's Thread-Topic kept and a child Thread-Index, never "None"; the staff mails (review,
//! incident) in their own mailbox with the original mail and its files attached and Danish
//! words for the fields; `spdesk config check` refusing a staff list the daemon reads itself.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::daemon::{BIN, Daemon, started};
use common::fixtures::{DOCX_TYPE, WsForm};
use common::{FA, HELPDESK, MailStack};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use spdesk::mail::Mail;

const CONNECT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(40);
/// The display name of the requester's From: not the form's contact (Karin Holm).
const NAME: &str = "Jens Hansen";
const TOPIC: &str = "Bestilling af ny URL til SagsOpslag";

/// A parent Thread-Index as Outlook writes one: 22 bytes, FILETIME of now >> 16 and a GUID.
fn parent_thread_index() -> (Vec<u8>, String) {
    let filetime = (chrono::Utc::now().timestamp() + 11_644_473_600) * 10_000_000;
    let mut bytes = (filetime >> 16).to_be_bytes()[2..].to_vec();
    bytes.extend(*b"spdesk-test-guid");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    (bytes, b64)
}

/// The requester's mail: From "Jens Hansen" <fa@example.test>, `subject`, the form as
/// Bestilling.docx (and more files), Outlook's conversation headers when `outlook`.
fn requester_mail(
    subject: &str,
    message_id: &str,
    files: &[(&str, &str, Vec<u8>)],
    outlook: Option<&str>,
) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .from((NAME, FA))
        .to(("Serviceplatformens Helpdesk", HELPDESK))
        .subject(subject)
        .message_id(message_id)
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej\n\nHermed vores bestilling.\n\n/Jens\n");
    if let Some(index) = outlook {
        b = b
            .header("Thread-Topic", Raw::new(TOPIC))
            .header("Thread-Index", Raw::new(index.to_string()));
    }
    for (content_type, name, bytes) in files {
        b = b.attachment(*content_type, *name, bytes.clone());
    }
    b.write_to_vec().expect("the mail builds")
}

fn form_file(rows: &[(&'static str, Vec<String>)]) -> (&'static str, &'static str, Vec<u8>) {
    let title = "Ændring af teknisk konfiguration for serviceudbyders webservice";
    (
        DOCX_TYPE,
        "Bestilling.docx",
        common::fixtures::docx(title, rows),
    )
}

/// The form's rows with one value replaced.
fn with(form: &WsForm, label: &str, value: &str) -> Vec<(&'static str, Vec<String>)> {
    form.rows()
        .into_iter()
        .map(|(l, v)| {
            if l == label {
                (l, vec![value.to_string()])
            } else {
                (l, v)
            }
        })
        .collect()
}

fn unique(tag: &str) -> String {
    format!(
        "RT-{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis() % 1_000_000
    )
}

/// Waits for the mail in `user`'s INBOX whose Message-ID starts with `prefix`.
async fn wait_mail(stack: &MailStack, d: &Daemon, user: &str, prefix: &str) -> (Vec<u8>, Mail) {
    let start = Instant::now();
    loop {
        for raw in stack.fetch_or_empty(user, "INBOX").await {
            if let Some(m) = Mail::parse(&raw, 2)
                && m.message_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(prefix))
            {
                return (raw, m);
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no mail {prefix}… for {user}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the order with this BestillingsID is in `state`; returns its reference.
async fn wait_state(d: &Daemon, bestillings_id: &str, state: &str) -> String {
    d.wait_state(bestillings_id, state, WAIT).await
}

/// What one receipt must be.
struct Expect<'a> {
    reference: &'a str,
    /// The body's first line.
    heading: &'a str,
    /// The subject after `SV: [ref] `.
    subject: &'a str,
    /// The requester's mail it answers.
    parent: &'a str,
    /// The parent's Thread-Index bytes, when it had Outlook's headers.
    outlook: Option<&'a [u8]>,
}

/// The receipt's subject, heading, greeting, To, threading and conversation headers.
fn check_receipt(raw: &[u8], m: &Mail, e: &Expect<'_>) {
    let shown = String::from_utf8_lossy(raw);
    assert_eq!(
        m.subject,
        format!("SV: [{}] {}", e.reference, e.subject),
        "{shown}"
    );
    let text = m.text.clone().unwrap_or_default().replace("\r\n", "\n");
    assert!(
        text.starts_with(&format!("{}\n\nKære {NAME}\n", e.heading)),
        "heading and greeting:\n{text}"
    );
    let html = m.html.clone().unwrap_or_default();
    assert!(html.contains(&format!(">{}</h1>", e.heading)), "{html}");
    let to = m.header("To").unwrap_or_default();
    assert!(
        to.contains(NAME) && to.contains(&format!("<{FA}>")),
        "To: {to}"
    );
    assert_eq!(m.in_reply_to, vec![e.parent.to_string()], "{shown}");
    assert!(m.references.contains(&e.parent.to_string()), "{shown}");
    for bad in ["None", "none", "BestillingsID )", "BestillingsID  "] {
        assert!(!text.contains(bad), "{bad:?} in:\n{text}");
    }
    match e.outlook {
        Some(parent) => {
            let topic = Mail::parse(
                format!(
                    "Subject: {}\r\n\r\n",
                    m.header("Thread-Topic").unwrap_or("")
                )
                .as_bytes(),
                0,
            )
            .map(|t| t.subject)
            .unwrap_or_default();
            assert_eq!(topic, TOPIC, "{shown}");
            let index = m.header("Thread-Index").expect("a child Thread-Index");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(index.trim())
                .expect("base64");
            assert_eq!(bytes.len(), parent.len() + 5, "{index}");
            assert_eq!(&bytes[..parent.len()], parent, "the parent's bytes first");
        }
        None => {
            assert!(m.header("Thread-Topic").is_none(), "{shown}");
            assert!(m.header("Thread-Index").is_none(), "{shown}");
        }
    }
}

/// Runs a CLI action; `execute` before the planned time may need `--early --reason`.
fn act(d: &Daemon, args: &[&str]) {
    let out = d.cli(args);
    if out.status.success() {
        return;
    }
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("--early"), "spdesk {args:?} failed: {err}");
    let mut early = args.to_vec();
    early.extend(["--early", "--reason", "prøvekørsel"]);
    let out = d.cli(&early);
    assert!(
        out.status.success(),
        "spdesk {early:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// modtaget, afvist, (resubmitted) modtaget, godkendt, gennemført, and a new form with the
/// used BestillingsID: one subject per order, greeting, To, threading, Outlook's headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_receipt_greets_threads_and_keeps_one_subject() {
    let (stack, d) = started(CONNECT).await;
    let id = unique("a");
    let form = WsForm::new(&id, FA);
    let (parent, index) = parent_thread_index();

    // Version 1: a wrong CVR, from Outlook.
    let mid1 = format!("{id}.v1@fa.example.test");
    let v1 = form_file(&with(&form, "CVR-nr.", "12345678"));
    let raw = requester_mail(TOPIC, &mid1, &[v1], Some(&index));
    stack.send(FA, HELPDESK, &raw).await;
    let reference = wait_state(&d, &id, "rejected").await;
    let mut e = Expect {
        reference: &reference,
        heading: "Kvittering for modtagelse",
        subject: TOPIC,
        parent: &mid1,
        outlook: Some(&parent),
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{reference}.v1.modtaget@")).await;
    check_receipt(&raw, &m, &e);
    e.heading = "Bestillingen skal rettes";
    let (raw, rejected) = wait_mail(&stack, &d, FA, &format!("{reference}.v1.afvist@")).await;
    check_receipt(&raw, &rejected, &e);
    assert!(
        rejected
            .text
            .unwrap_or_default()
            .contains("behold BestillingsID'et")
    );

    // Version 2: corrected, its subject as an older receipt's reply had it (stacked labels).
    let mid2 = format!("{id}.v2@fa.example.test");
    let stacked = format!("SV: [{reference}] Bestillingen skal rettes: {TOPIC}");
    let raw = requester_mail(&stacked, &mid2, &[form_file(&form.rows())], None);
    stack.send(FA, HELPDESK, &raw).await;
    wait_state(&d, &id, "approved").await;
    e.parent = &mid2;
    e.outlook = None;
    e.heading = "Kvittering for modtagelse";
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{reference}.v2.modtaget@")).await;
    check_receipt(&raw, &m, &e);
    e.heading = "Bestillingen er godkendt";
    let (raw, approved) = wait_mail(&stack, &d, FA, &format!("{reference}.v2.godkendt@")).await;
    check_receipt(&raw, &approved, &e);
    let text = approved.text.unwrap_or_default();
    assert!(text.contains(&format!("(BestillingsID {id})")), "{text}");
    assert!(text.contains("Ændringen gennemføres "), "{text}");

    // A person executes it: the receipt answers the latest mail, greeting the same name.
    act(
        &d,
        &["orders", "execute", &reference, "--note", "URL skiftet"],
    );
    e.heading = "Ændringen er gennemført";
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{reference}.v2.gennemfoert@")).await;
    check_receipt(&raw, &m, &e);

    // The same BestillingsID again: rejected, asking only for a new BestillingsID.
    let mid3 = format!("{id}.again@fa.example.test");
    let raw = requester_mail(
        "Fwd: RE: Ny bestilling",
        &mid3,
        &[form_file(&form.rows())],
        None,
    );
    stack.send(FA, HELPDESK, &raw).await;
    let again = wait_state(&d, &id, "rejected").await;
    assert_ne!(again, reference);
    let e = Expect {
        reference: &again,
        heading: "Bestillingen skal rettes",
        subject: "Ny bestilling",
        parent: &mid3,
        outlook: None,
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{again}.v1.afvist@")).await;
    check_receipt(&raw, &m, &e);
    let text = m.text.unwrap_or_default();
    assert!(text.contains("det nye BestillingsID"), "{text}");
    assert!(!text.contains("behold BestillingsID'et"), "{text}");
}

/// til_vurdering, adm, fejl, anden_afsender, tilbagetrukket, ulaeselig, ingen_formular to the
/// requester; the review
/// and incident mails in the staff mailbox with the original mail and its files attached and
/// FORMS.md's Danish words; nothing staff reads lands in the mailbox the daemon reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_mails_carry_the_files_and_danish_words() {
    let (stack, mut d) = started(CONNECT).await;
    stack.add_users(&[OTHER]);
    let staff = d.staff();

    // Review: the contract term "Modtagersystem" on a webservice form is ambiguous.
    let id = unique("r");
    let form = WsForm::new(&id, FA);
    let mid = format!("{id}@fa.example.test");
    let cert = (
        "application/pkix-cert",
        "server.cer",
        b"not really a cert".to_vec(),
    );
    let rows = with(&form, "It-systemrolle", "Modtagersystem");
    let raw = requester_mail("Ny URL", &mid, &[form_file(&rows), cert], None);
    stack.send(FA, HELPDESK, &raw).await;
    let review = wait_state(&d, &id, "review").await;
    let e = Expect {
        reference: &review,
        heading: "Bestillingen vurderes manuelt",
        subject: "Ny URL",
        parent: &mid,
        outlook: None,
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{review}.v1.til_vurdering@")).await;
    check_receipt(&raw, &m, &e);
    let (_, staff_mail) = wait_mail(
        &stack,
        &d,
        &staff,
        &format!("{review}.v1.helpdesk_vurdering@"),
    )
    .await;
    let text = staff_mail.text.clone().unwrap_or_default();
    for want in [
        "Miljø: Eksternt testmiljø (Exttest)",
        "Ændringer: URL",
        "Ønsket tidspunkt for ændring: ",
        " kl. 10.00",
        "Vedhæftet denne mail: original.eml, Bestilling.docx, server.cer.",
    ] {
        assert!(text.contains(want), "review mail lacks {want:?}:\n{text}");
    }
    for code in ["exttest\n", "T10:00:00", "None"] {
        assert!(!text.contains(code), "review mail shows {code:?}:\n{text}");
    }
    let names: Vec<(String, String)> = staff_mail
        .attachments
        .iter()
        .map(|a| (a.name.clone().unwrap_or_default(), a.content_type.clone()))
        .collect();
    for (name, ct) in [
        ("original.eml", "message/rfc822"),
        ("Bestilling.docx", DOCX_TYPE),
        ("server.cer", "application/pkix-cert"),
    ] {
        assert!(
            names.iter().any(|(n, c)| n == name && c == ct),
            "{name} {ct} not attached: {names:?}"
        );
    }

    // A change the requester makes in ADM: an anvendersystem's certificate.
    let id = unique("adm");
    let form = WsForm::new(&id, FA);
    let mid = format!("{id}@fa.example.test");
    // For the form's hosts: a certificate for another host would be a finding of its own.
    let hosts = ["exttest.fjordsoft.example", "exttest2.fjordsoft.example"];
    let cert = rcgen::generate_simple_self_signed(hosts.map(String::from).to_vec())
        .expect("a certificate");
    let rows: Vec<(&'static str, Vec<String>)> = with(&form, "It-systemrolle", "Anvendersystem")
        .into_iter()
        .map(|(l, v)| match l {
            "Ændringer" => (l, vec!["☒ SSL-certifikat".into(), "☐ URL".into()]),
            _ => (l, v),
        })
        .collect();
    let pem = (
        "application/x-pem-file",
        "server.pem",
        cert.cert.pem().into_bytes(),
    );
    let raw = requester_mail("Nyt certifikat", &mid, &[form_file(&rows), pem], None);
    stack.send(FA, HELPDESK, &raw).await;
    let adm = wait_state(&d, &id, "rejected").await;
    let e = Expect {
        reference: &adm,
        heading: "Ændringen foretages i ADM",
        subject: "Nyt certifikat",
        parent: &mid,
        outlook: None,
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{adm}.v1.adm@")).await;
    assert!(
        m.text
            .clone()
            .unwrap_or_default()
            .contains("Fælleskommunalt Administrationsmodul"),
        "{m:?}"
    );
    check_receipt(&raw, &m, &e);

    // Approved, then failed: fejl to the requester, the incident mail to staff.
    let id = unique("f");
    let form = WsForm::new(&id, FA);
    let mid = format!("{id}@fa.example.test");
    let raw = requester_mail("Bestilling", &mid, &[form_file(&form.rows())], None);
    stack.send(FA, HELPDESK, &raw).await;
    let failing = wait_state(&d, &id, "approved").await;
    act(
        &d,
        &[
            "orders",
            "fail",
            &failing,
            "--reason",
            "Certifikatet blev afvist",
        ],
    );
    let e = Expect {
        reference: &failing,
        heading: "Fejl ved ændringen",
        subject: "Bestilling",
        parent: &mid,
        outlook: None,
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{failing}.v1.fejl@")).await;
    check_receipt(&raw, &m, &e);
    let (_, incident) = wait_mail(&stack, &d, &staff, &format!("{failing}.v1.incident@")).await;
    let text = incident.text.clone().unwrap_or_default();
    for want in [
        "Miljø: Eksternt testmiljø (Exttest)",
        "(fra godkendt til fejlet)",
        "markeret som fejlet",
        "original.eml, Bestilling.docx",
    ] {
        assert!(text.contains(want), "incident mail lacks {want:?}:\n{text}");
    }
    for code in ["-> ", "None"] {
        assert!(
            !text.contains(code),
            "incident mail shows {code:?}:\n{text}"
        );
    }
    assert!(
        incident
            .attachments
            .iter()
            .any(|a| a.name.as_deref() == Some("Bestilling.docx"))
    );

    // Approved, then withdrawn.
    let id = unique("w");
    let form = WsForm::new(&id, FA);
    let mid = format!("{id}@fa.example.test");
    let raw = requester_mail("Bestilling", &mid, &[form_file(&form.rows())], None);
    stack.send(FA, HELPDESK, &raw).await;
    let withdrawn = wait_state(&d, &id, "approved").await;

    // Someone else sends a form with its BestillingsID: the requester is told in the order's
    // thread, with the order's one subject (no display name is kept for the order: the
    // greeting falls back).
    let raw = MessageBuilder::new()
        .from(("Mallory", OTHER))
        .to(HELPDESK)
        .subject("Rettelse")
        .message_id(format!("{id}.other@andetfirma.test"))
        .date(chrono::Utc::now().timestamp())
        .text_body("Rettelse vedhæftet.\n")
        .attachment(DOCX_TYPE, "Bestilling.docx", form.docx())
        .write_to_vec()
        .unwrap();
    stack.send(OTHER, HELPDESK, &raw).await;
    let (raw, m) = wait_receipt_to(&stack, &d, &mid, ".anden_afsender@").await;
    let shown = String::from_utf8_lossy(&raw);
    assert_eq!(
        m.subject,
        format!("SV: [{withdrawn}] Bestilling"),
        "{shown}"
    );
    let text = m.text.clone().unwrap_or_default().replace("\r\n", "\n");
    assert!(
        text.starts_with("Formular fra en anden afsender\n\nKære forvaltningsansvarlig\n"),
        "{text}"
    );
    assert!(!text.contains(OTHER) && !text.contains("None"), "{text}");

    act(
        &d,
        &[
            "orders",
            "withdraw",
            &withdrawn,
            "--reason",
            "Ønsket af bestiller",
        ],
    );
    let e = Expect {
        reference: &withdrawn,
        heading: "Bestillingen er trukket tilbage",
        subject: "Bestilling",
        parent: &mid,
        outlook: None,
    };
    let (raw, m) = wait_mail(&stack, &d, FA, &format!("{withdrawn}.v1.tilbagetrukket@")).await;
    check_receipt(&raw, &m, &e);

    // An .odt form nobody can read, and a mail with no form at all.
    let mid = format!("{}@fa.example.test", unique("odt"));
    let odt = (
        "application/vnd.oasis.opendocument.text",
        "Bestilling.odt",
        b"PK odt".to_vec(),
    );
    let raw = requester_mail("VS: Bestillingsformular", &mid, &[odt], None);
    stack.send(FA, HELPDESK, &raw).await;
    let (raw, m) = wait_receipt_to(&stack, &d, &mid, ".ulaeselig@").await;
    let odt_ref = reference_of(&m);
    let e = Expect {
        reference: &odt_ref,
        heading: "Formularen kunne ikke læses",
        subject: "Bestillingsformular",
        parent: &mid,
        outlook: None,
    };
    check_receipt(&raw, &m, &e);
    let (_, review) = wait_mail(
        &stack,
        &d,
        &staff,
        &format!("{odt_ref}.v1.helpdesk_vurdering@"),
    )
    .await;
    assert!(
        review
            .attachments
            .iter()
            .any(|a| a.name.as_deref() == Some("Bestilling.odt"))
    );
    assert!(
        review
            .attachments
            .iter()
            .any(|a| a.name.as_deref() == Some("original.eml"))
    );
    assert!(
        review
            .text
            .unwrap_or_default()
            .contains("(ingen felter kunne aflæses)")
    );

    let mid = format!("{}@fa.example.test", unique("none"));
    let raw = MessageBuilder::new()
        .from((NAME, FA))
        .to(HELPDESK)
        .subject("Spørgsmål om certifikater")
        .message_id(mid.as_str())
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej, hvordan bestiller jeg et nyt certifikat?\n")
        .write_to_vec()
        .unwrap();
    stack.send(FA, HELPDESK, &raw).await;
    let (raw, m) = wait_receipt_to(&stack, &d, &mid, ".ingen_formular@").await;
    let none_ref = reference_of(&m);
    let e = Expect {
        reference: &none_ref,
        heading: "Ingen bestillingsformular fundet",
        subject: "Spørgsmål om certifikater",
        parent: &mid,
        outlook: None,
    };
    check_receipt(&raw, &m, &e);

    // Nothing for people went to the mailbox the daemon reads.
    d.wait_all_delivered(&stack, WAIT).await;
    for folder in ["INBOX", "Processed"] {
        for raw in stack.fetch_or_empty(HELPDESK, folder).await {
            let m = Mail::parse(&raw, 1).unwrap_or_default();
            let id = m.message_id.unwrap_or_default();
            assert!(
                !id.contains(".helpdesk_vurdering@") && !id.contains(".incident@"),
                "a staff mail in the daemon's own {folder}: {id}"
            );
        }
    }
}

/// The receipt in FA's INBOX answering the mail `parent`, whose Message-ID contains `kind`.
async fn wait_receipt_to(
    stack: &MailStack,
    d: &Daemon,
    parent: &str,
    kind: &str,
) -> (Vec<u8>, Mail) {
    let start = Instant::now();
    loop {
        for raw in stack.fetch_or_empty(FA, "INBOX").await {
            if let Some(m) = Mail::parse(&raw, 2)
                && m.in_reply_to.iter().any(|p| p == parent)
                && m.message_id.as_deref().is_some_and(|id| id.contains(kind))
            {
                return (raw, m);
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "no {kind} receipt to {parent}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Someone who is not the requester of an order.
const OTHER: &str = "mallory@andetfirma.test";

/// The order reference a receipt's Message-ID names (`SP-2026-00001.v1.kind@…`).
fn reference_of(m: &Mail) -> String {
    let id = m.message_id.clone().unwrap_or_default();
    id.split(".v").next().unwrap_or_default().to_string()
}

/// `spdesk config check` refuses a staff list that is empty, missing or names the mailbox the
/// daemon reads, with the config's exit code and a message naming the file, the key and what
/// to do.
#[test]
fn config_check_refuses_staff_mail_to_the_daemons_own_mailbox() {
    let stack = MailStack::shared(&[]);
    let d = Daemon::new(&stack, HELPDESK);
    let good = std::fs::read_to_string(d.config_path()).expect("the test config");
    let staff = d.staff();
    let ok = check(&d, &good);
    assert!(ok.0 == Some(0), "{ok:?}");
    let invalid = check(&d, "this is [not toml");
    assert_ne!(invalid.0, Some(0));
    for (key, replacement, needle) in [
        (
            "review_to",
            format!("review_to = [\"{staff}\", \"{HELPDESK}\"]"),
            "is a mailbox spdesk reads itself",
        ),
        (
            "incident_to",
            format!("incident_to = [\"{}\"]", HELPDESK.to_uppercase()),
            "is a mailbox spdesk reads itself",
        ),
        (
            "digest_to",
            "digest_to = []".to_string(),
            "at least one address",
        ),
        ("billing_to", String::new(), "required key is missing"),
    ] {
        let line = format!("{key} = [\"{staff}\"]");
        assert!(good.contains(&line), "{line} not in the test config");
        let (code, stderr) = check(&d, &good.replacen(&line, &replacement, 1));
        assert_eq!(code, invalid.0, "{key}: {stderr}");
        assert!(
            stderr.contains("bad.toml") && stderr.contains(&format!("[helpdesk] {key}")),
            "{stderr}"
        );
        assert!(stderr.contains(needle), "{key}: {stderr}");
    }
}

/// `spdesk config check` on `text` (written beside the test config): exit code and stderr.
fn check(d: &Daemon, text: &str) -> (Option<i32>, String) {
    let path = d.dir().join("bad.toml");
    std::fs::write(&path, text).expect("write the config");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .output()
        .expect("run spdesk");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.code(), all)
}

/// Every receipt of `kind` (its code in the Message-ID) about `reference` in the requester's
/// INBOX, once there are `n`, oldest first.
async fn wait_kind(
    stack: &MailStack,
    d: &Daemon,
    reference: &str,
    kind: &str,
    n: usize,
) -> Vec<(Vec<u8>, Mail)> {
    let start = Instant::now();
    let (prefix, code) = (format!("{reference}.v"), format!(".{kind}@"));
    loop {
        let found: Vec<(Vec<u8>, Mail)> = stack
            .fetch_or_empty(FA, "INBOX")
            .await
            .into_iter()
            .filter_map(|raw| Mail::parse(&raw, 2).map(|m| (raw, m)))
            .filter(|(_, m)| {
                m.message_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with(&prefix) && id.contains(&code))
            })
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < WAIT,
            "{} of {n} {kind} receipts for {reference}\n{}",
            found.len(),
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a CLI action that must succeed.
fn must(d: &Daemon, args: &[&str]) {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "spdesk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The case-handling receipts (RECEIPTS.md "Case handling"): a new time, a person's version,
/// an overridden decision both ways, a reopened failure, the acknowledgement of a message and
/// a person's answer — each with the order's one subject, the kind as heading, the greeting by
/// the From display name, `To:` with that name and the requester's mail as the parent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_handling_receipts_greet_thread_and_keep_one_subject() {
    let (stack, d) = started(CONNECT).await;
    let id = unique("c");
    let form = WsForm::new(&id, FA);
    let (parent, index) = parent_thread_index();
    let mid = format!("{id}@fa.example.test");
    let raw = requester_mail(TOPIC, &mid, &[form_file(&form.rows())], Some(&index));
    stack.send(FA, HELPDESK, &raw).await;
    let reference = wait_state(&d, &id, "approved").await;
    let mut e = Expect {
        reference: &reference,
        heading: "Nyt tidspunkt",
        subject: TOPIC,
        parent: &mid,
        outlook: Some(&parent),
    };

    let later = (chrono::Utc::now() + chrono::TimeDelta::days(40)).format("%Y-%m-%d 10:00");
    let later = later.to_string();
    let reason = ["--reason", "aftalt med jer"];
    must(
        &d,
        &[
            &["orders", "reschedule", &reference, "--at", &later][..],
            &reason,
        ]
        .concat(),
    );
    let (raw, m) = wait_kind(&stack, &d, &reference, "nyt_tidspunkt", 1)
        .await
        .remove(0);
    check_receipt(&raw, &m, &e);

    let edit = [
        "orders",
        "edit",
        &reference,
        "--set",
        "contact_phone=87654321",
    ];
    must(&d, &[&edit[..], &reason].concat());
    e.heading = "Rettet af Helpdesk";
    let (raw, m) = wait_kind(&stack, &d, &reference, "rettet_af_helpdesk", 1)
        .await
        .remove(0);
    check_receipt(&raw, &m, &e);
    assert!(m.text.unwrap_or_default().contains("87654321"));

    must(
        &d,
        &[&["orders", "reject", &reference][..], &reason].concat(),
    );
    must(
        &d,
        &[
            &["orders", "approve", &reference, "--override"][..],
            &reason,
        ]
        .concat(),
    );
    e.heading = "Afgørelse ændret";
    for (raw, m) in wait_kind(&stack, &d, &reference, "afgoerelse_aendret", 2).await {
        check_receipt(&raw, &m, &e);
    }

    must(&d, &[&["orders", "fail", &reference][..], &reason].concat());
    must(
        &d,
        &[&["orders", "reopen", &reference][..], &reason].concat(),
    );
    e.heading = "Genåbnet";
    let (raw, m) = wait_kind(&stack, &d, &reference, "genaabnet", 1)
        .await
        .remove(0);
    check_receipt(&raw, &m, &e);

    // A message from the requester: acknowledged, then answered, both to that message.
    let question = format!("{id}.q@fa.example.test");
    let raw = requester_mail(&format!("SV: [{reference}] {TOPIC}"), &question, &[], None);
    stack.send(FA, HELPDESK, &raw).await;
    e.parent = &question;
    e.outlook = None;
    e.heading = "Besked modtaget";
    let (raw, m) = wait_kind(&stack, &d, &reference, "besked_modtaget", 1)
        .await
        .remove(0);
    check_receipt(&raw, &m, &e);
    must(
        &d,
        &["orders", "reply", &reference, "--text", "Det passer fint."],
    );
    e.heading = "Svar fra Helpdesk";
    let (raw, m) = wait_kind(&stack, &d, &reference, "svar", 1).await.remove(0);
    check_receipt(&raw, &m, &e);
    assert!(m.text.unwrap_or_default().contains("Det passer fint."));
}
