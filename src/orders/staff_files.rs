//! The files a staff mail (review, incident) carries: the requester's original mail as
//! `original.eml` (message/rfc822) and the files attached to it, so that a reviewer can open
//! the certificate or the form without leaving the mail. Mail servers refuse large mails, so
//! the files are capped together; what does not fit is named in a note with how to get it.

use crate::mail::{Mail, header_value};
use crate::orders::receipts::OutAttachment;

/// At most this many bytes of files on one staff mail (before base64). Exchange's default
/// limit is 25-35 MB after encoding; 15 MB leaves room for the encoding and the text.
pub const MAX_STAFF_FILE_BYTES: usize = 15 * 1024 * 1024;

/// The file name the original mail is attached under.
pub const ORIGINAL_NAME: &str = "original.eml";

/// The files of a staff mail and the note about them (Danish; empty: nothing to say).
#[derive(Debug, Clone, Default)]
pub struct StaffFiles<'a> {
    pub files: Vec<OutAttachment<'a>>,
    pub note: String,
}

/// The original mail parsed for its files, or `None` when it is over the header and MIME limits
/// intake holds mail to (the defaults) or too large to attach anyway: such a mail is never
/// parsed in the daemon's own process (200,000 nested forwards overflowed its stack), and it
/// goes as `original.eml` alone.
pub fn parse_for_staff(raw: &[u8], cap: usize) -> Option<Mail> {
    let limits = crate::mail::HeaderLimits::default();
    if raw.len() > cap.saturating_mul(2) || crate::mail::header_over_limits(raw, &limits).is_some()
    {
        return None;
    }
    Mail::parse(raw, 1)
}

/// The original mail `raw` (parsed as `mail`, see [`parse_for_staff`]) and its attached files
/// (not the pictures shown inside its text), in that order, as long as they fit in `cap` bytes
/// together; the rest is named in the note. `reference` tells the reader where to find what
/// was left out.
pub fn staff_files<'a>(
    raw: &'a [u8],
    mail: Option<&'a Mail>,
    cap: usize,
    reference: &str,
) -> StaffFiles<'a> {
    let mut out = StaffFiles::default();
    if raw.is_empty() {
        return out;
    }
    let mut candidates = vec![OutAttachment {
        content_type: "message/rfc822",
        filename: ORIGINAL_NAME,
        bytes: raw,
    }];
    let files = mail.map(|m| m.attachments.as_slice()).unwrap_or_default();
    candidates.extend(files.iter().filter(|a| !a.inline).map(|a| OutAttachment {
        content_type: file_type(&a.content_type),
        filename: a.name.as_deref().unwrap_or("vedhaeftet-fil"),
        bytes: &a.bytes,
    }));
    let mut used = 0usize;
    let mut left_out = Vec::new();
    for c in candidates {
        if used.saturating_add(c.bytes.len()) <= cap {
            used += c.bytes.len();
            out.files.push(c);
        } else {
            left_out.push(format!("{} ({})", c.filename, size_text(c.bytes.len())));
        }
    }
    let attached: Vec<&str> = out.files.iter().map(|f| f.filename).collect();
    let mut note = Vec::new();
    if !attached.is_empty() {
        note.push(format!("Vedhæftet denne mail: {}.", attached.join(", ")));
    }
    if !left_out.is_empty() {
        note.push(format!(
            "Ikke vedhæftet, fordi filerne tilsammen ville fylde mere end {}: {}. Den oprindelige mail med alle filer ligger i spdesk (spdesk orders show {reference}).",
            size_text(cap),
            left_out.join(", ")
        ));
    }
    if mail.is_none() {
        note.push(
            "Filerne i den oprindelige mail er ikke pakket ud, fordi mailen er over de grænser, spdesk læser mail inden for; de ligger i original.eml.".to_string(),
        );
    }
    out.note = note.join("\n");
    out
}

/// The content type a file is attached under: its own when it is a valid, lower-case
/// `type/subtype` ([`header_value::mime_type`]), else application/octet-stream. The type comes
/// from the sender's mail and ends in the part header of a mail to staff.
fn file_type(content_type: &str) -> &str {
    if header_value::mime_type(content_type) == content_type {
        content_type
    } else {
        header_value::OCTET_STREAM
    }
}

