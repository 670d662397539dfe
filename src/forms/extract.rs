//! Finds the order forms in a mail (FORMS.md "Where a form can arrive"): attachments by their
//! type, forwarded mails recursively, and the mail text itself. Every document (.docx, PDF,
//! winmail.dat, HTML) is read through the [`DocumentReader`] in [`ExtractLimits::reader`]:
//! in the daemon a sandboxed child process, so a hostile file can neither stall nor crash
//! intake.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::forms::form::{OrderForm, interpret};
use crate::forms::raw::{RawForm, ReadError, ReadLimits};
use crate::forms::read;
use crate::forms::reader::{
    DocumentReader, InProcess, ReadJob, ReadOutput, ReadRequest, ReaderKind, UnpackedFile,
};
use crate::mail::{Attachment, Mail};

/// Limits for finding forms in a mail, and where its documents are read.
#[derive(Debug, Clone)]
pub struct ExtractLimits {
    pub read: ReadLimits,
    /// Attachments read per mail, counted over the whole tree (forwarded mails and the files
    /// in a winmail.dat included).
    pub max_attachments: usize,
    /// Order forms taken from one mail; the rest make no orders and the mail goes to review.
    pub max_forms_per_mail: usize,
    /// MIME parts of a mail unpacked from a winmail.dat, counted before it is parsed (the mail
    /// itself was counted at intake).
    pub max_mime_parts: usize,
    pub max_attachment_bytes: usize,
    pub max_forward_depth: usize,
    pub reader_timeout: Duration,
    /// When reading this mail's documents must end ([`extract`] sets it to
    /// [`READER_TIMEOUTS_PER_MAIL`] reader timeouts from its start).
    pub deadline: Option<Instant>,
    /// Runs the document readers. The default reads in this process (tests, fuzzing); the
    /// daemon and `spdesk check` set the sandbox (`setup::extract_limits`).
    pub reader: Arc<dyn DocumentReader>,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            read: ReadLimits::default(),
            max_attachments: 50,
            max_forms_per_mail: 10,
            max_mime_parts: 1000,
            max_attachment_bytes: 25 * 1024 * 1024,
            max_forward_depth: 3,
            reader_timeout: Duration::from_secs(10),
            deadline: None,
            reader: Arc::new(InProcess),
        }
    }
}

impl ExtractLimits {
    /// Reads `bytes` (shown as `source`) with the reader of `kind`, within these limits.
    fn read_with(
        &self,
        kind: ReaderKind,
        source: &str,
        bytes: &[u8],
    ) -> Result<ReadOutput, ReadError> {
        let left = self.deadline.map_or(self.reader_timeout, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Err(ReadError::Limit(format!(
                "not read: the mail's documents together took longer than {} s",
                self.reader_timeout
                    .saturating_mul(READER_TIMEOUTS_PER_MAIL)
                    .as_secs_f32()
            )));
        }
        let job = ReadJob {
            kind,
            source: source.to_string(),
            limits: self.read.clone(),
            max_files: self.max_attachments,
            timeout: self.reader_timeout.min(left),
        };
        self.reader.read(ReadRequest { job: &job, bytes })
    }

    /// Reads a document that is read as one form (not winmail.dat).
    fn read_form(
        &self,
        kind: ReaderKind,
        source: &str,
        bytes: &[u8],
    ) -> Result<RawForm, ReadError> {
        match self.read_with(kind, source, bytes)? {
            ReadOutput::Form(raw) => Ok(raw),
            ReadOutput::Files { .. } => Err(ReadError::Damaged(
                "the reader answered with files instead of a form".into(),
            )),
        }
    }
}

/// An attachment that may be a form but could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub name: String,
    pub reason: String,
}

/// Why a `winmail.dat` is unreadable: Outlook's TNEF wrapper that could not be unpacked or
/// held no order form spdesk could read.
pub const TNEF_REASON: &str = "an Outlook winmail.dat (TNEF) file: Outlook packed the attachments in its own format, and no order form could be unpacked from it";

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
    /// True when attachments past `max_attachments` (anywhere in the mail) were not read.
    pub attachments_capped: bool,
    /// Forms found beyond `max_forms_per_mail`, left out of `forms`.
    pub forms_dropped: usize,
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

