//! PDFs as office suites export them, read into the order form they show: the LibreOffice
//! exports in tests/fixtures/office-pdfs (made by scripts/fixtures/office-pdfs.sh, which CI
//! cannot run, so they are committed) and Word-like text layouts (each word its own
//! positioned run, as Word's "Save as PDF" writes them) built here.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, StringFormat, dictionary};

use crate::forms::form::{OrderForm, Value, interpret};
use crate::forms::raw::{RawForm, ReadLimits};
use crate::forms::read::pdf::read_pdf;
use crate::rules::finding::Rule;

fn fixture(name: &str) -> &'static [u8] {
    match name {
        "table-wrapped" => include_bytes!("../../../tests/fixtures/office-pdfs/table-wrapped.pdf"),
        "label-above" => include_bytes!("../../../tests/fixtures/office-pdfs/label-above.pdf"),
        "two-columns" => include_bytes!("../../../tests/fixtures/office-pdfs/two-columns.pdf"),
        "empty-phone-hint" => {
            include_bytes!("../../../tests/fixtures/office-pdfs/empty-phone-hint.pdf")
        }
        "form-fields" => include_bytes!("../../../tests/fixtures/office-pdfs/form-fields.pdf"),
        "our-form-filled" => {
            include_bytes!("../../../tests/fixtures/office-pdfs/our-form-filled.pdf")
        }
        "our-form-blank-sftp" => {
            include_bytes!("../../../tests/fixtures/office-pdfs/our-form-blank-sftp.pdf")
        }
        "form-check-boxes" => {
            include_bytes!("../../../tests/fixtures/office-pdfs/form-check-boxes.pdf")
        }
        "form-fields-flattened" => {
            include_bytes!("../../../tests/fixtures/office-pdfs/form-fields-flattened.pdf")
        }
        _ => panic!("no fixture {name}"),
    }
}

fn read(bytes: &[u8]) -> RawForm {
    read_pdf(bytes, "attachment:Bestilling.pdf", &ReadLimits::default()).unwrap()
}

fn form(bytes: &[u8]) -> OrderForm {
    let raw = read(bytes);
    interpret(&raw).unwrap_or_else(|| panic!("not read as a form: {raw:?}"))
}

/// The form the generator fills in (scripts/fixtures/office_pdfs.py `ROWS`), as read.
fn assert_filled_form(name: &str, form: &OrderForm) {
    let text = |code| {
        form.text(code)
            .unwrap_or_else(|| panic!("{name}: no {code}"))
    };
    assert_eq!(text("bestillings_id"), "BST-40417", "{name}");
    assert_eq!(text("environment"), "produktion", "{name}");
    assert_eq!(text("org_name"), "Eksempel Kommune", "{name}");
    assert_eq!(text("org_cvr"), "34031355", "{name}");
    assert_eq!(text("contact_name"), "Jens Hansen", "{name}");
    assert_eq!(text("contact_email"), "jens.hansen@eksempel.dk", "{name}");
    assert_eq!(text("system_name"), "Borgerportalen", "{name}");
    assert_eq!(
        text("system_uuid"),
        "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
        "{name}"
    );
    assert_eq!(text("service_name"), "Adresseopslag", "{name}");
    assert_eq!(
        text("current_url"),
        "https://ws.eksempel.dk:8443/adresse/v1",
        "{name}"
    );
    assert_eq!(
        text("new_url"),
        "https://ws2.eksempel.dk:8443/adresse/v2",
        "{name}"
    );
    assert_eq!(
        text("comment"),
        "Skiftet sker i vores servicevindue.",
        "{name}"
    );
    assert!(form.desired.is_some(), "{name}: no date");
    assert_eq!(
        form.fields.get("changes"),
        Some(&Value::List(vec!["url".into()])),
        "{name}"
    );
    assert!(
        form.findings.is_empty(),
        "{name}: findings {:?}",
        form.findings
    );
}

#[test]
fn libreoffice_table_with_labels_wrapped_in_their_cells() {
    let f = form(fixture("table-wrapped"));
    assert_filled_form("table-wrapped", &f);
    assert_eq!(f.text("contact_phone"), Some("+4512345678"));
}

#[test]
fn libreoffice_labels_above_their_values_and_a_hint_below_an_empty_one() {
    let f = form(fixture("label-above"));
    assert_filled_form("label-above", &f);
    // "Service UUID" was left empty: its grey hint "Webservicens UUID (valgfrit)" is no value.
    assert!(!f.fields.contains_key("service_uuid"), "{:?}", f.fields);
}