/// "1,5 MB" / "12 kB" (Danish decimal comma).
fn size_text(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB {
        let tenths = (bytes * 10 + MB / 2) / MB;
        format!("{},{} MB", tenths / 10, tenths % 10)
    } else {
        format!("{} kB", bytes.div_ceil(1024))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail_with(files: &[(&str, usize)]) -> (Vec<u8>, Mail) {
        let mut raw = String::from(
            "From: fa@kommune.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhej\r\n",
        );
        for (name, size) in files {
            raw.push_str(&format!(
                "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}\r\n",
                "x".repeat(*size)
            ));
        }
        raw.push_str("--b--\r\n");
        let mail = Mail::parse(raw.as_bytes(), 1).unwrap();
        (raw.into_bytes(), mail)
    }

    #[test]
    fn the_original_and_its_files_are_attached() {
        let (raw, mail) = mail_with(&[("form.pdf", 100), ("cert.cer", 50)]);
        let f = staff_files(&raw, Some(&mail), MAX_STAFF_FILE_BYTES, "SP-2026-00001");
        let names: Vec<&str> = f.files.iter().map(|a| a.filename).collect();
        assert_eq!(names, ["original.eml", "form.pdf", "cert.cer"]);
        assert_eq!(f.files[0].content_type, "message/rfc822");
        assert_eq!(f.files[1].content_type, "application/pdf");
        assert!(
            f.note.contains("original.eml, form.pdf, cert.cer"),
            "{}",
            f.note
        );
        assert!(!f.note.contains("Ikke vedhæftet"));
    }

    #[test]
    fn what_does_not_fit_is_named() {
        let (raw, mail) = mail_with(&[("big.pdf", 3000), ("small.cer", 10)]);
        let cap = raw.len() + 100;
        let f = staff_files(&raw, Some(&mail), cap, "SP-2026-00001");
        let names: Vec<&str> = f.files.iter().map(|a| a.filename).collect();
        assert_eq!(names, ["original.eml", "small.cer"]);
        assert!(f.note.contains("Ikke vedhæftet"), "{}", f.note);
        assert!(f.note.contains("big.pdf (3 kB)"), "{}", f.note);
        assert!(
            f.note.contains("spdesk orders show SP-2026-00001"),
            "{}",
            f.note
        );
        // Nothing fits: every file is named, none attached.
        let none = staff_files(&raw, Some(&mail), 5, "SP-2026-00001");
        assert!(none.files.is_empty());
        assert!(none.note.contains("original.eml"));
        assert!(staff_files(&[], Some(&mail), 5, "SP-1").note.is_empty());
        assert_eq!(size_text(15 * 1024 * 1024), "15,0 MB");
    }

    /// A hostile content type never reaches the part header of a staff mail; a file name
    /// goes through the header sanitiser when the mail is composed.
    #[test]
    fn a_content_type_is_a_mime_type_or_octet_stream() {
        let (raw, mut mail) = mail_with(&[("a.pdf", 1), ("b.cer", 1), ("c.bin", 1), ("d", 1)]);
        mail.attachments[0].content_type = "application/x\rX-Foo: bar".into();
        mail.attachments[1].content_type = "application/pkix-cert".into();
        mail.attachments[2].content_type = "text/\"x\"".into();
        mail.attachments[3].content_type = format!("application/{}", "x".repeat(200));
        let f = staff_files(&raw, Some(&mail), MAX_STAFF_FILE_BYTES, "SP-1");
        let types: Vec<&str> = f.files.iter().map(|a| a.content_type).collect();
        assert_eq!(
            types,
            [
                "message/rfc822",
                "application/octet-stream",
                "application/pkix-cert",
                "application/octet-stream",
                "application/octet-stream"
            ]
        );
        for bad in [
            "",
            "text",
            "/plain",
            "text/",
            "a/b/c",
            "tëxt/plain",
            "a b/c",
            "a/b;c=d",
        ] {
            assert_eq!(
                header_value::mime_type(bad),
                header_value::OCTET_STREAM,
                "{bad}"
            );
        }
        assert_eq!(
            header_value::mime_type("Application/PDF"),
            "application/pdf"
        );
        assert_eq!(
            header_value::mime_type("application/vnd.oasis.opendocument.text"),
            "application/vnd.oasis.opendocument.text"
        );
        // The name of a file goes through the one sanitiser when composed (receipts.rs).
        mail.attachments[0].name = Some("a\r\nBcc: x@evil.test.pdf".into());
        let f = staff_files(&raw, Some(&mail), MAX_STAFF_FILE_BYTES, "SP-1");
        let t = crate::orders::receipts::Templates::builtin().unwrap();
        let out = crate::orders::receipts::compose_with(
            &t,
            crate::orders::receipts::Compose {
                kind: crate::orders::receipts::ReceiptKind::TilVurdering,
                reference: "SP-1",
                version: 1,
                from: "helpdesk@sp.test",
                to: vec!["review@sp.test".into()],
                thread: &crate::orders::receipts::Thread::default(),
                subject: None,
                date: 1_800_000_000,
            },
            &serde_json::json!({}),
            &f.files,
        );
        let raw = String::from_utf8_lossy(&out.unwrap().raw).to_string();
        assert!(!raw.contains("\nBcc"), "{raw}");
        assert!(!raw.contains("X-Foo"), "{raw}");
    }

    /// A mail over the limits is never parsed here: it goes whole, and the note says why.
    #[test]
    fn a_mail_over_the_limits_goes_whole() {
        let (raw, _) = mail_with(&[("form.pdf", 100)]);
        assert!(parse_for_staff(&raw, MAX_STAFF_FILE_BYTES).is_some());
        assert!(parse_for_staff(&raw, 10).is_none(), "too large to attach");
        let mut nested = String::from("From: a@b.test\r\nSubject: x\r\n");
        for i in 0..2000 {
            nested.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        let nested = nested.into_bytes();
        assert!(parse_for_staff(&nested, MAX_STAFF_FILE_BYTES).is_none());
        let f = staff_files(&nested, None, MAX_STAFF_FILE_BYTES, "SP-1");
        let names: Vec<&str> = f.files.iter().map(|a| a.filename).collect();
        assert_eq!(names, ["original.eml"]);
        assert!(f.note.contains("ikke pakket ud"), "{}", f.note);
    }
}