/// The certificate files attached to a mail (top level): the evidence a form version made
/// from an earlier mail (a partial correction) is judged with.
pub fn certificates(mail: &Mail) -> Vec<CertFile> {
    mail.attachments
        .iter()
        .filter(|a| kind_of(a) == AttachmentKind::Certificate)
        .map(|a| CertFile {
            name: a.name.clone().unwrap_or_default(),
            bytes: a.bytes.clone(),
        })
        .collect()
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

/// The Danish reason given to the sender for a file we could not read.
fn reason_for(e: &ReadError) -> String {
    match e {
        ReadError::Unreadable(m) | ReadError::Damaged(m) | ReadError::Limit(m) => m.clone(),
    }
}

/// Reader timeouts all documents of one mail may take together. Intake gives up on a mail
/// after 3 reader timeouts and 5 s, but cannot stop the thread reading it: without this bound
/// a mail of 50 attachments that each ran to the reader timeout kept a reader busy for 500 s
/// after intake moved on, and every retry of the mail started another such thread.
pub const READER_TIMEOUTS_PER_MAIL: u32 = 3;

/// Finds every form in a mail.
pub fn extract(mail: &Mail, limits: &ExtractLimits) -> Extracted {
    let budget = limits
        .reader_timeout
        .saturating_mul(READER_TIMEOUTS_PER_MAIL);
    let limits = &ExtractLimits {
        deadline: Instant::now().checked_add(budget),
        ..limits.clone()
    };
    let mut out = Extracted::default();
    // One count for the whole mail: a limit per MIME level multiplies with every forwarded
    // mail (10 forms in each of 3 nested levels of 10 forwarded mails made 1,111 orders).
    let mut collector = Collector { limits, seen: 0 };
    collector.collect(mail, limits.max_forward_depth, &mut out);
    if out.forms.len() > limits.max_forms_per_mail {
        out.forms_dropped = out.forms.len() - limits.max_forms_per_mail;
        out.forms.truncate(limits.max_forms_per_mail);
        out.problems.push(format!(
            "{} order forms in one mail, more than the limit of {}: the rest made no orders",
            out.forms.len() + out.forms_dropped,
            limits.max_forms_per_mail
        ));
    }
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

/// Walks one mail for [`extract`]: its limits, and how many attachments were read so far in
/// the whole mail (forwarded mails and the files unpacked from a winmail.dat included).
struct Collector<'l> {
    limits: &'l ExtractLimits,
    seen: usize,
}

impl Collector<'_> {
    /// Collects the forms of `mail` (and of the mails forwarded in it, down to `depth` more
    /// levels) into `out`.
    fn collect(&mut self, mail: &Mail, depth: usize, out: &mut Extracted) {
        let limits = self.limits;
        let mut attachment_forms = Vec::new();
        for (i, a) in mail.attachments.iter().enumerate() {
            let name = a
                .name
                .clone()
                .unwrap_or_else(|| format!("vedhæftning {}", i + 1));
            if self.seen >= limits.max_attachments {
                mark_capped(limits, out);
                break;
            }
            self.seen += 1;
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
            if kind == AttachmentKind::UnreadableDocument && is_tnef(a) {
                if self.collect_tnef(a, &name, depth, out, &mut attachment_forms) {
                    break;
                }
                continue;
            }
            self.read_attachment(a, name, kind, depth, out, &mut attachment_forms);
        }
        if let Some(form) = body_form(mail, limits, &attachment_forms) {
            out.forms.push(form);
        }
        out.forms.extend(attachment_forms);
    }

    /// Unpacks Outlook's winmail.dat `a` (shown as `name`) and reads its files as attachments
    /// of the same mail, named `winmail.dat/<file>`. Only when a form is found inside does
    /// what was found count; otherwise the winmail.dat stays unreadable with [`TNEF_REASON`]
    /// (the sender is told how to make Outlook send the form as a file). The unpacked files
    /// count towards `max_attachments`; returns true when that limit was reached.
    fn collect_tnef(
        &mut self,
        a: &Attachment,
        name: &str,
        depth: usize,
        out: &mut Extracted,
        forms: &mut Vec<OrderForm>,
    ) -> bool {
        let limits = self.limits;
        let (mut files, notes) = unpack_tnef(a, name, limits, out);
        let room = limits.max_attachments.saturating_sub(self.seen);
        let full = files.len() > room;
        if full {
            files.truncate(room);
            mark_capped(limits, out);
        }
        self.seen = self.seen.saturating_add(files.len());

        let mut inner = Extracted::default();
        let mut inner_forms = Vec::new();
        for (k, f) in files.into_iter().enumerate() {
            let (shown, file) = unpacked_attachment(f, name, k, depth, limits, out);
            let kind = kind_of(&file);
            self.read_attachment(&file, shown, kind, depth, &mut inner, &mut inner_forms);
        }

        if inner.attachments_capped {
            mark_capped(limits, out);
        }
        if inner_forms.is_empty() && inner.forms.is_empty() {
            out.unreadable.push(Unreadable {
                name: name.to_string(),
                reason: TNEF_REASON.into(),
            });
            return full;
        }
        forms.extend(inner_forms);
        merge_tnef(out, inner, notes, name);
        full
    }

    /// Reads one attachment (of the mail, or unpacked from its winmail.dat) whose display
    /// name is `name`: a form goes to `forms`, everything else to `out`.
    fn read_attachment(
        &mut self,
        a: &Attachment,
        name: String,
        kind: AttachmentKind,
        depth: usize,
        out: &mut Extracted,
        forms: &mut Vec<OrderForm>,
    ) {
        let limits = self.limits;
        let source = format!("attachment:{name}");
        let read = match kind {
            AttachmentKind::Docx => limits.read_form(ReaderKind::Docx, &source, &a.bytes),
            AttachmentKind::Pdf => limits.read_form(ReaderKind::Pdf, &source, &a.bytes),
            AttachmentKind::Text => Ok(read::text::read_text(
                &String::from_utf8_lossy(&a.bytes),
                &source,
            )),
            AttachmentKind::Html => limits.read_form(ReaderKind::Html, &source, &a.bytes),
            AttachmentKind::Forwarded => {
                match &a.message {
                    Some(inner) if depth > 0 => self.collect(inner, depth - 1, out),
                    Some(_) => out.problems.push(format!(
                        "{name}: forwarded more than {} levels deep; not read",
                        limits.max_forward_depth
                    )),
                    None => out.unreadable.push(Unreadable {
                        name,
                        reason: "a forwarded mail that could not be read".into(),
                    }),
                }
                return;
            }
            _ => return note_other(a, name, kind, out),
        };
        take_read_form(read, name, kind, out, forms);
    }
}

