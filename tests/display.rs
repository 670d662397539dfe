//! What a person reads, end to end over a real Dovecot + Postfix and the real `spdesk run`:
//! `orders show` prints the form's fields under FORMS.md's Danish labels (the URLs, the
//! attached certificate's subject, serial and validity instead of a file), every time in
//! Copenhagen time with its offset ("2026-12-14 10:00 +01:00"; JSON: RFC 3339 with
//! "+01:00"/"+02:00", never `Z`) and the history in Danish; the digest's subject carries all
//! five counts, a review item without a form shows its sender and subject, and "Kommende
//! ændringer" lists an approved order under its day; the billing CSV in both dialects, opened
//! by LibreOffice Calc headless, gives the right cells: Danish letters intact, the price a
//! number.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Duration as Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Copenhagen;
use common::daemon::Daemon;
use common::fixtures::{self, WsForm, attachment_mail};
use common::{FA, HELPDESK, MailStack};
use mail_builder::MessageBuilder;

/// Generous: a loaded CI machine must not fail a correct daemon.
const WAIT: Duration = Duration::from_secs(90);

const SFTP_FORM: &str = "Ændring af overvågning af filafhentning (SFTP-indbakke)

KOMBIT BestillingsID: {{ID}}
Miljø: Produktion
Ønsket tidspunkt for ændring: {{DESIRED}} kl. 10.00
Organisation: Ærøskøbing Borgerdata I/S
CVR-nr.: 54921942
Kontaktperson: Lars Bæk Poulsen
E-mail: fa@example.test
It-system: FamilieFlow Ø
It-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2
It-systemrolle: Modtagersystem
SFTP-bruger: bd_familieflow
Overvågning: Til
Tidsgrænse for afhentning (timer): 24
Advisering til: drift@example.test; vagt@example.test

Venlig hilsen
Lars Bæk Poulsen
";

/// The certificate's host: the webservice form's new URL.
const CERT_HOST: &str = "exttest2.fjordsoft.example";
const CERT_SERIAL: u64 = 0x5EED_0042;

/// A self-signed certificate for [`CERT_HOST`], PEM.
fn certificate() -> String {
    let mut p = rcgen::CertificateParams::new(vec![CERT_HOST.to_string()]).expect("params");
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CountryName, "DK");
    dn.push(rcgen::DnType::CommonName, CERT_HOST);
    p.distinguished_name = dn;
    p.serial_number = Some(rcgen::SerialNumber::from(CERT_SERIAL));
    p.not_before = rcgen::date_time_ymd(2026, 1, 15);
    p.not_after = rcgen::date_time_ymd(2030, 7, 1);
    let key = rcgen::KeyPair::generate().expect("key");
    p.self_signed(&key).expect("certificate").pem()
}

/// The webservice form as typed into a mail, with the SSL certificate ticked and named, and
/// the certificate attached.
fn webservice_mail(stamp: &str) -> Vec<u8> {
    let form = WsForm::new(&format!("DISP-WS-{stamp}"), FA);
    let mut text =
        String::from("Ændring af teknisk konfiguration for serviceudbyders webservice\n\n");
    for (label, lines) in form.rows() {
        let value = match label {
            "Ændringer" => {
                "☒ SSL-certifikat ☒ URL ☐ Datatype (InfRef) ☐ Sikkerhedsmodel".to_string()
            }
            _ => lines.join(" "),
        };
        text.push_str(&format!("{label}: {value}\n"));
    }
    text.push_str("Nyt SSL-certifikat: ny-sagsopslag.cer\n");
    MessageBuilder::new()
        .from(("Karin Holm", FA))
        .to(("Serviceplatformens Helpdesk", HELPDESK))
        .subject("Bestilling: nyt certifikat og ny URL til SagsOpslag")
        .message_id(format!("display-ws.{stamp}@example.test"))
        .date(Utc::now().timestamp())
        .text_body(text)
        .attachment(
            "application/x-x509-ca-cert",
            "ny-sagsopslag.cer",
            certificate().into_bytes(),
        )
        .write_to_vec()
        .expect("the mail builds")
}

