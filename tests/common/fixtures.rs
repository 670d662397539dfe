//! Fixtures for the daemon tests, built in code: a complete, valid `webservice` order form as
//! a real .docx (zip, deflate), and the mails that carry it — plus an auto-reply and a bounce
//! that quote it and must never be answered.
#![allow(dead_code)]

use std::io::Write;

use chrono::NaiveDate;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

/// The MIME type of a .docx.
pub const DOCX_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// The Danish public holidays of 2026–2035 (FORMS.md rule 4: Nytårsdag, Skærtorsdag,
/// Langfredag, Påskedag, 2. påskedag, Kristi Himmelfartsdag, Pinsedag, 2. pinsedag, Juledag,
/// 2. juledag), written out from the published calendar rather than computed: the tests' dates
/// must not come from `spdesk::rules::calendar`, the code under test.
#[rustfmt::skip]
const HOLIDAYS: &[&str] = &[
    "2026-01-01", "2026-04-02", "2026-04-03", "2026-04-05", "2026-04-06",
    "2026-05-14", "2026-05-24", "2026-05-25", "2026-12-25", "2026-12-26",
    "2027-01-01", "2027-03-25", "2027-03-26", "2027-03-28", "2027-03-29",
    "2027-05-06", "2027-05-16", "2027-05-17", "2027-12-25", "2027-12-26",
    "2028-01-01", "2028-04-13", "2028-04-14", "2028-04-16", "2028-04-17",
    "2028-05-25", "2028-06-04", "2028-06-05", "2028-12-25", "2028-12-26",
    "2029-01-01", "2029-03-29", "2029-03-30", "2029-04-01", "2029-04-02",
    "2029-05-10", "2029-05-20", "2029-05-21", "2029-12-25", "2029-12-26",
    "2030-01-01", "2030-04-18", "2030-04-19", "2030-04-21", "2030-04-22",
    "2030-05-30", "2030-06-09", "2030-06-10", "2030-12-25", "2030-12-26",
    "2031-01-01", "2031-04-10", "2031-04-11", "2031-04-13", "2031-04-14",
    "2031-05-22", "2031-06-01", "2031-06-02", "2031-12-25", "2031-12-26",
    "2032-01-01", "2032-03-25", "2032-03-26", "2032-03-28", "2032-03-29",
    "2032-05-06", "2032-05-16", "2032-05-17", "2032-12-25", "2032-12-26",
    "2033-01-01", "2033-04-14", "2033-04-15", "2033-04-17", "2033-04-18",
    "2033-05-26", "2033-06-05", "2033-06-06", "2033-12-25", "2033-12-26",
    "2034-01-01", "2034-04-06", "2034-04-07", "2034-04-09", "2034-04-10",
    "2034-05-18", "2034-05-28", "2034-05-29", "2034-12-25", "2034-12-26",
    "2035-01-01", "2035-03-22", "2035-03-23", "2035-03-25", "2035-03-26",
    "2035-05-03", "2035-05-13", "2035-05-14", "2035-12-25", "2035-12-26",
];
/// The extra closed days of the test config (`rules.extra_closed_days`), as "MM-DD".
const EXTRA_CLOSED: [&str; 2] = ["12-24", "12-31"];

/// Whether a change can be made on `day` by the tests' own calendar: Monday to Friday, not in
/// [`HOLIDAYS`] or [`EXTRA_CLOSED`]. Panics for a year the table does not cover (extend it).
pub fn is_working_day(day: NaiveDate) -> bool {
    use chrono::Datelike;
    assert!(
        (2026..=2035).contains(&day.year()),
        "fixtures: no holiday table for {day}; add that year's holidays to HOLIDAYS"
    );
    let iso = day.format("%Y-%m-%d").to_string();
    let month_day = day.format("%m-%d").to_string();
    day.weekday().number_from_monday() <= 5
        && !HOLIDAYS.contains(&iso.as_str())
        && !EXTRA_CLOSED.contains(&month_day.as_str())
}

/// The `n`-th working day after `day` (`day` itself never counts).
pub fn add_working_days(day: NaiveDate, n: u32) -> NaiveDate {
    let mut d = day;
    let mut left = n;
    while left > 0 {
        d = d.succ_opt().expect("a next day");
        if is_working_day(d) {
            left -= 1;
        }
    }
    d
}

/// `day` when it is a working day, else the next one.
pub fn working_day_on_or_after(day: NaiveDate) -> NaiveDate {
    let mut d = day;
    while !is_working_day(d) {
        d = d.succ_opt().expect("a next day");
    }
    d
}

