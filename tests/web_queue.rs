//! The queue (`/`), the calendar (`/kalender`) and billing (`/fakturering`) over real HTTP
//! against the real `spdesk run`, with orders made from mails sent through the real Postfix
//! and Dovecot: counts per state, the filters (state, kind, "Kræver handling": review,
//! overdue, an unanswered message), the search by BestillingsID and CVR, pages that follow
//! one another; an approved change on its day with the change window and an overdue one
//! under "Forsinket"; an executed order billed and unbilled per month, and the month's CSV
//! downloaded with the billing export's exact bytes.

mod common;

use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use common::console::{Browser, Console};
use common::daemon::Daemon;
use common::{FA, MailStack, fixtures};

/// Generous: a loaded machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(90);

/// A BestillingsID unique to this run.
fn unique(tag: &str) -> String {
    format!(
        "WQ-{tag}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis()
    )
}

/// A webservice form (Fjordsoft ApS, CVR 39055414) whose system role is the contract's
/// "Modtagersystem": ambiguous on a webservice form, so a person must look (review).
fn review_mail(helpdesk: &str, id: &str) -> Vec<u8> {
    let form = fixtures::WsForm::new(id, FA);
    let rows: Vec<(&str, Vec<String>)> = form
        .rows()
        .into_iter()
        .map(|(label, value)| match label {
            "It-systemrolle" => (label, vec!["Modtagersystem".to_string()]),
            _ => (label, value),
        })
        .collect();
    fixtures::form_mail(
        FA,
        helpdesk,
        "Ny URL til SagsOpslag",
        &format!("{id}@fa.example.test"),
        &fixtures::docx(
            "Ændring af teknisk konfiguration for serviceudbyders webservice",
            &rows,
        ),
    )
}

/// A plain message from [`FA`] in reply to `parent` (one of our receipts).
fn reply_mail(helpdesk: &str, parent: &str, tag: &str) -> Vec<u8> {
    mail_builder::MessageBuilder::new()
        .from(("Lars Bæk Poulsen", FA))
        .to(helpdesk)
        .subject("SV: Bestillingen er godkendt")
        .message_id(format!("{tag}.{}@example.test", std::process::id()))
        .in_reply_to(parent)
        .references(parent)
        .date(Utc::now().timestamp())
        .text_body("Hej\n\nKan ændringen rykkes til kl. 13.00?\n\n/Lars\n")
        .write_to_vec()
        .expect("the mail builds")
}

/// A console on `helpdesk` whose daemon polls every second, with a viewer signed in.
async fn console(stack: &MailStack, helpdesk: &str) -> (Console, Browser) {
    stack.add_users(&[helpdesk]);
    let c = Console::start(stack, helpdesk, "").await;
    c.add_user("vera", "viewer");
    let b = c.signed_in("vera").await;
    (c, b)
}

