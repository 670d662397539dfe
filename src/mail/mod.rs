//! A received mail as plain owned data: the facts spdesk needs (sender, threading headers,
//! bodies, attachments with decoded names, forwarded mails) read with mail-parser, plus the
//! loop-safety classification (bounce, auto-reply, mailing list).

mod charset;
mod encoded_words;
pub mod header_value;
pub mod identity;
mod inline;
mod loops;
pub mod own_id;
pub mod spam;

use chrono::{DateTime, FixedOffset};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use serde::Serialize;

pub use charset::is_displayable;

/// The domain of an address, lowercased; empty when it has no `@`. The one place that says
/// what "the domain" of a sender, a requester or a contact is.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_lowercase())
        .unwrap_or_default()
}

/// One attachment (or forwarded mail).
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The decoded file name (RFC 2047 and RFC 2231 handled by mail-parser).
    pub name: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// A forwarded mail (message/rfc822), parsed.
    pub message: Option<Box<Mail>>,
    /// Shown inside the mail's text, not attached: a picture the HTML refers to by its
    /// Content-ID, or one marked inline in a multipart/related (mail/inline.rs). Such a
    /// picture is no form, not even an unreadable one.
    pub inline: bool,
}

/// The facts of a mail.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub message_id: Option<String>,
    /// The From address (lower-cased domain), if any.
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<DateTime<FixedOffset>>,
    /// Every header as (name, raw value), in order.
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The top-level content type, lower case.
    pub content_type: String,
}

/// Why a mail must never be answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoopFlags {
    pub auto_reply: bool,
    pub bounce: bool,
    pub list: bool,
    /// Spam by the receiving MTA's verdict ([`spam::SpamHeaders`]); set by the judge, which
    /// knows the configured tests.
    pub spam: bool,
}

impl LoopFlags {
    pub fn no_reply(self) -> bool {
        self.auto_reply || self.bounce || self.list || self.spam
    }
}

/// What [`Mail::headers_only`] and intake's first look for the Message-ID read of a mail. Such
/// a mail may be over the header limits: 24 MB of header fields (6 million) cost mail-parser
/// 1.4 GB, and intake reads the headers of every mail before it checks the limits, and again
/// when it quarantines one, on every attempt, so the daemon died on the mail again after
/// every restart. Real header sections are a few KB, long DKIM/ARC chains some tens.
const HEADERS_ONLY_BYTES: usize = 256 * 1024;

/// The start of `raw` that is read for its headers before the mail is checked against the
/// header limits, or when it is not parsed at all (see [`HEADERS_ONLY_BYTES`]).
pub fn header_start(raw: &[u8]) -> &[u8] {
    raw.get(..HEADERS_ONLY_BYTES).unwrap_or(raw)
}

impl Mail {
    /// Parses a raw mail; `None` when the bytes are not a mail at all. Forwarded mails are
    /// parsed down to `max_depth` levels.
    pub fn parse(raw: &[u8], max_depth: usize) -> Option<Mail> {
        let msg = MessageParser::default().parse(raw)?;
        if msg.headers().is_empty() {
            return None;
        }
        Some(from_message(&msg, max_depth))
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The sender, subject, Message-ID and header fields only, body unread: what a person
    /// needs to find a mail that is kept whole because it is over a limit or unparsable. Only
    /// the first [`HEADERS_ONLY_BYTES`] are read: such a mail's header section may itself be
    /// the attack.
    pub fn headers_only(raw: &[u8]) -> Mail {
        mail_parser::MessageParser::new()
            .parse_headers(header_start(raw))
            .map(|m| Mail {
                message_id: m.message_id().map(str::to_string),
                from: charset::from_address(&m, |a| {
                    a.and_then(|a| a.first())
                        .and_then(|a| a.address())
                        .map(str::to_string)
                }),
                subject: charset::subject(&m),
                headers: m
                    .headers_raw()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                ..Mail::default()
            })
            .unwrap_or_default()
    }

    /// Where replies go: Reply-To if present, else From.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to.as_deref().or(self.from.as_deref())
    }

    /// The Message-IDs a bounce carries in its returned headers (to find which receipt of ours
    /// bounced).
    pub fn returned_message_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.attachments {
            if let Some(m) = &a.message {
                out.extend(m.message_id.clone());
            } else if a.content_type == "text/rfc822-headers" {
                let text = String::from_utf8_lossy(&a.bytes);
                for line in text.lines() {
                    if let Some(v) = line
                        .strip_prefix("Message-ID:")
                        .or_else(|| line.strip_prefix("Message-Id:"))
                    {
                        out.push(v.trim().trim_matches(['<', '>']).to_string());
                    }
                }
            }
        }
        out
    }
}

