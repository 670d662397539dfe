//! The mails that came in for an order as its page shows them (sender, subject, date, the plain
//! text as the mail parser gives it, the attachments) and the downloads of an original mail
//! and of an attachment. A download is always `attachment` and `application/octet-stream`
//! (the original mail: `message/rfc822`) with `nosniff`: nothing a sender sent is ever
//! rendered as a page from our origin. No file path comes from a request: the bytes are read
//! from the database by order and number.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use crate::mail::Mail;
use crate::mail::header_value::attachment_disposition;
use crate::orders::display;
use crate::store::order_view::InboundRow;

/// The page shows the text and attachments of an order's first this many mails; the later
/// ones (an order that gathers a flood of held mails) are listed with their download only.
pub const MAX_SHOWN: i64 = 10;
/// A mail larger than this is listed with its download only: a page view reads at most
/// [`MAX_SHOWN`] times this much.
pub const MAX_SHOWN_BYTES: i64 = 5 * 1024 * 1024;
/// At most this many characters of one mail's text on the page (the original has it all).
const MAX_TEXT_CHARS: usize = 100_000;

/// One attachment of a mail: its number (1..) in the mail, name and size.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ShownAttachment {
    pub i: usize,
    pub name: String,
    pub size: String,
}

/// One mail as the page shows it.
#[derive(Debug, Serialize)]
pub struct ShownMail {
    pub n: i64,
    pub sender: String,
    pub subject: String,
    pub date: String,
    /// The plain text, or a Danish note why there is none to show.
    pub text: String,
    pub attachments: Vec<ShownAttachment>,
}

/// The order's mails for the page: `raws` are the bytes of the first of `rows` (see
/// [`MAX_SHOWN`]; `None`: over [`MAX_SHOWN_BYTES`]); a mail without bytes here or that does
/// not parse gets a note instead.
pub fn shown(rows: &[InboundRow], raws: &[Option<Vec<u8>>]) -> Vec<ShownMail> {
    rows.iter()
        .enumerate()
        .map(|(k, row)| {
            let raw = raws.get(k);
            let mail = raw.and_then(Option::as_ref).and_then(|raw| parse(raw));
            let date = mail
                .as_ref()
                .and_then(|m| m.date)
                .map(|d| d.with_timezone(&chrono::Utc))
                .or(row.received_at)
                .map(display::local_time)
                .unwrap_or_default();
            let text = match (&mail, raw) {
                (Some(m), _) => text_of(m),
                (None, None) => "(for mange mails til at vise dem alle; hent originalen)".into(),
                (None, Some(None)) => {
                    "(mailen er for stor til at blive vist; hent originalen)".into()
                }
                (None, Some(Some(_))) => "(mailen kunne ikke læses; hent originalen)".into(),
            };
            ShownMail {
                n: row.n,
                sender: row.sender.clone().unwrap_or_default(),
                subject: row.subject.clone(),
                date,
                text,
                attachments: mail.as_ref().map(attachments_of).unwrap_or_default(),
            }
        })
        .collect()
}

fn text_of(m: &Mail) -> String {
    match (&m.text, &m.html) {
        (Some(t), _) if t.chars().count() > MAX_TEXT_CHARS => {
            let cut: String = t.chars().take(MAX_TEXT_CHARS).collect();
            format!("{cut}\n… (afkortet; hent originalen for resten)")
        }
        (Some(t), _) => t.clone(),
        (None, Some(_)) => "(mailen har kun en HTML-del; hent originalen)".to_string(),
        (None, None) => "(mailen har ingen tekst)".to_string(),
    }
}

fn attachments_of(m: &Mail) -> Vec<ShownAttachment> {
    m.attachments
        .iter()
        .enumerate()
        .map(|(k, a)| ShownAttachment {
            i: k + 1,
            name: name_of(a, k + 1),
            size: format!("{} kB", a.bytes.len().div_ceil(1024)),
        })
        .collect()
}