/// The receipt `kind` queued for an order: its Message-ID.
async fn receipt_id(d: &Daemon, reference: &str, kind: &str) -> String {
    let start = Instant::now();
    loop {
        let pool = d.pool().await;
        let id: Option<String> = sqlx::query_scalar(
            "SELECT x.message_id FROM outbox x JOIN orders o ON o.id = x.order_id \
             WHERE o.ref = $1 AND x.kind = $2",
        )
        .bind(reference)
        .bind(kind)
        .fetch_optional(&pool)
        .await
        .expect("read the outbox");
        pool.close().await;
        if let Some(id) = id {
            return id;
        }
        assert!(start.elapsed() < WAIT, "no {kind} receipt for {reference}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the order's history has an event `action`.
async fn wait_event(d: &Daemon, reference: &str, action: &str) {
    let start = Instant::now();
    loop {
        let order = d.order(reference);
        let events = order["events"].as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["action"] == action) {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "no {action} on {reference}: {order:#}\n{}",
            d.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The references of the queue's rows on a page (the links to the orders).
fn listed(body: &str) -> Vec<String> {
    body.split("<a href=\"/orders/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The page at `path`, which must answer 200.
async fn ok(b: &Browser, path: &str) -> String {
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "GET {path}: {}", page.body);
    assert!(!page.url.contains("/login"), "GET {path}: {}", page.url);
    // The template escapes "/" in values (links included); a browser reads it back.
    page.body.replace("&#x2f;", "/")
}

/// The `href` of the link whose text is `text`.
fn link_to(body: &str, text: &str) -> Option<String> {
    let end = body.find(&format!(">{text}<"))?;
    let start = body[..end].rfind("href=\"")? + "href=\"".len();
    let href = body[start..].split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_queue_counts_filters_searches_and_pages_and_the_calendar_shows_the_days() {
    let hd = "queue.list@example.test";
    let stack = MailStack::shared(&[hd]);
    let (c, vera) = console(&stack, hd).await;
    let d = &c.daemon;
    let day = fixtures::add_working_days(fixtures::today(), 10);
    let yesterday = fixtures::today() - chrono::Duration::days(1);
    let (a, b, r, x) = (unique("A"), unique("B"), unique("R"), unique("X"));
    stack
        .send(FA, hd, &fixtures::sftp_typed_mail(hd, &a, day))
        .await;
    stack
        .send(FA, hd, &fixtures::sftp_typed_mail(hd, &b, day))
        .await;
    stack.send(FA, hd, &review_mail(hd, &r)).await;
    stack
        .send(FA, hd, &fixtures::sftp_typed_mail(hd, &x, yesterday))
        .await;
    let a_ref = d.wait_state(&a, "approved", WAIT).await;
    let b_ref = d.wait_state(&b, "approved", WAIT).await;
    let r_ref = d.wait_state(&r, "review", WAIT).await;
    let x_ref = d.wait_state(&x, "rejected", WAIT).await;
    // B's planned time has passed; A has a message nobody has answered.
    let pool = d.pool().await;
    sqlx::query("UPDATE orders SET planned_at = $1 WHERE ref = $2")
        .bind(spdesk::store::ts(Utc::now() - chrono::Duration::days(2)))
        .bind(&b_ref)
        .execute(&pool)
        .await
        .expect("make B overdue");
    pool.close().await;
    let parent = receipt_id(d, &a_ref, "godkendt").await;
    stack.send(FA, hd, &reply_mail(hd, &parent, "wq-a")).await;
    wait_event(d, &a_ref, "correspondence").await;

    let all = ok(&vera, "/").await;
    for (count, what) in [
        ("godkendt: 2", "two approved"),
        ("til vurdering: 1", "one review"),
        ("afvist: 1", "one rejected"),
        ("gennemført: 0", "none executed"),
        ("kræver handling: 3", "review, overdue, unanswered"),
    ] {
        assert!(all.contains(count), "{what}: {count} in {all}");
    }
    let mut every = listed(&all);
    every.sort();
    let mut ours = vec![a_ref.clone(), b_ref.clone(), r_ref.clone(), x_ref.clone()];
    ours.sort();
    assert_eq!(every, ours);
    assert!(all.contains("Viser 1–4 af 4 ordrer"), "{all}");
    assert!(all.contains("Forsinket"), "B is marked overdue: {all}");
    assert_eq!(listed(&all)[0], b_ref, "the earliest planned first");

    let review = ok(&vera, "/?state=review").await;
    assert_eq!(listed(&review), [r_ref.as_str()]);
    let link = link_to(&all, "til vurdering: 1").expect("the count links to its state");
    assert_eq!(listed(&ok(&vera, &link).await), [r_ref.as_str()]);
    let webservice = ok(&vera, "/?kind=webservice").await;
    assert_eq!(listed(&webservice), [r_ref.as_str()]);

    let mut action = listed(&ok(&vera, "/?needs_action=1").await);
    action.sort();
    let mut expected = vec![a_ref.clone(), b_ref.clone(), r_ref.clone()];
    expected.sort();
    assert_eq!(
        action, expected,
        "review, overdue and unanswered; not rejected"
    );
    let approved_action = ok(&vera, "/?state=approved&needs_action=1&kind=sftp").await;
    assert_eq!(listed(&approved_action).len(), 2);

    let by_id = ok(&vera, &format!("/?q={}", r.to_lowercase())).await;
    assert_eq!(listed(&by_id), [r_ref.as_str()]);
    let mut by_cvr = listed(&ok(&vera, "/?q=5492+1942").await);
    by_cvr.sort();
    let mut sftp = vec![a_ref.clone(), b_ref.clone(), x_ref.clone()];
    sftp.sort();
    assert_eq!(
        by_cvr, sftp,
        "the CVR of the SFTP forms, typed with a space"
    );
    assert_eq!(listed(&ok(&vera, "/?q=39055414").await), [r_ref.as_str()]);
    assert!(
        ok(&vera, "/?q=intet+s%C3%A5dant")
            .await
            .contains("Ingen ordrer passer til filteret.")
    );

    // One order a page: "Næste side" walks through all four, keeping the filter.
    let mut seen = Vec::new();
    let mut path = "/?per=1".to_string();
    for n in 1..=4 {
        let page = ok(&vera, &path).await;
        assert!(page.contains(&format!("side {n} af 4")), "{page}");
        seen.extend(listed(&page));
        match link_to(&page, "Næste side") {
            Some(next) => {
                assert!(next.contains("per=1") && next.contains(&format!("page={}", n + 1)));
                path = next;
            }
            None => assert_eq!(n, 4, "no next page before the last"),
        }
        assert_eq!(link_to(&page, "Forrige side").is_some(), n > 1, "{page}");
    }
    seen.sort();
    assert_eq!(seen, ours, "every order once over the pages");
    let beyond = ok(&vera, "/?per=1&page=999").await;
    assert!(
        beyond.contains("side 4 af 4"),
        "past the end: the last page"
    );

    // Hostile input is text, never markup, and never an error.
    let hostile = ok(
        &vera,
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x&page=-3&per=abc",
    )
    .await;
    assert!(!hostile.contains("<script>alert"), "{hostile}");
    assert!(hostile.contains("&lt;script&gt;alert(1)"), "{hostile}");

    // The calendar: A on its day with the change window, B overdue first.
    let cal = ok(&vera, "/kalender").await;
    let heading = spdesk::rules::calendar::danish_date(day);
    let section = cal
        .split("<h2")
        .find(|s| s.contains(&heading))
        .unwrap_or_else(|| panic!("no day {heading}: {cal}"));
    assert!(section.contains(&a_ref), "A on {heading}: {section}");
    assert!(section.contains("Ændringsvindue 08:00-15:00"), "{section}");
    assert!(section.contains("10.00"), "{section}");
    assert!(section.contains("FamilieFlow") && section.contains("Borgerdata I/S"));
    let late = cal.find("Forsinket").expect("an overdue section");
    let b_at = cal.find(&b_ref).expect("B on the calendar");
    assert!(
        late < b_at && b_at < cal.find(&heading).unwrap_or(0),
        "B first"
    );
    assert!(
        !cal.contains(&r_ref) && !cal.contains(&x_ref),
        "only approved orders"
    );
    for closed in ["lørdag den", "søndag den"] {
        assert!(!cal.contains(closed), "weekends are skipped: {closed}");
    }
    let later = ok(&vera, "/kalender?uge=4").await;
    assert!(!later.contains(&a_ref), "A is within the first four weeks");
    assert!(later.contains("Tidligere uger"));
}

/// The billing page's row for the month `label`, and its numbers (billed, amount, unbilled,
/// amount, total).
fn month_row(page: &str, label: &str) -> (String, Vec<String>) {
    let row = page
        .split("<tr>")
        .find(|r| r.contains(label))
        .unwrap_or_else(|| panic!("no row for {label}: {page}"));
    let numbers = row
        .split("<td class=\"billing-n\">")
        .skip(1)
        .filter_map(|c| c.split('<').next())
        .map(str::to_string)
        .collect();
    (row.to_string(), numbers)
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_lists_an_executed_order_per_month_and_its_csv_downloads() {
    let hd = "queue.billing@example.test";
    let stack = MailStack::shared(&[hd]);
    let (c, vera) = console(&stack, hd).await;
    let d = &c.daemon;
    let id = unique("E");
    let day = fixtures::add_working_days(fixtures::today(), 10);
    stack
        .send(FA, hd, &fixtures::sftp_typed_mail(hd, &id, day))
        .await;
    let reference = d.wait_state(&id, "approved", WAIT).await;
    let out = d.cli(&[
        "orders", "execute", &reference, "--early", "--reason", "Aftalt",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    d.wait_state(&id, "executed", WAIT).await;

    let now = Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen);
    let period = format!("{:04}-{:02}", now.year(), now.month());
    let label = format!(
        "{} {}",
        spdesk::rules::calendar::month_name(now.month()),
        now.year()
    );
    let page = ok(&vera, "/fakturering").await;
    let (row, numbers) = month_row(&page, &label);
    assert_eq!(
        numbers,
        ["0", "0,00 kr.", "1", "2.500,00 kr.", "2.500,00 kr."],
        "billed, unbilled, total: {row}"
    );
    let csv_path = format!("/fakturering/{period}.csv");
    assert!(row.contains(&format!("href=\"{csv_path}\"")), "{row}");
    assert!(row.contains("Hent CSV"), "{row}");

    let export = |d: &Daemon| {
        let out = d.cli(&["billing", "export", "--period", &period]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let csv = vera.get(&csv_path).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        csv.header("content-disposition"),
        Some(format!("attachment; filename=\"spdesk-fakturering-{period}.csv\"").as_str())
    );
    assert_eq!(
        csv.body,
        export(d),
        "the billing export's CSV, byte for byte"
    );
    let lines: Vec<&str> = csv.body.split("\r\n").collect();
    assert_eq!(lines[0], spdesk::schedule::billing::CSV_HEADER);
    assert!(
        lines[1].starts_with(&format!("{id},{reference},sftp,")),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",2500.00,DKK,"),
        "not billed yet: {}",
        lines[1]
    );

    // The billing run bills it: the page and the CSV say so.
    let out = d.cli(&["billing", "run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = ok(&vera, "/fakturering").await;
    let (row, numbers) = month_row(&page, &label);
    assert_eq!(
        numbers,
        ["1", "2.500,00 kr.", "0", "0,00 kr.", "2.500,00 kr."],
        "billed now: {row}"
    );
    let billed = vera.get(&csv_path).await;
    assert_eq!(billed.body, export(d));
    assert!(
        !billed.body.contains(",2500.00,DKK,\r\n"),
        "billed_at filled in"
    );

    for bad in [
        "/fakturering/2026-13.csv",
        "/fakturering/2026-1.csv",
        "/fakturering/abc",
        "/fakturering/..%2F..%2Fetc%2Fpasswd",
        "/fakturering/%00.csv",
    ] {
        let page = vera.get(bad).await;
        assert_eq!(page.status, 404, "{bad}: {}", page.body);
        assert!(page.body.contains("Findes ikke"), "{bad}: {}", page.body);
    }
    // Without a session nothing is given away.
    let anonymous = c.browser().get(&csv_path).await;
    assert!(anonymous.url.contains("/login"), "{}", anonymous.url);
    assert!(!anonymous.body.contains(&reference));
}
