//! One order in the web console (`/orders/{ref}`), over real HTTP against the real `spdesk
//! run` and real mail through Postfix and Dovecot: an order sent as a .docx with a
//! certificate shows its fields under FORMS.md's labels with the certificate's subject, the
//! findings of its judgement, its corrected version beside the first with the changed value
//! marked, the timeline with the receipts "sendt" and the person who acted, and each mail with
//! its text; the original mail downloads byte for byte as the store holds it and an attachment
//! as an octet-stream attachment, never sniffed; an unknown reference or mail number is 404;
//! a `<script>` subject is text; a viewer reads the page and a stranger is sent to log in.
//! A receipt that bounced shows as "afvist", beside the bounce as a mail in.

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use common::MailStack;
use common::console::{Browser, Console};
use common::daemon::Daemon;
use common::fixtures::{self, Received, WsForm};
use mail_builder::MessageBuilder;

const HELPDESK: &str = "order.page@example.test";
const REQUESTER: &str = "order.fa@example.test";
const WAIT: Duration = Duration::from_secs(90);
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";
const SUBJECT: &str = "Nyt certifikat <script>alert(1)</script>";
const CERT_HOST: &str = "exttest2.fjordsoft.example";
const CERT_FILE: &str = "ny-sagsopslag.cer";

/// A self-signed certificate for [`CERT_HOST`], PEM.
fn certificate() -> String {
    let mut p = rcgen::CertificateParams::new(vec![CERT_HOST.to_string()]).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CountryName, "DK");
    dn.push(rcgen::DnType::CommonName, CERT_HOST);
    p.distinguished_name = dn;
    p.not_before = rcgen::date_time_ymd(2026, 1, 15);
    p.not_after = rcgen::date_time_ymd(2030, 7, 1);
    let key = rcgen::KeyPair::generate().expect("key");
    p.self_signed(&key).expect("certificate").pem()
}

/// The webservice form with the certificate ticked and named, and `cvr` as its CVR-nr.
fn form_rows(form: &WsForm, cvr: &str) -> Vec<(&'static str, Vec<String>)> {
    let mut rows: Vec<_> = form
        .rows()
        .into_iter()
        .map(|(label, value)| match label {
            "CVR-nr." => (label, vec![cvr.to_string()]),
            "Ændringer" => (
                label,
                vec![
                    "☒ SSL-certifikat".into(),
                    "☒ URL".into(),
                    "☐ Datatype (InfRef)".into(),
                    "☐ Sikkerhedsmodel".into(),
                ],
            ),
            _ => (label, value),
        })
        .collect();
    rows.push(("Nyt SSL-certifikat", vec![CERT_FILE.to_string()]));
    rows
}

/// A mail with the form as Bestilling.docx and the certificate attached; a reply to
/// `parent` when given.
fn order_mail(subject: &str, mid: &str, docx: &[u8], cert: &str, parent: Option<&str>) -> Vec<u8> {
    let mut b = MessageBuilder::new()
        .from(("Karin Holm", REQUESTER))
        .to(("Serviceplatformens Helpdesk", HELPDESK))
        .subject(subject)
        .message_id(mid)
        .date(Utc::now().timestamp())
        .text_body("Hej\n\nHermed bestillingen <b>og</b> certifikatet.\n\n/Karin\n")
        .attachment(fixtures::DOCX_TYPE, "Bestilling.docx", docx.to_vec())
        .attachment(
            "application/x-x509-ca-cert",
            CERT_FILE,
            cert.as_bytes().to_vec(),
        );
    if let Some(p) = parent {
        b = b.in_reply_to(p).references(p);
    }
    b.write_to_vec().expect("the mail builds")
}