fn name_of(a: &crate::mail::Attachment, i: usize) -> String {
    a.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("bilag-{i}"))
}

/// `raw` parsed, unless it is over the header and MIME limits intake holds mail to: the
/// console runs in the daemon's process, and such a mail is never parsed there
/// (`staff_files::parse_for_staff`).
fn parse(raw: &[u8]) -> Option<Mail> {
    crate::orders::staff_files::parse_for_staff(raw, usize::MAX / 2)
}

/// Attachment number `i` (1..) of the mail `raw`: its name and bytes.
pub fn attachment(raw: &[u8], i: usize) -> Option<(String, Vec<u8>)> {
    let mail = parse(raw)?;
    let a = mail.attachments.get(i.checked_sub(1)?)?;
    Some((name_of(a, i), a.bytes.clone()))
}

/// A download: `bytes` as `content_type`, `attachment` under `name` (made safe by the one
/// header sanitiser), never sniffed, never cached.
pub fn download(
    bytes: Vec<u8>,
    content_type: &'static str,
    name: &str,
    fallback: &str,
) -> Response {
    let mut r = Response::new(axum::body::Body::from(bytes));
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = attachment_disposition(name, fallback);
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@x.test\r\nSubject: <script>alert(1)</script>\r\n\
Date: Tue, 1 Dec 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Hej <b>med</b> dig\r\n--b\r\nContent-Type: text/html\r\n\
Content-Disposition: attachment; filename=\"../x.html\"\r\n\r\n<script>alert(2)</script>\r\n--b--\r\n";

    fn row(n: i64) -> InboundRow {
        InboundRow {
            n,
            sender: Some("a@x.test".into()),
            subject: "<script>alert(1)</script>".into(),
            received_at: None,
            stored_at: None,
            disposition: "order".into(),
        }
    }

    #[test]
    fn a_mail_shows_its_text_date_and_attachments() {
        let shown = shown(
            &[row(1), row(2), row(3), row(4)],
            &[Some(MAIL.to_vec()), Some(Vec::new()), None],
        );
        assert_eq!(shown[0].text.trim(), "Hej <b>med</b> dig");
        assert_eq!(shown[0].date, "2026-12-01 10:00 +01:00");
        assert_eq!(
            shown[0].attachments,
            [ShownAttachment {
                i: 1,
                name: "../x.html".into(),
                size: "1 kB".into()
            }]
        );
        assert!(
            shown[1].text.contains("kunne ikke læses"),
            "{}",
            shown[1].text
        );
        assert!(
            shown[2].text.contains("hent originalen"),
            "{}",
            shown[2].text
        );
    }

    #[test]
    fn an_attachment_is_found_by_number_only() {
        let (name, bytes) = attachment(MAIL, 1).unwrap();
        assert_eq!(name, "../x.html");
        assert!(bytes.starts_with(b"<script>"));
        assert!(attachment(MAIL, 0).is_none());
        assert!(attachment(MAIL, 2).is_none());
        assert!(attachment(b"not a mail", 1).is_none());
        let r = download(bytes, "application/octet-stream", &name, "bilag");
        let h = r.headers();
        assert_eq!(h["content-type"], "application/octet-stream");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let d = h["content-disposition"].to_str().unwrap();
        assert!(d.starts_with("attachment; filename=\"x.html\""), "{d}");
    }

    /// A mail over intake's header limits is never parsed in the daemon's process: its text
    /// and attachments are not shown, only its download.
    #[test]
    fn a_mail_over_the_header_limits_is_not_parsed() {
        let mut raw = "X-Many: x\r\n".repeat(5000).into_bytes();
        raw.extend_from_slice(MAIL);
        let shown = shown(&[row(1)], &[Some(raw.clone())]);
        assert!(
            shown[0].text.contains("kunne ikke læses"),
            "{}",
            shown[0].text
        );
        assert!(shown[0].attachments.is_empty());
        assert!(attachment(&raw, 1).is_none());
    }
}
