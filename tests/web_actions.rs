//! Every action on an order through the web console, over real HTTP against the real
//! `spdesk run` and real mail through Dovecot + Postfix: each POST changes the order as
//! `spdesk orders` would (state, event, receipts), names the signed-in person in the history
//! and sends the browser back to the order (303); a viewer's POST, a POST without the page's
//! CSRF token, an unknown order, a missing reason and an action the state does not allow are
//! refused and change nothing.

mod common;

use mail_parser::MimeHeaders;
use std::time::{Duration, Instant};

use common::MailStack;
use common::console::{Browser, Console};
use common::fixtures::{self, Received, WsForm, docx, form_mail, received};

const WAIT: Duration = Duration::from_secs(90);
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";
/// The operator who acts in these tests: the history must name this login.
const OPERATOR: &str = "hanne";

fn mid(tag: &str) -> String {
    format!("actions-{tag}.{}@example.test", std::process::id())
}

/// A unique BestillingsID per test run.
fn unique_id(tag: &str) -> String {
    format!(
        "WA-{tag}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    )
}

/// POSTs the action `segment` on `reference` with the CSRF token of a page of the console.
async fn act(
    b: &Browser,
    reference: &str,
    segment: &str,
    fields: &[(&str, &str)],
) -> common::console::Page {
    b.submit("/", &format!("/orders/{reference}/{segment}"), fields)
        .await
}

/// The action succeeded: 303 back to the order.
fn assert_done(page: &common::console::Page, reference: &str, what: &str) {
    assert_eq!(page.status, 303, "{what}: {}", page.body);
    assert_eq!(
        page.header("location"),
        Some(format!("/orders/{reference}").as_str()),
        "{what}"
    );
}

fn state(c: &Console, reference: &str) -> String {
    c.daemon.order(reference)["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The order's events whose action is `action`.
fn events(c: &Console, reference: &str, action: &str) -> Vec<serde_json::Value> {
    let all = c.daemon.order(reference)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.into_iter().filter(|e| e["action"] == action).collect()
}

/// The one event `action` of the order, by the web login [`OPERATOR`]; its detail.
fn by_operator(c: &Console, reference: &str, action: &str) -> String {
    let found = events(c, reference, action);
    assert_eq!(found.len(), 1, "one {action} event: {found:#?}");
    assert_eq!(found[0]["actor"], OPERATOR, "{found:#?}");
    found[0]["detail"].as_str().unwrap_or_default().to_string()
}

/// The requester's mails whose heading or subject says `needle`, once there are `n`.
async fn wait_mails(stack: &MailStack, user: &str, needle: &str, n: usize) -> Vec<Received> {
    let start = Instant::now();
    loop {
        let hits: Vec<Received> = stack
            .fetch_or_empty(user, "INBOX")
            .await
            .iter()
            .map(|r| received(r))
            .filter(|m| m.heading.contains(needle) || m.subject.contains(needle))
            .collect();
        if hits.len() >= n {
            return hits;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited for {n} mail(s) \"{needle}\" in {user}; got {}",
            hits.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A webservice form from `requester` (all values valid; `env` its Miljø).
async fn send_form(stack: &MailStack, hd: &str, requester: &str, id: &str, env: &str) {
    let form = WsForm::new(id, requester);
    let rows: Vec<(&'static str, Vec<String>)> = form
        .rows()
        .into_iter()
        .map(|(l, v)| {
            if l == "Miljø" {
                (l, vec![env.to_string()])
            } else {
                (l, v)
            }
        })
        .collect();
    let raw = form_mail(
        requester,
        hd,
        "Ny URL til SagsOpslag",
        &mid(id),
        &docx(TITLE, &rows),
    );
    stack.send(requester, hd, &raw).await;
}

/// A console on its own Helpdesk mailbox with an operator and a viewer.
async fn console(stack: &MailStack, hd: &str) -> Console {
    let c = Console::start(stack, hd, "").await;
    c.add_user(OPERATOR, "operator");
    c.add_user("vera", "viewer");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_order_is_approved_rescheduled_and_executed_in_the_browser() {
    let (hd, req) = (
        "actions.hd-review@example.test",
        "actions.review@example.test",
    );
    let stack = MailStack::shared(&[hd, req]);
    let c = console(&stack, hd).await;
    let id = unique_id("REVIEW");
    // An exttest host ordered for produktion: url.env_mismatch, a person decides.
    send_form(&stack, hd, req, &id, "Produktion").await;
    let r = c.daemon.wait_state(&id, "review", WAIT).await;
    let hanne = c.signed_in_without_redirects(OPERATOR).await;

    // Refused, and nothing changes: a viewer, no token, no such order, no reason, wrong state.
    let vera = c.signed_in_without_redirects("vera").await;
    let page = act(&vera, &r, "godkend", &[("note", "ok")]).await;
    assert_eq!(page.status, 403, "a viewer cannot approve: {}", page.body);
    assert!(page.body.contains("kan kun læse"), "{}", page.body);
    let page = hanne
        .post_raw(&format!("/orders/{r}/godkend"), &[("note", "ok")])
        .await;
    assert_eq!(page.status, 403, "no CSRF token: {}", page.body);
    let page = act(&hanne, "SP-2001-99999", "godkend", &[]).await;
    assert_eq!(page.status, 404, "{}", page.body);
    let page = act(&hanne, &r, "afvis", &[("begrundelse", "  ")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(
        page.body.contains("«Begrundelse» skal udfyldes"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("href=\"/orders/{r}\"")),
        "a way back"
    );
    let page = act(&hanne, &r, "gennemfoert", &[("note", "x")]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        page.body
            .contains("Ordren er nu «til vurdering», og handlingen kan ikke bruges"),
        "the reason: {}",
        page.body
    );
    let page = act(
        &hanne,
        &r,
        "flyt",
        &[("tidspunkt", "i morgen"), ("begrundelse", "x")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("«Nyt tidspunkt"), "{}", page.body);
    assert_eq!(state(&c, &r), "review");
    let people: Vec<serde_json::Value> = c.daemon.order(&r)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["actor"] == OPERATOR || e["actor"] == "vera")
        .collect();
    assert!(people.is_empty(), "nothing by a person yet: {people:#?}");

    // Godkend with a note: approved, and the approval receipt reaches the requester.
    let page = act(&hanne, &r, "godkend", &[("note", "Set og godkendt")]).await;
    assert_done(&page, &r, "godkend");
    assert_eq!(state(&c, &r), "approved");
    assert!(by_operator(&c, &r, "approve").contains("Set og godkendt"));
    let approved = wait_mails(&stack, req, "Bestillingen er godkendt", 1).await;
    assert!(
        approved[0].subject.contains(&format!("[{r}]")),
        "{approved:?}"
    );

    // Flyt tidspunkt: a new time in Copenhagen time.
    let day = fixtures::add_working_days(fixtures::desired_date(), 3);
    let at = format!("{} 13:00", day.format("%Y-%m-%d"));
    let page = act(
        &hanne,
        &r,
        "flyt",
        &[("tidspunkt", &at), ("begrundelse", "Aftalt i telefon")],
    )
    .await;
    assert_done(&page, &r, "flyt");
    let order = c.daemon.order(&r);
    assert_eq!(order["state"], "approved");
    let planned = order["planned_at"].as_str().unwrap_or_default();
    assert!(
        planned.starts_with(&format!("{}T13:00:00", day.format("%Y-%m-%d"))),
        "{planned}"
    );
    assert!(by_operator(&c, &r, "reschedule").contains("Aftalt i telefon"));

    // Gennemført before the planned time: only with "Før planlagt tid" and its reason.
    let page = act(&hanne, &r, "gennemfoert", &[("note", "Klaret")]).await;
    assert_eq!(page.status, 409, "early without the box: {}", page.body);
    assert!(
        page.body.contains("Sæt kryds i «Før planlagt tid»"),
        "what to do, in Danish: {}",
        page.body
    );
    let page = act(
        &hanne,
        &r,
        "gennemfoert",
        &[("tidlig", "ja"), ("begrundelse", "")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(state(&c, &r), "approved");
    let page = act(
        &hanne,
        &r,
        "gennemfoert",
        &[
            ("note", "Klaret"),
            ("tidlig", "ja"),
            ("begrundelse", "Vinduet var ledigt"),
        ],
    )
    .await;
    assert_done(&page, &r, "gennemfoert");
    assert_eq!(state(&c, &r), "executed");
    let detail = by_operator(&c, &r, "execute");
    assert!(detail.contains("Vinduet var ledigt"), "{detail}");
    wait_mails(&stack, req, "Ændringen er gennemført", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_order_fails_is_reopened_rejected_overridden_and_withdrawn() {
    let (hd, req) = ("actions.hd-life@example.test", "actions.life@example.test");
    let stack = MailStack::shared(&[hd, req]);
    let c = console(&stack, hd).await;
    let id = unique_id("LIFE");
    send_form(&stack, hd, req, &id, "Eksternt testmiljø").await;
    let r = c.daemon.wait_state(&id, "approved", WAIT).await;
    let hanne = c.signed_in_without_redirects(OPERATOR).await;

    let page = act(
        &hanne,
        &r,
        "fejlet",
        &[("begrundelse", "Certifikatet blev afvist")],
    )
    .await;
    assert_done(&page, &r, "fejlet");
    assert_eq!(state(&c, &r), "failed");
    assert!(by_operator(&c, &r, "fail").contains("Certifikatet blev afvist"));
    // A failed order cannot be withdrawn; the page says why.
    let page = act(&hanne, &r, "tilbagetraek", &[("begrundelse", "x")]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert_eq!(state(&c, &r), "failed");

    let page = act(
        &hanne,
        &r,
        "genaabn",
        &[("begrundelse", "Rettet hos udbyderen"), ("tidspunkt", "")],
    )
    .await;
    assert_done(&page, &r, "genaabn");
    assert_eq!(state(&c, &r), "approved");
    assert!(by_operator(&c, &r, "reopen").contains("Rettet hos udbyderen"));

    let page = act(&hanne, &r, "afvis", &[("begrundelse", "Forkert it-system")]).await;
    assert_done(&page, &r, "afvis");
    assert_eq!(state(&c, &r), "rejected");
    assert!(by_operator(&c, &r, "reject").contains("Forkert it-system"));
    wait_mails(&stack, req, "Afgørelse ændret", 1).await;

    // Godkend on a rejected order overrides and needs a reason.
    let page = act(
        &hanne,
        &r,
        "godkend",
        &[("tilsidesaet", "ja"), ("begrundelse", "")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(state(&c, &r), "rejected");
    let page = act(
        &hanne,
        &r,
        "godkend",
        &[("tilsidesaet", "ja"), ("begrundelse", "Aftalt med KOMBIT")],
    )
    .await;
    assert_done(&page, &r, "godkend (override)");
    assert_eq!(state(&c, &r), "approved");
    assert!(by_operator(&c, &r, "override").contains("Aftalt med KOMBIT"));

    let page = act(
        &hanne,
        &r,
        "tilbagetraek",
        &[("begrundelse", "Bestilleren trak den")],
    )
    .await;
    assert_done(&page, &r, "tilbagetraek");
    assert_eq!(state(&c, &r), "withdrawn");
    assert!(by_operator(&c, &r, "withdraw").contains("Bestilleren trak den"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_marked_handled_answered_and_a_field_edit_is_judged_again() {
    let (hd, req) = ("actions.hd-talk@example.test", "actions.talk@example.test");
    let stack = MailStack::shared(&[hd, req]);
    let c = console(&stack, hd).await;
    let id = unique_id("TALK");
    send_form(&stack, hd, req, &id, "Eksternt testmiljø").await;
    let r = c.daemon.wait_state(&id, "approved", WAIT).await;
    let hanne = c.signed_in_without_redirects(OPERATOR).await;
    let approved = wait_mails(&stack, req, "Bestillingen er godkendt", 1).await;

    // Nothing unanswered yet: "handled" is refused and records nothing.
    let page = act(&hanne, &r, "haandteret", &[("note", "")]).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(events(&c, &r, "handled").is_empty());

    // The requester writes; a person marks it handled.
    let message = mail_builder::MessageBuilder::new()
        .from(("Karin Holm", req))
        .to(hd)
        .subject(format!("SV: {}", approved[0].subject))
        .message_id(mid("message"))
        .in_reply_to(approved[0].message_id.clone())
        .references(approved[0].message_id.clone())
        .date(chrono::Utc::now().timestamp())
        .text_body("Hej\n\nKan I ringe mig op?\n\n/Karin\n")
        .write_to_vec()
        .expect("the mail builds");
    stack.send(req, hd, &message).await;
    let start = Instant::now();
    while events(&c, &r, "correspondence").is_empty() {
        assert!(
            start.elapsed() < WAIT,
            "the message never landed on {r}\n{}",
            c.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let page = act(&hanne, &r, "haandteret", &[("note", "Ringet op")]).await;
    assert_done(&page, &r, "haandteret");
    assert!(by_operator(&c, &r, "handled").contains("Ringet op"));

    // Svar: the answer reaches the requester in the order's thread.
    let page = act(&hanne, &r, "svar", &[("tekst", "")]).await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = act(
        &hanne,
        &r,
        "svar",
        &[("tekst", "Vi ringer i morgen kl. 10.")],
    )
    .await;
    assert_done(&page, &r, "svar");
    assert!(by_operator(&c, &r, "reply").contains("Vi ringer i morgen kl. 10."));
    let answers = wait_mails(&stack, req, "Svar fra Helpdesk", 1).await;
    assert!(
        answers[0].text.contains("Vi ringer i morgen kl. 10."),
        "{answers:?}"
    );
    assert!(
        answers[0].subject.contains(&format!("[{r}]")),
        "{answers:?}"
    );

    // Svar with a file, as the browser sends it (multipart/form-data): the file is attached.
    let csrf = hanne.get("/").await.csrf().expect("a csrf field");
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("tekst", "Vejledningen er vedhæftet.")
        .part(
            "bilag",
            reqwest::multipart::Part::bytes(b"Trin 1: ...\n".to_vec())
                .file_name("C:\\Users\\hanne\\vejledning.txt"),
        );
    let page = hanne
        .client
        .post(format!("{}/orders/{r}/svar", hanne.base))
        .multipart(form)
        .send()
        .await
        .expect("POST svar with a file");
    assert_eq!(page.status().as_u16(), 303, "{:?}", page.text().await);
    let start = Instant::now();
    let with_file = loop {
        let found = stack
            .fetch_or_empty(req, "INBOX")
            .await
            .into_iter()
            .find(|raw| received(raw).text.contains("Vejledningen er vedhæftet."));
        if let Some(raw) = found {
            break raw;
        }
        assert!(
            start.elapsed() < WAIT,
            "the answer with the file never came"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let parsed = mail_parser::MessageParser::default()
        .parse(&with_file)
        .expect("a mail");
    assert!(
        parsed
            .attachments()
            .any(|a| a.attachment_name() == Some("vejledning.txt")
                && a.contents() == b"Trin 1: ...\n"),
        "the file is attached under its own name, without the sender's folders"
    );

    // Ret felter: one changed line is a person's version, judged again like a form.
    let page = act(
        &hanne,
        &r,
        "ret",
        &[("felter", "org_cvr=12345678"), ("begrundelse", "Tastefejl")],
    )
    .await;
    assert_eq!(page.status, 409, "an invalid CVR is refused: {}", page.body);
    assert!(page.body.contains("org_cvr"), "{}", page.body);
    assert_eq!(
        c.daemon.order(&r)["versions"].as_array().map(Vec::len),
        Some(1)
    );
    let page = act(
        &hanne,
        &r,
        "ret",
        &[("felter", "bestillings_id=X"), ("begrundelse", "")],
    )
    .await;
    assert_eq!(page.status, 400, "{}", page.body);
    let page = act(
        &hanne,
        &r,
        "ret",
        &[
            ("felter", "contact_name=Karin Holm-Jensen\n"),
            ("begrundelse", "Navnet stavet forkert"),
        ],
    )
    .await;
    assert_done(&page, &r, "ret");
    let order = c.daemon.order(&r);
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "a person's version: {order:#}");
    assert_eq!(
        versions[1]["decision"], "approved",
        "judged again: {order:#}"
    );
    assert_eq!(order["fields"]["contact_name"], "Karin Holm-Jensen");
    assert_eq!(order["state"], "approved");
    let detail = by_operator(&c, &r, "edit");
    assert!(
        detail.contains("Karin Holm-Jensen") && detail.contains("Navnet stavet forkert"),
        "{detail}"
    );
    wait_mails(&stack, req, "Rettet af Helpdesk", 1).await;
}
