//! Billing of executed standard services (DESIGN.md "Billing"): the CSV lines, the billing
//! period of `billing export`, and the mail that carries the CSV to `helpdesk.billing_to`.
//!
//! Pure: no I/O, no clock. Which orders are billed, and marking them billed in the same
//! transaction as the mail, is the shell's job (`jobs`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use mail_builder::headers::content_type::ContentType;
use sha2::{Digest as _, Sha256};

use crate::config::{Billing, Prices};
use crate::mail::header_value::{
    self, Envelope, HeaderText, own_message_id, sender_and_recipients,
};
use crate::rules::calendar::{TZ, danish_date, local_datetime};

/// The CSV header, exactly (a contract other tools rely on).
pub const CSV_HEADER: &str =
    "bestillings_id,ref,kind,org_name,org_cvr,system_name,executed_at,price,currency,billed_at";

/// One executed order as billed.
#[derive(Debug, Clone, PartialEq)]
pub struct BillingLine {
    pub bestillings_id: Option<String>,
    pub reference: String,
    pub kind: Option<String>,
    pub org_name: Option<String>,
    pub org_cvr: Option<String>,
    pub system_name: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
    pub billed_at: Option<DateTime<Utc>>,
}

/// The dialect of the billing CSV (`[billing] csv`).
///
/// Why two: the DESIGN.md format (`rfc4180`) is what tools read, but a Danish spreadsheet's
/// default import expects `;` between cells and a decimal comma, and reads a file without a
/// BOM in the system's 8-bit charset (Danish letters turn into mojibake, amounts into text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvDialect {
    /// UTF-8 without BOM, `,` separators, amounts with a dot ("4500.00").
    #[default]
    Rfc4180,
    /// UTF-8 with a BOM, `;` separators, amounts with a decimal comma ("4500,00").
    ExcelDa,
}

impl CsvDialect {
    /// The config value.
    pub fn name(self) -> &'static str {
        match self {
            CsvDialect::Rfc4180 => "rfc4180",
            CsvDialect::ExcelDa => "excel-da",
        }
    }

    /// The dialect named in the config, if it is one.
    pub fn parse(s: &str) -> Option<CsvDialect> {
        match s {
            "rfc4180" => Some(CsvDialect::Rfc4180),
            "excel-da" => Some(CsvDialect::ExcelDa),
            _ => None,
        }
    }

    /// The character between cells.
    pub fn separator(self) -> char {
        match self {
            CsvDialect::Rfc4180 => ',',
            CsvDialect::ExcelDa => ';',
        }
    }

    /// What the file starts with: the UTF-8 BOM for `excel-da`.
    fn preamble(self) -> &'static str {
        match self {
            CsvDialect::Rfc4180 => "",
            CsvDialect::ExcelDa => "\u{feff}",
        }
    }

    /// How the billing mail describes the attachment.
    pub fn description(self) -> &'static str {
        match self {
            CsvDialect::Rfc4180 => "UTF-8, kommasepareret",
            CsvDialect::ExcelDa => "UTF-8 med BOM, semikolonsepareret, decimalkomma",
        }
    }
}

/// One CSV field, RFC 4180: quoted when it holds a comma, a quote or a line break (quotes
/// doubled).
pub fn csv_field(s: &str) -> Cow<'_, str> {
    quoted(s, ',')
}

