//! Steps 6 and 7 end to end over the real mail stack: a rejected form and its corrected
//! version are one order with two versions and the receipts received → rejected → received →
//! approved; a review order decided by a person gets its receipt and its event.

mod common;

use std::time::Duration;

use common::daemon::{Daemon, started};
use common::fixtures::{Received, WsForm, docx, form_mail, received};
use common::{FA, HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(30);
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";

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

/// Adds `In-Reply-To` and `References` to a raw mail, as a mail client's reply would.
fn as_reply(raw: Vec<u8>, parent: &str) -> Vec<u8> {
    let mut out = format!("In-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n").into_bytes();
    out.extend(raw);
    out
}

async fn wait_receipts(
    stack: &MailStack,
    d: &mut Daemon,
    n: usize,
) -> Vec<common::fixtures::Received> {
    d.wait_mailbox(
        stack,
        FA,
        "INBOX",
        &format!("{n} receipts"),
        |c| c >= n,
        RECEIPTS,
    )
    .await;
    stack
        .fetch_all(FA, "INBOX")
        .await
        .iter()
        .map(|raw| received(raw))
        .collect()
}

/// Receipts in the order spdesk queued them: by version, each version's *modtaget* receipt
/// first. Two receipts sent milliseconds apart may reach the mailbox in either order. Our
/// Message-IDs are `REF.vN.kind@domain`.
fn in_sending_order(mut all: Vec<Received>) -> Vec<Received> {
    all.sort_by_key(|r| {
        let version = r
            .message_id
            .split('.')
            .find_map(|part| part.strip_prefix('v').and_then(|n| n.parse::<u32>().ok()))
            .unwrap_or(u32::MAX);
        (version, !r.message_id.contains(".modtaget@"))
    });
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_version_is_the_same_order() {
    let (stack, mut d) = started(CONNECT).await;
    let form = WsForm::new("RS-2026-0001", FA);

    // Version 1: the CVR fails the modulus-11 check.
    let v1 = docx(TITLE, &with(&form, "CVR-nr.", "12345678"));
    let mid1 = format!("rs-v1.{}@fa.example.test", std::process::id());
    stack
        .send(
            FA,
            HELPDESK,
            &form_mail(FA, HELPDESK, "Ny URL til SagsOpslag", &mid1, &v1),
        )
        .await;
    let first = wait_receipts(&stack, &mut d, 2).await;
    let rejected = first
        .iter()
        .find(|r| r.heading == "Bestillingen skal rettes")
        .unwrap_or_else(|| panic!("no rejection receipt among {first:?}\n{}", d.log_tail()));
    assert!(
        rejected.text.contains("CVR-nr.") && rejected.text.contains("12345678"),
        "the rejection names the field and the value: {}",
        rejected.text
    );

    // Version 2: corrected, sent as a reply to the rejection receipt.
    let v2 = form.docx();
    let mid2 = format!("rs-v2.{}@fa.example.test", std::process::id());
    let reply = as_reply(
        form_mail(
            FA,
            HELPDESK,
            &format!("Re: {}", rejected.subject),
            &mid2,
            &v2,
        ),
        &rejected.message_id,
    );
    stack.send(FA, HELPDESK, &reply).await;
    let all = in_sending_order(wait_receipts(&stack, &mut d, 4).await);

    // The kind of each receipt is its body's first line; the subject is one for the order.
    let labels: Vec<String> = all.iter().map(|r| r.heading.clone()).collect();
    assert_eq!(
        labels,
        [
            "Kvittering for modtagelse",
            "Bestillingen skal rettes",
            "Kvittering for modtagelse",
            "Bestillingen er godkendt"
        ],
        "receipts received → rejected → received → approved\n{}",
        d.log_tail()
    );
    let orders = d.orders();
    assert_eq!(orders.len(), 1, "one order: {orders:#?}");
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    assert!(
        all.iter()
            .all(|r| r.subject == format!("SV: [{reference}] Ny URL til SagsOpslag")),
        "one subject, never stacked: {:?}",
        all.iter().map(|r| &r.subject).collect::<Vec<_>>()
    );
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved");
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "two versions: {order:#}");
    assert_eq!(versions[0]["decision"], "rejected");
    assert_eq!(versions[1]["decision"], "approved");
    let ids: std::collections::BTreeSet<_> = all.iter().map(|r| r.message_id.clone()).collect();
    assert_eq!(ids.len(), 4, "four distinct receipts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_decides_a_review_order() {
    let (stack, mut d) = started(CONNECT).await;
    // An exttest host ordered for produktion: url.env_mismatch, a person decides.
    let form = WsForm::new("RS-2026-0002", FA);
    let raw = docx(TITLE, &with(&form, "Miljø", "Produktion"));
    let mid = format!("rs-review.{}@fa.example.test", std::process::id());
    stack
        .send(FA, HELPDESK, &form_mail(FA, HELPDESK, "Ny URL", &mid, &raw))
        .await;
    let first = wait_receipts(&stack, &mut d, 2).await;
    assert!(
        first
            .iter()
            .any(|r| r.heading == "Bestillingen vurderes manuelt"),
        "the sender is told a person will look: {first:?}"
    );
    let orders = d.orders();
    assert_eq!(orders.len(), 1);
    let reference = orders[0]["ref"].as_str().unwrap_or_default().to_string();
    assert_eq!(orders[0]["state"], "review");
    // The Helpdesk's people are told what to decide (in their own mailbox).
    let staff = d.staff();
    let helpdesk_mail = d
        .wait_mailbox(
            &stack,
            &staff,
            "INBOX",
            "the review mail",
            |n| n >= 1,
            RECEIPTS,
        )
        .await;
    let _ = helpdesk_mail;
    let processed = stack.fetch_all(&staff, "INBOX").await;
    assert!(
        processed.iter().map(|r| received(r)).any(
            |r| r.subject.contains("Til vurdering") && r.text.contains("spdesk orders approve")
        ),
        "the Helpdesk's review mail names the command"
    );

    // Executing a review order is refused; approving it works and queues the receipt.
    let out = d.cli(&["orders", "execute", &reference]);
    assert!(
        !out.status.success(),
        "execute on a review order must be refused"
    );
    let out = d.cli(&["orders", "approve", &reference]);
    assert!(
        out.status.success(),
        "approve: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = wait_receipts(&stack, &mut d, 3).await;
    assert!(
        all.last()
            .is_some_and(|r| r.heading == "Bestillingen er godkendt"),
        "the approval receipt goes out: {all:?}"
    );
    let order = d.order(&reference);
    assert_eq!(order["state"], "approved");
    let events = order["events"].as_array().cloned().unwrap_or_default();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "approve" && e["from_state"] == "review"),
        "the approval is in the history: {events:#?}"
    );
}