/// The `source` of a form typed into the mail's own text.
pub const BODY_SOURCE: &str = "body";

/// The form typed into the mail text. When attachments carry forms, the text counts only if
/// it is a different order (a covering note may repeat a label or two).
fn body_form(
    mail: &Mail,
    limits: &ExtractLimits,
    attachment_forms: &[OrderForm],
) -> Option<OrderForm> {
    let body = match (&mail.text, &mail.html) {
        (Some(t), _) if !t.trim().is_empty() => Some(read::text::read_text(t, BODY_SOURCE)),
        (_, Some(h)) => limits
            .read_form(ReaderKind::Html, BODY_SOURCE, h.as_bytes())
            .ok(),
        _ => None,
    };
    let form = body.as_ref().and_then(interpret)?;
    let repeats = attachment_forms
        .iter()
        .any(|f| f.bestillings_id().is_some() && f.bestillings_id() == form.bestillings_id());
    (!repeats).then_some(form)
}

/// Notes (once per mail) that attachments past the limit were not read.
fn mark_capped(limits: &ExtractLimits, out: &mut Extracted) {
    out.attachments_capped = true;
    let note = format!(
        "more than {} attachments: the rest were not read",
        limits.max_attachments
    );
    if !out.problems.contains(&note) {
        out.problems.push(note);
    }
}

/// The files (and notes) of winmail.dat `a`; none when it cannot be unpacked, and a problem
/// for the Helpdesk when a limit stopped the unpacking.
fn unpack_tnef(
    a: &Attachment,
    name: &str,
    limits: &ExtractLimits,
    out: &mut Extracted,
) -> (Vec<UnpackedFile>, Vec<String>) {
    let unpacked = match limits.read_with(ReaderKind::Tnef, name, &a.bytes) {
        Ok(ReadOutput::Files { files, notes }) => Ok((files, notes)),
        Ok(ReadOutput::Form(_)) => Err(ReadError::Damaged(
            "the reader answered with a form instead of files".into(),
        )),
        Err(e) => Err(e),
    };
    if let Err(e @ ReadError::Limit(_)) = &unpacked {
        out.problems.push(format!("{name}: {e}"));
    }
    unpacked.unwrap_or_default()
}