/// Today in Copenhagen, the Helpdesk's time zone.
pub fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
}

/// A desired date that passes the time rules from today on: 15 working days ahead (well past
/// the default lead of 5, far below 365 days), never a weekend, a Danish public holiday or one
/// of the example config's extra closed days.
pub fn desired_date() -> NaiveDate {
    add_working_days(today(), 15)
}

/// The values of a valid `webservice` form that orders a new URL in the external test
/// environment (the host carries "exttest", as `url.env_mismatch` wants).
#[derive(Debug, Clone)]
pub struct WsForm {
    pub bestillings_id: String,
    pub desired: NaiveDate,
    pub contact_email: String,
}

impl WsForm {
    pub fn new(bestillings_id: &str, contact_email: &str) -> WsForm {
        WsForm {
            bestillings_id: bestillings_id.to_string(),
            desired: desired_date(),
            contact_email: contact_email.to_string(),
        }
    }

    /// Label | value rows, labels as FORMS.md names them; a value may span several lines.
    pub fn rows(&self) -> Vec<(&'static str, Vec<String>)> {
        let one = |s: &str| vec![s.to_string()];
        vec![
            ("KOMBIT BestillingsID", one(&self.bestillings_id)),
            ("Miljø", one("Eksternt testmiljø")),
            (
                "Ønsket tidspunkt for ændring",
                one(&format!("{} kl. 10:00", self.desired.format("%d-%m-%Y"))),
            ),
            ("Organisation", one("Fjordsoft ApS")),
            ("CVR-nr.", one("39055414")),
            ("Kontaktperson", one("Karin Holm")),
            ("E-mail", one(&self.contact_email)),
            ("It-system", one("SagsPilot")),
            (
                "It-system UUID",
                one("bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0"),
            ),
            ("It-systemrolle", one("Serviceudbydersystem")),
            ("Service", one("SagsOpslag")),
            (
                "Ændringer",
                vec![
                    "☐ SSL-certifikat".into(),
                    "☒ URL".into(),
                    "☐ Datatype (InfRef)".into(),
                    "☐ Sikkerhedsmodel".into(),
                ],
            ),
            (
                "Nuværende URL",
                one("https://exttest.fjordsoft.example/ws/v2/sagsopslag"),
            ),
            (
                "Ny URL",
                one("https://exttest2.fjordsoft.example/ws/v2/sagsopslag"),
            ),
        ]
    }

    /// The form as "Label: value" lines, as a person would quote it in a mail.
    pub fn as_text(&self) -> String {
        let mut out =
            String::from("Ændring af teknisk konfiguration for serviceudbyders webservice\n\n");
        for (label, lines) in self.rows() {
            if lines.len() == 1 {
                out.push_str(&format!("{label}: {}\n", lines[0]));
            } else {
                out.push_str(&format!("{label}:\n"));
                for l in lines {
                    out.push_str(&format!("  {l}\n"));
                }
            }
        }
        out
    }

    /// The form as a minimal Word document: a title and a 2-column table label | value.
    pub fn docx(&self) -> Vec<u8> {
        docx(
            "Ændring af teknisk konfiguration for serviceudbyders webservice",
            &self.rows(),
        )
    }

    /// The form as a filled PDF form (AcroForm).
    pub fn pdf(&self) -> Vec<u8> {
        acroform_pdf(
            "Ændring af teknisk konfiguration for serviceudbyders webservice",
            &self.rows(),
        )
    }
}