fn addr_of(v: Option<&mail_parser::Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(a) = v.and_then(|a| a.first()) else {
        return (None, None);
    };
    let address = a.address().and_then(|s| {
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@')?;
        Some(format!("{local}@{}", domain.to_ascii_lowercase()))
    });
    (address, a.name().map(str::to_string))
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn from_message(msg: &Message<'_>, depth: usize) -> Mail {
    let (from, from_name) = charset::from_address(msg, addr_of);
    let (reply_to, _) = addr_of(msg.reply_to());
    let headers = msg
        .headers_raw()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let content_type = msg
        .root_part()
        .content_type()
        .map(|ct| {
            format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase()
            )
        })
        .unwrap_or_else(|| "text/plain".into());
    let date = msg
        .date()
        .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok());

    let inline = inline::inline_parts(msg);
    let mut attachments = Vec::new();
    for &id in &msg.attachments {
        let Some(part) = usize::try_from(id).ok().and_then(|i| msg.parts.get(i)) else {
            continue;
        };
        let name = part.attachment_name().map(str::to_string);
        let ctype = part
            .content_type()
            .map(|ct| {
                format!(
                    "{}/{}",
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase()
                )
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let message = match part.message() {
            Some(inner) if depth > 0 => Some(Box::new(from_message(inner, depth - 1))),
            _ => None,
        };
        attachments.push(Attachment {
            name,
            content_type: ctype,
            bytes: part.contents().to_vec(),
            message,
            inline: inline.contains(&id),
        });
    }
    let text = msg
        .text_bodies()
        .filter(|p| !p.is_text_html())
        .filter_map(|p| p.text_contents())
        .collect::<Vec<_>>();
    let html = msg
        .html_bodies()
        .filter(|p| p.is_text_html())
        .filter_map(|p| p.text_contents())
        .collect::<Vec<_>>();
    Mail {
        message_id: msg.message_id().map(|s| s.trim().to_string()),
        from,
        from_name,
        reply_to,
        subject: charset::subject(msg),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        date,
        headers,
        text: (!text.is_empty()).then(|| text.join("\n")),
        html: (!html.is_empty()).then(|| html.join("\n")),
        attachments,
        content_type,
    }
}

/// Bounds on a mail's header section and MIME structure, checked on the raw bytes before
/// anything parses them: a parser's cost grows with the number and size of header fields and
/// with the number of MIME parts (3.4 million empty parts cost mail-parser 660 MB), and no
/// ordinary mail comes near these (`[limits]` max_header_count, max_header_bytes,
/// max_header_field_bytes, max_mime_parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    pub max_count: usize,
    pub max_bytes: u64,
    pub max_field_bytes: u64,
    pub max_mime_parts: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            max_count: 1000,
            max_bytes: 1_000_000,
            max_field_bytes: 64_000,
            max_mime_parts: 1000,
        }
    }
}

/// Why the header section or the MIME structure of `raw` is over `limits` (for the
/// Helpdesk), or `None` when they are within them. The section ends at the first empty line
/// (or with the bytes); a line that starts with a space or tab continues the field before it.
/// Reads each byte at most once per check and stops at the first limit exceeded.
pub fn header_over_limits(raw: &[u8], limits: &HeaderLimits) -> Option<String> {
    header_section_over_limits(raw, limits).or_else(|| {
        mime_parts_over(raw, limits.max_mime_parts).then(|| {
            format!(
                "the mail has more than {} MIME parts",
                limits.max_mime_parts
            )
        })
    })
}

/// True when `raw` may have more than `max` MIME parts (see [`header_over_limits`]): for mails
/// parsed later than intake, such as a .eml unpacked from a winmail.dat.
pub fn mime_parts_over(raw: &[u8], max: usize) -> bool {
    mime_parts_upper_bound(raw, MAX_NESTED_ENCODED, max) > max
}

/// How many levels of encoded (base64, quoted-printable) forwarded mails mail-parser decodes
/// and parses in turn (its `MAX_NESTED_ENCODED`).
const MAX_NESTED_ENCODED: usize = 3;