/// One CSV field for a dialect's separator: quoted when it holds the separator, a quote or a
/// line break (quotes doubled).
fn quoted(s: &str, sep: char) -> Cow<'_, str> {
    if s.contains([sep, '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// A text cell, guarded against CSV injection whatever separator a spreadsheet guesses.
///
/// A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or CR as a formula
/// (OWASP "CSV Injection"). Checking only the value's first character is not enough: a
/// spreadsheet that splits on `;`, tab, `|` or spaces (Excel's import guesses) turns
/// `Kommune;=cmd|…` into a cell `=cmd|…`. So a `'` goes before such a character at the start
/// of the value and after every separator a spreadsheet may split on (`,;|`, tab and other
/// whitespace); the `'` makes the spreadsheet read the rest as text. After a separator a `+`
/// or `-` followed by a space or the end is punctuation ("Nord - Syd"), never a formula, and
/// is left alone. Prices and times are written by spdesk as plain numbers and never pass here.
fn text_field(s: Option<&str>, sep: char) -> Cow<'_, str> {
    let s = s.unwrap_or("");
    let mut out = String::new();
    let mut changed = false;
    let mut cell_start = true;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let formula = match c {
            '=' | '@' | '\t' | '\r' => true,
            '+' | '-' => out.is_empty() || chars.peek().is_some_and(|n| !n.is_whitespace()),
            _ => false,
        };
        if cell_start && formula {
            out.push('\'');
            changed = true;
        }
        out.push(c);
        cell_start = matches!(c, ',' | ';' | '|') || c.is_whitespace();
    }
    if changed {
        Cow::Owned(quoted(&out, sep).into_owned())
    } else {
        quoted(s, sep)
    }
}

/// A price as a plain number with a dot and two decimals ("4500.00"); empty when unknown.
pub fn price_text(price: Option<f64>) -> String {
    match price {
        Some(p) if p.is_finite() => format!("{p:.2}"),
        _ => String::new(),
    }
}

/// A time in the CSV: RFC 3339 in Copenhagen time (as `orders list --json`); empty if none.
fn time_text(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.with_timezone(&TZ).to_rfc3339())
        .unwrap_or_default()
}

/// A price as the dialect writes it: "4500.00" (`rfc4180`) or "4500,00" (`excel-da`), never
/// with a thousands separator, so a spreadsheet reads a number.
fn dialect_price(price: Option<f64>, dialect: CsvDialect) -> String {
    let p = price_text(price);
    match dialect {
        CsvDialect::Rfc4180 => p,
        CsvDialect::ExcelDa => p.replace('.', ","),
    }
}

/// The CSV: the header and one line per order, CRLF line ends (RFC 4180), UTF-8, in the
/// dialect's separator, number format and preamble.
pub fn csv(lines: &[BillingLine], prices: &Prices, currency: &str, dialect: CsvDialect) -> String {
    let sep = dialect.separator();
    let mut out = String::with_capacity(128 * (lines.len() + 1));
    out.push_str(dialect.preamble());
    out.push_str(&CSV_HEADER.replace(',', &sep.to_string()));
    out.push_str("\r\n");
    for l in lines {
        let price = l.kind.as_deref().and_then(|k| prices.get(k));
        let fields: [Cow<'_, str>; 10] = [
            text_field(l.bestillings_id.as_deref(), sep),
            text_field(Some(&l.reference), sep),
            text_field(l.kind.as_deref(), sep),
            text_field(l.org_name.as_deref(), sep),
            text_field(l.org_cvr.as_deref(), sep),
            text_field(l.system_name.as_deref(), sep),
            Cow::Owned(time_text(l.executed_at)),
            Cow::Owned(dialect_price(price, dialect)),
            text_field(Some(currency), sep),
            Cow::Owned(time_text(l.billed_at)),
        ];
        out.push_str(&fields.join(&sep.to_string()));
        out.push_str("\r\n");
    }
    out
}

/// The sum of the lines' prices (unknown kinds count nothing).
pub fn total(lines: &[BillingLine], prices: &Prices) -> f64 {
    lines
        .iter()
        .filter_map(|l| l.kind.as_deref().and_then(|k| prices.get(k)))
        .filter(|p| p.is_finite())
        .sum()
}