/// A one-page PDF form as a form editor makes one from the Word form: `title` in the text
/// layer, a text field per row whose name the editor made up ("Tekst1") and whose tooltip is
/// the row's label, and a check box per tick item of a row of tick boxes ("☒ URL"), named by
/// the item and set to its state.
pub fn acroform_pdf(title: &str, rows: &[(&str, Vec<String>)]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, StringFormat, dictionary};

    let text = |s: &str| Object::String(lopdf::encode_utf16_be(s), StringFormat::Hexadecimal);
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    // WinAnsi agrees with Latin-1 on the title's letters (Æ, ø, å).
    let title_bytes: Vec<u8> = title
        .chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 title"))
        .collect();
    let operations = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 14.into()]),
        Operation::new("Td", vec![40.into(), 800.into()]),
        Operation::new(
            "Tj",
            vec![Object::String(title_bytes, StringFormat::Literal)],
        ),
        Operation::new("ET", vec![]),
    ];
    let content = Content { operations }.encode().expect("the page's content");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1 },
        ),
    );
    let mut fields: Vec<Object> = Vec::new();
    for (i, (label, lines)) in rows.iter().enumerate() {
        let ticks: Vec<(bool, &str)> = lines
            .iter()
            .filter_map(|l| {
                l.strip_prefix("☒ ")
                    .map(|item| (true, item))
                    .or_else(|| l.strip_prefix("☐ ").map(|item| (false, item)))
            })
            .collect();
        if !ticks.is_empty() && ticks.len() == lines.len() {
            for (on, item) in ticks {
                let state = if on { "Yes" } else { "Off" };
                let id = doc.add_object(dictionary! {
                    "FT" => "Btn", "T" => text(item), "V" => state, "AS" => state,
                    "Subtype" => "Widget", "P" => page_id,
                });
                fields.push(id.into());
            }
        } else {
            let id = doc.add_object(dictionary! {
                "FT" => "Tx", "T" => text(&format!("Tekst{}", i + 1)), "TU" => text(label),
                "V" => text(&lines.join("\n")), "Subtype" => "Widget", "P" => page_id,
            });
            fields.push(id.into());
        }
    }
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages_id,
        "AcroForm" => dictionary! { "Fields" => fields },
    });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("the PDF is written");
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn paragraph(text: &str) -> String {
    format!(
        "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
        xml_escape(text)
    )
}

/// A .docx with `title` and a table of `rows` (one paragraph per value line).
pub fn docx(title: &str, rows: &[(&str, Vec<String>)]) -> Vec<u8> {
    let mut body = paragraph(title);
    body.push_str("<w:tbl><w:tblPr><w:tblW w:w=\"0\" w:type=\"auto\"/></w:tblPr>");
    for (label, lines) in rows {
        body.push_str("<w:tr><w:tc>");
        body.push_str(&paragraph(label));
        body.push_str("</w:tc><w:tc>");
        for l in lines {
            body.push_str(&paragraph(l));
        }
        body.push_str("</w:tc></w:tr>");
    }
    body.push_str("</w:tbl>");
    body.push_str(&paragraph(
        "Formularen sendes til Serviceplatformens Helpdesk.",
    ));
    let document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{body}</w:body></w:document>"
    );
    docx_package(&document)
}

/// A .docx package (zip, deflate) whose word/document.xml is `document`, as it is given.
pub fn docx_package(document: &str) -> Vec<u8> {
    let content_types = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
        <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
        <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
        <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
        <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
        </Types>";
    let rels = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
        <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
        <Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
        </Relationships>";

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", rels),
        ("word/document.xml", document),
    ] {
        zip.start_file(name, options).expect("zip entry");
        zip.write_all(data.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish").into_inner()
}

/// The headers every requester's mail here carries: Karin Holm writing to the Helpdesk, dated now.
fn requester_mail<'x>(
    from: &'x str,
    to: &'x str,
    subject: &'x str,
    message_id: &'x str,
) -> MessageBuilder<'x> {
    MessageBuilder::new()
        .from(("Karin Holm", from))
        .to(("Serviceplatformens Helpdesk", to))
        .subject(subject)
        .message_id(message_id)
        .date(chrono::Utc::now().timestamp())
}

/// A mail from `from` to `to` with a short text and `docx` attached as Bestilling.docx.
pub fn form_mail(from: &str, to: &str, subject: &str, message_id: &str, docx: &[u8]) -> Vec<u8> {
    attachment_mail(
        (from, to, subject, message_id),
        (DOCX_TYPE, "Bestilling.docx", docx),
    )
}

/// A mail with a short text and one attachment. `head` is (from, to, subject, message id),
/// `file` is (content type, file name, bytes).
pub fn attachment_mail(head: (&str, &str, &str, &str), file: (&str, &str, &[u8])) -> Vec<u8> {
    let (from, to, subject, message_id) = head;
    let (content_type, name, bytes) = file;
    requester_mail(from, to, subject, message_id)
        .text_body("Hej\n\nHermed vores bestilling, se vedhæftede formular.\n\n/Karin\n")
        .attachment(content_type, name, bytes.to_vec())
        .write_to_vec()
        .expect("the mail builds")
}

