//! Finds the order forms in a mail (FORMS.md "Where a form can arrive"): attachments by their
//! type, forwarded mails recursively, and the mail text itself. Every reader runs on its own
//! thread under a time limit, so a hostile file can neither stall nor crash intake.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::form::{OrderForm, interpret};
use crate::mail::{Attachment, Mail};
use crate::raw::{RawForm, ReadError, ReadLimits};
use crate::read;

/// Limits for finding forms in a mail.
#[derive(Debug, Clone)]
pub struct ExtractLimits {
    pub read: ReadLimits,
    pub max_attachments: usize,
    pub max_attachment_bytes: usize,
    pub max_forward_depth: usize,
    pub reader_timeout: Duration,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            read: ReadLimits::default(),
            max_attachments: 50,
            max_attachment_bytes: 25 * 1024 * 1024,
            max_forward_depth: 3,
            reader_timeout: Duration::from_secs(10),
        }
    }
}

/// An attachment that may be a form but could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub name: String,
    pub reason: String,
}

/// Why a `winmail.dat` is unreadable: Outlook's TNEF wrapper, which spdesk does not unpack.
pub const TNEF_REASON: &str = "an Outlook winmail.dat (TNEF) file: Outlook packed the attachments in its own format, which is not unpacked";

impl Unreadable {
    /// True for Outlook's TNEF wrapper (the sender must change how Outlook sends, not the form).
    pub fn is_tnef(&self) -> bool {
        self.reason == TNEF_REASON
    }
}

/// Outlook's TNEF wrapper (`winmail.dat`, `application/ms-tnef`): Outlook sends it when the
/// mail is written in Rich Text; the real attachments (the form) are inside.
fn is_tnef(a: &Attachment) -> bool {
    let name = a.name.as_deref().unwrap_or("").to_lowercase();
    name == "winmail.dat"
        || name.ends_with(".tnef")
        || matches!(
            a.content_type.as_str(),
            "application/ms-tnef" | "application/vnd.ms-tnef"
        )
}

/// A certificate file attached as evidence for a form.
#[derive(Debug, Clone)]
pub struct CertFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Everything found in one mail.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    pub forms: Vec<OrderForm>,
    pub unreadable: Vec<Unreadable>,
    pub certificates: Vec<CertFile>,
    /// Images that would count as unreadable forms if the mail had no form at all.
    pub images: Vec<String>,
    /// Notes for the Helpdesk (limits hit, attachments skipped).
    pub problems: Vec<String>,
}

/// What an attachment is, by its name and content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttachmentKind {
    Docx,
    Pdf,
    Text,
    Html,
    Forwarded,
    Certificate,
    /// May be a form but is in a format we cannot read (.doc, .odt, .rtf, zip, TNEF, ...).
    UnreadableDocument,
    Image,
    /// Evidence or noise: SSH keys, signatures, calendar items.
    Other,
}

fn kind_of(a: &Attachment) -> AttachmentKind {
    let name = a.name.as_deref().unwrap_or("").to_lowercase();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let ct = a.content_type.as_str();
    if a.message.is_some() || ct == "message/rfc822" || ext == "eml" {
        return AttachmentKind::Forwarded;
    }
    match ext {
        "docx" | "docm" => return AttachmentKind::Docx,
        "pdf" => return AttachmentKind::Pdf,
        "cer" | "crt" | "pem" | "der" => return AttachmentKind::Certificate,
        "doc" | "odt" | "rtf" | "zip" | "7z" | "rar" | "pages" | "wpd" | "dotx" | "ott" | "xps"
        | "tnef" => return AttachmentKind::UnreadableDocument,
        "txt" => return AttachmentKind::Text,
        "htm" | "html" => return AttachmentKind::Html,
        "pub" | "p7s" | "asc" | "sig" | "ics" | "vcf" | "key" => return AttachmentKind::Other,
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "heic" | "webp" => {
            return AttachmentKind::Image;
        }
        _ => {}
    }
    if name == "winmail.dat" {
        return AttachmentKind::UnreadableDocument;
    }
    match ct {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            AttachmentKind::Docx
        }
        "application/pdf" => AttachmentKind::Pdf,
        "application/pkix-cert"
        | "application/x-x509-ca-cert"
        | "application/x-pem-file"
        | "application/x-x509-user-cert" => AttachmentKind::Certificate,
        "application/msword"
        | "application/vnd.oasis.opendocument.text"
        | "application/rtf"
        | "text/rtf"
        | "application/zip"
        | "application/x-zip-compressed"
        | "application/ms-tnef"
        | "application/vnd.ms-tnef" => AttachmentKind::UnreadableDocument,
        "text/plain" if !name.is_empty() => AttachmentKind::Text,
        "text/html" if !name.is_empty() => AttachmentKind::Html,
        c if c.starts_with("image/") => AttachmentKind::Image,
        _ => AttachmentKind::Other,
    }
}