/// File `k` unpacked from winmail.dat `name` as an attachment, with the name it is shown by:
/// a missing or generic MIME tag is sniffed from the bytes, and a mail inside (.eml) is parsed
/// when its MIME parts are within the limit.
fn unpacked_attachment(
    f: UnpackedFile,
    name: &str,
    k: usize,
    depth: usize,
    limits: &ExtractLimits,
    out: &mut Extracted,
) -> (String, Attachment) {
    let shown = format!(
        "{name}/{}",
        f.name
            .clone()
            .unwrap_or_else(|| format!("vedhæftning {}", k + 1))
    );
    let content_type = f
        .content_type
        .filter(|t| t != "application/octet-stream")
        .unwrap_or_else(|| sniff_type(&f.bytes).to_string());
    let is_mail = content_type == "message/rfc822"
        || f.name
            .as_deref()
            .is_some_and(|n| n.to_lowercase().ends_with(".eml"));
    let message = if !is_mail {
        None
    } else if crate::mail::mime_parts_over(&f.bytes, limits.max_mime_parts) {
        out.problems.push(format!(
            "{name}: a mail inside it has more than {} MIME parts; not read",
            limits.max_mime_parts
        ));
        None
    } else {
        Mail::parse(&f.bytes, depth).map(Box::new)
    };
    let file = Attachment {
        name: f.name,
        content_type,
        bytes: f.bytes,
        message,
        inline: false,
    };
    (shown, file)
}

/// Adds what was found inside a winmail.dat (that held a form) to the mail's findings, with
/// the unpacker's notes.
fn merge_tnef(out: &mut Extracted, inner: Extracted, notes: Vec<String>, name: &str) {
    out.forms.extend(inner.forms);
    out.unreadable.extend(inner.unreadable);
    out.certificates.extend(inner.certificates);
    out.images.extend(inner.images);
    for p in inner.problems {
        if !out.problems.contains(&p) {
            out.problems.push(p);
        }
    }
    out.problems
        .extend(notes.into_iter().map(|n| format!("{name}: {n}")));
}

/// The type of an unpacked file that has no usable MIME tag, from its first bytes (TNEF
/// often carries none, and a nameless file has no extension).
fn sniff_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else if bytes.starts_with(b"PK\x03\x04") && bytes.windows(5).any(|w| w == b"word/") {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    } else {
        "application/octet-stream"
    }
}

/// An attachment that is not read as a form: a certificate kept as evidence, a document in a
/// format we cannot read, an image (unreadable only if the mail has no form), or other files.
fn note_other(a: &Attachment, name: String, kind: AttachmentKind, out: &mut Extracted) {
    match kind {
        AttachmentKind::Certificate => out.certificates.push(CertFile {
            name,
            bytes: a.bytes.clone(),
        }),
        AttachmentKind::UnreadableDocument => {
            let reason = if is_tnef(a) {
                TNEF_REASON
            } else {
                "a file format we cannot read"
            };
            out.unreadable.push(Unreadable {
                name,
                reason: reason.into(),
            });
        }
        // A picture shown in the mail's text (a logo, a screenshot) is not even an unreadable
        // form (FORMS.md "Where a form can arrive").
        AttachmentKind::Image if !a.inline => out.images.push(name),
        _ => {}
    }
}

