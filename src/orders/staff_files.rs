//! The files a staff mail (review, incident) carries: the requester's original mail as
//! `original.eml` (message/rfc822) and the files attached to it, so that a reviewer can open
//! the certificate or the form without leaving the mail. Mail servers refuse large mails, so
//! the files are capped together; what does not fit is named in a note with how to get it.

use crate::mail::Mail;
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

/// The original mail `raw` (parsed as `mail`) and its attached files (not the pictures shown
/// inside its text), in that order, as long as they fit in `cap` bytes together; the rest is
/// named in the note. `reference` tells the reader where to find what was left out.
pub fn staff_files<'a>(
    raw: &'a [u8],
    mail: &'a Mail,
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
    candidates.extend(
        mail.attachments
            .iter()
            .filter(|a| !a.inline)
            .map(|a| OutAttachment {
                content_type: if a.content_type.is_empty() {
                    "application/octet-stream"
                } else {
                    a.content_type.as_str()
                },
                filename: a.name.as_deref().unwrap_or("vedhaeftet-fil"),
                bytes: &a.bytes,
            }),
    );
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
    out.note = note.join("\n");
    out
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
        let f = staff_files(&raw, &mail, MAX_STAFF_FILE_BYTES, "SP-2026-00001");
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
        let f = staff_files(&raw, &mail, cap, "SP-2026-00001");
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
        let none = staff_files(&raw, &mail, 5, "SP-2026-00001");
        assert!(none.files.is_empty());
        assert!(none.note.contains("original.eml"));
        assert!(staff_files(&[], &mail, 5, "SP-1").note.is_empty());
        assert_eq!(size_text(15 * 1024 * 1024), "15,0 MB");
    }
}