/// The SFTP form mail with a valid desired date three weeks ahead.
fn sftp_mail(stamp: &str, n: u32) -> Vec<u8> {
    let day = fixtures::working_day_on_or_after(fixtures::today() + Days::days(21));
    let desired = format!("{:02}-{:02}-{}", day.day(), day.month(), day.year());
    let body = SFTP_FORM
        .replace("{{ID}}", &format!("DISP-SFTP-{stamp}-{n}"))
        .replace("{{DESIRED}}", &desired);
    MessageBuilder::new()
        .from(("Lars Bæk Poulsen", FA))
        .to(("Serviceplatformens Helpdesk", HELPDESK))
        .subject(format!("Bestilling: overvågning {n}"))
        .message_id(format!("display-sftp.{stamp}.{n}@example.test"))
        .date(Utc::now().timestamp())
        .text_body(body)
        .write_to_vec()
        .expect("the mail builds")
}

/// Runs a CLI command with the daemon's config; panics unless it exits 0.
fn cli(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(
        out.status.success(),
        "spdesk {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        d.log()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `n` orders exist and none is still being judged.
async fn wait_orders(d: &Daemon, n: usize) -> Vec<serde_json::Value> {
    let start = Instant::now();
    loop {
        let orders = d.orders();
        if orders.len() >= n && orders.iter().all(|o| o["state"] != "received") {
            return orders;
        }
        assert!(
            start.elapsed() < WAIT,
            "waited {WAIT:?} for {n} judged orders; got {orders:#?}\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The order whose BestillingsID starts with `prefix` (none: the formless order).
fn find<'a>(orders: &'a [serde_json::Value], prefix: Option<&str>) -> &'a serde_json::Value {
    orders
        .iter()
        .find(|o| match (prefix, o["bestillings_id"].as_str()) {
            (Some(p), Some(id)) => id.starts_with(p),
            (None, None) => true,
            _ => false,
        })
        .unwrap_or_else(|| panic!("no order {prefix:?} in {orders:#?}"))
}

fn reference(o: &serde_json::Value) -> String {
    o["ref"].as_str().expect("ref").to_string()
}

/// "2026-12-14 10:00 +01:00": the time format of `orders show` and `orders list`.
fn is_local_time(s: &str) -> bool {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+0[12]:00$")
        .expect("regex")
        .is_match(s)
}

/// Every string in a JSON value that is an RFC 3339 time: it must carry Copenhagen's offset.
fn assert_json_times_local(v: &serde_json::Value, path: &str, seen: &mut usize) {
    match v {
        serde_json::Value::String(s) => {
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                *seen += 1;
                assert!(
                    s.ends_with("+01:00") || s.ends_with("+02:00"),
                    "{path} = {s}: not Copenhagen time with offset"
                );
                let offset = Copenhagen
                    .from_utc_datetime(&t.naive_utc())
                    .format("%:z")
                    .to_string();
                assert!(s.ends_with(&offset), "{path} = {s}: Copenhagen is {offset}");
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_json_times_local(item, &format!("{path}[{i}]"), seen);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                assert_json_times_local(item, &format!("{path}.{k}"), seen);
            }
        }
        _ => {}
    }
}

/// The value after `label:` on its line of `text`.
fn value_of<'a>(text: &'a str, label: &str) -> &'a str {
    let key = format!("{label}:");
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(&key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no \"{label}:\" in\n{text}"))
}