/// Runs a reader on its own thread with a time limit; a panic or a timeout becomes an error.
fn run_limited<F>(timeout: Duration, f: F) -> Result<RawForm, ReadError>
where
    F: FnOnce() -> Result<RawForm, ReadError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("spdesk-reader".into())
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
            let _ = tx.send(result);
        });
    if spawned.is_err() {
        return Err(ReadError::Limit("could not start a reader thread".into()));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(ReadError::Damaged("the reader failed on this file".into())),
        Err(_) => Err(ReadError::Limit(format!(
            "reading took longer than {} s",
            timeout.as_secs_f32()
        ))),
    }
}

/// The Danish reason given to the sender for a file we could not read.
fn reason_for(e: &ReadError) -> String {
    match e {
        ReadError::Unreadable(m) | ReadError::Damaged(m) | ReadError::Limit(m) => m.clone(),
    }
}

/// Finds every form in a mail.
pub fn extract(mail: &Mail, limits: &ExtractLimits) -> Extracted {
    let mut out = Extracted::default();
    collect(mail, limits, limits.max_forward_depth, &mut out);
    // Images count as unreadable forms only when the mail has no form at all.
    if out.forms.is_empty() && out.unreadable.is_empty() {
        for name in std::mem::take(&mut out.images) {
            out.unreadable.push(Unreadable {
                name,
                reason: "an image, not a form".into(),
            });
        }
    }
    out
}