/// An amount in Danish human form: "4.500,00 kr." (RECEIPTS.md); other currencies get their
/// code ("1.250,50 EUR").
pub fn danish_amount(amount: f64, currency: &str) -> String {
    if !amount.is_finite() {
        return String::new();
    }
    let cents = (amount.abs() * 100.0).round();
    // Whole kroner as digits; an f64 beyond u64 is not an amount anyone bills.
    let whole = (cents / 100.0).trunc().min(u64::MAX as f64) as u64;
    let frac = (cents % 100.0) as u64;
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    let sign = if amount < 0.0 && cents > 0.0 { "-" } else { "" };
    let unit = if currency == "DKK" { "kr." } else { currency };
    format!("{sign}{grouped},{frac:02} {unit}")
}

/// A billing period: one calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub month: u32,
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("--period \"{s}\": give a month as YYYY-MM, e.g. 2026-11");
        let (y, m) = s.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period { year, month })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl Period {
    /// The month's start and the next month's start as instants (Copenhagen midnight).
    pub fn bounds(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let first = NaiveDate::from_ymd_opt(self.year, self.month, 1)?;
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year.checked_add(1)?, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)?
        };
        let midnight = NaiveTime::MIN;
        Some((
            local_datetime(first, midnight)?.with_timezone(&Utc),
            local_datetime(next, midnight)?.with_timezone(&Utc),
        ))
    }

    /// Whether `t` falls in the month (Copenhagen time).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.bounds().is_some_and(|(a, b)| a <= t && t < b)
    }
}

/// The billing mail's Message-ID: from the run's time and the references billed, so the same
/// run composed twice is the same mail.
pub fn message_id(lines: &[BillingLine], billed_at: DateTime<Utc>, domain: &str) -> String {
    let mut h = Sha256::new();
    for l in lines {
        h.update(l.reference.as_bytes());
        h.update(b"\n");
    }
    let hash = hex::encode(h.finalize());
    let what = format!(
        "billing.{}.{}",
        billed_at.format("%Y%m%dT%H%M%SZ"),
        hash.get(..12).unwrap_or(&hash)
    );
    crate::mail::own_id::make(&what, domain)
}