/// `orders show` of the webservice order: labels, URLs, the certificate, times and history.
fn check_show_webservice(d: &Daemon, r: &str) {
    let text = cli(d, &["orders", "show", r]);
    assert_eq!(value_of(&text, "Miljø"), "Eksternt testmiljø", "{text}");
    assert_eq!(
        value_of(&text, "Ændringer"),
        "SSL-certifikat, URL",
        "{text}"
    );
    assert_eq!(
        value_of(&text, "Ny URL"),
        "https://exttest2.fjordsoft.example/ws/v2/sagsopslag"
    );
    assert_eq!(
        value_of(&text, "Nuværende URL"),
        "https://exttest.fjordsoft.example/ws/v2/sagsopslag"
    );
    assert_eq!(value_of(&text, "It-systemrolle"), "serviceudbydersystem");
    assert_eq!(value_of(&text, "Nyt SSL-certifikat"), "ny-sagsopslag.cer");
    assert_eq!(
        value_of(&text, "subject"),
        "Bestilling: nyt certifikat og ny URL til SagsOpslag"
    );
    assert!(
        value_of(&text, "Certifikatets emne").contains(&format!("CN={CERT_HOST}")),
        "{text}"
    );
    assert_eq!(value_of(&text, "Serienummer"), "5EED0042", "{text}");
    assert_eq!(
        value_of(&text, "Gyldigt"),
        "fra 2026-01-15 01:00 +01:00 til 2030-07-01 02:00 +02:00",
        "{text}"
    );
    for code in ["ssl_certificate", "exttest\n", "-----BEGIN"] {
        assert!(!text.contains(code), "{code:?} in\n{text}");
    }
    for label in ["created", "updated"] {
        let t = value_of(&text, label);
        assert!(is_local_time(t), "{label}: {t}\n{text}");
    }
    let history = &text[text.find("  history:").expect("history")..];
    assert!(
        history.contains("modtaget (ny: modtaget)"),
        "the first event in Danish:\n{history}"
    );
    assert!(
        history.contains("vurderet automatisk (modtaget → "),
        "the verdict in Danish:\n{history}"
    );
    for english in ["received", "->", "judged", "queued", "til_vurdering"] {
        assert!(!history.contains(english), "{english:?} in\n{history}");
    }
    for line in history.lines().skip(1) {
        let time = line.trim().get(..23).unwrap_or_default();
        assert!(is_local_time(time), "{time:?} in {line:?}");
    }

    let json = d.order(r);
    let mut seen = 0;
    assert_json_times_local(&json, "show", &mut seen);
    assert!(
        seen >= 4,
        "created, updated, a version and events: {json:#}"
    );
    assert!(
        json["events"][0]["at"]
            .as_str()
            .is_some_and(|t| !t.ends_with('Z')),
        "{json:#}"
    );
}

/// The digest as `spdesk digest` prints it: the subject's five counts, the formless review
/// item's sender and subject, "Kommende ændringer" by day.
fn check_digest(d: &Daemon, formless: &str, upcoming: &str, upcoming_day: &str) {
    let printed = cli(d, &["digest"]);
    let subject = printed.lines().next().unwrap_or_default();
    let date = fixtures::today();
    let months = [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ];
    assert_eq!(
        subject,
        format!(
            "Emne: Daglig oversigt {}. {} {}: 2 til vurdering, 0 ubesvarede beskeder, 0 skal gennemføres i dag, 0 overskredet, 1 fejlet",
            date.day(),
            months[date.month0() as usize],
            date.year()
        ),
        "{printed}"
    );
    let review = section(&printed, "\nTil vurdering (", "\nUbesvarede beskeder (");
    let line = review
        .lines()
        .find(|l| l.starts_with(formless))
        .unwrap_or_else(|| panic!("{formless} under Til vurdering:\n{printed}"));
    assert!(
        line.contains(&format!("afsender: {FA}"))
            && line.contains("emne: \"Bestilling (vedhæftet som .odt)\""),
        "{line}"
    );
    assert!(!line.contains("| - | - | -"), "{line}");
    let coming = section(&printed, "\nKommende ændringer (", "\nAfvist uden rettelse");
    let day = section(coming, upcoming_day, "\n\n");
    assert!(
        day.lines().nth(1).is_some_and(|l| l.contains(upcoming)),
        "{upcoming} under {upcoming_day}:\n{coming}"
    );
    assert_eq!(coming.matches(upcoming).count(), 1, "{coming}");
}

fn section<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in {text}"));
    let rest = &text[start..];
    let end = rest[from.len()..]
        .find(to)
        .map_or(rest.len(), |e| e + from.len());
    &rest[..end]
}