fn collect(mail: &Mail, limits: &ExtractLimits, depth: usize, out: &mut Extracted) {
    let mut attachment_forms = Vec::new();
    for (i, a) in mail.attachments.iter().enumerate() {
        let name = a
            .name
            .clone()
            .unwrap_or_else(|| format!("vedhæftning {}", i + 1));
        if i >= limits.max_attachments {
            out.problems.push(format!(
                "more than {} attachments: the rest were not read",
                limits.max_attachments
            ));
            break;
        }
        let kind = kind_of(a);
        if a.bytes.len() > limits.max_attachment_bytes
            && !matches!(kind, AttachmentKind::Other | AttachmentKind::Image)
        {
            out.unreadable.push(Unreadable {
                name: name.clone(),
                reason: format!(
                    "the file is larger than the limit of {} bytes",
                    limits.max_attachment_bytes
                ),
            });
            continue;
        }
        let source = format!("attachment:{name}");
        let read = match kind {
            AttachmentKind::Docx => {
                let (bytes, src, lim) = (a.bytes.clone(), source.clone(), limits.read.clone());
                Some(run_limited(limits.reader_timeout, move || {
                    read::docx::read_docx(&bytes, &src, &lim)
                }))
            }
            AttachmentKind::Pdf => {
                let (bytes, src, lim) = (a.bytes.clone(), source.clone(), limits.read.clone());
                Some(run_limited(limits.reader_timeout, move || {
                    read::pdf::read_pdf(&bytes, &src, &lim)
                }))
            }
            AttachmentKind::Text => Some(Ok(read::text::read_text(
                &String::from_utf8_lossy(&a.bytes),
                &source,
            ))),
            AttachmentKind::Html => Some(Ok(read::text::read_html(
                &String::from_utf8_lossy(&a.bytes),
                &source,
            ))),
            AttachmentKind::Forwarded => {
                match &a.message {
                    Some(inner) if depth > 0 => collect(inner, limits, depth - 1, out),
                    Some(_) => out.problems.push(format!(
                        "{name}: forwarded more than {} levels deep; not read",
                        limits.max_forward_depth
                    )),
                    None => out.unreadable.push(Unreadable {
                        name: name.clone(),
                        reason: "a forwarded mail that could not be read".into(),
                    }),
                }
                None
            }
            AttachmentKind::Certificate => {
                out.certificates.push(CertFile {
                    name: name.clone(),
                    bytes: a.bytes.clone(),
                });
                None
            }
            AttachmentKind::UnreadableDocument => {
                let reason = if is_tnef(a) {
                    TNEF_REASON
                } else {
                    "a file format we cannot read"
                };
                out.unreadable.push(Unreadable {
                    name: name.clone(),
                    reason: reason.into(),
                });
                None
            }
            AttachmentKind::Image => {
                out.images.push(name.clone());
                None
            }
            AttachmentKind::Other => None,
        };
        match read {
            Some(Ok(raw)) => match interpret(&raw) {
                Some(form) => attachment_forms.push(form),
                None if matches!(kind, AttachmentKind::Docx | AttachmentKind::Pdf) => {
                    out.unreadable.push(Unreadable {
                        name,
                        reason: "no order form fields were found in the file".into(),
                    });
                }
                None => {}
            },
            Some(Err(e)) => {
                if matches!(e, ReadError::Limit(_)) {
                    out.problems.push(format!("{name}: {e}"));
                }
                out.unreadable.push(Unreadable {
                    name,
                    reason: reason_for(&e),
                });
            }
            None => {}
        }
    }

    // The mail text: a form typed into the mail. When attachments carry forms, the text counts
    // only if it is a different order (a covering note may repeat a label or two).
    let body = match (&mail.text, &mail.html) {
        (Some(t), _) if !t.trim().is_empty() => Some(read::text::read_text(t, "body")),
        (_, Some(h)) => Some(read::text::read_html(h, "body")),
        _ => None,
    };
    if let Some(form) = body.as_ref().and_then(interpret) {
        let repeats = attachment_forms
            .iter()
            .any(|f| f.bestillings_id().is_some() && f.bestillings_id() == form.bestillings_id());
        if !repeats {
            out.forms.push(form);
        }
    }
    out.forms.extend(attachment_forms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_typed_in_the_mail_is_found() {
        let raw = "From: a@b.dk\r\nSubject: Bestilling\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                   Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\
                   KOMBIT BestillingsID: BD-7731\r\nMiljø: Produktion\r\nSFTP-bruger: bd\r\nOvervågning: Fra\r\n";
        let mail = Mail::parse(raw.as_bytes(), 3).unwrap();
        let x = extract(&mail, &ExtractLimits::default());
        assert_eq!(x.forms.len(), 1);
        assert_eq!(x.forms[0].kind, crate::fields::FormKind::Sftp);
        assert_eq!(x.forms[0].source, "body");
    }

    #[test]
    fn unreadable_and_image_attachments() {
        let raw = "From: a@b.dk\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                   Content-Type: text/plain\r\n\r\nSe vedhæftet\r\n--b\r\n\
                   Content-Type: application/msword; name=\"Bestilling.doc\"\r\n\
                   Content-Disposition: attachment; filename=\"Bestilling.doc\"\r\n\r\nxx\r\n--b\r\n\
                   Content-Type: image/png; name=\"logo.png\"\r\n\
                   Content-Disposition: inline; filename=\"logo.png\"\r\n\r\nxx\r\n--b--\r\n";
        let mail = Mail::parse(raw.as_bytes(), 3).unwrap();
        let x = extract(&mail, &ExtractLimits::default());
        assert!(x.forms.is_empty());
        assert_eq!(x.unreadable.len(), 1);
        assert_eq!(x.unreadable[0].name, "Bestilling.doc");
    }

    /// Outlook's winmail.dat (TNEF) is not unpacked: it is named as unreadable, with the
    /// TNEF reason, however it is labelled.
    #[test]
    fn tnef_is_unreadable_with_its_own_reason() {
        for part in [
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"",
            "Content-Type: application/vnd.ms-tnef",
            "Content-Type: application/octet-stream; name=\"WINMAIL.DAT\"",
        ] {
            let raw = format!(
                "From: fa@example.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                 Content-Type: text/plain\r\n\r\nHermed\r\n--b\r\n{part}\r\n\r\nx\u{9f}>\"garbage\r\n--b--\r\n"
            );
            let mail = Mail::parse(raw.as_bytes(), 3).unwrap();
            let x = extract(&mail, &ExtractLimits::default());
            assert!(x.forms.is_empty(), "{part}");
            assert_eq!(x.unreadable.len(), 1, "{part}");
            assert!(x.unreadable[0].is_tnef(), "{part}");
        }
    }

    #[test]
    fn a_reader_that_hangs_is_stopped() {
        let r = run_limited(Duration::from_millis(50), || {
            thread::sleep(Duration::from_secs(2));
            Ok(RawForm::default())
        });
        assert!(matches!(r, Err(ReadError::Limit(_))));
        let r = run_limited(Duration::from_secs(1), || panic!("boom"));
        assert!(matches!(r, Err(ReadError::Damaged(_))));
    }
}