/// `from` forwards `original` (a whole mail) to `to` as an attachment (message/rfc822,
/// "Videresend som vedhæftet fil"), with a short note of their own.
pub fn forward_as_attachment(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    original: &[u8],
) -> Vec<u8> {
    let date = chrono::Utc::now().to_rfc2822();
    let mut raw = format!(
        "From: Karin Holm <{from}>\r\n\
         To: Serviceplatformens Helpdesk <{to}>\r\n\
         Subject: {subject}\r\n\
         Date: {date}\r\n\
         Message-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"fwd-boundary\"\r\n\
         \r\n\
         --fwd-boundary\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hej\r\n\
         \r\n\
         Jeg videresender min kollegas bestilling, den ligger i den vedhæftede mail.\r\n\
         \r\n\
         /Karin\r\n\
         --fwd-boundary\r\n\
         Content-Type: message/rfc822; name=\"Bestilling.eml\"\r\n\
         Content-Disposition: attachment; filename=\"Bestilling.eml\"\r\n\
         \r\n"
    )
    .into_bytes();
    raw.extend_from_slice(original);
    raw.extend_from_slice(b"\r\n--fwd-boundary--\r\n");
    raw
}

/// `from` forwards a mail inline, as Gmail writes it: a short note, then
/// "---------- Forwarded message ---------", the original's From/Date/Subject/To (its own
/// subject, no "Fwd:") and its text.
pub fn forward_inline(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    original: (&str, &str, &str),
) -> Vec<u8> {
    let (original_from, original_subject, original_text) = original;
    let body = format!(
        "Hej\n\nSe bestillingen herunder.\n\n/Karin\n\n\
         ---------- Forwarded message ---------\n\
         From: {original_from}\n\
         Date: {}\n\
         Subject: {original_subject}\n\
         To: Karin Holm <{from}>\n\n\n\
         {original_text}",
        chrono::Utc::now().format("%a, %-d %b %Y at %H:%M")
    );
    requester_mail(from, to, subject, message_id)
        .text_body(body)
        .write_to_vec()
        .expect("the mail builds")
}

/// An out-of-office answer from `from` that quotes a complete form: marked
/// `Auto-Submitted: auto-replied`, so it must never be answered.
pub fn auto_reply(from: &str, to: &str, message_id: &str, form: &WsForm) -> Vec<u8> {
    let text = format!(
        "Jeg er på ferie og læser ikke min post.\n\n> {}",
        form.as_text().replace('\n', "\n> ")
    );
    MessageBuilder::new()
        .from(("Karin Holm", from))
        .to(to)
        .subject("Automatisk svar: Bestilling")
        .message_id(message_id)
        .date(chrono::Utc::now().timestamp())
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .text_body(text)
        .attachment(DOCX_TYPE, "Bestilling.docx", form.docx())
        .write_to_vec()
        .expect("the mail builds")
}

/// A delivery status notification (RFC 3464) from MAILER-DAEMON that returns a mail which
/// carried a form in its text.
pub fn bounce(daemon: &str, to: &str, message_id: &str, form: &WsForm) -> Vec<u8> {
    let date = chrono::Utc::now().to_rfc2822();
    format!(
        "From: Mail Delivery System <{daemon}>\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <{message_id}>\r\n\
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
         Final-Recipient: rfc822; nobody@elsewhere.test\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: message/rfc822\r\n\
         \r\n\
         From: {to}\r\n\
         To: nobody@elsewhere.test\r\n\
         Subject: Bestilling\r\n\
         Message-ID: <returned.{message_id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {}\r\n\
         --b1--\r\n",
        form.as_text().replace('\n', "\r\n")
    )
    .into_bytes()
}

/// The headers of a received mail the tests look at.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub auto_submitted: Option<String>,
    pub x_loop: Option<String>,
    pub text: String,
    /// The body's first line: what kind of receipt it is (RECEIPTS.md), e.g. "Kvittering for
    /// modtagelse"; the subject is the same for every receipt of an order.
    pub heading: String,
}

