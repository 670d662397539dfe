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
        content_type: if a.content_type.is_empty() {
            "application/octet-stream"
        } else {
            a.content_type.as_str()
        },
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