#[test]
fn libreoffice_two_column_page_is_read_column_by_column() {
    let f = form(fixture("two-columns"));
    assert_filled_form("two-columns", &f);
    assert_eq!(f.text("contact_phone"), Some("+4512345678"));
}

#[test]
fn an_empty_optional_field_showing_its_hint_is_absent_not_rejected() {
    let f = form(fixture("empty-phone-hint"));
    assert_filled_form("empty-phone-hint", &f);
    assert!(!f.fields.contains_key("contact_phone"), "{:?}", f.fields);
    assert!(!f.findings.iter().any(|x| x.field == Some("contact_phone")));
}

#[test]
fn libreoffice_form_fields_with_escaped_names_and_tick_boxes_drawn_as_text() {
    let raw = read(fixture("form-fields"));
    let labels: Vec<&str> = raw.entries.iter().map(|e| e.label.as_str()).collect();
    // "#C3#98nsket tidspunkt for #C3#A6ndring" in the PDF; "CVR-nr." is a field "CVR-nr" with
    // a kid "Widget" whose tooltip is the label; "Tekstfelt 2" has its label as tooltip.
    assert!(
        labels.contains(&"Ønsket tidspunkt for ændring"),
        "{labels:?}"
    );
    assert!(labels.contains(&"CVR-nr."), "{labels:?}");
    assert!(labels.contains(&"Miljø"), "{labels:?}");
    assert_filled_form("form-fields", &form(fixture("form-fields")));
    assert_filled_form(
        "form-fields-flattened",
        &form(fixture("form-fields-flattened")),
    );
}

#[test]
fn our_own_form_filled_in_and_exported_by_libreoffice() {
    // examples/filled_form.rs: a valid URL change; phone, service UUID, serial and comment
    // left empty, showing the blank form's grey hints.
    let f = form(fixture("our-form-filled"));
    assert!(f.findings.is_empty(), "{:?}", f.findings);
    assert_eq!(f.text("org_cvr"), Some("39055414"));
    assert_eq!(f.text("environment"), Some("exttest"));
    assert_eq!(
        f.text("new_url"),
        Some("https://exttest2.fjordsoft.example/ws/v2/sagsopslag")
    );
    for empty in [
        "contact_phone",
        "service_uuid",
        "certificate_serial",
        "comment",
    ] {
        assert!(!f.fields.contains_key(empty), "{empty}: {:?}", f.fields);
    }
    assert_eq!(
        f.fields.get("changes"),
        Some(&Value::List(vec!["url".into()]))
    );
}

#[test]
fn our_blank_form_exported_by_libreoffice_is_empty_not_invalid() {
    // Every field shows its hint ("… (udfyldes, når overvågning er slået til)" too): all of
    // them empty, none read as a wrong value.
    let f = form(fixture("our-form-blank-sftp"));
    assert!(
        !f.findings.iter().any(|x| x.rule == Rule::FieldInvalid),
        "{:?}",
        f.findings
    );
    assert!(
        f.findings
            .iter()
            .any(|x| x.rule == Rule::FieldMissing && x.field == Some("sftp_user")),
        "{:?}",
        f.findings
    );
    let written: Vec<&&str> = f.fields.keys().filter(|k| **k != "changes").collect();
    assert!(written.is_empty(), "{:?}", f.fields);
}

#[test]
fn libreoffice_form_fields_with_check_boxes() {
    let raw = read(fixture("form-check-boxes"));
    assert!(
        raw.entries
            .iter()
            .any(|e| e.label == "URL" && e.value == "☒"),
        "{:?}",
        raw.entries
    );
    assert_filled_form("form-check-boxes", &form(fixture("form-check-boxes")));
}

// ------------------------------------------------------------------ Word-like text layouts

/// Width of a glyph in the test font (Helvetica without /Widths reads as 500/1000 em).
const GLYPH: f32 = 5.0;
/// A word space at size 10.
const SPACE: f32 = 2.8;

/// `text` at (x, y) as Word writes it: each word its own positioned run.
fn words(ops: &mut Vec<Operation>, x: f32, y: f32, text: &str) {
    let mut x = x;
    for w in text.split(' ') {
        let bytes: Vec<u8> = w
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        ops.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("Td", vec![x.into(), y.into()]),
            Operation::new("Tj", vec![Object::String(bytes, StringFormat::Literal)]),
            Operation::new("ET", vec![]),
        ]);
        x += GLYPH * w.chars().count() as f32 + SPACE;
    }
}

/// A one-page PDF of `ops` in WinAnsi Helvetica.
fn pdf(ops: Vec<Operation>) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let content = Content { operations: ops }.encode().unwrap();
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