/// Reads the headers of `raw` (as fetched over IMAP).
pub fn received(raw: &[u8]) -> Received {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| panic!("not a mail: {}", String::from_utf8_lossy(raw)));
    let ids = |v: &mail_parser::HeaderValue| -> Vec<String> {
        match v {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let raw_header = |name: &str| {
        m.header_raw(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Received {
        message_id: m.message_id().unwrap_or("").to_string(),
        subject: m.subject().unwrap_or("").to_string(),
        in_reply_to: ids(m.in_reply_to()),
        references: ids(m.references()),
        auto_submitted: raw_header("Auto-Submitted"),
        x_loop: raw_header("X-Loop"),
        text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
        heading: m
            .body_text(0)
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
            .unwrap_or_default(),
    }
}

/// Outlook's winmail.dat (TNEF) as Outlook writes it in Rich Text mode, holding one file:
/// `file` under an 8.3 title, with `name` as its long file name in the attachment's MAPI
/// properties (PR_ATTACH_LONG_FILENAME, UTF-16). Checksums are correct.
pub fn winmail_dat(name: &str, file: &[u8]) -> Vec<u8> {
    fn attr(out: &mut Vec<u8>, level: u8, tag: u32, data: &[u8]) {
        out.push(level);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        let sum = data.iter().fold(0u16, |s, b| s.wrapping_add(u16::from(*b)));
        out.extend_from_slice(&sum.to_le_bytes());
    }
    let mut t = 0x223E_9F78u32.to_le_bytes().to_vec();
    t.extend_from_slice(&0x1234u16.to_le_bytes());
    attr(&mut t, 1, 0x0008_9006, &0x0001_0000u32.to_le_bytes()); // attTnefVersion
    attr(&mut t, 1, 0x0006_9007, &[0xE4, 0x04, 0, 0, 0, 0, 0, 0]); // attOemCodepage 1252
    attr(&mut t, 1, 0x0001_8008, b"IPM.Microsoft Mail.Note\0"); // attMessageClass
    attr(&mut t, 2, 0x0006_9002, &[0; 14]); // attAttachRendData
    attr(&mut t, 2, 0x0001_8010, b"BESTIL~1.DOC\0"); // attAttachTitle (8.3)
    attr(&mut t, 2, 0x0006_800F, file); // attAttachData
    // attAttachment: PR_ATTACH_METHOD = 1 (by value), PR_ATTACH_LONG_FILENAME (PT_UNICODE).
    let mut props = 2u32.to_le_bytes().to_vec();
    props.extend_from_slice(&0x0003u16.to_le_bytes());
    props.extend_from_slice(&0x3705u16.to_le_bytes());
    props.extend_from_slice(&1u32.to_le_bytes());
    props.extend_from_slice(&0x001Fu16.to_le_bytes());
    props.extend_from_slice(&0x3707u16.to_le_bytes());
    props.extend_from_slice(&1u32.to_le_bytes());
    let long: Vec<u8> = name
        .encode_utf16()
        .chain([0])
        .flat_map(u16::to_le_bytes)
        .collect();
    props.extend_from_slice(&(long.len() as u32).to_le_bytes());
    props.extend_from_slice(&long);
    props.resize(props.len() + (4 - long.len() % 4) % 4, 0);
    attr(&mut t, 2, 0x0006_9005, &props);
    t
}

/// A mail as Outlook sends it in Rich Text mode: a short text and `winmail` attached as
/// `winmail.dat` (application/ms-tnef), the form only inside it.
pub fn outlook_rtf_mail(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    winmail: &[u8],
) -> Vec<u8> {
    requester_mail(from, to, subject, message_id)
        .header(
            "X-MS-TNEF-Correlator",
            Raw::new("<00000000BE6B@fa.example.test>"),
        )
        .text_body("Hej\n\nHermed vores bestilling.\n\n/Karin\n")
        .attachment("application/ms-tnef", "winmail.dat", winmail.to_vec())
        .write_to_vec()
        .expect("the mail builds")
}

/// An SFTP form typed in a mail from [`super::FA`] to `helpdesk`, for `day` at 10:00.
pub fn sftp_typed_mail(helpdesk: &str, id: &str, day: NaiveDate) -> Vec<u8> {
    let desired = day.format("%d-%m-%Y");
    let fa = super::FA;
    format!(
        "From: Lars Bæk Poulsen <{fa}>\n\
         To: Serviceplatformens Helpdesk <{helpdesk}>\n\
         Subject: Bestilling: overvågning af filafhentning {id}\n\
         Message-ID: <{id}@example.test>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\n\
         \n\
         Ændring af overvågning af filafhentning (SFTP-indbakke)\n\
         \n\
         KOMBIT BestillingsID: {id}\n\
         Miljø: Produktion\n\
         Ønsket tidspunkt for ændring: {desired} kl. 10.00\n\
         Organisation: Borgerdata I/S\n\
         CVR-nr.: 54921942\n\
         Kontaktperson: Lars Bæk Poulsen\n\
         E-mail: {fa}\n\
         It-system: FamilieFlow\n\
         It-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2\n\
         It-systemrolle: Modtagersystem\n\
         SFTP-bruger: bd_familieflow\n\
         Overvågning: Til\n\
         Tidsgrænse for afhentning (timer): 24\n\
         Advisering til: drift@example.test\n"
    )
    .into_bytes()
}