/// A document read as a form: an order form goes to `forms`; a .docx or PDF without form
/// fields, or one that could not be read, is unreadable (a limit also a problem for the
/// Helpdesk).
fn take_read_form(
    read: Result<RawForm, ReadError>,
    name: String,
    kind: AttachmentKind,
    out: &mut Extracted,
    forms: &mut Vec<OrderForm>,
) {
    match read {
        Ok(raw) => match interpret(&raw) {
            Some(form) => forms.push(form),
            None if matches!(kind, AttachmentKind::Docx | AttachmentKind::Pdf) => {
                out.unreadable.push(Unreadable {
                    name,
                    reason: "no order form fields were found in the file".into(),
                });
            }
            None => {}
        },
        Err(e) => {
            if matches!(e, ReadError::Limit(_)) {
                out.problems.push(format!("{name}: {e}"));
            }
            out.unreadable.push(Unreadable {
                name,
                reason: reason_for(&e),
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A reader that runs every document to the time it is given, as a hostile PDF tuned to
    /// the reader timeout does.
    #[derive(Debug)]
    struct RunsToTheLimit;

    impl DocumentReader for RunsToTheLimit {
        fn read(&self, request: ReadRequest<'_>) -> Result<ReadOutput, ReadError> {
            std::thread::sleep(request.job.timeout);
            Err(crate::forms::reader::took_too_long(request.job.timeout))
        }
    }

    /// All documents of one mail together get READER_TIMEOUTS_PER_MAIL reader timeouts: 20
    /// attachments that each run to the timeout end after 3 timeouts, not 20, and the ones
    /// left are unreadable for that reason.
    #[test]
    fn a_mail_of_slow_documents_is_read_within_its_budget() {
        let mut b = mail_builder::MessageBuilder::new()
            .from("fa@example.test")
            .to("helpdesk@example.test")
            .subject("Bestilling")
            .text_body("Se vedhæftede.");
        for n in 0..20 {
            b = b.attachment("application/pdf", format!("b{n}.pdf"), b"%PDF-1.4".to_vec());
        }
        let mail = Mail::parse(&b.write_to_vec().unwrap(), 3).unwrap();
        let limits = ExtractLimits {
            reader_timeout: Duration::from_millis(100),
            reader: Arc::new(RunsToTheLimit),
            ..ExtractLimits::default()
        };
        let started = Instant::now();
        let x = extract(&mail, &limits);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(800), "{took:?}");
        assert_eq!(x.unreadable.len(), 20, "{:?}", x.unreadable);
        let skipped = x
            .unreadable
            .iter()
            .filter(|u| u.reason.contains("together took longer than 0.3 s"))
            .count();
        assert!(skipped >= 16, "{:?}", x.unreadable);
    }

    #[test]
    fn a_form_typed_in_the_mail_is_found() {
        let raw = "From: a@b.dk\r\nSubject: Bestilling\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                   Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\
                   KOMBIT BestillingsID: BD-7731\r\nMiljø: Produktion\r\nSFTP-bruger: bd\r\nOvervågning: Fra\r\n";
        let mail = Mail::parse(raw.as_bytes(), 3).unwrap();
        let x = extract(&mail, &ExtractLimits::default());
        assert_eq!(x.forms.len(), 1);
        assert_eq!(x.forms[0].kind, crate::forms::fields::FormKind::Sftp);
        assert_eq!(x.forms[0].source, "body");
    }

    /// The typed sftp form of the mail-shape tests: (label, value) rows.
    const TYPED_ROWS: &[(&str, &str)] = &[
        ("KOMBIT BestillingsID", "BD-7731"),
        ("Miljø", "Produktion"),
        ("CVR-nr.", "54921942"),
        ("SFTP-bruger", "bd_nordlys"),
        ("Overvågning", "Fra"),
    ];

    const SFTP_TITLE: &str = "Ændring af overvågning af filafhentning (SFTP-indbakke)";

    /// An Outlook mail with only an HTML part, as Word's editor writes it: `above` (HTML),
    /// then the Fra/Sendt/Til/Emne block of the mail it forwards or answers, then `below`.
    fn outlook_html_mail(above: &str, subject: &str, below: &str) -> Mail {
        let raw = format!(
            "From: Birgitte <bs@kystby.dk>\r\nSubject: VS: Bestilling\r\n\
             Content-Type: text/html; charset=\"utf-8\"\r\n\r\n\
             <html><head><meta name=Generator content=\"Microsoft Word 15 (filtered medium)\">\
             <style><!-- p.MsoNormal {{margin:0cm}} --></style></head><body lang=DA>\
             <div class=WordSection1>{above}<div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
             <p class=MsoNormal><b>Fra:</b> Peter Hansen &lt;ph@kystby.dk&gt; <br><b>Sendt:</b> 30. november 2026 09:12<br>\
             <b>Til:</b> Birgitte &lt;bs@kystby.dk&gt;<br><b>Emne:</b> {subject}<o:p></o:p></p></div>\
             <p class=MsoNormal><o:p>&nbsp;</o:p></p>{below}</div></body></html>\r\n"
        );
        Mail::parse(raw.as_bytes(), 3).unwrap()
    }

    /// The typed form as an Outlook (Word) HTML table.
    fn outlook_table() -> String {
        let p = |t: &str| {
            format!(
                "<p class=MsoNormal><span style='mso-fareast-language:EN-US'>{t}<o:p></o:p></span></p>"
            )
        };
        let rows: String = TYPED_ROWS
            .iter()
            .map(|(l, v)| {
                format!(
                    "<tr><td width=227 valign=top>{}</td><td width=378 valign=top>{}</td></tr>",
                    p(l),
                    p(v)
                )
            })
            .collect();
        format!(
            "{}<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0>{rows}</table>",
            p(SFTP_TITLE)
        )
    }

    /// A form typed as a table into an Outlook HTML mail and forwarded inline by Outlook reads
    /// like the same form typed as plain text; the Fra/Sendt/Til/Emne block of a forward with
    /// no form above it cut the form before.
    #[test]
    fn an_outlook_html_forward_of_a_typed_table_reads_like_plain_text() {
        let lines: String = TYPED_ROWS
            .iter()
            .map(|(l, v)| format!("{l}: {v}\r\n"))
            .collect();
        let plain = format!(
            "From: a@b.dk\r\nSubject: Bestilling\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{SFTP_TITLE}\r\n{lines}"
        );
        let plain = extract(
            &Mail::parse(plain.as_bytes(), 3).unwrap(),
            &ExtractLimits::default(),
        );
        let html = outlook_html_mail(
            "<p class=MsoNormal>Se venligst nedenstående.<o:p></o:p></p>",
            "Bestilling",
            &outlook_table(),
        );
        let html = extract(&html, &ExtractLimits::default());
        assert_eq!(html.forms.len(), 1, "{:?}", html.problems);
        assert_eq!(plain.forms.len(), 1);
        assert_eq!(html.forms[0].kind, plain.forms[0].kind);
        assert_eq!(html.forms[0].fields, plain.forms[0].fields);
        assert_eq!(
            format!("{:?}", html.forms[0].findings),
            format!("{:?}", plain.forms[0].findings)
        );
    }

    /// One of our receipts below an Outlook HTML reply with nothing typed above it, or
    /// forwarded by Gmail in HTML: the receipt's field lines are never an order (the Gmail
    /// forward was read as one before).
    #[test]
    fn our_receipt_replied_to_or_forwarded_in_html_has_no_form() {
        let receipt = format!(
            "<p class=MsoNormal>Kære Lars<o:p></o:p></p><p class=MsoNormal>Vi har modtaget din bestilling og giver den referencen SP-2026-00007.<br>\
             {}<o:p></o:p></p><p class=MsoNormal>Med venlig hilsen<br>Serviceplatformens Helpdesk<o:p></o:p></p>",
            TYPED_ROWS
                .iter()
                .map(|(l, v)| format!("{l}: {v}"))
                .collect::<Vec<_>>()
                .join("<br>")
        );
        let mut mails: Vec<Mail> = [
            "[SP-2026-00007] Kvittering for modtagelse: Bestilling",
            "Kvittering",
        ]
        .iter()
        .map(|subject| {
            outlook_html_mail("<p class=MsoNormal>Tak.<o:p></o:p></p>", subject, &receipt)
        })
        .collect();
        let gmail = format!(
            "From: Lars <fa@kystby.dk>\r\nSubject: Fwd: Bestilling\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n\
             <div dir=\"ltr\"><br><div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">---------- Forwarded message ---------<br>\
             From: <strong class=\"gmail_sendername\" dir=\"auto\">Serviceplatformens Helpdesk</strong> <span dir=\"auto\">&lt;helpdesk@sp.dk&gt;</span><br>\
             Date: Mon, 30 Nov 2026 at 09:15<br>Subject: [SP-2026-00007] Kvittering for modtagelse: Bestilling<br>To: &lt;fa@kystby.dk&gt;<br></div><br><br>\
             {receipt}</div></div>\r\n"
        );
        mails.push(Mail::parse(gmail.as_bytes(), 3).unwrap());
        for mail in mails {
            let x = extract(&mail, &ExtractLimits::default());
            assert!(
                x.forms.is_empty(),
                "{}: {:?}",
                mail.subject,
                x.forms.first().map(|f| &f.fields)
            );
        }
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

    /// A winmail.dat (TNEF) that cannot be unpacked (here: garbage) is named as unreadable,
    /// with the TNEF reason, however it is labelled.
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

    /// A filled, valid webservice form as Word writes it.
    fn form_docx(id: &str) -> Vec<u8> {
        crate::forms::blank::filled_docx(
            crate::forms::fields::FormKind::Webservice,
            &[
                ("bestillings_id", id),
                ("environment", "Eksternt testmiljø"),
                ("desired_at", "01-09-2031 kl. 10.00"),
                ("org_name", "Fjordsoft ApS"),
                ("org_cvr", "39055414"),
                ("contact_name", "Karin Holm"),
                ("contact_email", "fa@example.test"),
                ("system_name", "SagsPilot"),
                ("system_uuid", "bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0"),
                ("system_role", "Serviceudbydersystem"),
                ("service_name", "SagsOpslag"),
                (
                    "current_url",
                    "https://exttest.fjordsoft.example/ws/v2/sagsopslag",
                ),
                (
                    "new_url",
                    "https://exttest2.fjordsoft.example/ws/v2/sagsopslag",
                ),
            ],
            &["url"],
        )
    }

    /// A mail from Outlook in Rich Text mode: a short text and `tnef` as winmail.dat.
    fn outlook_mail(tnef: Vec<u8>) -> Mail {
        let raw = mail_builder::MessageBuilder::new()
            .from(("Karin Holm", "fa@example.test"))
            .to("helpdesk@example.test")
            .subject("Bestilling")
            .text_body("Hermed bestillingen.")
            .attachment("application/ms-tnef", "winmail.dat", tnef)
            .write_to_vec()
            .unwrap();
        Mail::parse(&raw, 3).unwrap()
    }

    /// Outlook in Rich Text mode: the form inside winmail.dat is found and read, named as
    /// coming from winmail.dat; other files inside are what they are.
    #[test]
    fn a_form_inside_winmail_dat_is_found() {
        let tnef = crate::forms::read::tnef::build::Tnef::new()
            .file(
                "BESTIL~1.DOC",
                Some("Bestilling ny URL.docx"),
                &form_docx("KMB-TNEF-1"),
            )
            .file("LOGO.PNG", None, b"\x89PNG")
            .file("GAMMEL.DOC", None, b"\xd0\xcf\x11\xe0")
            .bytes();
        let x = extract(&outlook_mail(tnef), &ExtractLimits::default());
        assert_eq!(x.forms.len(), 1, "{:?}", x.unreadable);
        assert_eq!(x.forms[0].kind, crate::forms::fields::FormKind::Webservice);
        assert_eq!(x.forms[0].bestillings_id(), Some("KMB-TNEF-1"));
        assert_eq!(
            x.forms[0].source,
            "attachment:winmail.dat/Bestilling ny URL.docx"
        );
        assert_eq!(
            x.unreadable,
            vec![Unreadable {
                name: "winmail.dat/GAMMEL.DOC".into(),
                reason: "a file format we cannot read".into(),
            }]
        );
        // The image is noted as an image, not as an unreadable form.
        assert_eq!(x.images, vec!["winmail.dat/LOGO.PNG".to_string()]);
    }

    /// A nameless file inside is read by its content: a .docx is a zip with word/ parts.
    #[test]
    fn a_nameless_form_inside_winmail_dat_is_sniffed() {
        let mut t = crate::forms::read::tnef::build::Tnef::new();
        t.attr(2, 0x0006_9002, &[0; 14]);
        t.attr(2, 0x0006_800F, &form_docx("KMB-TNEF-2"));
        let x = extract(&outlook_mail(t.bytes()), &ExtractLimits::default());
        assert_eq!(x.forms.len(), 1, "{:?}", x.unreadable);
        assert_eq!(x.forms[0].source, "attachment:winmail.dat/vedhæftning 1");
    }

    /// A winmail.dat that unpacks but holds no form stays unreadable with the TNEF reason,
    /// exactly as before unpacking existed (the sender gets the Outlook advice).
    #[test]
    fn a_winmail_dat_without_a_form_stays_unreadable() {
        let tnef = crate::forms::read::tnef::build::Tnef::new()
            .file("LOGO.PNG", None, b"\x89PNG")
            .file("NOTE.TXT", Some("Huskeliste.txt"), b"Husk at bestille")
            .file("GAMMEL.DOC", None, b"\xd0\xcf\x11\xe0")
            .bytes();
        let x = extract(&outlook_mail(tnef), &ExtractLimits::default());
        assert!(x.forms.is_empty());
        assert_eq!(x.unreadable.len(), 1, "{:?}", x.unreadable);
        assert!(x.unreadable[0].is_tnef());
        assert_eq!(x.unreadable[0].name, "winmail.dat");
        assert!(x.images.is_empty() && x.problems.is_empty(), "{x:?}");
    }

    /// Files unpacked from winmail.dat count towards the attachment limit.
    #[test]
    fn unpacked_files_count_towards_the_attachment_limit() {
        let mut t = crate::forms::read::tnef::build::Tnef::new();
        t.file("A.PNG", None, b"x").file("B.PNG", None, b"x");
        t.file("FORM.DOCX", None, &form_docx("KMB-TNEF-3"));
        let limits = ExtractLimits {
            max_attachments: 3,
            ..ExtractLimits::default()
        };
        // winmail.dat + 2 files fill the limit: the form (third inside) is not read.
        let x = extract(&outlook_mail(t.bytes()), &limits);
        assert!(x.forms.is_empty());
        assert!(x.unreadable[0].is_tnef());
        assert!(
            x.problems
                .iter()
                .any(|p| p.contains("more than 3 attachments")),
            "{:?}",
            x.problems
        );
        let limits = ExtractLimits {
            max_attachments: 4,
            ..ExtractLimits::default()
        };
        let x = extract(&outlook_mail(t.bytes()), &limits);
        assert_eq!(x.forms.len(), 1, "{:?}", x.unreadable);
        assert!(x.problems.is_empty(), "{:?}", x.problems);
    }

    /// A mail inside a winmail.dat is counted for MIME parts before it is parsed, as the mail
    /// itself is at intake.
    #[test]
    fn a_part_bomb_inside_winmail_dat_is_not_parsed() {
        let mut bomb =
            b"From: a@b.dk\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        bomb.extend(b"--b\r\n\r\n".repeat(2_000));
        let mut t = crate::forms::read::tnef::build::Tnef::new();
        t.file("VIDERESENDT.EML", None, &bomb);
        let x = extract(&outlook_mail(t.bytes()), &ExtractLimits::default());
        assert!(
            x.problems
                .iter()
                .any(|p| p.contains("more than 1000 MIME parts; not read")),
            "{:?}",
            x.problems
        );
    }

    /// A mail whose text is a form and which forwards `width` such mails, `depth` levels deep:
    /// sum(width^k) forms in all, none more than `width` attachments on one level.
    pub(crate) fn nested_forwards(width: usize, depth: usize, id: &str) -> String {
        let boundary = format!("b{}", id.replace('-', ""));
        let mut raw = format!(
            "From: a@b.dk\r\nSubject: Bestilling {id}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
             --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\
             KOMBIT BestillingsID: {id}\r\nMiljø: Produktion\r\nSFTP-bruger: bd\r\nOvervågning: Fra\r\n"
        );
        if depth > 0 {
            for k in 0..width {
                raw.push_str(&format!(
                    "--{boundary}\r\nContent-Type: message/rfc822\r\n\
                     Content-Disposition: attachment; filename=\"f{k}.eml\"\r\n\r\n{}",
                    nested_forwards(width, depth - 1, &format!("{id}-{k}"))
                ));
            }
        }
        raw.push_str(&format!("--{boundary}--\r\n"));
        raw
    }

    /// Attachments and forms are counted over the whole mail, not per MIME level.
    #[test]
    fn forms_and_attachments_are_counted_over_the_whole_mail() {
        // 1 + 3 + 9 = 13 forms, 3 + 9 = 12 forwarded mails, 3 on each level.
        let mail = Mail::parse(nested_forwards(3, 2, "BD-1").as_bytes(), 3).unwrap();
        let all = ExtractLimits {
            max_forms_per_mail: 100,
            ..ExtractLimits::default()
        };
        let x = extract(&mail, &all);
        assert_eq!(x.forms.len(), 13);
        assert_eq!((x.forms_dropped, x.attachments_capped), (0, false));

        let few_forms = ExtractLimits {
            max_forms_per_mail: 5,
            ..ExtractLimits::default()
        };
        let x = extract(&mail, &few_forms);
        assert_eq!((x.forms.len(), x.forms_dropped), (5, 8));
        assert!(
            x.problems
                .iter()
                .any(|p| p.contains("13 order forms in one mail, more than the limit of 5")),
            "{:?}",
            x.problems
        );

        // 4 attachments for the whole mail: the top level's 3 and one on the next level.
        let few_files = ExtractLimits {
            max_attachments: 4,
            max_forms_per_mail: 100,
            ..ExtractLimits::default()
        };
        let x = extract(&mail, &few_files);
        assert!(x.attachments_capped);
        // The top mail's form, the 3 forwarded ones, and the one mail read on the next level.
        assert_eq!(x.forms.len(), 5);
        let notes = x
            .problems
            .iter()
            .filter(|p| p.contains("attachments"))
            .count();
        assert_eq!(notes, 1, "{:?}", x.problems);
    }
}