/// Converts `csv` to .xlsx with LibreOffice Calc headless, import options `filter` (what Calc's
/// import dialog would be set to), and reads the cells back with openpyxl: each cell as
/// (type, value).
fn calc_cells(csv: &Path, filter: &str, out: &Path) -> Vec<Vec<(String, String)>> {
    let profile = out.join("lo-profile");
    let status = Command::new("soffice")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .arg("--headless")
        .arg(format!("--infilter={filter}"))
        .args(["--convert-to", "xlsx", "--outdir"])
        .arg(out)
        .arg(csv)
        .output()
        .expect("soffice runs (package libreoffice-calc-nogui)");
    let xlsx = out.join(csv.with_extension("xlsx").file_name().expect("name"));
    assert!(
        xlsx.exists(),
        "soffice made no {}: {}{}",
        xlsx.display(),
        String::from_utf8_lossy(&status.stdout),
        String::from_utf8_lossy(&status.stderr)
    );
    let script = "import json, sys, openpyxl\n\
        ws = openpyxl.load_workbook(sys.argv[1]).active\n\
        print(json.dumps([[[type(c.value).__name__, '' if c.value is None else str(c.value)] for c in r] for r in ws.iter_rows()]))\n";
    let py = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&xlsx)
        .output()
        .expect("python3 runs (package python3-openpyxl)");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    serde_json::from_slice(&py.stdout).expect("cells as JSON")
}

/// The billing export of this month in `dialect`, written by the CLI and read by Calc.
fn export_through_calc(d: &Daemon, dialect: &str, filter: &str) -> Vec<Vec<(String, String)>> {
    d.edit_config(|c| {
        let base = c
            .lines()
            .filter(|l| !l.starts_with("csv = "))
            .collect::<Vec<_>>()
            .join("\n");
        base.replace(
            "currency = \"DKK\"",
            &format!("currency = \"DKK\"\ncsv = \"{dialect}\""),
        )
    });
    let dir: PathBuf = d.dir().join(format!("calc-{dialect}"));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join(format!("billing-{dialect}.csv"));
    let month = fixtures::today().format("%Y-%m").to_string();
    cli(
        d,
        &[
            "billing",
            "export",
            "--period",
            &month,
            "--out",
            file.to_str().expect("path"),
        ],
    );
    calc_cells(&file, filter, &dir)
}

/// The cells of an exported billing CSV: the header, and the order's line with its Danish
/// letters intact and the price a number.
fn check_billing_cells(cells: &[Vec<(String, String)>], executed: &str, dialect: &str) {
    let header: Vec<&str> = cells[0].iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(
        header,
        [
            "bestillings_id",
            "ref",
            "kind",
            "org_name",
            "org_cvr",
            "system_name",
            "executed_at",
            "price",
            "currency",
            "billed_at"
        ],
        "{dialect}: {cells:?}"
    );
    assert_eq!(cells.len(), 2, "{dialect}: {cells:?}");
    let row = &cells[1];
    let cell = |i: usize| (row[i].0.as_str(), row[i].1.as_str());
    assert_eq!(cell(1), ("str", executed), "{dialect}: {row:?}");
    assert_eq!(cell(2), ("str", "sftp"), "{dialect}: {row:?}");
    assert_eq!(
        cell(3),
        ("str", "Ærøskøbing Borgerdata I/S"),
        "{dialect}: {row:?}"
    );
    assert_eq!(cell(5), ("str", "FamilieFlow Ø"), "{dialect}: {row:?}");
    let (kind, price) = cell(7);
    assert!(
        matches!(kind, "int" | "float") && price.parse::<f64>() == Ok(2500.0),
        "{dialect}: the price is the number 2500, got {kind} {price:?}"
    );
    assert_eq!(cell(8), ("str", "DKK"), "{dialect}: {row:?}");
}

/// The second working day after today at 10:00 Copenhagen time (inside "Kommende ændringer"),
/// and its Danish long date.
fn upcoming_slot() -> (String, String) {
    let day = fixtures::add_working_days(fixtures::today(), 2);
    let at = Copenhagen
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(10, 0, 0).expect("10:00")))
        .single()
        .expect("a local time")
        .with_timezone(&Utc);
    let weekdays = [
        "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
    ];
    let months = [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ];
    let long = format!(
        "{} den {}. {} {}",
        weekdays[day.weekday().num_days_from_monday() as usize],
        day.day(),
        months[day.month0() as usize],
        day.year()
    );
    (spdesk::store::ts(at), long)
}