/// The mail to `billing_to` with the CSV attached: its Message-ID and raw bytes.
pub fn compose(
    lines: &[BillingLine],
    b: &Billing,
    billed_at: DateTime<Utc>,
    from: &str,
    to: &[String],
) -> Result<(String, Vec<u8>), String> {
    let (sender, recipients) = sender_and_recipients(from, to, "helpdesk.billing_to")?;
    let id = message_id(lines, billed_at, sender.domain());
    let day = billed_at.with_timezone(&TZ).date_naive();
    let n = lines.len();
    let subject = format!(
        "Fakturering {}: {n} {}",
        day.format("%d-%m-%Y"),
        if n == 1 {
            "gennemført bestilling"
        } else {
            "gennemførte bestillinger"
        }
    );
    let mut text = format!(
        "Fakturering af gennemførte standardydelser, {}.\n\n\
         Antal bestillinger: {n}\nI alt: {}\n\n\
         Linjerne er vedhæftet som CSV ({}). Hver bestilling faktureres én gang.\n\n",
        danish_date(day),
        danish_amount(total(lines, &b.prices), &b.currency),
        b.csv.description(),
    );
    for l in lines {
        text.push_str(&format!(
            "- {} {} {}\n",
            l.reference,
            l.bestillings_id.as_deref().unwrap_or(""),
            l.org_name.as_deref().unwrap_or("")
        ));
    }
    let name = format!("fakturering-{}.csv", day.format("%Y-%m-%d"));
    let raw = header_value::builder(Envelope::generated(
        &sender,
        &recipients,
        &HeaderText::new(&subject),
        &own_message_id(&id)?,
        billed_at.timestamp(),
    ))
    .text_body(text)
    .attachment(
        ContentType::new("text/csv").attribute("charset", "utf-8"),
        name,
        csv(lines, &b.prices, &b.currency, b.csv).into_bytes(),
    )
    .write_to_vec()
    .map_err(|e| e.to_string())?;
    Ok((id, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICES: Prices = Prices {
        webservice: 4500.0,
        sftp: 2500.5,
    };

    /// The billing config of the tests: DKK, the default dialect.
    fn billing() -> Billing {
        Billing {
            prices: PRICES,
            currency: "DKK".into(),
            csv: CsvDialect::Rfc4180,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn line(reference: &str, kind: &str) -> BillingLine {
        BillingLine {
            bestillings_id: Some("BD-1".into()),
            reference: reference.into(),
            kind: Some(kind.into()),
            org_name: Some("Borgerdata I/S".into()),
            org_cvr: Some("54921942".into()),
            system_name: Some("FamilieFlow".into()),
            executed_at: Some(utc("2026-11-30T10:05:00+01:00")),
            billed_at: Some(utc("2026-12-01T06:00:00+01:00")),
        }
    }

    #[test]
    fn csv_has_the_exact_header_and_plain_numbers() {
        let c = csv(
            &[line("SP-2026-00001", "webservice")],
            &PRICES,
            "DKK",
            CsvDialect::Rfc4180,
        );
        let mut rows = c.split("\r\n");
        assert_eq!(rows.next(), Some(CSV_HEADER));
        assert_eq!(
            rows.next(),
            Some(
                "BD-1,SP-2026-00001,webservice,Borgerdata I/S,54921942,FamilieFlow,2026-11-30T10:05:00+01:00,4500.00,DKK,2026-12-01T06:00:00+01:00"
            )
        );
        assert_eq!(rows.next(), Some(""));
        assert_eq!(rows.next(), None);
        assert_eq!(
            csv(&[], &PRICES, "DKK", CsvDialect::Rfc4180),
            format!("{CSV_HEADER}\r\n")
        );
    }

    /// `excel-da`: a BOM, `;` between cells, a decimal comma; a `;` in a value is quoted, a
    /// comma is not; Danish letters stay as they are (UTF-8).
    #[test]
    fn excel_da_has_a_bom_semicolons_and_decimal_commas() {
        let mut l = line("SP-2026-00001", "sftp");
        l.org_name = Some("Ærø Kommune; Øst, Syd".into());
        let c = csv(&[l], &PRICES, "DKK", CsvDialect::ExcelDa);
        assert!(c.starts_with('\u{feff}'), "{c:?}");
        let mut rows = c.trim_start_matches('\u{feff}').split("\r\n");
        assert_eq!(
            rows.next(),
            Some(
                "bestillings_id;ref;kind;org_name;org_cvr;system_name;executed_at;price;currency;billed_at"
            )
        );
        assert_eq!(
            rows.next(),
            Some(
                "BD-1;SP-2026-00001;sftp;\"Ærø Kommune; Øst, Syd\";54921942;FamilieFlow;2026-11-30T10:05:00+01:00;2500,50;DKK;2026-12-01T06:00:00+01:00"
            )
        );
        assert_eq!(rows.next(), Some(""));
        assert_eq!(dialect_price(Some(4500.0), CsvDialect::ExcelDa), "4500,00");
        assert_eq!(dialect_price(None, CsvDialect::ExcelDa), "");
        assert_eq!(CsvDialect::default(), CsvDialect::Rfc4180);
        for d in [CsvDialect::Rfc4180, CsvDialect::ExcelDa] {
            assert_eq!(CsvDialect::parse(d.name()), Some(d));
        }
        assert_eq!(CsvDialect::parse("excel"), None);
        // A formula after a `;` is still defused in this dialect.
        let mut evil = line("SP-2026-00002", "sftp");
        evil.org_name = Some("Kommune;=cmd|' /C calc'!A0".into());
        let c = csv(&[evil], &PRICES, "DKK", CsvDialect::ExcelDa);
        assert!(c.contains("\"Kommune;'=cmd|' /C calc'!A0\""), "{c}");
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("Ærø Kommune; æøå"), "Ærø Kommune; æøå");
        let mut l = line("SP-2026-00002", "sftp");
        l.org_name = Some("Kommune, \"Nord\"".into());
        l.system_name = Some("=HYPERLINK(\"x\")".into());
        l.billed_at = None;
        l.kind = None;
        let c = csv(&[l], &PRICES, "DKK", CsvDialect::Rfc4180);
        let row = c.split("\r\n").nth(1).unwrap();
        assert_eq!(
            row,
            "BD-1,SP-2026-00002,,\"Kommune, \"\"Nord\"\"\",54921942,\"'=HYPERLINK(\"\"x\"\")\",2026-11-30T10:05:00+01:00,,DKK,"
        );
    }

    /// A spreadsheet that splits on `;`, tab, `|`, a space or a comma must not find a
    /// formula in any of the cells it makes.
    #[test]
    fn no_cell_starts_a_formula_whatever_the_separator() {
        let f = |s: &str| text_field(Some(s), ',').into_owned();
        assert_eq!(
            f("Kommune;=cmd|' /C calc'!A0"),
            "Kommune;'=cmd|' /C calc'!A0"
        );
        assert_eq!(f("a|@SUM(A1)"), "a|'@SUM(A1)");
        assert_eq!(f("a +1"), "a '+1");
        assert_eq!(f("a\t-2+3"), "a\t'-2+3");
        assert_eq!(f("a,=1"), "\"a,'=1\"");
        assert_eq!(f("a;\t=1"), "a;'\t'=1");
        assert_eq!(f("=1"), "'=1");
        assert_eq!(f("- x"), "'- x");
        // ordinary names and ids stay as they are
        for plain in [
            "Nord - Syd Kommune",
            "KMB-IT-0001",
            "a+b@c.dk",
            "SP-2026-00001",
            "",
        ] {
            assert_eq!(f(plain), plain);
        }
        // every cell of a row, split on any separator, is free of formulas
        let mut l = line("SP-2026-00003", "webservice");
        l.org_name = Some("Kommune;=cmd|' /C calc'!A0".into());
        l.system_name = Some("x\t@SUM(1)".into());
        l.bestillings_id = Some("BD 1 -1+1".into());
        let c = csv(&[l], &PRICES, "DKK", CsvDialect::Rfc4180);
        let row = c.split("\r\n").nth(1).unwrap();
        for cell in row.split([',', ';', '\t', '|', ' ', '"']) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} in {row:?}"
            );
        }
        assert!(row.contains(",4500.00,"), "the price stays a number: {row}");
    }

    #[test]
    fn prices_and_amounts() {
        assert_eq!(price_text(Some(2500.5)), "2500.50");
        assert_eq!(price_text(Some(0.0)), "0.00");
        assert_eq!(price_text(None), "");
        assert_eq!(price_text(Some(f64::NAN)), "");
        assert_eq!(danish_amount(4500.0, "DKK"), "4.500,00 kr.");
        assert_eq!(danish_amount(7000.5, "DKK"), "7.000,50 kr.");
        assert_eq!(danish_amount(1234567.891, "EUR"), "1.234.567,89 EUR");
        assert_eq!(danish_amount(0.0, "DKK"), "0,00 kr.");
        assert_eq!(danish_amount(999.999, "DKK"), "1.000,00 kr.");
        assert_eq!(danish_amount(f64::INFINITY, "DKK"), "");
        assert!(!danish_amount(f64::MAX, "DKK").is_empty());
        let lines = [
            line("a", "webservice"),
            line("b", "sftp"),
            line("c", "other"),
        ];
        assert_eq!(total(&lines, &PRICES), 7000.5);
    }

    #[test]
    fn period_parsing() {
        assert_eq!(
            "2026-11".parse(),
            Ok(Period {
                year: 2026,
                month: 11
            })
        );
        assert_eq!(
            " 2026-01 ".parse::<Period>().map(|p| p.to_string()),
            Ok("2026-01".into())
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "2026/11",
            "",
            "2026-11-01",
            "abcd-ef",
            "+202-11",
            "2026-+1",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn period_bounds_are_copenhagen_months() {
        let p: Period = "2026-12".parse().unwrap();
        let (a, b) = p.bounds().unwrap();
        assert_eq!(a, utc("2026-12-01T00:00:00+01:00"));
        assert_eq!(b, utc("2027-01-01T00:00:00+01:00"));
        // 30 November 23:30 UTC is already 1 December in Copenhagen.
        assert!(p.contains(utc("2026-11-30T23:30:00Z")));
        assert!(!p.contains(utc("2026-12-31T23:30:00Z")));
        let summer: Period = "2026-07".parse().unwrap();
        assert_eq!(summer.bounds().unwrap().0, utc("2026-07-01T00:00:00+02:00"));
        assert_eq!(
            Period {
                year: 9999,
                month: 12
            }
            .bounds()
            .map(|_| ()),
            Some(())
        );
        assert_eq!(
            Period {
                year: i32::MAX,
                month: 12
            }
            .bounds(),
            None
        );
    }

    #[test]
    fn the_billing_header_block_holds_only_our_headers() {
        let mut l = line("SP-2026-00001", "webservice");
        l.org_name = Some("Kommune\r\nBcc: evil@x.test".into());
        let at = utc("2026-12-01T06:00:00+01:00");
        let to = ["billing@example.test".to_string()];
        let (_, raw) = compose(&[l.clone()], &billing(), at, "helpdesk@example.test", &to).unwrap();
        crate::mail::header_value::assert_only_our_headers(
            &raw,
            &crate::mail::header_value::OUR_HEADERS,
        );
        let bad = ["billing@example.test\r\nBcc: evil@x.test".to_string()];
        let err = compose(&[l.clone()], &billing(), at, "helpdesk@example.test", &bad).unwrap_err();
        assert!(err.contains("helpdesk.billing_to"), "{err}");
        let err = compose(&[l], &billing(), at, "h@x.test\rBcc: e@x.test", &to).unwrap_err();
        assert!(err.contains("helpdesk.address"), "{err}");
    }

    #[test]
    fn the_mail_carries_the_csv() {
        let lines = [line("SP-2026-00001", "webservice")];
        let at = utc("2026-12-01T06:00:00+01:00");
        let (id, raw) = compose(
            &lines,
            &billing(),
            at,
            "helpdesk@example.test",
            &["billing@example.test".to_string()],
        )
        .unwrap();
        assert!(id.starts_with("billing.20261201T050000Z."), "{id}");
        assert!(id.ends_with("@spdesk.example.test"));
        assert_eq!(id, message_id(&lines, at, "example.test"));
        let m = crate::mail::Mail::parse(&raw, 1).unwrap();
        assert_eq!(m.subject, "Fakturering 01-12-2026: 1 gennemført bestilling");
        let att = m.attachments.first().expect("the CSV");
        assert_eq!(att.name.as_deref(), Some("fakturering-2026-12-01.csv"));
        let body = String::from_utf8(att.bytes.clone()).unwrap();
        assert!(body.starts_with(CSV_HEADER), "{body}");
        assert!(body.contains("SP-2026-00001"));
        let text = m.text.unwrap();
        assert!(text.contains("4.500,00 kr."));
        assert!(text.contains("(UTF-8, kommasepareret)"), "{text}");
        let da = Billing {
            csv: CsvDialect::ExcelDa,
            ..billing()
        };
        let (_, raw) = compose(
            &lines,
            &da,
            at,
            "helpdesk@example.test",
            &["b@example.test".into()],
        )
        .unwrap();
        let m = crate::mail::Mail::parse(&raw, 1).unwrap();
        let att = m.attachments.first().expect("the CSV");
        assert!(att.bytes.starts_with(b"\xef\xbb\xbfbestillings_id;ref;"));
        assert!(m.text.unwrap().contains("semikolonsepareret"));
    }
}
