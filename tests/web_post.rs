//! `/post` over real HTTP against the real `spdesk run`, with real mail through Postfix and
//! Dovecot: an auto-reply, a bounce (DSN), list mail and a spam-flagged mail each show under
//! their category; a mail's page shows it as text (a `<script>` subject escaped); the .eml
//! downloads as an attachment; a viewer cannot make an order of one, an operator's "Opret
//! ordre" makes exactly one order in review with the person in its history and no receipt;
//! a mail that made an order of its own is not served here; a bounce of one of our receipts
//! links to its order; a quarantined mail shows why and links to the order it became.

mod common;

use std::time::Duration;

use common::MailStack;
use common::console::{Browser, Console, Page};
use common::fixtures::{WsForm, auto_reply, bounce};

const DESK: &str = "post.desk@example.test";
const SENDER: &str = "post.sender@example.test";
const WAIT: Duration = Duration::from_secs(120);
const XSS: &str = "<script>alert(1)</script> Tilbud";

/// The id of the first mail linked on a `/post` page.
fn first_mail(page: &Page) -> String {
    let needle = "href=\"/post/";
    let start = page
        .body
        .find(needle)
        .unwrap_or_else(|| panic!("no mail linked on {}: {}", page.url, page.body))
        + needle.len();
    page.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// `/post` in one category (its name as the select sends it).
async fn in_category(b: &Browser, name: &str) -> Page {
    let query = serde_urlencoded::to_string([("kategori", name)]).expect("a query");
    let page = b.get(&format!("/post?{query}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn plain(from: &str, subject: &str, mid: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n\
         Date: {}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hej <b>Helpdesk</b>, her er nyt.\r\n",
        chrono::Utc::now().to_rfc2822()
    )
    .into_bytes()
}

#[tokio::test]
async fn unanswered_mail_shows_by_category_and_becomes_one_order_for_an_operator() {
    let stack = MailStack::shared(&[DESK, SENDER]);
    let mut c = Console::start(&stack, DESK, "").await;
    c.add_user("vera", "viewer");
    c.add_user("kim", "operator");
    let pid = std::process::id();
    let form = WsForm::new("POST-1", SENDER);

    let away = auto_reply(SENDER, DESK, &format!("away.{pid}@example.test"), &form);
    stack.send(SENDER, DESK, &away).await;
    let dsn = bounce(
        "MAILER-DAEMON@mx.example.test",
        DESK,
        &format!("dsn.{pid}@mx.example.test"),
        &form,
    );
    stack.send("", DESK, &dsn).await;
    let list = plain(
        "nyhedsbrev@lists.example.test",
        "Nyhedsbrev for december",
        &format!("list.{pid}@lists.example.test"),
        "List-Id: <nyheder.lists.example.test>\r\n",
    );
    stack.send(SENDER, DESK, &list).await;
    let spam = plain(
        SENDER,
        XSS,
        &format!("spam.{pid}@example.test"),
        "X-Spam-Flag: YES\r\n",
    );
    stack.send(SENDER, DESK, &spam).await;
    c.daemon
        .wait_log("mail stored; not answered", 4, WAIT)
        .await;

    let vera = c.signed_in("vera").await;
    let all = vera.get("/post").await;
    assert_eq!(all.status, 200, "{}", all.body);
    for (category, subject) in [
        ("Autosvar", "Automatisk svar: Bestilling"),
        (
            "Returmeldinger (bounces)",
            "Undelivered Mail Returned to Sender",
        ),
        ("Lister", "Nyhedsbrev for december"),
        ("Spam", "&lt;script&gt;alert(1)&lt;"),
    ] {
        assert!(
            all.body.contains(&format!("{category}</a>: 1")),
            "{category} counted once: {}",
            all.body
        );
        let page = in_category(&vera, category).await;
        assert!(
            page.body.contains(subject),
            "{category} lists {subject}: {}",
            page.body
        );
        assert_eq!(
            page.body.matches("href=\"/post/").count(),
            1,
            "only the {category} mail: {}",
            page.body
        );
    }
    assert!(!all.body.contains("<script>alert"), "escaped: {}", all.body);

    // The spam mail's page: headers, why, its text, all as text.
    let spam_page = in_category(&vera, "Spam").await;
    let id = first_mail(&spam_page);
    let page = vera.get(&format!("/post/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "&lt;script&gt;alert(1)&lt;",
        SENDER,
        DESK,
        "Spam",
        "Hej &lt;b&gt;Helpdesk&lt;",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(!page.body.contains("<b>Helpdesk"), "{}", page.body);
    assert!(
        !page.body.contains("Opret ordre"),
        "a viewer gets no button"
    );

    // The original mail as a download.
    let eml = vera.get(&format!("/post/{id}.eml")).await;
    assert_eq!(eml.status, 200, "{}", eml.body);
    assert_eq!(eml.header("content-type"), Some("message/rfc822"));
    let disposition = eml.header("content-disposition").unwrap_or("");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(eml.header("x-content-type-options"), Some("nosniff"));
    assert!(eml.body.contains(&format!("spam.{pid}@example.test")));
    assert!(eml.body.contains("X-Spam-Flag: YES"));

    // The bounce's page lists the returned mail and the report as attachments.
    let dsn_id = first_mail(&in_category(&vera, "Returmeldinger (bounces)").await);
    let page = vera.get(&format!("/post/{dsn_id}")).await;
    assert!(page.body.contains("delivery-status"), "{}", page.body);
    assert!(
        page.body.contains("Vedhæftet mail: Bestilling"),
        "{}",
        page.body
    );
    assert!(page.body.contains("The mail below could not be delivered."));

    // A viewer may not make an order.
    let refused = vera
        .submit(&format!("/post/{id}"), &format!("/post/{id}/opret"), &[])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(c.daemon.orders().is_empty(), "no order from a viewer");

    // An operator makes one; twice gives the same order.
    let kim = c.signed_in("kim").await;
    let page = kim.get(&format!("/post/{id}")).await;
    assert!(page.body.contains("Opret ordre"), "{}", page.body);
    let first = kim
        .submit(&format!("/post/{id}"), &format!("/post/{id}/opret"), &[])
        .await;
    let reference = first
        .url
        .rsplit_once("/orders/")
        .map(|(_, r)| r.to_string())
        .unwrap_or_else(|| panic!("to the order page, was {}: {}", first.url, first.body));
    let again = kim
        .post_raw(
            &format!("/post/{id}/opret"),
            &[("csrf", page.csrf().expect("csrf").as_str())],
        )
        .await;
    assert!(
        again.url.ends_with(&format!("/orders/{reference}")),
        "{}",
        again.url
    );
    let orders = c.daemon.orders();
    assert_eq!(orders.len(), 1, "one order: {orders:#?}");
    assert_eq!(orders[0]["state"], "review", "{orders:#?}");
    let order = c.daemon.order(&reference);
    let events = order["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["actor"] == "kim"
            && e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("oprettet fra post af kim")),
        "the person in the history: {events:#?}"
    );
    assert_eq!(c.daemon.receipts_queued(&reference), 0, "{events:#?}");
    assert!(
        events.iter().any(|e| e["detail"]
            .as_str()
            .unwrap_or("")
            .contains("får ingen kvitteringer")),
        "spam keeps no requester: {events:#?}"
    );

    // Filled in and approved: still nothing to the spammer (the order has no requester).
    let desired = common::fixtures::desired_date()
        .format("%d-%m-%Y kl. 10.00")
        .to_string();
    let fields = [
        "bestillings_id=BD-POST-1".to_string(),
        "Miljø=Produktion".into(),
        format!("desired_at={desired}"),
        "org_name=Borgerdata I/S".into(),
        "CVR-nr.=DK 5492 1942".into(),
        "contact_name=Lars Bæk Poulsen".into(),
        "contact_email=lars@borgerdata.test".into(),
        "system_name=FamilieFlow".into(),
        "system_uuid=d67050fa-52d6-4bd4-89b8-94ba72dcd5a2".into(),
        "system_role=Modtagersystem".into(),
        "sftp_user=bd_familieflow".into(),
        "monitoring=Til".into(),
        "pickup_deadline_hours=24".into(),
        "alert_emails=drift@borgerdata.test".into(),
    ]
    .join("\n");
    let order_page = format!("/orders/{reference}");
    let edited = kim
        .submit(
            &order_page,
            &format!("/orders/{reference}/ret"),
            &[
                ("felter", fields.as_str()),
                ("begrundelse", "Udfyldt fra mailen"),
            ],
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    let state = c.daemon.order(&reference)["state"].clone();
    if state == "review" {
        let approved = kim
            .submit(
                &order_page,
                &format!("/orders/{reference}/godkend"),
                &[("note", "ok")],
            )
            .await;
        assert_eq!(approved.status, 200, "{}", approved.body);
    }
    let order = c.daemon.order(&reference);
    assert_eq!(order["state"], "approved", "{order:#}");
    assert_eq!(
        c.daemon.receipts_queued(&reference),
        0,
        "no receipt to a spam sender: {order:#}"
    );
    // The mail's page now links to its order, without the button.
    let page = kim.get(&format!("/post/{id}")).await;
    assert!(
        page.body.contains(&format!("href=\"/orders/{reference}\"")),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<button type=\"submit\">Opret ordre"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_mail_that_made_an_order_is_not_served_here_and_a_bounce_of_its_receipt_links_to_it() {
    let desk = "post.filed@example.test";
    let stack = MailStack::shared(&[desk, SENDER]);
    let mut c = Console::start(&stack, desk, "").await;
    c.add_user("kim", "operator");
    let form = WsForm::new("POST-FILED-1", SENDER);
    let raw = common::fixtures::form_mail(
        SENDER,
        desk,
        "Bestilling",
        &format!("filed.{}@example.test", std::process::id()),
        &form.docx(),
    );
    stack.send(SENDER, desk, &raw).await;
    c.daemon.wait_orders(1, WAIT).await;

    let pool = c.daemon.pool().await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM inbound_mail ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .expect("the stored mail");
    let kim = c.signed_in("kim").await;
    for path in [
        format!("/post/{id}"),
        format!("/post/{id}.eml"),
        "/post/999999".to_string(),
        "/post/abc".to_string(),
    ] {
        let page = kim.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
    }
    let list = kim.get("/post").await;
    assert!(
        !list.body.contains(&format!("href=\"/post/{id}\"")),
        "{}",
        list.body
    );
    let page = kim.get("/").await;
    let refused = kim
        .post_raw(
            &format!("/post/{id}/opret"),
            &[("csrf", page.csrf().expect("csrf").as_str())],
        )
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert_eq!(c.daemon.orders().len(), 1);

    // A receipt of that order bounces: the bounce is in /post, linked to the order.
    let reference = c.daemon.orders()[0]["ref"]
        .as_str()
        .expect("ref")
        .to_string();
    let receipt: String = sqlx::query_scalar(
        "SELECT message_id FROM outbox WHERE message_id IS NOT NULL ORDER BY id LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .expect("a receipt queued");
    let receipt = receipt.trim_matches(|ch| ch == '<' || ch == '>');
    let dsn = format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n\
         To: {desk}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <receipt-dsn.{}@mx.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThe receipt could not be delivered.\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: {desk}\r\nTo: {SENDER}\r\nMessage-ID: <{receipt}>\r\nSubject: Kvittering\r\n\r\n\
         --b1--\r\n",
        std::process::id()
    );
    stack.send("", desk, dsn.as_bytes()).await;
    c.daemon
        .wait_log("mail stored; not answered", 1, WAIT)
        .await;
    let bounces = in_category(&kim, "Returmeldinger (bounces)").await;
    assert!(
        bounces
            .body
            .contains(&format!("href=\"/orders/{reference}\"")),
        "the bounce links to {reference}: {}",
        bounces.body
    );
    let page = kim.get(&format!("/post/{}", first_mail(&bounces))).await;
    assert!(
        page.body
            .contains(&format!("handler om ordre <a href=\"/orders/{reference}\"")),
        "{}",
        page.body
    );

    // A mail over the header limits is quarantined for a person (an order in review): it is
    // in /post as quarantined, with why, and links to that order instead of "Opret ordre".
    let mut hostile = format!(
        "From: {SENDER}\r\nTo: {desk}\r\nSubject: Mange felter\r\nMessage-ID: <hostile.{}@example.test>\r\n",
        std::process::id()
    );
    for n in 0..1100 {
        hostile.push_str(&format!("X-Filler-{n}: x\r\n"));
    }
    hostile.push_str("\r\nHej.\r\n");
    stack.send(SENDER, desk, hostile.as_bytes()).await;
    c.daemon
        .wait_log("mail quarantined for a person", 1, WAIT)
        .await;
    c.daemon.wait_orders(2, WAIT).await;
    let quarantined = in_category(&kim, "Karantæne (kunne ikke behandles)").await;
    assert!(
        quarantined.body.contains("Mange felter"),
        "{}",
        quarantined.body
    );
    let page = kim
        .get(&format!("/post/{}", first_mail(&quarantined)))
        .await;
    assert!(page.body.contains("karantæne"), "{}", page.body);
    assert!(page.body.contains("header"), "why: {}", page.body);
    assert!(
        page.body.contains("Mailen er lavet til ordre"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<button type=\"submit\">Opret ordre"));
}