/// Text as the page's autoescape writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The order's page once every mail queued for it is shown as sent (none queued or
/// deferred), with at least `sent` of them.
async fn page_when_sent(b: &Browser, d: &Daemon, path: &str, sent: usize) -> String {
    let start = Instant::now();
    loop {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let outs = page.body.matches("<td>Mail ud</td>").count();
        let done = page.body.matches("order-delivery\">sendt<").count();
        if outs >= sent && done == outs {
            return page.body;
        }
        assert!(
            start.elapsed() < WAIT,
            "{outs} mails out, {done} sent on {path}:\n{}\n{}",
            page.body,
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// GET `path` as bytes with its headers.
async fn download(b: &Browser, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = b
        .client
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

/// Sends version 1 (an invalid CVR-nr.: rejected) and, as a reply to its rejection, the
/// corrected version 2; returns the order's reference once both receipts of version 2 came.
async fn two_versions(stack: &MailStack, d: &mut Daemon, form: &WsForm, cert: &str) -> String {
    let pid = std::process::id();
    let v1 = fixtures::docx(TITLE, &form_rows(form, "12345678"));
    let mid1 = format!("web-order-v1.{pid}@fa.example.test");
    let raw1 = order_mail(SUBJECT, &mid1, &v1, cert, None);
    stack.send(REQUESTER, HELPDESK, &raw1).await;
    let reference = d.wait_state(&form.bestillings_id, "rejected", WAIT).await;
    let inbox = d
        .wait_mailbox(stack, REQUESTER, "INBOX", "2 receipts", |n| n >= 2, WAIT)
        .await;
    let rejection: Received = inbox
        .iter()
        .map(|r| fixtures::received(r))
        .find(|r| r.heading == "Bestillingen skal rettes")
        .unwrap_or_else(|| panic!("no rejection receipt\n{}", d.log_tail()));
    let v2 = fixtures::docx(TITLE, &form_rows(form, "39055414"));
    let mid2 = format!("web-order-v2.{pid}@fa.example.test");
    let subject = format!("Re: {}", rejection.subject);
    let raw2 = order_mail(&subject, &mid2, &v2, cert, Some(&rejection.message_id));
    stack.send(REQUESTER, HELPDESK, &raw2).await;
    d.wait_mailbox(stack, REQUESTER, "INBOX", "4 receipts", |n| n >= 4, WAIT)
        .await;
    reference
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_page_shows_fields_findings_versions_timeline_and_mails() {
    let stack = MailStack::shared(&[HELPDESK, REQUESTER]);
    let mut c = Console::start(&stack, HELPDESK, "").await;
    c.add_user("Ole", "operator");
    c.add_user("vera", "viewer");
    let form = WsForm::new(&format!("WEB-ORDER-{}", std::process::id()), REQUESTER);
    let cert = certificate();
    let reference = two_versions(&stack, &mut c.daemon, &form, &cert).await;
    let order = c.daemon.order(&reference);
    let versions = order["versions"].as_array().cloned().unwrap_or_default();
    assert_eq!(versions.len(), 2, "two versions: {order:#}");
    // A person acts: the timeline names them.
    let out = c.daemon.cli_as(
        "Ole",
        &[
            "orders",
            "withdraw",
            &reference,
            "--reason",
            "Kunden trak den",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.daemon.wait_all_delivered(&stack, WAIT).await;

    let ole = c.signed_in("Ole").await;
    let path = format!("/orders/{}", reference.to_lowercase());
    let body = page_when_sent(&ole, &c.daemon, &path, 5).await;

    // The heading, the state, the fields with their labels and the certificate.
    assert!(
        body.contains(&format!("<h1>Bestilling {reference}</h1>")),
        "{body}"
    );
    assert!(body.contains("<dd>trukket tilbage</dd>"), "{body}");
    for label in [
        "KOMBIT BestillingsID",
        "CVR-nr.",
        "Nyt SSL-certifikat",
        "Certifikatets emne",
    ] {
        assert!(
            body.contains(&format!("<dt>{label}</dt>")),
            "label {label}: {body}"
        );
    }
    assert!(
        body.contains(&format!("CN={CERT_HOST}")),
        "certificate subject: {body}"
    );
    assert!(body.contains(&form.bestillings_id), "{body}");

    // The findings of the latest judgement, with rule and message.
    let latest = &versions[1]["judgement"]["findings"];
    let first = versions[0]["judgement"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        first
            .iter()
            .any(|f| f["message"].as_str().unwrap_or("").contains("CVR")),
        "version 1 was rejected for its CVR-nr.: {first:?}"
    );
    for f in latest.as_array().cloned().unwrap_or_default() {
        let message = f["message"].as_str().unwrap_or_default();
        let rule = f["rule"].as_str().unwrap_or_default();
        assert!(
            body.contains(&escaped(message)),
            "finding {message}: {body}"
        );
        assert!(
            body.contains(&format!("<code>{}</code>", escaped(rule))),
            "{body}"
        );
    }

    // Versions side by side: the corrected CVR-nr. marked as changed, the first not.
    assert!(
        body.contains("Version 1") && body.contains("Version 2"),
        "{body}"
    );
    assert!(body.contains("<td>12345678</td>"), "{body}");
    assert!(
        body.contains("<td class=\"changed\"><mark>39055414</mark> <span class=\"order-note\">(ændret)</span></td>"),
        "{body}"
    );

    // The timeline: the mails in, the receipts out as sent, the person who withdrew it.
    assert!(body.matches("<td>Mail ind</td>").count() >= 2, "{body}");
    assert!(
        body.contains("&quot;Bestillingen skal rettes&quot; til"),
        "{body}"
    );
    assert!(
        body.contains(&format!("til {}", escaped(REQUESTER))),
        "{body}"
    );
    assert!(
        body.contains("<td>Ole</td>"),
        "the person who acted: {body}"
    );
    assert!(
        body.contains("→ trukket tilbage): Kunden trak den"),
        "{body}"
    );

    // The mails with their text; what the sender wrote is text, never markup.
    assert!(
        body.contains("Hermed bestillingen &lt;b&gt;og&lt;&#x2f;b&gt; certifikatet."),
        "{body}"
    );
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<script>alert"), "{body}");
    assert!(
        body.contains(&format!(
            "href=\"/orders/{reference}/mails/1.eml\">Hent original (.eml)"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "href=\"/orders/{reference}/mails/2/bilag/2\">Hent bilag 2: {CERT_FILE}"
        )),
        "{body}"
    );
    assert!(
        body.contains("<h2 id=\"handlinger\">Handlinger</h2>"),
        "{body}"
    );

    check_downloads(&c, &ole, &reference, &cert).await;

    // A viewer reads the page; a stranger is sent to log in.
    let vera = c.signed_in("vera").await;
    let page = vera.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("<h1>Bestilling {reference}</h1>"))
    );
    let page = c.browser().get(&path).await;
    assert!(page.url.contains("/login?next="), "{}", page.url);
}

/// The original mail as stored, an attachment as bytes, and 404 for what the order lacks.
async fn check_downloads(c: &Console, b: &Browser, reference: &str, cert: &str) {
    let store = spdesk::store::Store::open(&c.daemon.db_url())
        .await
        .expect("db");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT raw FROM inbound_mail WHERE message_id = $1")
        .bind(format!(
            "web-order-v1.{}@fa.example.test",
            std::process::id()
        ))
        .fetch_one(&store.pool)
        .await
        .expect("the first mail is stored");

    let (status, h, bytes) = download(b, &format!("/orders/{reference}/mails/1.eml")).await;
    assert_eq!(status, 200);
    assert_eq!(
        bytes, stored,
        "the .eml is the mail as stored, byte for byte"
    );
    assert_eq!(h["content-type"], "message/rfc822");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap_or_default();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"{reference}-1.eml\"")),
        "{disposition}"
    );

    let (status, h, bytes) = download(b, &format!("/orders/{reference}/mails/2/bilag/2")).await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&bytes).trim(), cert.trim());
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"{CERT_FILE}\"; filename*=UTF-8''{CERT_FILE}").as_str()
    );

    for missing in [
        "/orders/SP-1999-99999".to_string(),
        "/orders/SP-1999-99999/mails/1.eml".to_string(),
        format!("/orders/{reference}/mails/99.eml"),
        format!("/orders/{reference}/mails/0.eml"),
        format!("/orders/{reference}/mails/1.txt"),
        format!("/orders/{reference}/mails/..%2F1.eml"),
        format!("/orders/{reference}/mails/1/bilag/9"),
        format!("/orders/{reference}/mails/3/bilag/1"),
    ] {
        let page = b.get(&missing).await;
        assert_eq!(page.status, 404, "{missing}: {}", page.body);
    }
    let page = b.get("/orders/sp-1999-99999").await;
    assert!(
        page.body
            .contains("Der findes ingen bestilling med referencen SP-1999-99999"),
        "{}",
        page.body
    );
}