#[tokio::test]
async fn show_digest_and_billing_read_as_a_person_needs() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    d.edit_config(|c| c.replace("poll_interval = \"60s\"", "poll_interval = \"1s\""));
    d.start();
    let stamp = std::process::id().to_string();
    stack.send(FA, HELPDESK, &webservice_mail(&stamp)).await;
    for n in 1..=3 {
        stack.send(FA, HELPDESK, &sftp_mail(&stamp, n)).await;
    }
    let odt = attachment_mail(
        (
            FA,
            HELPDESK,
            "Bestilling (vedhæftet som .odt)",
            &format!("display-odt.{stamp}@example.test"),
        ),
        (
            "application/vnd.oasis.opendocument.text",
            "Bestilling.odt",
            b"PK\x03\x04 not really an odt",
        ),
    );
    stack.send(FA, HELPDESK, &odt).await;
    let orders = wait_orders(&d, 5).await;
    let ws = reference(find(&orders, Some("DISP-WS-")));
    let formless = reference(find(&orders, None));
    let sftp: Vec<String> = (1..=3)
        .map(|n| reference(find(&orders, Some(&format!("DISP-SFTP-{stamp}-{n}")))))
        .collect();
    for r in &sftp {
        let o = d.order(r);
        assert_eq!(o["state"], "approved", "{o:#}\n{}", d.log());
    }
    assert_eq!(d.order(&ws)["state"], "review", "{}", d.log());

    check_show_webservice(&d, &ws);
    let shown = cli(&d, &["orders", "show", &formless]);
    assert_eq!(
        value_of(&shown, "subject"),
        "Bestilling (vedhæftet som .odt)"
    );
    assert_eq!(value_of(&shown, "requester"), FA, "{shown}");
    assert!(shown.contains("(no readable form)"), "{shown}");

    // `orders list`: the planned time in the same format.
    let list = cli(&d, &["orders", "list"]);
    let row = list
        .lines()
        .find(|l| l.starts_with(sftp[0].as_str()))
        .expect("the order in the list");
    let times = regex::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+0[12]:00").expect("regex");
    assert!(
        times.is_match(row),
        "the planned time as 2026-12-14 10:00 +01:00: {row}"
    );
    assert!(
        !row.contains(":00:00"),
        "no RFC 3339 seconds in the table: {row}"
    );

    // One approved order planned in two working days, one failed, one executed.
    let store = spdesk::store::Store::open(&d.db_url()).await.expect("db");
    let (at, day) = upcoming_slot();
    sqlx::query("UPDATE orders SET planned_at = $1 WHERE ref = $2")
        .bind(&at)
        .bind(&sftp[0])
        .execute(&store.pool)
        .await
        .expect("plan it soon");
    cli(
        &d,
        &[
            "orders",
            "fail",
            &sftp[1],
            "--reason",
            "SFTP-serveren svarede ikke",
        ],
    );
    sqlx::query("UPDATE orders SET state = 'executed', executed_at = $1 WHERE ref = $2")
        .bind(spdesk::store::ts(Utc::now()))
        .bind(&sftp[2])
        .execute(&store.pool)
        .await
        .expect("mark executed");

    check_digest(&d, &formless, &sftp[0], &day);

    // The billing CSV through LibreOffice Calc: the DESIGN.md dialect read as UTF-8 with
    // commas, excel-da with Calc's Danish settings (`;`, Danish locale, Western charset: the
    // BOM says UTF-8).
    let rfc = export_through_calc(&d, "rfc4180", "CSV:44,34,76,1,,1033");
    check_billing_cells(&rfc, &sftp[2], "rfc4180");
    let da = export_through_calc(&d, "excel-da", "CSV:59,34,MS_1252,1,,1030");
    check_billing_cells(&da, &sftp[2], "excel-da");
}