const TITLE: &str = "\u{c6}ndring af teknisk konfiguration for serviceudbyders webservice";

#[test]
fn word_table_with_each_word_placed_and_a_wrapped_label() {
    let mut ops = Vec::new();
    words(&mut ops, 57.0, 800.0, TITLE);
    words(
        &mut ops,
        57.0,
        780.0,
        "Service er nede i weekenden, derfor denne bestilling.",
    );
    let mut y = 760.0;
    for (label, value) in [
        ("KOMBIT BestillingsID", "BST-777"),
        ("Miljø", "Eksternt testmiljø"),
        ("Organisation", "Eksempel Kommune"),
        ("CVR-nr.", "34031355"),
        ("Kontaktperson", "Jens Hansen"),
        ("E-mail", "jens@eksempel.dk"),
        ("Telefon", "Dansk telefonnummer med 8 cifre …"),
        ("It-system", "Borgerportalen"),
        ("It-system UUID", "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("It-systemrolle", "Serviceudbydersystem"),
        ("Service", "Adresseopslag"),
        ("Ændringer", "☒ URL"),
        ("Nuværende URL", "https://a.eksempel.dk/v1"),
        ("Ny URL", "https://b.eksempel.dk/v2"),
    ] {
        words(&mut ops, 57.0, y, label);
        words(&mut ops, 200.0, y, value);
        y -= 14.0;
    }
    // A label wrapped over two lines of its cell, its value beside the first.
    words(&mut ops, 57.0, y, "Ønsket tidspunkt");
    words(&mut ops, 200.0, y, "14-12-2026 kl. 10.00");
    words(&mut ops, 57.0, y - 12.0, "for ændring");
    let raw = read(&pdf(ops));
    let f = interpret(&raw).unwrap_or_else(|| panic!("{raw:?}"));
    assert_eq!(f.text("bestillings_id"), Some("BST-777"));
    assert_eq!(f.text("environment"), Some("exttest"));
    assert_eq!(f.text("service_name"), Some("Adresseopslag"));
    assert_eq!(f.text("new_url"), Some("https://b.eksempel.dk/v2"));
    assert!(f.desired.is_some(), "{raw:?}");
    assert!(!f.fields.contains_key("contact_phone"));
    assert!(
        !f.findings
            .iter()
            .any(|x| matches!(x.rule, Rule::FieldMissing | Rule::FieldInvalid)),
        "{:?}",
        f.findings
    );
    assert!(raw.text.contains("Service er nede"), "{:?}", raw.text);
}

#[test]
fn word_label_above_value_and_two_columns() {
    let mut ops = Vec::new();
    words(&mut ops, 57.0, 800.0, TITLE);
    let left = [
        ("KOMBIT BestillingsID", "BST-778"),
        ("Miljø", "Produktion"),
        ("Ønsket tidspunkt for ændring", "14-12-2026"),
        ("Organisation", "Eksempel Kommune"),
        ("CVR-nr.", "34031355"),
        ("Kontaktperson", "Jens Hansen"),
    ];
    let right = [
        ("E-mail", "jens@eksempel.dk"),
        ("It-system", "Borgerportalen"),
        ("It-system UUID", "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("It-systemrolle", "Serviceudbydersystem"),
        ("Service", "Adresseopslag"),
        ("Ændringer", "☒ SSL-certifikat"),
    ];
    let mut y = 770.0;
    for ((ll, lv), (rl, rv)) in left.iter().zip(right.iter()) {
        words(&mut ops, 57.0, y, ll);
        words(&mut ops, 310.0, y, rl);
        words(&mut ops, 57.0, y - 12.0, lv);
        words(&mut ops, 310.0, y - 12.0, rv);
        y -= 30.0;
    }
    let raw = read(&pdf(ops));
    let f = interpret(&raw).unwrap_or_else(|| panic!("{raw:?}"));
    assert_eq!(f.text("bestillings_id"), Some("BST-778"), "{raw:?}");
    assert_eq!(f.text("contact_name"), Some("Jens Hansen"));
    assert_eq!(f.text("contact_email"), Some("jens@eksempel.dk"));
    assert_eq!(
        f.text("system_uuid"),
        Some("6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(
        f.fields.get("changes"),
        Some(&Value::List(vec!["ssl_certificate".into()]))
    );
    assert!(
        !f.findings.iter().any(
            |x| matches!(x.rule, Rule::FieldMissing | Rule::FieldInvalid)
                && x.field != Some("certificate")
        ),
        "{:?}",
        f.findings
    );
}