/// Header lines of one part (or of a forwarded mail inside a part) that count as one more
/// MIME part: mail-parser keeps every header field of every part (about 120 bytes each), and
/// only the mail's own header section is held to `max_header_count`. A part's header is a
/// handful of lines; 6 million header lines in one part cost 745 MB.
const HEADER_LINES_PER_PART: usize = 50;
/// Bytes of one header section that count as one more MIME part: a single field can cost far
/// more than its bytes once parsed (one References field of 7 million ids in a forwarded mail,
/// 21 MB, cost 623 MB; a Content-Type of 5.5 million parameters 307 MB). A part's header is
/// well under 1 KB, a forwarded mail's some KB (tens with long DKIM/ARC chains).
const HEADER_BYTES_PER_PART: usize = 1024;

/// An upper bound on the MIME parts mail-parser would make of `raw`, counted up to `stop`
/// (anything over it is as bad): every line starting with `--` may open or close a part, so
/// it counts without looking at the declared boundaries (which can be spelled in ways a
/// pre-scan could miss). The body of a part that may be an encoded forwarded mail (a
/// `message/...` type with a base64 or quoted-printable encoding) is decoded and counted too,
/// down to `depth` levels, because mail-parser parses those as well; a forwarded mail that is
/// not encoded has its own header section right after the part's. Every
/// [`HEADER_LINES_PER_PART`] lines and every [`HEADER_BYTES_PER_PART`] bytes of one header
/// section count as one more part. Linear in `raw` per level.
fn mime_parts_upper_bound(raw: &[u8], depth: usize, stop: usize) -> usize {
    let mut scan = PartScan::default();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if scan.count > stop {
            break;
        }
        if line.starts_with(b"--") {
            scan.count = scan.count.saturating_add(1);
            scan.count_nested(depth, stop);
            scan.open_part();
        } else if scan.in_headers {
            scan.header_line(line);
        } else if let Some((_, body)) = scan.encoded.as_mut() {
            body.extend_from_slice(line);
        }
    }
    scan.count_nested(depth, stop);
    scan.count
}

/// Where [`mime_parts_upper_bound`] is in `raw`: the parts counted so far and what the header
/// section of the current part (the mail's own first) has said.
struct PartScan {
    count: usize,
    in_headers: bool,
    header_lines: usize,
    header_bytes: usize,
    message_type: bool,
    encoding: Option<Encoding>,
    /// The body of a possibly encoded forwarded mail, collected until its part ends.
    encoded: Option<(Encoding, Vec<u8>)>,
}

impl Default for PartScan {
    fn default() -> Self {
        PartScan {
            count: 0,
            in_headers: true,
            header_lines: 0,
            header_bytes: 0,
            message_type: false,
            encoding: None,
            encoded: None,
        }
    }
}

impl PartScan {
    /// A `--` line: what follows is a new part's header section.
    fn open_part(&mut self) {
        *self = PartScan {
            count: self.count,
            ..PartScan::default()
        };
    }

    /// Counts the parts of the encoded forwarded mail collected so far, one level deeper.
    fn count_nested(&mut self, depth: usize, stop: usize) {
        if let Some((enc, body)) = self.encoded.take()
            && depth > 0
        {
            let decoded = enc.decode(&body);
            let room = stop.saturating_sub(self.count);
            self.count =
                self.count
                    .saturating_add(mime_parts_upper_bound(&decoded, depth - 1, room));
        }
    }

    /// One line of a header section: counts its size and notes a `message` type and a
    /// transfer encoding; an empty line ends the section.
    fn header_line(&mut self, line: &[u8]) {
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            self.end_headers();
            return;
        }
        self.header_lines = self.header_lines.saturating_add(1);
        if self.header_lines >= HEADER_LINES_PER_PART {
            self.header_lines = 0;
            self.count = self.count.saturating_add(1);
        }
        self.header_bytes = self.header_bytes.saturating_add(line.len());
        let parts_of_bytes = self.header_bytes / HEADER_BYTES_PER_PART;
        self.count = self.count.saturating_add(parts_of_bytes);
        self.header_bytes %= HEADER_BYTES_PER_PART;
        let lower = trimmed.to_ascii_lowercase();
        // Not "message/": mail-parser also takes `message (x) /rfc822`, `message /rfc822` and
        // a `/rfc822` folded onto the next line as a forwarded mail.
        if lower.windows(7).any(|w| w == b"message") {
            self.message_type = true;
        }
        if lower.windows(6).any(|w| w == b"base64") {
            self.encoding = Some(Encoding::Base64);
        } else if lower.windows(16).any(|w| w == b"quoted-printable") {
            self.encoding = Some(Encoding::QuotedPrintable);
        }
    }

    /// The empty line after a header section: the body follows, or (a forwarded mail as it
    /// is) the forwarded mail's own header section.
    fn end_headers(&mut self) {
        self.header_lines = 0;
        self.header_bytes = 0;
        match (self.message_type, self.encoding) {
            (true, Some(enc)) => {
                self.in_headers = false;
                self.encoded = Some((enc, Vec::new()));
            }
            // A forwarded mail as it is: its header section follows, and mail-parser makes a
            // part of it. Counting it bounds the nesting too: mail-parser parses nested mails
            // without recursion but drops them recursively, and 200,000 nested mails (6 MB)
            // overflowed the stack.
            (true, None) => {
                self.message_type = false;
                self.count = self.count.saturating_add(1);
            }
            (false, _) => self.in_headers = false,
        }
    }
}