const BOUNCED: &str = "order.bounce@example.test";
/// The second test's Helpdesk: a mailbox of its own, read by its own daemon.
const BOUNCE_HELPDESK: &str = "order.bounce.hd@example.test";

/// A delivery status notification that returns our mail `returned_id` (its headers only).
fn bounce_of(returned_id: &str, mid: &str) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@example.test>\r\n\
         To: {BOUNCE_HELPDESK}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {}\r\n\
         Message-ID: <{mid}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         The mail below could not be delivered.\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.example.test\r\n\
         \r\n\
         Final-Recipient: rfc822; {BOUNCED}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         From: {BOUNCE_HELPDESK}\r\n\
         To: {BOUNCED}\r\n\
         Message-ID: <{returned_id}>\r\n\
         \r\n\
         --b1--\r\n",
        Utc::now().to_rfc2822()
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_that_bounced_shows_as_afvist_beside_the_bounce() {
    let stack = MailStack::shared(&[BOUNCE_HELPDESK, BOUNCED]);
    let mut c = Console::start(&stack, BOUNCE_HELPDESK, "").await;
    c.add_user("bo", "viewer");
    let pid = std::process::id();
    let form = WsForm::new(&format!("WEB-ORDER-BOUNCE-{pid}"), BOUNCED);
    let mid = format!("web-order-bounce.{pid}@fa.example.test");
    let raw = fixtures::form_mail(BOUNCED, BOUNCE_HELPDESK, "Ny URL", &mid, &form.docx());
    stack.send(BOUNCED, BOUNCE_HELPDESK, &raw).await;
    let inbox = c
        .daemon
        .wait_mailbox(&stack, BOUNCED, "INBOX", "2 receipts", |n| n >= 2, WAIT)
        .await;
    let receipt = inbox
        .iter()
        .map(|r| fixtures::received(r))
        .find(|r| r.heading == "Kvittering for modtagelse")
        .unwrap_or_else(|| panic!("no receipt of receipt\n{}", c.daemon.log_tail()));
    let reference = c.daemon.orders()[0]["ref"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    let bounce = bounce_of(&receipt.message_id, &format!("dsn.{pid}@mx.example.test"));
    stack
        .send("MAILER-DAEMON@example.test", BOUNCE_HELPDESK, &bounce)
        .await;

    let bo = c.signed_in("bo").await;
    let path = format!("/orders/{reference}");
    let start = Instant::now();
    let body = loop {
        let page = bo.get(&path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        if page.body.contains("order-delivery\">afvist<") {
            break page.body;
        }
        assert!(
            start.elapsed() < WAIT,
            "no bounce on {path}:\n{}\n{}",
            page.body,
            c.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        body.matches("order-delivery\">afvist<").count(),
        1,
        "{body}"
    );
    assert!(
        body.contains("order-delivery\">sendt<"),
        "the other receipt: {body}"
    );
    assert!(
        body.contains("Mail 2: &quot;Undelivered Mail Returned to Sender&quot;"),
        "{body}"
    );
    assert!(body.contains("kvittering kom retur"), "{body}");
    let (status, h, bytes) = download(&bo, &format!("/orders/{reference}/mails/2.eml")).await;
    assert_eq!(status, 200);
    assert_eq!(h["content-type"], "message/rfc822");
    assert!(
        String::from_utf8_lossy(&bytes).contains(&receipt.message_id),
        "the bounce as stored"
    );
}