/// A transfer encoding mail-parser decodes before parsing a forwarded mail.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    Base64,
    QuotedPrintable,
}

impl Encoding {
    /// Decodes leniently, as mail-parser does: bytes outside the encoding are skipped.
    fn decode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Encoding::Base64 => {
                use base64::Engine;
                use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
                const LENIENT: GeneralPurpose = GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    GeneralPurposeConfig::new()
                        .with_decode_allow_trailing_bits(true)
                        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
                );
                let mut clean: Vec<u8> = body
                    .iter()
                    .copied()
                    .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
                    .collect();
                // One character past a multiple of four carries no whole byte.
                if clean.len() % 4 == 1 {
                    clean.pop();
                }
                LENIENT.decode(&clean).unwrap_or_default()
            }
            Encoding::QuotedPrintable => {
                quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
                    .unwrap_or_default()
            }
        }
    }
}

/// The header-section part of [`header_over_limits`].
fn header_section_over_limits(raw: &[u8], limits: &HeaderLimits) -> Option<String> {
    let mut fields: usize = 0;
    let mut total: u64 = 0;
    let mut field: u64 = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line == b"\n" || line == b"\r\n" {
            break;
        }
        let len = u64::try_from(line.len()).unwrap_or(u64::MAX);
        total = total.saturating_add(len);
        if total > limits.max_bytes {
            return Some(format!(
                "the mail's header section is larger than the limit of {} bytes",
                limits.max_bytes
            ));
        }
        let continues = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if continues && fields > 0 {
            field = field.saturating_add(len);
        } else {
            fields = fields.saturating_add(1);
            field = len;
            if fields > limits.max_count {
                return Some(format!(
                    "the mail has more than {} header fields",
                    limits.max_count
                ));
            }
        }
        if field > limits.max_field_bytes {
            return Some(format!(
                "a header field of the mail is larger than the limit of {} bytes",
                limits.max_field_bytes
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::loops::{alnum_lower, head_chars};
    use super::*;

    fn mail(headers: &str, body: &str) -> Mail {
        let raw = format!("{headers}\r\n\r\n{body}");
        Mail::parse(raw.as_bytes(), 3).expect("a mail")
    }

    #[test]
    fn reads_sender_threading_and_subject() {
        let m = mail(
            "From: Karin Holm <kaho@Vestaa.DK>\r\nReply-To: sp@vestaa.dk\r\nSubject: =?utf-8?q?Bestilling_=C3=A6ndring?=\r\nMessage-ID: <abc@x.test>\r\nIn-Reply-To: <r1@spdesk>\r\nReferences: <r0@spdesk> <r1@spdesk>",
            "Hej",
        );
        assert_eq!(m.from.as_deref(), Some("kaho@vestaa.dk"));
        assert_eq!(m.reply_address(), Some("sp@vestaa.dk"));
        assert_eq!(m.subject, "Bestilling ændring");
        assert_eq!(m.message_id.as_deref(), Some("abc@x.test"));
        assert_eq!(m.in_reply_to, vec!["r1@spdesk"]);
        assert_eq!(m.references, vec!["r0@spdesk", "r1@spdesk"]);
        assert_eq!(m.text.as_deref().map(str::trim), Some("Hej"));
        assert_eq!(m.loop_flags(), LoopFlags::default());
    }

    fn small() -> HeaderLimits {
        HeaderLimits {
            max_count: 3,
            max_bytes: 100,
            max_field_bytes: 30,
            max_mime_parts: 10,
        }
    }

    #[test]
    fn header_limits_count_fields_not_folded_lines() {
        let l = small();
        // Three fields, one folded over two lines: within the limits.
        let ok =
            b"From: a@b.dk\r\nSubject: x\r\n y\r\nTo: c@d.dk\r\n\r\nA: not a header\r\nB: 1\r\n";
        assert_eq!(header_over_limits(ok, &l), None);
        let four = b"From: a@b.dk\nSubject: x\nTo: c@d.dk\nCc: e@f.dk\n\nbody";
        let why = header_over_limits(four, &l).unwrap_or_default();
        assert!(why.contains("more than 3 header fields"), "{why}");
        // Bare LF line ends and a section without a body count the same.
        assert_eq!(header_over_limits(b"From: a@b.dk\nTo: c@d.dk", &l), None);
        assert_eq!(header_over_limits(b"", &l), None);
        assert_eq!(header_over_limits(b"\r\n", &l), None);
    }

    #[test]
    fn header_limits_on_one_field_and_the_whole_section() {
        let l = small();
        // 31 bytes in one field, spread over folded lines.
        let long = b"Subject: 0123456789\r\n 0123456\r\n\r\n";
        let why = header_over_limits(long, &l).unwrap_or_default();
        assert!(why.contains("header field"), "{why}");
        // Exactly at the field limit: fine.
        let at = b"Subject: 0123456789\r\n 012345\r\n\r\n";
        assert_eq!(at.len() - 2, 30);
        assert_eq!(header_over_limits(at, &l), None);
        let wide = HeaderLimits {
            max_field_bytes: 1000,
            ..l
        };
        let big = format!("Subject: {}\r\n\r\n", "x".repeat(100));
        let why = header_over_limits(big.as_bytes(), &wide).unwrap_or_default();
        assert!(why.contains("header section"), "{why}");
        // A folded line at the very start has no field before it: it starts one, and the
        // lines after it continue that field.
        assert_eq!(header_over_limits(b" a\n b\n c\n d\n", &l), None);
        let tiny = HeaderLimits {
            max_field_bytes: 5,
            ..l
        };
        assert!(header_over_limits(b" a\n b\n c\n d\n", &tiny).is_some());
        // Huge input without a line end: stops at the section limit.
        let blob = vec![b'x'; 10_000_000];
        assert!(header_over_limits(&blob, &HeaderLimits::default()).is_some());
    }

    #[test]
    fn flags_auto_replies_bounces_and_lists() {
        let m = mail(
            "From: a@b.dk\r\nAuto-Submitted: auto-replied\r\nSubject: x",
            "",
        );
        assert!(m.loop_flags().auto_reply);
        let m = mail("From: a@b.dk\r\nAuto-Submitted: no\r\nSubject: x", "");
        assert!(!m.loop_flags().no_reply());
        let m = mail(
            "From: MAILER-DAEMON@mx.b.dk\r\nSubject: Undelivered Mail Returned to Sender",
            "",
        );
        assert!(m.loop_flags().bounce);
        let m = mail("From: a@b.dk\r\nReturn-Path: <>\r\nSubject: x", "");
        assert!(m.loop_flags().bounce);
        let m = mail("From: a@b.dk\r\nList-Id: <x.lists.b.dk>\r\nSubject: x", "");
        assert!(m.loop_flags().list);
        let m = mail("From: a@b.dk\r\nSubject: Automatisk svar: Bestilling", "");
        assert!(m.loop_flags().auto_reply);
    }

    /// An MMS gateway's report (bounce corpus lhost-verizon-01): a real sender, nothing
    /// attached, only a bounce subject over failure wording. Either alone is not enough.
    #[test]
    fn bounce_subject_over_failure_wording_is_a_bounce() {
        let from = "From: MMSC NDR Administrator <sysadmin@m01.vzwpix.com>\r\n";
        let m = mail(
            &format!("{from}Subject: Undeliverable Message"),
            "Message could not be delivered to mobile.\r\nError: No valid recipients\r\n",
        );
        assert!(m.loop_flags().bounce);
        let m = mail(&format!("{from}Subject: Undeliverable Message"), "Hej");
        assert!(!m.loop_flags().bounce);
        let m = mail(
            &format!("{from}Subject: Bestilling"),
            "Vores mail could not be delivered.",
        );
        assert!(!m.loop_flags().bounce);
    }

    /// An order as a fagansvarlig sends it from Outlook: Exchange headers, a covering note and
    /// the form. Nothing in it may look like a loop.
    #[test]
    fn an_ordinary_order_mail_is_not_flagged() {
        let m = mail(
            "Return-Path: <fa@example.test>\r\nFrom: Fagansvarlig <fa@example.test>\r\n\
             To: helpdesk@example.test\r\nSubject: Bestilling: nyt SSL-certifikat til SagsOpslag\r\n\
             Thread-Topic: Bestilling\r\nThread-Index: AQHa1b2c3d4e5f6g7h8i9j0k\r\n\
             X-MS-Has-Attach: yes\r\nX-MS-TNEF-Correlator:\r\nContent-Language: da-DK\r\n\
             Message-ID: <o1@example.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"",
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Hej Helpdesk\r\n\r\nHermed bestillingen. Vores seneste mail kunne ikke leveres til jer?\r\n\
             --b\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document; name=\"Bestilling.docx\"\r\n\
             Content-Disposition: attachment; filename=\"Bestilling.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             UEsDBA==\r\n--b--\r\n",
        );
        assert_eq!(m.from.as_deref(), Some("fa@example.test"));
        assert_eq!(m.loop_flags(), LoopFlags::default());
        // Subjects that merely start like an auto-reply marker.
        for subject in [
            "Awaiting approval: Bestilling",
            "Awareness: SFTP-indbakke",
            "Re: Returned form",
        ] {
            let m = mail(&format!("From: fa@example.test\r\nSubject: {subject}"), "x");
            assert_eq!(m.loop_flags(), LoopFlags::default(), "{subject}");
        }
    }

    /// A person forwarding an ordinary mail, or asking about a failed one, is answered: a
    /// returned message alone, or bounce wording in a forward, is no bounce.
    #[test]
    fn a_forward_is_not_a_bounce() {
        let inner = "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n\
                     From: fa@example.test\r\nSubject: original\r\nMessage-ID: <i@example.test>\r\n\r\nsomething\r\n";
        let m = mail(
            "From: dummy@example.com\r\nSubject: original as attachment\r\nContent-Type: multipart/mixed; boundary=b",
            &format!(
                "--b\r\nContent-Type: text/plain\r\n\r\nit is no bounce\r\n--b\r\n{inner}--b--\r\n"
            ),
        );
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.loop_flags(), LoopFlags::default());
        let m = mail(
            "From: fa@example.test\r\nSubject: VS: Bestilling\r\nContent-Type: multipart/mixed; boundary=b",
            &format!(
                "--b\r\nContent-Type: text/plain\r\n\r\nMin mail could not be delivered, se vedhæftet.\r\n--b\r\n{inner}--b--\r\n"
            ),
        );
        assert!(!m.loop_flags().no_reply());
    }

    /// The bounce shapes of the real-world corpus (tests/corpus/bounces) in miniature.
    #[test]
    fn flags_non_standard_bounces() {
        let returned = "--b\r\nContent-Type: message/rfc822\r\n\r\n\
                        From: fa@example.test\r\nSubject: x\r\nMessage-ID: <r@example.test>\r\n\r\nNyaan\r\n--b--\r\n";
        // Apache James: `post_master`, a plain-text report, nothing else.
        let m = mail(
            "From: post_master@vtext.example.com\r\nSubject: Re:Test message",
            "Error: Invalid user address",
        );
        assert!(m.loop_flags().bounce);
        // Postfix's display name with an odd address.
        let m = mail(
            "From: Mail Delivery System <mta@mx.example.com>\r\nSubject: x",
            "",
        );
        assert!(m.loop_flags().bounce);
        // KDDI: a no-reply sender, MTA wording and the returned mail.
        let m = mail(
            "From: no-reply@example.jp\r\nSubject: =?utf-8?b?44Oh44O844Or44Ko44Op44O86YCa55+l?=\r\nContent-Type: multipart/mixed; boundary=b",
            &format!(
                "--b\r\nContent-Type: text/plain\r\n\r\nYour mail Could not be delivered to: <k@example.jp>\r\n{returned}"
            ),
        );
        assert_eq!(m.subject, "メールエラー通知");
        assert!(m.loop_flags().bounce);
        // Hotmail's pre-ARF complaint: only the subject and the reported mail.
        let m = mail(
            "From: <staff@hotmail.com>\r\nSubject:  complaint about message from 192.0.2.222\r\nContent-Type: multipart/mixed; boundary=b",
            returned,
        );
        assert!(m.loop_flags().bounce);
        // The same subject with no reported mail is a person writing.
        let m = mail(
            "From: fa@example.test\r\nSubject: Complaint about message from Helpdesk",
            "Hej",
        );
        assert!(!m.loop_flags().no_reply());
        // A delivery-status part re-wrapped in multipart/mixed.
        let m = mail(
            "From: gw@example.com\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b",
            "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.example.com\r\n\r\nAction: failed\r\n--b--\r\n",
        );
        assert!(m.loop_flags().bounce);
        let m = mail(
            "From: a@b.dk\r\nSubject: x\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
            "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
        );
        assert!(m.loop_flags().bounce);
        let m = mail(
            "From: a@b.dk\r\nX-Failed-Recipients: c@d.dk\r\nSubject: x",
            "",
        );
        assert!(m.loop_flags().bounce);
    }

    #[test]
    fn flags_auto_reply_headers_and_subjects() {
        for h in [
            "Precedence: bulk",
            "Precedence: junk",
            "X-Autoreply: yes",
            "X-Auto-Response-Suppress: All",
            "Subject: Away: on leave until Monday",
            "Subject: Out of Office: Bestilling",
        ] {
            let m = mail(&format!("From: a@b.dk\r\n{h}"), "");
            assert!(m.loop_flags().auto_reply, "{h}");
        }
    }

    #[test]
    fn head_chars_cuts_at_a_character_boundary() {
        assert_eq!(head_chars("æøå", 3), "æ");
        assert_eq!(head_chars("æøå", 1), "");
        assert_eq!(head_chars("abc", 10), "abc");
        assert_eq!(alnum_lower("Mailer_Daemon"), "mailerdaemon");
    }

    #[test]
    fn auto_reply_subjects_count_only_at_the_start() {
        for auto in [
            "Automatisk svar: Bestilling",
            "SV: Autosvar: Bestilling",
            "[EXT] Out of Office: Bestilling",
            "RE: [ekstern] fraværende: x",
            "Away from the office",
        ] {
            let m = mail(&format!("From: a@b.dk\r\nSubject: {auto}"), "");
            assert!(m.loop_flags().auto_reply, "{auto}");
        }
        for person in [
            "Bestilling efter autosvar",
            "Ny URL til vacation-planner",
            "Certifikat for auto: SagsOpslag",
            "[",
            "[unclosed tag: Bestilling",
            "re: sv: ",
            "",
        ] {
            let m = mail(&format!("From: a@b.dk\r\nSubject: {person}"), "");
            assert!(!m.loop_flags().auto_reply, "{person}");
        }
    }

    /// A mail of `n` empty MIME parts (the shape that cost mail-parser 660 MB at 3.4 million).
    fn empty_parts(n: usize) -> Vec<u8> {
        let mut raw =
            b"From: a@b.dk\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n".to_vec();
        for _ in 0..n {
            raw.extend_from_slice(b"--b\r\n\r\n");
        }
        raw
    }

    #[test]
    fn mime_parts_are_counted_before_parsing() {
        let l = HeaderLimits {
            max_mime_parts: 100,
            ..HeaderLimits::default()
        };
        assert_eq!(header_over_limits(&empty_parts(100), &l), None);
        let why = header_over_limits(&empty_parts(101), &l).unwrap_or_default();
        assert_eq!(why, "the mail has more than 100 MIME parts");
        // The default limit refuses the bomb's shape long before its millions of parts.
        assert!(header_over_limits(&empty_parts(200_000), &HeaderLimits::default()).is_some());
        // An ordinary mail with a body, an attachment and a closing boundary is well within.
        let ordinary = b"From: a@b.dk\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n\
            --x\r\nContent-Type: text/plain\r\n\r\nHej\r\n-- \r\nLars\r\n\
            --x\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--x--\r\n";
        assert_eq!(mime_parts_upper_bound(ordinary, 3, 1000), 4);
    }

    #[test]
    fn parts_inside_an_encoded_forwarded_mail_count_too() {
        use base64::Engine;
        let inner = empty_parts(60);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&inner);
        let mut raw = b"From: a@b.dk\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
            --o\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
        for chunk in b64.as_bytes().chunks(76) {
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"--o--\r\n");
        // 2 boundary lines outside, 60 inside.
        assert_eq!(mime_parts_upper_bound(&raw, 3, 1000), 62);
        let l = HeaderLimits {
            max_mime_parts: 50,
            ..HeaderLimits::default()
        };
        assert!(header_over_limits(&raw, &l).is_some());
        // mail-parser really does parse the encoded mail's parts.
        let parsed = MessageParser::default().parse(&raw).unwrap();
        let nested = parsed
            .attachments()
            .next()
            .and_then(|a| a.message())
            .unwrap();
        assert!(nested.parts.len() > 50, "{}", nested.parts.len());
        // Quoted-printable hides a boundary behind a soft line break.
        let qp =
            b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            Content-Type: multipart/mixed; boundary=3Db\r\n\r\n-=\r\n-b\r\n\r\n-=\r\n-b\r\n";
        assert_eq!(mime_parts_upper_bound(qp, 3, 1000), 2);
        assert_eq!(mime_parts_upper_bound(qp, 0, 1000), 0);
    }

    /// Header lines inside parts cost mail-parser as much as parts do: a part's header section
    /// of millions of lines, or the header section of a forwarded mail that is not encoded,
    /// counts against max_mime_parts; an ordinary part header does not.
    #[test]
    fn header_lines_inside_parts_count_as_parts() {
        let top = "From: a@b.dk\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n";
        let lines = "X-A: b\r\n".repeat(HEADER_LINES_PER_PART * 2000);
        let in_part = format!("{top}--o\r\n{lines}\r\nhi\r\n--o--\r\n");
        assert!(mime_parts_over(in_part.as_bytes(), 1000));
        let forwarded = format!(
            "{top}--o\r\nContent-Type: message/rfc822\r\n\r\n{lines}Subject: x\r\n\r\nhi\r\n--o--\r\n"
        );
        assert!(mime_parts_over(forwarded.as_bytes(), 1000));
        // One field, millions of ids: its bytes count.
        let references = format!(
            "{top}--o\r\nContent-Type: message/rfc822\r\n\r\nReferences: {}\r\n\r\nhi\r\n--o--\r\n",
            "<a>".repeat(400_000)
        );
        assert!(mime_parts_over(references.as_bytes(), 1000));
        let ordinary = format!(
            "{top}--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@d.dk\r\nSubject: x\r\n\r\nhi\r\n--o--\r\n"
        );
        // Two boundary lines and the forwarded mail.
        assert_eq!(mime_parts_upper_bound(ordinary.as_bytes(), 3, 1000), 3);
    }

    /// Forwarded mails nested in each other without a boundary line: every one counts as a
    /// part, so the default limit refuses the 6 MB mail of 200,000 levels that overflowed the
    /// stack when mail-parser's message was dropped; and the deepest mail the default limit lets
    /// through parses and drops on a thread with tokio's default stack for blocking tasks (2 MiB).
    #[test]
    fn nested_forwarded_mails_count_as_parts() {
        let nested = |levels: usize| {
            format!(
                "From: a@b.dk\r\n{}Subject: in\r\n\r\nCVR-nr.: 1\r\n",
                "Content-Type: message/rfc822\r\n\r\n".repeat(levels)
            )
        };
        assert!(mime_parts_over(nested(200_000).as_bytes(), 1000));
        for spelling in [
            "message (x) /rfc822",
            "MESSAGE\t/rfc822",
            "message\r\n /rfc822",
        ] {
            let variant = format!(
                "From: a@b.dk\r\n{}\r\n",
                format!("Content-Type: {spelling}\r\n\r\n").repeat(2000)
            );
            assert!(mime_parts_over(variant.as_bytes(), 1000), "{spelling:?}");
        }
        let limits = HeaderLimits::default();
        let deepest = nested(limits.max_mime_parts);
        assert!(header_over_limits(deepest.as_bytes(), &limits).is_none());
        assert!(
            header_over_limits(nested(limits.max_mime_parts + 1).as_bytes(), &limits).is_some()
        );
        let parsed = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || Mail::parse(deepest.as_bytes(), 3).is_some())
            .expect("a thread")
            .join();
        assert!(matches!(parsed, Ok(true)), "{parsed:?}");
    }

    /// A mail quarantined for its header section is read for its headers in bounded memory:
    /// the fields past the first HEADERS_ONLY_BYTES are not parsed, those before are.
    #[test]
    fn headers_only_reads_a_bounded_start() {
        let raw = format!(
            "From: a@b.dk\r\nSubject: x\r\nMessage-ID: <1@b.dk>\r\n{}\r\nhi\r\n",
            "a:b\n".repeat(1_000_000)
        );
        let m = Mail::headers_only(raw.as_bytes());
        assert_eq!(m.from.as_deref(), Some("a@b.dk"));
        assert_eq!(m.message_id.as_deref(), Some("1@b.dk"));
        assert!(
            m.headers.len() <= HEADERS_ONLY_BYTES / 4 + 3,
            "{}",
            m.headers.len()
        );
    }

    #[test]
    fn not_a_mail() {
        assert!(Mail::parse(b"", 3).is_none());
    }
}
